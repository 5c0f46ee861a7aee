package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// keyringFile holds, in the node's home, the capabilities of files put
// from this node, so `coop ls` can print them.
const keyringFile = "files.json"

// keyring is the local record of capabilities, written atomically, mode 0600.
type keyring struct {
	path string
	mu   sync.Mutex
	m    map[string]keyEntry // by file id (hex)
}

type keyEntry struct {
	Capability string `json:"capability"`
	Name       string `json:"name,omitempty"`
	// AskedK and AskedM are the redundancy the put asked when the network
	// was too small for it (the ledger records what was used); 0 if it got
	// what it asked. Nothing raises the file yet: `coop ls` shows them.
	AskedK int `json:"asked_k,omitempty"`
	AskedM int `json:"asked_m,omitempty"`
}

func openKeyring(home string) (*keyring, error) {
	k := &keyring{path: filepath.Join(home, keyringFile), m: make(map[string]keyEntry)}
	b, err := os.ReadFile(k.path)
	if os.IsNotExist(err) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: reading %s: %w", k.path, err)
	}
	if err := json.Unmarshal(b, &k.m); err != nil {
		return nil, fmt.Errorf("node: %s is corrupt: %w", k.path, err)
	}
	return k, nil
}

func (k *keyring) get(id string) (keyEntry, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.m[id]
	return e, ok
}

func (k *keyring) set(id string, e *keyEntry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e == nil {
		delete(k.m, id)
	} else {
		k.m[id] = *e
	}
	b, err := json.MarshalIndent(k.m, "", "  ")
	if err != nil {
		return err
	}
	tmp := k.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("node: writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, k.path); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}
