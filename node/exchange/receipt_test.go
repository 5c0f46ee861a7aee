package exchange

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// fullReceiptRequest is a receipt request naming n pieces with the largest
// sizes, so its encoding is as long as n entries can make it.
func fullReceiptRequest(n int) *Message {
	m := &Message{Version: Version, Type: TypeReceipt, File: bytes.Repeat([]byte{1}, 32), FileID: bytes.Repeat([]byte{2}, 32)}
	for i := range n {
		id := bytes.Repeat([]byte{byte(i)}, 32)
		m.Entries = append(m.Entries, ReceiptEntry{Piece: id, Root: id, Size: 1<<63 - 1})
	}
	return m
}

// TestReceiptMessageLimits checks the receipt request's own bound: the most
// pieces it may name fit in MaxReceiptMessageSize and round-trip, one more
// is refused on both ends, and every other type keeps MaxMessageSize.
func TestReceiptMessageLimits(t *testing.T) {
	full := fullReceiptRequest(MaxReceiptPieces)
	var buf bytes.Buffer
	if err := writeMessage(&buf, full); err != nil {
		t.Fatalf("a request of %d pieces: %v", MaxReceiptPieces, err)
	}
	if buf.Len() <= MaxMessageSize {
		t.Fatalf("a full receipt request is only %d bytes", buf.Len())
	}
	t.Logf("a receipt request for %d pieces is %d bytes (limit %d)", MaxReceiptPieces, buf.Len(), MaxReceiptMessageSize)
	got, err := readMessage(bufio.NewReader(&buf), maxFrameSize)
	if err != nil || !reflect.DeepEqual(got, full) {
		t.Fatalf("round trip: %v", err)
	}
	// A client reading an answer allows only MaxMessageSize.
	buf.Reset()
	_ = writeMessage(&buf, full)
	if _, err := readMessage(bufio.NewReader(&buf), MaxMessageSize); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a receipt-sized frame read as a response: %v, want ErrMalformed", err)
	}

	over := fullReceiptRequest(MaxReceiptPieces + 1)
	if err := over.Validate(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("validating %d pieces: %v", MaxReceiptPieces+1, err)
	}
	body, err := encMode.Marshal(over)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unmarshal(body); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoding %d pieces: %v, want ErrMalformed", MaxReceiptPieces+1, err)
	}

	// A get padded past MaxMessageSize is refused even though a receipt
	// request of that length would pass.
	big := &Message{Version: Version, Type: TypeResponse, Status: StatusRejected, Error: strings.Repeat("x", maxErrorLen)}
	body, _ = encMode.Marshal(big)
	if len(body) > MaxMessageSize {
		t.Fatalf("the longest error response is %d bytes", len(body))
	}
	padded := &Message{Version: Version, Type: TypeGet, Piece: bytes.Repeat([]byte{3}, 32), Entries: fullReceiptRequest(20).Entries}
	body, _ = encMode.Marshal(padded)
	if len(body) <= MaxMessageSize {
		t.Fatalf("padded get is %d bytes", len(body))
	}
	if _, err := Unmarshal(body); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a get carrying receipt entries: %v, want ErrMalformed", err)
	}
}

func TestReceiptMessageValidation(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	good := func() *Message {
		return &Message{Version: Version, Type: TypeReceipt, File: id, FileID: id, Entries: []ReceiptEntry{{Piece: id, Root: id, Size: 10}}}
	}
	cases := []struct {
		name string
		mod  func(m *Message)
	}{
		{"no pieces", func(m *Message) { m.Entries = nil }},
		{"no put id", func(m *Message) { m.File = nil }},
		{"no file id", func(m *Message) { m.FileID = nil }},
		{"a short piece id", func(m *Message) { m.Entries[0].Piece = id[:31] }},
		{"a short root", func(m *Message) { m.Entries[0].Root = id[:31] }},
		{"an empty piece", func(m *Message) { m.Entries[0].Size = 0 }},
		{"a size past int64", func(m *Message) { m.Entries[0].Size = 1 << 63 }},
		{"a signature in the request", func(m *Message) { m.Sig = make([]byte, 64) }},
		{"push fields", func(m *Message) { m.Owner = id }},
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		m := good()
		tc.mod(m)
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
	resp := &Message{Version: Version, Type: TypeResponse, Status: StatusOK, Expires: 10, Sig: make([]byte, 63)}
	if err := resp.Validate(); !errors.Is(err, ErrMalformed) {
		t.Errorf("a 63-byte signature: %v", err)
	}
	resp.Sig, resp.Expires = make([]byte, 64), 1<<63
	if err := resp.Validate(); !errors.Is(err, ErrMalformed) {
		t.Errorf("an expiry past int64: %v", err)
	}
}

// TestReceiptRequestReachesTheSink asks a real peer for a receipt: the
// sink sees the requester, ids and pieces as sent, and its signature comes
// back; a refusal comes back as ErrRejected with the sink's reason.
func TestReceiptRequestReachesTheSink(t *testing.T) {
	p := newPair(t, DefaultConfig())
	var put, file [32]byte
	_, _ = rand.Read(put[:])
	_, _ = rand.Read(file[:])
	req := ReceiptRequest{Put: put, File: file}
	for i := range 3 {
		id, data := randomPiece(t, 100+i)
		req.Pieces = append(req.Pieces, ReceiptPiece{Piece: id, Root: [32]byte(bytes.Repeat([]byte{byte(i)}, 32)), Size: int64(len(data))})
	}
	sig := bytes.Repeat([]byte{9}, 64)
	var seen ReceiptRequest
	p.sb.Sign = func(r ReceiptRequest) (Receipt, error) {
		seen = r
		return Receipt{Expires: 42, Sig: sig}, nil
	}
	got, err := p.xa.RequestReceipt(testCtx(t), p.b.ID(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Expires != 42 || !bytes.Equal(got.Sig, sig) {
		t.Fatalf("receipt %+v", got)
	}
	want := req
	want.From = p.a.ID()
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("sink saw %+v, want %+v", seen, want)
	}

	p.sb.Sign = nil
	if _, err := p.xa.RequestReceipt(testCtx(t), p.b.ID(), req); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "signs no receipts") {
		t.Fatalf("refused receipt: %v, want ErrRejected with the reason", err)
	}
	p.sb.Sign = func(ReceiptRequest) (Receipt, error) { return Receipt{Expires: 1, Sig: []byte{1}}, nil }
	if _, err := p.xa.RequestReceipt(testCtx(t), p.b.ID(), req); !errors.Is(err, ErrRemote) {
		t.Fatalf("a sink answering a bad signature: %v, want ErrRemote", err)
	}

	req.Pieces = make([]ReceiptPiece, MaxReceiptPieces+1)
	if _, err := p.xa.RequestReceipt(testCtx(t), p.b.ID(), req); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("%d pieces: %v, want ErrTooLarge", len(req.Pieces), err)
	}
}
