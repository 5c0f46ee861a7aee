package storage

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/coop-network/coop/storage/blockstore"
)

// CapabilityPrefix starts every capability string; the digit is the format version.
const CapabilityPrefix = "coop1"

// capabilityChecksum is the number of checksum bytes, to catch typos.
const capabilityChecksum = 4

// capabilityLen is the length of a capability string.
var capabilityLen = len(CapabilityPrefix) + capEncoding.EncodedLen(32+KeySize+capabilityChecksum)

var capEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrBadCapability wraps every reason a capability string is rejected.
var ErrBadCapability = errors.New("storage: bad capability")

// Capability grants reading one file: its id and its key. Whoever holds it
// can read the file; print it only to the file's owner.
type Capability struct {
	FileID blockstore.ID
	Key    [KeySize]byte
}

// String encodes the capability as "coop1" followed by lowercase unpadded
// base32 of file id ‖ key ‖ first 4 bytes of SHA-256("coop1" ‖ file id ‖ key):
// 114 characters, safe in URLs, shells and file names.
func (c Capability) String() string {
	b := make([]byte, 0, 32+KeySize+capabilityChecksum)
	b = append(b, c.FileID[:]...)
	b = append(b, c.Key[:]...)
	b = append(b, c.checksum()...)
	return CapabilityPrefix + capEncoding.EncodeToString(b)
}

// GoString hides the key from %#v.
func (c Capability) GoString() string {
	return "storage.Capability{FileID: " + c.FileID.String() + ", Key: <secret>}"
}

func (c Capability) checksum() []byte {
	h := sha256.New()
	h.Write([]byte(CapabilityPrefix))
	h.Write(c.FileID[:])
	h.Write(c.Key[:])
	return h.Sum(nil)[:capabilityChecksum]
}

// ParseCapability parses a capability string strictly: the exact prefix and
// length, lowercase base32 only, canonical trailing bits, a matching checksum.
func ParseCapability(s string) (Capability, error) {
	var c Capability
	if !strings.HasPrefix(s, CapabilityPrefix) {
		if strings.HasPrefix(s, "coop") && len(s) > 4 {
			return c, fmt.Errorf("%w: unknown version %q", ErrBadCapability, s[:5])
		}
		return c, fmt.Errorf("%w: does not start with %q", ErrBadCapability, CapabilityPrefix)
	}
	if len(s) != capabilityLen {
		return c, fmt.Errorf("%w: %d characters, want %d", ErrBadCapability, len(s), capabilityLen)
	}
	body := s[len(CapabilityPrefix):]
	for i := 0; i < len(body); i++ {
		if ch := body[i]; (ch < 'a' || ch > 'z') && (ch < '2' || ch > '7') {
			return c, fmt.Errorf("%w: character %q at %d is not lowercase base32", ErrBadCapability, ch, len(CapabilityPrefix)+i)
		}
	}
	b, err := capEncoding.DecodeString(body)
	if err != nil || len(b) != 32+KeySize+capabilityChecksum || capEncoding.EncodeToString(b) != body {
		return c, fmt.Errorf("%w: not canonical base32", ErrBadCapability)
	}
	copy(c.FileID[:], b[:32])
	copy(c.Key[:], b[32:32+KeySize])
	if subtle.ConstantTimeCompare(c.checksum(), b[32+KeySize:]) != 1 {
		return Capability{}, fmt.Errorf("%w: checksum mismatch (mistyped?)", ErrBadCapability)
	}
	return c, nil
}
