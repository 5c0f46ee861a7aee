package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	lighthttp "github.com/cometbft/cometbft/light/provider/http"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"
)

// errOtherValidators is a header signed by a validator set other than the
// genesis one: the set changed (chain.ValidatorVote).
var errOtherValidators = errors.New("validator set changed since genesis")

// lightTrustingPeriod is how long the light client trusts a header: the
// ledger's trust root is its genesis (block 1, checked against the genesis
// validators), whatever the chain's age, as for the direct check. coop has
// no stake to lose, so validators that left could sign a fork of the past
// at any age (a long-range attack): trust a genesis and an RPC server of
// your own network.
const lightTrustingPeriod = 10 * 365 * 24 * time.Hour

// trustChain verifies signed headers of a chain trusting only its genesis.
// While the validator set is the genesis one a header is checked directly
// against the genesis validators (verifiedHeader); once it changed, with
// CometBFT's light client (skipping verification, bisecting through the
// set's changes) from block 1, which must still be stored on primary.
type trustChain struct {
	chainID string
	vals    *types.ValidatorSet // the genesis validators
	primary rpcclient.Client
	witness rpcclient.Client

	mu sync.Mutex
	lc *light.Client
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

// light makes the light client once, trusting block 1 as checked against
// the genesis validators.
func (tc *trustChain) light(ctx context.Context) (*light.Client, error) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.lc != nil {
		return tc.lc, nil
	}
	root, err := verifiedHeader(ctx, tc.primary, tc.chainID, tc.vals, 1)
	if err != nil {
		return nil, fmt.Errorf("the validator set changed since genesis, so headers are followed from block 1, which does not verify: %w "+
			"(a node that pruned block 1 cannot serve verified reads of a chain whose validators changed: not yet)", err)
	}
	lc, err := light.NewClient(ctx, tc.chainID,
		light.TrustOptions{Period: lightTrustingPeriod, Height: 1, Hash: root.Hash()},
		lighthttp.NewWithClient(tc.chainID, remoteRPC{tc.primary, "primary"}),
		[]provider.Provider{lighthttp.NewWithClient(tc.chainID, remoteRPC{tc.witness, "witness"})},
		lightdb.New(dbm.NewMemDB(), tc.chainID),
		light.SkippingVerification(light.DefaultTrustLevel),
	)
	if err != nil {
		return nil, fmt.Errorf("light client: %w", err)
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
