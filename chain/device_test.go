package chain

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// signFor builds the next tx of device key dev acting for account (its
// own nonce).
func (l *testLedger) signFor(dev ed25519.PrivateKey, account Address, body Body) []byte {
	l.t.Helper()
	a := addrOf(dev)
	tx, err := NewTxFor(testChainID, body, dev, account, l.nonces[a])
	if err != nil {
		l.t.Fatal(err)
	}
	l.nonces[a]++
	return tx.Bytes()
}

// addDevice is account's AddDevice of dev, with dev's consent.
func addDevice(account, dev ed25519.PrivateKey, label string) *AddDevice {
	return &AddDevice{Device: dev.Public().(ed25519.PublicKey), Label: label,
		DeviceSig: SignDeviceConsent(dev, testChainID, addrOf(account))}
}

// wantLog checks one rejection's code and that its log contains msg.
func wantLog(t *testing.T, r *abci.ExecTxResult, code Code, msg string) {
	t.Helper()
	if Code(r.Code) != code || !strings.Contains(r.Log, msg) {
		t.Fatalf("code %d %q, want code %d with %q", r.Code, r.Log, code, msg)
	}
}

// TestDeviceActsForItsAccount: a device places, raises nothing, removes
// and sets the root of its account: the file is the account's, its quota
// is charged, the receipts bind the account as owner, and only the
// device's nonce moves. The tx event names both.
func TestDeviceActsForItsAccount(t *testing.T) {
	alice, laptop, carol := testKey(0), testKey(20), testKey(2)
	l := newTestLedger(t, "", alice)
	wantCodes(t, l.block(
		l.sign(carol, registerBody(t, carol, 10_000)),
		l.sign(alice, addDevice(alice, laptop, "laptop")),
	), 0, 0)
	var d Device
	if err := l.query(QueryDevice+addrOf(laptop).String(), &d); err != nil || d.Account != addrOf(alice) || d.Label != "laptop" || d.AddedHeight != 1 {
		t.Fatalf("device record %+v %v", d, err)
	}
	var ds []Device
	if err := listAll(l, QueryDevices+addrOf(alice).String(), &ds); err != nil || len(ds) != 1 || ds[0].Address != addrOf(laptop) {
		t.Fatalf("devices of alice: %+v %v", ds, err)
	}

	pf := &PlaceFile{FileID: Hash{0xde}, Size: 100, K: 1, M: 0, Pieces: []Piece{piece(0, 0, addrOf(carol), 100)}}
	signReceipts(pf, addrOf(alice), l.height+5) // the holder receipts the account
	res := l.block(l.signFor(laptop, addrOf(alice), pf))
	wantCodes(t, res, 0)
	attrs := map[string]string{}
	for _, a := range res[0].Events[0].Attributes {
		attrs[a.Key] = a.Value
	}
	if attrs["signer"] != addrOf(laptop).String() || attrs["account"] != addrOf(alice).String() {
		t.Fatalf("event attributes %v", attrs)
	}
	var f File
	if err := l.query(QueryFile+pf.FileID.String(), &f); err != nil || f.Owner != addrOf(alice) {
		t.Fatalf("file %+v %v, want alice's", f, err)
	}
	a, dev := l.account(addrOf(alice)), l.account(addrOf(laptop))
	if a.QuotaUsed != 100 || a.Nonce != 1 || dev.Nonce != 1 || dev.QuotaUsed != 0 {
		t.Fatalf("alice %+v laptop %+v: want alice charged 100 with nonce 1, the laptop's nonce 1", a, dev)
	}

	// A receipt for the device as owner does not verify for the account.
	other := &PlaceFile{FileID: Hash{0xdf}, Size: 100, K: 1, M: 0, Pieces: []Piece{piece(0, 0, addrOf(carol), 100)}}
	signReceipts(other, addrOf(laptop), l.height+5)
	wantLog(t, l.block(l.signFor(laptop, addrOf(alice), other))[0], CodeBadReceipt, "does not verify")

	wantCodes(t, l.block(
		l.signFor(laptop, addrOf(alice), &SetRoot{Version: 1, Root: []byte("sealed")}),
		l.signFor(laptop, addrOf(alice), &RemoveFile{FileID: pf.FileID}),
	), 0, 0)
	var r NamespaceRoot
	if err := l.query(QueryRoot+addrOf(alice).String(), &r); err != nil || r.By != addrOf(laptop) || r.Account != addrOf(alice) || r.Version != 1 {
		t.Fatalf("root %+v %v", r, err)
	}
	if a := l.account(addrOf(alice)); a.QuotaUsed != 0 || a.Nonce != 1 {
		t.Fatalf("alice after the removal: %+v", a)
	}
	// The account's own key still acts for itself.
	wantCodes(t, l.block(l.sign(alice, &SetRoot{Version: 2, Root: []byte("sealed2")})), 0)
}

// TestDeviceAttacks: what a stranger, or a device beyond its rights, can
// do with the device rules and Tx.Account — nothing.
func TestDeviceAttacks(t *testing.T) {
	alice, bob, laptop, stranger, victim := testKey(0), testKey(1), testKey(20), testKey(21), testKey(22)
	l := newTestLedger(t, "", alice, bob)
	wantCodes(t, l.block(l.sign(alice, addDevice(alice, laptop, "laptop"))), 0)

	// A stranger acting for alice: refused after its nonce is spent.
	res := l.block(l.signFor(stranger, addrOf(alice), &SetRoot{Version: 1, Root: []byte("evil")}))
	wantLog(t, res[0], CodeNotDevice, "is not a device of account")
	if v := l.account(addrOf(stranger)); v.Nonce != 1 {
		t.Fatalf("stranger's nonce %d, want 1 (spent)", v.Nonce)
	}
	if err := l.query(QueryRoot+addrOf(alice).String(), &NamespaceRoot{}); err == nil {
		t.Fatal("the stranger set alice's root")
	}

	// A stranger claims a victim's key as its device: without the victim's
	// consent, with a consent it forged, with the victim's consent to
	// another account.
	forged := &AddDevice{Device: victim.Public().(ed25519.PublicKey), DeviceSig: SignDeviceConsent(stranger, testChainID, addrOf(stranger))}
	replayed := &AddDevice{Device: victim.Public().(ed25519.PublicKey), DeviceSig: SignDeviceConsent(victim, testChainID, addrOf(bob))}
	noSig := &AddDevice{Device: victim.Public().(ed25519.PublicKey)}
	res = l.block(l.sign(stranger, forged), l.sign(stranger, replayed), l.sign(stranger, noSig))
	wantLog(t, res[0], CodeUnauthorized, "consent does not verify")
	wantLog(t, res[1], CodeUnauthorized, "consent does not verify")
	wantLog(t, res[2], CodeInvalid, "device consent is 0 bytes")
	if err := l.query(QueryDevice+addrOf(victim).String(), &Device{}); err == nil {
		t.Fatal("the victim's key became a device")
	}

	// The laptop may not sign for alice what only her key signs; these fail
	// before the nonce (the tx bytes say so).
	for _, b := range []Body{&Transfer{To: addrOf(stranger), Amount: 1}, addDevice(alice, victim, ""), &RemoveDevice{Device: addrOf(laptop)}, &RegisterName{Name: "alice"}, registerBody(t, laptop, 1)} {
		tx := l.signFor(laptop, addrOf(alice), b)
		l.nonces[addrOf(laptop)]--
		if c := l.check(tx); Code(c.Code) != CodeUnauthorized || !strings.Contains(c.Log, "may not name another account") {
			t.Fatalf("%s for alice by her device: %d %s", b.TxType(), c.Code, c.Log)
		}
	}
	// A device cannot add devices, nor become another account's.
	res = l.block(
		l.sign(laptop, addDevice(laptop, victim, "")),
		l.sign(bob, addDevice(bob, laptop, "")),
		l.sign(bob, addDevice(bob, alice, "")), // alice has devices
		l.sign(alice, addDevice(alice, alice, "")),
		l.sign(alice, addDevice(alice, victim, "bad\nlabel")),
	)
	wantLog(t, res[0], CodeInvalid, "a device cannot add devices")
	wantLog(t, res[1], CodeExists, "already a device of account")
	wantLog(t, res[2], CodeInvalid, "it cannot be a device")
	wantLog(t, res[3], CodeInvalid, "own key is not one of its devices")
	wantLog(t, res[4], CodeInvalid, "non-printable")

	// Removal: a stranger may not; the account may; the removed device's
	// txs for it are refused; the old AddDevice bytes cannot be replayed.
	add := l.sign(alice, addDevice(alice, victim, "phone"))
	wantCodes(t, l.block(add), 0)
	res = l.block(
		l.sign(stranger, &RemoveDevice{Device: addrOf(victim)}),
		l.sign(alice, &RemoveDevice{Device: addrOf(victim)}),
	)
	wantLog(t, res[0], CodeUnauthorized, "only that account or the device itself")
	wantCodes(t, res[1:], 0)
	wantLog(t, l.block(l.signFor(victim, addrOf(alice), &SetRoot{Version: 1, Root: []byte("x")}))[0], CodeNotDevice, "is not a device of account")
	wantLog(t, l.block(add)[0], CodeBadNonce, "expects nonce")

	// The account may add it again (its consent stands) …
	wantCodes(t, l.block(l.sign(alice, addDevice(alice, victim, "phone"))), 0)
	// … but not after the device removed itself.
	wantCodes(t, l.block(l.sign(victim, &RemoveDevice{Device: addrOf(victim)})), 0)
	wantLog(t, l.block(l.sign(alice, addDevice(alice, victim, "phone")))[0], CodeUnauthorized, "removed itself")
	// Now free, it may consent to bob.
	wantCodes(t, l.block(l.sign(bob, addDevice(bob, victim, "phone"))), 0)
}

// TestMaxDevices: the MaxDevices+1st device is refused; removing one
// makes room.
func TestMaxDevices(t *testing.T) {
	alice := testKey(0)
	l := newTestLedger(t, "", alice)
	var txs [][]byte
	for i := range MaxDevices {
		txs = append(txs, l.sign(alice, addDevice(alice, testKey(100+i), "")))
	}
	wantCodes(t, l.block(txs...), make([]Code, MaxDevices)...)
	wantLog(t, l.block(l.sign(alice, addDevice(alice, testKey(100+MaxDevices), "")))[0], CodeInvalid, "at most 32")
	wantCodes(t, l.block(
		l.sign(alice, &RemoveDevice{Device: addrOf(testKey(100))}),
		l.sign(alice, addDevice(alice, testKey(100+MaxDevices), "")),
	), 0, 0)
	var ds []Device
	if err := listAll(l, QueryDevices+addrOf(alice).String(), &ds); err != nil || len(ds) != MaxDevices {
		t.Fatalf("%d devices, %v", len(ds), err)
	}
}

// TestNewTxForOwnAccountIsPlain: acting for oneself leaves the envelope
// as before AppVersion 11 (no account field), and a malformed account
// field is refused by the decoder.
func TestNewTxForOwnAccountIsPlain(t *testing.T) {
	alice := testKey(0)
	a, _ := NewTx(testChainID, &Transfer{To: Address{1}, Amount: 1}, alice, 3)
	b, _ := NewTxFor(testChainID, &Transfer{To: Address{1}, Amount: 1}, alice, addrOf(alice), 3)
	if string(a.Bytes()) != string(b.Bytes()) || b.Account != nil {
		t.Fatal("NewTxFor for the signer's own account differs from NewTx")
	}
	tx, _ := NewTxFor(testChainID, &SetRoot{Version: 1, Root: []byte{1}}, alice, Address{7}, 0)
	tx.Account = tx.Account[:19]
	tx.Sig = ed25519.Sign(alice, tx.SignBytes())
	if _, err := DecodeTx(tx.Bytes()); err == nil || !strings.Contains(err.Error(), "account is 19 bytes") {
		t.Fatalf("a 19-byte account: %v", err)
	}
	// The account field is signed: changing it breaks the signature.
	tx, _ = NewTxFor(testChainID, &SetRoot{Version: 1, Root: []byte{1}}, alice, Address{7}, 0)
	tx.Account[0] ^= 1
	l := newTestLedger(t, "", alice)
	if c := l.check(tx.Bytes()); Code(c.Code) != CodeBadSignature {
		t.Fatalf("a changed account: %d %s", c.Code, c.Log)
	}
	l.block()
	if res, _ := l.app.Query(context.Background(), &abci.QueryRequest{Path: QueryDevices + "xyz"}); Code(res.Code) != CodeInvalid {
		t.Fatalf("a bad address: %+v", res)
	}
}

// TestDeviceSubmitsAJobForItsAccount: a device's SubmitJob escrows the
// account's credits and records the account as submitter, under the id
// JobID(device, device nonce); the account's module file counts as the
// submitter's own.
func TestDeviceSubmitsAJobForItsAccount(t *testing.T) {
	f := newJobFixture(t, 3)
	laptop := testKey(20)
	f.mustOK(f.block(f.sign(f.alice, addDevice(f.alice, laptop, ""))))
	before := f.account(addrOf(f.alice))
	id := JobID(addrOf(laptop), f.nonces[addrOf(laptop)])
	f.mustOK(f.block(f.signFor(laptop, addrOf(f.alice), f.basicJob())))
	j := f.job(id)
	if j.Submitter != addrOf(f.alice) || j.Phase != JobAssigned {
		t.Fatalf("job %+v, want alice's, assigned", j.Job)
	}
	after := f.account(addrOf(f.alice))
	if after.CreditsEscrowed != j.Escrow || after.Credits != before.Credits-j.Escrow || after.Nonce != before.Nonce {
		t.Fatalf("alice before %+v after %+v, want %d escrowed and her nonce unmoved", before, after, j.Escrow)
	}
	if dev := f.account(addrOf(laptop)); dev.Credits != 0 || dev.CreditsEscrowed != 0 {
		t.Fatalf("the laptop paid: %+v", dev)
	}
	f.checkBooks()
}
