// Package manifest defines a stored file's manifest: its size, how it was cut
// into segments, encrypted and erasure-coded, and the id, size and Merkle
// commitment of every piece. A manifest is encoded as deterministic CBOR
// (Core Deterministic Encoding); Decode is strict, so every manifest has
// exactly one encoding and a decoded manifest is internally consistent
// (sizes, counts and layout agree), whatever bytes it came from.
//
// Manifests are plaintext here; the storage package encrypts them before
// they leave the owner.
package manifest

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/coop-network/coop/proofs"
)

// Version is the manifest format version this package writes and reads.
//
//   - 1: a piece's ID is the SHA-256 of its bytes, its Root the Merkle
//     commitment.
//   - 2: a piece's ID is its Merkle commitment bound to its size:
//     ID = proofs.ID(Root, Size) (one hash pass gives both). The encoding
//     is unchanged; Validate checks the relation, and refuses version 1.
const Version = 2

// Limits of the format, checked by Validate.
const (
	MaxShards       = 64      // K+M: bounds put's stripe buffers
	MinSegmentSize  = 1 << 10 // 1 KiB
	MaxSegmentSize  = 1 << 30 // 1 GiB
	MinStripeUnit   = 64      // bytes per piece per stripe
	MaxStripeUnit   = 1 << 20 // 1 MiB: bounds get's buffers, (K+M)×unit, even for a hostile manifest
	MaxSegments     = 1 << 20 // 64 TiB at the default segment size
	LeafSize        = 1024    // must equal proofs.LeafSize
	MaxEncodedSize  = 128 << 20
	darePayloadSize = 64 << 10 // DARE 2.0 package payload
	dareOverhead    = 32       // DARE 2.0 header (16) + tag (16) per package
)

// Manifest describes one stored file. Field numbers are the CBOR map keys.
type Manifest struct {
	Version     uint64    `cbor:"1,keyasint"`
	Size        uint64    `cbor:"2,keyasint"` // plaintext bytes of the file
	SegmentSize uint64    `cbor:"3,keyasint"` // plaintext bytes per segment; the last may be shorter
	K           uint64    `cbor:"4,keyasint"` // data pieces per segment
	M           uint64    `cbor:"5,keyasint"` // parity pieces per segment (extra copies if K = 1)
	StripeUnit  uint64    `cbor:"6,keyasint"` // bytes each piece gets per stripe
	LeafSize    uint64    `cbor:"7,keyasint"` // Merkle leaf size of the commitments
	Segments    []Segment `cbor:"8,keyasint"`
}

// Segment lists the K+M pieces of one segment, data pieces first.
type Segment struct {
	_      struct{} `cbor:",toarray"`
	Pieces []Piece
}

// Piece is one erasure-coded piece of a segment.
type Piece struct {
	_      struct{} `cbor:",toarray"`
	ID     [32]byte // the piece's content address: proofs.ID(Root, Size)
	Size   uint64   // bytes
	Root   [32]byte // Merkle commitment (package proofs)
	Leaves uint64   // Merkle leaves
}

// ErrInvalid wraps every reason a manifest is rejected.
var ErrInvalid = errors.New("manifest: invalid")

var (
	encMode, _ = cbor.CoreDetEncOptions().EncMode()
	decMode, _ = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   8,
		MaxArrayElements:  MaxSegments,
		MaxMapPairs:       16,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
)

// Encode validates m and returns its deterministic CBOR encoding.
func Encode(m *Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return encMode.Marshal(m)
}

// Decode parses and validates a manifest. It accepts only the canonical
// encoding: decoding and re-encoding must give back b exactly.
func Decode(b []byte) (*Manifest, error) {
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrInvalid, len(b), MaxEncodedSize)
	}
	m := new(Manifest)
	if err := decMode.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	again, err := encMode.Marshal(m)
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical encoding", ErrInvalid)
	}
	return m, nil
}

// Validate checks that every field is within the format's limits and that
// the segment and piece lists agree with the sizes and the layout.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	switch {
	case m.Version != Version:
		return bad("version %d, want %d", m.Version, Version)
	case m.K < 1 || m.K+m.M > MaxShards || m.M > MaxShards:
		return bad("k=%d m=%d: need k ≥ 1 and k+m ≤ %d", m.K, m.M, MaxShards)
	case m.SegmentSize < MinSegmentSize || m.SegmentSize > MaxSegmentSize:
		return bad("segment size %d outside [%d, %d]", m.SegmentSize, MinSegmentSize, MaxSegmentSize)
	case m.StripeUnit < MinStripeUnit || m.StripeUnit > MaxStripeUnit:
		return bad("stripe unit %d outside [%d, %d]", m.StripeUnit, MinStripeUnit, MaxStripeUnit)
	case m.LeafSize != LeafSize:
		return bad("leaf size %d, want %d", m.LeafSize, LeafSize)
	}
	want := m.Size / m.SegmentSize
	if m.Size%m.SegmentSize != 0 {
		want++
	}
	if want > MaxSegments {
		return bad("file of %d bytes needs %d segments, more than %d", m.Size, want, MaxSegments)
	}
	if uint64(len(m.Segments)) != want {
		return bad("%d segments for %d bytes in segments of %d, want %d", len(m.Segments), m.Size, m.SegmentSize, want)
	}
	for i, s := range m.Segments {
		if uint64(len(s.Pieces)) != m.K+m.M {
			return bad("segment %d has %d pieces, want %d", i, len(s.Pieces), m.K+m.M)
		}
		size := m.PieceSize(i)
		leaves := max(1, (size+LeafSize-1)/LeafSize) // as package proofs counts them
		for j, p := range s.Pieces {
			if p.Size != size {
				return bad("segment %d piece %d is %d bytes, want %d", i, j, p.Size, size)
			}
			if p.Leaves != leaves {
				return bad("segment %d piece %d has %d leaves, want %d", i, j, p.Leaves, leaves)
			}
			if p.ID != proofs.ID(p.Root, p.Size) {
				return bad("segment %d piece %d: id %x is not its root %x bound to its %d bytes", i, j, p.ID[:8], p.Root[:8], p.Size)
			}
		}
	}
	return nil
}

// SegmentPlainSize returns the plaintext size of segment i.
func (m *Manifest) SegmentPlainSize(i int) uint64 {
	return min(m.SegmentSize, m.Size-uint64(i)*m.SegmentSize)
}

// SegmentEncryptedSize returns the DARE ciphertext size of segment i.
func (m *Manifest) SegmentEncryptedSize(i int) uint64 {
	return EncryptedSize(m.SegmentPlainSize(i))
}

// PieceSize returns the size of each piece of segment i.
func (m *Manifest) PieceSize(i int) uint64 {
	return PieceSize(m.SegmentEncryptedSize(i), m.K, m.StripeUnit)
}

// EncryptedSize is the size of the DARE 2.0 ciphertext of plain bytes: each
// 64 KiB package of payload carries 32 bytes of header and tag.
func EncryptedSize(plain uint64) uint64 {
	n := plain / darePayloadSize * (darePayloadSize + dareOverhead)
	if r := plain % darePayloadSize; r > 0 {
		n += r + dareOverhead
	}
	return n
}

// PieceSize is the size of each of the pieces of enc ciphertext bytes coded
// k-wide in stripes of k×unit bytes: every full stripe gives each piece unit
// bytes, and the last, short stripe of r bytes gives each ⌈r/k⌉ bytes (the
// data zero-padded to k×⌈r/k⌉).
func PieceSize(enc, k, unit uint64) uint64 {
	stripe := k * unit
	n := enc / stripe * unit
	if r := enc % stripe; r > 0 {
		n += (r + k - 1) / k
	}
	return n
}
