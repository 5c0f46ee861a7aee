package chain

import (
	"crypto/sha256"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

func TestPlaceThenRemoveChargesAndFreesQuotaAndCapacity(t *testing.T) {
	f := newFixture(t)
	alice, carol, dave := addrOf(f.alice), addrOf(f.carol), addrOf(f.dave)
	if a := f.account(alice); a.QuotaUsed != 120 {
		t.Fatalf("after placing 2×60 bytes alice uses %d", a.QuotaUsed)
	}
	var files []File
	if err := listAll(f.testLedger, QueryFiles+alice.String(), &files); err != nil || len(files) != 1 || files[0].Bytes != 120 {
		t.Fatalf("files of alice: %+v %v", files, err)
	}
	var held []HeldPiece
	if err := listAll(f.testLedger, QueryPieces+dave.String(), &held); err != nil || len(held) != 1 || held[0].File != f.file || held[0].Piece.Index != 1 {
		t.Fatalf("pieces of dave: %+v %v", held, err)
	}
	var n Node
	if err := f.query(QueryNode+carol.String(), &n); err != nil || n.Used != 60 {
		t.Fatalf("carol %+v %v", n, err)
	}
	if r := f.block(f.sign(f.alice, &RemoveFile{FileID: f.file})); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	if a := f.account(alice); a.QuotaUsed != 0 {
		t.Fatalf("after removing, alice uses %d", a.QuotaUsed)
	}
	if err := f.query(QueryNode+carol.String(), &n); err != nil || n.Used != 0 {
		t.Fatalf("carol %+v %v", n, err)
	}
	if err := listAll(f.testLedger, QueryPieces+dave.String(), &held); err != nil || len(held) != 0 {
		t.Fatalf("pieces of dave after remove: %+v %v", held, err)
	}
	if err := f.query(QueryFile+f.file.String(), &File{}); err == nil {
		t.Fatal("removed file still queryable")
	}
}

func TestHoldingForOthersEarnsQuotaOnlyWhileUp(t *testing.T) {
	f := newFixture(t)
	carol := addrOf(f.carol)
	// Carol pledged 3000 bytes and holds 60 of alice's: the pledge earns
	// nothing, and the 60 bytes held earn nothing until she proves them
	// (quota_proof_test.go); here they count as proved (earnUnproved).
	a := f.account(carol)
	if a.QuotaEarned != 0 || a.QuotaLimit != 1000 {
		t.Fatalf("carol holds 60 unproved bytes for alice: %+v", a)
	}
	earnUnproved = true
	t.Cleanup(func() { earnUnproved = false })
	a = f.account(carol)
	if a.QuotaEarned != 60 || a.QuotaLimit != 1060 {
		t.Fatalf("carol holds 60 bytes for alice: %+v", a)
	}
	p := uint64(6000)
	if r := f.block(f.sign(f.carol, &UpdateNode{Pledge: &p})); r[0].Code != 0 {
		t.Fatal(r[0].Log)
	}
	if a = f.account(carol); a.QuotaEarned != 60 || a.QuotaLimit != 1060 {
		t.Fatalf("raising the pledge changed the earned quota: %+v", a)
	}
	// Uptime 6 of 10 epochs (< 70 %): only the allowance is usable.
	params := DefaultParams()
	params.Allowance = 1000
	n := &Node{Status: NodeActive, HeldForOthers: 2000, ProvedForOthers: 2000, Uptime: []bool{true, true, false, true, false, true, false, true, false, true}}
	if got := QuotaLimit(params, &a.Account, n); got != 1000 {
		t.Fatalf("60%% uptime: limit %d, want the allowance 1000", got)
	}
	n.Uptime[2] = true
	if got := QuotaLimit(params, &a.Account, n); got != 3000 {
		t.Fatalf("70%% uptime: limit %d, want 3000", got)
	}
	params.EarnPercent = 50
	if got := QuotaLimit(params, &a.Account, n); got != 2000 {
		t.Fatalf("earn_percent 50: limit %d, want 2000", got)
	}
	params.EarnPercent = 100
	n.HeldForOthers = ^uint64(0)
	if got := QuotaLimit(params, &a.Account, n); got != ^uint64(0) {
		t.Fatalf("2^64-1 held: limit %d, want it saturated", got)
	}
	if got := earnedQuota(Params{EarnPercent: 99}, n); got != ^uint64(0)/100*99+(^uint64(0)%100)*99/100 {
		t.Fatalf("earned of 2^64-1 at 99%%: %d", got)
	}
	n.HeldForOthers = 2000
	n.Status = NodeDisqualified
	if got := QuotaLimit(params, &a.Account, n); got != 1000 {
		t.Fatalf("disqualified: limit %d", got)
	}
}

func TestMempoolQueuesNoncesAndRechecksAfterCommit(t *testing.T) {
	f := newFixture(t)
	var txs [][]byte
	for range 5 {
		tx := f.sign(f.bob, &Transfer{To: addrOf(f.alice), Amount: 100})
		if r := f.check(tx); r.Code != 0 {
			t.Fatalf("queued nonce rejected: %s", r.Log)
		}
		txs = append(txs, tx)
	}
	// Bob has 1000 credits: a sixth, seventh… of 100 fit, an 11th would not.
	over := f.sign(f.bob, &Transfer{To: addrOf(f.alice), Amount: 501})
	if r := f.check(over); Code(r.Code) != CodeInsufficientFunds {
		t.Fatalf("mempool view ignores queued spends: %d %s", r.Code, r.Log)
	}
	f.nonces[addrOf(f.bob)]--
	f.block(txs[:2]...)
	// After the commit the remaining three recheck fine on the new state.
	for _, tx := range txs[2:] {
		r, _ := f.app.CheckTx(t.Context(), recheck(tx))
		if r.Code != 0 {
			t.Fatalf("recheck: %s", r.Log)
		}
	}
	if r := f.block(txs[2:]...); r[0].Code != 0 || r[2].Code != 0 {
		t.Fatalf("%v", r)
	}
	if b := f.account(addrOf(f.bob)); b.Credits != 500 || b.Nonce != 5 {
		t.Fatalf("bob %+v", b.Account)
	}
}

func TestEpochSeedsChainFromBlockHashes(t *testing.T) {
	l := newTestLedger(t, "")
	for range 25 {
		l.block()
	}
	var e0, e1, e2 Epoch
	if err := l.query(QueryEpoch+"/0", &e0); err != nil {
		t.Fatal(err)
	}
	if err := l.query(QueryEpoch+"/1", &e1); err != nil {
		t.Fatal(err)
	}
	if err := l.query(QueryEpoch, &e2); err != nil {
		t.Fatal(err)
	}
	if e1.StartHeight != 11 || e2.Number != 2 || e2.StartHeight != 21 {
		t.Fatalf("epochs %+v %+v", e1, e2)
	}
	g := genesisSeed(testChainID)
	if want := sha256.Sum256(append(g[:], e0.BlockHash[:]...)); Hash(want) != e0.Seed {
		t.Fatal("epoch 0 seed is not H(genesis seed ‖ block hash)")
	}
	if want := sha256.Sum256(append(e1.Seed[:], e2.BlockHash[:]...)); Hash(want) != e2.Seed {
		t.Fatal("epoch 2 seed is not H(epoch 1 seed ‖ block hash)")
	}
}

// TestADisqualifiedOrDownNodeIsNoHolderAndEarnsNoQuota writes what the proofs
// rules will write (a disqualified status, a poor uptime window) into the
// state and checks the ledger's answers: placements on a disqualified holder
// are refused (code 17), and an owner whose node is down or disqualified may
// use only the allowance — in the account query and in PlaceFile alike.
func TestADisqualifiedOrDownNodeIsNoHolderAndEarnsNoQuota(t *testing.T) {
	f := newFixture(t)
	carol, dave := addrOf(f.carol), addrOf(f.dave)
	setNode := func(a Address, change func(*Node)) {
		t.Helper()
		var n Node
		if found, err := getValue(treeWriter{f.app.tree}, nodeKey(a), &n); err != nil || !found {
			t.Fatalf("node %s: %v %v", a, found, err)
		}
		change(&n)
		if err := setValue(treeWriter{f.app.tree}, nodeKey(a), &n); err != nil {
			t.Fatal(err)
		}
		f.block() // commits the write with the next block
	}

	setNode(dave, func(n *Node) { n.Status = NodeDisqualified })
	res := f.check(f.sign(f.alice, f.receipted(f.alice, &PlaceFile{FileID: Hash{3}, Size: 1, K: 1, M: 1, Pieces: []Piece{
		piece(0, 0, carol, 10), piece(0, 1, dave, 10)}})))
	if Code(res.Code) != CodeHolderUnavailable || !strings.Contains(res.Log, "is disqualified") {
		t.Fatalf("placement on a disqualified holder: code %d %q", res.Code, res.Log)
	}

	// Carol (holding 60 bytes for alice, so earning 60; allowance 1000)
	// places 1030 bytes on her own node, which needs her earned quota; with
	// 6 of 10 epochs up she cannot.
	place := func(id byte) *abci.CheckTxResponse {
		return f.check(f.sign(f.carol, f.receipted(f.carol, &PlaceFile{FileID: Hash{id}, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 1030)}})))
	}
	setNode(carol, func(n *Node) {
		n.Uptime = []bool{true, true, false, true, false, true, false, true, false, true}
		n.ProvedForOthers = n.HeldForOthers // as a proof judged proved writes it
	})
	if a := f.account(carol); a.QuotaLimit != 1000 {
		t.Fatalf("carol 60%% up: quota limit %d, want the allowance 1000", a.QuotaLimit)
	}
	if res := place(4); Code(res.Code) != CodeQuotaExceeded {
		t.Fatalf("placement needing earned quota while down: code %d %q", res.Code, res.Log)
	}
	f.nonces[carol]-- // the refused tx was not admitted
	setNode(carol, func(n *Node) { n.Uptime[2] = true })
	if a := f.account(carol); a.QuotaLimit != 1060 {
		t.Fatalf("carol 70%% up: quota limit %d, want 1060", a.QuotaLimit)
	}
	if r := f.block(f.sign(f.carol, f.receipted(f.carol, &PlaceFile{FileID: Hash{5}, Size: 1, K: 1, M: 0, Pieces: []Piece{piece(0, 0, carol, 1030)}}))); r[0].Code != 0 {
		t.Fatalf("placement within earned quota while up: %s", r[0].Log)
	}
}
