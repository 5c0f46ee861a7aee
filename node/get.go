package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// dhtFallbackTimeout bounds a provider lookup for a piece its ledger
// holders could not deliver: by then the storage layer can often use a
// parity piece instead, so the lookup must not hold it up for long.
const dhtFallbackTimeout = 3 * time.Second

// maxManifestBlock bounds a fetched encrypted manifest.
var maxManifestBlock = int64(manifest.EncryptedSize(manifest.MaxEncodedSize))

// open reads the file a capability names (or, given a 64-hex-digit file id,
// one of the account's own files, its key opened from the ledger's sealed
// key): the manifest from the local store or the file's holders, then the
// pieces (see netSource). Errors before the first byte are returned here;
// later ones cut the stream short with the error. It reads the bytes
// [off, off+count) (count < 0: to the end; cut at the end), fetching only
// the segments that hold them, and returns the whole file's size; off past
// the end is ErrRange.
func (n *Node) open(ctx context.Context, capability string, off, count int64) (io.ReadCloser, int64, error) {
	if off < 0 {
		return nil, 0, fmt.Errorf("%w: negative offset %d", ErrRange, off)
	}
	var c storage.Capability
	var file *chain.File
	if len(capability) == 2*len(chain.Hash{}) && !strings.HasPrefix(capability, storage.CapabilityPrefix) {
		id, err := chain.ParseHash(capability)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: neither a capability nor a file id: %w", ErrInvalidArgument, err)
		}
		f, err := n.lc.File(ctx, id)
		if errors.Is(err, chain.ErrNotFound) {
			return nil, 0, fmt.Errorf("%w: file %s is not on the ledger", ErrNotFound, id)
		} else if err != nil {
			return nil, 0, fmt.Errorf("looking up file %s on the ledger: %w", id, err)
		}
		if c, err = n.ownCapability(&f); err != nil {
			return nil, 0, err
		}
		file = &f
	} else {
		var err error
		if c, err = storage.ParseCapability(capability); err != nil {
			return nil, 0, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		f, err := n.fileSoon(ctx, chain.Hash(c.FileID))
		if err == nil {
			file = &f
		} else if !errors.Is(err, chain.ErrNotFound) {
			return nil, 0, fmt.Errorf("looking up file %s on the ledger: %w", c.FileID, err)
		}
	}
	if file != nil && file.Size == 0 && len(file.Pieces) == 0 {
		// An empty file has no pieces, so no holders to fetch its manifest
		// from, and nothing to decrypt: its 0 bytes need no key.
		if off > 0 {
			return nil, 0, fmt.Errorf("%w: offset %d of an empty file", ErrRange, off)
		}
		return io.NopCloser(bytesReader(nil)), 0, nil
	}
	m, err := n.manifest(ctx, c, file)
	if err != nil {
		return nil, 0, err
	}
	if off > int64(m.Size) {
		return nil, 0, fmt.Errorf("%w: offset %d of a %d-byte file", ErrRange, off, m.Size)
	}
	if count < 0 {
		count = int64(m.Size) - off
	}
	m = widenManifest(m, file) // a raised file has more pieces than its manifest names
	ctx, cancel := context.WithCancel(ctx)
	src := &netSource{n: n, file: file, fileID: c.FileID, keep: off > 0 || count < int64(m.Size)}
	// A range (a part, a mount block) needs no more buffer than it has bytes.
	pr, pw := newBufPipe(int(min(getPipeBuffer, max(count, minPipeBuffer))))
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		fw := &firstWriter{w: pw, started: started}
		var st storage.GetStats
		t0 := time.Now()
		err := storage.Get(ctx, c, m, src, fw, append(n.getOptions(&st), storage.WithRange(off, count))...)
		pw.CloseWithError(err)
		n.log.Debug("get done", "file", c.FileID, "bytes", m.Size, "took", time.Since(t0).Round(time.Millisecond),
			"wait", st.Wait.Round(time.Millisecond), "read", st.Read.Round(time.Millisecond), "reconstruct", st.Reconstruct.Round(time.Millisecond),
			"decrypt", st.Decrypt.Round(time.Millisecond), "write", st.Write.Round(time.Millisecond),
			"pieces", st.Pieces, "fetched", st.Fetched, "lost", st.Lost, "err", err)
		if testHookGetStats != nil {
			testHookGetStats(&st)
		}
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		if err != nil {
			cancel()
			var se *storage.SegmentError
			if errors.As(err, &se) {
				err = fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return nil, 0, err
		}
		done <- nil
	}
	return &getReader{bufPipe: pr, cancel: cancel, done: done}, int64(m.Size), nil
}

// newFileBlocks is how many blocks a get waits for a file its ledger does
// not know yet to appear: a capability handed over right after its put
// may reach a node whose ledger is a block or two behind the putter's.
const newFileBlocks = 2

// fileSoon is the ledger's record of file id, waiting up to newFileBlocks
// blocks (at most 10 s) for it when the ledger does not have it yet; an
// error wrapping chain.ErrNotFound if it still has not (a file of
// another network, removed, or never placed: the get then asks the DHT).
func (n *Node) fileSoon(ctx context.Context, id chain.Hash) (chain.File, error) {
	f, err := n.lc.File(ctx, id)
	if !errors.Is(err, chain.ErrNotFound) {
		return f, err
	}
	h0, _, herr := n.lc.Height(ctx)
	if herr != nil {
		return f, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-wctx.Done():
			return f, err
		case <-t.C:
		}
		h, _, herr := n.lc.Height(wctx)
		if herr != nil || h == h0 {
			continue
		}
		if f, err = n.lc.File(wctx, id); !errors.Is(err, chain.ErrNotFound) || h >= h0+newFileBlocks {
			return f, err
		}
	}
}

// testHookGetStats, when set by benchmarks, receives each get's stage
// timings once it ends.
var testHookGetStats func(*storage.GetStats)

// getOptions is how this node's gets fetch: a window of segments ahead of
// the one decoding, spares per segment, and a hedge after HedgeDelay.
func (n *Node) getOptions(st *storage.GetStats) []storage.Option {
	return []storage.Option{
		storage.WithWindow(n.cfg.GetWindow),
		storage.WithSpares(n.cfg.GetSpares),
		storage.WithHedge(n.cfg.HedgeDelay),
		storage.WithTempDir(n.cfg.Home),
		storage.WithGetStats(st),
	}
}

// firstWriter signals its first write.
type firstWriter struct {
	w       io.Writer
	started chan struct{}
	once    sync.Once
}

func (f *firstWriter) Write(b []byte) (int, error) {
	f.once.Do(func() { close(f.started) })
	return f.w.Write(b)
}

// getReader is the read side of an Open; Close stops the fetch and waits.
type getReader struct {
	*bufPipe
	cancel context.CancelFunc
	done   chan error
}

func (g *getReader) Close() error {
	g.cancel()
	_ = g.bufPipe.Close()
	<-g.done
	return nil
}

// getPipeBuffer is the plaintext a get holds between decryption and its
// reader, so that decoding goes on while the reader (the API's HTTP
// response) sends what was decoded before.
const getPipeBuffer = 4 << 20

// minPipeBuffer is the least a get's pipe holds (count rounds up to it).
const minPipeBuffer = 64 << 10

// bufPipe is an in-memory pipe with a bounded buffer: Write blocks only
// while the buffer is full, Read only while it is empty. Unlike io.Pipe,
// the writer need not wait for the reader to take each write.
type bufPipe struct {
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte // ring of cap bytes
	start  int    // first unread byte
	n      int    // unread bytes
	werr   error  // set by CloseWithError: Read returns it once the buffer is drained
	closed bool   // the reader closed: writes fail
}

// newBufPipe returns the two ends (one value) of a pipe buffering size bytes.
func newBufPipe(size int) (*bufPipe, *bufPipe) {
	p := &bufPipe{buf: make([]byte, size)}
	p.cond.L = &p.mu
	return p, p
}

// Write copies b into the buffer, waiting for room as needed.
func (p *bufPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	done := 0
	for done < len(b) {
		for p.n == len(p.buf) && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			return done, io.ErrClosedPipe
		}
		if p.werr != nil {
			return done, errors.New("write after CloseWithError")
		}
		end := (p.start + p.n) % len(p.buf)
		room := len(p.buf) - p.n
		if end+room > len(p.buf) {
			room = len(p.buf) - end // up to the end of the ring first
		}
		c := copy(p.buf[end:end+room], b[done:])
		p.n += c
		done += c
		p.cond.Broadcast()
	}
	return done, nil
}

// Read takes buffered bytes, waiting for some; at the end it returns the
// writer's error, or io.EOF.
func (p *bufPipe) Read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n == 0 && p.werr == nil && !p.closed {
		p.cond.Wait()
	}
	if p.closed {
		return 0, io.ErrClosedPipe
	}
	if p.n == 0 {
		return 0, p.werr
	}
	c := copy(b, p.buf[p.start:min(p.start+p.n, len(p.buf))])
	p.start = (p.start + c) % len(p.buf)
	p.n -= c
	p.cond.Broadcast()
	return c, nil
}

// pipeWriteToChunk is the most WriteTo hands its writer at once: large
// enough that a response writer makes one system call per chunk instead of
// one per 32 KiB, small enough that the decoder waiting for room is woken
// well before the buffer drains.
const pipeWriteToChunk = 1 << 20

// WriteTo writes the buffered bytes to w straight from the ring, in
// chunks of up to pipeWriteToChunk, until the writer's end: nil after a
// CloseWithError(nil), else its error. io.Copy prefers it to Read, so
// the API's response takes the plaintext without another copy through a
// 32 KiB buffer (and without a handoff between the goroutines per 32 KiB).
func (p *bufPipe) WriteTo(w io.Writer) (int64, error) {
	var total int64
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		for p.n == 0 && p.werr == nil && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			return total, io.ErrClosedPipe
		}
		if p.n == 0 {
			if p.werr == io.EOF {
				return total, nil
			}
			return total, p.werr
		}
		// The writer only fills the ring outside [start, start+n), so
		// this chunk stays put while w takes it without the lock.
		c := min(p.n, len(p.buf)-p.start, pipeWriteToChunk)
		chunk := p.buf[p.start : p.start+c]
		p.mu.Unlock()
		m, err := w.Write(chunk)
		p.mu.Lock()
		if m > c {
			m = c
		}
		total += int64(m)
		p.start = (p.start + m) % len(p.buf)
		p.n -= m
		p.cond.Broadcast()
		if err != nil {
			return total, err
		}
		if m < c {
			return total, io.ErrShortWrite
		}
	}
}

// CloseWithError ends the writing side: once the buffer is drained, Read
// returns err (io.EOF if nil).
func (p *bufPipe) CloseWithError(err error) {
	if err == nil {
		err = io.EOF
	}
	p.mu.Lock()
	if p.werr == nil {
		p.werr = err
	}
	p.cond.Broadcast()
	p.mu.Unlock()
}

// Close ends the reading side: Read and Write fail from now on.
func (p *bufPipe) Close() error {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	return nil
}

// manifest loads a file's manifest from the local store, or fetches it
// from the file's holders (then DHT providers) and caches it.
func (n *Node) manifest(ctx context.Context, c storage.Capability, file *chain.File) (*manifest.Manifest, error) {
	if m, err := storage.LoadManifest(ctx, n.store, c); err == nil {
		return m, nil
	} else if errors.Is(err, storage.ErrWrongKey) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	} else if !errors.Is(err, blockstore.ErrNotFound) {
		return nil, err
	}
	var peers []peer.ID
	seen := map[chain.Address]bool{n.addr: true}
	if file != nil {
		for _, p := range file.Pieces {
			if seen[p.Holder] {
				continue
			}
			seen[p.Holder] = true
			if id, err := n.holderPeer(ctx, p.Holder); err == nil {
				peers = append(peers, id)
			}
		}
	}
	var errs []error
	try := func(p peer.ID) (*manifest.Manifest, bool) {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b, err := n.px.GetBytes(fctx, p, exchange.PieceID(c.FileID))
		if err == nil && int64(len(b)) > maxManifestBlock {
			err = fmt.Errorf("manifest of %d bytes", len(b))
		}
		if err != nil {
			errs = append(errs, err)
			return nil, false
		}
		m, err := storage.OpenManifest(c, b)
		if err != nil {
			errs = append(errs, err)
			return nil, false
		}
		if err := n.store.PutExpect(ctx, blockstore.Cache, c.FileID, bytesReader(b)); err != nil {
			n.log.Debug("caching manifest", "err", err)
		}
		return m, true
	}
	for _, p := range peers {
		if m, ok := try(p); ok {
			return m, nil
		}
	}
	if ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		provs, _ := n.host.FindProviders(pctx, c.FileID, 8)
		cancel()
		for _, ai := range provs {
			n.host.Libp2p().Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
			if m, ok := try(ai.ID); ok {
				return m, nil
			}
		}
	}
	for _, err := range errs {
		if errors.Is(err, storage.ErrWrongKey) {
			// The bytes matched the file id, so the capability's key is wrong.
			return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
	}
	if file == nil && len(errs) == 0 {
		return nil, fmt.Errorf("%w: file %s: not on the ledger and no peer provides its manifest", ErrNotFound, c.FileID)
	}
	if file == nil {
		return nil, fmt.Errorf("%w: file %s: not on the ledger, and the peers that announced its manifest failed: %w", ErrNotFound, c.FileID, errors.Join(errs...))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: file %s: manifest unavailable: no holder or provider reachable", ErrUnavailable, c.FileID)
	}
	return nil, fmt.Errorf("%w: file %s: manifest unavailable from %d holders: %w", ErrUnavailable, c.FileID, len(peers), errors.Join(errs...))
}

// holderPeer resolves a holder address to its peer via the ledger.
func (n *Node) holderPeer(ctx context.Context, a chain.Address) (peer.ID, error) {
	rec, err := n.lc.Node(ctx, a)
	if err != nil {
		return "", err
	}
	return n.peerOf(&rec)
}

// netSource fetches pieces for storage.Get: from the local store, else from
// the holders the ledger records (the holder of that very piece first; for
// K = 1 every holder of a copy), then DHT providers, one holder after the
// other until one delivers. A fetched piece streams into a storage.Spool
// (an unlinked temporary file beside the block store, hashed as it
// arrives), which storage.Get checks against the piece id before decoding;
// nothing fetched for a get enters the cache. storage.Get does the rest:
// it asks for K pieces of several segments at once (those this node holds
// first, see HasPiece, then data before parity), races spares
// and slow pieces (hedging) and cancels the losers.
type netSource struct {
	n      *Node
	file   *chain.File
	fileID blockstore.ID
	// keep puts the pieces fetched from the network in the cache area:
	// a ranged get (the mount's block reads) fetches whole pieces of a
	// segment, and the next range of that segment then reads them here.
	keep bool

	mu      sync.Mutex
	dhtMiss bool // a provider lookup found no one new: the DHT knows no more than the ledger
	peers   map[chain.Address]peer.ID
}

func (s *netSource) FetchPiece(ctx context.Context, ref storage.PieceRef) (io.ReadCloser, error) {
	if r, err := s.n.store.Open(ctx, ref.ID); err == nil {
		return r, nil
	}
	cands := s.ledgerCandidates(ctx, ref)
	tried := map[peer.ID]bool{}
	var errs []error
	for round := 0; round < 2; round++ {
		for _, p := range cands {
			if tried[p] {
				continue
			}
			tried[p] = true
			sp, err := s.fetchFrom(ctx, p, ref)
			if err == nil {
				if s.keep {
					if err := s.n.store.PutExpect(ctx, blockstore.Cache, ref.ID, io.NewSectionReader(sp, 0, sp.Size())); err != nil {
						s.n.log.Debug("keeping a fetched piece failed", "piece", ref.ID, "err", err)
					}
				}
				return sp, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
		}
		if round > 0 || s.dhtUseless() {
			break
		}
		cands = s.dhtCandidates(ctx, ref)
		fresh := false
		for _, p := range cands {
			fresh = fresh || !tried[p]
		}
		if !fresh {
			s.dhtMissed()
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no holder known for piece %s", ref.ID)
	}
	return nil, errors.Join(errs...)
}

// HasPiece reports whether this node's store holds the piece (pinned as
// one of its holders, or cached by an earlier ranged get): storage.Get
// then asks for it before the pieces it would fetch from other nodes.
func (s *netSource) HasPiece(ref storage.PieceRef) bool {
	_, ok := s.n.store.Has(ref.ID)
	return ok
}

// fetchFrom fetches a piece from p into a new spool, verified.
func (s *netSource) fetchFrom(ctx context.Context, p peer.ID, ref storage.PieceRef) (*storage.Spool, error) {
	if err := s.n.dead.check(p); err != nil {
		return nil, err
	}
	sp, err := storage.NewSpool(s.n.cfg.Home, ref.Size)
	if err != nil {
		return nil, err
	}
	if _, err := s.n.px.Get(ctx, p, exchange.PieceID(ref.ID), sp); err != nil {
		sp.Close()
		var ne net.Error
		if ctx.Err() == nil && (errors.Is(err, exchange.ErrUnreachable) || errors.As(err, &ne) && ne.Timeout()) {
			s.n.dead.mark(p)
		}
		return nil, err
	}
	s.n.dead.clear(p)
	return sp, nil
}

func (s *netSource) ledgerCandidates(ctx context.Context, ref storage.PieceRef) []peer.ID {
	if s.file == nil {
		return nil
	}
	var out []peer.ID
	for _, p := range s.file.Pieces {
		if int(p.Segment) != ref.Segment || blockstore.ID(p.ID) != ref.ID || p.Holder == s.n.addr {
			continue
		}
		id, err := s.peer(ctx, p.Holder)
		if err != nil || slices.Contains(out, id) {
			continue
		}
		if int(p.Index) == ref.Index {
			// The holder of this very piece first: the copies of a K = 1
			// segment share an id, and a hedge asking for copy i means
			// "someone other than the holder of copy 0".
			out = slices.Insert(out, 0, id)
		} else {
			out = append(out, id)
		}
	}
	return out
}

func (s *netSource) peer(ctx context.Context, a chain.Address) (peer.ID, error) {
	s.mu.Lock()
	id, ok := s.peers[a]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := s.n.holderPeer(ctx, a)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.peers == nil {
		s.peers = make(map[chain.Address]peer.ID)
	}
	s.peers[a] = id
	s.mu.Unlock()
	return id, nil
}

func (s *netSource) dhtUseless() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dhtMiss
}

func (s *netSource) dhtMissed() {
	s.mu.Lock()
	s.dhtMiss = true
	s.mu.Unlock()
}

func (s *netSource) dhtCandidates(ctx context.Context, ref storage.PieceRef) []peer.ID {
	ctx, cancel := context.WithTimeout(ctx, dhtFallbackTimeout)
	defer cancel()
	provs, err := s.n.host.FindProviders(ctx, ref.ID, 4)
	if err != nil {
		return nil
	}
	var out []peer.ID
	for _, ai := range provs {
		s.n.host.Libp2p().Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
		out = append(out, ai.ID)
	}
	return out
}
