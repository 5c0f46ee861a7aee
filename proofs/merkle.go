package proofs

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
)

// LeafSize is the size in bytes of one Merkle leaf.
const LeafSize = 1024

// HashSize is the size of a Hash.
const HashSize = sha256.Size

// Domain-separation prefixes of leaf and interior hashes, commitments and ids.
const (
	leafPrefix = 0x00
	nodePrefix = 0x01
	rootPrefix = 0x02
	idPrefix   = 0x03
)

// Hash is a SHA-256 digest: a leaf hash, an interior hash or a root.
type Hash [HashSize]byte

// String returns the hash as lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ErrInvalidHash is returned by ParseHash for anything but 64 lowercase hex digits.
var ErrInvalidHash = errors.New("proofs: invalid hash")

// ParseHash parses 64 lowercase hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("%w: %d characters, want %d", ErrInvalidHash, len(s), 2*HashSize)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return h, fmt.Errorf("%w: character %q at %d is not lowercase hex", ErrInvalidHash, c, i)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w: %v", ErrInvalidHash, err)
	}
	return h, nil
}

// LeafHash returns the hash of one leaf. A leaf shorter than LeafSize is
// zero-padded; a longer one is a programmer error and panics.
func LeafHash(leaf []byte) Hash {
	if len(leaf) > LeafSize {
		panic("proofs: leaf longer than LeafSize")
	}
	var buf [1 + LeafSize]byte
	buf[0] = leafPrefix
	copy(buf[1:], leaf)
	return sha256.Sum256(buf[:])
}

// NodeHash returns the hash of an interior node from its children.
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*HashSize]byte
	buf[0] = nodePrefix
	copy(buf[1:], left[:])
	copy(buf[1+HashSize:], right[:])
	return sha256.Sum256(buf[:])
}

// commitment binds the tree's root to its leaf count, so that a proof cannot
// claim a different tree size: an RFC 9162 path alone does not fix it.
func commitment(leaves uint64, treeRoot Hash) Hash {
	var buf [1 + 8 + HashSize]byte
	buf[0] = rootPrefix
	binary.BigEndian.PutUint64(buf[1:], leaves)
	copy(buf[9:], treeRoot[:])
	return sha256.Sum256(buf[:])
}

// ID returns the content address of a piece (any block) of size bytes whose
// commitment is root: SHA-256(0x03 ‖ uint64_be(size) ‖ root). The
// commitment alone does not fix the bytes: the last leaf is zero-padded, so
// a piece and the same piece with zero bytes appended within its last leaf
// have one commitment. The id binds the exact length, so it names one byte
// string; computing it costs one 41-byte hash on top of the commitment, so a
// single pass over the bytes gives both.
func ID(root Hash, size uint64) Hash {
	var buf [1 + 8 + HashSize]byte
	buf[0] = idPrefix
	binary.BigEndian.PutUint64(buf[1:], size)
	copy(buf[9:], root[:])
	return sha256.Sum256(buf[:])
}

// IDOf returns the ID of data held in memory.
func IDOf(data []byte) Hash { return ID(Root(data), uint64(len(data))) }

// LeafCount returns the number of leaves of a piece of size bytes (at least 1).
func LeafCount(size int64) uint64 {
	if size <= 0 {
		return 1
	}
	return uint64((size + LeafSize - 1) / LeafSize)
}

// Root returns the commitment of data held in memory. It equals the root a
// Builder computes over the same bytes.
func Root(data []byte) Hash {
	b := NewBuilder()
	b.Write(data)
	return b.Root()
}

// splitPoint is the largest power of two strictly smaller than n (n >= 2).
func splitPoint(n uint64) uint64 {
	return 1 << (bits.Len64(n-1) - 1)
}

// PathLen returns the number of hashes in the proof of leaf index of a tree
// of n leaves, or -1 if index is not a leaf of it.
func PathLen(index, n uint64) int {
	if n == 0 || index >= n {
		return -1
	}
	l := 0
	for n > 1 {
		k := splitPoint(n)
		if index < k {
			n = k
		} else {
			index -= k
			n -= k
		}
		l++
	}
	return l
}
