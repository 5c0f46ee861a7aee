package repair

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// setupLow puts a real file of two segments at k=2 m=1, asked m=3, owned
// by owner, on holders 0–2, and returns the ledger and the network. Only
// the three holders and this node (holding nothing of it) are nodes.
func setupLow(t *testing.T, owner chain.Address) (*fakeLedger, *fakeNet, chain.File) {
	t.Helper()
	st, err := blockstore.Open(t.TempDir(), blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	cfg := storage.Config{K: 2, M: 1, SegmentSize: 200 << 10, StripeUnit: 64 << 10}
	res, err := storage.Put(context.Background(), bytes.NewReader(data), storage.StoreSink(st, blockstore.Pinned), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := chain.File{ID: chain.Hash(res.FileID), Owner: owner, K: 2, M: 1, AskedM: 3}
	l := &fakeLedger{params: chain.DefaultParams(), epoch: 7, files: map[chain.Hash]chain.File{}}
	for _, p := range res.Pieces {
		f.Pieces = append(f.Pieces, chain.Piece{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: holder(p.Index), ID: chain.Hash(p.ID), Size: uint64(p.Size), Root: chain.Hash(p.Root), Leaves: p.Leaves})
	}
	for i := range 3 {
		l.nodes = append(l.nodes, activeNode(holder(i)))
	}
	l.files[f.ID] = f
	return l, &fakeNet{store: st, answer: map[chain.Address]bool{}}, f
}

func activeNode(a chain.Address) chain.Node {
	return chain.Node{Address: a, Status: chain.NodeActive, Pledge: 1 << 30, Addrs: []string{"/ip4/127.0.0.1/tcp/1"}}
}

// A file stored at m=1 of the asked 3 is raised as nodes join: not while
// no node outside its segments answers; by one parity piece per segment
// when one joined and answers, placed on it; the
// RaisePieces names pieces that really are the segments' next parity (a
// lost data piece rebuilds from them). Another owner's file is not raised,
// nor one with a repairable piece.
func TestRaiseOwnFileAsNodesJoin(t *testing.T) {
	ctx := context.Background()
	l, n, f := setupLow(t, self)
	r := newTestRepairer(l, n, Config{Margin: MarginAll})
	round := func() {
		t.Helper()
		if err := r.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round()
	if len(l.sent) != 0 || len(n.added) != 0 {
		t.Fatalf("raised with no node outside the segments: %v", l.sent)
	}
	// A new node on the ledger that does not answer.
	joiner := chain.Address{0x4a}
	l.nodes = append(l.nodes, activeNode(joiner))
	n.joiners = []chain.Address{joiner}
	round()
	if len(l.sent) != 0 {
		t.Fatalf("raised onto a node that does not answer: %v", l.sent)
	}
	n.answer[joiner] = true
	round()
	if len(l.sent) != 1 {
		t.Fatalf("sent %d txs, want one RaisePieces", len(l.sent))
	}
	rp, ok := l.sent[0].(*chain.RaisePieces)
	if !ok || rp.FileID != f.ID || rp.M != 2 || len(rp.Pieces) != 2 || len(rp.Receipts) != 1 {
		t.Fatalf("sent %+v", l.sent[0])
	}
	for s, p := range rp.Pieces {
		if p.Segment != uint32(s) || p.Index != 3 || p.Holder != joiner || p.Size != f.Pieces[s*3].Size {
			t.Fatalf("added piece %d: %+v", s, p)
		}
		// Rebuild data piece 0 from piece 1 and the added one.
		l := storage.SegmentLayout{K: 2, M: 2}
		for _, q := range append(append([]chain.Piece(nil), f.Pieces[s*3:s*3+3]...), p) {
			l.Pieces = append(l.Pieces, storage.PieceRef{FileID: blockstore.ID(f.ID), Segment: s, Index: int(q.Index), ID: blockstore.ID(q.ID), Size: int64(q.Size)})
		}
		src := onlySource{n.store, map[int]bool{1: true, 3: true}}
		if _, err := storage.Rebuild(ctx, l, src, storage.StoreSink(n.store, blockstore.Cache), []int{0}); err != nil {
			t.Fatalf("segment %d: data piece 0 from piece 1 and the added parity: %v", s, err)
		}
	}
	if n.released != 1 {
		t.Fatalf("released %d times", n.released)
	}

	// Another owner's file, and one with a lost piece, stay as they are.
	other := chain.Address{0x77}
	l2, n2, _ := setupLow(t, other)
	l2.nodes = append(l2.nodes, activeNode(joiner))
	n2.answer[joiner], n2.joiners = true, []chain.Address{joiner}
	if err := newTestRepairer(l2, n2, Config{Margin: MarginAll}).Round(ctx); err != nil || len(l2.sent) != 0 {
		t.Fatalf("raised another owner's file: %v %v", l2.sent, err)
	}
	l3, n3, f3 := setupLow(t, self)
	l3.nodes = append(l3.nodes, activeNode(joiner))
	n3.answer[joiner], n3.joiners = true, []chain.Address{joiner}
	l3.loseIndex(f3, 0)
	r3 := newTestRepairer(l3, n3, Config{Margin: MarginAll})
	if err := r3.Round(ctx); err != nil {
		t.Fatal(err)
	}
	for _, b := range l3.sent {
		if _, ok := b.(*chain.RaisePieces); ok {
			t.Fatal("raised a file with a lost piece before repairing it")
		}
	}
}

// The raise goes as far as the nodes allow: two joiners take a file from
// m=1 to the asked 3 in one RaisePieces.
func TestRaiseAsFarAsNodesAllow(t *testing.T) {
	l, n, f := setupLow(t, self)
	a, b := chain.Address{0x4a}, chain.Address{0x4b}
	l.nodes = append(l.nodes, activeNode(a), activeNode(b))
	n.answer[a], n.answer[b], n.joiners = true, true, []chain.Address{a, b}
	if err := newTestRepairer(l, n, Config{Margin: MarginAll}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(l.sent) != 1 {
		t.Fatalf("sent %d", len(l.sent))
	}
	rp := l.sent[0].(*chain.RaisePieces)
	if rp.M != 3 || len(rp.Pieces) != 4 || rp.Pieces[0].Index != 3 || rp.Pieces[1].Index != 4 || rp.Pieces[2].Segment != 1 || rp.Pieces[0].Holder == rp.Pieces[1].Holder {
		t.Fatalf("raise %+v (file m=%d)", rp, f.M)
	}
}

// A raise the owner's quota cannot cover is not attempted: nothing is
// computed, pushed or sent.
func TestRaiseWaitsForQuota(t *testing.T) {
	l, n, f := setupLow(t, self)
	a := chain.Address{0x4a}
	l.nodes = append(l.nodes, activeNode(a))
	n.answer[a], n.joiners = true, []chain.Address{a}
	l.quota = f.Pieces[0].Size // one added piece's worth; two segments need more
	r := newTestRepairer(l, n, Config{Margin: MarginAll})
	if err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(l.sent) != 0 || len(n.added) != 0 {
		t.Fatalf("raised over quota: sent %d, placed %d", len(l.sent), len(n.added))
	}
	l.quota = 0
	if err := r.Round(context.Background()); err != nil || len(l.sent) != 1 {
		t.Fatalf("with the quota: sent %d, %v", len(l.sent), err)
	}
}

// onlySource serves from a store only the pieces whose index is in ok.
type onlySource struct {
	s  *blockstore.Store
	ok map[int]bool
}

func (o onlySource) FetchPiece(ctx context.Context, ref storage.PieceRef) (io.ReadCloser, error) {
	if !o.ok[ref.Index] {
		return nil, blockstore.ErrNotFound
	}
	return o.s.Open(ctx, ref.ID)
}
