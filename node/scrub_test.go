package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/storage/blockstore"
)

// TestScrubDropsAndReportsLostPieces: on real nodes and the real ledger
// rules, a holder one of whose pieces has a flipped byte on disk and
// another deleted finds both in one scrub, drops them with their levels,
// reports them in one ReportLost (the ledger marks them lost), stops
// serving the corrupt one, and keeps its sound pieces untouched; the file
// still reads from the other holders, and the next scrub finds nothing.
func TestScrubDropsAndReportsLostPieces(t *testing.T) {
	nodes, l := startMemNetworkWith(t, 3, func(i int, c *Config) {
		c.ProveInterval = 0 // no other transactions from the holder
		c.ScrubInterval = 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3<<20+4321) // 1 MiB segments at k=2 m=1: 4 segments of 3 pieces
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitCredited(t, nodes, res)

	// The holder: a node other than the writer with at least three pieces.
	var h *Node
	var mine []api.Placement
	for _, n := range nodes[1:] {
		var ps []api.Placement
		for _, p := range res.Pieces {
			if p.Holder == n.addr.String() {
				ps = append(ps, p)
			}
		}
		if len(ps) >= 3 {
			h, mine = n, ps
			break
		}
	}
	if h == nil {
		t.Fatalf("no reader holds three pieces: %+v", res.Pieces)
	}
	reader := nodes[0]
	corrupt, deleted := mustID(t, mine[0].Piece), mustID(t, mine[1].Piece)
	path, ok := h.store.Path(corrupt)
	if !ok {
		t.Fatal("corrupt piece not stored")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if path, ok = h.store.Path(deleted); !ok {
		t.Fatal("deleted piece not stored")
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Until the scrub, the exchange serves the corrupt bytes (the reader's
	// check refuses them).
	if _, err := reader.x.GetBytes(ctx, h.host.ID(), exchange.PieceID(corrupt)); !errors.Is(err, exchange.ErrHashMismatch) {
		t.Fatalf("fetching the corrupt piece before the scrub: %v, want a hash mismatch", err)
	}

	before, err := h.lc.Account(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	recBefore, err := h.lc.Node(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	var progress []api.ScrubProgress
	rep, err := h.Scrub(ctx, api.ScrubOptions{}, func(p api.ScrubProgress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	n := len(mine)
	if rep.Pieces != n || rep.OK != n-2 || rep.Corrupt != 1 || rep.Missing != 1 || rep.Reported != 2 || rep.ReportTxs != 1 {
		t.Fatalf("scrub report %+v; want %d pieces, %d ok, 1 corrupt, 1 missing, 2 reported in 1 tx", rep, n, n-2)
	}
	if len(progress) != n {
		t.Fatalf("%d progress calls for %d pieces", len(progress), n)
	}
	after, err := h.lc.Account(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	if after.Nonce != before.Nonce+1 {
		t.Fatalf("nonce %d → %d; want one transaction", before.Nonce, after.Nonce)
	}

	// The ledger: both pieces lost, reported by this holder; its credit
	// for them gone.
	lost, err := list[chain.LostPiece](ctx, l, chain.QueryLost)
	if err != nil {
		t.Fatal(err)
	}
	want := map[chain.Hash]bool{chain.Hash(corrupt): true, chain.Hash(deleted): true}
	for _, lp := range lost {
		if !want[lp.Piece.ID] || lp.Reason != chain.LostReported || lp.Piece.Holder != h.addr {
			t.Fatalf("lost record %+v", lp)
		}
		delete(want, lp.Piece.ID)
	}
	if len(want) != 0 {
		t.Fatalf("not marked lost: %v (lost: %+v)", want, lost)
	}
	rec, err := h.lc.Node(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	if rec.PiecesLost != recBefore.PiecesLost+2 || rec.Used >= recBefore.Used || rec.ProofsFailed != recBefore.ProofsFailed {
		t.Fatalf("node record: lost %d → %d, used %d → %d, proofs failed %d → %d", recBefore.PiecesLost, rec.PiecesLost, recBefore.Used, rec.Used, recBefore.ProofsFailed, rec.ProofsFailed)
	}
	held, err := h.lc.Pieces(ctx, h.addr)
	if err != nil {
		t.Fatal(err)
	}
	credited := map[blockstore.ID]bool{}
	for _, hp := range held {
		credited[blockstore.ID(hp.Piece.ID)] = true
	}

	// The store: the lost pieces and their levels gone; the exchange
	// answers not found; the sound pieces untouched, still credited.
	for _, id := range []blockstore.ID{corrupt, deleted} {
		if _, ok := h.store.Has(id); ok {
			t.Errorf("lost piece %s still stored", id)
		}
		if _, err := h.hold.levels.Levels(chain.Hash(id)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("levels of lost piece %s: %v", id, err)
		}
		if credited[id] {
			t.Errorf("lost piece %s still credited", id)
		}
	}
	if _, err := reader.x.GetBytes(ctx, h.host.ID(), exchange.PieceID(corrupt)); !errors.Is(err, exchange.ErrNotFound) {
		t.Fatalf("fetching the dropped piece: %v, want not found", err)
	}
	for _, p := range mine[2:] {
		id := mustID(t, p.Piece)
		if a, ok := h.store.Has(id); !ok || a != blockstore.Pinned {
			t.Errorf("sound piece %s: in %v (%v)", id, a, ok)
		}
		if err := h.store.Verify(ctx, id); err != nil {
			t.Errorf("sound piece %s: %v", id, err)
		}
		if _, err := h.hold.levels.Levels(chain.Hash(id)); err != nil {
			t.Errorf("levels of sound piece %s: %v", id, err)
		}
		if !credited[id] {
			t.Errorf("sound piece %s no longer credited", id)
		}
	}
	if mine[0].Segment != mine[1].Segment {
		if got, err := readAll(ctx, reader, res.Capability); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("reading the file after the loss: %v", err)
		}
	}

	st, err := h.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LastScrub == nil || st.LastScrub.Reported != 2 || st.LastScrub.Background {
		t.Fatalf("status' last scrub %+v", st.LastScrub)
	}
	rep, err = h.Scrub(ctx, api.ScrubOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pieces != n-2 || rep.OK != n-2 || rep.Reported != 0 {
		t.Fatalf("second scrub %+v; want %d sound pieces and nothing reported", rep, n-2)
	}
}
