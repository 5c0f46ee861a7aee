package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
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
				planned := plannedPieces(size, cfg)
				blocks := len(planned)
				if cfg.K == 1 {
					blocks /= cfg.K + cfg.M
				}
				// Every fourth piece is spooled (planned for another node),
				// never the manifest (the last block).
				spoolDir := t.TempDir()
				sink.spoolDir = spoolDir
				sink.spool = func(o int) bool { return o%4 == 3 && o < blocks }
				res, err := storage.Put(context.Background(), bytes.NewReader(data), sink, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if left, _ := os.ReadDir(spoolDir); len(left) != 0 {
					t.Fatalf("%d spool files visible in the spool directory, want none (unlinked at once)", len(left))
				}
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
					// A spooled piece is not in the store; its spool file
					// has its bytes. The others are in the store.
					_, inStore := store.Has(p.ID)
					if f := sink.spooled(p.ID); ord%4 == 3 {
						if f == nil || inStore {
							t.Fatalf("piece %d/%d: spooled %v, in the store %v; want spooled only", p.Segment, p.Index, f != nil, inStore)
						}
						b := proofs.NewBuilder()
						if _, err := io.Copy(b, io.NewSectionReader(f, 0, p.Size)); err != nil || b.ID() != proofs.Hash(p.ID) {
							t.Fatalf("piece %d/%d: the spool file does not hold the piece (%v)", p.Segment, p.Index, err)
						}
					} else if f != nil || !inStore {
						t.Fatalf("piece %d/%d: spooled %v, in the store %v; want stored only", p.Segment, p.Index, f != nil, inStore)
					}
					if slices.Contains(sink.committed(), p.ID) == (ord%4 == 3) {
						t.Fatalf("piece %d/%d: listed among the stored blocks to release: %v", p.Segment, p.Index, ord%4 != 3)
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
				sink.closeSpool()
				for _, p := range res.Pieces {
					if sink.spooled(p.ID) != nil {
						t.Fatalf("piece %d/%d still spooled after closeSpool", p.Segment, p.Index)
					}
				}
			})
		}
	}
}

// spoolFiles counts this process's open files that are put spool files
// (unlinked: they exist only while open).
func spoolFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && strings.Contains(target, "coop-put-") {
			n++
		}
	}
	return n
}

// storedPending counts the pieces a holder received and made durable that
// no placement credits yet.
func storedPending(n *Node) int {
	n.hold.mu.Lock()
	defer n.hold.mu.Unlock()
	c := 0
	for _, pp := range n.hold.pieces {
		if pp.stored {
			c++
		}
	}
	return c
}

// TestFailedPutLeavesNoSpoolAndNoCredit: the pieces a put does not keep go
// to unlinked spool files, never into the uploader's store; a put whose
// reader fails midway, after pieces were spooled and pushed, closes them
// (nothing left on disk or open), records nothing on the ledger, and the
// holders drop what they were pushed once it stays unplaced. A put that
// succeeds leaves no spool either, and the uploader's store has only the
// manifest.
func TestFailedPutLeavesNoSpoolAndNoCredit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts open files in /proc/self/fd")
	}
	nodes, l := startMemNetworkWith(t, 4, nil)
	a := nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 6<<20+777)
	_, _ = rand.Read(data)
	broken := errors.New("the source went away")
	r := io.MultiReader(bytes.NewReader(data[:4<<20]), &failingReader{err: broken, first: func() {
		waitFor(t, "pieces spooled and pushed before the reader fails", func() error {
			pushed := 0
			for _, n := range nodes[1:] {
				pushed += storedPending(n)
			}
			if s := spoolFiles(t); s == 0 || pushed == 0 {
				return fmt.Errorf("%d spool files open, %d pieces pushed", s, pushed)
			}
			return nil
		})
	}})
	if _, err := a.Put(ctx, r, int64(len(data)), api.PutOptions{}); !errors.Is(err, broken) {
		t.Fatalf("put with a failing reader: %v", err)
	}
	if s := spoolFiles(t); s != 0 {
		t.Fatalf("%d spool files still open after the failed put", s)
	}
	for i, n := range nodes {
		if left, _ := filepath.Glob(filepath.Join(n.cfg.Home, "coop-put-*")); len(left) != 0 {
			t.Fatalf("node %d: spool files left: %v", i, left)
		}
	}
	if fs, err := l.client(a.key).Files(ctx, a.addr); err != nil || len(fs) != 0 {
		t.Fatalf("the failed put recorded files %v (%v)", fs, err)
	}
	for i, n := range nodes[1:] {
		if held, err := n.lc.Pieces(ctx, n.addr); err != nil || len(held) != 0 {
			t.Fatalf("holder %d is credited %d pieces after the failed put (%v)", i+1, len(held), err)
		}
	}
	if got := a.store.List(blockstore.Pinned); len(got) != 0 {
		t.Fatalf("the uploader keeps %d pinned blocks of the failed put", len(got))
	}
	waitFor(t, "holders dropping the unplaced pushes", func() error {
		for i, n := range nodes[1:] {
			if c := len(n.store.List(blockstore.Pinned)) + storedPending(n); c != 0 {
				return fmt.Errorf("holder %d still keeps %d blocks or pending pieces", i+1, c)
			}
		}
		return nil
	})

	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s := spoolFiles(t); s != 0 {
		t.Fatalf("%d spool files still open after the put", s)
	}
	for _, p := range res.Pieces {
		if p.Holder == a.addr.String() {
			t.Fatalf("the uploader holds piece %d/%d on a network of 4 at k=2 m=1", p.Segment, p.Index)
		}
		if _, ok := a.store.Has(mustID(t, p.Piece)); ok {
			t.Fatalf("piece %d/%d, held by another node, is in the uploader's store", p.Segment, p.Index)
		}
	}
	if got, err := readAll(ctx, nodes[3], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}

// receipted reports whether n signed a receipt for any piece pending on
// it.
func receipted(n *Node) bool {
	n.hold.mu.Lock()
	defer n.hold.mu.Unlock()
	for _, pp := range n.hold.pieces {
		if pp.receipted > 0 {
			return true
		}
	}
	return false
}

// TestReceiptsAreAskedWhileOtherPushesRun: a put asks each holder for its
// receipt as soon as that holder's own pieces are pushed, not after every
// push of the file: one holder's first push does not end until another
// holder has signed its receipt, and the put completes.
func TestReceiptsAreAskedWhileOtherPushesRun(t *testing.T) {
	nodes, _ := startMemNetworkWith(t, 4, nil)
	a, slow, other := nodes[0], nodes[1], nodes[2]
	var once sync.Once
	slow.hold.beforeConfirm = func(blockstore.ID) {
		once.Do(func() {
			waitFor(t, "another holder's receipt while this push waits", func() error {
				if !receipted(other) {
					return errors.New("no receipt signed yet")
				}
				return nil
			})
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3<<20+100) // four segments of 1 MiB at the test config
	_, _ = rand.Read(data)
	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	holds := map[string]bool{}
	for _, p := range res.Pieces {
		holds[p.Holder] = true
	}
	if !holds[slow.addr.String()] || !holds[other.addr.String()] {
		t.Fatalf("the holders were not the ones the test slows and waits for: %v", holds)
	}
	if got, err := readAll(ctx, nodes[3], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}
