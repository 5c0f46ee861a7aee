package exchange

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/network"
)

// handle serves one inbound stream: one request, its answer, then close.
func (x *Exchange) handle(s network.Stream) {
	from := s.Conn().RemotePeer()
	ok, closed := x.acquire(from)
	if closed {
		_ = s.Reset()
		return
	}
	if !ok {
		_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
		_ = writeMessage(s, errorResponse(StatusBusy, "too many concurrent requests"))
		_ = s.Close()
		return
	}
	defer x.release(from)

	ctx, cancel := context.WithCancel(x.ctx)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()

	if err := x.serve(ctx, s); err != nil {
		x.log.Debug("request failed", "from", shortID(from), "err", err)
		if errors.Is(err, errAnswered) {
			_ = s.Close()
		} else {
			_ = s.Reset()
		}
		return
	}
	_ = s.Close()
}

// errAnswered marks a failure the peer has been told about in a Response.
var errAnswered = errors.New("answered")

// fail answers an error Response and returns an error wrapping errAnswered
// (or the write failure).
func (x *Exchange) fail(s network.Stream, status Status, err error) error {
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if werr := writeMessage(s, errorResponse(status, err.Error())); werr != nil {
		return fmt.Errorf("%w (answering: %w)", err, werr)
	}
	return fmt.Errorf("%w: %w", errAnswered, err)
}

func errorResponse(status Status, text string) *Message {
	if len(text) > maxErrorLen {
		text = text[:maxErrorLen]
	}
	for !utf8.ValidString(text) {
		text = text[:len(text)-1]
	}
	return &Message{Version: Version, Type: TypeResponse, Status: status, Error: text}
}

func (x *Exchange) serve(ctx context.Context, s network.Stream) error {
	br := bufio.NewReaderSize(s, 4096)
	_ = s.SetReadDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	req, err := readMessage(br, maxFrameSize)
	if err != nil {
		if err == io.EOF {
			return fmt.Errorf("stream closed before a request")
		}
		return x.fail(s, statusOf(err, StatusBadRequest), err)
	}
	switch req.Type {
	case TypeGet:
		return x.serveGet(ctx, s, req, false)
	case TypeGetRange:
		return x.serveGet(ctx, s, req, true)
	case TypePush:
		return x.servePush(ctx, s, br, req)
	case TypeReceipt:
		return x.serveReceipt(ctx, s, req)
	case TypeLeaf:
		return x.serveLeaf(ctx, s, req)
	case TypeJobKeys:
		return x.serveJobKeys(ctx, s, req)
	default:
		return x.fail(s, StatusBadRequest, fmt.Errorf("%w: unexpected %s message", ErrMalformed, req.Type))
	}
}

func (x *Exchange) serveGet(ctx context.Context, s network.Stream, req *Message, ranged bool) error {
	id := PieceID(req.Piece)
	if ranged && req.LeafCount > x.cfg.MaxRangeLeaves {
		return x.fail(s, StatusTooLarge, fmt.Errorf("%w: %d leaves requested, limit %d", ErrTooLarge, req.LeafCount, x.cfg.MaxRangeLeaves))
	}
	p, err := x.src.OpenPiece(ctx, id)
	if err != nil {
		return x.fail(s, statusOf(err, StatusInternal), fmt.Errorf("piece %s: %w", id, err))
	}
	defer p.Close()
	size := p.Size()
	off, n := int64(0), size
	if ranged {
		leaves := (uint64(size) + LeafSize - 1) / LeafSize
		if req.LeafStart >= leaves || req.LeafCount > leaves-req.LeafStart {
			return x.fail(s, StatusBadRequest, fmt.Errorf("%w: leaves [%d,+%d) outside a piece of %d leaves",
				ErrMalformed, req.LeafStart, req.LeafCount, leaves))
		}
		off = int64(req.LeafStart * LeafSize)
		n = min(int64(req.LeafCount*LeafSize), size-off)
	}
	if n > x.cfg.MaxPieceSize {
		return x.fail(s, StatusInternal, fmt.Errorf("held piece %s of %d bytes exceeds the piece size limit", id, n))
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, &Message{Version: Version, Type: TypeResponse, Status: StatusOK, Size: uint64(n)}); err != nil {
		return fmt.Errorf("answering: %w", err)
	}
	w := &pacedWriter{ctx: ctx, s: s, lim: x.limit, idle: x.cfg.IdleTimeout}
	if _, err := copyN(w, io.NewSectionReader(p, off, n), n); err != nil {
		return fmt.Errorf("sending piece %s: %w", id, err)
	}
	return nil
}

func (x *Exchange) servePush(ctx context.Context, s network.Stream, br *bufio.Reader, req *Message) error {
	if x.sink == nil {
		return x.fail(s, StatusRejected, fmt.Errorf("%w: this node accepts no pushes", ErrRejected))
	}
	if req.Size > uint64(x.cfg.MaxPieceSize) {
		return x.fail(s, StatusTooLarge, fmt.Errorf("%w: piece of %d bytes, limit %d", ErrTooLarge, req.Size, x.cfg.MaxPieceSize))
	}
	push := Push{
		From:  s.Conn().RemotePeer(),
		Piece: PieceID(req.Piece),
		Size:  int64(req.Size),
		Owner: ed25519.PublicKey(req.Owner),
	}
	if req.File != nil {
		push.File = [32]byte(req.File)
	}
	if err := x.sink.AcceptPush(ctx, push); err != nil {
		return x.fail(s, statusOf(err, StatusRejected), err)
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, &Message{Version: Version, Type: TypeResponse, Status: StatusOK}); err != nil {
		return fmt.Errorf("accepting push: %w", err)
	}
	// The sink hashes the piece as it stores it (one pass): see ReceivePush.
	in := &exactReader{r: &idleReader{s: s, r: br, idle: x.cfg.IdleTimeout}, left: push.Size}
	if err := x.sink.ReceivePush(ctx, push, in); err != nil {
		return x.fail(s, statusOf(err, StatusInternal), fmt.Errorf("storing piece %s: %w", push.Piece, err))
	}
	if !in.done() {
		return x.fail(s, StatusInternal, fmt.Errorf("storing piece %s: sink returned before reading the whole piece", push.Piece))
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, &Message{Version: Version, Type: TypeResponse, Status: StatusOK}); err != nil {
		return fmt.Errorf("confirming push: %w", err)
	}
	return nil
}

func (x *Exchange) serveReceipt(ctx context.Context, s network.Stream, req *Message) error {
	if x.sink == nil {
		return x.fail(s, StatusRejected, fmt.Errorf("%w: this node holds no pushed pieces", ErrRejected))
	}
	rr := ReceiptRequest{From: s.Conn().RemotePeer(), Put: [32]byte(req.File), File: [32]byte(req.FileID), Pieces: make([]ReceiptPiece, len(req.Entries))}
	for i, e := range req.Entries {
		rr.Pieces[i] = ReceiptPiece{Piece: PieceID(e.Piece), Root: [32]byte(e.Root), Size: int64(e.Size)}
	}
	r, err := x.sink.SignReceipt(ctx, rr)
	if err != nil {
		return x.fail(s, statusOf(err, StatusRejected), err)
	}
	if r.Expires <= 0 || len(r.Sig) != ed25519.SignatureSize {
		return x.fail(s, StatusInternal, fmt.Errorf("sink signed a receipt with expiry %d and a %d-byte signature", r.Expires, len(r.Sig)))
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, &Message{Version: Version, Type: TypeResponse, Status: StatusOK, Expires: uint64(r.Expires), Sig: r.Sig}); err != nil {
		return fmt.Errorf("answering receipt request: %w", err)
	}
	return nil
}
