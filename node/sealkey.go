package node

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
)

// A sealed file key, as PlaceFile.SealedKey carries it:
//
//	version (1, = 1) ‖ nonce (12, random) ‖ AES-256-GCM(file key) (32 + 16 tag)
//
// under K = HKDF-SHA256(ikm = the account's ed25519 seed, salt = none,
// info = "coop/v1 file-key seal"), with the file id as associated data, so
// a sealed key copied onto another file record does not open. Each file
// keeps its own random key: sharing one capability reveals nothing of the
// others, while any device with the account key reads all of them.
const (
	sealVersion   = 1
	sealInfo      = "coop/v1 file-key seal"
	sealNonceSize = 12
	sealedKeySize = 1 + sealNonceSize + storage.KeySize + 16
)

// ErrSealedKey is returned when a file's sealed key cannot be opened: not
// this account's key, tampered with, or malformed.
var ErrSealedKey = errors.New("the file's sealed key does not open with this account's key")

// ErrNoSealedKey is returned for one of the account's files placed without
// a sealed key (by an older node): only its capability reads it.
var ErrNoSealedKey = errors.New("the file was placed without a sealed key")

func sealAEAD(k [32]byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealFileKey seals a file key with the account's seal key
// (AccountKeys.SealKey).
func sealFileKey(key [32]byte, fileID [32]byte, fileKey [storage.KeySize]byte) ([]byte, error) {
	aead, err := sealAEAD(key)
	if err != nil {
		return nil, err
	}
	var nonce [sealNonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	out := make([]byte, 0, sealedKeySize)
	out = append(append(out, sealVersion), nonce[:]...)
	out = aead.Seal(out, nonce[:], fileKey[:], fileID[:])
	if len(out) != sealedKeySize || len(out) > chain.MaxSealedKeyBytes {
		return nil, fmt.Errorf("node: sealed key is %d bytes", len(out))
	}
	return out, nil
}

// openFileKey opens a sealed file key with the account's key; every
// failure is ErrSealedKey with the reason.
func openFileKey(key [32]byte, fileID [32]byte, sealed []byte) (storage.Capability, error) {
	c := storage.Capability{FileID: fileID}
	if len(sealed) == 0 {
		return c, ErrNoSealedKey
	}
	if len(sealed) != sealedKeySize {
		return c, fmt.Errorf("%w: %d bytes, want %d", ErrSealedKey, len(sealed), sealedKeySize)
	}
	if sealed[0] != sealVersion {
		return c, fmt.Errorf("%w: unknown version %d", ErrSealedKey, sealed[0])
	}
	aead, err := sealAEAD(key)
	if err != nil {
		return c, err
	}
	k, err := aead.Open(make([]byte, 0, storage.KeySize), sealed[1:1+sealNonceSize], sealed[1+sealNonceSize:], fileID[:])
	if err != nil {
		return c, fmt.Errorf("%w (wrong account key or tampered record)", ErrSealedKey)
	}
	copy(c.Key[:], k)
	return c, nil
}
