package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

type fault int

const (
	faultNone     fault = iota
	faultMissing        // the source has no such piece
	faultFlip           // one bit flipped
	faultTruncate       // last byte missing
	faultForeign        // a piece of another file
	faultStream         // correct bytes, but as a plain stream (spooled by Get)
)

func (f fault) String() string {
	return [...]string{"none", "missing", "flipped bit", "truncated", "foreign piece", "stream"}[f]
}

// faultySource wraps the real store source and damages chosen pieces.
type faultySource struct {
	inner   PieceSource
	foreign *blockstore.Store
	other   []PieceInfo
	faults  map[[2]int]fault // (segment, index)

	mu      sync.Mutex
	fetched int
}

func (f *faultySource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	f.mu.Lock()
	f.fetched++
	kind := f.faults[[2]int{ref.Segment, ref.Index}]
	f.mu.Unlock()
	switch kind {
	case faultNone:
		return f.inner.FetchPiece(ctx, ref)
	case faultMissing:
		return nil, fmt.Errorf("holder gone: %w", blockstore.ErrNotFound)
	case faultForeign:
		o := f.other[(ref.Segment*7+ref.Index)%len(f.other)]
		return f.inner.FetchPiece(ctx, o.PieceRef)
	}
	rc, err := f.inner.FetchPiece(ctx, ref)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, err
	}
	switch kind {
	case faultFlip:
		b[(ref.Segment*131+ref.Index*17)%len(b)] ^= 0x10
	case faultTruncate:
		b = b[:len(b)-1]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func getWith(t *testing.T, s *blockstore.Store, c Capability, src PieceSource) ([]byte, error) {
	t.Helper()
	m, err := LoadManifest(context.Background(), s, c)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = Get(context.Background(), c, m, src, &out, WithTempDir(t.TempDir()))
	return out.Bytes(), err
}

func TestAnyMPiecesPerSegmentLostOrCorruptedStillRoundTrips(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	other := putBytes(t, s, randomBytes(99, 3*testSegment), smallConfig(4, 2))
	for _, km := range [][2]int{{4, 2}, {1, 2}, {2, 1}, {3, 3}} {
		k, m := km[0], km[1]
		n := k + m
		data := randomBytes(uint64(n), 4*testSegment+999)
		res := putBytes(t, s, data, smallConfig(k, m))
		// Every m-subset of the n pieces, each in turn on a segment, with
		// the kinds of damage rotating.
		subsets := subsetsOf(n, m)
		kinds := []fault{faultMissing, faultFlip, faultTruncate, faultForeign}
		segs := len(res.Manifest.Segments)
		for round := 0; round*segs < len(subsets); round++ {
			faults := map[[2]int]fault{}
			var desc []string
			for seg := 0; seg < segs; seg++ {
				sub := subsets[(round*segs+seg)%len(subsets)]
				for j, idx := range sub {
					kind := kinds[(seg+j+round)%len(kinds)]
					faults[[2]int{seg, idx}] = kind
					desc = append(desc, fmt.Sprintf("s%d/p%d:%v", seg, idx, kind))
				}
			}
			src := &faultySource{inner: StoreSource(s), other: other.Pieces, faults: faults}
			got, err := getWith(t, s, res.Capability, src)
			if err != nil {
				t.Fatalf("k=%d m=%d with %s: %v", k, m, strings.Join(desc, " "), err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("k=%d m=%d with %s: wrong plaintext", k, m, strings.Join(desc, " "))
			}
		}
	}
}

// subsetsOf lists the size-r subsets of {0..n-1}.
func subsetsOf(n, r int) [][]int {
	var out [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == r {
			out = append(out, append([]int(nil), cur...))
			return
		}
		for i := start; i < n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(0, nil)
	return out
}

func TestPiecesArrivingAsStreamsAreSpooledAndChecked(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(7, 2*testSegment+3)
	res := putBytes(t, s, data, smallConfig(4, 2))
	faults := map[[2]int]fault{}
	for seg := range 3 {
		for i := range 6 {
			faults[[2]int{seg, i}] = faultStream
		}
	}
	faults[[2]int{1, 0}] = faultFlip
	got, err := getWith(t, s, res.Capability, &faultySource{inner: StoreSource(s), faults: faults})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(got, data))
	}
}

func TestFewerThanKGoodPiecesIsASegmentErrorNamingTheSegment(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(8, 3*testSegment)
	res := putBytes(t, s, data, smallConfig(4, 2))
	faults := map[[2]int]fault{{1, 0}: faultFlip, {1, 3}: faultMissing, {1, 5}: faultTruncate}
	src := &faultySource{inner: StoreSource(s), faults: faults}
	got, err := getWith(t, s, res.Capability, src)
	var se *SegmentError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want *SegmentError", err)
	}
	if se.Index != 1 || se.Have != 3 || se.Need != 4 || len(se.Errs) != 3 {
		t.Fatalf("SegmentError %+v", se)
	}
	if !errors.Is(err, ErrPieceMismatch) || !errors.Is(err, blockstore.ErrNotFound) {
		t.Fatalf("error does not carry the per-piece causes: %v", err)
	}
	if !strings.Contains(err.Error(), "segment 1: 3 of 4") {
		t.Fatalf("message %q does not name the segment", err)
	}
	if !bytes.Equal(got, data[:testSegment]) {
		t.Fatalf("output is %d bytes, want exactly segment 0 (%d bytes)", len(got), testSegment)
	}
}

func TestCorruptedPieceOnDiskIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s, err := blockstore.Open(dir, blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	data := randomBytes(10, testSegment+100)
	res := putBytes(t, s, data, smallConfig(4, 2))
	for _, p := range res.Pieces[:2] { // two data pieces of segment 0
		corruptFile(t, dir, p.ID)
	}
	got, err := getBytes(t, s, res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(got, data))
	}
}

func TestWrongKeyTruncatedManifestAndForeignManifestAreRefused(t *testing.T) {
	ctx := context.Background()
	s := NewTestStore(t, blockstore.DefaultConfig())
	res := putBytes(t, s, randomBytes(11, 5000), smallConfig(4, 2))
	other := putBytes(t, s, randomBytes(12, 5000), smallConfig(4, 2))
	enc, err := s.Get(ctx, res.FileID, 1<<20)
	if err != nil {
		t.Fatal(err)
	}

	wrong := res.Capability
	wrong.Key[0] ^= 1
	if _, err := getBytes(t, s, wrong); !errors.Is(err, ErrWrongKey) {
		t.Errorf("wrong key: %v, want ErrWrongKey", err)
	}
	if _, err := OpenManifest(res.Capability, enc[:len(enc)-1]); !errors.Is(err, ErrManifestMismatch) {
		t.Errorf("truncated manifest block: %v, want ErrManifestMismatch", err)
	}
	// Even with an id matching the truncated bytes, DARE refuses it.
	trunc := enc[:len(enc)-1]
	c := Capability{FileID: blockstore.Sum(trunc), Key: res.Capability.Key}
	if _, err := OpenManifest(c, trunc); !errors.Is(err, ErrWrongKey) {
		t.Errorf("truncated manifest with matching id: %v", err)
	}
	// Another file's manifest under this file's key.
	mixed := Capability{FileID: other.FileID, Key: res.Capability.Key}
	if _, err := getBytes(t, s, mixed); !errors.Is(err, ErrWrongKey) {
		t.Errorf("another file's manifest: %v", err)
	}
	missing := Capability{FileID: blockstore.Sum([]byte("nothing")), Key: res.Capability.Key}
	if _, err := getBytes(t, s, missing); !errors.Is(err, blockstore.ErrNotFound) {
		t.Errorf("missing manifest: %v", err)
	}
}

func TestPiecesOfAnotherFileNeverYieldPlaintext(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	a := putBytes(t, s, randomBytes(13, testSegment), smallConfig(2, 1))
	b := putBytes(t, s, randomBytes(14, testSegment), smallConfig(2, 1))
	faults := map[[2]int]fault{{0, 0}: faultForeign, {0, 1}: faultForeign, {0, 2}: faultForeign}
	got, err := getWith(t, s, a.Capability, &faultySource{inner: StoreSource(s), other: b.Pieces, faults: faults})
	var se *SegmentError
	if !errors.As(err, &se) || se.Have != 0 || !errors.Is(err, ErrPieceMismatch) {
		t.Fatalf("err = %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("%d bytes written from foreign pieces", len(got))
	}
}
