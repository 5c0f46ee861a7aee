package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
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
// later ones cut the stream short with the error.
func (n *Node) open(ctx context.Context, capability string) (io.ReadCloser, int64, error) {
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
		if f, err := n.lc.File(ctx, chain.Hash(c.FileID)); err == nil {
			file = &f
		} else if !errors.Is(err, chain.ErrNotFound) {
			return nil, 0, fmt.Errorf("looking up file %s on the ledger: %w", c.FileID, err)
		}
	}
	if file != nil && file.Size == 0 && len(file.Pieces) == 0 {
		// An empty file has no pieces, so no holders to fetch its manifest
		// from, and nothing to decrypt: its 0 bytes need no key.
		return io.NopCloser(bytesReader(nil)), 0, nil
	}
	m, err := n.manifest(ctx, c, file)
	if err != nil {
		return nil, 0, err
	}
	m = widenManifest(m, file) // a raised file has more pieces than its manifest names
	ctx, cancel := context.WithCancel(ctx)
	pctx, pcancel := context.WithCancel(ctx)
	src := &netSource{n: n, file: file, fileID: c.FileID, m: m, k: int(m.K), ctx: pctx}
	pr, pw := io.Pipe()
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		fw := &firstWriter{w: pw, started: started}
		err := storage.Get(ctx, c, m, src, fw)
		pcancel()
		src.wait()
		pw.CloseWithError(err)
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
	return &getReader{PipeReader: pr, cancel: cancel, done: done}, int64(m.Size), nil
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
	*io.PipeReader
	cancel context.CancelFunc
	done   chan error
}

func (g *getReader) Close() error {
	g.cancel()
	_ = g.PipeReader.Close()
	<-g.done
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

// netSource fetches pieces for storage.Get: local store, then the holders
// the ledger records (for K = 1 every copy of the segment), then DHT
// providers; a holder slower than HedgeDelay gets company from the next
// candidate. Fetched pieces land in the cache area.
//
// While the storage layer rebuilds segment s it asks for the pieces of s;
// each such request also starts fetching the same piece of segment s+1 in
// the background (prefetch), so the network works while segments decode.
type netSource struct {
	n      *Node
	file   *chain.File
	fileID blockstore.ID
	m      *manifest.Manifest
	k      int
	ctx    context.Context // the whole get's; prefetches end with it

	mu       sync.Mutex
	dhtMiss  bool // a provider lookup found no one new: the DHT knows no more than the ledger
	peers    map[chain.Address]peer.ID
	inflight map[blockstore.ID]chan struct{}
	taken    map[int]map[int]bool // segment → piece indices asked for or claimed as spares
	wg       sync.WaitGroup
}

func (s *netSource) FetchPiece(ctx context.Context, ref storage.PieceRef) (io.ReadCloser, error) {
	s.prefetch(ref.Segment+1, ref.Index)
	s.mu.Lock()
	ch := s.inflight[ref.ID]
	s.mu.Unlock()
	if ch != nil {
		// A prefetch of this piece is under way; if it is slow, fetch
		// (and hedge) here as well rather than wait for it.
		t := time.NewTimer(s.n.cfg.HedgeDelay)
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
	}
	if r, err := s.n.store.Open(ctx, ref.ID); err == nil {
		return r, nil
	}
	s.take(ref.Segment, ref.Index)
	if s.uncacheable(ref) {
		return s.fetchUncached(ctx, ref)
	}
	return s.fetchNet(ctx, ref, true)
}

// uncacheable reports whether a piece is larger than this node's whole
// cache budget (a small --cache, or a file put with large segments), so it
// cannot be fetched into the cache.
func (s *netSource) uncacheable(ref storage.PieceRef) bool {
	return ref.Size > s.n.store.Stats().CacheBudget
}

// fetchUncached fetches a piece too large for the cache into an unlinked
// temporary file beside the block store, trying its holders one after the
// other (ledger first, then DHT providers). The exchange verifies the bytes
// against the piece id; the file disappears when the reader is closed. No
// prefetch, hedging or spares: this is the rare path.
func (s *netSource) fetchUncached(ctx context.Context, ref storage.PieceRef) (io.ReadCloser, error) {
	cands := s.ledgerCandidates(ctx, ref)
	tried := map[peer.ID]bool{}
	var errs []error
	try := func(p peer.ID) (io.ReadCloser, error) {
		tried[p] = true
		if err := s.n.dead.check(p); err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(s.n.cfg.Home, ".get-*.piece")
		if err != nil {
			return nil, err
		}
		_ = os.Remove(f.Name()) // unlinked: nothing is left behind, whatever happens
		if _, err := s.n.px.Get(ctx, p, exchange.PieceID(ref.ID), f); err != nil {
			f.Close()
			var ne net.Error
			if ctx.Err() == nil && (errors.Is(err, exchange.ErrUnreachable) || errors.As(err, &ne) && ne.Timeout()) {
				s.n.dead.mark(p)
			}
			return nil, err
		}
		s.n.dead.clear(p)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	for round := 0; round < 2; round++ {
		for _, p := range cands {
			if tried[p] {
				continue
			}
			rc, err := try(p)
			if err == nil {
				return rc, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			errs = append(errs, err)
		}
		if round == 0 && !s.dhtUseless() {
			cands = s.dhtCandidates(ctx, ref)
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no holder known for piece %s", ref.ID)
	}
	return nil, errors.Join(errs...)
}

// errOvertaken fails a slow piece once a spare piece of its segment is in
// the cache, so the storage layer moves on to the spare.
var errOvertaken = errors.New("slow; a spare piece of the segment arrived first")

// take marks a piece index of a segment as asked for (not a spare).
func (s *netSource) take(seg, idx int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken == nil {
		s.taken = make(map[int]map[int]bool)
	}
	if s.taken[seg] == nil {
		s.taken[seg] = make(map[int]bool)
	}
	s.taken[seg][idx] = true
}

// claimSpare picks the lowest piece index of segment seg at or above K that
// nobody asked for yet (storage asks for the lowest indices first, so the
// spare is the one it will ask for next).
func (s *netSource) claimSpare(seg int) (int, bool) {
	if s.m == nil || seg >= len(s.m.Segments) {
		return 0, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.taken == nil {
		s.taken = make(map[int]map[int]bool)
	}
	if s.taken[seg] == nil {
		s.taken[seg] = make(map[int]bool)
	}
	for j := s.k; j < len(s.m.Segments[seg].Pieces); j++ {
		if !s.taken[seg][j] {
			s.taken[seg][j] = true
			return j, true
		}
	}
	return 0, false
}

// prefetch starts fetching data piece idx of segment seg into the cache, once.
func (s *netSource) prefetch(seg, idx int) {
	if idx >= s.k {
		return
	}
	s.background(seg, idx)
}

// background starts fetching piece idx of segment seg into the cache, once,
// and returns its piece id and a channel closed when that fetch ends.
func (s *netSource) background(seg, idx int) (blockstore.ID, <-chan struct{}) {
	if s.m == nil || seg >= len(s.m.Segments) || idx >= len(s.m.Segments[seg].Pieces) {
		return blockstore.ID{}, nil
	}
	p := s.m.Segments[seg].Pieces[idx]
	ref := storage.PieceRef{FileID: s.fileID, Segment: seg, Index: idx, ID: p.ID, Size: int64(p.Size)}
	if s.uncacheable(ref) {
		return blockstore.ID{}, nil // no prefetch or spare into a cache it does not fit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = make(map[blockstore.ID]chan struct{})
	}
	if ch, ok := s.inflight[ref.ID]; ok {
		return ref.ID, ch
	}
	ch := make(chan struct{})
	s.inflight[ref.ID] = ch
	if _, ok := s.n.store.Has(ref.ID); ok {
		close(ch)
		return ref.ID, ch
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(ch)
		if rc, err := s.fetchNet(s.ctx, ref, false); err == nil {
			rc.Close()
		}
	}()
	return ref.ID, ch
}

// wait waits for prefetches still running (they end with the get's context).
func (s *netSource) wait() { s.wg.Wait() }

// fetchNet fetches a piece from the network into the cache and opens it.
// With spare set, a piece that is still slow after HedgeDelay with no
// other holder to ask gets a spare: the next unused piece of its segment
// is fetched in the background, and if it arrives first this piece fails
// with errOvertaken, so the storage layer rebuilds from the spare instead.
func (s *netSource) fetchNet(ctx context.Context, ref storage.PieceRef, spare bool) (io.ReadCloser, error) {
	cands := s.ledgerCandidates(ctx, ref)
	dhtDone := false
	var errs []error
	var (
		wg      sync.WaitGroup
		results = make(chan error, 16)
		running int
	)
	fctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		wg.Wait()
	}()
	tried := map[peer.ID]bool{}
	start := func(p peer.ID) {
		tried[p] = true
		if err := s.n.dead.check(p); err != nil {
			results <- err
			running++
			return
		}
		running++
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.fetchInto(fctx, p, ref)
		}()
	}
	next := func() bool {
		for len(cands) > 0 && tried[cands[0]] {
			cands = cands[1:]
		}
		if len(cands) == 0 && !dhtDone && !s.dhtUseless() {
			dhtDone = true
			for _, p := range s.dhtCandidates(fctx, ref) {
				if !tried[p] {
					cands = append(cands, p)
				}
			}
			if len(cands) == 0 {
				s.dhtMissed()
			}
		}
		if len(cands) == 0 {
			return false
		}
		start(cands[0])
		cands = cands[1:]
		return true
	}
	if !next() {
		return nil, fmt.Errorf("no holder known for piece %s", ref.ID)
	}
	hedge := time.NewTimer(s.n.cfg.HedgeDelay)
	defer hedge.Stop()
	var (
		spareID   blockstore.ID
		spareDone <-chan struct{}
		spareIdx  = -1
	)
	for running > 0 {
		select {
		case err := <-results:
			running--
			if err == nil {
				return s.n.store.Open(ctx, ref.ID)
			}
			errs = append(errs, err)
			if running == 0 && ctx.Err() == nil {
				next()
			}
		case <-hedge.C:
			if !next() && spare && spareIdx < 0 {
				if j, ok := s.claimSpare(ref.Segment); ok {
					spareIdx = j
					spareID, spareDone = s.background(ref.Segment, j)
				}
			}
			hedge.Reset(s.n.cfg.HedgeDelay)
		case <-spareDone:
			spareDone = nil
			if _, ok := s.n.store.Has(spareID); ok {
				return nil, fmt.Errorf("%w (piece %d of segment %d overtaken by piece %d)", errOvertaken, ref.Index, ref.Segment, spareIdx)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return nil, errors.Join(errs...)
}

// fetchInto fetches a piece from p into the cache area, verified.
func (s *netSource) fetchInto(ctx context.Context, p peer.ID, ref storage.PieceRef) error {
	w, err := s.n.store.Create(ctx, blockstore.Cache)
	if err != nil {
		return err
	}
	if _, err := s.n.px.Get(ctx, p, exchange.PieceID(ref.ID), w); err != nil {
		w.Abort()
		var ne net.Error
		if ctx.Err() == nil && (errors.Is(err, exchange.ErrUnreachable) || errors.As(err, &ne) && ne.Timeout()) {
			s.n.dead.mark(p)
		}
		return err
	}
	s.n.dead.clear(p)
	if err := w.CommitAs(ref.ID); err != nil {
		return err
	}
	return nil
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
		if id, err := s.peer(ctx, p.Holder); err == nil {
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
