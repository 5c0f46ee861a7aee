// Package capseal seals a coop file capability (storage.Capability: a file
// id and its key) to another node's ed25519 account key, for one job and
// one role, so that only that node opens it.
//
// The ledger records every node's ed25519 key (the account key, which is
// also its libp2p identity), so a capability can be sealed to any node
// without asking it for anything: a submitter seals a job's module and
// input capabilities to each assigned worker, a worker seals the output's
// capability to the submitter. The same form carries an account's two
// keys to a new device of the account (RoleDeviceKeys, DeviceJob).
//
// Sealed form, SealedSize (113) bytes:
//
//	version (1, = 1) ‖ E (32) ‖ AES-256-GCM(file id ‖ file key) (64 + 16 tag)
//
// E is the X25519 public key of a fresh ephemeral scalar e. With R the
// recipient's ed25519 key and R' its X25519 form (the birational map of RFC
// 7748 §4.1, as libsodium's crypto_sign_ed25519_pk_to_curve25519), the AEAD
// key and nonce are the first 32 and next 12 bytes of
//
//	HKDF-SHA256(ikm = X25519(e, R'), salt = E ‖ R',
//	            info = "coop/v1 capability seal" ‖ 0x00 ‖ role ‖ job ‖ R)
//
// and the associated data is version ‖ role ‖ job ‖ R. A sealed capability
// therefore opens only with R's private key, only for the job and role it
// was sealed for: copied onto another job, relabelled (an input offered as
// the module) or altered in any byte, it does not open. The recipient
// learns nothing of who sealed it: authenticity comes from the channel or
// the ledger record that carries it, and the capability itself is checked
// against the file id the ledger names.
package capseal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/coop-network/coop/storage"
	voied "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/oasisprotocol/curve25519-voi/primitives/x25519"
)

// Version is the sealed format's version byte.
const Version = 1

// SealedSize is the size of every sealed capability.
const SealedSize = 1 + 32 + 32 + storage.KeySize + 16

// info is the HKDF domain separation label.
const info = "coop/v1 capability seal"

// Role says what a sealed capability is for in its job.
type Role uint8

// Roles of a job's files.
const (
	RoleModule Role = 1 // the job's WebAssembly module
	RoleInput  Role = 2 // the job's input (when not inline)
	RoleOutput Role = 3 // a worker's output, sealed to the submitter
	// RoleDeviceKeys seals an account's two keys (seal key as FileID,
	// root key as Key) to a new device of the account, with job the
	// DeviceJob of the account; the AddDevice record carries it.
	RoleDeviceKeys Role = 4
)

// DeviceJob is the job value RoleDeviceKeys seals for: the account's
// address under a domain tag, so sealed keys copied to another account's
// record do not open.
func DeviceJob(account [20]byte) [32]byte {
	return sha256.Sum256(append([]byte("coop/v1 device keys\x00"), account[:]...))
}

// String names the role.
func (r Role) String() string {
	switch r {
	case RoleModule:
		return "module"
	case RoleInput:
		return "input"
	case RoleOutput:
		return "output"
	case RoleDeviceKeys:
		return "device keys"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r >= RoleModule && r <= RoleDeviceKeys }

// Errors of Seal and Open.
var (
	// ErrRecipient reports a recipient key that is not a usable ed25519
	// public key (wrong length, not a curve point, or of small order).
	ErrRecipient = errors.New("capseal: bad recipient key")
	// ErrOpen reports a sealed capability that does not open: malformed,
	// for another key, job or role, or tampered with.
	ErrOpen = errors.New("capseal: sealed capability does not open")
)

// Seal seals c to the node whose ed25519 account key is recipient, for
// job and role.
func Seal(recipient ed25519.PublicKey, job [32]byte, role Role, c storage.Capability) ([]byte, error) {
	if !role.Valid() {
		return nil, fmt.Errorf("capseal: unknown role %d", role)
	}
	rx, err := recipientX25519(recipient)
	if err != nil {
		return nil, err
	}
	eph, err := ecdh.X25519().GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("capseal: ephemeral key: %w", err)
	}
	shared, err := eph.ECDH(rx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecipient, err)
	}
	E := eph.PublicKey().Bytes()
	aead, nonce, err := derive(shared, E, rx.Bytes(), recipient, job, role)
	if err != nil {
		return nil, err
	}
	plain := make([]byte, 0, 32+storage.KeySize)
	plain = append(append(plain, c.FileID[:]...), c.Key[:]...)
	out := make([]byte, 0, SealedSize)
	out = append(append(out, Version), E...)
	out = aead.Seal(out, nonce, plain, ad(recipient, job, role))
	if len(out) != SealedSize {
		return nil, fmt.Errorf("capseal: sealed %d bytes, want %d", len(out), SealedSize)
	}
	return out, nil
}

// Open opens a capability sealed to key's public key for job and role.
// Every failure wraps ErrOpen (or ErrRecipient for an unusable key).
func Open(key ed25519.PrivateKey, job [32]byte, role Role, sealed []byte) (storage.Capability, error) {
	var c storage.Capability
	if len(key) != ed25519.PrivateKeySize {
		return c, fmt.Errorf("%w: private key of %d bytes", ErrRecipient, len(key))
	}
	if !role.Valid() {
		return c, fmt.Errorf("%w: unknown role %d", ErrOpen, role)
	}
	if len(sealed) != SealedSize {
		return c, fmt.Errorf("%w: %d bytes, want %d", ErrOpen, len(sealed), SealedSize)
	}
	if sealed[0] != Version {
		return c, fmt.Errorf("%w: unknown version %d", ErrOpen, sealed[0])
	}
	pub := key.Public().(ed25519.PublicKey)
	priv, err := ecdh.X25519().NewPrivateKey(x25519.EdPrivateKeyToX25519(voied.PrivateKey(key)))
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrRecipient, err)
	}
	E := sealed[1:33]
	epub, err := ecdh.X25519().NewPublicKey(E)
	if err != nil {
		return c, fmt.Errorf("%w: ephemeral key: %w", ErrOpen, err)
	}
	shared, err := priv.ECDH(epub)
	if err != nil {
		return c, fmt.Errorf("%w: ephemeral key of small order", ErrOpen)
	}
	aead, nonce, err := derive(shared, E, priv.PublicKey().Bytes(), pub, job, role)
	if err != nil {
		return c, err
	}
	plain, err := aead.Open(nil, nonce, sealed[33:], ad(pub, job, role))
	if err != nil {
		return c, fmt.Errorf("%w: not sealed to this key for job %x as %s, or tampered with", ErrOpen, job[:4], role)
	}
	copy(c.FileID[:], plain[:32])
	copy(c.Key[:], plain[32:])
	return c, nil
}

// recipientX25519 converts an ed25519 public key to its X25519 form.
func recipientX25519(recipient ed25519.PublicKey) (*ecdh.PublicKey, error) {
	if len(recipient) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrRecipient, len(recipient), ed25519.PublicKeySize)
	}
	u, ok := x25519.EdPublicKeyToX25519(voied.PublicKey(recipient))
	if !ok {
		return nil, fmt.Errorf("%w: not a point of the curve", ErrRecipient)
	}
	rx, err := ecdh.X25519().NewPublicKey(u)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecipient, err)
	}
	return rx, nil
}

func derive(shared, E, rx []byte, recipient ed25519.PublicKey, job [32]byte, role Role) (cipher.AEAD, []byte, error) {
	salt := append(append(make([]byte, 0, 64), E...), rx...)
	inf := make([]byte, 0, len(info)+2+32+32)
	inf = append(append(append(append(inf, info...), 0, byte(role)), job[:]...), recipient...)
	okm, err := hkdf.Key(sha256.New, shared, salt, string(inf), 32+12)
	if err != nil {
		return nil, nil, fmt.Errorf("capseal: key derivation: %w", err)
	}
	block, err := aes.NewCipher(okm[:32])
	if err != nil {
		return nil, nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, nil, err
	}
	return aead, okm[32:], nil
}

func ad(recipient ed25519.PublicKey, job [32]byte, role Role) []byte {
	b := make([]byte, 0, 2+32+32)
	b = append(append(b, Version, byte(role)), job[:]...)
	return append(b, recipient...)
}
