package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// repairNetwork is startMemNetwork with fast provers and repairers: five
// nodes, files of k=2 m=1 put from node 0.
type repairNetwork struct {
	t       *testing.T
	nodes   []*Node
	stopped map[int]bool
	l       *memLedger
}

func startRepairNetwork(t *testing.T) *repairNetwork {
	t.Helper()
	nodes, l := startMemNetworkWith(t, 5, func(i int, c *Config) {
		c.ProveInterval = 10 * time.Millisecond
		c.RepairInterval = 10 * time.Millisecond
		c.ReconcileInterval = 50 * time.Millisecond
	})
	return &repairNetwork{t: t, nodes: nodes, stopped: map[int]bool{}, l: l}
}

func (r *repairNetwork) query(path string, v any) error {
	return r.l.query(context.Background(), path, v)
}

func (r *repairNetwork) params() chain.Params {
	r.t.Helper()
	var p chain.Params
	if err := r.query(chain.QueryParams, &p); err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *repairNetwork) node(a chain.Address) chain.Node {
	r.t.Helper()
	var n chain.Node
	if err := r.query(chain.QueryNode+a.String(), &n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *repairNetwork) file(id string) chain.File {
	r.t.Helper()
	var f chain.File
	if err := r.query(chain.QueryFile+id, &f); err != nil {
		r.t.Fatal(err)
	}
	return f
}

func (r *repairNetwork) index(a chain.Address) int {
	for i, n := range r.nodes {
		if n.addr == a {
			return i
		}
	}
	r.t.Fatalf("no node %s", a)
	return -1
}

// waitFor polls cond (a read of the ledger or the stores) until it holds.
func (r *repairNetwork) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nextEpoch commits empty blocks up to the first block of the next epoch
// (which settles the current one) and waits until every running node that
// holds pieces has its outcome of the new epoch recorded. It returns the
// new epoch.
func (r *repairNetwork) nextEpoch() uint64 {
	r.t.Helper()
	var e chain.Epoch
	if err := r.query(chain.QueryEpoch, &e); err != nil {
		r.t.Fatal(err)
	}
	p := r.params()
	for {
		r.l.mu.Lock()
		h := r.l.height
		r.l.mu.Unlock()
		if uint64(h) >= (e.Number+1)*p.EpochLength+1 { // initial height 1
			break
		}
		r.l.block()
	}
	next := e.Number + 1
	for i, n := range r.nodes {
		if r.stopped[i] {
			continue
		}
		r.waitFor(fmt.Sprintf("node %d's outcome of epoch %d", i, next), func() bool {
			if r.node(n.addr).Used == 0 {
				return true
			}
			var o chain.EpochOutcome
			return r.query(fmt.Sprintf("%s%d/%s", chain.QueryOutcome, next, n.addr), &o) == nil
		})
	}
	return next
}

// put stores random data from node 0 and waits until its holders are
// credited.
func (r *repairNetwork) put(size int) ([]byte, *api.PutResult) {
	r.t.Helper()
	data := make([]byte, size)
	_, _ = rand.Read(data)
	res, err := r.nodes[0].Put(context.Background(), bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	waitCredited(r.t, r.nodes, res)
	return data, res
}

// holderOf returns the index of a node (not node 0) holding pieces of res.
func (r *repairNetwork) holderOf(res *api.PutResult) int {
	for _, p := range res.Pieces {
		if p.Holder != r.nodes[0].addr.String() {
			a, err := chain.ParseAddress(p.Holder)
			if err != nil {
				r.t.Fatal(err)
			}
			return r.index(a)
		}
	}
	r.t.Fatal("every piece on the owner")
	return -1
}

// repairedAway waits until no piece of the file is recorded with holder
// gone, none is lost, every holder is running and holds its piece pinned
// (full redundancy), and returns the file record.
func (r *repairNetwork) repairedAway(fileID string, gone chain.Address) chain.File {
	r.t.Helper()
	var f chain.File
	r.waitFor("the file's pieces repaired to running holders", func() bool {
		f = r.file(fileID)
		var lost chain.Page[chain.LostPiece]
		if err := r.query(chain.QueryLost, &lost); err != nil {
			r.t.Fatal(err)
		}
		if len(lost.Items) != 0 {
			return false
		}
		for _, p := range f.Pieces {
			if p.Holder == gone {
				return false
			}
			i := r.index(p.Holder)
			if r.stopped[i] {
				return false
			}
			if a, ok := r.nodes[i].store.Has(blockstore.ID(p.ID)); !ok || a != blockstore.Pinned {
				return false
			}
		}
		return true
	})
	// Segments keep distinct holders.
	width := int(f.K + f.M)
	for s := 0; s < len(f.Pieces)/width; s++ {
		seen := map[chain.Address]bool{}
		for _, p := range f.Pieces[s*width : (s+1)*width] {
			if seen[p.Holder] {
				r.t.Fatalf("segment %d has holder %s twice", s, p.Holder)
			}
			seen[p.Holder] = true
		}
	}
	return f
}

// reader is a running node other than the owner and node not.
func (r *repairNetwork) reader(not int) int {
	for i := len(r.nodes) - 1; i > 0; i-- {
		if i != not && !r.stopped[i] {
			return i
		}
	}
	r.t.Fatal("no reader left")
	return -1
}

// readsBack checks that node i, with an empty cache, reads the file
// bit-exact.
func (r *repairNetwork) readsBack(i int, capability string, data []byte) {
	r.t.Helper()
	dropCache(r.t, r.nodes[i])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := readAll(ctx, r.nodes[i], capability)
	if err != nil || !bytes.Equal(got, data) {
		r.t.Fatalf("node %d reads back the repaired file: %v (%d of %d bytes, equal %v)", i, err, len(got), len(data), bytes.Equal(got, data))
	}
}

// A holder that stops: its epochs are recorded missing, and once it has
// missed repair_after_missed in a row the owner's repairer rebuilds its
// pieces from the others, places them on running nodes (each with its
// receipt, as ReplacePieces requires) and records the move; the stopped
// node loses the credit (and its earned quota), the new holders prove the
// pieces, and the file reads back bit-exact with full redundancy.
func TestRepairOfAStoppedHolder(t *testing.T) {
	r := startRepairNetwork(t)
	data, res := r.put(2<<20 + 5000) // three segments of three pieces
	victim := r.holderOf(res)
	gone := r.nodes[victim].addr
	var mine int
	for _, p := range res.Pieces {
		if p.Holder == gone.String() {
			mine++
		}
	}
	r.nextEpoch() // every holder owes proofs from here on
	before := r.node(gone)
	if before.Used == 0 || before.HeldForOthers == 0 {
		t.Fatalf("victim holds nothing: %+v", before)
	}
	if err := r.nodes[victim].Close(); err != nil {
		t.Fatal(err)
	}
	r.stopped[victim] = true
	p := r.params()
	for r.node(gone).MissedInRow < p.RepairAfterMissed {
		// Not repairable yet: the file still names the stopped holder.
		if f := r.file(res.FileID); !names(f, gone) {
			t.Fatalf("pieces moved off %s after %d missed epochs, before %d", gone, r.node(gone).MissedInRow, p.RepairAfterMissed)
		}
		r.nextEpoch()
	}
	// What a running node tells its user of the stopped one (coop peers).
	peers, err := r.nodes[r.reader(victim)].Peers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, pi := range peers {
		if pi.Account != gone.String() {
			continue
		}
		seen = true
		if pi.MissedInRow < p.RepairAfterMissed || pi.EarningUsable || pi.AuditScore != 1000 || pi.Status != chain.NodeActive || len(pi.Uptime) == 0 || pi.Uptime[len(pi.Uptime)-1] {
			t.Fatalf("peers shows the stopped holder as %+v", pi)
		}
	}
	if !seen {
		t.Fatalf("peers does not list the stopped holder: %+v", peers)
	}
	f := r.repairedAway(res.FileID, gone)
	after := r.node(gone)
	if after.Used != 0 || after.HeldForOthers != 0 || after.PiecesLost != before.PiecesLost+uint64(mine) {
		t.Fatalf("stopped holder after repair: %+v (held %d pieces)", after, mine)
	}
	var acct chain.AccountView
	if err := r.query(chain.QueryAccount+gone.String(), &acct); err != nil {
		t.Fatal(err)
	}
	if acct.QuotaEarned != 0 || acct.QuotaLimit != p.Allowance {
		t.Fatalf("stopped holder keeps earned quota: %+v", acct)
	}
	// The owner repairs its own files at once, others after an epoch: on a
	// memory ledger that advances several blocks at a time either may get
	// there first, so the running nodes' counts add up to the pieces moved.
	// A repairer counts its pieces once its ReplacePieces call returns,
	// which can be just after the test sees the ledger moved them: wait
	// for the count (bounded).
	var repaired uint64
	for deadline := time.Now().Add(30 * time.Second); ; {
		repaired = 0
		for i, n := range r.nodes {
			if r.stopped[i] {
				continue
			}
			st, err := n.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			repaired += st.PiecesRepaired
		}
		if repaired >= uint64(mine) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if repaired != uint64(mine) {
		t.Fatalf("the running nodes' status counts %d repaired pieces, %d were moved", repaired, mine)
	}
	// The new holders keep their pieces' Levels and prove them.
	moved := map[chain.Address]bool{}
	for i, q := range f.Pieces {
		if res.Pieces[i].Holder == q.Holder.String() {
			continue
		}
		moved[q.Holder] = true
		lv, err := r.nodes[r.index(q.Holder)].hold.levels.Levels(q.ID)
		if err != nil {
			t.Fatalf("levels of repaired piece %s at %s: %v", q.ID, q.Holder, err)
		}
		if err := lv.Check(proofs.Hash(q.Root)); err != nil {
			t.Fatal(err)
		}
	}
	e := r.nextEpoch()
	for a := range moved {
		var o chain.EpochOutcome
		if err := r.query(fmt.Sprintf("%s%d/%s", chain.QueryOutcome, e, a), &o); err != nil || o.Outcome != chain.OutcomeProved {
			t.Fatalf("new holder %s in epoch %d: %+v %v", a, e, o, err)
		}
	}
	r.readsBack(r.reader(victim), res.Capability, data) // a running node other than the victim
}

// A holder that deleted its pieces answers its challenges with empty
// proofs; the ledger records the epoch invalid, the pieces lost and the
// holder disqualified, and the owner's repairer moves them to other nodes: the file reads back
// bit-exact, every piece on a node that has it.
func TestRepairOfDeletedPieces(t *testing.T) {
	r := startRepairNetwork(t)
	data, res := r.put(300 << 10) // one segment of three pieces
	victim := r.holderOf(res)
	bad := r.nodes[victim]
	r.nextEpoch()
	for _, p := range res.Pieces {
		if p.Holder == bad.addr.String() {
			if err := bad.hold.deleteBlock(context.Background(), mustID(t, p.Piece)); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := r.nextEpoch()
	var o chain.EpochOutcome
	if err := r.query(fmt.Sprintf("%s%d/%s", chain.QueryOutcome, e, bad.addr), &o); err != nil || o.Outcome != chain.OutcomeInvalid {
		t.Fatalf("the holder without its pieces in epoch %d: %+v %v", e, o, err)
	}
	r.repairedAway(res.FileID, bad.addr)
	// It failed every challenge (each an audit): disqualified at once.
	if n := r.node(bad.addr); n.Status != chain.NodeDisqualified || n.PiecesLost == 0 {
		t.Fatalf("the holder that lost pieces: %+v", n)
	}
	r.readsBack(r.reader(victim), res.Capability, data)
}

func names(f chain.File, a chain.Address) bool {
	for _, p := range f.Pieces {
		if p.Holder == a {
			return true
		}
	}
	return false
}

// A repair push: any node, even one whose key has no account, may push a
// piece of a placed file with the file's id as its put id; the holder
// takes it without charging anyone's quota and receipts it for the file's
// owner, so the repairer's ReplacePieces credits the holder. Bytes that are
// not a piece of the named file are refused, as is the same repairer's
// ordinary push (its account has no quota), and a receipt for the
// repair-pushed piece asked under another file id.
func TestHolderTakesRepairPushes(t *testing.T) {
	e := newHolderEnv(t)
	ctx := context.Background()
	_, okey, _ := ed25519.GenerateKey(rand.Reader) // the piece's first holder
	_, rkey, _ := ed25519.GenerateKey(rand.Reader) // the repairer: no account
	other, repairer := e.l.client(okey), e.l.client(rkey)
	pid, err := chain.PeerIDOf(okey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.BroadcastCommit(ctx, &chain.RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/2"}, Pledge: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	a := newTestPiece(100<<10 + 3)
	file := randomID()
	pf := &chain.PlaceFile{FileID: chain.Hash(file), Size: 1, K: 1, Pieces: []chain.Piece{a.chainPiece(0, other.addr)}}
	expires := int64(50)
	pf.Receipts = []chain.Receipt{chain.SignReceipt(okey, memChainID, pf.FileID, e.ownerLed.addr, expires, []chain.ReceiptPiece{{ID: chain.Hash(a.id), Root: chain.Hash(a.root), Size: uint64(len(a.data)), Leaves: proofs.LeafCount(int64(len(a.data)))}})}
	if _, err := e.ownerLed.BroadcastCommit(ctx, pf); err != nil {
		t.Fatal(err)
	}
	rpub := rkey.Public().(ed25519.PublicKey)
	rpid, err := chain.PeerIDOf(rpub)
	if err != nil {
		t.Fatal(err)
	}
	rid, err := peer.Decode(rpid)
	if err != nil {
		t.Fatal(err)
	}
	push := func(put [32]byte, p testPiece) error {
		ps := exchange.Push{From: rid, Piece: p.id, Size: int64(len(p.data)), Owner: rpub, File: put}
		if err := e.h.AcceptPush(ctx, ps); err != nil {
			return err
		}
		return e.h.ReceivePush(ctx, ps, bytes.NewReader(p.data))
	}
	if err := push(randomID(), a); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("an ordinary push from a key without quota: %v", err)
	}
	if err := push(file, newTestPiece(5000)); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("a repair push of bytes that are not the file's: %v", err)
	}
	if err := push(file, a); err != nil {
		t.Fatalf("repair push: %v", err)
	}
	req := exchange.ReceiptRequest{From: rid, Put: file, File: randomID(), Pieces: []exchange.ReceiptPiece{{Piece: a.id, Root: a.root, Size: int64(len(a.data))}}}
	if _, err := e.h.SignReceipt(ctx, req); !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("a receipt of a repair-pushed piece for another file: %v", err)
	}
	req.File = file
	got, err := e.h.SignReceipt(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	rc := chain.Receipt{PubKey: e.hkey.Public().(ed25519.PublicKey), Expires: got.Expires, Sig: got.Sig}
	rp := []chain.ReceiptPiece{{ID: chain.Hash(a.id), Root: chain.Hash(a.root), Size: uint64(len(a.data)), Leaves: proofs.LeafCount(int64(len(a.data)))}}
	if err := rc.Verify(memChainID, chain.Hash(file), e.ownerLed.addr, e.h.addr, rp); err != nil {
		t.Fatalf("the receipt does not name the file's owner: %v", err)
	}
	// The first holder reports the piece lost; the repairer moves it.
	if _, err := other.BroadcastCommit(ctx, &chain.ReportLost{Pieces: []chain.PieceRef{{File: chain.Hash(file)}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := repairer.BroadcastCommit(ctx, &chain.ReplacePieces{FileID: chain.Hash(file), Pieces: []chain.Replacement{{Holder: e.h.addr}}, Receipts: []chain.Receipt{rc}}); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if ar, ok := e.area(a); !ok || ar != blockstore.Pinned || !e.h.isCredited(blockstore.ID(a.id)) || e.h.isPending(blockstore.ID(a.id)) {
		t.Fatalf("the repaired piece at its new holder: %v %v", ar, ok)
	}
}

// settled waits until every running node's repairer has looked at the
// ledger as it is now (and made the repairs due).
func (r *repairNetwork) settled() {
	r.t.Helper()
	r.l.mu.Lock()
	h := r.l.height
	r.l.mu.Unlock()
	for i, n := range r.nodes {
		if r.stopped[i] {
			continue
		}
		r.waitFor(fmt.Sprintf("node %d's repairer at height %d", i, h), func() bool { return n.fix.LastHeight() >= h })
	}
}

func (r *repairNetwork) stop(i int) {
	r.t.Helper()
	if err := r.nodes[i].Close(); err != nil {
		r.t.Fatal(err)
	}
	r.stopped[i] = true
}

// With the owner gone too, the other nodes repair: none in the epoch they
// first see the loss (the owner's turn), then one more node of the
// segment's ranking per epoch, so the file is repaired by other nodes
// within a few epochs, and reads back bit-exact.
func TestRepairByOtherNodes(t *testing.T) {
	r := startRepairNetwork(t)
	data, res := r.put(300 << 10) // one segment of three pieces
	for _, p := range res.Pieces {
		if p.Holder == r.nodes[0].addr.String() {
			t.Fatal("the owner holds a piece: puts place on other nodes first")
		}
	}
	victim := r.holderOf(res)
	gone := r.nodes[victim].addr
	r.nextEpoch()
	r.stop(0)
	r.stop(victim)
	p := r.params()
	for r.node(gone).MissedInRow < p.RepairAfterMissed {
		r.nextEpoch()
	}
	r.settled()
	if f := r.file(res.FileID); !names(f, gone) {
		t.Fatal("repaired by another node in the epoch the loss was seen: the owner's turn")
	}
	for e := 0; names(r.file(res.FileID), gone); e++ {
		if e > 4 {
			t.Fatalf("not repaired %d epochs after the loss was seen", e)
		}
		r.nextEpoch()
		r.settled()
	}
	r.repairedAway(res.FileID, gone)
	var total uint64
	for i, n := range r.nodes {
		if !r.stopped[i] {
			total += n.fix.Repaired()
		}
	}
	if total != 1 {
		t.Fatalf("%d pieces moved by the other nodes, want 1", total)
	}
	r.readsBack(r.reader(victim), res.Capability, data)
}
