package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/sio"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// PieceSource fetches pieces for Get. Get checks every piece against its id,
// so a source may return anything; a nil error with wrong bytes only makes
// Get try another piece.
type PieceSource interface {
	// FetchPiece returns a reader of the piece's bytes. If the reader also
	// implements io.ReaderAt and Size() int64 (as *os.File-backed
	// *blockstore.Reader does), Get reads it in place; otherwise Get spools
	// it to a temporary file.
	FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error)
}

// BadPieceReporter may be implemented by a PieceSource that wants to know
// which pieces Get could not use and why (the node marks the holder, the
// local store drops a corrupt block). Get calls it from its own goroutines.
type BadPieceReporter interface {
	BadPiece(ctx context.Context, ref PieceRef, err error)
}

// LocalPieceSource may be implemented by a PieceSource that holds some
// pieces itself (the node's own block store) and fetches the rest: Get
// asks for the pieces it holds first, whatever their index, since reading
// one costs no transfer. A held parity piece then stands in for a data
// piece Reed–Solomon rebuilds, one network fetch fewer per segment.
type LocalPieceSource interface {
	PieceSource
	// HasPiece reports whether FetchPiece can read the piece without
	// fetching it. It must be quick: Get calls it once per piece of a
	// segment as the segment's fetch starts.
	HasPiece(ref PieceRef) bool
}

// StoreSource returns a PieceSource reading pieces from a local block store.
// Pieces found not to match their ids are removed from the store.
func StoreSource(s *blockstore.Store) PieceSource { return storeSource{s} }

type storeSource struct{ s *blockstore.Store }

func (s storeSource) FetchPiece(ctx context.Context, ref PieceRef) (io.ReadCloser, error) {
	return s.s.Open(ctx, ref.ID)
}

func (s storeSource) BadPiece(ctx context.Context, ref PieceRef, err error) {
	if errors.Is(err, ErrPieceMismatch) {
		s.s.Verify(ctx, ref.ID) // re-reads it; a corrupt block is removed
	}
}

// OpenManifest checks an encrypted manifest block against the capability's
// file id, decrypts it with the capability's key and decodes it.
func OpenManifest(c Capability, encrypted []byte) (*manifest.Manifest, error) {
	if blockstore.Sum(encrypted) != c.FileID {
		return nil, fmt.Errorf("%w: %d bytes for file %s", ErrManifestMismatch, len(encrypted), c.FileID)
	}
	plain, err := sio.DecryptBuffer(nil, encrypted, dareConfig(deriveKey(c.Key, infoManifest)))
	if err != nil {
		return nil, fmt.Errorf("%w (file %s): %v", ErrWrongKey, c.FileID, err)
	}
	m, err := manifest.Decode(plain)
	if err != nil {
		return nil, fmt.Errorf("storage: file %s: %w", c.FileID, err)
	}
	return m, nil
}

// maxManifestBlock bounds an encrypted manifest block.
var maxManifestBlock = int64(manifest.EncryptedSize(manifest.MaxEncodedSize))

// LoadManifest reads the manifest block of c's file from a block store.
func LoadManifest(ctx context.Context, s *blockstore.Store, c Capability) (*manifest.Manifest, error) {
	b, err := s.Get(ctx, c.FileID, maxManifestBlock)
	if err != nil {
		return nil, fmt.Errorf("storage: manifest of %s: %w", c.FileID, err)
	}
	return OpenManifest(c, b)
}

// Pieces lists the pieces of a manifest, as Put returned them.
func Pieces(fileID blockstore.ID, m *manifest.Manifest) []PieceInfo {
	var out []PieceInfo
	for s, seg := range m.Segments {
		for i, p := range seg.Pieces {
			out = append(out, PieceInfo{
				PieceRef: PieceRef{FileID: fileID, Segment: s, Index: i, ID: p.ID, Size: int64(p.Size)},
				Root:     p.Root,
				Leaves:   p.Leaves,
			})
		}
	}
	return out
}

// DefaultGetWindow is how many segments Get fetches ahead of the one it is
// decoding unless WithWindow says otherwise.
const DefaultGetWindow = 2

// getOptions is Get's fetch schedule.
type getOptions struct {
	window    int           // segments fetched ahead of the one being decoded
	windowSet bool          // window given (0 is a valid window)
	spares    int           // pieces fetched beyond K at the start of each segment
	hedge     time.Duration // a segment still short of K pieces this long after its start gets one more fetch; 0: never
	stats     *GetStats
	ranged    bool  // WithRange given
	off, n    int64 // WithRange's plaintext range
}

// WithRange makes Get write only the plaintext bytes [off, off+n) of the
// file: it fetches the pieces of the segments covering them and no others,
// and decrypts only the DARE packages (64 KiB of plaintext each) that hold
// them. A range running past the end of the file is cut at the end; an
// offset past the end, or a negative offset or length, makes Get fail with
// ErrRange before fetching anything. n = 0 writes and fetches nothing.
func WithRange(off, n int64) Option {
	return func(o *options) { o.get.ranged, o.get.off, o.get.n = true, off, n }
}

// dare2Payload and dare2Package are DARE 2.0's plaintext and ciphertext
// bytes per package (16 B header and 16 B tag around each payload).
const (
	dare2Payload = 64 << 10
	dare2Package = dare2Payload + 32
)

// WithWindow makes Get fetch up to n segments ahead of the one it is
// decoding (default DefaultGetWindow; 0 fetches one segment at a time).
// Each segment in flight holds its pieces until it is decoded, so memory or
// spool space grows with n, not with the file.
func WithWindow(n int) Option {
	return func(o *options) { o.get.window, o.get.windowSet = max(n, 0), true }
}

// WithSpares makes Get start n more piece fetches than it needs for every
// segment (parity after data, as far as the segment has pieces); the first
// K good pieces to arrive win and the rest are cancelled. Default 0.
func WithSpares(n int) Option { return func(o *options) { o.get.spares = max(n, 0) } }

// WithHedge makes Get start one more piece fetch for a segment that is
// still short of K good pieces d after its fetch began, and again every d
// (default: never; a failed fetch is always replaced at once).
func WithHedge(d time.Duration) Option { return func(o *options) { o.get.hedge = d } }

// WithGetStats makes Get add its stage timings and counts to st. st must
// not be read until Get returns.
func WithGetStats(st *GetStats) Option { return func(o *options) { o.get.stats = st } }

// GetStats are where a Get's time went. The decoding goroutine's stages
// (Wait, Read, Reconstruct, Decrypt, Write) add up to the Get's duration
// less its set-up; fetches run beside them.
type GetStats struct {
	Segments int
	// Pieces counts the pieces decoded; Fetched the piece fetches started
	// (more than Pieces when spares, hedges or failures started more).
	Pieces, Fetched int
	// Lost counts fetches that failed or were cancelled after K pieces
	// of their segment won.
	Lost int
	// Wait is the decoder's time waiting for a segment's pieces: the fetch
	// time not hidden behind decoding.
	Wait time.Duration
	// Read is reading the pieces' stripes; Reconstruct is Reed-Solomon
	// rebuilding missing data pieces.
	Read, Reconstruct time.Duration
	// Decrypt is DARE decryption; Write is the writes of plaintext to the
	// Get's writer (the reader's back-pressure).
	Decrypt, Write time.Duration

	mu sync.Mutex
}

func (st *GetStats) add(f func(*GetStats)) {
	if st == nil {
		return
	}
	st.mu.Lock()
	f(st)
	st.mu.Unlock()
}

// Get writes the file of capability c, described by manifest m (from
// OpenManifest or LoadManifest), to w. Each segment is rebuilt from the
// first K pieces that src returns with matching ids: K pieces are asked
// for first (and WithSpares more): those src holds itself if it is a
// LocalPieceSource, then data before parity; a failed piece is replaced by the
// next of the segment at once, and the first K good pieces to arrive win;
// the others are cancelled. Segments are fetched up to the window ahead of
// the one being decoded (WithWindow), so fetching overlaps decryption;
// each segment's fetch starts once the one before lacks at most one piece,
// so the segment decoding waits for comes first and the next is already
// asked for when it ends.
// Every piece is checked against its id before it is decoded, and
// everything written to w is authenticated plaintext; on error, w holds a
// prefix of the file.
func Get(ctx context.Context, c Capability, m *manifest.Manifest, src PieceSource, w io.Writer, opts ...Option) error {
	if err := m.Validate(); err != nil {
		return err
	}
	o := collect(opts)
	if !o.get.windowSet {
		o.get.window = DefaultGetWindow
	}
	// [lo, hi) is the plaintext written; segments first…last hold it.
	lo, hi := int64(0), int64(m.Size)
	if o.get.ranged {
		if o.get.off < 0 || o.get.n < 0 || o.get.off > int64(m.Size) {
			return fmt.Errorf("%w: %d bytes at offset %d of a %d-byte file", ErrRange, o.get.n, o.get.off, m.Size)
		}
		lo, hi = o.get.off, o.get.off+min(o.get.n, int64(m.Size)-o.get.off)
	}
	if lo == hi {
		return nil
	}
	segSize := int64(m.SegmentSize)
	first, last := int(lo/segSize), int((hi-1)/segSize)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &getter{ctx: ctx, c: c, m: m, src: src, o: o, k: int(m.K), n: int(m.K + m.M), unit: int(m.StripeUnit), st: o.get.stats}
	if g.k > 1 && m.M > 0 {
		rs, err := reedsolomon.New(g.k, int(m.M))
		if err != nil {
			return fmt.Errorf("storage: reed-solomon: %w", err)
		}
		g.rs = rs
	}
	out := &progressWriter{w: w, progress: o.progress}
	segs := make([]*segmentFetch, last-first+1)
	for i := range segs {
		segs[i] = &segmentFetch{done: make(chan struct{}), near: make(chan struct{})}
	}
	defer func() {
		cancel()
		g.wg.Wait()
		for _, sf := range segs {
			closeAll(sf.good)
		}
	}()
	// slots bounds the segments fetched or waiting to be decoded: the one
	// being decoded and the window ahead of it. Within the window a
	// segment's fetch starts when the one before is nearly in (see
	// segmentFetch.near), not with it: the segments share the holders'
	// links and the CPU, so starting the window's segments together would
	// deliver the first of them, which decoding waits for, only as late as
	// the last.
	slots := make(chan struct{}, o.get.window+1)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for j, sf := range segs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			if j > 0 {
				select {
				case <-segs[j-1].near:
				case <-ctx.Done():
					return
				}
			}
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				defer close(sf.done)
				sf.good, sf.errs = g.race(first+j, sf.near)
			}()
		}
	}()
	for j, sf := range segs {
		i := first + j
		t := time.Now()
		select {
		case <-sf.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		g.st.add(func(st *GetStats) { st.Wait += time.Since(t) })
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(sf.good) < g.k {
			return &SegmentError{Index: i, Have: len(sf.good), Need: g.k, Errs: sf.errs}
		}
		start := int64(i) * segSize
		segLo := max(lo-start, 0)
		segHi := min(hi-start, int64(m.SegmentPlainSize(i)))
		err := g.decode(i, sf.good, out, segLo, segHi)
		closeAll(sf.good)
		sf.good = nil
		if err != nil {
			return err
		}
		g.st.add(func(st *GetStats) { st.Segments++; st.Pieces += g.k })
		<-slots
	}
	return nil
}

// segmentFetch is one segment's race for K good pieces.
type segmentFetch struct {
	done chan struct{} // closed when good and errs are set
	// near is closed once the segment lacks at most one good piece (or
	// has one, for K = 1) or its race ended: the next segment's fetch
	// then starts, so it is under way before this one finishes, without
	// taking the links from it before.
	near chan struct{}
	good []goodPiece
	errs []error
}

type getter struct {
	ctx        context.Context
	c          Capability
	m          *manifest.Manifest
	src        PieceSource
	o          options
	k, n, unit int
	rs         reedsolomon.Encoder
	bufs       [][]byte // one stripe unit per piece
	joined     []byte   // one stripe of data
	st         *GetStats
	wg         sync.WaitGroup // fetching goroutines
}

// race fetches pieces of segment si until K are good or none is left: K
// (plus the spares) at once in fetchOrder (held pieces, then by index), a replacement for each that
// fails, one more per hedge interval; the first K good ones win and the
// fetches still running are cancelled (their pieces, should they arrive,
// closed).
func (g *getter) race(si int, near chan struct{}) (good []goodPiece, errs []error) {
	var nearOnce sync.Once
	signalNear := func() { nearOnce.Do(func() { close(near) }) }
	defer signalNear()
	seg := g.m.Segments[si]
	refs := make([]PieceRef, len(seg.Pieces))
	for i, p := range seg.Pieces {
		refs[i] = PieceRef{FileID: g.c.FileID, Segment: si, Index: i, ID: p.ID, Size: int64(p.Size)}
	}
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	type result struct {
		p   goodPiece
		err error
	}
	results := make(chan result, len(refs))
	order := fetchOrder(g.src, refs)
	next, running := 0, 0
	start := func() bool {
		if next >= len(order) {
			return false
		}
		idx := order[next]
		next++
		running++
		g.st.add(func(st *GetStats) { st.Fetched++ })
		go func() {
			ref := refs[idx]
			r, rc, err := fetchVerified(ctx, g.src, ref, g.o.tempDir)
			if err != nil {
				if ctx.Err() == nil {
					if rep, ok := g.src.(BadPieceReporter); ok {
						rep.BadPiece(ctx, ref, err)
					}
				}
				results <- result{err: fmt.Errorf("piece %d: %w", idx, err)}
				return
			}
			results <- result{p: goodPiece{idx: idx, r: r, rc: rc}}
		}()
		return true
	}
	for range g.k + g.o.get.spares {
		start()
	}
	var hedge <-chan time.Time
	if g.o.get.hedge > 0 {
		t := time.NewTicker(g.o.get.hedge)
		defer t.Stop()
		hedge = t.C
	}
	for len(good) < g.k && running > 0 {
		select {
		case r := <-results:
			running--
			if r.err != nil {
				if ctx.Err() == nil {
					errs = append(errs, r.err)
				}
				start()
				continue
			}
			good = append(good, r.p)
			if len(good) >= max(g.k-1, 1) {
				signalNear()
			}
		case <-hedge:
			start()
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	cancel()
	if running > 0 {
		g.st.add(func(st *GetStats) { st.Lost += running })
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for range running {
				if r := <-results; r.err == nil {
					r.p.rc.Close()
				}
			}
		}()
	}
	if g.ctx.Err() != nil {
		closeAll(good)
		return nil, errs
	}
	g.st.add(func(st *GetStats) { st.Lost += len(errs) })
	// Decode in index order: data pieces first, as a full set needs no
	// reconstruction.
	slices.SortFunc(good, func(a, b goodPiece) int { return a.idx - b.idx })
	return good, errs
}

// fetchOrder is the order race asks for a segment's pieces in: those the
// source holds itself first (LocalPieceSource), then the rest, each group
// in index order (data before parity, as a full set of data pieces needs
// no reconstruction).
func fetchOrder(src PieceSource, refs []PieceRef) []int {
	order := make([]int, 0, len(refs))
	ls, ok := src.(LocalPieceSource)
	if !ok {
		for i := range refs {
			order = append(order, i)
		}
		return order
	}
	var remote []int
	for i, ref := range refs {
		if ls.HasPiece(ref) {
			order = append(order, i)
		} else {
			remote = append(remote, i)
		}
	}
	return append(order, remote...)
}

// sizedReaderAt is a piece readable in place.
type sizedReaderAt interface {
	io.ReaderAt
	Size() int64
}

// goodPiece is a piece that matched its id.
type goodPiece struct {
	idx int
	r   io.ReaderAt
	rc  io.Closer
}

// gather fetches and checks pieces of refs, in index order and as many at
// once as are still missing, until need are good or none is left. Indices in
// skip are not tried. The caller closes the good pieces (closeAll).
func gather(ctx context.Context, src PieceSource, refs []PieceRef, skip map[int]bool, need int, tempDir string) (good []goodPiece, errs []error) {
	var cands []int
	for i := range refs {
		if !skip[i] {
			cands = append(cands, i)
		}
	}
	for len(good) < need && len(cands) > 0 && ctx.Err() == nil {
		batch := cands[:min(need-len(good), len(cands))]
		cands = cands[len(batch):]
		res := make([]goodPiece, len(batch))
		errsB := make([]error, len(batch))
		var wg sync.WaitGroup
		for b, idx := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ref := refs[idx]
				r, rc, err := fetchVerified(ctx, src, ref, tempDir)
				if err != nil {
					if rep, ok := src.(BadPieceReporter); ok {
						rep.BadPiece(ctx, ref, err)
					}
					errsB[b] = fmt.Errorf("piece %d: %w", idx, err)
					return
				}
				res[b] = goodPiece{idx: idx, r: r, rc: rc}
			}()
		}
		wg.Wait()
		for b := range batch {
			if errsB[b] != nil {
				errs = append(errs, errsB[b])
			} else {
				good = append(good, res[b])
			}
		}
	}
	return good, errs
}

func closeAll(good []goodPiece) {
	for _, p := range good {
		p.rc.Close()
	}
}

// fetchVerified gets one piece and checks it against its id and size.
func fetchVerified(ctx context.Context, src PieceSource, ref PieceRef, tempDir string) (io.ReaderAt, io.Closer, error) {
	rc, err := src.FetchPiece(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	if sp, ok := rc.(*Spool); ok {
		// Hashed as it was written: seal it and compare, without reading
		// the bytes again.
		sum, size := sp.seal()
		if size != ref.Size || sum != ref.ID {
			sp.Close()
			return nil, nil, fmt.Errorf("%w: %d bytes hashing to %s, want %d bytes hashing to %s", ErrPieceMismatch, size, blockstore.ID(sum), ref.Size, ref.ID)
		}
		return sp, sp, nil
	}
	var (
		ra   io.ReaderAt
		size int64
		h    = proofs.NewBuilder()
	)
	if sr, ok := rc.(sizedReaderAt); ok {
		ra, size = sr, sr.Size()
		if size != ref.Size {
			rc.Close()
			return nil, nil, fmt.Errorf("%w: %d bytes, want %d", ErrPieceMismatch, size, ref.Size)
		}
		if _, err := io.Copy(h, io.NewSectionReader(sr, 0, size)); err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("reading: %w", err)
		}
	} else {
		f, err := os.CreateTemp(tempDir, "coop-piece-*")
		if err != nil {
			rc.Close()
			return nil, nil, fmt.Errorf("spooling: %w", err)
		}
		os.Remove(f.Name()) // the open file stays usable and vanishes on close or crash
		size, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(rc, ref.Size+1))
		rc.Close()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("reading: %w", err)
		}
		if size != ref.Size {
			f.Close()
			return nil, nil, fmt.Errorf("%w: %d bytes or more, want %d", ErrPieceMismatch, size, ref.Size)
		}
		ra, rc = f, f
	}
	if id := blockstore.ID(h.ID()); id != ref.ID {
		rc.Close()
		return nil, nil, fmt.Errorf("%w: hashes to %s, want %s", ErrPieceMismatch, id, ref.ID)
	}
	return ra, rc, nil
}

// decode reads the stripes of the good pieces, rebuilds missing data shards
// and decrypts the segment's plaintext bytes [lo, hi) into out. Only the
// stripes holding the DARE packages of [lo, hi) are read and decrypted; the
// decryption starts at the first package's sequence number.
func (g *getter) decode(si int, good []goodPiece, out io.Writer, lo, hi int64) error {
	var read, rebuild, decrypt time.Duration
	tw := &timedWriter{w: out}
	if g.st != nil {
		defer func() {
			g.st.add(func(st *GetStats) {
				st.Read += read
				st.Reconstruct += rebuild
				st.Decrypt += decrypt - tw.d
				st.Write += tw.d
			})
		}()
	}
	enc := int64(g.m.SegmentEncryptedSize(si))
	pieceSize := int64(g.m.PieceSize(si))
	// Packages p0 … up to the one holding byte hi-1: ciphertext [cLo, cHi).
	p0 := lo / dare2Payload
	cLo, cHi := p0*dare2Package, enc
	if hi < int64(g.m.SegmentPlainSize(si)) {
		cHi = min(enc, (hi+dare2Payload-1)/dare2Payload*dare2Package)
	}
	cfg := dareConfig(segmentKey(g.c.Key, si))
	cfg.SequenceNumber = uint32(p0)
	dec, err := sio.DecryptWriter(nopCloser{&windowWriter{w: tw, skip: lo - p0*dare2Payload, left: hi - lo}}, cfg)
	if err != nil {
		return fmt.Errorf("storage: segment %d: %w", si, err)
	}
	stripeBytes := int64(g.k * g.unit)
	if g.bufs == nil { // reused by every segment
		g.bufs = make([][]byte, g.n)
		for i := range g.bufs {
			g.bufs[i] = make([]byte, g.unit)
		}
		g.joined = make([]byte, 0, g.k*g.unit)
	}
	shards := make([][]byte, g.n)
	bufs, joined := g.bufs, g.joined
	have := make([]bool, g.n)
	for _, p := range good {
		have[p.idx] = true
	}
	for off := cLo / stripeBytes * int64(g.unit); off < pieceSize && off/int64(g.unit)*stripeBytes < cHi; off += int64(g.unit) {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		c := int(min(int64(g.unit), pieceSize-off))
		for i := range shards {
			shards[i] = bufs[i][:0]
		}
		t0 := time.Now()
		for _, p := range good {
			b := bufs[p.idx][:c]
			if _, err := p.r.ReadAt(b, off); err != nil {
				return fmt.Errorf("storage: segment %d: reading piece %d: %w", si, p.idx, err)
			}
			shards[p.idx] = b
		}
		t1 := time.Now()
		read += t1.Sub(t0)
		if g.k == 1 {
			joined = append(joined[:0], shards[good[0].idx]...)
		} else {
			if g.rs != nil {
				for i := 0; i < g.k; i++ {
					if !have[i] {
						shards[i] = bufs[i][:0]
					}
				}
				if err := g.rs.ReconstructData(shards); err != nil {
					return fmt.Errorf("storage: segment %d: reed-solomon: %w", si, err)
				}
			}
			joined = joined[:0]
			for i := 0; i < g.k; i++ {
				joined = append(joined, shards[i][:c]...)
			}
		}
		t2 := time.Now()
		rebuild += t2.Sub(t1)
		// The stripe holds k×c bytes of which the tail of the last is
		// padding; only [cLo, cHi) of the ciphertext is decrypted.
		stripeStart := off / int64(g.unit) * stripeBytes
		a := max(cLo-stripeStart, 0)
		b := min(int64(len(joined)), cHi-stripeStart)
		if _, err := dec.Write(joined[a:b]); err != nil {
			return g.decryptErr(si, err)
		}
		decrypt += time.Since(t2)
	}
	t := time.Now()
	if err := dec.Close(); err != nil {
		return g.decryptErr(si, err)
	}
	decrypt += time.Since(t)
	return nil
}

// timedWriter adds up the time spent in its writer's Write.
type timedWriter struct {
	w io.Writer
	d time.Duration
}

func (t *timedWriter) Write(p []byte) (int, error) {
	start := time.Now()
	n, err := t.w.Write(p)
	t.d += time.Since(start)
	return n, err
}

func (g *getter) decryptErr(si int, err error) error {
	var sioErr sio.Error
	if errors.As(err, &sioErr) {
		return fmt.Errorf("%w: segment %d: %v", ErrDecrypt, si, err)
	}
	return fmt.Errorf("storage: segment %d: writing output: %w", si, err)
}

// windowWriter passes on the bytes after the first skip, up to left of
// them, and drops the rest: it cuts a range out of whole DARE packages.
type windowWriter struct {
	w          io.Writer
	skip, left int64
}

func (ww *windowWriter) Write(p []byte) (int, error) {
	n := len(p)
	d := min(ww.skip, int64(len(p)))
	p, ww.skip = p[d:], ww.skip-d
	p = p[:min(int64(len(p)), ww.left)]
	if len(p) == 0 {
		return n, nil
	}
	m, err := ww.w.Write(p)
	ww.left -= int64(m)
	if err != nil {
		return m, err
	}
	return n, nil
}

// nopCloser keeps sio's DecryptWriter from closing the caller's writer.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// progressWriter reports plaintext bytes written.
type progressWriter struct {
	w        io.Writer
	n        int64
	progress func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if n > 0 && p.progress != nil {
		p.progress(p.n)
	}
	return n, err
}

// Spool is one attempt at receiving a piece: its bytes go to an unlinked
// temporary file and through the Merkle commitment (from which the piece
// id, blockstore.Sum) as they are written, so Get checks the piece against its
// id without reading it back. A PieceSource fetching
// from the network returns a Spool holding the whole piece from
// FetchPiece; Get then seals it (later writes fail) and compares the hash
// the Spool computed, and the size, with the piece's. Spool also has the
// exchange's VerifyPiece, so the exchange leaves hashing to it. Close
// releases the file; it never had a name after NewSpool, so nothing is
// left behind on a crash either.
type Spool struct {
	mu     sync.Mutex
	f      *os.File
	h      *proofs.Builder
	n      int64
	limit  int64
	sealed bool
	off    int64 // Read's position
}

// NewSpool starts a spool in dir (os.TempDir() if empty) that takes at
// most limit bytes.
func NewSpool(dir string, limit int64) (*Spool, error) {
	f, err := os.CreateTemp(dir, ".coop-piece-*")
	if err != nil {
		return nil, fmt.Errorf("storage: spool: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("storage: spool: %w", err)
	}
	return &Spool{f: f, h: proofs.NewBuilder(), limit: limit}, nil
}

// errSpoolSealed is a write to a spool Get has already checked.
var errSpoolSealed = errors.New("storage: write to a sealed spool")

// Write appends p, hashing it.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealed {
		return 0, errSpoolSealed
	}
	if int64(len(p)) > s.limit-s.n {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrPieceMismatch, s.limit)
	}
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	s.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("storage: spool: %w", err)
	}
	return n, nil
}

// VerifyPiece reports whether the bytes written so far hash to id (an
// error wrapping ErrPieceMismatch if not).
func (s *Spool) VerifyPiece(id [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sum := s.h.ID(); sum != id {
		return fmt.Errorf("%w: %d bytes hashing to %s, want %s", ErrPieceMismatch, s.n, blockstore.ID(sum), blockstore.ID(id))
	}
	return nil
}

// seal ends writing and returns the hash and size of what was written.
func (s *Spool) seal() (sum [32]byte, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealed = true
	return s.h.ID(), s.n
}

// Size is the bytes written.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// ReadAt reads the spooled bytes.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) { return s.f.ReadAt(p, off) }

// Read reads the spooled bytes from the start, as an io.Reader.
func (s *Spool) Read(p []byte) (int, error) {
	n, err := s.f.ReadAt(p, s.off)
	s.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Close releases the spool.
func (s *Spool) Close() error { return s.f.Close() }

// GetFromStore reads the file of capability c entirely from one block store
// (manifest and pieces) into w.
func GetFromStore(ctx context.Context, s *blockstore.Store, c Capability, w io.Writer, opts ...Option) error {
	m, err := LoadManifest(ctx, s, c)
	if err != nil {
		return err
	}
	return Get(ctx, c, m, StoreSource(s), w, opts...)
}
