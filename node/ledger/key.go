package ledger

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/coop-network/coop/chain"
)

// KeyFileName is the account key file inside a node home.
const KeyFileName = "account.key"

// ErrBadKeyFile is returned for a key file that is not 64 hex digits.
var ErrBadKeyFile = errors.New("bad key file")

// KeyPath is the account key file of a home.
func KeyPath(home string) string { return filepath.Join(home, KeyFileName) }

// LoadKey reads an account key: the 32-byte ed25519 seed as 64 hex digits
// and a newline, mode 0600. The same key is the account, the libp2p identity
// and the CometBFT validator key.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	if fi.Size() > 1024 {
		return nil, fmt.Errorf("%w %s: %d bytes", ErrBadKeyFile, path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("account key: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 2*ed25519.SeedSize {
		return nil, fmt.Errorf("%w %s: want %d hex digits", ErrBadKeyFile, path, 2*ed25519.SeedSize)
	}
	seed, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrBadKeyFile, path, err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// SaveKey writes key to path (mode 0600), refusing to overwrite a file.
func SaveKey(path string, key ed25519.PrivateKey) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing account key: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s\n", hex.EncodeToString(key.Seed()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// LoadOrCreateKey loads the key at path, creating a new random key if the
// file does not exist.
func LoadOrCreateKey(path string) (ed25519.PrivateKey, error) {
	k, err := LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	_, k, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := SaveKey(path, k); err != nil {
		return nil, err
	}
	return k, nil
}

// AddressOf returns the account address of a key.
func AddressOf(key ed25519.PrivateKey) chain.Address {
	return chain.AddressOf(key.Public().(ed25519.PublicKey))
}
