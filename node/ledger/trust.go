package ledger

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// errOtherValidators is a header signed by a validator set other than the
// genesis one: the set changed (chain.ValidatorVote).
var errOtherValidators = errors.New("validator set changed since genesis")

// lightTrustingPeriod is how long the light client trusts a header: the
// ledger's trust root is its genesis (and checkpoints the user gives),
// whatever the chain's age, as for the direct check. coop has
// no stake to lose, so validators that left could sign a fork of the past
// at any age (a long-range attack): trust a genesis and an RPC server of
// your own network.
const lightTrustingPeriod = 10 * 365 * 24 * time.Hour

// Checkpoint names a header a Verifier trusts besides its genesis: its
// height and hash, learned from a node of one's own (its block store) or
// from an earlier verified read (Verifier.Checkpoint). It is what a
// CometBFT light client's trust options are.
type Checkpoint struct {
	Height int64
	Hash   []byte
}

// String is "<height>:<hash in hex>", what ParseCheckpoint reads.
func (cp Checkpoint) String() string { return fmt.Sprintf("%d:%X", cp.Height, cp.Hash) }

// ParseCheckpoint reads "<height>:<hash>" (64 hex digits).
func ParseCheckpoint(s string) (Checkpoint, error) {
	hs, hx, ok := strings.Cut(strings.TrimSpace(s), ":")
	h, err := strconv.ParseInt(hs, 10, 64)
	if !ok || err != nil || h < 1 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: want HEIGHT:HASH with a height ≥ 1", s)
	}
	hash, err := hex.DecodeString(hx)
	if err != nil || len(hash) != 32 {
		return Checkpoint{}, fmt.Errorf("checkpoint %q: the hash is not 64 hex digits", s)
	}
	return Checkpoint{Height: h, Hash: hash}, nil
}

// TrustedHeaderPath is where a home keeps the newest header its verified
// reads checked (Verifier.SaveTrusted), next to the ledger state, so a
// reset of the chain data drops it too.
func TrustedHeaderPath(home string) string {
	return filepath.Join(ChainDir(home), "data", "coop-verified-header")
}

// trustChain verifies signed headers of a chain trusting only its genesis
// and what it verified since. While a header's validator set is the
// genesis one it is checked directly against the genesis validators
// (verifiedHeader), and the newest such header becomes its anchor. Once
// the set changed, headers are verified by CometBFT's light client
// (skipping verification, bisecting through the set's changes) from the
// anchor: the newest header it verified directly, else a checkpoint it was
// given, else block 1 checked against the genesis validators. A server
// that pruned block 1 (and the headers of the set's changes) can then
// still serve verified reads to a verifier that verified a header before
// the change, or that was given a checkpoint it still stores; to a fresh
// verifier without one it cannot, and the error says so.
type trustChain struct {
	chainID string
	vals    *types.ValidatorSet // the genesis validators
	primary rpcclient.Client
	witness rpcclient.Client

	mu     sync.Mutex
	anchor *types.LightBlock // newest header trusted before the light client was made
	lc     *light.Client
}

func newTrustChain(chainID string, vals *types.ValidatorSet, primary, witness rpcclient.Client) *trustChain {
	if witness == nil {
		witness = primary
	}
	return &trustChain{chainID: chainID, vals: vals, primary: primary, witness: witness}
}

// header returns the verified signed header at height h.
func (tc *trustChain) header(ctx context.Context, h int64) (*types.SignedHeader, error) {
	sh, err := verifiedHeader(ctx, tc.primary, tc.chainID, tc.vals, h)
	if !errors.Is(err, errOtherValidators) {
		if err == nil {
			tc.learn(&types.LightBlock{SignedHeader: sh, ValidatorSet: tc.vals})
		}
		return sh, err
	}
	lc, err := tc.light(ctx)
	if err != nil {
		return nil, err
	}
	lb, err := lc.VerifyLightBlockAtHeight(ctx, h, time.Now())
	if err != nil {
		return nil, fmt.Errorf("header %d (validators changed since genesis): light client: %w", h, err)
	}
	return lb.SignedHeader, nil
}

// learn makes lb, a verified header, the anchor if it is newer than the
// anchor and the light client is not made yet.
func (tc *trustChain) learn(lb *types.LightBlock) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.lc == nil && (tc.anchor == nil || lb.Height > tc.anchor.Height) {
		tc.anchor = lb
	}
}

// trust makes the header cp names, fetched from the primary, the anchor
// (if it is newer than the anchor it has): its hash must be cp's and its
// commit and validator set must be the header's.
func (tc *trustChain) trust(ctx context.Context, cp Checkpoint) error {
	lb, err := lighthttp.NewWithClient(tc.chainID, remoteRPC{tc.primary, "primary"}).LightBlock(ctx, cp.Height)
	if errors.Is(err, provider.ErrLightBlockNotFound) {
		return fmt.Errorf("%w: checkpoint %s: the server no longer stores header %d", ErrCheckpointPruned, cp, cp.Height)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", cp, err)
	}
	if !bytes.Equal(lb.Hash(), cp.Hash) {
		return fmt.Errorf("%w: checkpoint %s: the server's header %d is %X", chain.ErrUnverified, cp, cp.Height, lb.Hash())
	}
	return tc.trustBlock(lb)
}

// ErrCheckpointPruned is a checkpoint (Verifier.Trust) of a header the
// server no longer stores.
var ErrCheckpointPruned = errors.New("checkpoint pruned")

// trustBlock makes lb, a header with its commit and validator set that the
// caller trusts, the anchor if it is newer than the anchor.
func (tc *trustChain) trustBlock(lb *types.LightBlock) error {
	if err := lb.ValidateBasic(tc.chainID); err != nil {
		return fmt.Errorf("%w: trusted header %d: %w", chain.ErrUnverified, lb.Height, err)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.lc != nil {
		return fmt.Errorf("trusted header %d: the light client already follows the chain", lb.Height)
	}
	if tc.anchor == nil || lb.Height > tc.anchor.Height {
		tc.anchor = lb
	}
	return nil
}

// latest is the newest header tc verified or trusts, with its validator
// set (nil if none).
func (tc *trustChain) latest() *types.LightBlock {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.lc != nil {
		if h, err := tc.lc.LastTrustedHeight(); err == nil && h > 0 {
			if lb, err := tc.lc.TrustedLightBlock(h); err == nil {
				return lb
			}
		}
	}
	return tc.anchor
}

// light makes the light client once, trusting the anchor, or without one
// block 1 as checked against the genesis validators.
func (tc *trustChain) light(ctx context.Context) (*light.Client, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.lc != nil {
		return tc.lc, nil
	}
	root := tc.anchor
	if root == nil {
		sh, err := verifiedHeader(ctx, tc.primary, tc.chainID, tc.vals, 1)
		if err != nil {
			return nil, fmt.Errorf("the validator set changed since genesis and this verifier trusts no header after block 1, "+
				"so headers are followed from block 1, which does not verify: %w "+
				"(a server that pruned block 1 serves verified reads only to a verifier given a checkpoint it still stores, "+
				"or one that verified a header of the genesis validators earlier)", err)
		}
		root = &types.LightBlock{SignedHeader: sh, ValidatorSet: tc.vals}
	}
	store := lightdb.New(dbm.NewMemDB(), tc.chainID)
	if err := store.SaveLightBlock(root); err != nil {
		return nil, fmt.Errorf("light client: %w", err)
	}
	lc, err := light.NewClientFromTrustedStore(tc.chainID, lightTrustingPeriod,
		lighthttp.NewWithClient(tc.chainID, remoteRPC{tc.primary, "primary"}),
		[]provider.Provider{lighthttp.NewWithClient(tc.chainID, remoteRPC{tc.witness, "witness"})},
		store,
		light.SkippingVerification(light.DefaultTrustLevel),
	)
	if err != nil {
		return nil, fmt.Errorf("light client from header %d: %w", root.Height, err)
	}
	tc.lc = lc
	return lc, nil
}

// remoteRPC gives an RPC client (possibly in-process) the name the light
// client's provider wants.
type remoteRPC struct {
	rpcclient.Client
	name string
}

func (r remoteRPC) Remote() string { return r.name }
