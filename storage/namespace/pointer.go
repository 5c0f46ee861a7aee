package namespace

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
)

// Pointer says where an encoded tree is stored: the capability of the
// ordinary coop file holding it, and its size. It is what a SetRoot
// transaction carries, sealed.
type Pointer struct {
	FileID [32]byte // the stored tree's file id
	Key    [32]byte // its file key: secret
	Size   uint64   // bytes of the encoded tree
}

// GoString hides the key from %#v.
func (p Pointer) GoString() string {
	return fmt.Sprintf("namespace.Pointer{FileID: %x, Key: <secret>, Size: %d}", p.FileID, p.Size)
}

// Sealed pointer layout: version (1) ‖ nonce (12) ‖ AES-256-GCM of
// file id (32) ‖ key (32) ‖ size (8, big-endian), with its tag (16).
const (
	sealVersion = 1
	pointerSize = 32 + 32 + 8
	nonceSize   = 12
	tagSize     = 16
	sealedSize  = 1 + nonceSize + pointerSize + tagSize // 101 bytes
	sealDomain  = "coop/v1 namespace root pointer"
)

var _ = [MaxSealed - sealedSize]struct{}{} // sealedSize ≤ MaxSealed

// aad binds the domain and the version byte to the caller's associated data.
func aad(ad []byte) []byte {
	b := make([]byte, 0, len(sealDomain)+1+len(ad))
	b = append(b, sealDomain...)
	b = append(b, sealVersion)
	return append(b, ad...)
}

func gcm(key [32]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	a, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return a
}

// Seal encrypts p under key with AES-256-GCM and a random nonce, binding
// ad (the caller's context, e.g. the account address and chain id) so the
// sealed pointer opens only with the same ad. The result is sealedSize
// (101) bytes, at most MaxSealed: a version byte, the nonce, the
// ciphertext and tag. key must be secret and used only for root pointers.
func Seal(key [32]byte, ad []byte, p Pointer) ([]byte, error) {
	plain := make([]byte, 0, pointerSize)
	plain = append(plain, p.FileID[:]...)
	plain = append(plain, p.Key[:]...)
	plain = binary.BigEndian.AppendUint64(plain, p.Size)
	out := make([]byte, 1+nonceSize, sealedSize)
	out[0] = sealVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("namespace: sealing a root pointer: %w", err)
	}
	return gcm(key).Seal(out, out[1:], plain, aad(ad)), nil
}

// Open checks and decrypts a sealed pointer. Any failure is ErrSealed with
// the reason: the wrong length, an unknown version, or "wrong key,
// associated data or tampered" when authentication fails (the three cannot
// be told apart).
func Open(key [32]byte, ad []byte, sealed []byte) (Pointer, error) {
	var p Pointer
	switch {
	case len(sealed) == 0:
		return p, fmt.Errorf("%w: empty", ErrSealed)
	case sealed[0] != sealVersion:
		return p, fmt.Errorf("%w: unknown version %d", ErrSealed, sealed[0])
	case len(sealed) != sealedSize:
		return p, fmt.Errorf("%w: %d bytes, want %d", ErrSealed, len(sealed), sealedSize)
	}
	plain, err := gcm(key).Open(nil, sealed[1:1+nonceSize], sealed[1+nonceSize:], aad(ad))
	if err != nil {
		return p, fmt.Errorf("%w: wrong key, associated data or tampered", ErrSealed)
	}
	copy(p.FileID[:], plain[:32])
	copy(p.Key[:], plain[32:64])
	p.Size = binary.BigEndian.Uint64(plain[64:])
	return p, nil
}
