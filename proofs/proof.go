package proofs

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Proof shows that Leaf is leaf number Index of a piece of Leaves leaves
// committed to by some root: Path holds the sibling hashes from the leaf up
// to the root, in the order of RFC 9162 inclusion proofs.
type Proof struct {
	Index  uint64
	Leaves uint64
	Leaf   []byte // the leaf's bytes, exactly LeafSize (the last leaf zero-padded)
	Path   []Hash
}

// Errors of proof verification and generation.
var (
	// ErrProofMismatch means the proof is well-formed but does not lead to the root.
	ErrProofMismatch = errors.New("proofs: proof does not match the commitment")
	// ErrMalformedProof means the proof's shape is impossible (index, leaf size, path length).
	ErrMalformedProof = errors.New("proofs: malformed proof")
)

// Verify checks p against root. It returns nil only if p.Leaf is leaf p.Index
// of a tree of p.Leaves leaves whose root is root.
func Verify(root Hash, p *Proof) error {
	if p == nil {
		return fmt.Errorf("%w: nil proof", ErrMalformedProof)
	}
	if err := p.checkShape(); err != nil {
		return err
	}
	// RFC 9162 section 2.1.3.2.
	fn, sn := p.Index, p.Leaves-1
	r := LeafHash(p.Leaf)
	for _, h := range p.Path {
		if sn == 0 {
			return fmt.Errorf("%w: path too long", ErrMalformedProof)
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(h, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, h)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return fmt.Errorf("%w: path too short", ErrMalformedProof)
	}
	if commitment(p.Leaves, r) != root {
		return ErrProofMismatch
	}
	return nil
}

// ProveAt builds the proof of leaf index of the piece of size bytes readable
// from r. It reads the challenged leaf and recomputes the hashes of all other
// leaves (it keeps no tree), so one call costs reading and hashing the whole
// piece once — about 10 ms for a 16 MiB piece — with O(log n) memory. Callers
// proving many leaves of one piece should use BuildTree instead.
func ProveAt(r io.ReaderAt, size int64, index uint64) (*Proof, error) {
	n := LeafCount(size)
	if index >= n {
		return nil, fmt.Errorf("proofs: leaf %d out of range: piece has %d leaves", index, n)
	}
	leaf := make([]byte, LeafSize)
	if err := readLeaf(r, size, index, leaf); err != nil {
		return nil, err
	}
	p := &Proof{Index: index, Leaves: n, Leaf: leaf}
	// Walk down from the root; each step's sibling is a whole subtree whose
	// root is computed by streaming its leaves. Siblings are found top-down
	// but the path lists them bottom-up.
	var path []Hash
	lo, cnt := uint64(0), n
	buf := make([]byte, 64*LeafSize)
	for cnt > 1 {
		k := splitPoint(cnt)
		var h Hash
		var err error
		if index-lo < k {
			h, err = rangeRoot(r, size, lo+k, cnt-k, buf)
			cnt = k
		} else {
			h, err = rangeRoot(r, size, lo, k, buf)
			lo += k
			cnt -= k
		}
		if err != nil {
			return nil, err
		}
		path = append(path, h)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	p.Path = path
	return p, nil
}

// readLeaf reads leaf index into leaf (LeafSize bytes), zero-padding past size.
func readLeaf(r io.ReaderAt, size int64, index uint64, leaf []byte) error {
	clear(leaf)
	off := int64(index) * LeafSize
	want := min(int64(LeafSize), size-off)
	if want <= 0 {
		return nil
	}
	if _, err := r.ReadAt(leaf[:want], off); err != nil && !(errors.Is(err, io.EOF)) {
		return fmt.Errorf("proofs: reading leaf %d: %w", index, err)
	} else if err != nil {
		return fmt.Errorf("proofs: reading leaf %d: piece shorter than %d bytes: %w", index, size, io.ErrUnexpectedEOF)
	}
	return nil
}

// rangeRoot returns the root of the subtree over leaves [first, first+count),
// streaming them from r through a Builder.
func rangeRoot(r io.ReaderAt, size int64, first, count uint64, buf []byte) (Hash, error) {
	b := NewBuilder()
	off := int64(first) * LeafSize
	end := min(int64(first+count)*LeafSize, size)
	for off < end {
		n := min(int64(len(buf)), end-off)
		if _, err := r.ReadAt(buf[:n], off); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Hash{}, fmt.Errorf("proofs: reading piece at %d: %w", off, err)
		}
		b.Write(buf[:n])
		off += n
	}
	if b.Size() == 0 {
		// Only the zero-byte piece has an empty leaf range; it is one zero leaf.
		return LeafHash(nil), nil
	}
	// A range not ending at the piece's end holds whole leaves, so the
	// builder's padding applies only to the piece's last leaf, as it should.
	return b.treeRoot(), nil
}

// Tree holds every hash of a piece's tree (about 64 bytes per LeafSize bytes,
// 6 % of the piece) so that many leaves can be proved without rehashing:
// each proof then costs O(log² n) hashes at most.
type Tree struct {
	levels [][]Hash // levels[0] are the leaf hashes; levels[h+1][i] = NodeHash(levels[h][2i], levels[h][2i+1])
}

// BuildTree reads a whole piece from r and keeps its tree.
func BuildTree(r io.Reader) (*Tree, error) {
	var leaves []Hash
	buf := make([]byte, LeafSize)
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			leaves = append(leaves, LeafHash(buf[:n]))
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("proofs: reading piece: %w", err)
		}
	}
	if len(leaves) == 0 {
		leaves = append(leaves, LeafHash(nil))
	}
	return treeOf(leaves), nil
}

// treeOf builds the RFC 9162 tree whose bottom level is hs (at least one
// hash), keeping hs itself as that level.
func treeOf(hs []Hash) *Tree {
	t := &Tree{levels: [][]Hash{hs}}
	for l := hs; len(l) > 1; {
		next := make([]Hash, len(l)/2)
		for i := range next {
			next[i] = NodeHash(l[2*i], l[2*i+1])
		}
		t.levels = append(t.levels, next)
		l = next
	}
	return t
}

// Leaves returns the number of leaves.
func (t *Tree) Leaves() uint64 { return uint64(len(t.levels[0])) }

// Root returns the commitment.
func (t *Tree) Root() Hash { return commitment(t.Leaves(), t.rangeRoot(0, t.Leaves())) }

// rangeRoot returns the root of leaves [lo, lo+cnt) where the range is a
// subtree of the RFC 9162 shape (lo aligned to the largest power of two in cnt).
func (t *Tree) rangeRoot(lo, cnt uint64) Hash {
	if cnt&(cnt-1) == 0 {
		h := bits.TrailingZeros64(cnt)
		return t.levels[h][lo>>h]
	}
	k := splitPoint(cnt)
	return NodeHash(t.rangeRoot(lo, k), t.rangeRoot(lo+k, cnt-k))
}

// Prove builds the proof of leaf index, whose bytes (at most LeafSize, padded
// here) the caller supplies, typically read from the piece.
func (t *Tree) Prove(index uint64, leaf []byte) (*Proof, error) {
	n := t.Leaves()
	if index >= n {
		return nil, fmt.Errorf("proofs: leaf %d out of range: piece has %d leaves", index, n)
	}
	if len(leaf) > LeafSize {
		return nil, fmt.Errorf("proofs: leaf is %d bytes, more than %d", len(leaf), LeafSize)
	}
	p := &Proof{Index: index, Leaves: n, Leaf: make([]byte, LeafSize)}
	copy(p.Leaf, leaf)
	p.Path = t.path(index)
	return p, nil
}

// path returns the sibling hashes of bottom-level node index (< t.Leaves())
// from the bottom up, in the order of RFC 9162 inclusion proofs.
func (t *Tree) path(index uint64) []Hash {
	var path []Hash
	lo, cnt := uint64(0), t.Leaves()
	for cnt > 1 {
		k := splitPoint(cnt)
		if index-lo < k {
			path = append(path, t.rangeRoot(lo+k, cnt-k))
			cnt = k
		} else {
			path = append(path, t.rangeRoot(lo, k))
			lo += k
			cnt -= k
		}
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}
