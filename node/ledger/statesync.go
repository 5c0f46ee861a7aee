package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/cometbft/cometbft/types"
)

// StateSyncConfig is how a new node joins by state sync: CometBFT's light
// client checks headers against a trusted one (TrustHeight, TrustHash)
// through RPCServers, peers offer snapshots of the ledger state
// (chain/snapshot.go), the node restores the one whose state has the app
// hash the verified headers give, and then fetches only the blocks after it.
type StateSyncConfig struct {
	// RPCServers are CometBFT RPC addresses of at least two nodes of the
	// network (host:port or tcp://host:port); the light client takes the
	// first as primary and the others as witnesses.
	RPCServers []string
	// TrustHeight and TrustHash (hex) name a header the light client
	// trusts; StateSyncTrust finds one that the genesis validators signed.
	TrustHeight int64
	TrustHash   string
	// TrustPeriod is how long a trusted header stays trusted; 0 is
	// CometBFT's default (168 h).
	TrustPeriod time.Duration
	// DiscoveryTime is how long the node gathers snapshot offers before it
	// picks one; 0 is DefaultStateSyncDiscovery.
	DiscoveryTime time.Duration
}

// DefaultStateSyncDiscovery is StateSyncConfig.DiscoveryTime's default:
// CometBFT's minimum (its own default is 15 s).
const DefaultStateSyncDiscovery = 5 * time.Second

// check reports what is wrong with a state sync config.
func (ss *StateSyncConfig) check() error {
	if len(ss.RPCServers) < 2 {
		return fmt.Errorf("state sync needs the RPC addresses of at least two nodes of the network, got %d", len(ss.RPCServers))
	}
	for _, s := range ss.RPCServers {
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("state sync: an empty RPC server address")
		}
	}
	if ss.TrustHeight < 1 {
		return fmt.Errorf("state sync: trust height %d, want ≥ 1", ss.TrustHeight)
	}
	if b, err := hex.DecodeString(ss.TrustHash); err != nil || len(b) != 32 {
		return fmt.Errorf("state sync: trust hash %q is not 32 bytes of hex", ss.TrustHash)
	}
	return nil
}

// rpcURL turns host:port into a URL CometBFT's RPC client takes.
func rpcURL(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		return "tcp://" + s
	}
	return s
}

// StateSyncTrust returns a state sync config over servers (at least two)
// with a header to trust: the latest committed header of the first server,
// checked against the genesis (signed by more than 2/3 of the genesis
// validators, or, once validator_vote changed the set, verified by the
// light client from block 1, trustChain) and to be the header the second
// server has at that height. A node made with it trusts what the genesis
// trusts, not the servers.
func StateSyncTrust(ctx context.Context, genesis *types.GenesisDoc, servers []string) (StateSyncConfig, error) {
	ss := StateSyncConfig{RPCServers: make([]string, len(servers))}
	for i, s := range servers {
		ss.RPCServers[i] = rpcURL(s)
	}
	if len(servers) < 2 {
		return ss, fmt.Errorf("state sync needs the RPC addresses of at least two nodes of the network, got %d", len(servers))
	}
	vals, err := genesisValidators(genesis)
	if err != nil {
		return ss, err
	}
	clients := make([]*rpchttp.HTTP, 2)
	for i := range clients {
		c, err := rpchttp.New(ss.RPCServers[i])
		if err != nil {
			return ss, fmt.Errorf("state sync rpc server %s: %w", servers[i], err)
		}
		clients[i] = c
	}
	st, err := clients[0].Status(ctx)
	if err != nil {
		return ss, fmt.Errorf("state sync rpc server %s: %w", servers[0], err)
	}
	h := st.SyncInfo.LatestBlockHeight
	sh, err := newTrustChain(genesis.ChainID, vals, clients[0], clients[1]).header(ctx, h)
	if err != nil {
		return ss, fmt.Errorf("state sync rpc server %s: %w", servers[0], err)
	}
	other, err := newTrustChain(genesis.ChainID, vals, clients[1], clients[0]).header(ctx, h)
	if err != nil {
		return ss, fmt.Errorf("state sync rpc server %s: %w", servers[1], err)
	}
	if !bytes.Equal(sh.Hash(), other.Hash()) {
		return ss, fmt.Errorf("state sync: %s and %s give different headers at height %d (%X, %X): one of them is not of this network",
			servers[0], servers[1], h, sh.Hash(), other.Hash())
	}
	ss.TrustHeight, ss.TrustHash = h, hex.EncodeToString(sh.Hash())
	return ss, nil
}

// genesisValidators is the validator set a genesis starts with.
func genesisValidators(doc *types.GenesisDoc) (*types.ValidatorSet, error) {
	vs := make([]*types.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		vs[i] = types.NewValidator(v.PubKey, v.Power)
	}
	set := types.NewValidatorSet(vs)
	if err := set.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("genesis validators: %w", err)
	}
	return set, nil
}

// verifiedHeader fetches the signed header at height from c and checks it
// against vals: its chain id and height, that vals is its validator set,
// and that more than 2/3 of vals' power signed it. This is the light
// client's whole check while the validator set is the genesis one; a
// header of another set fails with errOtherValidators, and trustChain then
// follows the set's changes with CometBFT's light client.
func verifiedHeader(ctx context.Context, c rpcclient.SignClient, chainID string, vals *types.ValidatorSet, height int64) (*types.SignedHeader, error) {
	res, err := c.Commit(ctx, &height)
	if err != nil {
		return nil, fmt.Errorf("header %d: %w", height, err)
	}
	sh := res.SignedHeader
	if sh.Header == nil || sh.Commit == nil {
		return nil, fmt.Errorf("header %d: no header or commit", height)
	}
	if err := sh.ValidateBasic(chainID); err != nil {
		return nil, fmt.Errorf("header %d: %w", height, err)
	}
	if sh.Height != height {
		return nil, fmt.Errorf("asked for header %d, got %d", height, sh.Height)
	}
	if !bytes.Equal(sh.ValidatorsHash, vals.Hash()) {
		return nil, fmt.Errorf("%w: header %d has validators %X, not the genesis validators %X", errOtherValidators, height, sh.ValidatorsHash, vals.Hash())
	}
	if err := vals.VerifyCommitLight(chainID, sh.Commit.BlockID, height, sh.Commit); err != nil {
		return nil, fmt.Errorf("header %d is not signed by the validators: %w", height, err)
	}
	return &sh, nil
}
