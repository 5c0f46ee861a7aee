package blockstore

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/coop-network/coop/proofs"
)

// ID is the address of a block: proofs.ID of its bytes, their Merkle
// commitment (proofs.Root: domain-separated SHA-256 over LeafSize leaves,
// bound to the leaf count) bound to their exact length. For a piece the one
// pass that gives its id gives the commitment its holder proves against.
type ID [proofs.HashSize]byte

// Sum returns the ID of b.
func Sum(b []byte) ID { return ID(proofs.IDOf(b)) }

// String returns the ID as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is the zero value (no block has it in practice).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the ID as lowercase hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses lowercase hex strictly.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ErrInvalidID is returned by ParseID for anything but 64 lowercase hex digits.
var ErrInvalidID = errors.New("blockstore: invalid block id")

// ParseID parses exactly 64 lowercase hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %d characters, want %d", ErrInvalidID, len(s), 2*len(id))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return id, fmt.Errorf("%w: character %q at %d is not lowercase hex", ErrInvalidID, c, i)
		}
	}
	hex.Decode(id[:], []byte(s))
	return id, nil
}
