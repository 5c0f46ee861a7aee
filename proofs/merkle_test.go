package proofs

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// testPiece returns size deterministic pseudo-random bytes.
func testPiece(seed uint64, size int) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// referenceRoot computes the root from the definition: pad, hash leaves, fold.
func referenceRoot(data []byte) Hash {
	var hs []Hash
	for off := 0; off < len(data); off += LeafSize {
		hs = append(hs, LeafHash(data[off:min(off+LeafSize, len(data))]))
	}
	if len(hs) == 0 {
		hs = append(hs, LeafHash(nil))
	}
	return commitment(uint64(len(hs)), rootOfLeafHashes(hs))
}

var testSizes = []int{0, 1, LeafSize - 1, LeafSize, LeafSize + 1, 2 * LeafSize, 3*LeafSize + 17, 5 * LeafSize, 7*LeafSize + 1, 8 * LeafSize, 9 * LeafSize, 33*LeafSize - 3}

func TestBuilderComputesTheRootOfTheDefinitionWhateverTheWriteSizes(t *testing.T) {
	for _, size := range testSizes {
		data := testPiece(uint64(size), size)
		want := referenceRoot(data)
		r := rand.New(rand.NewPCG(uint64(size), 1))
		b := NewBuilder()
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(3*LeafSize))
			b.Write(rest[:n])
			rest = rest[n:]
		}
		if got := b.Root(); got != want {
			t.Errorf("size %d: builder root %s, want %s", size, got, want)
		}
		if got, want := b.Leaves(), LeafCount(int64(size)); got != want {
			t.Errorf("size %d: %d leaves, want %d", size, got, want)
		}
		if Root(data) != want {
			t.Errorf("size %d: Root differs from the reference", size)
		}
		tree, err := BuildTree(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if tree.Root() != want || tree.Leaves() != LeafCount(int64(size)) {
			t.Errorf("size %d: tree root or leaf count differs from the reference", size)
		}
	}
}

func TestEveryLeafProofVerifiesAndRoundTrips(t *testing.T) {
	for _, size := range testSizes {
		data := testPiece(uint64(size)+100, size)
		root := Root(data)
		tree, _ := BuildTree(bytes.NewReader(data))
		for i := uint64(0); i < LeafCount(int64(size)); i++ {
			p, err := ProveAt(bytes.NewReader(data), int64(size), i)
			if err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			if err := Verify(root, p); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			off := int(i) * LeafSize
			q, err := tree.Prove(i, data[off:min(off+LeafSize, len(data))])
			if err != nil {
				t.Fatal(err)
			}
			enc, err := p.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			enc2, _ := q.MarshalBinary()
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("size %d leaf %d: Tree.Prove and ProveAt differ", size, i)
			}
			if len(enc) != p.EncodedSize() {
				t.Fatalf("encoded size %d, EncodedSize says %d", len(enc), p.EncodedSize())
			}
			d, err := DecodeProof(enc)
			if err != nil {
				t.Fatalf("size %d leaf %d: decode: %v", size, i, err)
			}
			if err := Verify(root, d); err != nil {
				t.Fatalf("size %d leaf %d: decoded proof: %v", size, i, err)
			}
		}
	}
}

func TestAnyFlippedBitInLeafPathOrRootFailsVerification(t *testing.T) {
	size := 13*LeafSize + 100
	data := testPiece(3, size)
	root := Root(data)
	for _, idx := range []uint64{0, 5, 12, 13} {
		p, err := ProveAt(bytes.NewReader(data), int64(size), idx)
		if err != nil {
			t.Fatal(err)
		}
		enc, _ := p.MarshalBinary()
		for bit := 0; bit < len(enc)*8; bit++ {
			mut := bytes.Clone(enc)
			mut[bit/8] ^= 1 << (bit % 8)
			q, err := DecodeProof(mut)
			if err != nil {
				continue // rejected by the decoder: fine
			}
			if err := Verify(root, q); err == nil {
				t.Fatalf("leaf %d: flipping bit %d of the encoded proof still verifies", idx, bit)
			}
		}
		for bit := 0; bit < HashSize*8; bit++ {
			r := root
			r[bit/8] ^= 1 << (bit % 8)
			if err := Verify(r, p); !errors.Is(err, ErrProofMismatch) {
				t.Fatalf("leaf %d: flipping bit %d of the root: err = %v, want ErrProofMismatch", idx, bit, err)
			}
		}
	}
}

func TestMalformedProofsAreRejectedNotPanics(t *testing.T) {
	root := Root(testPiece(1, 4*LeafSize))
	cases := map[string]*Proof{
		"a nil proof":                nil,
		"a short leaf":               {Index: 0, Leaves: 4, Leaf: make([]byte, 10), Path: make([]Hash, 2)},
		"an index past the end":      {Index: 4, Leaves: 4, Leaf: make([]byte, LeafSize), Path: make([]Hash, 2)},
		"zero leaves":                {Index: 0, Leaves: 0, Leaf: make([]byte, LeafSize)},
		"a path one hash too long":   {Index: 0, Leaves: 4, Leaf: make([]byte, LeafSize), Path: make([]Hash, 3)},
		"a path one hash too short":  {Index: 0, Leaves: 4, Leaf: make([]byte, LeafSize), Path: make([]Hash, 1)},
		"a huge tree with no path":   {Index: 1 << 62, Leaves: 1<<63 + 5, Leaf: make([]byte, LeafSize)},
		"the maximum leaf count":     {Index: ^uint64(0) - 1, Leaves: ^uint64(0), Leaf: make([]byte, LeafSize), Path: make([]Hash, 64)},
		"a single leaf with a path":  {Index: 0, Leaves: 1, Leaf: make([]byte, LeafSize), Path: make([]Hash, 1)},
		"a proof of a missing piece": {Index: 2, Leaves: 3, Leaf: make([]byte, LeafSize), Path: make([]Hash, 1)},
	}
	for name, p := range cases {
		if err := Verify(root, p); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
	if _, err := ProveAt(bytes.NewReader(nil), 100, 1); err == nil {
		t.Error("ProveAt past the end: no error")
	}
	if _, err := ProveAt(bytes.NewReader(make([]byte, 10)), 5000, 0); err == nil {
		t.Error("ProveAt of a piece shorter than its size: no error")
	}
}

func TestPathLenMatchesTreeDepth(t *testing.T) {
	for n := uint64(1); n < 70; n++ {
		for i := uint64(0); i < n; i++ {
			l := PathLen(i, n)
			if l < 0 || l > 7 {
				t.Fatalf("PathLen(%d, %d) = %d", i, n, l)
			}
		}
		if PathLen(n, n) != -1 {
			t.Fatalf("PathLen(%d, %d) should be -1", n, n)
		}
	}
}

func TestParseHashIsStrict(t *testing.T) {
	h := Root([]byte("x"))
	if got, err := ParseHash(h.String()); err != nil || got != h {
		t.Fatalf("round trip: %v", err)
	}
	for _, s := range []string{"", h.String()[:63], h.String() + "0", "A" + h.String()[1:], "g" + h.String()[1:]} {
		if _, err := ParseHash(s); !errors.Is(err, ErrInvalidHash) {
			t.Errorf("ParseHash(%q) = %v, want ErrInvalidHash", s, err)
		}
	}
}

// TestIDBindsTheLength: the commitment of a piece does not change when zero
// bytes are appended within its last (zero-padded) leaf, so it cannot be a
// content address by itself; the ID binds the length and tells them apart,
// and a Builder's ID is IDOf's.
func TestIDBindsTheLength(t *testing.T) {
	for _, n := range []int{0, 1, 1000, LeafSize, 5*LeafSize + 7} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + 1)
		}
		padded := append(bytes.Clone(b), 0)
		if LeafCount(int64(len(padded))) == LeafCount(int64(n)) || n == 0 {
			if Root(padded) != Root(b) {
				t.Fatalf("%d bytes: the commitment changed with a trailing zero (the premise of ID)", n)
			}
		}
		if IDOf(padded) == IDOf(b) {
			t.Fatalf("%d bytes: a trailing zero byte does not change the ID", n)
		}
		bl := NewBuilder()
		bl.Write(b)
		if bl.ID() != IDOf(b) || bl.ID() != ID(Root(b), uint64(n)) {
			t.Fatalf("%d bytes: Builder.ID differs from IDOf", n)
		}
		if IDOf(b) == Root(b) {
			t.Fatalf("%d bytes: the ID equals the commitment", n)
		}
	}
}
