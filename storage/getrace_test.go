package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/storage/blockstore"
)

// spoolSource delivers every piece through a Spool, as the node does for
// pieces fetched from the network; pieces in flip get one bit flipped.
type spoolSource struct {
	inner PieceSource
	dir   string
	flip  map[[2]int]bool

	mu  sync.Mutex
	bad []error
}

func (s *spoolSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	rc, err := s.inner.FetchPiece(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	if s.flip[[2]int{ref.Segment, ref.Index}] {
		b[len(b)/2] ^= 1
	}
	sp, err := NewSpool(s.dir, ref.Size)
	if err != nil {
		return nil, err
	}
	if _, err := sp.Write(b); err != nil {
		sp.Close()
		return nil, err
	}
	return sp, nil
}

func (s *spoolSource) BadPiece(_ context.Context, _ PieceRef, err error) {
	s.mu.Lock()
	s.bad = append(s.bad, err)
	s.mu.Unlock()
}

func TestSpooledPiecesAreCheckedAgainstTheirIDs(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(21, 3*testSegment+5)
	res := putBytes(t, s, data, smallConfig(4, 2))
	src := &spoolSource{inner: StoreSource(s), dir: t.TempDir(), flip: map[[2]int]bool{{0, 1}: true, {2, 0}: true, {2, 3}: true}}
	got, err := getWith(t, s, res.Capability, src)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("err %v, equal %v", err, bytes.Equal(got, data))
	}
	if len(src.bad) != 3 {
		t.Fatalf("%d bad pieces reported, want the 3 flipped: %v", len(src.bad), src.bad)
	}
	for _, err := range src.bad {
		if !errors.Is(err, ErrPieceMismatch) {
			t.Fatalf("a flipped spooled piece reported as %v, want ErrPieceMismatch", err)
		}
	}
}

func TestSpoolRefusesWritesPastItsLimitAndOnceSealed(t *testing.T) {
	sp, err := NewSpool(t.TempDir(), 8)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := sp.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.Write([]byte("6789")); !errors.Is(err, ErrPieceMismatch) {
		t.Fatalf("write past the limit: %v, want ErrPieceMismatch", err)
	}
	if err := sp.VerifyPiece(blockstore.Sum([]byte("12345"))); err != nil {
		t.Fatalf("VerifyPiece of the written bytes: %v", err)
	}
	if err := sp.VerifyPiece(blockstore.Sum([]byte("1234"))); !errors.Is(err, ErrPieceMismatch) {
		t.Fatalf("VerifyPiece of other bytes: %v", err)
	}
	sp.seal()
	if _, err := sp.Write([]byte("6")); !errors.Is(err, errSpoolSealed) {
		t.Fatalf("write after sealing: %v", err)
	}
	got, err := io.ReadAll(sp)
	if err != nil || string(got) != "12345" {
		t.Fatalf("read back %q, %v", got, err)
	}
}

// stallSource serves pieces from a store, except that the pieces in stall
// block until their fetch is cancelled. It counts fetches begun and ended
// and the most pieces held open at once.
type stallSource struct {
	inner PieceSource
	stall func(ref PieceRef) bool
	// asked, if set, is called as each fetch begins.
	asked func(ref PieceRef)

	mu               sync.Mutex
	begun, ended     int
	cancelled        int
	held, mostHeld   int
	requestedSegment map[int]bool
}

func (s *stallSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	s.mu.Lock()
	s.begun++
	s.mu.Unlock()
	if s.asked != nil {
		s.asked(ref)
	}
	defer func() {
		s.mu.Lock()
		s.ended++
		s.mu.Unlock()
	}()
	if s.stall(ref) {
		<-ctx.Done()
		s.mu.Lock()
		s.cancelled++
		s.mu.Unlock()
		return nil, ctx.Err()
	}
	rc, err := s.inner.FetchPiece(ctx, ref)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.held++
	s.mostHeld = max(s.mostHeld, s.held)
	s.mu.Unlock()
	return &heldPiece{ReadCloser: rc, s: s}, nil
}

// heldPiece is a piece a stallSource handed out, counted until closed.
type heldPiece struct {
	io.ReadCloser
	s    *stallSource
	once sync.Once
}

func (h *heldPiece) Close() error {
	h.once.Do(func() {
		h.s.mu.Lock()
		h.s.held--
		h.s.mu.Unlock()
	})
	return h.ReadCloser.Close()
}

func TestFirstKPiecesToArriveWinAndTheRestAreCancelled(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(22, 4*testSegment+77)
	res := putBytes(t, s, data, smallConfig(4, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	// Data piece 1 and parity piece 5 of every segment never arrive: with
	// two spares every segment still has its first four.
	src := &stallSource{inner: StoreSource(s), stall: func(r PieceRef) bool { return r.Index == 1 || r.Index == 5 }}
	var out bytes.Buffer
	var st GetStats
	if err := Get(context.Background(), res.Capability, m, src, &out, WithSpares(2), WithGetStats(&st)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("wrong plaintext")
	}
	segs := len(m.Segments)
	if src.begun != 6*segs || src.ended != src.begun || src.cancelled != 2*segs {
		t.Fatalf("%d fetches begun, %d ended, %d cancelled; want %d begun, all ended, %d cancelled", src.begun, src.ended, src.cancelled, 6*segs, 2*segs)
	}
	if src.held != 0 {
		t.Fatalf("%d pieces left open", src.held)
	}
	if st.Segments != segs || st.Pieces != 4*segs || st.Fetched != 6*segs || st.Lost != 2*segs {
		t.Fatalf("stats %+v", &st)
	}
}

func TestHedgeStartsAnotherPieceForAStalledSegment(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(23, 2*testSegment+1)
	res := putBytes(t, s, data, smallConfig(2, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	src := &stallSource{inner: StoreSource(s), stall: func(r PieceRef) bool { return r.Index == 0 }}
	var out bytes.Buffer
	if err := Get(context.Background(), res.Capability, m, src, &out, WithHedge(time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("wrong plaintext")
	}
	if src.ended != src.begun || src.cancelled != len(m.Segments) || src.held != 0 {
		t.Fatalf("%d begun, %d ended, %d cancelled, %d held", src.begun, src.ended, src.cancelled, src.held)
	}
}

// TestGetFetchesAheadWithinItsWindow blocks the first write of plaintext
// until a piece of the next segment has been asked for: Get must request
// segment 1 before segment 0 is written out, and never hold more pieces
// than its window allows.
func TestGetFetchesAheadWithinItsWindow(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(24, 6*testSegment)
	res := putBytes(t, s, data, smallConfig(4, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	for _, window := range []int{1, 3} {
		ahead := make(chan struct{})
		var once sync.Once
		src := &stallSource{inner: StoreSource(s), stall: func(PieceRef) bool { return false },
			asked: func(r PieceRef) {
				if r.Segment == 1 {
					once.Do(func() { close(ahead) })
				}
			}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		w := &gateWriter{gate: ahead, ctx: ctx}
		err := Get(ctx, res.Capability, m, src, w, WithWindow(window))
		cancel()
		if err != nil {
			t.Fatalf("window %d: %v (segment 1 never requested before segment 0 was written?)", window, err)
		}
		if !bytes.Equal(w.buf.Bytes(), data) {
			t.Fatalf("window %d: wrong plaintext", window)
		}
		if most := (window + 1) * 4; src.mostHeld > most {
			t.Fatalf("window %d: %d pieces held at once, want at most %d", window, src.mostHeld, most)
		}
	}
}

// gateWriter holds its first write until gate closes.
type gateWriter struct {
	gate <-chan struct{}
	ctx  context.Context
	buf  bytes.Buffer
}

func (g *gateWriter) Write(p []byte) (int, error) {
	select {
	case <-g.gate:
	case <-g.ctx.Done():
		return 0, g.ctx.Err()
	}
	return g.buf.Write(p)
}

// localSource is a stallSource that says it holds the pieces local
// reports: a LocalPieceSource, as the node's netSource is.
type localSource struct {
	*stallSource
	local func(ref PieceRef) bool
}

func (l localSource) HasPiece(ref PieceRef) bool { return l.local(ref) }

// TestGetAsksForHeldPiecesFirst: a source holding a parity piece of every
// segment (the getting node is one of the file's holders) is asked for it
// with the first K, in place of the last data piece, so only K-1 pieces
// per segment are fetched, and Reed–Solomon rebuilds the data piece it
// replaced.
func TestGetAsksForHeldPiecesFirst(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(25, 3*testSegment+9)
	res := putBytes(t, s, data, smallConfig(4, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	asked := map[int][]int{} // segment → indices in the order asked
	src := localSource{
		stallSource: &stallSource{inner: StoreSource(s), stall: func(PieceRef) bool { return false },
			asked: func(r PieceRef) {
				mu.Lock()
				asked[r.Segment] = append(asked[r.Segment], r.Index)
				mu.Unlock()
			}},
		local: func(r PieceRef) bool { return r.Index == 4+r.Segment%2 },
	}
	var out bytes.Buffer
	var st GetStats
	if err := Get(context.Background(), res.Capability, m, src, &out, WithGetStats(&st)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("wrong plaintext")
	}
	for si := range m.Segments {
		got := asked[si]
		slices.Sort(got) // the first K start at once, reaching the source in any order
		if want := []int{0, 1, 2, 4 + si%2}; !slices.Equal(got, want) {
			t.Fatalf("segment %d: pieces asked for %v, want %v: the held parity and three data pieces, not data piece 3", si, got, want)
		}
	}
	if segs := len(m.Segments); st.Fetched != 4*segs || st.Lost != 0 {
		t.Fatalf("stats %+v: want %d fetches, none lost", &st, 4*segs)
	}
}

// gatedSource serves pieces from a store; a fetch of a piece for which
// gate returns a channel waits for that channel to close. It tells asked
// of every fetch as it begins, and counts the pieces it has delivered per
// segment.
type gatedSource struct {
	inner PieceSource
	gate  func(ref PieceRef) <-chan struct{}
	asked func(ref PieceRef, delivered map[int]int)

	mu        sync.Mutex
	delivered map[int]int
}

func (s *gatedSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	s.mu.Lock()
	s.asked(ref, s.delivered)
	s.mu.Unlock()
	if g := s.gate(ref); g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	rc, err := s.inner.FetchPiece(ctx, ref)
	if err == nil {
		s.mu.Lock()
		s.delivered[ref.Segment]++
		s.mu.Unlock()
	}
	return rc, err
}

// TestNextSegmentIsAskedForWhenTheCurrentOneLacksOnePiece: within its
// window Get does not start the next segment with the current one (they
// would share the links, and the current one, which decoding waits for,
// would arrive as late as the next), but once the current one lacks a
// single piece, before it finishes.
func TestNextSegmentIsAskedForWhenTheCurrentOneLacksOnePiece(t *testing.T) {
	s := NewTestStore(t, blockstore.DefaultConfig())
	data := randomBytes(26, 3*testSegment)
	res := putBytes(t, s, data, smallConfig(4, 2))
	m, err := LoadManifest(context.Background(), s, res.Capability)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seg0Begun, release, last := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once0, once1 sync.Once
	begun0 := 0
	var early []string
	src := &gatedSource{inner: StoreSource(s), delivered: map[int]int{},
		gate: func(r PieceRef) <-chan struct{} {
			switch {
			case r.Segment == 0 && r.Index == 3:
				return last // the current segment's last piece: held until the next is asked for
			case r.Segment == 0:
				return release
			}
			return nil
		},
		asked: func(r PieceRef, delivered map[int]int) {
			if r.Segment == 0 {
				if begun0++; begun0 == 4 {
					once0.Do(func() { close(seg0Begun) })
				}
				return
			}
			if delivered[r.Segment-1] < 3 {
				early = append(early, fmt.Sprintf("segment %d asked for with %d pieces of segment %d in", r.Segment, delivered[r.Segment-1], r.Segment-1))
			}
			if r.Segment == 1 {
				once1.Do(func() { close(last) })
			}
		}}
	go func() {
		select {
		case <-seg0Begun:
			close(release)
		case <-ctx.Done():
		}
	}()
	var out bytes.Buffer
	if err := Get(ctx, res.Capability, m, src, &out, WithWindow(2)); err != nil {
		t.Fatalf("%v (segment 1 never asked for while segment 0 lacked its last piece?)", err)
	}
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatal("wrong plaintext")
	}
	if len(early) > 0 {
		t.Fatalf("a segment started before the one before it had K-1 pieces: %v", early)
	}
}
