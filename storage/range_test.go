package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

// countingSource records which segments' pieces Get fetched.
type countingSource struct {
	PieceSource
	mu   sync.Mutex
	segs map[int]int // segment → pieces fetched
}

func (c *countingSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	c.mu.Lock()
	if c.segs == nil {
		c.segs = map[int]int{}
	}
	c.segs[ref.Segment]++
	c.mu.Unlock()
	return c.PieceSource.FetchPiece(ctx, ref)
}

func TestGetRangeWritesTheSliceAndFetchesOnlyItsSegments(t *testing.T) {
	const pkg = 64 << 10
	s := NewTestStore(t, blockstore.DefaultConfig())
	for _, cfg := range []Config{smallConfig(4, 2), smallConfig(1, 1), {K: 3, M: 1, SegmentSize: testSegment, StripeUnit: 100}} {
		size := 3*testSegment + 777
		data := randomBytes(uint64(cfg.K*100+cfg.StripeUnit), size)
		res := putBytes(t, s, data, cfg)
		type rng struct{ off, n int64 }
		cases := []rng{
			{0, 1}, {0, int64(size)}, {1, pkg}, {pkg - 1, 2}, {pkg, pkg}, {testSegment - 1, 2},
			{testSegment, testSegment}, {2*testSegment + 5, 10}, {int64(size) - 1, 1},
			{int64(size) - 10, 100}, // past the end: cut
			{int64(size), 5},        // at the end: nothing
			{123, 0},
		}
		r := rand.New(rand.NewPCG(1, uint64(cfg.K)))
		for range 20 {
			off := r.Int64N(int64(size))
			cases = append(cases, rng{off, r.Int64N(int64(size) - off + 1)})
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("k%dm%d/unit%d/%d+%d", cfg.K, cfg.M, cfg.StripeUnit, c.off, c.n), func(t *testing.T) {
				src := &countingSource{PieceSource: StoreSource(s)}
				var st GetStats
				var out bytes.Buffer
				if err := Get(context.Background(), res.Capability, res.Manifest, src, &out, WithRange(c.off, c.n), WithGetStats(&st)); err != nil {
					t.Fatal(err)
				}
				end := min(c.off+c.n, int64(size))
				if !bytes.Equal(out.Bytes(), data[c.off:end]) {
					t.Fatalf("got %d bytes, want the %d bytes [%d, %d)", out.Len(), end-c.off, c.off, end)
				}
				want := map[int]int{}
				if end > c.off {
					for seg := c.off / testSegment; seg <= (end-1)/testSegment; seg++ {
						want[int(seg)] = cfg.K
					}
				}
				if fmt.Sprint(src.segs) != fmt.Sprint(want) && !(len(want) == 0 && len(src.segs) == 0) {
					t.Fatalf("fetched pieces per segment %v, want %v", src.segs, want)
				}
				if st.Segments != len(want) {
					t.Fatalf("GetStats.Segments = %d, want %d", st.Segments, len(want))
				}
			})
		}
	}
}

func TestGetRangeRebuildsMissingDataPieces(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(7, 2*testSegment+99)
	res := putBytes(t, s, data, smallConfig(4, 2))
	// Lose data pieces 0 and 2 of segment 1: the range is rebuilt from parity.
	for _, p := range res.Pieces {
		if p.Segment == 1 && (p.Index == 0 || p.Index == 2) {
			if err := s.Delete(context.Background(), p.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	off, n := int64(testSegment+70000), int64(90000)
	var out bytes.Buffer
	if err := Get(context.Background(), res.Capability, res.Manifest, StoreSource(s), &out, WithRange(off, n)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data[off:off+n]) {
		t.Fatal("range rebuilt from parity differs")
	}
}

func TestGetRangeRejectsBadRanges(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(3, 1000), smallConfig(2, 1))
	for _, c := range []struct{ off, n int64 }{{-1, 5}, {0, -1}, {1001, 1}} {
		src := &countingSource{PieceSource: StoreSource(s)}
		err := Get(context.Background(), res.Capability, res.Manifest, src, io.Discard, WithRange(c.off, c.n))
		if !errors.Is(err, ErrRange) {
			t.Fatalf("range %d+%d: err = %v, want ErrRange", c.off, c.n, err)
		}
		if len(src.segs) != 0 {
			t.Fatalf("range %d+%d: fetched %v before failing", c.off, c.n, src.segs)
		}
	}
}
