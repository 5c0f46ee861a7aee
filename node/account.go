package node

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coop-network/coop/chain"
)

// AccountFile holds, in a device's home, the account the device acts for
// and the keys it needs to (AccountKeys). A home without it is its own
// account: the node key is the account key (the account's first device).
const AccountFile = "account.json"

// AccountKeys are what a node needs to act for an account: its address,
// the key that opens its files' sealed keys, and the key that seals its
// namespace roots. Both keys are derived from the account's ed25519 key
// (DeriveAccountKeys), so a device that has them reads everything the
// account stores without holding the account key itself, which signs only
// the adding and removing of devices.
type AccountKeys struct {
	Address chain.Address
	// SealKey opens (and seals) the file keys on the account's PlaceFile
	// records; RootKey seals the account's namespace roots.
	SealKey [32]byte
	RootKey [32]byte
	// Device is true when the node's own key is a device of the account,
	// not the account key; Label names the device in conflict copies.
	Device bool
	Label  string
}

// rootInfo is the HKDF info of an account's namespace root key.
const rootInfo = "coop/v1 namespace root"

// DeriveAccountKeys derives key's account keys.
func DeriveAccountKeys(key ed25519.PrivateKey) (AccountKeys, error) {
	ak := AccountKeys{Address: chain.AddressOf(key.Public().(ed25519.PublicKey))}
	for _, d := range []struct {
		info string
		dst  *[32]byte
	}{{sealInfo, &ak.SealKey}, {rootInfo, &ak.RootKey}} {
		k, err := hkdf.Key(sha256.New, key.Seed(), nil, d.info, 32)
		if err != nil {
			return ak, err
		}
		copy(d.dst[:], k)
	}
	return ak, nil
}

type accountFile struct {
	Account string `json:"account"`
	SealKey string `json:"seal_key"`
	RootKey string `json:"root_key"`
	Label   string `json:"label,omitempty"`
}

// LoadAccountKeys reads home's AccountFile. A home without one is its own
// account: the keys are derived from key (the node key) and Device is false.
func LoadAccountKeys(home string, key ed25519.PrivateKey) (AccountKeys, error) {
	p := filepath.Join(home, AccountFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		ak, err := DeriveAccountKeys(key)
		if err == nil {
			ak.Label, _ = os.Hostname()
		}
		return ak, err
	}
	if err != nil {
		return AccountKeys{}, fmt.Errorf("node: reading %s: %w", p, err)
	}
	var f accountFile
	if err := json.Unmarshal(b, &f); err != nil {
		return AccountKeys{}, fmt.Errorf("node: %s is corrupt: %w", p, err)
	}
	ak := AccountKeys{Device: true, Label: f.Label}
	if ak.Address, err = chain.ParseAddress(f.Account); err != nil {
		return ak, fmt.Errorf("node: %s: account: %w", p, err)
	}
	for _, k := range []struct {
		name, hex string
		dst       *[32]byte
	}{{"seal_key", f.SealKey, &ak.SealKey}, {"root_key", f.RootKey, &ak.RootKey}} {
		raw, err := hex.DecodeString(k.hex)
		if err != nil || len(raw) != 32 {
			return ak, fmt.Errorf("node: %s: %s is not 64 hex digits", p, k.name)
		}
		copy(k.dst[:], raw)
	}
	if ak.Address == chain.AddressOf(key.Public().(ed25519.PublicKey)) {
		ak.Device = false
	}
	return ak, nil
}

// SaveAccountKeys writes ak to home's AccountFile (mode 0600, synced, then
// renamed into place).
func SaveAccountKeys(home string, ak AccountKeys) error {
	b, err := json.MarshalIndent(accountFile{Account: ak.Address.String(), SealKey: hex.EncodeToString(ak.SealKey[:]),
		RootKey: hex.EncodeToString(ak.RootKey[:]), Label: ak.Label}, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(home, AccountFile)
	f, err := os.OpenFile(p+".tmp", os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("node: writing %s: %w", p, err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}
