package proofs

import (
	"encoding/binary"
	"fmt"
)

// ProofVersion is the version byte of the binary proof encoding.
const ProofVersion = 1

// proofHeaderSize is version(1) + index(8) + leaves(8) + path length(1).
const proofHeaderSize = 1 + 8 + 8 + 1

// maxPathLen bounds the path: a tree of 2^64 leaves has 64 levels.
const maxPathLen = 64

// MaxProofSize is the size of the largest valid encoded proof.
const MaxProofSize = proofHeaderSize + LeafSize + maxPathLen*HashSize

// EncodedSize returns the size of p's binary encoding.
func (p *Proof) EncodedSize() int { return proofHeaderSize + LeafSize + len(p.Path)*HashSize }

// MarshalBinary encodes p as
//
//	version (1 byte, = 1) ‖ index (uint64 BE) ‖ leaves (uint64 BE) ‖
//	path length h (1 byte) ‖ leaf (LeafSize bytes) ‖ h × 32-byte hashes
//
// It refuses a proof whose shape is impossible.
func (p *Proof) MarshalBinary() ([]byte, error) {
	if err := p.checkShape(); err != nil {
		return nil, err
	}
	b := make([]byte, proofHeaderSize, p.EncodedSize())
	b[0] = ProofVersion
	binary.BigEndian.PutUint64(b[1:], p.Index)
	binary.BigEndian.PutUint64(b[9:], p.Leaves)
	b[17] = byte(len(p.Path))
	b = append(b, p.Leaf...)
	for _, h := range p.Path {
		b = append(b, h[:]...)
	}
	return b, nil
}

// UnmarshalBinary decodes a proof strictly: known version, exact length, leaf
// index inside the tree, path length exactly what the tree shape requires.
// It does not verify the proof against a root; Verify does.
func (p *Proof) UnmarshalBinary(b []byte) error {
	if len(b) < proofHeaderSize+LeafSize {
		return fmt.Errorf("%w: %d bytes, shorter than the minimum %d", ErrMalformedProof, len(b), proofHeaderSize+LeafSize)
	}
	if b[0] != ProofVersion {
		return fmt.Errorf("%w: unknown version %d", ErrMalformedProof, b[0])
	}
	q := Proof{
		Index:  binary.BigEndian.Uint64(b[1:]),
		Leaves: binary.BigEndian.Uint64(b[9:]),
	}
	h := int(b[17])
	if h > maxPathLen {
		return fmt.Errorf("%w: path length %d exceeds %d", ErrMalformedProof, h, maxPathLen)
	}
	if want := proofHeaderSize + LeafSize + h*HashSize; len(b) != want {
		return fmt.Errorf("%w: %d bytes, want %d for a path of %d", ErrMalformedProof, len(b), want, h)
	}
	q.Leaf = append([]byte(nil), b[proofHeaderSize:proofHeaderSize+LeafSize]...)
	q.Path = make([]Hash, h)
	for i := range q.Path {
		copy(q.Path[i][:], b[proofHeaderSize+LeafSize+i*HashSize:])
	}
	if err := q.checkShape(); err != nil {
		return err
	}
	*p = q
	return nil
}

// DecodeProof decodes a binary proof; see UnmarshalBinary.
func DecodeProof(b []byte) (*Proof, error) {
	p := new(Proof)
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, err
	}
	return p, nil
}

// checkShape checks everything about p that does not need the root.
func (p *Proof) checkShape() error {
	if len(p.Leaf) != LeafSize {
		return fmt.Errorf("%w: leaf is %d bytes, want %d", ErrMalformedProof, len(p.Leaf), LeafSize)
	}
	want := PathLen(p.Index, p.Leaves)
	if want < 0 {
		return fmt.Errorf("%w: leaf %d of %d", ErrMalformedProof, p.Index, p.Leaves)
	}
	if len(p.Path) != want {
		return fmt.Errorf("%w: path has %d hashes, want %d for leaf %d of %d", ErrMalformedProof, len(p.Path), want, p.Index, p.Leaves)
	}
	return nil
}
