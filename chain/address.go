package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// AddressSize is the length of an account address in bytes.
const AddressSize = 20

// Address identifies an account: the first 20 bytes of SHA-256 of the
// account's 32-byte ed25519 public key. It prints as 40 lowercase hex digits.
type Address [AddressSize]byte

// ErrBadAddress is returned by ParseAddress for malformed input.
var ErrBadAddress = errors.New("bad address")

// AddressOf derives the account address of an ed25519 public key.
func AddressOf(pub ed25519.PublicKey) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:AddressSize])
	return a
}

// ParseAddress parses 40 lowercase or uppercase hex digits.
func ParseAddress(s string) (Address, error) {
	var a Address
	if len(s) != 2*AddressSize {
		return a, fmt.Errorf("%w %q: want %d hex digits, got %d", ErrBadAddress, s, 2*AddressSize, len(s))
	}
	if _, err := hex.Decode(a[:], []byte(s)); err != nil {
		return a, fmt.Errorf("%w %q: %v", ErrBadAddress, s, err)
	}
	return a, nil
}

// String returns the address as lowercase hex.
func (a Address) String() string { return hex.EncodeToString(a[:]) }

// IsZero reports whether a is the all-zero address.
func (a Address) IsZero() bool { return a == Address{} }

// MarshalText encodes the address as hex (JSON output).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses a hex address.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// HashSize is the length of content addresses (SHA-256).
const HashSize = 32

// Hash is a 32-byte SHA-256 digest: a content address (file id, piece id,
// both Merkle commitments, proofs.Root), a commitment root, an epoch seed.
// It prints as 64 lowercase hex digits.
type Hash [HashSize]byte

// ErrBadHash is returned by ParseHash for malformed input.
var ErrBadHash = errors.New("bad hash")

// ParseHash parses 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("%w %q: want %d hex digits, got %d", ErrBadHash, s, 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%w %q: %v", ErrBadHash, s, err)
	}
	return h, nil
}

// String returns the hash as lowercase hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes the hash as hex (JSON output).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses a hex hash.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}
