package exchange

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/node/p2p"
)

func frame(body []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(body)))
	return append(out, body...)
}

func cborOf(t *testing.T, v any) []byte {
	b, err := encMode.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHostileStreamsEndOnlyThatStream sends malformed, oversized and
// unexpected messages on raw streams and checks that each stream gets an
// error answer or is closed, while the node keeps serving.
func TestHostileStreamsEndOnlyThatStream(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HeaderTimeout = 500 * time.Millisecond
	cfg.MaxPieceSize = 1 << 20
	p := newPair(t, cfg)
	id, data := randomPiece(t, 64<<10)
	p.sb.Add(id, data)
	piece := id[:]
	owner := make([]byte, 32)
	good := func(typ Type) map[int]any {
		return map[int]any{1: Version, 2: uint8(typ), 3: piece}
	}
	with := func(m map[int]any, k int, v any) map[int]any {
		m[k] = v
		return m
	}
	var bigUvarint []byte
	bigUvarint = binary.AppendUvarint(bigUvarint, 1<<62)
	cases := []struct {
		name    string
		payload []byte
		want    Status // 0: the stream may simply be closed
	}{
		{"garbage bytes", bytes.Repeat([]byte{0xff}, 64), StatusBadRequest},
		{"a frame length over the limit", append(binary.AppendUvarint(nil, MaxMessageSize+1), make([]byte, 2000)...), StatusBadRequest},
		{"a frame length of 2^62", append(bigUvarint, 1, 2, 3), StatusBadRequest},
		{"an empty frame", []byte{0}, StatusBadRequest},
		{"a truncated frame", append(binary.AppendUvarint(nil, 100), make([]byte, 10)...), StatusBadRequest},
		{"CBOR that is not a map", frame(cborOf(t, 5)), StatusBadRequest},
		{"CBOR with trailing bytes", frame(append(cborOf(t, good(TypeGet)), 0)), StatusBadRequest},
		{"an unknown field", frame(cborOf(t, with(good(TypeGet), 99, 1))), StatusBadRequest},
		{"a duplicate key", frame([]byte{0xa3, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01}), StatusBadRequest},
		{"indefinite-length CBOR", frame([]byte{0xbf, 0x01, 0x01, 0xff}), StatusBadRequest},
		{"another version", frame(cborOf(t, with(good(TypeGet), 1, 2))), StatusBadVersion},
		{"an unknown message type", frame(cborOf(t, good(Type(9)))), StatusBadRequest},
		{"a response sent as a request", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeResponse), 10: uint8(StatusOK)})), StatusBadRequest},
		{"a piece id of 31 bytes", frame(cborOf(t, with(good(TypeGet), 3, piece[:31]))), StatusBadRequest},
		{"a get with push fields", frame(cborOf(t, with(good(TypeGet), 6, 10))), StatusBadRequest},
		{"a range of zero leaves", frame(cborOf(t, good(TypeGetRange))), StatusBadRequest},
		{"a range over the leaf limit", frame(cborOf(t, with(with(good(TypeGetRange), 4, 0), 5, cfg.MaxRangeLeaves+1))), StatusTooLarge},
		{"a push over the size limit", frame(cborOf(t, with(with(good(TypePush), 6, uint64(1)<<40), 8, owner))), StatusTooLarge},
		{"a push without owner", frame(cborOf(t, with(good(TypePush), 6, 10))), StatusBadRequest},
		{"a push naming a commitment", frame(cborOf(t, with(with(with(good(TypePush), 6, 10), 7, piece), 8, owner))), StatusBadRequest},
		{"a push whose bytes stop early", append(frame(cborOf(t, with(with(good(TypePush), 6, 1000), 8, owner))), make([]byte, 10)...), 0},
		{"a push of bytes that do not match", append(frame(cborOf(t, with(with(good(TypePush), 6, 1000), 8, owner))), make([]byte, 1000)...), 0},
		{"a receipt request for no pieces", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeReceipt), 9: piece, 13: piece})), StatusBadRequest},
		{"a receipt request over the piece limit", frame(cborOf(t, fullReceiptRequest(MaxReceiptPieces+1))), StatusBadRequest},
		{"a frame length over the receipt limit", append(binary.AppendUvarint(nil, MaxReceiptMessageSize+1), make([]byte, 2000)...), StatusBadRequest},
		{"a receipt entry that is not an array", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeReceipt), 9: piece, 13: piece, 12: []any{5}})), StatusBadRequest},
		{"a receipt request with a signature", frame(cborOf(t, with(fullReceiptRequestMap(piece), 15, make([]byte, 64)))), StatusBadRequest},
		{"a receipt request the store refuses", frame(cborOf(t, fullReceiptRequestMap(piece))), StatusRejected},
		{"a leaf request without a root", frame(cborOf(t, with(good(TypeLeaf), 13, piece))), StatusBadRequest},
		{"a leaf request carrying a proof", frame(cborOf(t, with(with(with(good(TypeLeaf), 13, piece), 7, piece), 19, []byte{1}))), StatusBadRequest},
		{"a leaf request the store refuses", frame(cborOf(t, with(with(good(TypeLeaf), 13, piece), 7, piece))), StatusRejected},
		{"a job-keys request without a job id", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeJobKeys)})), StatusBadRequest},
		{"a job-keys request with a 31-byte job id", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeJobKeys), 21: piece[:31]})), StatusBadRequest},
		{"a job-keys request naming a piece", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeJobKeys), 21: piece, 3: piece})), StatusBadRequest},
		{"a job-keys request carrying sealed keys", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeJobKeys), 21: piece, 22: []any{[]any{1, make([]byte, 113)}}})), StatusBadRequest},
		{"a job id in a get", frame(cborOf(t, with(good(TypeGet), 21, piece))), StatusBadRequest},
		{"a job-keys request the store refuses", frame(cborOf(t, map[int]any{1: Version, 2: uint8(TypeJobKeys), 21: piece})), StatusRejected},
		{"silence until the header timeout", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			s, err := p.a.Libp2p().NewStream(ctx, p.b.ID(), ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			if len(tc.payload) > 0 {
				if _, err := s.Write(tc.payload); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name != "silence until the header timeout" {
				_ = s.CloseWrite()
			}
			_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(s)
			var last *Message
			for {
				m, err := readMessage(br, MaxMessageSize)
				if err != nil {
					if errors.Is(err, ErrMalformed) {
						t.Fatalf("the node sent a malformed answer: %v", err)
					}
					break // closed or reset: fine
				}
				last = m
			}
			if tc.want != 0 {
				if last == nil || last.Status != tc.want {
					t.Fatalf("last answer %+v, want status %s", last, tc.want)
				}
			} else if last != nil && last.Status == StatusOK && tc.name != "a push whose bytes stop early" && tc.name != "a push of bytes that do not match" {
				t.Fatalf("answered OK: %+v", last)
			}
			if last != nil && last.Status == StatusOK && (tc.name == "a push whose bytes stop early" || tc.name == "a push of bytes that do not match") {
				// The push was accepted first; its final answer must be an error.
				t.Fatalf("the bad push was confirmed")
			}
			// The node keeps serving the same peer.
			got, err := p.xa.GetBytes(ctx, p.b.ID(), id)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("after the hostile stream: %v", err)
			}
		})
	}
	if got := p.sb.Bytes(PieceID(piece)); !bytes.Equal(got, data) {
		t.Fatal("a hostile push replaced a held piece")
	}
}

func TestPerPeerConcurrencyLimit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxStreamsPerPeer = 1
	cfg.HeaderTimeout = 20 * time.Second
	p := newPair(t, cfg)
	id, data := randomPiece(t, 1000)
	p.sb.Add(id, data)
	// A stream that says nothing holds a's only slot.
	hold, err := p.a.Libp2p().NewStream(testCtx(t), p.b.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hold.Write([]byte{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		p.xb.mu.Lock()
		defer p.xb.mu.Unlock()
		return p.xb.perPeer[p.a.ID()] == 1
	})
	if _, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id); !errors.Is(err, ErrBusy) {
		t.Fatalf("second concurrent request from one peer: %v, want ErrBusy", err)
	}
	c, _ := p2p.NewTestHost(t, p2p.TestConfig())
	xc, _ := NewTestExchange(t, c.Libp2p(), DefaultConfig())
	if err := c.Connect(context.Background(), p.b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if _, err := xc.GetBytes(testCtx(t), p.b.ID(), id); err != nil {
		t.Fatalf("another peer is not served: %v", err)
	}
	_ = hold.Reset()
	waitFor(t, func() bool {
		p.xb.mu.Lock()
		defer p.xb.mu.Unlock()
		return p.xb.perPeer[p.a.ID()] == 0
	})
	if _, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id); err != nil {
		t.Fatalf("slot not released: %v", err)
	}
}

// fullReceiptRequestMap is a well-formed receipt request for one piece as
// a raw map, for tests to spoil.
func fullReceiptRequestMap(piece []byte) map[int]any {
	return map[int]any{1: Version, 2: uint8(TypeReceipt), 9: piece, 13: piece, 12: []any{[]any{piece, piece, 10}}}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestManyRequestsToOnePeerWaitForASlot: more concurrent requests to one
// peer than it serves at once (MaxStreamsPerPeer) wait for one another on
// the requesting side instead of coming back busy, and all succeed; none
// of their slots outlive them.
func TestManyRequestsToOnePeerWaitForASlot(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxStreamsPerPeer = 2
	p := newPair(t, cfg)
	p.xa.cfg.MaxOutboundPerPeer = 2
	id, data := randomPiece(t, 256<<10)
	p.sb.Add(id, data)
	const n = 24
	errs := make(chan error, n)
	for range n {
		go func() {
			got, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id)
			if err == nil && !bytes.Equal(got, data) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("one of %d concurrent gets from a peer serving 2 at a time: %v", n, err)
		}
	}
	p.xa.mu.Lock()
	left := len(p.xa.outbound)
	p.xa.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d peers' outbound slots left after every request ended", left)
	}
}

// TestWaitingForASlotEndsWithTheContext: a request waiting for a slot to a
// peer gives up when its context ends, and leaves no slot behind.
func TestWaitingForASlotEndsWithTheContext(t *testing.T) {
	p := newPair(t, DefaultConfig())
	p.xa.cfg.MaxOutboundPerPeer = 1
	free, err := p.xa.outSlot(testCtx(t), p.b.ID())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testCtx(t))
	cancel()
	id, _ := randomPiece(t, 10)
	if _, err := p.xa.GetBytes(ctx, p.b.ID(), id); !errors.Is(err, context.Canceled) {
		t.Fatalf("a get waiting for the peer's only slot, context cancelled: %v", err)
	}
	free()
	p.xa.mu.Lock()
	left := len(p.xa.outbound)
	p.xa.mu.Unlock()
	if left != 0 {
		t.Fatal("an outbound slot entry outlived its users")
	}
}
