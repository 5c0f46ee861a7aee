package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// ErrNoKey is returned when a read-only client is asked to sign.
var ErrNoKey = errors.New("ledger client has no account key")

// Result is a transaction the chain accepted.
type Result struct {
	Hash chain.Hash
	// Nonce is the nonce the tx was signed with.
	Nonce uint64
	raw   []byte
	// Height is the block that committed it (0 for Broadcast, which only
	// waits for the mempool).
	Height int64
}

// Client builds, signs, broadcasts and queries ledger transactions for one
// account. It tracks the account's next nonce so callers never handle it;
// it is safe for concurrent use (transactions of one client are numbered in
// the order their Broadcast calls take the lock).
type Client struct {
	rpc     rpcclient.Client
	key     ed25519.PrivateKey
	addr    chain.Address
	chainID string

	// PollInterval is the fallback cadence of a waiting BroadcastCommit or
	// WaitTx (DefaultPollInterval): how often it looks its tx up in the tx
	// index besides the block events, and checks that the mempool did not
	// drop it. Set it before the client is used.
	PollInterval time.Duration
	// StallTimeout bounds a wait for a tx (BroadcastCommit, WaitTx) while
	// the ledger makes no blocks: after this long without a block it fails
	// with a *StalledError (ErrStalled). 0 means DefaultStallTimeout. Set it
	// before the client is used.
	StallTimeout time.Duration
	// Logger receives the client's debug lines (subscription trouble); nil
	// means slog.Default().
	Logger *slog.Logger

	mu         sync.Mutex // serialises Broadcast; guards the nonce
	nonce      uint64
	nonceKnown bool

	// verifier, if set (Verify), checks every answer query reads.
	verifier *Verifier

	// ownsRPC: Dial made rpc, so Close stops it.
	ownsRPC bool
	blocks  blockWatch
}

// Dial connects to a node's CometBFT RPC address (e.g. tcp://127.0.0.1:26657)
// and learns the chain id. key may be nil for a read-only client.
func Dial(ctx context.Context, rpcAddr string, key ed25519.PrivateKey) (*Client, error) {
	c, err := rpchttp.New(rpcAddr)
	if err != nil {
		return nil, fmt.Errorf("ledger rpc %s: %w", rpcAddr, err)
	}
	cl, err := NewClient(ctx, c, key)
	if err != nil {
		return nil, err
	}
	cl.ownsRPC = true
	return cl, nil
}

// NewClient makes a client over any CometBFT RPC client (HTTP, or the local
// one of an in-process node) and learns the chain id from the node. The
// first BroadcastCommit or WaitTx subscribes to new blocks (an HTTP client
// not yet running gets its websocket started, and stopped again by Close).
// Give each Client its own RPC client: CometBFT's HTTP client keeps one
// subscription per query. Call Close when done.
func NewClient(ctx context.Context, rpc rpcclient.Client, key ed25519.PrivateKey) (*Client, error) {
	st, err := rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger node status: %w", err)
	}
	c := &Client{rpc: rpc, key: key, chainID: st.NodeInfo.Network, PollInterval: DefaultPollInterval}
	c.blocks.init()
	if key != nil {
		c.addr = AddressOf(key)
	}
	return c, nil
}

// Address is the client's account address.
func (c *Client) Address() chain.Address { return c.addr }

// ChainID is the chain the client signs for.
func (c *Client) ChainID() string { return c.chainID }

// RPC is the underlying CometBFT RPC client.
func (c *Client) RPC() rpcclient.Client { return c.rpc }

// Broadcast signs body with the next nonce and submits it, returning once
// the node's mempool accepted it (CheckTx passed). A stale local nonce (the
// key was used elsewhere, or a queued tx was dropped) is replaced by the one
// the node's bad-nonce result names in its Data (which counts the txs queued
// in its mempool), or else re-read from the committed state, and the tx
// retried once. A full mempool is waited out until ctx ends. A refusal is a
// *RejectedError (coop codes) or wraps ErrForeignResult.
func (c *Client) Broadcast(ctx context.Context, body chain.Body) (Result, error) {
	return c.broadcast(ctx, c.addr, body)
}

// BroadcastFor is Broadcast of a transaction the client's key, a device of
// account, signs for account (chain.Tx.Account): the rule acts as account,
// the nonce is the client key's own. account equal to the client's
// address is Broadcast. The ledger refuses it with chain.ErrNotDevice if
// the key is not (or no longer) a device of account, and with
// chain.ErrUnauthorized for a type a device may not sign.
func (c *Client) BroadcastFor(ctx context.Context, account chain.Address, body chain.Body) (Result, error) {
	return c.broadcast(ctx, account, body)
}

func (c *Client) broadcast(ctx context.Context, account chain.Address, body chain.Body) (Result, error) {
	if c.key == nil {
		return Result{}, ErrNoKey
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if !c.nonceKnown {
			acct, err := c.Account(ctx, c.addr)
			if err != nil {
				return Result{}, err
			}
			c.nonce, c.nonceKnown = acct.Nonce, true
		}
		tx, err := chain.NewTxFor(c.chainID, body, c.key, account, c.nonce)
		if err != nil {
			return Result{}, err
		}
		v, err := c.broadcastSync(ctx, tx.Bytes())
		switch {
		case errors.Is(err, errMempoolFull):
			select {
			case <-ctx.Done():
				return Result{}, fmt.Errorf("broadcasting %s: mempool full: %w", body.TxType(), ctx.Err())
			case <-time.After(mempoolFullBackoff):
			}
			attempt--
			continue
		case errors.Is(err, errCatchingUp):
			// The node refuses broadcasts until it has caught up with the
			// chain (just started, or back after a pause): wait it out.
			select {
			case <-ctx.Done():
				return Result{}, fmt.Errorf("broadcasting %s: the node is still catching up with the chain: %w", body.TxType(), ctx.Err())
			case <-time.After(catchingUpBackoff):
			}
			attempt--
			continue
		case errors.Is(err, errInCache):
			// These exact bytes were accepted before (a retry, or another
			// client of this key sent the same tx): it is submitted.
			c.nonce++
			return Result{Hash: tx.Hash(), Nonce: tx.Nonce, raw: tx.Bytes()}, nil
		case err != nil:
			// Unknown whether the node took it: learn the nonce again next time.
			c.nonceKnown = false
			return Result{}, fmt.Errorf("broadcasting %s: %w", body.TxType(), err)
		case v.ok():
			c.nonce++
			return Result{Hash: tx.Hash(), Nonce: tx.Nonce, raw: tx.Bytes()}, nil
		case v.is(chain.CodeBadNonce) && attempt == 0:
			// The result's Data is the nonce the node's mempool view
			// expects, which counts our own queued txs; without it, fall
			// back to the committed nonce.
			if n, ok := chain.ParseNonceData(v.Data); ok {
				c.nonce = n
			} else {
				c.nonceKnown = false
			}
			continue
		}
		return Result{}, v.err(0)
	}
}

// broadcastSync submits tx and returns its CheckTx verdict. CometBFT v1
// reports a CheckTx rejection as an error, which broadcastVerdict decodes.
func (c *Client) broadcastSync(ctx context.Context, tx []byte) (verdict, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, tx)
	if err != nil {
		return broadcastVerdict(err, cmttypes.Tx(tx).Hash())
	}
	return verdict{Code: res.Code, Codespace: res.Codespace, Data: res.Data, Log: res.Log}, nil
}

// ErrQuery is returned when a query fails for a reason other than a
// missing record (chain.ErrNotFound).
var ErrQuery = errors.New("ledger query failed")

// Query runs an abci_query at the latest height and decodes the CBOR answer
// into v. A missing record returns an error wrapping chain.ErrNotFound.
func (c *Client) Query(ctx context.Context, path string, v any) error {
	_, err := c.query(ctx, path, nil, 0, v)
	return err
}

// query runs an abci_query of path with data at height (0: the latest),
// decodes the answer into v and returns the height it was read at. A failed
// answer wraps ErrQuery and the chain sentinel of its code; one outside the
// coop codespace wraps ErrForeignResult instead.
func (c *Client) query(ctx context.Context, path string, data []byte, height int64, v any) (int64, error) {
	if c.verifier != nil {
		if _, err := chain.StoreKey(path, data); err != nil {
			return 0, fmt.Errorf("%w: %s: %w: %v", ErrQuery, path, ErrNotVerifiable, err)
		}
		return c.verifier.Query(ctx, path, data, height, v)
	}
	res, err := c.rpc.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Height: height})
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	r := res.Response
	if r.Code != 0 {
		if r.Codespace != chain.Codespace {
			return 0, fmt.Errorf("%w: %s: %w: codespace %q code %d: %s", ErrQuery, path, ErrForeignResult, r.Codespace, r.Code, r.Log)
		}
		return 0, fmt.Errorf("%w: %s: %w: %s", ErrQuery, path, chain.ErrorOf(chain.Code(r.Code)), r.Log)
	}
	if err := chain.Unmarshal(r.Value, v); err != nil {
		return 0, fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	return r.Height, nil
}

// Account returns an account with its current quota limit.
func (c *Client) Account(ctx context.Context, a chain.Address) (chain.AccountView, error) {
	if c.verifier != nil {
		v, _, err := c.verifier.Account(ctx, a)
		return v, err
	}
	var v chain.AccountView
	return v, c.Query(ctx, chain.QueryAccount+a.String(), &v)
}

// Node returns a registered node.
func (c *Client) Node(ctx context.Context, a chain.Address) (chain.Node, error) {
	var v chain.Node
	return v, c.Query(ctx, chain.QueryNode+a.String(), &v)
}

// Nodes lists the registered nodes in address order, every page read at
// one height (QueryList).
func (c *Client) Nodes(ctx context.Context) ([]chain.Node, error) {
	v, _, err := QueryList[chain.Node](ctx, c, chain.QueryNodes)
	return v, err
}

// File returns a placed file.
func (c *Client) File(ctx context.Context, id chain.Hash) (chain.File, error) {
	var v chain.File
	return v, c.Query(ctx, chain.QueryFile+id.String(), &v)
}

// Files lists the files an account owns, every page read at one height
// (QueryList).
func (c *Client) Files(ctx context.Context, owner chain.Address) ([]chain.File, error) {
	v, _, err := QueryList[chain.File](ctx, c, chain.QueryFiles+owner.String())
	return v, err
}

// Pieces lists the pieces a holder is recorded to hold, every page read at
// one height (QueryList).
func (c *Client) Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	v, _, err := QueryList[chain.HeldPiece](ctx, c, chain.QueryPieces+holder.String())
	return v, err
}

// Epoch returns the current epoch.
func (c *Client) Epoch(ctx context.Context) (chain.Epoch, error) {
	var v chain.Epoch
	return v, c.Query(ctx, chain.QueryEpoch, &v)
}

// Challenges returns holder's challenges of the current epoch
// (/challenges/<holder>), drawn over every piece it is recorded to hold. Before
// the first epoch the error wraps chain.ErrNotFound; a holder of more than
// chain.MaxChallengePieces pieces gets one wrapping chain.ErrInvalid.
func (c *Client) Challenges(ctx context.Context, holder chain.Address) (chain.ChallengeSet, error) {
	var v chain.ChallengeSet
	return v, c.Query(ctx, chain.QueryChallenges+holder.String(), &v)
}

// EpochN returns epoch n.
func (c *Client) EpochN(ctx context.Context, n uint64) (chain.Epoch, error) {
	var v chain.Epoch
	return v, c.Query(ctx, chain.QueryEpoch+"/"+strconv.FormatUint(n, 10), &v)
}

// Params returns the chain parameters.
func (c *Client) Params(ctx context.Context) (chain.Params, error) {
	var v chain.Params
	return v, c.Query(ctx, chain.QueryParams, &v)
}

// Height returns the latest committed block height and its app hash.
func (c *Client) Height(ctx context.Context) (int64, []byte, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return 0, nil, err
	}
	return st.SyncInfo.LatestBlockHeight, st.SyncInfo.LatestAppHash, nil
}

// Validators returns the validator set as the ledger has it, with the votes
// cast for changes not yet applied.
func (c *Client) Validators(ctx context.Context) (chain.ValidatorSet, error) {
	var v chain.ValidatorSet
	return v, c.Query(ctx, chain.QueryValidators, &v)
}
