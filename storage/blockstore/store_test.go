package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/coop-network/coop/proofs"
)

var ctx = context.Background()

func openTest(t *testing.T, dir string, cfg Config) *Store {
	t.Helper()
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func block(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7 + j/251)
	}
	copy(b, fmt.Sprint(i))
	return b
}

func TestBlocksRoundTripByContentAddress(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	data := block(1, 10000)
	id, err := s.PutBytes(ctx, Pinned, data)
	if err != nil {
		t.Fatal(err)
	}
	if id != Sum(data) || id != ID(proofs.IDOf(data)) {
		t.Fatal("id is not the proofs.ID of the bytes")
	}
	got, err := s.Get(ctx, id, 1<<20)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.Get(ctx, id, 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("get above the caller's bound: %v", err)
	}
	r, err := s.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	part := make([]byte, 10)
	if _, err := r.ReadAt(part, 5000); err != nil || !bytes.Equal(part, data[5000:5010]) {
		t.Fatalf("ReadAt: %v", err)
	}
	all, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(all, data) || r.Size() != int64(len(data)) {
		t.Fatalf("Read: %v", err)
	}
	if a, ok := s.Has(id); !ok || a != Pinned {
		t.Fatalf("Has: %v %v", a, ok)
	}
	missing := Sum([]byte("missing"))
	if _, err := s.Open(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing block: %v", err)
	}
	st := s.Stats()
	if st.PinnedBlocks != 1 || st.PinnedBytes != 10000 || st.Hits != 3 || st.Misses != 1 {
		t.Fatalf("stats %+v", st)
	}
	// The same bytes again are the same block.
	if id2, _ := s.PutBytes(ctx, Pinned, data); id2 != id || s.Stats().PinnedBlocks != 1 {
		t.Fatal("duplicate put stored twice")
	}
	if err := s.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Has(id); ok || s.Stats().PinnedBytes != 0 {
		t.Fatal("deleted block still present")
	}
}

func TestPutExpectRefusesBytesNotMatchingTheID(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	data := block(2, 5000)
	err := s.PutExpect(ctx, Cache, Sum(data), bytes.NewReader(data[:4999]))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	if st := s.Stats(); st.CacheBlocks != 0 {
		t.Fatalf("refused block stored: %+v", st)
	}
	if err := s.PutExpect(ctx, Cache, Sum(data), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	assertTmpEmpty(t, s)
}

func TestCorruptBlocksAreDetectedOnReadAndRemoved(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, DefaultConfig())
	a, _ := s.PutBytes(ctx, Pinned, block(3, 4096))
	b, _ := s.PutBytes(ctx, Cache, block(4, 4096))
	flipByte(t, s.path(Pinned, a))
	if err := os.Truncate(s.path(Cache, b), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, a, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
	if err := s.Verify(ctx, b); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated block: %v", err)
	}
	for _, id := range []ID{a, b} {
		if _, ok := s.Has(id); ok {
			t.Fatalf("corrupt block %s still listed", id)
		}
	}
	if st := s.Stats(); st.Corrupt != 2 || st.PinnedBlocks != 0 || st.CacheBlocks != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestCacheKeepsItsBudgetEvictingLeastUsedAndNeverPinned(t *testing.T) {
	const size = 1000
	s := openTest(t, t.TempDir(), Config{CacheBytes: 5 * size, MaxBlockSize: 1 << 20})
	var pinned []ID
	for i := range 10 { // pinned bytes do not count against the budget
		id, err := s.PutBytes(ctx, Pinned, block(100+i, size))
		if err != nil {
			t.Fatal(err)
		}
		pinned = append(pinned, id)
	}
	var ids []ID
	for i := range 5 {
		id, _ := s.PutBytes(ctx, Cache, block(i, size))
		ids = append(ids, id)
	}
	// Hits: block 0 three times, 1 once, 2 twice, 3 and 4 never; 4 is newer than 3.
	for i, n := range []int{3, 1, 2, 0, 0} {
		for range n {
			if err := s.Verify(ctx, ids[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	var fresh []ID
	for i := 5; i < 8; i++ {
		id, err := s.PutBytes(ctx, Cache, block(i, size))
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, id)
		if st := s.Stats(); st.CacheBytes > 5*size {
			t.Fatalf("cache at %d bytes over its budget", st.CacheBytes)
		}
	}
	// Three evictions: 3 and 4 (no hits, 3 less recently used), then 5,
	// which has no hits either: strictly least-used first.
	for i, want := range []bool{true, true, true, false, false} {
		if _, ok := s.Has(ids[i]); ok != want {
			t.Errorf("cache block %d present = %v, want %v", i, ok, want)
		}
	}
	for i, want := range []bool{false, true, true} {
		if _, ok := s.Has(fresh[i]); ok != want {
			t.Errorf("cache block %d present = %v, want %v", 5+i, ok, want)
		}
	}
	for _, id := range pinned {
		if _, ok := s.Has(id); !ok {
			t.Fatal("a pinned block was evicted")
		}
	}
	if st := s.Stats(); st.Evictions != 3 || st.CacheBlocks != 5 || st.PinnedBlocks != 10 {
		t.Fatalf("stats %+v", st)
	}
	if _, err := s.PutBytes(ctx, Cache, block(50, 6*size)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("block above the budget: %v", err)
	}
	if _, err := s.PutBytes(ctx, Pinned, block(51, 6*size)); err != nil {
		t.Fatalf("pinned block above the cache budget: %v", err)
	}
	assertTmpEmpty(t, s)
}

func TestPinAndUnpinMoveBlocksBetweenAreas(t *testing.T) {
	s := openTest(t, t.TempDir(), Config{CacheBytes: 2000, MaxBlockSize: 1 << 20})
	a, _ := s.PutBytes(ctx, Cache, block(1, 1000))
	if err := s.Pin(ctx, a); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		s.PutBytes(ctx, Cache, block(10+i, 1000))
	}
	if area, ok := s.Has(a); !ok || area != Pinned {
		t.Fatal("pinned block evicted")
	}
	if err := s.Unpin(ctx, a); err != nil {
		t.Fatal(err)
	}
	if area, _ := s.Has(a); area != Cache || s.Stats().CacheBytes > 2000 {
		t.Fatalf("after unpin: area %v, stats %+v", area, s.Stats())
	}
	// Committing a cached block as pinned promotes it.
	b := block(20, 500)
	id, _ := s.PutBytes(ctx, Cache, b)
	s.PutBytes(ctx, Pinned, b)
	if area, _ := s.Has(id); area != Pinned {
		t.Fatal("re-put as pinned did not promote")
	}
	if err := s.Pin(ctx, Sum([]byte("x"))); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
}

func TestStoreSurvivesRestartWithHitCounts(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{CacheBytes: 3000, MaxBlockSize: 1 << 20}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.PutBytes(ctx, Pinned, block(1, 1000))
	c0, _ := s.PutBytes(ctx, Cache, block(2, 1000))
	c1, _ := s.PutBytes(ctx, Cache, block(3, 1000))
	c2, _ := s.PutBytes(ctx, Cache, block(4, 1000))
	for range 3 {
		s.Verify(ctx, c0)
		s.Verify(ctx, c2)
	}
	s.Verify(ctx, c1)
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Leftover of a write interrupted before the restart.
	os.WriteFile(filepath.Join(dir, "tmp", "block-123"), []byte("partial"), 0o600)

	s = openTest(t, dir, cfg)
	after := s.Stats()
	if after.PinnedBlocks != before.PinnedBlocks || after.CacheBlocks != before.CacheBlocks || after.CacheBytes != before.CacheBytes {
		t.Fatalf("before %+v, after %+v", before, after)
	}
	assertTmpEmpty(t, s)
	// The persisted hit counts decide the next eviction: c1 (1 hit) goes.
	s.PutBytes(ctx, Cache, block(5, 1000))
	for id, want := range map[ID]bool{p: true, c0: true, c1: false, c2: true} {
		if _, ok := s.Has(id); ok != want {
			t.Errorf("%s present = %v, want %v", id, ok, want)
		}
	}
	s.Close()

	// Reopening with a smaller budget evicts down to it; a lost index only
	// loses hit counts.
	os.Remove(filepath.Join(dir, "cache.idx"))
	s2 := openTest(t, dir, Config{CacheBytes: 1000, MaxBlockSize: 1 << 20})
	if st := s2.Stats(); st.CacheBytes > 1000 || st.PinnedBlocks != 1 {
		t.Fatalf("stats after shrinking %+v", st)
	}
	if _, err := s2.Get(ctx, p, 1<<20); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentWritersOfTheSameBlockStoreItOnce(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	data := block(7, 50000)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := Pinned
			if i%2 == 0 {
				a = Cache
			}
			if _, err := s.PutBytes(ctx, a, data); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.PinnedBlocks+st.CacheBlocks != 1 {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Verify(ctx, Sum(data)); err != nil {
		t.Fatal(err)
	}
	assertTmpEmpty(t, s)
}

func TestParseIDIsStrict(t *testing.T) {
	id := Sum([]byte("x"))
	if got, err := ParseID(id.String()); err != nil || got != id {
		t.Fatal(err)
	}
	for _, s := range []string{"", "00", id.String()[:63] + "G", id.String()[:63] + "F", id.String() + "0"} {
		if _, err := ParseID(s); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) = %v", s, err)
		}
	}
}

func assertTmpEmpty(t *testing.T, s *Store) {
	t.Helper()
	ents, err := os.ReadDir(s.tmpDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("%d files left in tmp", len(ents))
	}
}

func TestScrubFindsAndRemovesCorruptBlocksWithoutCountingHits(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	var ids []ID
	for i := range 6 {
		a := Pinned
		if i%2 == 1 {
			a = Cache
		}
		id, err := s.PutBytes(ctx, a, block(i, 3000))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	flipByte(t, s.path(Pinned, ids[2]))
	flipByte(t, s.path(Cache, ids[5]))
	checked, bad, err := s.Scrub(ctx)
	if err != nil || checked != 6 || len(bad) != 2 {
		t.Fatalf("scrub: checked %d, corrupt %v, err %v", checked, bad, err)
	}
	for _, id := range []ID{ids[2], ids[5]} {
		if _, ok := s.Has(id); ok {
			t.Fatalf("corrupt block %s kept", id)
		}
	}
	if st := s.Stats(); st.Hits != 0 || st.Corrupt != 2 || st.PinnedBlocks+st.CacheBlocks != 4 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWriterLevelsComeFromTheSamePass checks that a Writer's Levels belong to
// the block it committed (the holder keeps them for the prover without
// hashing the piece again) and prove its leaves.
func TestWriterLevelsComeFromTheSamePass(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	for _, size := range []int{1, 1024, 65<<10 + 3, 300 << 10} {
		data := block(size, size)
		w, err := s.Create(ctx, Pinned)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < size; off += 7000 {
			if _, err := w.Write(data[off:min(off+7000, size)]); err != nil {
				t.Fatal(err)
			}
		}
		id, err := w.Commit()
		if err != nil {
			t.Fatal(err)
		}
		lv, err := w.Levels()
		if err != nil {
			t.Fatal(err)
		}
		if w.Root() != proofs.Root(data) || proofs.ID(w.Root(), uint64(size)) != proofs.Hash(id) {
			t.Fatalf("%d bytes: the writer's root is not the commitment its id binds", size)
		}
		if err := lv.Check(w.Root()); err != nil {
			t.Fatalf("%d bytes: levels do not lead to the block's root: %v", size, err)
		}
		leaf := proofs.LeafCount(int64(size)) - 1
		p, err := proofs.ProveWithLevels(bytes.NewReader(data), int64(size), leaf, lv)
		if err != nil {
			t.Fatal(err)
		}
		if err := proofs.Verify(w.Root(), p); err != nil {
			t.Fatalf("%d bytes: proof from the writer's levels: %v", size, err)
		}
	}
}

// TestOpenRefusesAnotherFormat checks the FORMAT file: a new store records
// FormatVersion, a store of SHA-256 ids (blocks but no FORMAT file) and one
// recording another version are refused with ErrFormat, touching nothing.
func TestOpenRefusesAnotherFormat(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.PutBytes(ctx, Pinned, block(1, 100))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b, err := os.ReadFile(filepath.Join(dir, formatName))
	if err != nil || string(b) != fmt.Sprintf("coop blockstore %d\n", FormatVersion) {
		t.Fatalf("FORMAT: %q, %v", b, err)
	}
	// Reopening the same format works and keeps the block.
	s = openTest(t, dir, DefaultConfig())
	if _, ok := s.Has(id); !ok {
		t.Fatal("block lost on reopening")
	}
	s.Close()

	// A version-1 store: blocks, no FORMAT file.
	if err := os.Remove(filepath.Join(dir, formatName)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, DefaultConfig()); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("opening a format-1 store: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, formatName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("refusing a format-1 store wrote a FORMAT file")
	}
	// Another recorded version.
	if err := os.WriteFile(filepath.Join(dir, formatName), []byte("coop blockstore 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, DefaultConfig()); !errors.Is(err, ErrFormat) {
		t.Fatalf("opening a format-3 store: %v", err)
	}
	s2, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
}

// TestPaddedBytesAreNotTheBlock: bytes with a zero appended inside the last
// leaf share the block's Merkle commitment, but not its id, so CommitAs
// refuses them.
func TestPaddedBytesAreNotTheBlock(t *testing.T) {
	s := openTest(t, t.TempDir(), DefaultConfig())
	data := block(3, 1500)
	id := Sum(data)
	padded := append(bytes.Clone(data), 0)
	if proofs.Root(padded) != proofs.Root(data) {
		t.Fatal("premise: the padded bytes should share the commitment")
	}
	if err := s.PutExpect(ctx, Pinned, id, bytes.NewReader(padded)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("padded bytes stored under the block's id: %v", err)
	}
	if _, ok := s.Has(id); ok {
		t.Fatal("padded bytes visible under the id")
	}
}
