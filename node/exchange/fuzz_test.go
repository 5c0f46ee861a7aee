package exchange

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
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
