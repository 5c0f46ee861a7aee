package proofs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// checkChunkShape walks the RFC 9162 tree of n leaves from the node over
// leaves [lo, lo+cnt) down to the chunks of SubtreeLeaves leaves, and fails
// unless every chunk [64j, min(64j+64, n)) is a node of the tree and the nodes
// above the chunks split as the RFC 9162 tree over the chunk roots does. With
// only the chunk j (when j >= 0), it walks that chunk's path alone.
func checkChunkShape(t *testing.T, n, lo, cnt uint64, j int64, seen *uint64) {
	t.Helper()
	if lo%SubtreeLeaves != 0 {
		t.Fatalf("n=%d: node [%d, +%d) does not start on a chunk boundary", n, lo, cnt)
	}
	if cnt <= SubtreeLeaves {
		// A node starting on a chunk boundary and no larger than a chunk
		// must be exactly that chunk.
		if want := min(SubtreeLeaves, n-lo); cnt != want {
			t.Fatalf("n=%d: node [%d, +%d) is not the whole chunk %d (%d leaves)", n, lo, cnt, lo/SubtreeLeaves, want)
		}
		if j >= 0 && uint64(j) != lo/SubtreeLeaves {
			t.Fatalf("n=%d: looking for chunk %d, reached chunk %d", n, j, lo/SubtreeLeaves)
		}
		*seen++
		return
	}
	k := splitPoint(cnt)
	if k%SubtreeLeaves != 0 || k/SubtreeLeaves != splitPoint(chunkCount(cnt)) {
		t.Fatalf("n=%d: node [%d, +%d) splits at %d, not as the tree over its %d chunks", n, lo, cnt, k, chunkCount(cnt))
	}
	if j < 0 || uint64(j)*SubtreeLeaves < lo+k {
		checkChunkShape(t, n, lo, k, j, seen)
	}
	if j < 0 || uint64(j)*SubtreeLeaves >= lo+k {
		checkChunkShape(t, n, lo+k, cnt-k, j, seen)
	}
}

func TestAlignedChunksAreSubtreesOfTheTree(t *testing.T) {
	for n := uint64(1); n <= 5000; n++ {
		var seen uint64
		checkChunkShape(t, n, 0, n, -1, &seen)
		if seen != chunkCount(n) {
			t.Fatalf("n=%d: reached %d chunks, want %d", n, seen, chunkCount(n))
		}
	}
	r := rand.New(rand.NewPCG(5, 5))
	for range 2000 {
		n := 1 + r.Uint64N(1<<(1+r.IntN(62)))
		m := chunkCount(n)
		for _, j := range []uint64{0, m / 2, m - 1, r.Uint64N(m)} {
			var seen uint64
			checkChunkShape(t, n, 0, n, int64(j), &seen)
			if seen != 1 {
				t.Fatalf("n=%d: chunk %d reached %d times", n, j, seen)
			}
		}
	}
}

// countingReaderAt counts the bytes and calls of ReadAt.
type countingReaderAt struct {
	r            io.ReaderAt
	bytes, calls int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	c.bytes += int64(len(p))
	return c.r.ReadAt(p, off)
}

// levelsOf builds data's Levels through a levels builder fed by writes of
// random sizes, and checks it against the reference root.
func levelsOf(t *testing.T, data []byte, seed uint64) *Levels {
	t.Helper()
	b := NewLevelsBuilder()
	r := rand.New(rand.NewPCG(seed, 3))
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(3*LeafSize))
		if r.IntN(8) == 0 {
			n = min(len(rest), 1+r.IntN(200*LeafSize))
		}
		b.Write(rest[:n])
		rest = rest[n:]
	}
	lv, err := b.Levels()
	if err != nil {
		t.Fatal(err)
	}
	if lv.Root() != b.Root() || lv.Root() != referenceRoot(data) {
		t.Fatalf("size %d: levels root %s, builder %s, reference %s", len(data), lv.Root(), b.Root(), referenceRoot(data))
	}
	if lv.Leaves() != LeafCount(int64(len(data))) {
		t.Fatalf("size %d: levels of %d leaves", len(data), lv.Leaves())
	}
	return lv
}

func TestProveWithLevelsGivesProveAtsProofReadingOneChunk(t *testing.T) {
	const k = 1024
	sizes := []int{0, 1, k - 1, k, k + 1, 64*k - 1, 64 * k, 64*k + 1, 65*k + 7, 64*64*k - 1, 64 * 64 * k, 64*64*k + 1}
	r := rand.New(rand.NewPCG(11, 11))
	nrand := 3
	if testing.Short() {
		sizes, nrand = sizes[:9], 1
	}
	for range nrand {
		sizes = append(sizes, r.IntN(3<<20))
	}
	for _, size := range sizes {
		data := testPiece(uint64(size)+200, size)
		lv := levelsOf(t, data, uint64(size))
		enc, _ := lv.MarshalBinary()
		if len(enc) != lv.EncodedSize() {
			t.Fatalf("size %d: encoding of %d bytes, EncodedSize says %d", size, len(enc), lv.EncodedSize())
		}
		lv, err := DecodeLevels(enc) // prove from the decoded copy
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if err := lv.Check(Root(data)); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		tree, _ := BuildTree(bytes.NewReader(data))
		root := tree.Root()
		n := LeafCount(int64(size))
		for i := uint64(0); i < n; i++ {
			cr := &countingReaderAt{r: bytes.NewReader(data)}
			p, err := ProveWithLevels(cr, int64(size), i, lv)
			if err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			if cr.calls > 1 || cr.bytes > SubtreeLeaves*LeafSize {
				t.Fatalf("size %d leaf %d: %d bytes in %d reads, more than one chunk", size, i, cr.bytes, cr.calls)
			}
			if err := Verify(root, p); err != nil {
				t.Fatalf("size %d leaf %d: %v", size, i, err)
			}
			got, _ := p.MarshalBinary()
			off := int(i) * LeafSize
			q, _ := tree.Prove(i, data[off:min(off+LeafSize, len(data))])
			want, _ := q.MarshalBinary()
			// Tree.Prove equals ProveAt (TestEveryLeafProofVerifiesAndRoundTrips);
			// ProveAt itself, which hashes the whole piece, on every leaf of
			// small pieces, and on the first chunks' edges, the last leaves
			// and a sample of the others of large ones.
			if n <= 256 || i < 2*SubtreeLeaves && (i%SubtreeLeaves == 0 || i%SubtreeLeaves == SubtreeLeaves-1) || i >= n-2 || r.IntN(512) == 0 {
				pa, err := ProveAt(bytes.NewReader(data), int64(size), i)
				if err != nil {
					t.Fatal(err)
				}
				if want, _ = pa.MarshalBinary(); !bytes.Equal(got, want) {
					t.Fatalf("size %d leaf %d: ProveWithLevels and ProveAt differ", size, i)
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d leaf %d: ProveWithLevels and Tree.Prove differ", size, i)
			}
		}
	}
}

func TestProveWithLevelsReadsAtMost64KiBOfA16MiBPiece(t *testing.T) {
	const size = 16 << 20
	piece := newVirtualPiece(42, size)
	b := NewLevelsBuilder()
	if _, err := io.Copy(b, io.NewSectionReader(piece, 0, size)); err != nil {
		t.Fatal(err)
	}
	lv, err := b.Levels()
	if err != nil {
		t.Fatal(err)
	}
	root := b.Root()
	if err := lv.Check(root); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(4, 4))
	idx := []uint64{0, 1, 63, 64, 8191, 8192, 16383}
	for range 40 {
		idx = append(idx, r.Uint64N(size/LeafSize))
	}
	for _, i := range idx {
		cr := &countingReaderAt{r: piece}
		p, err := ProveWithLevels(cr, size, i, lv)
		if err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if cr.bytes > 64<<10 || cr.calls != 1 {
			t.Fatalf("leaf %d: read %d bytes in %d calls, want at most 64 KiB in one", i, cr.bytes, cr.calls)
		}
		if err := Verify(root, p); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
	}
	for _, i := range idx[:3] {
		a, _ := ProveAt(piece, size, i)
		p, _ := ProveWithLevels(piece, size, i, lv)
		ea, _ := a.MarshalBinary()
		ep, _ := p.MarshalBinary()
		if !bytes.Equal(ea, ep) {
			t.Fatalf("leaf %d: ProveWithLevels and ProveAt differ", i)
		}
	}
	// 16 MiB: 41 + 256 × 32 = 8233 bytes, 0.049 % of the piece.
	if got := lv.EncodedSize(); got != 8233 {
		t.Fatalf("levels of a 16 MiB piece are %d bytes, want 8233", got)
	}
}

func TestLevelsAreAtMostATenthOfAPercentOfPiecesOf1MiBOrMore(t *testing.T) {
	for _, size := range []int64{1 << 20, 1<<20 + 1, 16 << 20, 16<<20 - 1, 1 << 30, 1<<40 + 12345} {
		if got := LevelsSize(size); got*1000 > size {
			t.Errorf("size %d: levels of %d bytes, more than 0.1 %%", size, got)
		}
	}
	for _, size := range []int{0, 1, 64*LeafSize + 1, 1<<20 + 1} {
		if got, want := int64(levelsOf(t, testPiece(1, size), 1).EncodedSize()), LevelsSize(int64(size)); got != want {
			t.Errorf("size %d: levels of %d bytes, LevelsSize says %d", size, got, want)
		}
	}
	if got := LevelsSize(16 << 20); got != 8233 {
		t.Errorf("16 MiB: LevelsSize %d, want 8233", got)
	}
}

func TestCorruptedOrForeignLevelsAreRefused(t *testing.T) {
	size := 200*LeafSize - 5 // 4 chunks, the last of 8 leaves
	data := testPiece(21, size)
	root := Root(data)
	lv := levelsOf(t, data, 1)
	enc, _ := lv.MarshalBinary()

	// Any flipped bit of the encoding: refused when decoded.
	for bit := 0; bit < len(enc)*8; bit++ {
		mut := bytes.Clone(enc)
		mut[bit/8] ^= 1 << (bit % 8)
		if _, err := DecodeLevels(mut); !errors.Is(err, ErrMalformedLevels) && !errors.Is(err, ErrLevelsMismatch) {
			t.Fatalf("flipping bit %d: err = %v, want refusal", bit, err)
		}
	}
	// A root flipped in the chunk roots or in the header: ErrLevelsMismatch.
	for _, at := range []int{9, levelsHeaderSize, len(enc) - 1} {
		mut := bytes.Clone(enc)
		mut[at] ^= 0x80
		if _, err := DecodeLevels(mut); !errors.Is(err, ErrLevelsMismatch) {
			t.Fatalf("byte %d: err = %v, want ErrLevelsMismatch", at, err)
		}
	}
	// Wrong lengths: ErrMalformedLevels.
	for _, b := range [][]byte{nil, enc[:levelsHeaderSize-1], enc[:levelsHeaderSize], enc[:len(enc)-1], enc[:len(enc)-HashSize], append(bytes.Clone(enc), 0), append(bytes.Clone(enc), make([]byte, HashSize)...)} {
		if _, err := DecodeLevels(b); !errors.Is(err, ErrMalformedLevels) {
			t.Fatalf("%d bytes: err = %v, want ErrMalformedLevels", len(b), err)
		}
	}

	// Another piece's levels, of the same size: they decode (they are
	// consistent), but Check refuses them and so does ProveWithLevels (the
	// chunk read does not hash to their root), for every leaf.
	other := levelsOf(t, testPiece(22, size), 2)
	oenc, _ := other.MarshalBinary()
	ol, err := DecodeLevels(oenc)
	if err != nil {
		t.Fatal(err)
	}
	if err := ol.Check(root); !errors.Is(err, ErrLevelsMismatch) {
		t.Fatalf("foreign levels: Check = %v, want ErrLevelsMismatch", err)
	}
	for i := uint64(0); i < LeafCount(int64(size)); i++ {
		if _, err := ProveWithLevels(bytes.NewReader(data), int64(size), i, ol); !errors.Is(err, ErrLevelsMismatch) {
			t.Fatalf("foreign levels, leaf %d: err = %v, want ErrLevelsMismatch", i, err)
		}
	}
	// Another piece's levels, of another size: refused outright.
	small := levelsOf(t, data[:size-LeafSize], 3)
	if _, err := ProveWithLevels(bytes.NewReader(data), int64(size), 0, small); !errors.Is(err, ErrLevelsMismatch) {
		t.Fatalf("levels of another size: err = %v, want ErrLevelsMismatch", err)
	}

	// Levels with one chunk root changed in memory (only possible without
	// decoding, e.g. a caller skipping Check on levels it built wrongly):
	// Check refuses them; proving a leaf of that chunk fails with
	// ErrLevelsMismatch, a leaf of another chunk gives a proof that fails
	// Verify.
	roots := append([]Hash(nil), lv.upper.levels[0]...)
	roots[1][0] ^= 1
	bad := newLevels(lv.Leaves(), roots)
	if err := bad.Check(root); !errors.Is(err, ErrLevelsMismatch) {
		t.Fatalf("altered levels: Check = %v", err)
	}
	if _, err := ProveWithLevels(bytes.NewReader(data), int64(size), 70, bad); !errors.Is(err, ErrLevelsMismatch) {
		t.Fatalf("altered chunk: err = %v, want ErrLevelsMismatch", err)
	}
	p, err := ProveWithLevels(bytes.NewReader(data), int64(size), 5, bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(root, p); !errors.Is(err, ErrProofMismatch) {
		t.Fatalf("proof through an altered chunk root: Verify = %v, want ErrProofMismatch", err)
	}

	// A corrupted piece: its chunk no longer matches the levels.
	cor := bytes.Clone(data)
	cor[130*LeafSize+17] ^= 4
	if _, err := ProveWithLevels(bytes.NewReader(cor), int64(size), 128, lv); !errors.Is(err, ErrLevelsMismatch) {
		t.Fatalf("corrupted chunk: err = %v, want ErrLevelsMismatch", err)
	}
	if p, err := ProveWithLevels(bytes.NewReader(cor), int64(size), 0, lv); err != nil || Verify(root, p) != nil {
		t.Fatalf("intact chunk of a corrupted piece: %v", err)
	}
}

func TestProveWithLevelsErrors(t *testing.T) {
	data := testPiece(8, 100*LeafSize)
	lv := levelsOf(t, data, 8)
	if _, err := ProveWithLevels(bytes.NewReader(data), int64(len(data)), 0, nil); err == nil {
		t.Error("nil levels: no error")
	}
	if _, err := ProveWithLevels(bytes.NewReader(data), int64(len(data)), 100, lv); err == nil {
		t.Error("leaf past the end: no error")
	}
	if _, err := ProveWithLevels(bytes.NewReader(data[:90*LeafSize]), int64(len(data)), 95, lv); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("piece shorter than its size: err = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := NewBuilder().Levels(); err == nil {
		t.Error("Levels of a plain Builder: no error")
	}
}

func TestBuilderLevelsMidStreamDoNotDisturbIt(t *testing.T) {
	data := testPiece(9, 300*LeafSize+10)
	b := NewLevelsBuilder()
	for off := 0; off < len(data); off += 7 * LeafSize / 3 {
		part := data[:min(off, len(data))]
		lv, err := b.Levels()
		if err != nil {
			t.Fatal(err)
		}
		if lv.Root() != referenceRoot(part) {
			t.Fatalf("after %d bytes: levels root differs from the reference", off)
		}
		b.Write(data[off:min(off+7*LeafSize/3, len(data))])
	}
	if b.Root() != referenceRoot(data) {
		t.Fatal("builder root differs after taking levels")
	}
	if lv, _ := b.Levels(); lv.Root() != b.Root() {
		t.Fatal("final levels root differs")
	}
}
