package exchange

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// A leaf request reaches the holder's answerer with every field as sent
// (and the requester's peer id), and its answer — a real proof of the
// largest path the encoding allows for a 1 GiB piece, a key, a signature —
// comes back byte for byte.
func TestLeafRequestRoundTrip(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, data := randomPiece(t, 5*LeafSize+100)
	_, key, _ := ed25519.GenerateKey(nil)
	req := LeafRequest{File: [32]byte{1}, Segment: 7, Index: 3, Piece: id, Root: proofs.Root(data), Leaf: 5}
	var seen LeafRequest
	var sent LeafAnswer
	p.sb.Leaf = func(r LeafRequest) (LeafAnswer, error) {
		seen = r
		pr, err := proofs.ProveAt(bytes.NewReader(data), int64(len(data)), r.Leaf)
		if err != nil {
			return LeafAnswer{}, err
		}
		raw, err := pr.MarshalBinary()
		if err != nil {
			return LeafAnswer{}, err
		}
		sent = LeafAnswer{Proof: raw, PubKey: key.Public().(ed25519.PublicKey), Sig: ed25519.Sign(key, raw)}
		return sent, nil
	}
	got, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := req
	want.From = p.a.ID()
	if seen != want {
		t.Fatalf("holder saw %+v, want %+v", seen, want)
	}
	if !bytes.Equal(got.Proof, sent.Proof) || !bytes.Equal(got.PubKey, sent.PubKey) || !bytes.Equal(got.Sig, sent.Sig) {
		t.Fatalf("answer changed in transit")
	}
	pr, err := proofs.DecodeProof(got.Proof)
	if err != nil || proofs.Verify(proofs.Root(data), pr) != nil || pr.Index != 5 {
		t.Fatalf("proof %+v: %v", pr, err)
	}

	// The largest proof fits a leaf answer.
	big := LeafAnswer{Proof: make([]byte, proofs.MaxProofSize), PubKey: sent.PubKey, Sig: sent.Sig}
	p.sb.Leaf = func(LeafRequest) (LeafAnswer, error) { return big, nil }
	if got, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req); err != nil || len(got.Proof) != proofs.MaxProofSize {
		t.Fatalf("largest proof: %d bytes, %v", len(got.Proof), err)
	}
}

// Refusals: a holder that answers no leaves (StatusRejected), one that does
// not hold the piece (ErrNotFound), one whose answer is malformed (the
// server refuses to send it: StatusInternal), and a request the client
// itself refuses to send.
func TestLeafRequestRefusals(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, _ := randomPiece(t, 100)
	req := LeafRequest{Piece: id, Leaf: 0}
	var re *RemoteError
	_, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req)
	if !errors.As(err, &re) || re.Status != StatusRejected {
		t.Fatalf("no answerer: %v", err)
	}
	p.sb.Leaf = func(r LeafRequest) (LeafAnswer, error) {
		return LeafAnswer{}, fmt.Errorf("%w: piece %s", ErrNotFound, r.Piece)
	}
	if _, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not held: %v", err)
	}
	p.sb.Leaf = func(LeafRequest) (LeafAnswer, error) {
		return LeafAnswer{Proof: []byte{1}, PubKey: make([]byte, 31), Sig: make([]byte, 64)}, nil
	}
	if _, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req); !errors.As(err, &re) || re.Status != StatusInternal {
		t.Fatalf("malformed answer: %v", err)
	}
	p.sb.Leaf = func(LeafRequest) (LeafAnswer, error) {
		return LeafAnswer{Proof: make([]byte, proofs.MaxProofSize+1), PubKey: make([]byte, 32), Sig: make([]byte, 64)}, nil
	}
	if _, err := p.xa.RequestLeaf(testCtx(t), p.b.ID(), req); !errors.As(err, &re) || re.Status != StatusInternal {
		t.Fatalf("oversized answer: %v", err)
	}
}

// The leaf messages' decoders: a request missing its root or carrying
// answer fields is malformed, and so is an answer with request fields, an
// oversized proof or a short key; leafAnswerOf refuses an OK answer that
// lacks a proof, key or signature.
func TestLeafMessageValidation(t *testing.T) {
	id := bytes.Repeat([]byte{7}, 32)
	good := Message{Version: Version, Type: TypeLeaf, Piece: id, FileID: id, Commitment: id, Segment: 1, PieceIndex: 2, Leaf: 3}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	answer := Message{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: []byte{1}, Key: id, Sig: make([]byte, 64)}
	if err := answer.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(m *Message){
		func(m *Message) { m.Commitment = nil },
		func(m *Message) { m.FileID = id[:31] },
		func(m *Message) { m.Piece = nil },
		func(m *Message) { m.Proof = []byte{1} },
		func(m *Message) { m.Sig = make([]byte, 64) },
		func(m *Message) { m.LeafCount = 1 },
		func(m *Message) { m.Owner = id },
	}
	for i, f := range bad {
		m := good
		f(&m)
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("bad request %d: %v", i, err)
		}
	}
	badAnswer := []func(m *Message){
		func(m *Message) { m.Leaf = 1 },
		func(m *Message) { m.Segment = 1 },
		func(m *Message) { m.Proof = make([]byte, proofs.MaxProofSize+1) },
		func(m *Message) { m.Key = id[:31] },
		func(m *Message) { m.Sig = id },
	}
	for i, f := range badAnswer {
		m := answer
		f(&m)
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("bad answer %d: %v", i, err)
		}
	}
	// Other requests may not carry leaf fields.
	for _, m := range []Message{
		{Version: Version, Type: TypeGet, Piece: id, Leaf: 1},
		{Version: Version, Type: TypePush, Piece: id, Size: 1, Commitment: id, Owner: id, Segment: 1},
		{Version: Version, Type: TypeReceipt, File: id, FileID: id, Entries: []ReceiptEntry{{Piece: id, Root: id, Size: 1}}, Key: id},
	} {
		if err := m.Validate(); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s with leaf fields: %v", m.Type, err)
		}
	}
	for _, m := range []Message{
		{Version: Version, Type: TypeResponse, Status: StatusOK},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: []byte{1}, Key: id},
		{Version: Version, Type: TypeResponse, Status: StatusNotFound, Error: "gone"},
	} {
		if _, err := leafAnswerOf(&m); !errors.Is(err, ErrMalformed) {
			t.Fatalf("leafAnswerOf(%+v): %v", m, err)
		}
	}
}
