package repair

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// fakeLedger is a ledger read from fixed records; it keeps what is sent.
type fakeLedger struct {
	params chain.Params
	epoch  uint64
	nodes  []chain.Node
	files  map[chain.Hash]chain.File
	lost   []chain.LostPiece
	sent   []chain.Body
	quota  uint64 // the account's quota limit (0: plenty)
}

func (l *fakeLedger) Height(context.Context) (int64, []byte, error) { return 1, nil, nil }
func (l *fakeLedger) Params(context.Context) (chain.Params, error)  { return l.params, nil }
func (l *fakeLedger) Epoch(context.Context) (chain.Epoch, error) {
	return chain.Epoch{Number: l.epoch}, nil
}
func (l *fakeLedger) Nodes(context.Context) ([]chain.Node, error) { return l.nodes, nil }
func (l *fakeLedger) File(_ context.Context, id chain.Hash) (chain.File, error) {
	f, ok := l.files[id]
	if !ok {
		return f, chain.ErrNotFound
	}
	return f, nil
}
func (l *fakeLedger) Files(_ context.Context, owner chain.Address) ([]chain.File, error) {
	var out []chain.File
	for _, f := range l.files {
		if f.Owner == owner {
			out = append(out, f)
		}
	}
	return out, nil
}
func (l *fakeLedger) Pieces(_ context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	var out []chain.HeldPiece
	for _, f := range l.files {
		for _, p := range f.Pieces {
			if p.Holder == holder {
				out = append(out, chain.HeldPiece{File: f.ID, Piece: p})
			}
		}
	}
	return out, nil
}
func (l *fakeLedger) Lost(context.Context) ([]chain.LostPiece, error) { return l.lost, nil }
func (l *fakeLedger) Account(context.Context, chain.Address) (chain.AccountView, error) {
	if l.quota == 0 {
		return chain.AccountView{QuotaLimit: 1 << 40, Exists: true}, nil
	}
	return chain.AccountView{QuotaLimit: l.quota, Exists: true}, nil
}
func (l *fakeLedger) BroadcastCommit(_ context.Context, b chain.Body) (ledger.Result, error) {
	l.sent = append(l.sent, b)
	return ledger.Result{}, nil
}

// fakeNet rebuilds from a real block store holding every piece; Place
// gives every piece to node "fresh" and records what it was given.
type fakeNet struct {
	store    *blockstore.Store
	placed   [][]storage.PieceInfo
	released int
	// answer is what Answering returns; PlaceAdded gives each added piece
	// to the first of joiners not in its segment.
	answer  map[chain.Address]bool
	joiners []chain.Address
	added   [][]storage.PieceInfo
}

func (n *fakeNet) Source(context.Context, *chain.File) storage.PieceSource {
	return storage.StoreSource(n.store)
}
func (n *fakeNet) Sink() storage.BlockSink { return storage.StoreSink(n.store, blockstore.Pinned) }
func (n *fakeNet) Place(_ context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Replacement, []chain.Receipt, error) {
	n.placed = append(n.placed, pieces)
	var reps []chain.Replacement
	for _, p := range pieces {
		if avoid[uint32(p.Segment)][fresh] {
			return nil, nil, errors.New("fresh is in the segment")
		}
		reps = append(reps, chain.Replacement{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: fresh})
	}
	return reps, []chain.Receipt{{}}, nil
}
func (n *fakeNet) Answering(context.Context) (map[chain.Address]bool, error) {
	return n.answer, nil
}
func (n *fakeNet) PlaceAdded(_ context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Piece, []chain.Receipt, error) {
	n.added = append(n.added, pieces)
	var out []chain.Piece
	seen := map[chain.Address]bool{}
	var receipts []chain.Receipt
	for _, p := range pieces {
		seg := uint32(p.Segment)
		var pick *chain.Address
		for _, a := range n.joiners {
			if !avoid[seg][a] {
				pick = &a
				break
			}
		}
		if pick == nil {
			return nil, nil, errors.New("no joiner left")
		}
		avoid[seg][*pick] = true
		if !seen[*pick] {
			seen[*pick] = true
			receipts = append(receipts, chain.Receipt{})
		}
		out = append(out, chain.Piece{Segment: seg, Index: uint32(p.Index), Holder: *pick, ID: chain.Hash(p.ID), Size: uint64(p.Size), Root: chain.Hash(p.Root), Leaves: p.Leaves})
	}
	return out, receipts, nil
}
func (n *fakeNet) Release(context.Context, *chain.File, []storage.PieceInfo, []chain.Replacement) {
	n.released++
}

var (
	self  = chain.Address{0xaa}
	fresh = chain.Address{0xfe}
)

func holder(i int) chain.Address { return chain.Address{byte(i + 1)} }

// setup puts a real file of one segment (k=2, m=2) owned by owner, piece i
// on holder(i), and returns the ledger, the network and the file.
func setup(t *testing.T, owner chain.Address) (*fakeLedger, *fakeNet, chain.File) {
	t.Helper()
	st, err := blockstore.Open(t.TempDir(), blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	data := make([]byte, 200<<10)
	_, _ = rand.Read(data)
	cfg := storage.Config{K: 2, M: 2, SegmentSize: 1 << 20, StripeUnit: 64 << 10}
	res, err := storage.Put(context.Background(), bytes.NewReader(data), storage.StoreSink(st, blockstore.Pinned), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := chain.File{ID: chain.Hash(res.FileID), Owner: owner, K: 2, M: 2}
	l := &fakeLedger{params: chain.DefaultParams(), epoch: 7, files: map[chain.Hash]chain.File{}}
	for i, p := range res.Pieces {
		f.Pieces = append(f.Pieces, chain.Piece{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: holder(i), ID: chain.Hash(p.ID), Size: uint64(p.Size), Root: chain.Hash(p.Root), Leaves: p.Leaves})
		l.nodes = append(l.nodes, chain.Node{Address: holder(i), Status: chain.NodeActive})
	}
	l.nodes = append(l.nodes, chain.Node{Address: self, Status: chain.NodeActive}, chain.Node{Address: fresh, Status: chain.NodeActive})
	l.files[f.ID] = f
	return l, &fakeNet{store: st}, f
}

func newTestRepairer(l *fakeLedger, n *fakeNet, cfg Config) *Repairer {
	cfg.Logger = slog.New(slog.DiscardHandler)
	return New(self, l, n, cfg)
}

func (l *fakeLedger) loseIndex(f chain.File, i int) {
	l.lost = append(l.lost, chain.LostPiece{File: f.ID, Piece: f.Pieces[i], Reason: chain.LostFailedProof})
}

// The margin: with MarginAll one lost piece is repaired; with margin 1 (of
// m = 2) it is not, two are. The rebuilt pieces are the lost ones, checked
// against the ledger, and the ReplacePieces names them.
func TestMargin(t *testing.T) {
	l, n, f := setup(t, self)
	l.loseIndex(f, 1)
	r := newTestRepairer(l, n, Config{Margin: 1})
	if err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(l.sent) != 0 || len(n.placed) != 0 {
		t.Fatalf("one loss of two spare pieces repaired with margin 1: %v", l.sent)
	}
	// The holder of piece 3 has missed its epochs: now two are lost.
	l.nodes[3].MissedInRow = l.params.RepairAfterMissed
	if err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(l.sent) != 1 {
		t.Fatalf("sent %d txs", len(l.sent))
	}
	rp := l.sent[0].(*chain.ReplacePieces)
	if rp.FileID != f.ID || len(rp.Pieces) != 2 || rp.Pieces[0].Index != 1 || rp.Pieces[1].Index != 3 || rp.Pieces[0].Holder != fresh {
		t.Fatalf("replace %+v", rp)
	}
	for i, p := range n.placed[0] {
		want := f.Pieces[rp.Pieces[i].Index]
		if chain.Hash(p.ID) != want.ID || chain.Hash(p.Root) != want.Root {
			t.Fatalf("placed %+v for %+v", p, want)
		}
	}
	if n.released != 1 {
		t.Fatalf("released %d times", n.released)
	}

	l2, n2, f2 := setup(t, self)
	l2.loseIndex(f2, 0)
	if err := newTestRepairer(l2, n2, Config{Margin: MarginAll}).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(l2.sent) != 1 {
		t.Fatalf("one loss with MarginAll: sent %d txs", len(l2.sent))
	}
}

// A rebuilt piece that does not match the root the ledger records is not
// placed: a repair never credits a holder with bytes the ledger cannot
// challenge. Failing, the file waits for the next epoch.
func TestRebuiltPieceMustMatchTheLedger(t *testing.T) {
	l, n, f := setup(t, self)
	f.Pieces[2].Root = chain.Hash{1}
	l.files[f.ID] = f
	l.loseIndex(f, 2)
	r := newTestRepairer(l, n, Config{Margin: MarginAll})
	if err := r.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(n.placed) != 0 || len(l.sent) != 0 || n.released != 1 {
		t.Fatalf("placed %d, sent %d, released %d", len(n.placed), len(l.sent), n.released)
	}
	if err := r.Round(context.Background()); err != nil || n.released != 1 {
		t.Fatalf("tried again in the same epoch: released %d, %v", n.released, err)
	}
}

// Others' files: not without Config.Others, not in the epoch the loss is
// first seen, then in turns by rank: a node ranked second repairs only
// from the second epoch of turns.
func TestOthersTurns(t *testing.T) {
	other := chain.Address{0x77}
	l, n, f := setup(t, other)
	l.loseIndex(f, 0)
	if err := newTestRepairer(l, n, Config{Margin: MarginAll}).Round(context.Background()); err != nil || len(l.sent) != 0 {
		t.Fatalf("repaired another owner's file without Others: %d sent, %v", len(l.sent), err)
	}
	// Rank the running nodes for segment 0; the repairer is the second.
	var addrs []chain.Address
	for _, nd := range l.nodes {
		addrs = append(addrs, nd.Address)
	}
	for i := range addrs {
		for j := i + 1; j < len(addrs); j++ {
			a, b := RankKey(f.ID, 0, addrs[i]), RankKey(f.ID, 0, addrs[j])
			if bytes.Compare(b[:], a[:]) < 0 {
				addrs[i], addrs[j] = addrs[j], addrs[i]
			}
		}
	}
	second := addrs[1]
	r := New(second, l, n, Config{Margin: MarginAll, Others: true, OthersWait: 1, Logger: slog.New(slog.DiscardHandler)})
	for e, want := range []int{0, 0, 1} { // seen in epoch 7, first turn 8, second 9
		l.epoch = 7 + uint64(e)
		if err := r.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(l.sent) != want {
			t.Fatalf("epoch %d: %d sent, want %d", l.epoch, len(l.sent), want)
		}
	}
}

// TestNeedFollowsTheMarginAndTheLedgerRule: a segment is due when its
// pieces on repairable holders (offline RepairAfterMissed epochs, or
// recorded lost) leave fewer than K + margin live, and reports how many
// are live.
func TestNeedFollowsTheMarginAndTheLedgerRule(t *testing.T) {
	p := chain.DefaultParams()
	nodes := map[chain.Address]*chain.Node{}
	f := &chain.File{K: 2, M: 2}
	for s := range 2 {
		for i := range 4 {
			a := chain.Address{byte(s*4 + i + 1)}
			nodes[a] = &chain.Node{Address: a, Status: chain.NodeActive}
			f.Pieces = append(f.Pieces, chain.Piece{Segment: uint32(s), Index: uint32(i), Holder: a})
		}
	}
	nodes[chain.Address{2}].MissedInRow = p.RepairAfterMissed     // segment 0, index 1: offline
	nodes[chain.Address{3}].MissedInRow = p.RepairAfterMissed - 1 // not yet
	lost := map[uint32]map[uint32]bool{1: {0: true, 3: true}}     // segment 1: two recorded lost
	got := Need(f, p, nodes, lost, MarginAll)
	if len(got) != 2 || got[0].Segment != 0 || len(got[0].Lost) != 1 || got[0].Lost[0] != 1 || got[0].Live != 3 ||
		got[1].Segment != 1 || len(got[1].Lost) != 2 || got[1].Live != 2 {
		t.Fatalf("need %+v, want segment 0 (piece 1, 3 live) and segment 1 (pieces 0 and 3, 2 live)", got)
	}
	if got := Need(f, p, nodes, lost, 1); len(got) != 1 || got[0].Segment != 1 {
		t.Fatalf("margin 1: need %+v, want only segment 1 (2 live < K+1)", got)
	}
}
