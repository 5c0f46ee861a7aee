package proofs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// virtualPiece is a deterministic pseudo-random piece that is never stored:
// ReadAt computes AES-CTR keystream at the offset, so a 1 GiB piece set costs
// no memory or disk.
type virtualPiece struct {
	block cipher.Block
	size  int64
}

func newVirtualPiece(seed byte, size int64) *virtualPiece {
	key := make([]byte, 32)
	key[0] = seed
	b, _ := aes.NewCipher(key)
	return &virtualPiece{block: b, size: size}
}

func (v *virtualPiece) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > v.size-off {
		n = int(v.size - off)
	}
	// Keystream from block off/16; offsets used here are 16-byte aligned.
	var iv [16]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/16))
	clear(p[:n])
	cipher.NewCTR(v.block, iv[:]).XORKeyStream(p[:n], p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// pieceSet is 64 pieces of 16 MiB: a 1 GiB set, the pieces of 256 MiB of a
// file at k=4 m=2... or of 1 GiB stored once.
const (
	setPieces    = 64
	setPieceSize = 16 << 20
)

var (
	setOnce  sync.Once
	setP     []*virtualPiece
	setTrees []*Tree
)

func pieceSetFixture(b *testing.B) ([]*virtualPiece, []*Tree) {
	setOnce.Do(func() {
		for i := range setPieces {
			p := newVirtualPiece(byte(i), setPieceSize)
			t, err := BuildTree(io.NewSectionReader(p, 0, p.size))
			if err != nil {
				b.Fatal(err)
			}
			setP, setTrees = append(setP, p), append(setTrees, t)
		}
	})
	return setP, setTrees
}

// leafHashBaseline is the cost of hashing one leaf: the floor of any
// verification.
func leafHashBaseline() float64 {
	leaf := make([]byte, LeafSize)
	const n = 20000
	start := time.Now()
	for range n {
		LeafHash(leaf)
	}
	return float64(time.Since(start).Nanoseconds()) / n
}

// BenchmarkVerify verifies proofs of random leaves of a 1 GiB piece set.
func BenchmarkVerify(b *testing.B) {
	pieces, trees := pieceSetFixture(b)
	r := rand.New(rand.NewPCG(1, 1))
	type challenge struct {
		root  Hash
		proof *Proof
	}
	var cs []challenge
	size := 0
	for range 256 {
		i := r.IntN(len(pieces))
		leaf := r.Uint64N(trees[i].Leaves())
		buf := make([]byte, LeafSize)
		pieces[i].ReadAt(buf, int64(leaf)*LeafSize)
		p, err := trees[i].Prove(leaf, buf)
		if err != nil {
			b.Fatal(err)
		}
		enc, _ := p.MarshalBinary()
		size = len(enc)
		cs = append(cs, challenge{trees[i].Root(), p})
	}
	base := leafHashBaseline()
	b.Run("1GiB-set/16MiB-pieces", func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			c := cs[i%len(cs)]
			if err := Verify(c.root, c.proof); err != nil {
				b.Fatal(err)
			}
		}
		per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		b.ReportMetric(per/1000, "µs/verify")
		b.ReportMetric(float64(size), "proof-bytes")
		b.ReportMetric(base/per, "x-baseline")
	})
}

// BenchmarkProve generates proofs for random leaves of a 1 GiB piece set:
// from a kept Tree (O(log² n) hashes) and from the piece alone with ProveAt
// (reads and hashes the whole 16 MiB piece).
func BenchmarkProve(b *testing.B) {
	pieces, trees := pieceSetFixture(b)
	base := leafHashBaseline()
	b.Run("tree/1GiB-set/16MiB-pieces", func(b *testing.B) {
		r := rand.New(rand.NewPCG(2, 2))
		buf := make([]byte, LeafSize)
		for i := 0; i < b.N; i++ {
			j := r.IntN(len(pieces))
			leaf := r.Uint64N(trees[j].Leaves())
			pieces[j].ReadAt(buf, int64(leaf)*LeafSize)
			if _, err := trees[j].Prove(leaf, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("readerat/16MiB-piece", func(b *testing.B) {
		r := rand.New(rand.NewPCG(3, 3))
		b.SetBytes(setPieceSize)
		start := time.Now()
		for i := 0; i < b.N; i++ {
			j := r.IntN(len(pieces))
			leaf := r.Uint64N(setPieceSize / LeafSize)
			p, err := ProveAt(pieces[j], setPieceSize, leaf)
			if err != nil {
				b.Fatal(err)
			}
			if err := Verify(trees[j].Root(), p); err != nil {
				b.Fatal(err)
			}
		}
		per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		// Baseline: hashing the piece's leaves once.
		b.ReportMetric(base*setPieceSize/LeafSize/per, "x-baseline")
	})
}

// BenchmarkBuilder is the streaming commitment's throughput.
func BenchmarkBuilder(b *testing.B) {
	p := newVirtualPiece(1, setPieceSize)
	data := make([]byte, setPieceSize)
	p.ReadAt(data, 0)
	for _, chunk := range []int{4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("16MiB/writes-of-%dKiB", chunk>>10), func(b *testing.B) {
			// Baseline: one plain SHA-256 over the same bytes.
			t0 := time.Now()
			for range 3 {
				sha256.Sum256(data)
			}
			base := time.Since(t0).Seconds() / 3
			b.SetBytes(setPieceSize)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				bl := NewBuilder()
				for off := 0; off < len(data); off += chunk {
					bl.Write(data[off : off+chunk])
				}
				bl.Root()
			}
			b.ReportMetric(base/(time.Since(start).Seconds()/float64(b.N)), "x-baseline")
		})
	}
}

// BenchmarkProveWithLevels proves random leaves of one 16 MiB piece from its
// Levels (one 64 KiB read), and reports the bytes read per proof and its time
// as a fraction of ProveAt's on the same piece, measured in the same run.
func BenchmarkProveWithLevels(b *testing.B) {
	piece := newVirtualPiece(7, setPieceSize)
	bl := NewLevelsBuilder()
	if _, err := io.Copy(bl, io.NewSectionReader(piece, 0, setPieceSize)); err != nil {
		b.Fatal(err)
	}
	lv, err := bl.Levels()
	if err != nil {
		b.Fatal(err)
	}
	root := bl.Root()
	b.Run("16MiB-piece", func(b *testing.B) {
		// ProveAt's time per proof on the same piece: the reference.
		r := rand.New(rand.NewPCG(6, 6))
		const refRuns = 5
		t0 := time.Now()
		for range refRuns {
			if _, err := ProveAt(piece, setPieceSize, r.Uint64N(setPieceSize/LeafSize)); err != nil {
				b.Fatal(err)
			}
		}
		ref := float64(time.Since(t0).Nanoseconds()) / refRuns
		cr := &countingReaderAt{r: piece}
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			leaf := r.Uint64N(setPieceSize / LeafSize)
			if _, err := ProveWithLevels(cr, setPieceSize, leaf, lv); err != nil {
				b.Fatal(err)
			}
		}
		per := float64(time.Since(start).Nanoseconds()) / float64(b.N)
		b.StopTimer()
		p, _ := ProveWithLevels(piece, setPieceSize, 12345, lv)
		if err := Verify(root, p); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(cr.bytes)/float64(b.N), "bytes-read/proof")
		b.ReportMetric(per/ref, "x-proveat")
		b.ReportMetric(float64(lv.EncodedSize()), "levels-bytes")
	})
}
