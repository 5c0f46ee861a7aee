package exchange

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"

	"github.com/coop-network/coop/node/capseal"
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
		{Version: Version, Type: TypePush, Piece: id, Size: 1 << 20, Owner: id, File: id},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Size: 4096},
		{Version: Version, Type: TypeResponse, Status: StatusRejected, Error: "owner over quota"},
		{Version: Version, Type: TypeReceipt, File: id, FileID: id, Entries: []ReceiptEntry{{Piece: id, Root: id, Size: 1 << 20}, {Piece: id, Root: id, Size: 7}}},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Expires: 1234, Sig: bytes.Repeat([]byte{5}, 64)},
		{Version: Version, Type: TypeLeaf, Piece: id, FileID: id, Commitment: id, Segment: 2, PieceIndex: 1, Leaf: 9},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: bytes.Repeat([]byte{3}, 1362), Key: id, Sig: bytes.Repeat([]byte{5}, 64)},
		{Version: Version, Type: TypeJobKeys, Job: id},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: sealedSeeds},
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

// sealedSeeds is a well-formed list of sealed job keys (their bytes do not
// open: the decoder checks only roles, count and sizes).
var sealedSeeds = []SealedJobKey{
	{Role: capseal.RoleModule, Sealed: bytes.Repeat([]byte{1}, capseal.SealedSize)},
	{Role: capseal.RoleInput, Sealed: bytes.Repeat([]byte{2}, capseal.SealedSize)},
}

// FuzzReadJobKeys feeds arbitrary bytes to what a client reads for a
// job-keys request's answer (a frame of at most MaxMessageSize, then
// jobKeysOf): it must never panic, and an accepted answer has 1 to
// MaxJobKeys keys, one for the module or the output alone, no role twice,
// each of capseal.SealedSize bytes.
func FuzzReadJobKeys(f *testing.F) {
	for _, m := range []*Message{
		{Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: sealedSeeds},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: sealedSeeds[:1]},
		{Version: Version, Type: TypeResponse, Status: StatusOK, Sealed: []SealedJobKey{{Role: capseal.RoleOutput, Sealed: sealedSeeds[0].Sealed}}},
		{Version: Version, Type: TypeResponse, Status: StatusRejected, Error: "not assigned to this job"},
	} {
		var buf bytes.Buffer
		if err := writeMessage(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := readMessage(bufio.NewReader(bytes.NewReader(b)), MaxMessageSize)
		if err != nil {
			return
		}
		keys, err := jobKeysOf(m)
		if err != nil {
			return
		}
		if len(keys) == 0 || len(keys) > MaxJobKeys || keys[0].Role == keys[len(keys)-1].Role && len(keys) > 1 {
			t.Fatalf("accepted %d keys", len(keys))
		}
		module, output := false, false
		for _, k := range keys {
			module = module || k.Role == capseal.RoleModule
			output = output || k.Role == capseal.RoleOutput
			if len(k.Sealed) != capseal.SealedSize {
				t.Fatalf("accepted a sealed key of %d bytes", len(k.Sealed))
			}
		}
		if module == output || output && len(keys) != 1 {
			t.Fatalf("accepted an answer with module %v, output %v, %d keys", module, output, len(keys))
		}
	})
}
