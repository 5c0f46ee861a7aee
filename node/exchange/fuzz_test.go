package exchange

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// FuzzReadMessage feeds arbitrary bytes to the frame reader and message
// decoder: it must never panic, and whatever it accepts must be a valid
// message that re-encodes to a frame decoding to the same message.
func FuzzReadMessage(f *testing.F) {
	id := bytes.Repeat([]byte{7}, 32)
	for _, m := range []*Message{
		{Version: Version, Type: TypeGet, Piece: id},
		{Version: Version, Type: TypeGetRange, Piece: id, LeafStart: 3, LeafCount: 10},
		{Version: Version, Type: TypePush, Piece: id, Size: 1 << 20, Commitment: id, Owner: id, File: id},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Size: 4096},
		{Version: Version, Type: TypeResponse, Status: StatusRejected, Error: "owner over quota"},
		{Version: Version, Type: TypeReceipt, File: id, FileID: id, Entries: []ReceiptEntry{{Piece: id, Root: id, Size: 1 << 20}, {Piece: id, Root: id, Size: 7}}},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Expires: 1234, Sig: bytes.Repeat([]byte{5}, 64)},
		{Version: Version, Type: TypeLeaf, Piece: id, FileID: id, Commitment: id, Segment: 2, PieceIndex: 1, Leaf: 9},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: bytes.Repeat([]byte{3}, 1362), Key: id, Sig: bytes.Repeat([]byte{5}, 64)},
	} {
		var buf bytes.Buffer
		if err := writeMessage(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte{0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readMessage(bufio.NewReader(bytes.NewReader(b)), maxFrameSize)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid message: %v", err)
		}
		var buf bytes.Buffer
		if err := writeMessage(&buf, m); err != nil {
			t.Fatalf("re-encoding an accepted message: %v", err)
		}
		m2, err := readMessage(bufio.NewReader(&buf), maxFrameSize)
		if err != nil {
			t.Fatalf("re-decoding: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// FuzzReadLeafAnswer feeds arbitrary bytes to what a client reads for a
// leaf request's answer (a frame of at most MaxLeafAnswerSize, then
// leafAnswerOf): it must never panic, and an accepted answer has a proof of
// at most proofs.MaxProofSize bytes, a 32-byte key and a 64-byte signature.
func FuzzReadLeafAnswer(f *testing.F) {
	id := bytes.Repeat([]byte{7}, 32)
	for _, m := range []*Message{
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: bytes.Repeat([]byte{3}, 1362), Key: id, Sig: bytes.Repeat([]byte{5}, 64)},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: bytes.Repeat([]byte{3}, proofs.MaxProofSize), Key: id, Sig: bytes.Repeat([]byte{5}, 64)},
		{Version: Version, Type: TypeResponse, Status: StatusNotFound, Error: "piece not held"},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: []byte{1}},
	} {
		var buf bytes.Buffer
		if err := writeMessage(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readMessage(bufio.NewReader(bytes.NewReader(b)), MaxLeafAnswerSize)
		if err != nil {
			return
		}
		a, err := leafAnswerOf(m)
		if err != nil {
			return
		}
		if len(a.Proof) == 0 || len(a.Proof) > proofs.MaxProofSize || len(a.PubKey) != 32 || len(a.Sig) != 64 {
			t.Fatalf("accepted a leaf answer with a %d-byte proof, %d-byte key, %d-byte signature", len(a.Proof), len(a.PubKey), len(a.Sig))
		}
	})
}
