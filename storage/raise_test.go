package storage

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/klauspost/reedsolomon"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// TestParityPrefix checks the property raising rests on: with the
// library's default matrix, parity shard i of k data shards is the same
// for every m > i.
func TestParityPrefix(t *testing.T) {
	for k := 2; k <= 16; k++ {
		data := make([][]byte, k)
		for i := range data {
			data[i] = randomBytes(uint64(100*k+i), 257)
		}
		var widest [][]byte
		for m := 12; m >= 1; m-- {
			enc, err := reedsolomon.New(k, m)
			if err != nil {
				t.Fatal(err)
			}
			shards := append(append([][]byte(nil), data...), make([][]byte, m)...)
			for i := k; i < k+m; i++ {
				shards[i] = make([]byte, 257)
			}
			if err := enc.Encode(shards); err != nil {
				t.Fatal(err)
			}
			if widest == nil {
				widest = shards[k:]
				continue
			}
			for i := range m {
				if !bytes.Equal(shards[k+i], widest[i]) {
					t.Fatalf("k=%d: parity shard %d differs between m=%d and m=12", k, i, m)
				}
			}
		}
	}
}

// TestAddParityMatchesAWiderCode puts a file at k=3 m=1, raises it to m=3
// with AddParity, and checks the added pieces are exactly parity shards 1
// and 2 of the segment's data pieces coded at k=3 m=3 (and the stored
// parity piece is shard 0 of that code): ids, commitments, sizes. The
// widened manifest then reads the file back with the first three pieces of
// every segment gone. The same for copies (k=1).
func TestAddParityMatchesAWiderCode(t *testing.T) {
	ctx := context.Background()
	for _, k := range []int{3, 1} {
		s := NewTestStore(t, blockstore.DefaultConfig())
		data := randomBytes(uint64(40+k), 2*testSegment+1234)
		narrow := putBytes(t, s, data, smallConfig(k, 1))
		extra := make([][]manifest.Piece, len(narrow.Manifest.Segments))
		for si := range narrow.Manifest.Segments {
			l := Layout(narrow.FileID, narrow.Manifest, si)
			got, err := AddParity(ctx, l, StoreSource(s), StoreSink(s, blockstore.Pinned), 3)
			if err != nil {
				t.Fatalf("k=%d segment %d: %v", k, si, err)
			}
			want := widerCode(t, s, l, 3) // k+3 shards
			if len(got) != 2 {
				t.Fatalf("k=%d segment %d: %d pieces added, want 2", k, si, len(got))
			}
			if id := blockstore.Sum(want[k]); id != l.Pieces[k].ID {
				t.Fatalf("k=%d segment %d: stored parity piece 0 is not shard 0 of the m=3 code", k, si)
			}
			for j, p := range got {
				w := want[k+1+j]
				if p.ID != blockstore.Sum(w) || p.Root != proofs.Root(w) || p.Size != int64(len(w)) || p.Leaves != proofs.LeafCount(int64(len(w))) || p.Index != k+1+j || p.Segment != si {
					t.Fatalf("k=%d segment %d: added piece %d is not shard %d of the m=3 code", k, si, p.Index, 1+j)
				}
				extra[si] = append(extra[si], manifest.Piece{ID: p.ID, Size: uint64(p.Size), Root: p.Root, Leaves: p.Leaves})
			}
		}
		wm, err := Widen(narrow.Manifest, 3, extra)
		if err != nil {
			t.Fatal(err)
		}
		gone := map[blockstore.ID]bool{}
		for si := range wm.Segments {
			for i := range min(3, k+1) { // all but k of the k+3
				gone[wm.Segments[si].Pieces[i].ID] = true
			}
		}
		if k == 1 {
			// Copies share one id: the store cannot lose one copy and keep
			// another, so read through a source that withholds the first two.
			var out bytes.Buffer
			if err := Get(ctx, narrow.Capability, wm, skipSource{StoreSource(s), 2}, &out); err != nil {
				t.Fatalf("k=1: get through the widened manifest: %v", err)
			}
			if !bytes.Equal(out.Bytes(), data) {
				t.Fatal("k=1: read back different bytes")
			}
			continue
		}
		for id := range gone {
			if err := s.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		var out bytes.Buffer
		if err := Get(ctx, narrow.Capability, wm, StoreSource(s), &out); err != nil {
			t.Fatalf("get through the widened manifest with 3 of 6 pieces per segment gone: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatal("read back different bytes")
		}
		// The narrow manifest alone cannot: it knows one piece per segment.
		if err := Get(ctx, narrow.Capability, narrow.Manifest, StoreSource(s), &bytes.Buffer{}); err == nil {
			t.Fatal("the narrow manifest read the file with 3 of its 4 pieces per segment gone")
		}
	}
}

// widerCode reads segment l's data pieces from s and codes them at m2
// parity pieces (K = 1: copies).
func widerCode(t *testing.T, s *blockstore.Store, l SegmentLayout, m2 int) [][]byte {
	t.Helper()
	shards := make([][]byte, l.K+m2)
	for i := range l.K {
		b, err := s.Get(context.Background(), l.Pieces[i].ID, l.Pieces[i].Size)
		if err != nil {
			t.Fatal(err)
		}
		shards[i] = b
	}
	if l.K == 1 {
		for i := 1; i < len(shards); i++ {
			shards[i] = shards[0]
		}
		return shards
	}
	for i := l.K; i < len(shards); i++ {
		shards[i] = make([]byte, l.Pieces[0].Size)
	}
	enc, err := reedsolomon.New(l.K, m2)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.Encode(shards); err != nil {
		t.Fatal(err)
	}
	return shards
}

// skipSource fails the pieces below index skip.
type skipSource struct {
	PieceSource
	skip int
}

func (s skipSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	if ref.Index < s.skip {
		return nil, blockstore.ErrNotFound
	}
	return s.PieceSource.FetchPiece(ctx, ref)
}

func TestAddParityRefusals(t *testing.T) {
	ctx := context.Background()
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(9, 1000), smallConfig(2, 1))
	l := Layout(res.FileID, res.Manifest, 0)
	for _, m2 := range []int{0, 1, manifest.MaxShards} {
		if _, err := AddParity(ctx, l, StoreSource(s), StoreSink(s, blockstore.Pinned), m2); err == nil {
			t.Errorf("AddParity to m=%d from m=1 succeeded", m2)
		}
	}
	for _, p := range l.Pieces[:2] {
		if err := s.Delete(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := AddParity(ctx, l, StoreSource(s), StoreSink(s, blockstore.Pinned), 2); err == nil {
		t.Error("AddParity with one of three pieces left succeeded")
	}
}
