package proofs

import (
	"bytes"
	"testing"
)

func FuzzDecodeProof(f *testing.F) {
	data := testPiece(9, 5*LeafSize+3)
	for _, i := range []uint64{0, 3, 5} {
		p, _ := ProveAt(bytes.NewReader(data), int64(len(data)), i)
		enc, _ := p.MarshalBinary()
		f.Add(enc)
	}
	f.Add([]byte{ProofVersion})
	root := Root(data)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeProof(b)
		if err != nil {
			return
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded proof does not re-encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decoding is not canonical: re-encoding differs")
		}
		_ = Verify(root, p) // must not panic
	})
}
