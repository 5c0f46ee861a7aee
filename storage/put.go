package storage

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/klauspost/reedsolomon"
	"github.com/minio/sio"

	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// PieceRef names one piece of a stored file: what a PieceSource needs to find
// it (the node looks up who holds piece Index of segment Segment of FileID).
type PieceRef struct {
	FileID  blockstore.ID
	Segment int
	Index   int // 0…K-1 are data pieces, K…K+M-1 parity pieces (or copies if K = 1)
	ID      blockstore.ID
	Size    int64
}

// PieceInfo is a PieceRef with the piece's Merkle commitment, as the ledger
// records it. The id is the commitment bound to the size:
// ID = proofs.ID(Root, Size).
type PieceInfo struct {
	PieceRef
	Root   proofs.Hash
	Leaves uint64
}

// PutResult is what Put stored.
type PutResult struct {
	Capability   Capability
	FileID       blockstore.ID // = Capability.FileID: the id of the encrypted manifest block
	Manifest     *manifest.Manifest
	ManifestSize int64 // bytes of the encrypted manifest block
	// Pieces lists every piece in (segment, index) order. With K = 1 the M+1
	// copies of a segment share one id and were written to the sink once.
	Pieces []PieceInfo
}

// BlockSink receives the blocks Put writes: pieces and the encrypted manifest.
type BlockSink interface {
	// CreateBlock starts a new block; its id is known when it is committed.
	CreateBlock(ctx context.Context) (BlockWriter, error)
}

// BlockWriter streams one block; *blockstore.Writer is one.
type BlockWriter interface {
	io.Writer
	// Commit makes the block durable and returns its id (blockstore.Sum of
	// its bytes: their Merkle commitment bound to their length), computed
	// as they were written.
	Commit() (blockstore.ID, error)
	// Sum returns the id of the bytes written so far, without committing.
	Sum() blockstore.ID
	// Root returns the Merkle commitment of the bytes written so far, from
	// the same pass.
	Root() proofs.Hash
	// Abort discards the block; a no-op after Commit.
	Abort()
}

// StoreSink returns a BlockSink writing into area a of a block store.
func StoreSink(s *blockstore.Store, a blockstore.Area) BlockSink { return storeSink{s, a} }

type storeSink struct {
	s *blockstore.Store
	a blockstore.Area
}

func (s storeSink) CreateBlock(ctx context.Context) (BlockWriter, error) { return s.s.Create(ctx, s.a) }

// stripesInFlight is how many stripes Put buffers between the encrypting and
// the piece goroutines; memory is about stripesInFlight×(K+M)×StripeUnit.
const stripesInFlight = 4

// Put reads a file from r to its end and writes its pieces and its encrypted
// manifest into sink. It never holds more than a few stripes of the file in
// memory. If it fails, blocks already committed stay in the sink (they are
// unreferenced and may be collected).
func Put(ctx context.Context, r io.Reader, sink BlockSink, cfg Config, opts ...Option) (*PutResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := collect(opts)
	var key [KeySize]byte
	if o.key != nil {
		key = *o.key
	} else if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("storage: generating file key: %w", err)
	}
	p := &putter{
		ctx: ctx, sink: sink, cfg: cfg, key: key,
		k: cfg.K, n: cfg.K + cfg.M, unit: cfg.StripeUnit,
		man: &manifest.Manifest{
			Version:     manifest.Version,
			SegmentSize: uint64(cfg.SegmentSize),
			K:           uint64(cfg.K),
			M:           uint64(cfg.M),
			StripeUnit:  uint64(cfg.StripeUnit),
			LeafSize:    proofs.LeafSize,
		},
	}
	if cfg.K > 1 && cfg.M > 0 {
		enc, err := reedsolomon.New(cfg.K, cfg.M)
		if err != nil {
			return nil, fmt.Errorf("storage: reed-solomon: %w", err)
		}
		p.rs = enc
	}
	p.free = make(chan *stripe, stripesInFlight)
	for range stripesInFlight {
		p.free <- p.newStripe()
	}
	src := &countingReader{ctx: ctx, r: r, progress: o.progress}
	br := bufio.NewReaderSize(src, 64<<10)
	var pending func() error
	for seg := 0; ; seg++ {
		_, err := br.Peek(1)
		if err == io.EOF {
			break
		}
		if err == nil && seg >= manifest.MaxSegments {
			err = fmt.Errorf("storage: file larger than %d segments of %d bytes", manifest.MaxSegments, cfg.SegmentSize)
		}
		if err != nil {
			p.fail(err)
			if pending != nil {
				pending()
			}
			return nil, err
		}
		// Segment seg is encrypted and coded while the pieces of segment
		// seg-1 are still being hashed, written and fsynced.
		wait, err := p.putSegment(seg, io.LimitReader(br, cfg.SegmentSize))
		if err != nil {
			p.fail(err)
			if pending != nil {
				pending()
			}
			return nil, err
		}
		if pending != nil {
			if err := pending(); err != nil {
				p.fail(err)
				wait()
				return nil, err
			}
		}
		pending = wait
	}
	if pending != nil {
		if err := pending(); err != nil {
			return nil, err
		}
	}
	p.man.Size = uint64(src.n)
	return p.finish()
}

type putter struct {
	ctx        context.Context
	sink       BlockSink
	cfg        Config
	key        [KeySize]byte
	k, n, unit int
	rs         reedsolomon.Encoder
	free       chan *stripe
	man        *manifest.Manifest
	pieces     []PieceInfo
	failed     atomic.Pointer[error] // first failure; stops every piece writer
}

// fail records the first failure of the put.
func (p *putter) fail(err error) { p.failed.CompareAndSwap(nil, &err) }

// stripe is K data shards laid out contiguously plus M parity shards.
type stripe struct {
	data    []byte
	parity  [][]byte
	c       int // shard size of this stripe: unit, or less for a segment's last stripe
	pending atomic.Int32
}

func (p *putter) newStripe() *stripe {
	st := &stripe{data: make([]byte, p.k*p.unit)}
	if p.rs != nil {
		st.parity = make([][]byte, p.n-p.k)
		for i := range st.parity {
			st.parity[i] = make([]byte, p.unit)
		}
	}
	return st
}

func (st *stripe) shard(k, i int) []byte {
	if i < k {
		return st.data[i*st.c : (i+1)*st.c]
	}
	return st.parity[i-k][:st.c]
}

// release returns st to the free list once every goroutine is done with it.
func (p *putter) release(st *stripe) {
	if st.pending.Add(-1) == 0 {
		p.free <- st
	}
}

// pieceWriter is the goroutine of one piece of a segment: it writes the
// piece's shards (in) into its block, whose writer computes the piece's
// Merkle commitment and id in the same pass.
type pieceWriter struct {
	in   chan *stripe
	w    BlockWriter
	size int64
	id   blockstore.ID
	err  error
}

// putSegment encrypts and codes one segment, handing its stripes to one
// goroutine per piece. It returns once the whole segment is handed over;
// wait then waits for the pieces to be committed and records the segment in
// the manifest. wait must be called exactly once, in segment order.
func (p *putter) putSegment(seg int, r io.Reader) (wait func() error, err error) {
	writers := p.n
	if p.k == 1 {
		writers = 1 // the M+1 copies are one block
	}
	var (
		wg      sync.WaitGroup
		pws     = make([]*pieceWriter, writers)
		started int
	)
	stop := func() {
		for _, pw := range pws[:started] {
			close(pw.in)
		}
		wg.Wait()
	}
	for i := range pws {
		w, err := p.sink.CreateBlock(p.ctx)
		if err != nil {
			err = fmt.Errorf("storage: segment %d: creating piece %d: %w", seg, i, err)
			p.fail(err)
			stop()
			return nil, err
		}
		pw := &pieceWriter{in: make(chan *stripe, stripesInFlight), w: w}
		pws[i] = pw
		started++
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for st := range pw.in {
				if pw.err == nil && p.failed.Load() == nil {
					b := st.shard(p.k, i)
					if _, err := pw.w.Write(b); err != nil {
						pw.err = fmt.Errorf("storage: segment %d: writing piece %d: %w", seg, i, err)
						p.fail(pw.err)
					}
					pw.size += int64(len(b))
				}
				p.release(st)
			}
			if pw.err != nil || p.failed.Load() != nil {
				pw.w.Abort()
				return
			}
			if pw.id, pw.err = pw.w.Commit(); pw.err != nil {
				pw.err = fmt.Errorf("storage: segment %d: committing piece %d: %w", seg, i, pw.err)
				p.fail(pw.err)
			}
		}(i)
	}

	s := &striper{p: p, pws: pws}
	enc, err := sio.EncryptWriter(s, dareConfig(segmentKey(p.key, seg)))
	if err != nil {
		err = fmt.Errorf("storage: segment %d: %w", seg, err)
		p.fail(err)
		stop()
		return nil, err
	}
	buf := make([]byte, 64<<10)
	plain, err := io.CopyBuffer(enc, r, buf)
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		p.fail(err)
		stop()
		return nil, err
	}
	for _, pw := range pws {
		close(pw.in)
	}
	return func() error {
		wg.Wait()
		if e := p.failed.Load(); e != nil {
			return *e
		}
		encSize := manifest.EncryptedSize(uint64(plain))
		wantPiece := manifest.PieceSize(encSize, uint64(p.k), uint64(p.unit))
		if uint64(s.total) != encSize || uint64(pws[0].size) != wantPiece {
			return fmt.Errorf("storage: segment %d: internal layout error: %d ciphertext bytes (want %d), pieces of %d (want %d)", seg, s.total, encSize, pws[0].size, wantPiece)
		}
		var ms manifest.Segment
		for i := range p.n {
			pw := pws[0] // K = 1: every copy is the one block
			if p.k > 1 {
				pw = pws[i]
			}
			root, leaves := pw.w.Root(), proofs.LeafCount(pw.size)
			ms.Pieces = append(ms.Pieces, manifest.Piece{ID: pw.id, Size: uint64(pw.size), Root: root, Leaves: leaves})
			p.pieces = append(p.pieces, PieceInfo{
				PieceRef: PieceRef{Segment: seg, Index: i, ID: pw.id, Size: pw.size},
				Root:     root,
				Leaves:   leaves,
			})
		}
		p.man.Segments = append(p.man.Segments, ms)
		return nil
	}, nil
}

// striper receives a segment's DARE ciphertext and cuts it into stripes.
type striper struct {
	p     *putter
	pws   []*pieceWriter
	cur   *stripe
	fill  int
	total int64
}

func (s *striper) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		if s.cur == nil {
			select {
			case s.cur = <-s.p.free:
			case <-s.p.ctx.Done():
				return 0, s.p.ctx.Err()
			}
			s.fill = 0
		}
		c := copy(s.cur.data[s.fill:], b)
		s.fill += c
		s.total += int64(c)
		b = b[c:]
		if s.fill == len(s.cur.data) {
			if err := s.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// flush codes the current stripe and hands it to the piece writers. A short
// (last) stripe of r bytes gets shards of ⌈r/K⌉ bytes, zero-padded.
func (s *striper) flush() error {
	if e := s.p.failed.Load(); e != nil {
		return *e
	}
	st := s.cur
	if st == nil || s.fill == 0 {
		return nil
	}
	s.cur = nil
	k := s.p.k
	st.c = (s.fill + k - 1) / k
	clear(st.data[s.fill : k*st.c])
	if s.p.rs != nil {
		shards := make([][]byte, s.p.n)
		for i := range shards {
			shards[i] = st.shard(k, i)
		}
		if err := s.p.rs.Encode(shards); err != nil {
			return fmt.Errorf("storage: reed-solomon: %w", err)
		}
	}
	st.pending.Store(int32(len(s.pws)))
	for _, pw := range s.pws {
		pw.in <- st
	}
	return nil
}

// finish encrypts and stores the manifest.
func (p *putter) finish() (*PutResult, error) {
	plain, err := manifest.Encode(p.man)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	var enc bytes.Buffer
	if _, err := sio.Encrypt(&enc, bytes.NewReader(plain), dareConfig(deriveKey(p.key, infoManifest))); err != nil {
		return nil, fmt.Errorf("storage: encrypting manifest: %w", err)
	}
	w, err := p.sink.CreateBlock(p.ctx)
	if err != nil {
		return nil, fmt.Errorf("storage: storing manifest: %w", err)
	}
	if _, err := w.Write(enc.Bytes()); err != nil {
		w.Abort()
		return nil, fmt.Errorf("storage: storing manifest: %w", err)
	}
	id, err := w.Commit()
	if err != nil {
		return nil, fmt.Errorf("storage: storing manifest: %w", err)
	}
	for i := range p.pieces {
		p.pieces[i].FileID = id
	}
	return &PutResult{
		Capability:   Capability{FileID: id, Key: p.key},
		FileID:       id,
		Manifest:     p.man,
		ManifestSize: int64(enc.Len()),
		Pieces:       p.pieces,
	}, nil
}

// countingReader counts bytes, reports progress and stops on cancellation.
type countingReader struct {
	ctx      context.Context
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *countingReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	c.n += int64(n)
	if n > 0 && c.progress != nil {
		c.progress(c.n)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("storage: reading input: %w", err)
	}
	return n, err
}
