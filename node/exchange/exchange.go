package exchange

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// PieceID is a piece's content address: proofs.ID of its bytes, their
// Merkle commitment (the root the ledger records and the holder proves
// against) bound to their size, so one pass over the bytes gives both.
type PieceID [32]byte

// String is the id in lowercase hex.
func (id PieceID) String() string { return hex.EncodeToString(id[:]) }

// PieceReader is a held piece, readable at any offset.
type PieceReader interface {
	io.ReaderAt
	io.Closer
	// Size is the piece's length in bytes.
	Size() int64
}

// Source gives the exchange the pieces this node serves.
type Source interface {
	// OpenPiece opens a held piece. It returns an error wrapping
	// ErrNotFound if the node does not hold it.
	OpenPiece(ctx context.Context, id PieceID) (PieceReader, error)
}

// Push describes a piece offered to this node. Its id binds its Merkle
// commitment, which the holder computes in the pass that checks the id, so
// a push names no separate root.
type Push struct {
	From  peer.ID
	Piece PieceID
	Size  int64
	Owner ed25519.PublicKey // the account placing the file
	File  [32]byte          // groups one put's pushes (the uploader's put id); zero if not given
}

// ReceiptPiece is one piece a receipt request names, as the owner will
// record it on the ledger.
type ReceiptPiece struct {
	Piece PieceID
	Root  [32]byte // Merkle root
	Size  int64
}

// ReceiptRequest asks a holder to sign a receipt for the pieces it took in
// one put: the holder's pieces of ledger file File, in PlaceFile order.
type ReceiptRequest struct {
	From   peer.ID  // the requesting peer (set by the server)
	Put    [32]byte // the put id the pushes carried (Push.File)
	File   [32]byte // the file id the placement records
	Pieces []ReceiptPiece
}

// Receipt is a holder's answer to a ReceiptRequest: the last block height
// the receipt is good for and its ed25519 signature over the ledger's
// receipt bytes (chain.ReceiptSignBytes). The holder's key is its peer id's.
type Receipt struct {
	Expires int64
	Sig     []byte
}

// Sink decides on and stores pushed pieces, and receipts them. It is where
// placement rules (quota, expected placements, commitments) plug in. The
// exchange calls its methods from the goroutine serving each stream,
// concurrently for different streams.
type Sink interface {
	// AcceptPush is called before any byte of the piece is sent; an error
	// (wrap ErrRejected) refuses the push with its text as the reason.
	AcceptPush(ctx context.Context, p Push) error
	// ReceivePush takes the piece read from r; the exchange confirms the
	// push when it returns nil. r yields exactly p.Size bytes and then
	// io.EOF (io.ErrUnexpectedEOF if the stream ends early). The exchange
	// does not hash them: the sink must check that their id (proofs.ID)
	// is p.Piece in the pass that writes them, keep nothing otherwise and
	// return an error wrapping ErrHashMismatch (or ErrRejected). On any
	// read error it must keep nothing. It must read r to the end before
	// returning nil. It may return before the piece is durable (the
	// node's holder fsyncs it in the background), but then SignReceipt
	// must not sign for the piece until it is.
	ReceivePush(ctx context.Context, p Push, r io.Reader) error
	// SignReceipt signs a receipt for pieces this node took in put r.Put,
	// or refuses (wrap ErrRejected) with the reason: a requester that is
	// not the pieces' owner, a piece not received for that put, a root or
	// size other than the ones the node verified.
	SignReceipt(ctx context.Context, r ReceiptRequest) (Receipt, error)
}

// Exchange serves /coop/pieces/1 on a libp2p host and fetches and pushes
// pieces from and to peers. Close stops serving and waits for requests in
// progress.
type Exchange struct {
	host  host.Host
	cfg   Config
	src   Source
	sink  Sink
	limit *rate.Limiter
	log   *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
	perPeer map[peer.ID]int
	total   int
	// outbound holds, per peer with requests open, a slot per request
	// (MaxOutboundPerPeer); the entry goes when its last user leaves.
	outbound map[peer.ID]*outSlots
}

// outSlots are one peer's outbound request slots and how many requests
// hold or wait for one.
type outSlots struct {
	slots chan struct{}
	users int
}

// New starts serving the exchange on h. src serves gets; sink receives
// pushes (nil refuses all pushes).
func New(h host.Host, cfg Config, src Source, sink Sink) (*Exchange, error) {
	if cfg.MaxPieceSize <= 0 || cfg.MaxRangeLeaves == 0 || cfg.MaxStreamsPerPeer <= 0 || cfg.MaxStreams <= 0 || cfg.MaxOutboundPerPeer <= 0 ||
		cfg.DialTimeout <= 0 || cfg.HeaderTimeout <= 0 || cfg.IdleTimeout <= 0 || cfg.UploadRate < 0 {
		return nil, fmt.Errorf("exchange: invalid config %+v", cfg)
	}
	if src == nil {
		return nil, fmt.Errorf("exchange: nil Source")
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &Exchange{
		host:     h,
		cfg:      cfg,
		src:      src,
		sink:     sink,
		log:      slog.Default().With("component", "exchange", "peer", shortID(h.ID())),
		ctx:      ctx,
		cancel:   cancel,
		perPeer:  make(map[peer.ID]int),
		outbound: make(map[peer.ID]*outSlots),
	}
	if cfg.UploadRate > 0 {
		burst := max(cfg.UploadBurst, 2*chunkSize)
		x.limit = rate.NewLimiter(rate.Limit(cfg.UploadRate), burst)
	}
	h.SetStreamHandler(ProtocolID, x.handle)
	return x, nil
}

// Close stops serving, cancels requests in progress and waits for them.
func (x *Exchange) Close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.mu.Unlock()
	x.host.RemoveStreamHandler(ProtocolID)
	x.cancel()
	x.wg.Wait()
	return nil
}

// acquire reserves an inbound slot for p; false if a limit is reached or the
// exchange is closed.
func (x *Exchange) acquire(p peer.ID) (ok, closed bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return false, true
	}
	if x.total >= x.cfg.MaxStreams || x.perPeer[p] >= x.cfg.MaxStreamsPerPeer {
		return false, false
	}
	x.total++
	x.perPeer[p]++
	x.wg.Add(1)
	return true, false
}

func (x *Exchange) release(p peer.ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.total--
	if x.perPeer[p]--; x.perPeer[p] == 0 {
		delete(x.perPeer, p)
	}
	x.wg.Done()
}

// outSlot waits for one of p's outbound request slots and returns the
// function that frees it; it fails if ctx ends or the exchange closes
// first.
func (x *Exchange) outSlot(ctx context.Context, p peer.ID) (func(), error) {
	x.mu.Lock()
	o := x.outbound[p]
	if o == nil {
		o = &outSlots{slots: make(chan struct{}, x.cfg.MaxOutboundPerPeer)}
		x.outbound[p] = o
	}
	o.users++
	x.mu.Unlock()
	leave := func() {
		x.mu.Lock()
		if o.users--; o.users == 0 {
			delete(x.outbound, p)
		}
		x.mu.Unlock()
	}
	select {
	case o.slots <- struct{}{}:
		return func() { <-o.slots; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, fmt.Errorf("exchange: waiting for a request slot to %s: %w", shortID(p), ctx.Err())
	case <-x.ctx.Done():
		leave()
		return nil, ErrClosed
	}
}
