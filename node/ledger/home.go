package ledger

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	"github.com/go-viper/mapstructure/v2"
	"github.com/pelletier/go-toml/v2"

	"github.com/coop-network/coop/chain"
)

// ChainDir is the CometBFT home inside a node home.
func ChainDir(home string) string { return filepath.Join(home, "chain") }

// ErrHomeExists is returned by InitHome when the home already has a chain.
var ErrHomeExists = errors.New("home already initialised")

// HomeConfig describes a node home to create.
type HomeConfig struct {
	// ChainID of a new single-validator chain (InitHome only).
	ChainID string
	// Moniker names the node in CometBFT.
	Moniker string
	// P2PListen and RPCListen are CometBFT's listen addresses.
	P2PListen string
	RPCListen string
	// PrometheusListen is the host:port CometBFT serves its own Prometheus
	// metrics on (instrumentation.prometheus_listen_addr, namespace
	// cometbft); empty turns them off. One process serves them for one
	// ledger node only (see Start).
	PrometheusListen string
	// PersistentPeers is CometBFT's id@host:port list.
	PersistentPeers string
	// BlockTime is the pause after each commit (timeout_commit); the other
	// consensus timeouts are scaled from it so blocks come at most ~1 s apart.
	BlockTime time.Duration
	// Genesis is the ledger's genesis app state (InitHome only; the account
	// of the home's key is added with Credits).
	Genesis chain.GenesisState
	// Credits given to the home's own account in a new genesis.
	Credits uint64
	// StateSync, if set, makes the node of a new home (InitJoin) start from
	// a snapshot of the ledger state that peers offer, instead of replaying
	// every block from genesis (statesync.go).
	StateSync *StateSyncConfig
}

// DefaultPrometheusListen is where a home from DefaultHomeConfig serves
// CometBFT's metrics: CometBFT's default port, on loopback.
const DefaultPrometheusListen = "127.0.0.1:26660"

// DefaultHomeConfig is what `coop init` writes: a one-validator chain that
// listens on loopback and makes a block about every half second.
func DefaultHomeConfig() HomeConfig {
	return HomeConfig{
		ChainID:   "coop-local",
		Moniker:   "coop",
		P2PListen: "tcp://127.0.0.1:26656",
		RPCListen: "tcp://127.0.0.1:26657",
		BlockTime: 400 * time.Millisecond,
		Genesis:   chain.DefaultGenesisState(),
		Credits:   1_000_000,

		// 26658 and 26659 are the daemon's libp2p and API ports (P2P+2, +3).
		PrometheusListen: DefaultPrometheusListen,
	}
}

// cometConfig returns the CometBFT config for a home.
func cometConfig(home string, hc HomeConfig) *cmtcfg.Config {
	c := cmtcfg.DefaultConfig()
	c.SetRoot(ChainDir(home))
	c.Moniker = hc.Moniker
	c.P2P.ListenAddress = hc.P2PListen
	c.RPC.ListenAddress = hc.RPCListen
	c.P2P.PersistentPeers = hc.PersistentPeers
	c.P2P.AllowDuplicateIP = true
	c.P2P.AddrBookStrict = false
	c.P2P.PexReactor = false
	c.P2P.ExternalAddress = ""
	bt := hc.BlockTime
	if bt <= 0 {
		bt = 400 * time.Millisecond
	}
	c.Consensus.TimeoutCommit = bt
	// A loaded validator needs time to receive and check a full 1 MiB
	// proposal; a propose timeout only costs time when a proposer is down.
	c.Consensus.TimeoutPropose = max(3*bt, time.Second)
	c.Consensus.TimeoutProposeDelta = 100 * time.Millisecond
	c.Consensus.TimeoutPrevote = max(bt/2, 100*time.Millisecond)
	c.Consensus.TimeoutPrevoteDelta = 100 * time.Millisecond
	c.Consensus.TimeoutPrecommit = max(bt/2, 100*time.Millisecond)
	c.Consensus.TimeoutPrecommitDelta = 100 * time.Millisecond
	c.Consensus.PeerGossipSleepDuration = 20 * time.Millisecond
	// CometBFT's default 5 MB/s per peer starves a busy loopback devnet
	// (mempool gossip plus 1 MiB blocks); local links take far more.
	c.P2P.SendRate = 100 << 20
	c.P2P.RecvRate = 100 << 20
	// A mempool of ≈ 2.5 blocks: a client that outruns the chain gets
	// "mempool full" (Client.Broadcast waits and retries) instead of piling
	// up txs every validator must check, gossip and recheck while it is
	// trying to make blocks. With 20,000 a burst pushed blocks 2–4 s apart
	// on a 2-core devnet; with 5,000 they stay ≈ 1 s apart and more commit.
	c.Mempool.Size = 5_000
	c.Mempool.CacheSize = 100_000
	c.Mempool.MaxTxsBytes = 256 << 20
	c.RPC.TimeoutBroadcastTxCommit = 30 * time.Second
	c.Instrumentation.Prometheus = hc.PrometheusListen != ""
	if c.Instrumentation.Prometheus {
		c.Instrumentation.PrometheusListenAddr = hc.PrometheusListen
	}
	// goleveldb, like the ledger state (one storage engine per home).
	c.DBBackend = "goleveldb"
	if ss := hc.StateSync; ss != nil {
		c.StateSync.Enable = true
		c.StateSync.RPCServers = ss.RPCServers
		c.StateSync.TrustHeight = ss.TrustHeight
		c.StateSync.TrustHash = ss.TrustHash
		if ss.TrustPeriod > 0 {
			c.StateSync.TrustPeriod = ss.TrustPeriod
		}
		c.StateSync.DiscoveryTime = DefaultStateSyncDiscovery
		if ss.DiscoveryTime > 0 {
			c.StateSync.DiscoveryTime = ss.DiscoveryTime
		}
	}
	return c
}

// writeNodeFiles writes the CometBFT config, node key and validator key of a
// home from the account key (one key for account, p2p and validator).
func writeNodeFiles(home string, key ed25519.PrivateKey, hc HomeConfig) (*cmtcfg.Config, error) {
	c := cometConfig(home, hc)
	for _, d := range []string{filepath.Join(c.RootDir, "config"), filepath.Join(c.RootDir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("cometbft config: %w", err)
	}
	cmtcfg.WriteConfigFile(filepath.Join(c.RootDir, "config", "config.toml"), c)
	nk := &p2p.NodeKey{PrivKey: cmted25519.PrivKey(key)}
	if err := nk.SaveAs(c.NodeKeyFile()); err != nil {
		return nil, err
	}
	privval.NewFilePV(cmted25519.PrivKey(key), c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()).Save()
	return c, nil
}

// InitHome creates a node home for a new one-validator chain: account key
// (kept if present), CometBFT config with local timeouts, and a genesis whose
// only validator and funded account is this home's key.
func InitHome(home string, hc HomeConfig) (chain.Address, error) {
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
	g := hc.Genesis
	addr := AddressOf(key)
	g.Accounts = append(g.Accounts, chain.GenesisAccount{Address: addr, Credits: hc.Credits})
	pub := cmted25519.PrivKey(key).PubKey()
	doc, err := genesisDoc(hc.ChainID, g, []types.GenesisValidator{{Address: pub.Address(), PubKey: pub, Power: 10, Name: hc.Moniker}})
	if err != nil {
		return chain.Address{}, err
	}
	return addr, doc.SaveAs(c.GenesisFile())
}

func genesisDoc(chainID string, g chain.GenesisState, vals []types.GenesisValidator) (*types.GenesisDoc, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	st, err := json.Marshal(g)
	if err != nil {
		return nil, err
	}
	cp := types.DefaultConsensusParams()
	// 512 KiB blocks (≈ 2,000 transfers, twice what 1,000 tx/s fills in
	// the ≈ 0.5 s a block takes): a loaded 4-validator loopback devnet on 2
	// cores keeps blocks ≤ ~1 s apart, where 1 MiB blocks came 2–4 s apart
	// (BenchmarkCommittedTransfers). Never smaller than the largest tx plus
	// room for the header, last commit and evidence.
	cp.Block.MaxBytes = max(512<<10, int64(g.Params.MaxTxBytes)+128<<10)
	cp.Evidence.MaxBytes = 64 << 10
	doc := &types.GenesisDoc{
		ChainID:         chainID,
		GenesisTime:     time.Now().UTC().Round(time.Second),
		ConsensusParams: cp,
		Validators:      vals,
		AppState:        st,
		InitialHeight:   1,
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return doc, nil
}

// DevnetConfig describes a local multi-validator network.
type DevnetConfig struct {
	ChainID string
	Nodes   int
	// BasePort: node i listens for CometBFT p2p on BasePort+10i and RPC on
	// BasePort+10i+1; BasePort+10i+2 … +9 are left for its other listeners.
	BasePort int
	// P2PPorts and RPCPorts, if set, override BasePort per node (tests).
	P2PPorts, RPCPorts []int
	BlockTime          time.Duration
	Genesis            chain.GenesisState
	// Credits each node account starts with.
	Credits uint64
	// ExtraAccounts are funded in genesis too (benchmarks, tests).
	ExtraAccounts []chain.GenesisAccount
	// MetricsPorts, if set, are the ports node i's CometBFT serves its
	// Prometheus metrics on (127.0.0.1). Unset, a node whose ports come
	// from BasePort serves them on BasePort+10i+4 (after the daemon's
	// libp2p and API ports, +2 and +3); a node whose ports P2PPorts gives
	// serves none; 0 turns them off.
	MetricsPorts []int
}

// DefaultDevnetNodes is `coop devnet init`'s node count: the k+m = 4+2
// distinct holders a put with the default redundancy needs (storage's
// default config; a cmd/coop test keeps the two in step).
const DefaultDevnetNodes = 6

// DefaultDevnetConfig is `coop devnet init`'s default: DefaultDevnetNodes
// nodes from port 26600.
func DefaultDevnetConfig() DevnetConfig {
	return DevnetConfig{
		ChainID:   "coop-devnet",
		Nodes:     DefaultDevnetNodes,
		BasePort:  26600,
		BlockTime: 400 * time.Millisecond,
		Genesis:   chain.DefaultGenesisState(),
		Credits:   1_000_000,
	}
}

// DevnetHome is the home of node i of a devnet in dir.
func DevnetHome(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("node%d", i)) }

// InitDevnet writes dc.Nodes homes dir/node0 … sharing one genesis: every
// node a validator with equal power, every node's account funded, each
// node's persistent peers the others on 127.0.0.1. It returns the addresses.
func InitDevnet(dir string, dc DevnetConfig) ([]chain.Address, error) {
	if dc.Nodes < 1 {
		return nil, fmt.Errorf("devnet needs at least 1 node, got %d", dc.Nodes)
	}
	p2pPort := func(i int) int {
		if i < len(dc.P2PPorts) {
			return dc.P2PPorts[i]
		}
		return dc.BasePort + 10*i
	}
	rpcPort := func(i int) int {
		if i < len(dc.RPCPorts) {
			return dc.RPCPorts[i]
		}
		return dc.BasePort + 10*i + 1
	}
	metricsPort := func(i int) int {
		switch {
		case i < len(dc.MetricsPorts):
			return dc.MetricsPorts[i]
		case i < len(dc.P2PPorts):
			return 0
		}
		return dc.BasePort + 10*i + 4
	}
	for i := range dc.Nodes {
		for _, p := range []int{p2pPort(i), rpcPort(i)} {
			if p < 1 || p > 65535 {
				return nil, fmt.Errorf("devnet of %d nodes from port %d: node %d would listen on port %d", dc.Nodes, dc.BasePort, i, p)
			}
		}
		if p := metricsPort(i); p < 0 || p > 65535 {
			return nil, fmt.Errorf("devnet: node %d's CometBFT metrics port %d is not a port", i, p)
		}
		if i >= len(dc.P2PPorts) && dc.BasePort+10*i+9 > 65535 {
			return nil, fmt.Errorf("devnet of %d nodes from port %d: node %d's ports pass 65535", dc.Nodes, dc.BasePort, i)
		}
	}
	keys := make([]ed25519.PrivateKey, dc.Nodes)
	addrs := make([]chain.Address, dc.Nodes)
	ids := make([]string, dc.Nodes)
	g := dc.Genesis
	g.Accounts = append([]chain.GenesisAccount(nil), dc.ExtraAccounts...)
	var vals []types.GenesisValidator
	for i := range keys {
		home := DevnetHome(dir, i)
		if _, err := os.Stat(filepath.Join(ChainDir(home), "config", "genesis.json")); err == nil {
			return nil, fmt.Errorf("%w: %s", ErrHomeExists, home)
		}
		k, err := LoadOrCreateKey(KeyPath(home))
		if err != nil {
			return nil, err
		}
		keys[i], addrs[i] = k, AddressOf(k)
		pub := cmted25519.PrivKey(k).PubKey()
		ids[i] = string(p2p.PubKeyToID(pub))
		vals = append(vals, types.GenesisValidator{Address: pub.Address(), PubKey: pub, Power: 10, Name: fmt.Sprintf("node%d", i)})
		g.Accounts = append(g.Accounts, chain.GenesisAccount{Address: addrs[i], Credits: dc.Credits})
	}
	doc, err := genesisDoc(dc.ChainID, g, vals)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		var peers []string
		for j := range keys {
			if j != i {
				peers = append(peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], p2pPort(j)))
			}
		}
		hc := HomeConfig{
			Moniker:         fmt.Sprintf("node%d", i),
			P2PListen:       fmt.Sprintf("tcp://127.0.0.1:%d", p2pPort(i)),
			RPCListen:       fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort(i)),
			PersistentPeers: strings.Join(peers, ","),
			BlockTime:       dc.BlockTime,
		}
		if p := metricsPort(i); p > 0 {
			hc.PrometheusListen = fmt.Sprintf("127.0.0.1:%d", p)
		}
		c, err := writeNodeFiles(DevnetHome(dir, i), k, hc)
		if err != nil {
			return nil, err
		}
		if err := doc.SaveAs(c.GenesisFile()); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

// LoadCometConfig reads the CometBFT config of a home (chain/config/config.toml).
func LoadCometConfig(home string) (*cmtcfg.Config, error) {
	root := ChainDir(home)
	path := filepath.Join(root, "config", "config.toml")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s is not a coop home (run `coop init`): %w", home, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	c, err := parseCometConfig(b)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	c.SetRoot(root)
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// parseCometConfig decodes a CometBFT config.toml over the defaults the way
// CometBFT's own loader (viper) does: keys by the config structs'
// mapstructure tags, durations from strings ("400ms"), weak typing. viper
// itself stays in cmd/ (STYLE.md); this is the part of it a config file needs.
func parseCometConfig(b []byte) (*cmtcfg.Config, error) {
	var raw map[string]any
	if err := toml.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	c := cmtcfg.DefaultConfig()
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		Result:           c,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(raw); err != nil {
		return nil, err
	}
	return c, nil
}

// RPCAddress returns the CometBFT RPC address of a home, for clients.
func RPCAddress(home string) (string, error) {
	c, err := LoadCometConfig(home)
	if err != nil {
		return "", err
	}
	return c.RPC.ListenAddress, nil
}

// loadPrivValidator builds the validator signer from the account key and the
// saved last-sign state (which keeps it from double-signing after a restart).
func loadPrivValidator(c *cmtcfg.Config, key ed25519.PrivateKey) (*privval.FilePV, error) {
	pv := privval.NewFilePV(cmted25519.PrivKey(key), c.PrivValidatorKeyFile(), c.PrivValidatorStateFile())
	b, err := os.ReadFile(c.PrivValidatorStateFile())
	if errors.Is(err, os.ErrNotExist) {
		pv.Save()
		return pv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("validator state: %w", err)
	}
	if err := cmtjson.Unmarshal(b, &pv.LastSignState); err != nil {
		return nil, fmt.Errorf("validator state %s: %w", c.PrivValidatorStateFile(), err)
	}
	return pv, nil
}
