package storage

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

func TestRebuildRegeneratesLostPiecesWithoutTheKey(t *testing.T) {
	ctx := context.Background()
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(31, 3*testSegment-17)
	res := putBytes(t, s, data, smallConfig(4, 2))
	m := res.Manifest
	for si := range m.Segments {
		l := Layout(res.FileID, m, si)
		want := []int{si % 4, 4 + si%2} // one data and one parity piece
		for _, idx := range want {
			if err := s.Delete(ctx, l.Pieces[idx].ID); err != nil {
				t.Fatal(err)
			}
		}
		got, err := Rebuild(ctx, l, StoreSource(s), StoreSink(s, blockstore.Pinned), want)
		if err != nil {
			t.Fatalf("segment %d: %v", si, err)
		}
		for j, p := range got {
			orig := res.Pieces[si*6+want[j]]
			if p != orig {
				t.Fatalf("segment %d: rebuilt %+v, want %+v", si, p, orig)
			}
			if err := s.Verify(ctx, p.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The rebuilt pieces serve a read with two other pieces per segment gone.
	faults := map[[2]int]fault{}
	for si := range m.Segments {
		faults[[2]int{si, (si + 1) % 4}] = faultMissing
		faults[[2]int{si, 4 + (si+1)%2}] = faultMissing
	}
	out, err := getWith(t, s, res.Capability, &faultySource{inner: StoreSource(s), faults: faults})
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("get after rebuild: %v", err)
	}
}

func TestRebuildCopiesReplicas(t *testing.T) {
	ctx := context.Background()
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(32, 5000), smallConfig(1, 2))
	other := NewTestStore(t, blockstore.DefaultConfig())
	l := Layout(res.FileID, res.Manifest, 0)
	src := &faultySource{inner: StoreSource(s), faults: map[[2]int]fault{{0, 0}: faultFlip}}
	got, err := Rebuild(ctx, l, src, StoreSink(other, blockstore.Pinned), []int{2})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != res.Pieces[2] {
		t.Fatalf("rebuilt %+v, want %+v", got[0], res.Pieces[2])
	}
}

func TestRebuildRefusesWrongLayoutsAndTooFewPieces(t *testing.T) {
	ctx := context.Background()
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(33, testSegment), smallConfig(4, 2))
	l := Layout(res.FileID, res.Manifest, 0)
	other := NewTestStore(t, blockstore.DefaultConfig())
	sink := StoreSink(other, blockstore.Pinned)

	wrong := l
	wrong.K, wrong.M = 3, 3
	if _, err := Rebuild(ctx, wrong, StoreSource(s), sink, []int{1}); !errors.Is(err, ErrPieceMismatch) {
		t.Fatalf("wrong k and m: %v", err)
	}
	if st := other.Stats(); st.PinnedBlocks != 0 {
		t.Fatal("a mismatching rebuilt piece was committed")
	}
	src := &faultySource{inner: StoreSource(s), faults: map[[2]int]fault{{0, 0}: faultMissing, {0, 1}: faultFlip}}
	_, err := Rebuild(ctx, l, src, sink, []int{2, 3})
	var se *SegmentError
	if !errors.As(err, &se) || se.Have != 2 || se.Need != 4 {
		t.Fatalf("too few pieces: %v", err)
	}
	for name, want := range map[string][]int{"no pieces": nil, "a duplicate": {1, 1}, "an index past the end": {6}, "too many": {0, 1, 2, 3, 4, 5}} {
		if _, err := Rebuild(ctx, l, StoreSource(s), sink, want); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
