package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	randomReader(seed).Read(b)
	return b
}

func randomReader(seed uint64) io.Reader {
	return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1})
}

// testSegment is the segment size of smallConfig: multi-segment files stay cheap.
const testSegment = 200 << 10

func smallConfig(k, m int) Config {
	return Config{K: k, M: m, SegmentSize: testSegment, StripeUnit: 4 << 10}
}

func putBytes(t *testing.T, s *blockstore.Store, data []byte, cfg Config) *PutResult {
	t.Helper()
	res, err := Put(context.Background(), bytes.NewReader(data), StoreSink(s, blockstore.Pinned), cfg)
	if err != nil {
		t.Fatalf("put %d bytes: %v", len(data), err)
	}
	return res
}

func getBytes(t *testing.T, s *blockstore.Store, c Capability) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := GetFromStore(context.Background(), s, c, &out)
	return out.Bytes(), err
}

func TestRoundTripsAreBitExact(t *testing.T) {
	const pkg = 64 << 10 // DARE package payload
	sizes := []int{0, 1, pkg - 1, pkg, pkg + 1, testSegment - 1, testSegment, testSegment + 1, 5*testSegment + 12345}
	configs := []Config{smallConfig(4, 2), smallConfig(1, 2), smallConfig(3, 0), smallConfig(2, 1), smallConfig(10, 4),
		{K: 4, M: 2, SegmentSize: testSegment, StripeUnit: 100}} // a unit that divides nothing
	s := NewTestStore(t, blockstore.DefaultConfig())
	for _, cfg := range configs {
		for _, n := range sizes {
			t.Run(fmt.Sprintf("k%dm%d/unit%d/%dB", cfg.K, cfg.M, cfg.StripeUnit, n), func(t *testing.T) {
				data := randomBytes(uint64(n), n)
				res := putBytes(t, s, data, cfg)
				if got := len(res.Pieces); got != len(res.Manifest.Segments)*(cfg.K+cfg.M) {
					t.Fatalf("%d pieces listed for %d segments", got, len(res.Manifest.Segments))
				}
				got, err := getBytes(t, s, res.Capability)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatal("round trip differs")
				}
			})
		}
	}
}

func TestDefaultConfigRoundTripsSmallFiles(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	for _, n := range []int{0, 1, 3 << 20} {
		data := randomBytes(9, n)
		res := putBytes(t, s, data, DefaultConfig())
		got, err := getBytes(t, s, res.Capability)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: err %v, equal %v", n, err, bytes.Equal(got, data))
		}
	}
}

// TestRandom200MiBFileRoundTrips streams a 200 MiB file (four segments at the
// default size, the last partial) through Put and Get, comparing hashes.
func TestRandom200MiBFileRoundTrips(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MiB round trip runs without -short")
	}
	const size = 200 << 20
	s := NewTestStore(t, blockstore.Config{CacheBytes: 0, MaxBlockSize: 1 << 30})
	in := sha256.New()
	res, err := Put(context.Background(), io.TeeReader(io.LimitReader(randomReader(200), size), in), StoreSink(s, blockstore.Pinned), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest.Size != size || len(res.Manifest.Segments) != 4 {
		t.Fatalf("manifest: %d bytes in %d segments", res.Manifest.Size, len(res.Manifest.Segments))
	}
	out := sha256.New()
	if err := GetFromStore(context.Background(), s, res.Capability, out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in.Sum(nil), out.Sum(nil)) {
		t.Fatal("200 MiB round trip differs")
	}
}

func TestProgressReportsEveryByteInOrder(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(4, 3*testSegment+5)
	var seen []int64
	res, err := Put(context.Background(), bytes.NewReader(data), StoreSink(s, blockstore.Pinned), smallConfig(4, 2),
		WithProgress(func(n int64) { seen = append(seen, n) }))
	if err != nil {
		t.Fatal(err)
	}
	checkProgress(t, "put", seen, int64(len(data)))
	seen = nil
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	if err := Get(context.Background(), res.Capability, m, StoreSource(s), io.Discard, WithProgress(func(n int64) { seen = append(seen, n) })); err != nil {
		t.Fatal(err)
	}
	checkProgress(t, "get", seen, int64(len(data)))
}

func checkProgress(t *testing.T, what string, seen []int64, total int64) {
	t.Helper()
	if len(seen) == 0 || seen[len(seen)-1] != total {
		t.Fatalf("%s progress ends at %v, want %d", what, seen[max(0, len(seen)-1):], total)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("%s progress not increasing: %d then %d", what, seen[i-1], seen[i])
		}
	}
}

func TestPutResultMatchesTheStoredManifest(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(5, 2*testSegment+7), smallConfig(4, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := manifest.Encode(m)
	b, _ := manifest.Encode(res.Manifest)
	if !bytes.Equal(a, b) {
		t.Fatal("stored manifest differs from the returned one")
	}
	listed := Pieces(res.FileID, m)
	if len(listed) != len(res.Pieces) {
		t.Fatalf("%d pieces listed, %d returned", len(listed), len(res.Pieces))
	}
	for i := range listed {
		if listed[i] != res.Pieces[i] {
			t.Fatalf("piece %d: %+v vs %+v", i, listed[i], res.Pieces[i])
		}
		if err := s.Verify(context.Background(), res.Pieces[i].ID); err != nil {
			t.Fatalf("piece %d not stored intact: %v", i, err)
		}
	}
	if _, err := ParseCapability(res.Capability.String()); err != nil {
		t.Fatal(err)
	}
}

func TestPutStopsOnCancellationAndSinkFailure(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Put(ctx, bytes.NewReader(randomBytes(1, 100000)), StoreSink(s, blockstore.Pinned), smallConfig(4, 2)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled put: %v", err)
	}
	// A sink that fails after a few writes.
	small := NewTestStore(t, blockstore.Config{CacheBytes: 1 << 20, MaxBlockSize: 10 << 10})
	_, err := Put(context.Background(), bytes.NewReader(randomBytes(1, 3*testSegment)), StoreSink(small, blockstore.Pinned), smallConfig(4, 2))
	if !errors.Is(err, blockstore.ErrTooLarge) {
		t.Fatalf("put into a sink refusing large blocks: %v", err)
	}
	if n := small.Stats().PinnedBlocks; n != 0 {
		t.Fatalf("a failed first segment left %d blocks", n)
	}
	if _, err := Put(context.Background(), bytes.NewReader(nil), StoreSink(s, blockstore.Pinned), Config{K: 0, M: 1, SegmentSize: testSegment, StripeUnit: 4096}); err == nil {
		t.Fatal("k=0 accepted")
	}
}

// failingSink wraps a real store sink and fails the n-th block's Create,
// Write or Commit.
type failingSink struct {
	inner BlockSink
	n     int
	where string // "create", "write" or "commit"

	mu      sync.Mutex
	created int
}

var errInjected = errors.New("injected sink failure")

func (f *failingSink) CreateBlock(ctx context.Context) (BlockWriter, error) {
	f.mu.Lock()
	f.created++
	hit := f.created == f.n
	f.mu.Unlock()
	if hit && f.where == "create" {
		return nil, errInjected
	}
	w, err := f.inner.CreateBlock(ctx)
	if err != nil || !hit {
		return w, err
	}
	return &failingWriter{BlockWriter: w, where: f.where}, nil
}

type failingWriter struct {
	BlockWriter
	where string
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.where == "write" {
		return 0, errInjected
	}
	return w.BlockWriter.Write(p)
}

func (w *failingWriter) Commit() (blockstore.ID, error) {
	if w.where == "commit" {
		w.BlockWriter.Abort()
		return blockstore.ID{}, errInjected
	}
	return w.BlockWriter.Commit()
}

func TestSinkFailuresAnywhereFailThePutAndStopItsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	data := randomBytes(21, 4*testSegment+10)
	for _, where := range []string{"create", "write", "commit"} {
		for _, n := range []int{1, 8, 17, 31} { // first segment, later segments, the manifest (31st block)
			s := NewTestStore(t, blockstore.DefaultConfig())
			sink := &failingSink{inner: StoreSink(s, blockstore.Pinned), n: n, where: where}
			_, err := Put(context.Background(), bytes.NewReader(data), sink, smallConfig(4, 2))
			if !errors.Is(err, errInjected) {
				t.Fatalf("%s failure at block %d: err = %v", where, n, err)
			}
		}
	}
	// Every goroutine Put started has ended.
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 1000 {
			t.Fatalf("%d goroutines before, %d after failed puts", before, runtime.NumGoroutine())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestConfigsNeedingTooMuchMemoryAreRefused(t *testing.T) {
	for name, cfg := range map[string]Config{
		"64 pieces of 256 KiB stripes": {K: 40, M: 24, SegmentSize: 64 << 20, StripeUnit: 256 << 10},
		"a 2 MiB stripe unit":          {K: 1, M: 0, SegmentSize: 64 << 20, StripeUnit: 2 << 20},
		"65 pieces":                    {K: 60, M: 5, SegmentSize: 64 << 20, StripeUnit: 1 << 10},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (Config{K: 40, M: 24, SegmentSize: 64 << 20, StripeUnit: 64 << 10}).Validate(); err != nil {
		t.Errorf("64 pieces of 64 KiB: %v", err)
	}
}

// TestPieceIDsBindTheirCommitments checks hash-once: every piece's root is
// the Merkle commitment of the bytes stored under it (the root the ledger
// records and holders prove against) and its id that commitment bound to
// the size, the manifest says the same, and the file id is the id of the
// encrypted manifest block.
func TestPieceIDsBindTheirCommitments(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	for _, cfg := range []Config{smallConfig(4, 2), smallConfig(1, 2)} {
		res := putBytes(t, s, randomBytes(77, 2*testSegment+999), cfg)
		for _, p := range res.Pieces {
			b, err := s.Get(context.Background(), p.ID, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			want := proofs.Root(b)
			if p.ID != blockstore.ID(proofs.ID(want, uint64(len(b)))) || p.Root != want || p.Leaves != proofs.LeafCount(int64(len(b))) || p.Size != int64(len(b)) {
				t.Fatalf("piece %d/%d: id %s root %s leaves %d, the stored bytes commit to %s (%d leaves)", p.Segment, p.Index, p.ID, p.Root, p.Leaves, want, proofs.LeafCount(int64(len(b))))
			}
			mp := res.Manifest.Segments[p.Segment].Pieces[p.Index]
			if mp.ID != [32]byte(p.ID) || mp.Root != [32]byte(want) {
				t.Fatalf("manifest piece %d/%d does not name the id and commitment", p.Segment, p.Index)
			}
		}
		mb, err := s.Get(context.Background(), res.FileID, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		if res.FileID != blockstore.ID(proofs.IDOf(mb)) {
			t.Fatal("the file id is not the id of the manifest block")
		}
		// A zero byte appended keeps the block's Merkle commitment, not its id.
		if _, err := OpenManifest(res.Capability, append(bytes.Clone(mb), 0)); !errors.Is(err, ErrManifestMismatch) {
			t.Fatalf("a zero-padded manifest block: %v, want ErrManifestMismatch", err)
		}
	}
}
