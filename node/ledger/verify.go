package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// Verifier reads ledger records with proofs and checks them, trusting the
// genesis (and the checkpoints it is given) and not the node that
// answers: a record of height H is proved by an ics23 proof against the
// app hash in header H+1 (chain.VerifyQuery), and that header must be
// signed by more than 2/3 of the genesis validators while the validator
// set is the genesis one, else verified by CometBFT's light client through
// the set's changes from the newest header the Verifier verified directly,
// a checkpoint (Trust), or block 1 (trustChain).
type Verifier struct {
	rpc     rpcclient.Client
	chainID string
	trust   *trustChain
}

// NewVerifier checks answers from rpc against genesis.
func NewVerifier(rpc rpcclient.Client, genesis *types.GenesisDoc) (*Verifier, error) {
	vals, err := genesisValidators(genesis)
	if err != nil {
		return nil, err
	}
	return &Verifier{rpc: rpc, chainID: genesis.ChainID, trust: newTrustChain(genesis.ChainID, vals, rpc, nil)}, nil
}

// Trust makes v also trust the header cp names, as CometBFT's light client
// trusts its trust options: once the validator set changed, headers are
// verified from it (or from a newer header v verified against the genesis
// validators), so reads verify even when the server pruned block 1 and the
// headers of the set's changes. The server must still store header
// cp.Height, with cp's hash. Call it before the first read of a header of
// a changed set.
func (v *Verifier) Trust(ctx context.Context, cp Checkpoint) error {
	return v.trust.trust(ctx, cp)
}

// Checkpoint is the newest header v verified (or trusts): a client keeps
// it to verify later reads from a server that pruned the headers before
// it (Trust, or SaveTrusted and LoadTrusted, which need no stored header).
// It is zero before v verified anything.
func (v *Verifier) Checkpoint() Checkpoint {
	lb := v.trust.latest()
	if lb == nil {
		return Checkpoint{}
	}
	return Checkpoint{Height: lb.Height, Hash: lb.Hash()}
}

// SaveTrusted writes the newest header v verified, with its commit and
// validator set (a CometBFT light block, protobuf), to path, atomically;
// nothing if v verified nothing yet. LoadTrusted reads it back.
func (v *Verifier) SaveTrusted(path string) error {
	lb := v.trust.latest()
	if lb == nil {
		return nil
	}
	pb, err := lb.ToProto()
	if err != nil {
		return err
	}
	b, err := pb.Marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if err := f.Close(); werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}

// LoadTrusted makes v trust the header SaveTrusted wrote to path, as Trust
// does a checkpoint, without asking the server for it: a verifier keeps
// verifying reads across runs however much the server pruned since (as
// long as a third of the validators that signed it still sign, or the
// server still has the headers in between to bisect through). A missing
// file is an error matching fs.ErrNotExist.
func (v *Verifier) LoadTrusted(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var pb cmtproto.LightBlock
	if err := pb.Unmarshal(b); err != nil {
		return fmt.Errorf("trusted header %s: %w", path, err)
	}
	lb, err := types.LightBlockFromProto(&pb)
	if err != nil {
		return fmt.Errorf("trusted header %s: %w", path, err)
	}
	if err := v.trust.trustBlock(lb); err != nil {
		return fmt.Errorf("trusted header %s: %w", path, err)
	}
	return nil
}

// headerPoll paces the wait for the header after a query's height (the
// next block, one block time away).
const headerPoll = 50 * time.Millisecond

// Get reads the stored value that answers path (chain.StoreKey) at height
// (0: the latest) with its proof, and returns it once verified, with the
// height it is of; a record proved absent is (nil, height, nil). It waits
// for the header after that height if it is not made yet. An answer that
// does not verify is an error wrapping chain.ErrUnverified.
func (v *Verifier) Get(ctx context.Context, path string, data []byte, height int64) ([]byte, int64, error) {
	if _, err := chain.StoreKey(path, data); err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %w", ErrQuery, path, err)
	}
	res, err := v.rpc.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	r := res.Response
	if r.Height < 1 {
		return nil, 0, fmt.Errorf("%w: %s: answer of height %d (code %d: %s)", chain.ErrUnverified, path, r.Height, r.Code, r.Log)
	}
	sh, err := v.header(ctx, r.Height+1)
	if err != nil {
		return nil, 0, err
	}
	value, err := chain.VerifyQuery(path, data, &r, sh.AppHash)
	if err != nil {
		return nil, 0, err
	}
	return value, r.Height, nil
}

// Query is Get decoded into out; a record proved absent is an error
// wrapping chain.ErrNotFound.
func (v *Verifier) Query(ctx context.Context, path string, data []byte, height int64, out any) (int64, error) {
	value, h, err := v.Get(ctx, path, data, height)
	if err != nil {
		return 0, err
	}
	if value == nil {
		return h, fmt.Errorf("%w: %s: %w (proved absent at height %d)", ErrQuery, path, chain.ErrNotFound, h)
	}
	if err := chain.Unmarshal(value, out); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	return h, nil
}

// header returns the verified header at height h, waiting for it to be
// made if the chain is not there yet.
func (v *Verifier) header(ctx context.Context, h int64) (*types.SignedHeader, error) {
	tick := time.NewTicker(headerPoll)
	defer tick.Stop()
	for {
		st, err := v.rpc.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: status: %v", ErrQuery, err)
		}
		if st.SyncInfo.LatestBlockHeight >= h {
			sh, err := v.trust.header(ctx, h)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", chain.ErrUnverified, err)
			}
			return sh, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for header %d: %w", h, ctx.Err())
		case <-tick.C:
		}
	}
}

// Verify makes c check every answer it reads: its record queries (Node,
// File, EpochN, Params, Query of a provable path) and Account (made from
// proved records) go through a Verifier over c's RPC trusting genesis; the
// other queries (lists, the current epoch, challenges) fail with
// ErrNotVerifiable.
func (c *Client) Verify(genesis *types.GenesisDoc) error {
	if genesis.ChainID != c.chainID {
		return fmt.Errorf("genesis of chain %q, the node serves %q", genesis.ChainID, c.chainID)
	}
	v, err := NewVerifier(c.rpc, genesis)
	if err != nil {
		return err
	}
	c.verifier = v
	return nil
}

// Verifier is the Verifier a verifying client (Verify) checks answers
// with, nil if it does not verify.
func (c *Client) Verifier() *Verifier { return c.verifier }

// ErrNotVerifiable is returned by a verifying client (Client.Verify) for a
// query whose answer has no proof yet (lists and computed views).
var ErrNotVerifiable = errors.New("answer cannot be verified yet")

// Account reads an account's view from proved records of one height: its
// stored record, its node's and the params (chain.AccountViewOf).
func (v *Verifier) Account(ctx context.Context, a chain.Address) (chain.AccountView, int64, error) {
	raw, h, err := v.Get(ctx, chain.QueryStore, chain.AccountKey(a), 0)
	if err != nil {
		return chain.AccountView{}, 0, err
	}
	var acct chain.Account
	if raw != nil {
		if err := chain.Unmarshal(raw, &acct); err != nil {
			return chain.AccountView{}, 0, fmt.Errorf("%w: account %s: %v", ErrQuery, a, err)
		}
	}
	var params chain.Params
	if _, err := v.Query(ctx, chain.QueryParams, nil, h, &params); err != nil {
		return chain.AccountView{}, 0, err
	}
	var node *chain.Node
	nraw, _, err := v.Get(ctx, chain.QueryNode+a.String(), nil, h)
	if err != nil {
		return chain.AccountView{}, 0, err
	}
	if nraw != nil {
		node = new(chain.Node)
		if err := chain.Unmarshal(nraw, node); err != nil {
			return chain.AccountView{}, 0, fmt.Errorf("%w: node %s: %v", ErrQuery, a, err)
		}
	}
	return chain.AccountViewOf(params, a, &acct, raw != nil, node), h, nil
}
