// Package sharing holds the formats by which an account shares part of its
// namespace with another account, or publicly, through a chain.Share record:
// the share key sealed to the recipient's inbox key, and the share's
// pointer. It is pure (no network, no ledger): package node reads and
// writes the records.
//
// Vocabulary:
//
//   - An account's **inbox key** is an X25519 key pair derived from its root
//     key (InboxKey), so every device of the account has it; its public half
//     is on the ledger (chain.SetInbox).
//   - A **share key** (32 bytes) opens one share's pointer. The owner derives
//     it from its root key and the share's random seed (ShareKey), so every
//     device of the owner can update the share; it is sealed to the
//     recipient's inbox key (SealKey, OpenKey: the chain.Share's Key), or for
//     a public share written in the clear.
//   - A share's **pointer** (Pointer, Seal, Open) carries the seed in the
//     clear, the stored shared tree's namespace.Pointer sealed with the share
//     key, and the shared path sealed for the owner's devices alone.
//
// Sealed share key, KeySealedSize (81) bytes:
//
//	version (1, = 1) ‖ E (32) ‖ AES-256-GCM(share key) (32 + 16 tag)
//
// E is a fresh ephemeral X25519 public key; with R the recipient's inbox
// key, the AEAD key and nonce are the first 32 and next 12 bytes of
// HKDF-SHA256(ikm = X25519(e, R), salt = E ‖ R, info = "coop/v1 share key
// seal" ‖ 0x00 ‖ owner ‖ recipient), and the associated data is version ‖
// owner ‖ recipient ‖ R: a sealed key copied onto a share between other
// accounts does not open.
//
// Pointer, at most chain.MaxSharePointerBytes (256) bytes:
//
//	version (1, = 1) ‖ seed (16) ‖ tree (101: namespace.Seal under the share
//	key, ad = "coop/v1 share tree\x00" ‖ owner ‖ share id) ‖ nonce (12) ‖
//	AES-256-GCM(path) under PathKey(root key), ad = "coop/v1 share path\x00"
//	‖ owner ‖ seed, with its tag (16)
//
// so a shared path is at most MaxPathBytes (110) bytes. The recipient opens
// the tree part only; the path part opens only on the owner's devices.
package sharing

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/coop-network/coop/storage/namespace"
)

// Format constants.
const (
	// Version is the version byte of a sealed share key and of a pointer.
	Version = 1
	// KeySealedSize is the size of a sealed share key.
	KeySealedSize = 1 + 32 + 32 + 16
	// SeedSize is the size of a share's seed.
	SeedSize = 16
	// treeSealedSize is namespace.Seal's output size.
	treeSealedSize = 101
	// MaxPointerBytes is the largest pointer (chain.MaxSharePointerBytes).
	MaxPointerBytes = 256
	// pointerFixed is the pointer's size without the path.
	pointerFixed = 1 + SeedSize + treeSealedSize + 12 + 16
	// MaxPathBytes is the longest path a share can name.
	MaxPathBytes = MaxPointerBytes - pointerFixed
)

// HKDF info strings; each derived key has its own.
const (
	inboxInfo    = "coop/v1 share inbox"
	shareKeyInfo = "coop/v1 share key"
	pathKeyInfo  = "coop/v1 share path"
	sealInfo     = "coop/v1 share key seal"
	treeAD       = "coop/v1 share tree\x00"
	pathAD       = "coop/v1 share path\x00"
)

// Errors.
var (
	// ErrSealed reports bytes that do not open: malformed, for another
	// key or context, or tampered with.
	ErrSealed = errors.New("sharing: does not open")
	// ErrPathTooLong reports a path longer than MaxPathBytes.
	ErrPathTooLong = fmt.Errorf("sharing: a shared path is at most %d bytes", MaxPathBytes)
)

// InboxKey derives an account's inbox key pair from its root key.
func InboxKey(rootKey [32]byte) (*ecdh.PrivateKey, error) {
	k, err := hkdf.Key(sha256.New, rootKey[:], nil, inboxInfo, 32)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(k)
}

// ShareKey derives the share key of the share with seed from the owner's
// root key.
func ShareKey(rootKey [32]byte, seed [SeedSize]byte) ([32]byte, error) {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, rootKey[:], seed[:], shareKeyInfo, 32)
	copy(out[:], k)
	return out, err
}

// NewSeed is a fresh random seed.
func NewSeed() [SeedSize]byte {
	var s [SeedSize]byte
	_, _ = rand.Read(s[:])
	return s
}

func gcm(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func sealDerive(shared, E, R []byte, owner, recipient [20]byte) (cipher.AEAD, []byte, error) {
	info := append(append(append([]byte(sealInfo), 0), owner[:]...), recipient[:]...)
	okm, err := hkdf.Key(sha256.New, shared, append(append([]byte{}, E...), R...), string(info), 32+12)
	if err != nil {
		return nil, nil, err
	}
	a, err := gcm(okm[:32])
	return a, okm[32:], err
}

func sealAD(owner, recipient [20]byte, R []byte) []byte {
	return append(append(append([]byte{Version}, owner[:]...), recipient[:]...), R...)
}

// SealKey seals share key to the recipient's inbox public key (32 bytes,
// from its chain.Inbox), for a share from owner to recipient.
func SealKey(inbox []byte, owner, recipient [20]byte, key [32]byte) ([]byte, error) {
	R, err := ecdh.X25519().NewPublicKey(inbox)
	if err != nil {
		return nil, fmt.Errorf("sharing: the recipient's inbox key: %w", err)
	}
	eph, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	shared, err := eph.ECDH(R)
	if err != nil {
		return nil, fmt.Errorf("sharing: the recipient's inbox key: %w", err)
	}
	E := eph.PublicKey().Bytes()
	a, nonce, err := sealDerive(shared, E, inbox, owner, recipient)
	if err != nil {
		return nil, err
	}
	out := append([]byte{Version}, E...)
	return a.Seal(out, nonce, key[:], sealAD(owner, recipient, inbox)), nil
}

// OpenKey opens a share key sealed to inbox (the recipient's inbox key
// pair) for a share from owner to recipient. Every failure wraps
// ErrSealed.
func OpenKey(inbox *ecdh.PrivateKey, owner, recipient [20]byte, sealed []byte) ([32]byte, error) {
	var key [32]byte
	if len(sealed) != KeySealedSize {
		return key, fmt.Errorf("%w: sealed share key of %d bytes, want %d", ErrSealed, len(sealed), KeySealedSize)
	}
	if sealed[0] != Version {
		return key, fmt.Errorf("%w: sealed share key of unknown version %d", ErrSealed, sealed[0])
	}
	E := sealed[1:33]
	epub, err := ecdh.X25519().NewPublicKey(E)
	if err != nil {
		return key, fmt.Errorf("%w: ephemeral key: %w", ErrSealed, err)
	}
	shared, err := inbox.ECDH(epub)
	if err != nil {
		return key, fmt.Errorf("%w: ephemeral key of small order", ErrSealed)
	}
	R := inbox.PublicKey().Bytes()
	a, nonce, err := sealDerive(shared, E, R, owner, recipient)
	if err != nil {
		return key, err
	}
	plain, err := a.Open(nil, nonce, sealed[33:], sealAD(owner, recipient, R))
	if err != nil {
		return key, fmt.Errorf("%w: the share key is not sealed to this inbox for this owner and recipient, or was tampered with", ErrSealed)
	}
	copy(key[:], plain)
	return key, nil
}

// Pointer is an opened share pointer.
type Pointer struct {
	// Seed is the share's seed (ShareKey), in the clear.
	Seed [SeedSize]byte
	// Tree names the stored shared tree: a namespace tree whose root
	// holds one entry, the shared file or directory under its name.
	Tree namespace.Pointer
	// Path is the shared path in the owner's namespace; empty when the
	// path part was not opened (a recipient).
	Path string
}

func treeAssoc(owner [20]byte, id [32]byte) []byte {
	return append(append([]byte(treeAD), owner[:]...), id[:]...)
}

func pathAssoc(owner [20]byte, seed [SeedSize]byte) []byte {
	return append(append([]byte(pathAD), owner[:]...), seed[:]...)
}

// PathKey derives the key sealing shared paths from the owner's root key.
func PathKey(rootKey [32]byte) ([32]byte, error) {
	var out [32]byte
	k, err := hkdf.Key(sha256.New, rootKey[:], nil, pathKeyInfo, 32)
	copy(out[:], k)
	return out, err
}

// Seal writes share id's pointer p of owner: the tree sealed with the share
// key, the path with the owner's path key. A path over MaxPathBytes is
// ErrPathTooLong.
func Seal(shareKey, pathKey [32]byte, owner [20]byte, id [32]byte, p Pointer) ([]byte, error) {
	if len(p.Path) > MaxPathBytes {
		return nil, fmt.Errorf("%w: %q is %d bytes", ErrPathTooLong, p.Path, len(p.Path))
	}
	tree, err := namespace.Seal(shareKey, treeAssoc(owner, id), p.Tree)
	if err != nil {
		return nil, err
	}
	if len(tree) != treeSealedSize {
		return nil, fmt.Errorf("sharing: a sealed tree pointer of %d bytes, want %d", len(tree), treeSealedSize)
	}
	a, err := gcm(pathKey[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, pointerFixed+len(p.Path))
	out = append(append(append(out, Version), p.Seed[:]...), tree...)
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	out = append(out, nonce...)
	return a.Seal(out, nonce, []byte(p.Path), pathAssoc(owner, p.Seed)), nil
}

// split checks a pointer's frame and returns its parts.
func split(b []byte) (seed [SeedSize]byte, tree, pathPart []byte, err error) {
	if len(b) < pointerFixed || len(b) > MaxPointerBytes {
		return seed, nil, nil, fmt.Errorf("%w: a share pointer of %d bytes, want %d to %d", ErrSealed, len(b), pointerFixed, MaxPointerBytes)
	}
	if b[0] != Version {
		return seed, nil, nil, fmt.Errorf("%w: a share pointer of unknown version %d", ErrSealed, b[0])
	}
	copy(seed[:], b[1:1+SeedSize])
	return seed, b[1+SeedSize : 1+SeedSize+treeSealedSize], b[1+SeedSize+treeSealedSize:], nil
}

// SeedOf is the seed of a pointer (in the clear).
func SeedOf(b []byte) ([SeedSize]byte, error) {
	seed, _, _, err := split(b)
	return seed, err
}

// Open opens share id's pointer b of owner with the share key: Seed and
// Tree (Path stays empty). Every failure wraps ErrSealed.
func Open(shareKey [32]byte, owner [20]byte, id [32]byte, b []byte) (Pointer, error) {
	seed, tree, _, err := split(b)
	if err != nil {
		return Pointer{}, err
	}
	t, err := namespace.Open(shareKey, treeAssoc(owner, id), tree)
	if err != nil {
		return Pointer{}, fmt.Errorf("%w: the shared tree: %w", ErrSealed, err)
	}
	return Pointer{Seed: seed, Tree: t}, nil
}

// OpenPath opens the path part of pointer b of owner with the owner's path
// key. Every failure wraps ErrSealed.
func OpenPath(pathKey [32]byte, owner [20]byte, b []byte) (string, error) {
	seed, _, part, err := split(b)
	if err != nil {
		return "", err
	}
	a, err := gcm(pathKey[:])
	if err != nil {
		return "", err
	}
	if len(part) < 12+16 {
		return "", fmt.Errorf("%w: the path part is %d bytes", ErrSealed, len(part))
	}
	p, err := a.Open(nil, part[:12], part[12:], pathAssoc(owner, seed))
	if err != nil {
		return "", fmt.Errorf("%w: the shared path is not this owner's, or was tampered with", ErrSealed)
	}
	return string(p), nil
}

// Reseal is pointer old of share id of owner with its tree replaced by
// tree, sealed with the share key: the seed and the owner's sealed path
// are kept as they are. A writable share's recipient, which cannot seal
// the path, writes its versions so.
func Reseal(shareKey [32]byte, owner [20]byte, id [32]byte, old []byte, tree namespace.Pointer) ([]byte, error) {
	seed, _, part, err := split(old)
	if err != nil {
		return nil, err
	}
	if _, err := Open(shareKey, owner, id, old); err != nil {
		return nil, err
	}
	t, err := namespace.Seal(shareKey, treeAssoc(owner, id), tree)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(old))
	out = append(append(append(out, Version), seed[:]...), t...)
	return append(out, part...), nil
}
