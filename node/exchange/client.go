package exchange

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// request opens a stream to p, sends req and returns the stream with a
// buffered reader. The stream is reset if ctx ends; the returned stop
// function must be called when done. At most MaxOutboundPerPeer requests
// to one peer are open at once: more wait here for a slot.
func (x *Exchange) request(ctx context.Context, p peer.ID, req *Message) (network.Stream, *bufio.Reader, func(), error) {
	if x.ctx.Err() != nil {
		return nil, nil, nil, ErrClosed
	}
	free, err := x.outSlot(ctx, p)
	if err != nil {
		return nil, nil, nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, x.cfg.DialTimeout)
	s, err := x.host.NewStream(dctx, p, ProtocolID)
	cancel()
	if err != nil {
		free()
		return nil, nil, nil, &UnreachableError{Peer: p, Err: ctxErr(ctx, err)}
	}
	stopCtx := context.AfterFunc(ctx, func() { _ = s.Reset() })
	stopClose := context.AfterFunc(x.ctx, func() { _ = s.Reset() })
	var once sync.Once
	stop := func() { stopCtx(); stopClose(); once.Do(free) }
	body, err := req.Marshal()
	if err != nil {
		stop()
		_ = s.Reset()
		return nil, nil, nil, fmt.Errorf("exchange: encoding %s for %s: %w", req.Type, shortID(p), err)
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeFrame(s, body); err != nil {
		stop()
		_ = s.Reset()
		if ctx.Err() == nil {
			// The stream opened but the request did not go out: the
			// connection was reset under it (the peer just went away).
			return nil, nil, nil, &UnreachableError{Peer: p, Err: fmt.Errorf("sending %s: %w", req.Type, err)}
		}
		return nil, nil, nil, fmt.Errorf("exchange: sending %s to %s: %w", req.Type, shortID(p), ctxErr(ctx, err))
	}
	return s, bufio.NewReaderSize(s, 4096), stop, nil
}

// readResponse reads a Response; a non-OK status becomes a *RemoteError.
func (x *Exchange) readResponse(ctx context.Context, s network.Stream, br *bufio.Reader, timeout time.Duration) (*Message, error) {
	return x.readResponseLimit(ctx, s, br, timeout, MaxMessageSize)
}

// readResponseLimit is readResponse for a response of at most limit bytes.
func (x *Exchange) readResponseLimit(ctx context.Context, s network.Stream, br *bufio.Reader, timeout time.Duration, limit int) (*Message, error) {
	p := s.Conn().RemotePeer()
	_ = s.SetReadDeadline(time.Now().Add(timeout))
	m, err := readMessage(br, limit)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		if ctx.Err() == nil && !errors.Is(err, ErrMalformed) {
			// No answer at all: the peer is gone or not serving.
			return nil, &UnreachableError{Peer: p, Err: fmt.Errorf("no answer: %w", err)}
		}
		return nil, fmt.Errorf("exchange: reading answer from %s: %w", shortID(p), ctxErr(ctx, err))
	}
	if m.Type != TypeResponse {
		return nil, fmt.Errorf("%w: peer %s answered with a %s", ErrMalformed, shortID(p), m.Type)
	}
	if m.Status != StatusOK {
		return nil, &RemoteError{Peer: p, Status: m.Status, Message: m.Error}
	}
	return m, nil
}

// ctxErr prefers the context's error over the stream reset it caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// PieceVerifier is a destination for Get that hashes what it is given
// itself (storage.Spool does): Get then leaves the hashing to it, so the
// bytes are hashed once, and asks it at the end whether they match.
type PieceVerifier interface {
	io.Writer
	// VerifyPiece reports whether the id (proofs.ID) of the bytes written
	// is id.
	VerifyPiece(id [32]byte) error
}

// copyBufs recycles Get's copy buffers.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Get fetches a whole piece from p into w and verifies it against id (with
// w's own hash if w is a PieceVerifier). On ErrHashMismatch w has received
// bytes that are not the piece: discard them. It returns the piece size.
func (x *Exchange) Get(ctx context.Context, p peer.ID, id PieceID, w io.Writer) (int64, error) {
	s, br, stop, err := x.request(ctx, p, &Message{Version: Version, Type: TypeGet, Piece: id[:]})
	if err != nil {
		return 0, err
	}
	defer stop()
	defer s.Reset() // one request per stream; nothing more to read
	_ = s.CloseWrite()
	resp, err := x.readResponse(ctx, s, br, x.cfg.HeaderTimeout)
	if err != nil {
		return 0, err
	}
	if resp.Size > uint64(x.cfg.MaxPieceSize) {
		return 0, fmt.Errorf("%w: peer %s offers piece %s of %d bytes, limit %d", ErrTooLarge, shortID(p), id, resp.Size, x.cfg.MaxPieceSize)
	}
	size := int64(resp.Size)
	in := &idleReader{s: s, r: br, idle: x.cfg.IdleTimeout}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	if pv, ok := w.(PieceVerifier); ok {
		n, err := copyFull(pv, io.LimitReader(in, size), size, *buf)
		if err != nil {
			return n, fmt.Errorf("exchange: receiving piece %s from %s: %w", id, shortID(p), ctxErr(ctx, err))
		}
		if err := pv.VerifyPiece(id); err != nil {
			return n, fmt.Errorf("piece %s from %s: %w: %w", id, shortID(p), ErrHashMismatch, err)
		}
		return n, nil
	}
	vr := newVerifyingReader(in, id, size)
	n, err := copyFull(w, vr, size, *buf)
	if err != nil {
		if errors.Is(err, ErrHashMismatch) {
			return n, fmt.Errorf("piece %s from %s: %w", id, shortID(p), err)
		}
		return n, fmt.Errorf("exchange: receiving piece %s from %s: %w", id, shortID(p), ctxErr(ctx, err))
	}
	return n, nil
}

// copyFull copies exactly n bytes from r to w in writes that fill buf (a
// stream yields a few KiB per read; writing each to a file costs a system
// call and page-cache work per read). At the end it reads r once more, so
// that a verifying reader reports its verdict (r must end after n bytes:
// limit a stream).
func copyFull(w io.Writer, r io.Reader, n int64, buf []byte) (int64, error) {
	var done int64
	for done < n {
		b := buf[:min(int64(len(buf)), n-done)]
		k, err := io.ReadFull(r, b)
		if k > 0 {
			m, werr := w.Write(b[:k])
			done += int64(m)
			if werr != nil {
				return done, werr
			}
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return done, err
		}
	}
	if _, err := r.Read(buf[:1]); err != io.EOF {
		if err == nil {
			err = errors.New("more bytes than announced")
		}
		return done, err
	}
	return done, nil
}

// GetBytes fetches and verifies a whole piece into memory. Memory grows with
// the bytes actually received, not with the size the peer announced.
func (x *Exchange) GetBytes(ctx context.Context, p peer.ID, id PieceID) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := x.Get(ctx, p, id, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// GetRange fetches leaves [leafStart, leafStart+leafCount) of a piece (each
// LeafSize bytes, the piece's last leaf possibly shorter). The bytes are not
// verified here: check them against the piece's commitment.
func (x *Exchange) GetRange(ctx context.Context, p peer.ID, id PieceID, leafStart, leafCount uint64) ([]byte, error) {
	if leafCount == 0 || leafCount > x.cfg.MaxRangeLeaves {
		return nil, fmt.Errorf("%w: range of %d leaves (limit %d)", ErrTooLarge, leafCount, x.cfg.MaxRangeLeaves)
	}
	s, br, stop, err := x.request(ctx, p, &Message{Version: Version, Type: TypeGetRange, Piece: id[:], LeafStart: leafStart, LeafCount: leafCount})
	if err != nil {
		return nil, err
	}
	defer stop()
	defer s.Reset()
	_ = s.CloseWrite()
	resp, err := x.readResponse(ctx, s, br, x.cfg.HeaderTimeout)
	if err != nil {
		return nil, err
	}
	if resp.Size > leafCount*LeafSize {
		return nil, fmt.Errorf("%w: peer %s sends %d bytes for %d leaves", ErrMalformed, shortID(p), resp.Size, leafCount)
	}
	out := make([]byte, resp.Size)
	if _, err := io.ReadFull(&idleReader{s: s, r: br, idle: x.cfg.IdleTimeout}, out); err != nil {
		return nil, fmt.Errorf("exchange: receiving leaves of %s from %s: %w", id, shortID(p), ctxErr(ctx, err))
	}
	return out, nil
}

// Push offers a piece to p and, once p accepts it, sends push.Size bytes
// read from r. It returns nil only after p confirmed it received the piece
// and checked its id (the holder may make it durable later, before it
// signs a receipt for it).
// A refusal is a *RemoteError matching ErrRejected (or ErrTooLarge).
func (x *Exchange) Push(ctx context.Context, p peer.ID, push Push, r io.Reader) error {
	if push.Size <= 0 || push.Size > x.cfg.MaxPieceSize {
		return fmt.Errorf("%w: piece of %d bytes (limit %d)", ErrTooLarge, push.Size, x.cfg.MaxPieceSize)
	}
	req := &Message{
		Version: Version,
		Type:    TypePush,
		Piece:   push.Piece[:],
		Size:    uint64(push.Size),
		Owner:   push.Owner,
	}
	if push.File != ([32]byte{}) {
		req.File = push.File[:]
	}
	if err := req.Validate(); err != nil {
		return err
	}
	s, br, stop, err := x.request(ctx, p, req)
	if err != nil {
		return err
	}
	defer stop()
	defer s.Close()
	if _, err := x.readResponse(ctx, s, br, x.cfg.HeaderTimeout); err != nil {
		_ = s.Reset()
		return err
	}
	w := &pacedWriter{ctx: ctx, s: s, lim: x.limit, idle: x.cfg.IdleTimeout}
	if _, err := copyN(w, r, push.Size); err != nil {
		_ = s.Reset()
		return fmt.Errorf("exchange: pushing piece %s to %s: %w", push.Piece, shortID(p), ctxErr(ctx, err))
	}
	_ = s.CloseWrite()
	// The holder hashes the piece (and writes it) before confirming;
	// allow it the idle timeout for that.
	if _, err := x.readResponse(ctx, s, br, x.cfg.IdleTimeout); err != nil {
		return err
	}
	return nil
}

// RequestReceipt asks holder p to sign a receipt for pieces it took in put
// req.Put of file req.File (see Sink.SignReceipt). A refusal is a
// *RemoteError matching ErrRejected; more than MaxReceiptPieces pieces is
// ErrTooLarge before anything is sent. The signature is not checked here:
// verify it against the placement (chain.Receipt.Verify) before using it.
func (x *Exchange) RequestReceipt(ctx context.Context, p peer.ID, req ReceiptRequest) (Receipt, error) {
	if len(req.Pieces) > MaxReceiptPieces {
		return Receipt{}, fmt.Errorf("%w: receipt for %d pieces (limit %d per holder and file)", ErrTooLarge, len(req.Pieces), MaxReceiptPieces)
	}
	m := &Message{Version: Version, Type: TypeReceipt, File: req.Put[:], FileID: req.File[:], Entries: make([]ReceiptEntry, len(req.Pieces))}
	for i, rp := range req.Pieces {
		m.Entries[i] = ReceiptEntry{Piece: rp.Piece[:], Root: rp.Root[:], Size: uint64(rp.Size)}
	}
	if err := m.Validate(); err != nil {
		return Receipt{}, err
	}
	s, br, stop, err := x.request(ctx, p, m)
	if err != nil {
		return Receipt{}, err
	}
	defer stop()
	defer s.Reset()
	_ = s.CloseWrite()
	// The holder reads its ledger before signing; allow it the idle timeout.
	resp, err := x.readResponse(ctx, s, br, x.cfg.IdleTimeout)
	if err != nil {
		return Receipt{}, err
	}
	if len(resp.Sig) == 0 || resp.Expires == 0 {
		return Receipt{}, fmt.Errorf("%w: peer %s answered a receipt request without a signature or expiry", ErrMalformed, shortID(p))
	}
	return Receipt{Expires: int64(resp.Expires), Sig: resp.Sig}, nil
}
