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

// levelsSeeds are encodings of valid Levels for the fuzz corpus.
func levelsSeeds() [][]byte {
	var seeds [][]byte
	for _, size := range []int{0, 1, 64 * LeafSize, 64*LeafSize + 1, 200*LeafSize - 5} {
		b := NewLevelsBuilder()
		b.Write(testPiece(uint64(size), size))
		lv, _ := b.Levels()
		enc, _ := lv.MarshalBinary()
		seeds = append(seeds, enc)
	}
	return seeds
}

func FuzzLevelsUnmarshal(f *testing.F) {
	for _, s := range levelsSeeds() {
		f.Add(s)
	}
	f.Add([]byte{LevelsVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		lv, err := DecodeLevels(b)
		if err != nil {
			return
		}
		enc, err := lv.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded levels do not re-encode: %v", err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decoding is not canonical: re-encoding differs")
		}
		if err := lv.Check(Hash(b[9 : 9+HashSize])); err != nil {
			t.Fatalf("decoded levels do not lead to their header's commitment: %v", err)
		}
		// Proving from them must not panic, whatever the piece.
		if n := lv.Leaves(); n <= 1024 {
			size := int64(n) * LeafSize
			i := uint64(len(b)) % n
			_, _ = ProveWithLevels(bytes.NewReader(make([]byte, size)), size, i, lv)
		}
	})
}
