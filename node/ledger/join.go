package ledger

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// ReadGenesis reads and checks a CometBFT genesis file of a coop network:
// the document must parse and validate, and its app state must be a valid
// coop genesis state.
func ReadGenesis(path string) (*types.GenesisDoc, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("genesis file: %w", err)
	}
	doc, err := types.GenesisDocFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("genesis file %s is not a CometBFT genesis: %w", path, err)
	}
	var g chain.GenesisState
	if err := json.Unmarshal(doc.AppState, &g); err != nil {
		return nil, fmt.Errorf("genesis file %s: app_state is not a coop genesis state: %w", path, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("genesis file %s: app_state: %w", path, err)
	}
	if len(doc.Validators) == 0 {
		return nil, fmt.Errorf("genesis file %s has no validators: there is no network to join", path)
	}
	return doc, nil
}

// ParsePeers checks a comma-separated list of CometBFT peer addresses
// (NODEID@HOST:PORT) and returns it normalised (spaces trimmed, empty
// entries dropped). It fails on an empty list or a malformed address.
func ParsePeers(list string) (string, error) {
	var out []string
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !strings.Contains(p, "@") {
			return "", fmt.Errorf("peer %q: want NODEID@HOST:PORT (the node id is what `coop node peer-address` prints before the @)", p)
		}
		na, err := p2p.NewNetAddressString(p)
		if err != nil {
			return "", fmt.Errorf("peer %q: want NODEID@HOST:PORT: %w", p, err)
		}
		if na.IP.IsUnspecified() {
			return "", fmt.Errorf("peer %q: %s is a wildcard listen address, not one to dial: give the host the peer is reached at", p, na.IP)
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("no peer given: want at least one NODEID@HOST:PORT of a node of the network")
	}
	return strings.Join(out, ","), nil
}

// InitJoin creates a node home that joins an existing network as a full
// node (not a validator): the account key (kept if present), a CometBFT
// config whose persistent peers are peers, and a copy of the network's
// genesis file. The genesis and the peers are checked before anything is
// written. With hc.StateSync the node starts from a snapshot peers offer
// (StateSyncTrust makes one) instead of replaying the chain. hc's ChainID, Genesis and Credits are not used (the genesis
// decides them).
func InitJoin(home, genesisFile, peers string, hc HomeConfig) (chain.Address, error) {
	doc, err := ReadGenesis(genesisFile)
	if err != nil {
		return chain.Address{}, err
	}
	if hc.PersistentPeers, err = ParsePeers(peers); err != nil {
		return chain.Address{}, err
	}
	if hc.StateSync != nil {
		if err := hc.StateSync.check(); err != nil {
			return chain.Address{}, err
		}
	}
	if _, err := os.Stat(filepath.Join(ChainDir(home), "config", "genesis.json")); err == nil {
		return chain.Address{}, fmt.Errorf("%w: %s", ErrHomeExists, home)
	}
	key, err := LoadOrCreateKey(KeyPath(home))
	if err != nil {
		return chain.Address{}, err
	}
	c, err := writeNodeFiles(home, key, hc)
	if err != nil {
		return chain.Address{}, err
	}
	if err := doc.SaveAs(c.GenesisFile()); err != nil {
		return chain.Address{}, err
	}
	return AddressOf(key), nil
}

// PeerAddress returns the CometBFT peer address of a home,
// NODEID@HOST:PORT, from its key and p2p listen address: what another
// machine passes to `coop init --join … --peer`. A wildcard listen host
// (0.0.0.0, empty) is returned as is: the caller substitutes the host
// others reach this machine at.
func PeerAddress(home string) (string, error) {
	c, err := LoadCometConfig(home)
	if err != nil {
		return "", err
	}
	key, err := LoadKey(KeyPath(home))
	if err != nil {
		return "", err
	}
	u, err := url.Parse(c.P2P.ListenAddress)
	if err != nil {
		return "", fmt.Errorf("p2p listen address %q: %w", c.P2P.ListenAddress, err)
	}
	id := p2p.PubKeyToID(cmted25519.PrivKey(key).PubKey())
	return fmt.Sprintf("%s@%s", id, u.Host), nil
}
