package proofs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// SubtreeLeaves is the number of leaves (SubtreeLeaves × LeafSize = 64 KiB of
// piece) under each root a Levels keeps, and so the most a prover holding the
// Levels reads to answer one challenge.
const SubtreeLeaves = 64

// LevelsVersion is the version byte of the binary Levels encoding.
const LevelsVersion = 1

// levelsHeaderSize is version(1) + leaves(8) + commitment(32).
const levelsHeaderSize = 1 + 8 + HashSize

// Errors about Levels.
var (
	// ErrMalformedLevels means encoded Levels have an impossible shape
	// (version, leaf count, length).
	ErrMalformedLevels = errors.New("proofs: malformed levels")
	// ErrLevelsMismatch means Levels do not belong to the piece or commitment
	// they are used with, or were corrupted.
	ErrLevelsMismatch = errors.New("proofs: levels do not match the piece")
)

// Levels are the upper levels of a piece's tree, kept beside the piece so
// that a challenge is answered by reading one SubtreeLeaves-leaf chunk (64 KiB)
// instead of the whole piece: see ProveWithLevels. They hold the roots of the
// consecutive chunks of SubtreeLeaves leaves (the last chunk may be shorter),
// 32 bytes per 64 KiB of piece; the tree above them is rebuilt in memory.
//
// In the RFC 9162 shape every chunk starting at a multiple of SubtreeLeaves
// is a subtree (a left subtree larger than SubtreeLeaves leaves is a power of
// two, hence a multiple of SubtreeLeaves; the one short chunk is the last,
// rightmost subtree), and the tree above the chunk roots has the RFC 9162
// shape over them. So a path is the chunk's own path followed by the chunk
// root's path among the chunk roots.
type Levels struct {
	leaves uint64
	upper  *Tree // upper.levels[0] are the chunk roots
	root   Hash  // the commitment, recomputed from the chunk roots
}

// chunkCount is the number of SubtreeLeaves-leaf chunks of n leaves, without
// overflowing for any n.
func chunkCount(n uint64) uint64 {
	c := n / SubtreeLeaves
	if n%SubtreeLeaves != 0 {
		c++
	}
	return c
}

// newLevels builds Levels of a tree of n leaves from its chunk roots
// (len(roots) == chunkCount(n) >= 1) and recomputes its commitment.
func newLevels(n uint64, roots []Hash) *Levels {
	up := treeOf(roots)
	return &Levels{leaves: n, upper: up, root: commitment(n, up.rangeRoot(0, up.Leaves()))}
}

// NewLevelsBuilder returns a Builder that also keeps the roots of the
// piece's chunks, so that Levels can be called once the piece is written. It
// keeps 32 bytes per 64 KiB written on top of a Builder's O(log n).
func NewLevelsBuilder() *Builder {
	b := NewBuilder()
	b.keepLevels = true
	return b
}

// Levels returns the Levels of the bytes written so far. It does not change
// the Builder. It fails if the Builder was not made by NewLevelsBuilder.
func (b *Builder) Levels() (*Levels, error) {
	if !b.keepLevels {
		return nil, errors.New("proofs: Levels of a Builder not made by NewLevelsBuilder")
	}
	n := b.Leaves()
	roots := make([]Hash, len(b.chunks), chunkCount(n))
	copy(roots, b.chunks)
	if n > uint64(len(b.chunks))*SubtreeLeaves {
		// The last, short chunk: the stack's perfect subtrees smaller than a
		// chunk (one per bit of the complete leaves past the last chunk) and
		// the pending leaf, folded from the right as in treeRoot.
		tail := append([]Hash(nil), b.stack[len(b.stack)-bits.OnesCount64(b.leaves%SubtreeLeaves):]...)
		if b.fill > 0 || b.leaves == 0 {
			tail = append(tail, LeafHash(b.leaf[1:1+b.fill]))
		}
		r := tail[len(tail)-1]
		for i := len(tail) - 2; i >= 0; i-- {
			r = NodeHash(tail[i], r)
		}
		roots = append(roots, r)
	}
	return newLevels(n, roots), nil
}

// Leaves returns the leaf count of the piece the Levels belong to.
func (lv *Levels) Leaves() uint64 { return lv.leaves }

// Root returns the commitment recomputed from the chunk roots (never the copy
// in an encoding). Compare it with the piece's known commitment, or use
// Check, before trusting Levels read from disk.
func (lv *Levels) Root() Hash { return lv.root }

// Check returns ErrLevelsMismatch unless the Levels belong to the piece whose
// commitment is root.
func (lv *Levels) Check(root Hash) error {
	if lv.root != root {
		return fmt.Errorf("%w: levels lead to commitment %s, want %s", ErrLevelsMismatch, lv.root, root)
	}
	return nil
}

// EncodedSize returns the size of the binary encoding, LevelsSize of the piece.
func (lv *Levels) EncodedSize() int { return levelsHeaderSize + len(lv.upper.levels[0])*HashSize }

// LevelsSize returns the size of the encoded Levels of a piece of size bytes:
// 41 bytes plus 32 per 64 KiB chunk begun, 8233 bytes (0.049 %) for 16 MiB,
// under 0.06 % of any piece of 1 MiB or more.
func LevelsSize(size int64) int64 {
	return levelsHeaderSize + int64(chunkCount(LeafCount(size)))*HashSize
}

// MarshalBinary encodes the Levels as
//
//	version (1 byte, = 1) ‖ leaves (uint64 BE) ‖ commitment (32 bytes) ‖
//	⌈leaves/64⌉ × 32-byte chunk roots, in order
func (lv *Levels) MarshalBinary() ([]byte, error) {
	b := make([]byte, levelsHeaderSize, lv.EncodedSize())
	b[0] = LevelsVersion
	binary.BigEndian.PutUint64(b[1:], lv.leaves)
	copy(b[9:], lv.root[:])
	for _, h := range lv.upper.levels[0] {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes Levels strictly: known version, at least one leaf,
// exact length for the leaf count (checked before allocating), and the
// commitment recomputed from the chunk roots equal to the one in the header,
// so a corrupted encoding is refused (ErrLevelsMismatch). It cannot tell
// Levels of another piece: compare Root with the piece's commitment.
func (lv *Levels) UnmarshalBinary(b []byte) error {
	if len(b) < levelsHeaderSize {
		return fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrMalformedLevels, len(b), levelsHeaderSize)
	}
	if b[0] != LevelsVersion {
		return fmt.Errorf("%w: unknown version %d", ErrMalformedLevels, b[0])
	}
	n := binary.BigEndian.Uint64(b[1:])
	if n == 0 {
		return fmt.Errorf("%w: zero leaves", ErrMalformedLevels)
	}
	rest := len(b) - levelsHeaderSize
	if m := chunkCount(n); rest%HashSize != 0 || uint64(rest/HashSize) != m {
		return fmt.Errorf("%w: %d bytes of chunk roots, want %d × %d for %d leaves", ErrMalformedLevels, rest, m, HashSize, n)
	}
	var stored Hash
	copy(stored[:], b[9:])
	roots := make([]Hash, rest/HashSize)
	for i := range roots {
		copy(roots[i][:], b[levelsHeaderSize+i*HashSize:])
	}
	q := newLevels(n, roots)
	if err := q.Check(stored); err != nil {
		return fmt.Errorf("%w (corrupted levels)", err)
	}
	*lv = *q
	return nil
}

// DecodeLevels decodes binary Levels; see UnmarshalBinary.
func DecodeLevels(b []byte) (*Levels, error) {
	lv := new(Levels)
	if err := lv.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return lv, nil
}

// ProveWithLevels builds the proof of leaf index of the piece of size bytes
// readable from r, given the piece's Levels. It reads only the chunk of
// SubtreeLeaves leaves holding the leaf (one ReadAt of at most 64 KiB),
// rebuilds that chunk's subtree and takes the rest of the path from lv. The
// proof is the one ProveAt builds. A chunk whose root differs from the one in
// lv (the piece or the Levels are corrupted, or lv is another piece's) gives
// ErrLevelsMismatch rather than a proof that would fail Verify. Levels wrong
// only in another chunk's root would give a proof that fails Verify; Levels
// that pass Check against the piece's commitment cannot be wrong so.
func ProveWithLevels(r io.ReaderAt, size int64, index uint64, lv *Levels) (*Proof, error) {
	if lv == nil {
		return nil, errors.New("proofs: nil levels")
	}
	n := LeafCount(size)
	if lv.leaves != n {
		return nil, fmt.Errorf("%w: levels of %d leaves for a piece of %d", ErrLevelsMismatch, lv.leaves, n)
	}
	if index >= n {
		return nil, fmt.Errorf("proofs: leaf %d out of range: piece has %d leaves", index, n)
	}
	j := index / SubtreeLeaves
	lo := j * SubtreeLeaves
	cnt := min(SubtreeLeaves, n-lo)
	buf := make([]byte, cnt*LeafSize) // zeros past the piece's end pad its last leaf
	off := int64(lo) * LeafSize
	if want := min(int64(len(buf)), size-off); want > 0 {
		got, err := r.ReadAt(buf[:want], off)
		if int64(got) < want {
			if err == nil || errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("proofs: reading chunk %d of the piece at %d: %w", j, off, err)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("proofs: reading chunk %d of the piece at %d: %w", j, off, err)
		}
	}
	hs := make([]Hash, cnt)
	for i := range hs {
		hs[i] = LeafHash(buf[i*LeafSize : (i+1)*LeafSize])
	}
	sub := treeOf(hs)
	if got, want := sub.rangeRoot(0, cnt), lv.upper.levels[0][j]; got != want {
		return nil, fmt.Errorf("%w: chunk %d hashes to %s, the levels hold %s", ErrLevelsMismatch, j, got, want)
	}
	i := index - lo
	return &Proof{
		Index:  index,
		Leaves: n,
		Leaf:   append([]byte(nil), buf[i*LeafSize:(i+1)*LeafSize]...),
		Path:   append(sub.path(i), lv.upper.path(j)...),
	}, nil
}
