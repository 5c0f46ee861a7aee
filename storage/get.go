package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/sio"

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

// Get writes the file of capability c, described by manifest m (from
// OpenManifest or LoadManifest), to w. Each segment is rebuilt from the
// first K pieces (data pieces first) that src returns with matching ids.
// Everything written to w is authenticated plaintext; on error, w holds a
// prefix of the file.
func Get(ctx context.Context, c Capability, m *manifest.Manifest, src PieceSource, w io.Writer, opts ...Option) error {
	if err := m.Validate(); err != nil {
		return err
	}
	o := collect(opts)
	g := &getter{ctx: ctx, c: c, m: m, src: src, o: o, k: int(m.K), n: int(m.K + m.M), unit: int(m.StripeUnit)}
	if g.k > 1 && m.M > 0 {
		rs, err := reedsolomon.New(g.k, int(m.M))
		if err != nil {
			return fmt.Errorf("storage: reed-solomon: %w", err)
		}
		g.rs = rs
	}
	out := &progressWriter{w: w, progress: o.progress}
	for i := range m.Segments {
		if err := g.segment(i, out); err != nil {
			return err
		}
	}
	return nil
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

// segment rebuilds segment si into out.
func (g *getter) segment(si int, out io.Writer) error {
	seg := g.m.Segments[si]
	refs := make([]PieceRef, g.n)
	for i, p := range seg.Pieces {
		refs[i] = PieceRef{FileID: g.c.FileID, Segment: si, Index: i, ID: p.ID, Size: int64(p.Size)}
	}
	good, errs := gather(g.ctx, g.src, refs, nil, g.k, g.o.tempDir)
	defer closeAll(good)
	if err := g.ctx.Err(); err != nil {
		return err
	}
	if len(good) < g.k {
		return &SegmentError{Index: si, Have: len(good), Need: g.k, Errs: errs}
	}
	return g.decode(si, good, out)
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
	var (
		ra   io.ReaderAt
		size int64
		h    = sha256.New()
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
	var id blockstore.ID
	h.Sum(id[:0])
	if id != ref.ID {
		rc.Close()
		return nil, nil, fmt.Errorf("%w: hashes to %s, want %s", ErrPieceMismatch, id, ref.ID)
	}
	return ra, rc, nil
}

// decode reads the stripes of the good pieces, rebuilds missing data shards
// and decrypts the segment into out.
func (g *getter) decode(si int, good []goodPiece, out io.Writer) error {
	dec, err := sio.DecryptWriter(nopCloser{out}, dareConfig(segmentKey(g.c.Key, si)))
	if err != nil {
		return fmt.Errorf("storage: segment %d: %w", si, err)
	}
	enc := int64(g.m.SegmentEncryptedSize(si))
	pieceSize := int64(g.m.PieceSize(si))
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
	for off := int64(0); off < pieceSize; off += int64(g.unit) {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		c := int(min(int64(g.unit), pieceSize-off))
		for i := range shards {
			shards[i] = bufs[i][:0]
		}
		for _, p := range good {
			b := bufs[p.idx][:c]
			if _, err := p.r.ReadAt(b, off); err != nil {
				return fmt.Errorf("storage: segment %d: reading piece %d: %w", si, p.idx, err)
			}
			shards[p.idx] = b
		}
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
		// The stripe holds k×c bytes of which the tail of the last is padding.
		stripeStart := off / int64(g.unit) * int64(g.k*g.unit)
		valid := min(int64(len(joined)), enc-stripeStart)
		if _, err := dec.Write(joined[:valid]); err != nil {
			return g.decryptErr(si, err)
		}
	}
	if err := dec.Close(); err != nil {
		return g.decryptErr(si, err)
	}
	return nil
}

func (g *getter) decryptErr(si int, err error) error {
	var sioErr sio.Error
	if errors.As(err, &sioErr) {
		return fmt.Errorf("%w: segment %d: %v", ErrDecrypt, si, err)
	}
	return fmt.Errorf("storage: segment %d: writing output: %w", si, err)
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

// GetFromStore reads the file of capability c entirely from one block store
// (manifest and pieces) into w.
func GetFromStore(ctx context.Context, s *blockstore.Store, c Capability, w io.Writer, opts ...Option) error {
	m, err := LoadManifest(ctx, s, c)
	if err != nil {
		return err
	}
	return Get(ctx, c, m, StoreSource(s), w, opts...)
}
