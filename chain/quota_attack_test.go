package chain

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math"
	"strings"
	"testing"
)

// attackLedger is a ledger with an allowance of 1000 bytes, receipts that
// live 5 blocks, two honest holders (hank, henry) with 1 MB pledges, an
// honest owner alice with a node, and mallory and mike, fresh keys.
type attackLedger struct {
	*testLedger
	alice, hank, henry, mallory, mike ed25519.PrivateKey
}

const attackTTL = 5

func newAttackLedger(t *testing.T) *attackLedger {
	t.Helper()
	a := &attackLedger{alice: testKey(0), hank: testKey(11), henry: testKey(12), mallory: testKey(20), mike: testKey(21)}
	g := testGenesis(a.alice)
	g.Params.ReceiptTTL = attackTTL
	// Holders here never prove storage: one long epoch keeps settleEpoch
	// from recording them missing and withholding, for low uptime, the
	// earned quota these attacks are about.
	g.Params.EpochLength = 1 << 20
	// Nor could they: the pieces have made-up roots. Held bytes count
	// for earned quota unproved here (the proof condition is tested in
	// quota_proof_test.go); the quota and debt rules are otherwise the
	// ledger's.
	earnUnproved = true
	t.Cleanup(func() { earnUnproved = false })
	a.testLedger = newTestLedgerGenesis(t, "", g)
	for i, r := range a.block(
		a.sign(a.hank, registerBody(t, a.hank, 1_000_000)),
		a.sign(a.henry, registerBody(t, a.henry, 1_000_000)),
		a.sign(a.alice, registerBody(t, a.alice, 1_000_000)),
	) {
		if r.Code != 0 {
			t.Fatalf("setup tx %d: %s", i, r.Log)
		}
	}
	return a
}

// file is a K=1, M=0 placement: one piece per segment, of size bytes each,
// on the given holders in turn.
func file(id Hash, size uint64, holders ...Address) *PlaceFile {
	pf := &PlaceFile{FileID: id, Size: size * uint64(len(holders)), K: 1, M: 0}
	for i, h := range holders {
		pf.Pieces = append(pf.Pieces, piece(uint32(i), 0, h, size))
	}
	return pf
}

// receipt is holder's receipt of its pieces of pf for owner.
func receipt(holder ed25519.PrivateKey, pf *PlaceFile, owner Address, expires int64) Receipt {
	return SignReceipt(holder, testChainID, pf.FileID, owner, expires, receiptPieces(pf.Pieces, addrOf(holder)))
}

func (a *attackLedger) node(addr Address) Node {
	a.t.Helper()
	var n Node
	if err := a.query(QueryNode+addr.String(), &n); err != nil {
		a.t.Fatal(err)
	}
	return n
}

// mustFail checks tx fails with code (and msg in its log) in CheckTx and in a
// block, changing nothing but the signer's nonce in the block.
func (a *attackLedger) mustFail(t *testing.T, signer ed25519.PrivateKey, tx []byte, code Code, msg string) {
	t.Helper()
	res := a.check(tx)
	if Code(res.Code) != code || !strings.Contains(res.Log, msg) {
		t.Fatalf("CheckTx: code %d %q, want %d with %q", res.Code, res.Log, code, msg)
	}
	before := dump(t, a.app)
	out := a.block(tx)[0]
	if Code(out.Code) != code || out.Codespace != Codespace {
		t.Fatalf("FinalizeBlock: code %d %q, want %d", out.Code, out.Log, code)
	}
	after := dump(t, a.app)
	for _, k := range stateDiff(before, after) {
		_, kept := after[k]
		pruned := !kept && (strings.HasPrefix(k, prefixGone) || strings.HasPrefix(k, prefixGoneAt))                                     // a block rule
		settled := strings.HasPrefix(k, prefixProof) || (strings.HasPrefix(k, prefixNode) && onlyUptimeChanged(t, before[k], after[k])) // settleEpoch
		if k != string(accountKey(addrOf(signer))) && !strings.HasPrefix(k, prefixEpoch) && k != keyCurrentEpoch && !pruned && !settled {
			t.Errorf("a refused tx changed state key %q", k)
		}
	}
}

// onlyUptimeChanged reports whether two encodings of a node differ at most
// in Uptime (settleEpoch's block rule).
func onlyUptimeChanged(t *testing.T, before, after []byte) bool {
	t.Helper()
	if before == nil || after == nil {
		return false
	}
	var b, a Node
	if err := Unmarshal(before, &b); err != nil {
		t.Fatal(err)
	}
	if err := Unmarshal(after, &a); err != nil {
		t.Fatal(err)
	}
	b.Uptime, a.Uptime = nil, nil
	return bytes.Equal(mustMarshal(&b), mustMarshal(&a))
}

func (a *attackLedger) mustPass(t *testing.T, tx []byte) {
	t.Helper()
	if r := a.block(tx)[0]; r.Code != 0 {
		t.Fatalf("code %d: %s", r.Code, r.Log)
	}
}

// (a) A pledge of 2^64-1 bytes earns nothing: the account may place its
// allowance and no more.
func TestAHugePledgeEarnsNoQuota(t *testing.T) {
	a := newAttackLedger(t)
	mallory, hank := addrOf(a.mallory), addrOf(a.hank)
	a.mustPass(t, a.sign(a.mallory, registerBody(t, a.mallory, math.MaxUint64)))
	if v := a.account(mallory); v.QuotaLimit != 1000 || v.QuotaEarned != 0 {
		t.Fatalf("mallory pledged 2^64-1: limit %d, earned %d; want the allowance 1000 and 0", v.QuotaLimit, v.QuotaEarned)
	}
	// Not on her own node either: what she holds for herself earns nothing.
	own := file(Hash{0xa0}, 1001, mallory)
	own.Receipts = []Receipt{receipt(a.mallory, own, mallory, a.height+1)}
	a.mustFail(t, a.mallory, a.sign(a.mallory, own), CodeQuotaExceeded, "uses 0 of 1000 bytes, file needs 1001")
	pf := file(Hash{0xa1}, 1000, hank)
	pf.Receipts = []Receipt{receipt(a.hank, pf, mallory, a.height+1)}
	a.mustPass(t, a.sign(a.mallory, pf))
	more := file(Hash{0xa2}, 1, hank)
	more.Receipts = []Receipt{receipt(a.hank, more, mallory, a.height+1)}
	a.mustFail(t, a.mallory, a.sign(a.mallory, more), CodeQuotaExceeded, "uses 1000 of 1000 bytes, file needs 1")
}

// (b) and (c): a placement naming an honest holder needs that holder's own
// receipt over exactly its pieces of this file, for this owner and chain.
func TestAPlacementNeedsEachHoldersOwnReceipt(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank, henry, mallory := addrOf(a.alice), addrOf(a.hank), addrOf(a.henry), addrOf(a.mallory)
	hankBefore := a.node(hank)
	mk := func() *PlaceFile { return file(Hash{0xb1}, 300, hank, henry, hank) }
	good := func() []Receipt {
		exp := a.height + 2
		pf := mk()
		return []Receipt{receipt(a.hank, pf, mallory, exp), receipt(a.henry, pf, mallory, exp)}
	}
	cases := []struct {
		name     string
		receipts func() []Receipt
		msg      string
	}{
		{"no receipts", func() []Receipt { return nil }, "0 receipts for 2 distinct holders"},
		{"one holder's receipt missing", func() []Receipt { return good()[:1] }, "1 receipts for 2 distinct holders"},
		{"an extra receipt", func() []Receipt { r := good(); return append(r, r[0]) }, "3 receipts for 2 distinct holders"},
		{"receipts in the wrong order", func() []Receipt { r := good(); return []Receipt{r[1], r[0]} }, "receipt 0: bad holder receipt: receipt key is " + henry.String() + "'s, not holder " + hank.String()},
		{"hank's receipt forged with the placer's key", func() []Receipt {
			r := good()
			r[0] = receipt(a.mallory, mk(), mallory, a.height+2)
			return r
		}, "receipt key is " + mallory.String() + "'s"},
		{"the placer's signature under hank's public key", func() []Receipt {
			r := good()
			forged := receipt(a.mallory, mk(), mallory, a.height+2)
			r[0].Sig = forged.Sig
			return r
		}, "receipt does not verify for file"},
		{"a receipt for another file id", func() []Receipt {
			r := good()
			other := mk()
			other.FileID = Hash{0xb2}
			r[0] = receipt(a.hank, other, mallory, a.height+2)
			return r
		}, "holder " + hank.String() + "'s receipt does not verify"},
		{"a receipt over a different size", func() []Receipt {
			r := good()
			other := mk()
			other.Pieces[2] = piece(2, 0, hank, 299)
			r[0] = receipt(a.hank, other, mallory, a.height+2)
			return r
		}, "receipt does not verify"},
		{"a receipt over a different root", func() []Receipt {
			r := good()
			other := mk()
			other.Pieces[0].Root = Hash{0xee}
			r[0] = receipt(a.hank, other, mallory, a.height+2)
			return r
		}, "receipt does not verify"},
		{"a receipt over one piece of two", func() []Receipt {
			r := good()
			other := mk()
			other.Pieces = other.Pieces[:2]
			r[0] = receipt(a.hank, other, mallory, a.height+2)
			return r
		}, "receipt does not verify"},
		{"a receipt given to another owner", func() []Receipt {
			r := good()
			r[0] = receipt(a.hank, mk(), alice, a.height+2)
			return r
		}, "receipt does not verify"},
		{"a receipt for another chain", func() []Receipt {
			r := good()
			pf := mk()
			r[0] = SignReceipt(a.hank, "coop-other", pf.FileID, mallory, a.height+2, receiptPieces(pf.Pieces, hank))
			return r
		}, "receipt does not verify"},
		{"a truncated signature", func() []Receipt {
			r := good()
			r[1].Sig = r[1].Sig[:63]
			return r
		}, "receipt of holder " + henry.String() + " has a 32-byte key and a 63-byte signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pf := mk()
			pf.Receipts = c.receipts()
			a.mustFail(t, a.mallory, a.sign(a.mallory, pf), CodeBadReceipt, c.msg)
		})
	}
	if n := a.node(hank); n.Used != hankBefore.Used || n.HeldForOthers != hankBefore.HeldForOthers {
		t.Fatalf("refused placements changed hank: %+v → %+v", hankBefore, n)
	}
	if v := a.account(mallory); v.QuotaUsed != 0 {
		t.Fatalf("refused placements charged mallory %d bytes", v.QuotaUsed)
	}
	pf := mk()
	pf.Receipts = []Receipt{receipt(a.hank, pf, mallory, a.height+2), receipt(a.henry, pf, mallory, a.height+2)}
	a.mustPass(t, a.sign(a.mallory, pf))
	if n := a.node(hank); n.Used != 600 || n.HeldForOthers != 600 {
		t.Fatalf("hank after the receipted placement: %+v", n)
	}
}

// (d) A receipt is usable from … to its expiry height, which may be at most
// receipt_ttl blocks ahead.
func TestReceiptsExpire(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	for _, c := range []struct {
		expires func(h int64) int64
		code    Code
		msg     string
	}{
		{func(h int64) int64 { return h - 1 }, CodeReceiptExpired, "expired at height"},
		{func(h int64) int64 { return -5 }, CodeReceiptExpired, "expired at height -5"},
		{func(h int64) int64 { return h + attackTTL + 1 }, CodeReceiptExpired, "more than receipt_ttl = 5 blocks after"},
		{func(h int64) int64 { return math.MaxInt64 }, CodeReceiptExpired, "more than receipt_ttl"},
		{func(h int64) int64 { return h }, CodeOK, ""},
		{func(h int64) int64 { return h + attackTTL }, CodeOK, ""},
	} {
		h := a.height + 1 // the next block
		pf := file(Hash{0xd0, byte(a.height)}, 10, hank)
		pf.Receipts = []Receipt{receipt(a.hank, pf, alice, c.expires(h))}
		tx := a.sign(a.alice, pf)
		if c.code == CodeOK {
			a.mustPass(t, tx)
			continue
		}
		a.mustFail(t, a.alice, tx, c.code, c.msg)
	}
}

// (e) Removing a file and placing it again with the old receipts: refused
// while its tombstone stands (receipt_ttl blocks), and by then the receipts
// have expired. A fresh placement after that clears the tombstone.
func TestRemovedFilesCannotBeReplacedWithOldReceipts(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank := addrOf(a.alice), addrOf(a.hank)
	pf := file(Hash{0xe1}, 100, hank)
	pf.Receipts = []Receipt{receipt(a.hank, pf, alice, a.height+attackTTL)}
	a.mustPass(t, a.sign(a.alice, pf))
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: pf.FileID}))
	removed := a.height
	if n := a.node(hank); n.Used != 0 || n.HeldForOthers != 0 {
		t.Fatalf("hank after removal: %+v", n)
	}
	again := fmt.Sprintf("removed at height %d; it may be placed again from height %d", removed, removed+attackTTL+1)
	a.mustFail(t, a.alice, a.sign(a.alice, pf), CodeExists, again)
	// Even with fresh receipts, not before the tombstone's end.
	for a.height+1 <= removed+attackTTL {
		fresh := file(pf.FileID, 100, hank)
		fresh.Receipts = []Receipt{receipt(a.hank, fresh, alice, a.height+1)}
		a.mustFail(t, a.alice, a.sign(a.alice, fresh), CodeExists, again)
	}
	st := dump(t, a.app)
	if _, ok := st[string(goneKey(pf.FileID))]; !ok {
		t.Fatal("tombstone gone before its end")
	}
	if _, ok := st[string(goneAtKey(removed, pf.FileID))]; !ok {
		t.Fatal("tombstone not indexed by its height")
	}
	// At the tombstone's end the old receipts have expired, and a fresh
	// placement passes (in CheckTx, which still sees the tombstone, and in
	// the block, whose start deletes it).
	if r := a.check(a.sign(a.alice, pf)); Code(r.Code) != CodeReceiptExpired {
		t.Fatalf("old receipts at height %d: code %d %s", a.height+1, r.Code, r.Log)
	}
	a.nonces[alice]-- // not admitted
	fresh := file(pf.FileID, 100, hank)
	fresh.Receipts = []Receipt{receipt(a.hank, fresh, alice, a.height+1)}
	freshTx := a.sign(a.alice, fresh)
	if r := a.check(freshTx); r.Code != 0 {
		t.Fatalf("CheckTx of a fresh placement at the tombstone's end: %s", r.Log)
	}
	a.mustPass(t, freshTx)
	for k := range dump(t, a.app) {
		if strings.HasPrefix(k, prefixGone) || strings.HasPrefix(k, prefixGoneAt) {
			t.Fatalf("tombstone key %q left after the tombstone's end", k)
		}
	}
	// Removed again: a new tombstone, which the old one's end does not touch.
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: pf.FileID}))
	second := a.height
	a.mustFail(t, a.alice, a.sign(a.alice, fresh), CodeExists, fmt.Sprintf("removed at height %d", second))
	for a.height < second+attackTTL+1 {
		a.block()
	}
	for k := range dump(t, a.app) {
		if strings.HasPrefix(k, prefixGone) || strings.HasPrefix(k, prefixGoneAt) {
			t.Fatalf("tombstone key %q left after the second tombstone's end", k)
		}
	}
}

// (f) An honest placement credits each holder with the bytes it holds for
// another account — and only those: pieces an owner keeps on its own node
// earn nothing. Removal takes the credit back.
func TestHoldingEarnsExactlyTheBytesHeldForOthers(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank, henry := addrOf(a.alice), addrOf(a.hank), addrOf(a.henry)
	pf := &PlaceFile{FileID: Hash{0xf1}, Size: 1000, K: 2, M: 1, Pieces: []Piece{
		piece(0, 0, hank, 200), piece(0, 1, henry, 200), piece(0, 2, alice, 200),
		piece(1, 0, henry, 100), piece(1, 1, alice, 100), piece(1, 2, hank, 100),
	}}
	pf.Receipts = []Receipt{receipt(a.hank, pf, alice, a.height+1), receipt(a.henry, pf, alice, a.height+1), receipt(a.alice, pf, alice, a.height+1)}
	a.mustPass(t, a.sign(a.alice, pf))
	for _, c := range []struct {
		who            Address
		held, used     uint64
		limit, quotaUs uint64
	}{
		{hank, 300, 300, 1300, 0},
		{henry, 300, 300, 1300, 0},
		{alice, 0, 300, 1000, 900},
	} {
		n, v := a.node(c.who), a.account(c.who)
		if n.HeldForOthers != c.held || n.Used != c.used || v.QuotaEarned != c.held || v.QuotaLimit != c.limit || v.QuotaUsed != c.quotaUs {
			t.Errorf("%s: held %d used %d earned %d limit %d quota used %d; want %+v", c.who, n.HeldForOthers, n.Used, v.QuotaEarned, v.QuotaLimit, v.QuotaUsed, c)
		}
	}
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: pf.FileID}))
	for _, who := range []Address{hank, henry, alice} {
		if n, v := a.node(who), a.account(who); n.HeldForOthers != 0 || n.Used != 0 || v.QuotaEarned != 0 || v.QuotaLimit != 1000 || v.QuotaUsed != 0 {
			t.Errorf("%s after removal: node %+v account %+v", who, n, v)
		}
	}
}

// Two colluding accounts placing on each other get no more room on honest
// holders than their two allowances: what one earns the other spent.
func TestSelfDealingGainsNothingOnHonestHolders(t *testing.T) {
	a := newAttackLedger(t)
	hank, mallory, mike := addrOf(a.hank), addrOf(a.mallory), addrOf(a.mike)
	a.mustPass(t, a.sign(a.mallory, registerBody(t, a.mallory, 1_000_000)))
	a.mustPass(t, a.sign(a.mike, registerBody(t, a.mike, 1_000_000)))
	place := func(owner, holderKey ed25519.PrivateKey, id byte, size uint64) []byte {
		pf := file(Hash{0x5d, id}, size, addrOf(holderKey))
		pf.Receipts = []Receipt{receipt(holderKey, pf, addrOf(owner), a.height+1)}
		return a.sign(owner, pf)
	}
	// Mallory places her whole allowance on mike: mike's limit grows by
	// exactly that, mallory's use by exactly that.
	a.mustPass(t, place(a.mallory, a.mike, 1, 1000))
	if m, k := a.account(mallory), a.account(mike); m.QuotaUsed != 1000 || m.QuotaLimit != 1000 || k.QuotaLimit != 2000 || k.QuotaEarned != 1000 {
		t.Fatalf("after mallory → mike 1000: mallory %+v, mike %+v", m, k)
	}
	// Mike places 1000 back on mallory, who can then place 1000 on hank;
	// mike places his remaining 1000 on hank.
	a.mustPass(t, place(a.mike, a.mallory, 2, 1000))
	a.mustPass(t, place(a.mallory, a.hank, 3, 1000))
	a.mustPass(t, place(a.mike, a.hank, 4, 1000))
	// On honest holders they placed 2000 = their two allowances (+ 0 bytes
	// honest owners placed on them); neither can place another byte.
	if n := a.node(hank); n.HeldForOthers != 2000 {
		t.Fatalf("hank holds %d for them", n.HeldForOthers)
	}
	a.mustFail(t, a.mallory, place(a.mallory, a.hank, 5, 1), CodeQuotaExceeded, "uses 2000 of 2000 bytes")
	a.mustFail(t, a.mike, place(a.mike, a.hank, 6, 1), CodeQuotaExceeded, "uses 2000 of 2000 bytes")
	var used, limits uint64
	for _, x := range []Address{mallory, mike} {
		v := a.account(x)
		used += v.QuotaUsed
		limits += v.QuotaLimit
	}
	if used != 4000 || limits != 4000 {
		t.Fatalf("together they use %d of %d", used, limits)
	}
}

// A removal takes a holder's credit back even if the holder has spent it:
// the holder is then over its limit and may place nothing until it is back
// under, and the part it spent stays charged to the remover as the holder's
// debt (docs/ledger.md, Quota, Debts; debt_test.go).
func TestARemovalCanLeaveAHolderOverItsLimit(t *testing.T) {
	a := newAttackLedger(t)
	alice, hank, henry := addrOf(a.alice), addrOf(a.hank), addrOf(a.henry)
	pf := file(Hash{0x71}, 500, hank)
	pf.Receipts = []Receipt{receipt(a.hank, pf, alice, a.height+1)}
	a.mustPass(t, a.sign(a.alice, pf))
	spend := file(Hash{0x72}, 1500, henry)
	spend.Receipts = []Receipt{receipt(a.henry, spend, hank, a.height+1)}
	a.mustPass(t, a.sign(a.hank, spend))
	a.mustPass(t, a.sign(a.alice, &RemoveFile{FileID: pf.FileID}))
	if v := a.account(hank); v.QuotaUsed != 1500 || v.QuotaLimit != 1000 || v.QuotaOwed != 500 {
		t.Fatalf("hank after alice's removal: %+v", v)
	}
	if v := a.account(alice); v.QuotaUsed != 500 || v.QuotaLent != 500 {
		t.Fatalf("alice after her removal: %+v", v)
	}
	more := file(Hash{0x73}, 1, henry)
	more.Receipts = []Receipt{receipt(a.henry, more, hank, a.height+1)}
	a.mustFail(t, a.hank, a.sign(a.hank, more), CodeQuotaExceeded, "uses 1500 of 1000 bytes")
}

// TestGenesisParamsOfTheQuotaRule: earn_percent 0…100 (0 turns earning
// off), receipt_ttl 1…MaxReceiptTTL.
func TestGenesisParamsOfTheQuotaRule(t *testing.T) {
	for _, c := range []struct {
		json string
		msg  string
	}{
		{`{"params":{"epoch_length":10,"earn_percent":0,"receipt_ttl":1,"max_tx_bytes":262144},"accounts":[]}`, ""},
		{`{"params":{"epoch_length":10,"earn_percent":100,"receipt_ttl":4294967296,"max_tx_bytes":262144},"accounts":[]}`, ""},
		{`{"params":{"epoch_length":10,"earn_percent":101,"receipt_ttl":1,"max_tx_bytes":262144},"accounts":[]}`, "earn_percent 101 > 100"},
		{`{"params":{"epoch_length":10,"earn_percent":100,"receipt_ttl":0,"max_tx_bytes":262144},"accounts":[]}`, "receipt_ttl 0 outside"},
		{`{"params":{"epoch_length":10,"earn_percent":100,"receipt_ttl":4294967297,"max_tx_bytes":262144},"accounts":[]}`, "receipt_ttl 4294967297 outside"},
		{`{"params":{"epoch_length":10,"r_norm":3,"receipt_ttl":1,"max_tx_bytes":262144},"accounts":[]}`, `unknown field "r_norm"`},
	} {
		_, err := ParseGenesisState([]byte(c.json))
		if (c.msg == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.msg)) {
			t.Errorf("%s: %v, want %q", c.json, err, c.msg)
		}
	}
	p := DefaultParams()
	if p.EarnPercent != 100 || p.ReceiptTTL != 100 {
		t.Fatalf("defaults: %+v", p)
	}
}

// A zero earn_percent: holding earns nothing.
func TestZeroEarnPercentTurnsEarningOff(t *testing.T) {
	alice, hank := testKey(0), testKey(11)
	g := testGenesis(alice)
	g.Params.EarnPercent = 0
	l := newTestLedgerGenesis(t, "", g)
	if r := l.block(l.sign(hank, registerBody(t, hank, 5000))); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	if r := l.block(l.sign(alice, l.receipted(alice, file(Hash{1}, 700, addrOf(hank))))); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	if v := l.account(addrOf(hank)); v.QuotaEarned != 0 || v.QuotaLimit != 1000 {
		t.Fatalf("hank holds 700 with earn_percent 0: %+v", v)
	}
}
