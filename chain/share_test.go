package chain

import (
	"bytes"
	"testing"
)

// newShare is a SetShare creating a share of owner with recipient: its id
// is ShareIDOf(owner, key).
func newShare(owner, recipient Address, key []byte, write bool) *SetShare {
	return &SetShare{ShareID: ShareIDOf(owner, key), Recipient: recipient, Key: key, Write: write, Version: 1, Pointer: []byte("ptr 1")}
}

// TestShares: an owner's device creates shares; the recipient lists and
// reads them; a writable share's recipient (through its own device)
// updates the pointer, a read-only one's may not; strangers can neither
// update nor remove; stale versions and changed fields are refused; a
// public share carries its key in the clear and has no recipient; the
// recipient drops a share, the owner revokes one.
func TestShares(t *testing.T) {
	alice, bob, laptop, bobPhone, stranger := testKey(0), testKey(1), testKey(20), testKey(21), testKey(22)
	l := newTestLedger(t, "", alice, bob)
	A, B := addrOf(alice), addrOf(bob)
	wantCodes(t, l.block(l.sign(alice, addDevice(alice, laptop, "")), l.sign(bob, addDevice(bob, bobPhone, ""))), 0, 0)

	rw := newShare(A, B, []byte("key sealed for bob, rw"), true)
	ro := newShare(A, B, []byte("key sealed for bob, ro"), false)
	pub := newShare(A, Address{}, bytes.Repeat([]byte{7}, PublicShareKeyBytes), false)
	squat := newShare(addrOf(stranger), B, rw.Key, true)
	squat.ShareID = rw.ShareID // the id alice's device is about to use
	res := l.block(
		l.sign(stranger, squat),
		l.signFor(laptop, A, rw),
		l.signFor(laptop, A, ro),
		l.sign(alice, pub),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, []byte("k")), Recipient: A, Key: []byte("k"), Version: 1, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, []byte{1}), Key: []byte{1}, Version: 1, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, make([]byte, 32)), Key: make([]byte, 32), Write: true, Version: 1, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, make([]byte, 161)), Recipient: B, Key: make([]byte, 161), Version: 1, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, []byte("k2")), Recipient: B, Key: []byte("k2"), Version: 2, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ShareIDOf(A, []byte("k3")), Recipient: B, Key: []byte("k3"), Version: 1}),
	)
	wantLog(t, res[0], CodeInvalid, "is not ShareIDOf(owner")
	wantCodes(t, res[1:4], 0, 0, 0)
	wantLog(t, res[4], CodeInvalid, "shares with itself")
	wantLog(t, res[5], CodeInvalid, "public share's key is the 32-byte share key")
	wantLog(t, res[6], CodeInvalid, "public share cannot be writable")
	wantLog(t, res[7], CodeInvalid, "sealed share key is 161 bytes")
	wantLog(t, res[8], CodeStaleVersion, "is at version 0")
	wantLog(t, res[9], CodeInvalid, "share pointer is 0 bytes")

	var got Share
	if err := l.query(QueryShare+rw.ShareID.String(), &got); err != nil || got.Owner != A || got.Recipient != B || !got.Write || got.By != addrOf(laptop) || got.Version != 1 {
		t.Fatalf("share %+v %v", got, err)
	}
	var to, by, public []Share
	if err := listAll(l, QuerySharesTo+B.String(), &to); err != nil || len(to) != 2 {
		t.Fatalf("shares to bob: %d %v", len(to), err)
	}
	if err := listAll(l, QuerySharesBy+A.String(), &by); err != nil || len(by) != 3 {
		t.Fatalf("shares by alice: %d %v", len(by), err)
	}
	if err := listAll(l, QueryPublicShares+A.String(), &public); err != nil || len(public) != 1 || public[0].ID != pub.ShareID || !bytes.Equal(public[0].Key, pub.Key) {
		t.Fatalf("public shares of alice: %+v %v", public, err)
	}

	update := func(s *SetShare, v uint64, p string) *SetShare {
		return &SetShare{ShareID: s.ShareID, Version: v, Pointer: []byte(p)}
	}
	res = l.block(
		l.signFor(bobPhone, B, update(rw, 2, "bob's edit")), // writable: bob's device
		l.sign(bob, update(ro, 2, "bob's edit")),            // read-only
		l.sign(stranger, update(rw, 3, "evil")),
		l.signFor(stranger, A, update(rw, 3, "evil")),
		l.sign(alice, update(rw, 2, "alice lost the race")),
		l.sign(alice, &SetShare{ShareID: rw.ShareID, Recipient: addrOf(stranger), Version: 3, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: rw.ShareID, Key: []byte("other"), Version: 3, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: ro.ShareID, Write: true, Version: 2, Pointer: []byte("p")}),
		l.sign(alice, &SetShare{ShareID: rw.ShareID, Recipient: B, Key: rw.Key, Write: true, Version: 3, Pointer: []byte("alice's edit")}),
		l.sign(bob, update(pub, 2, "bob on a public share")),
	)
	wantCodes(t, res[:1], 0)
	wantLog(t, res[1], CodeUnauthorized, "read-only for its recipient")
	wantLog(t, res[2], CodeUnauthorized, "may not update it")
	wantLog(t, res[3], CodeNotDevice, "not a device")
	wantLog(t, res[4], CodeStaleVersion, "is at version 2")
	wantLog(t, res[5], CodeInvalid, "names recipient")
	wantLog(t, res[6], CodeInvalid, "another key")
	wantLog(t, res[7], CodeInvalid, "asks for write")
	wantCodes(t, res[8:9], 0)
	wantLog(t, res[9], CodeUnauthorized, "may not update it")
	if err := l.query(QueryShare+rw.ShareID.String(), &got); err != nil || got.Version != 3 || string(got.Pointer) != "alice's edit" || got.By != A {
		t.Fatalf("share after the updates %+v %v", got, err)
	}

	res = l.block(
		l.sign(stranger, &Unshare{ShareID: rw.ShareID}),
		l.sign(stranger, &Unshare{ShareID: pub.ShareID}),
		l.signFor(bobPhone, B, &Unshare{ShareID: ro.ShareID}), // bob drops it
		l.sign(alice, &Unshare{ShareID: pub.ShareID}),         // alice revokes
		l.sign(alice, &Unshare{ShareID: pub.ShareID}),
	)
	wantLog(t, res[0], CodeUnauthorized, "may not remove it")
	wantLog(t, res[1], CodeUnauthorized, "may not remove it")
	wantCodes(t, res[2:4], 0, 0)
	wantLog(t, res[4], CodeNotFound, "share")
	if err := listAll(l, QuerySharesTo+B.String(), &to); err != nil || len(to) != 1 || to[0].ID != rw.ShareID {
		t.Fatalf("shares to bob after: %+v %v", to, err)
	}
	var n uint64
	if _, err := getValue(l.app.committed(), shareCountKey(A), &n); err != nil || n != 1 {
		t.Fatalf("alice owns %d shares, want 1 (%v)", n, err)
	}
}

// TestMaxSharesPerAccount: the MaxSharesPerAccount+1st share is refused
// until one is removed.
func TestMaxSharesPerAccount(t *testing.T) {
	alice, bob := testKey(0), testKey(1)
	l := newTestLedger(t, "", alice)
	var txs [][]byte
	for i := range MaxSharesPerAccount {
		txs = append(txs, l.sign(alice, newShare(addrOf(alice), addrOf(bob), []byte{byte(i), byte(i >> 8)}, false)))
	}
	wantCodes(t, l.block(txs...), make([]Code, MaxSharesPerAccount)...)
	last := newShare(addrOf(alice), addrOf(bob), []byte("one more"), false)
	wantLog(t, l.block(l.sign(alice, last))[0], CodeInvalid, "at most 256")
	first := ShareIDOf(addrOf(alice), []byte{0, 0})
	wantCodes(t, l.block(l.sign(alice, &Unshare{ShareID: first}), l.sign(alice, last)), 0, 0)
}
