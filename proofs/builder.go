package proofs

import (
	"crypto/sha256"
	"hash"
)

// Builder computes a piece's commitment while the piece is written through
// it. It keeps one pending partial leaf and at most one subtree hash per bit
// of the leaf count, so its memory is O(log n) whatever the piece size.
// The zero value is not usable; call NewBuilder.
type Builder struct {
	h      hash.Hash // reused SHA-256 state for whole leaves
	sum    Hash
	leaf   [1 + LeafSize]byte // prefix byte, then the pending leaf
	fill   int                // bytes of the pending leaf
	leaves uint64             // complete leaves hashed so far
	stack  []Hash             // roots of perfect subtrees, largest first
	size   int64

	keepLevels bool   // set by NewLevelsBuilder
	chunks     []Hash // with keepLevels: roots of the complete SubtreeLeaves-leaf chunks so far
}

// NewBuilder returns a Builder for a new piece.
func NewBuilder() *Builder {
	b := &Builder{stack: make([]Hash, 0, 48), h: sha256.New()}
	b.leaf[0] = leafPrefix
	return b
}

// Write adds p to the piece. It never fails.
func (b *Builder) Write(p []byte) (int, error) {
	n := len(p)
	b.size += int64(n)
	for len(p) > 0 {
		if b.fill == 0 && len(p) >= LeafSize {
			// Whole leaves straight from p, without copying.
			b.h.Reset()
			b.h.Write(b.leaf[:1]) // the leaf prefix
			b.h.Write(p[:LeafSize])
			b.h.Sum(b.sum[:0])
			b.push(b.sum)
			p = p[LeafSize:]
			continue
		}
		c := copy(b.leaf[1+b.fill:], p)
		b.fill += c
		p = p[c:]
		if b.fill == LeafSize {
			b.push(LeafHash(b.leaf[1:]))
			b.fill = 0
		}
	}
	return n, nil
}

// push adds the hash of leaf number b.leaves and merges equal-sized subtrees.
func (b *Builder) push(h Hash) {
	b.stack = append(b.stack, h)
	b.leaves++
	// Each trailing one bit of the new count is a pair of equal subtrees to merge.
	for c, merged := b.leaves, uint64(2); c&1 == 0; c, merged = c>>1, merged<<1 {
		n := len(b.stack)
		b.stack[n-2] = NodeHash(b.stack[n-2], b.stack[n-1])
		b.stack = b.stack[:n-1]
		if merged == SubtreeLeaves && b.keepLevels {
			b.chunks = append(b.chunks, b.stack[n-2])
		}
	}
}

// Size returns the number of bytes written so far.
func (b *Builder) Size() int64 { return b.size }

// Leaves returns the number of leaves of the piece written so far (at least 1).
func (b *Builder) Leaves() uint64 {
	if b.fill > 0 || b.leaves == 0 {
		return b.leaves + 1
	}
	return b.leaves
}

// Root returns the commitment of the bytes written so far. It does not change
// the Builder, so writing may continue afterwards.
func (b *Builder) Root() Hash { return commitment(b.Leaves(), b.treeRoot()) }

// ID returns the ID (content address) of the bytes written so far: their
// commitment bound to their length. It does not change the Builder.
func (b *Builder) ID() Hash { return ID(b.Root(), uint64(b.size)) }

// treeRoot returns the RFC 9162 root of the leaves written so far.
func (b *Builder) treeRoot() Hash {
	stack := append([]Hash(nil), b.stack...)
	if b.fill > 0 || b.leaves == 0 {
		stack = append(stack, LeafHash(b.leaf[1:1+b.fill]))
	}
	// The stack holds perfect subtrees in decreasing size; RFC 9162 folds
	// them from the right.
	r := stack[len(stack)-1]
	for i := len(stack) - 2; i >= 0; i-- {
		r = NodeHash(stack[i], r)
	}
	return r
}
