package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// TestPlannedLayoutMatchesThePut checks the two things the early pushes
// rely on: plannedPieces predicts the pieces storage.Put writes, and the
// put creates them segment by segment in index order (one block per
// segment for copies). If storage changes either, puts stay correct but
// lose the overlap of coding and pushing.
func TestPlannedLayoutMatchesThePut(t *testing.T) {
	store, err := blockstore.Open(filepath.Join(t.TempDir(), "blocks"), blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	for _, km := range [][2]int{{2, 2}, {3, 1}, {1, 2}} {
		for _, size := range []int64{1, 64 << 10, 1<<20 + 1, 3<<20 + 512<<10} {
			t.Run(fmt.Sprintf("k%dm%d/%d", km[0], km[1], size), func(t *testing.T) {
				cfg := storage.DefaultConfig()
				cfg.K, cfg.M, cfg.SegmentSize, cfg.StripeUnit = km[0], km[1], 1<<20, 64<<10
				data := make([]byte, size)
				_, _ = rand.Read(data)
				var mu sync.Mutex
				byOrdinal := map[int]blockstore.ID{}
				sink := &trackingSink{s: storage.StoreSink(store, blockstore.Cache), onCommit: func(o int, id blockstore.ID, _ int64) {
					mu.Lock()
					byOrdinal[o] = id
					mu.Unlock()
				}, keepLevels: func(o int) bool { return o%2 == 0 }}
				res, err := storage.Put(context.Background(), bytes.NewReader(data), sink, cfg)
				if err != nil {
					t.Fatal(err)
				}
				planned := plannedPieces(size, cfg)
				e := &earlyPusher{planned: planned}
				if !e.matches(res.Pieces) {
					t.Fatalf("planned %d pieces, the put wrote %d (or sizes differ)", len(planned), len(res.Pieces))
				}
				width := cfg.K + cfg.M
				for i, p := range res.Pieces {
					ord := i
					if cfg.K == 1 {
						ord = i / width
					}
					if byOrdinal[ord] != p.ID {
						t.Fatalf("piece %d/%d was not block number %d", p.Segment, p.Index, ord)
					}
					if proofs.ID(p.Root, uint64(p.Size)) != proofs.Hash(p.ID) {
						t.Fatalf("piece %d/%d: id %s does not bind root %s", p.Segment, p.Index, p.ID, p.Root)
					}
					// The Levels kept from the pass that wrote the piece
					// (for the blocks keepLevels names: a self-held piece)
					// are the piece's, taken once; no others are kept.
					lv := sink.takeLevels(p.ID)
					switch {
					case ord%2 == 0 && (lv == nil || lv.Check(p.Root) != nil) && (cfg.K > 1 || i%width == 0):
						t.Fatalf("piece %d/%d: no Levels leading to its commitment kept from the write", p.Segment, p.Index)
					case ord%2 == 1 && lv != nil:
						t.Fatalf("piece %d/%d: Levels kept for a block not planned here", p.Segment, p.Index)
					}
				}
			})
		}
	}
}
