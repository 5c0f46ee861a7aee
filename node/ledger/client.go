package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cometbft/cometbft/mempool"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/coop-network/coop/chain"
)

// RejectedError is a transaction the ledger refused, in CheckTx or in its
// block. errors.Is(err, chain.ErrQuotaExceeded) and friends work on it.
type RejectedError struct {
	Code chain.Code
	Log  string
	// Height is the block that included the tx, or 0 if CheckTx refused it.
	Height int64
}

func (e *RejectedError) Error() string {
	if e.Height > 0 {
		return fmt.Sprintf("ledger rejected tx in block %d: %s", e.Height, e.Log)
	}
	return "ledger rejected tx: " + e.Log
}

// Unwrap returns the chain sentinel error of the code.
func (e *RejectedError) Unwrap() error { return chain.ErrorOf(e.Code) }

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

	// PollInterval is how often BroadcastCommit looks for its tx in blocks.
	PollInterval time.Duration

	mu         sync.Mutex
	nonce      uint64
	nonceKnown bool
}

// Dial connects to a node's CometBFT RPC address (e.g. tcp://127.0.0.1:26657)
// and learns the chain id. key may be nil for a read-only client.
func Dial(ctx context.Context, rpcAddr string, key ed25519.PrivateKey) (*Client, error) {
	c, err := rpchttp.New(rpcAddr)
	if err != nil {
		return nil, fmt.Errorf("ledger rpc %s: %w", rpcAddr, err)
	}
	return NewClient(ctx, c, key)
}

// NewClient makes a client over any CometBFT RPC client (HTTP, or the local
// one of an in-process node) and learns the chain id from the node.
func NewClient(ctx context.Context, rpc rpcclient.Client, key ed25519.PrivateKey) (*Client, error) {
	st, err := rpc.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger node status: %w", err)
	}
	c := &Client{rpc: rpc, key: key, chainID: st.NodeInfo.Network, PollInterval: 100 * time.Millisecond}
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
// key was used elsewhere, or a queued tx was dropped) is refreshed from the
// chain and the tx retried once.
func (c *Client) Broadcast(ctx context.Context, body chain.Body) (Result, error) {
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
		tx, err := chain.NewTx(c.chainID, body, c.key, c.nonce)
		if err != nil {
			return Result{}, err
		}
		code, log, err := c.broadcastSync(ctx, tx.Bytes())
		if errors.Is(err, errMempoolFull) {
			select {
			case <-ctx.Done():
				return Result{}, fmt.Errorf("broadcasting %s: mempool full: %w", body.TxType(), ctx.Err())
			case <-time.After(c.PollInterval):
			}
			attempt--
			continue
		}
		if errors.Is(err, errInCache) {
			// These exact bytes were accepted before (a retry, or another
			// client of this key sent the same tx): it is submitted.
			c.nonce++
			return Result{Hash: tx.Hash(), Nonce: tx.Nonce, raw: tx.Bytes()}, nil
		}
		if err != nil {
			// Unknown whether the node took it: learn the nonce again next time.
			c.nonceKnown = false
			return Result{}, fmt.Errorf("broadcasting %s: %w", body.TxType(), err)
		}
		if code == chain.CodeOK {
			c.nonce++
			return Result{Hash: tx.Hash(), Nonce: tx.Nonce, raw: tx.Bytes()}, nil
		}
		if code == chain.CodeBadNonce && attempt == 0 {
			// The log names the nonce the node's mempool view expects, which
			// counts our own queued txs; fall back to the committed nonce.
			if m := expectedNonceRE.FindStringSubmatch(log); m != nil {
				if n, err := strconv.ParseUint(m[1], 10, 64); err == nil {
					c.nonce = n
					continue
				}
			}
			c.nonceKnown = false
			continue
		}
		return Result{}, &RejectedError{Code: code, Log: log}
	}
}

var (
	errMempoolFull = errors.New("mempool full")
	// errInCache: the same bytes were submitted before, so this nonce is
	// taken (our nonce is stale, or the tx is a duplicate).
	errInCache = errors.New("tx in mempool cache")
)

// expectedNonceRE finds the expected nonce in a chain.ErrBadNonce message.
var expectedNonceRE = regexp.MustCompile(`expects nonce (\d+),`)

// invalidTxRE matches CometBFT's mempool.ErrInvalidTx text, which is all an
// HTTP client sees of a CheckTx rejection.
var invalidTxRE = regexp.MustCompile(`(?s)is invalid: code=(\d+), data=[0-9A-Fa-f]*, log='(.*)', codespace=`)

// broadcastSync submits tx and returns its CheckTx code and log. CometBFT
// v1 reports a CheckTx rejection as an RPC error, which is decoded here.
func (c *Client) broadcastSync(ctx context.Context, tx []byte) (chain.Code, string, error) {
	res, err := c.rpc.BroadcastTxSync(ctx, tx)
	if err == nil {
		return chain.Code(res.Code), res.Log, nil
	}
	var inv mempool.ErrInvalidTx
	if errors.As(err, &inv) {
		return chain.Code(inv.Code), inv.Log, nil
	}
	var full mempool.ErrMempoolIsFull
	if errors.As(err, &full) || errors.Is(err, mempool.ErrRecheckFull) {
		return 0, "", errMempoolFull
	}
	msg := err.Error()
	if m := invalidTxRE.FindStringSubmatch(msg); m != nil {
		code, perr := strconv.ParseUint(m[1], 10, 32)
		if perr == nil {
			return chain.Code(code), m[2], nil
		}
	}
	if strings.Contains(msg, "mempool is full") || strings.Contains(msg, "still rechecking") {
		return 0, "", errMempoolFull
	}
	if errors.Is(err, mempool.ErrTxInCache) || strings.Contains(msg, mempool.ErrTxInCache.Error()) {
		return chain.CodeOK, "", errInCache
	}
	return 0, "", err
}

// BroadcastCommit is Broadcast, then waits until the tx is in a committed
// block. A tx that was included but failed its rule returns a
// *RejectedError with the block height.
func (c *Client) BroadcastCommit(ctx context.Context, body chain.Body) (Result, error) {
	r, err := c.Broadcast(ctx, body)
	if err != nil {
		return r, err
	}
	return c.waitTx(ctx, r, true)
}

// ErrTxDropped is returned by BroadcastCommit when the mempool dropped the tx
// (its account's committed nonce moved past it without it).
var ErrTxDropped = errors.New("tx dropped from the mempool")

// WaitTx waits until the tx with hash is committed and returns its result.
func (c *Client) WaitTx(ctx context.Context, hash chain.Hash) (Result, error) {
	return c.waitTx(ctx, Result{Hash: hash}, false)
}

func (c *Client) waitTx(ctx context.Context, r Result, watch bool) (Result, error) {
	hash := r.Hash
	t := time.NewTicker(c.PollInterval)
	defer t.Stop()
	suspect := false
	for poll := 1; ; poll++ {
		res, err := c.rpc.Tx(ctx, hash[:], false)
		if err == nil {
			r.Height = res.Height
			if res.TxResult.Code != uint32(chain.CodeOK) {
				return r, &RejectedError{Code: chain.Code(res.TxResult.Code), Log: res.TxResult.Log, Height: res.Height}
			}
			return r, nil
		}
		if watch && r.raw != nil && poll%20 == 0 {
			if err := c.checkDropped(ctx, r, &suspect); err != nil {
				return r, err
			}
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("waiting for tx %s: %w", hash, ctx.Err())
		case <-t.C:
		}
	}
}

// checkDropped notices a tx that will never commit: the mempool drops a tx
// that fails a recheck (an earlier tx changed the state it relied on), and a
// tx whose nonce another tx of the account took. It resubmits the same
// bytes: a tx still in the mempool hits the cache; a dropped one is checked
// again and either re-admitted or refused with the reason.
func (c *Client) checkDropped(ctx context.Context, r Result, suspect *bool) error {
	code, log, err := c.broadcastSync(ctx, r.raw)
	switch {
	case errors.Is(err, errInCache), errors.Is(err, errMempoolFull), err != nil:
		return nil // still pending, or cannot tell now
	case code == chain.CodeOK:
		return nil // re-admitted
	case code == chain.CodeBadNonce:
		// Either committed (the tx index lags the state a little) or the
		// nonce went to another tx: it must stay unfound on two checks.
		acct, aerr := c.Account(ctx, c.addr)
		if aerr != nil || acct.Nonce <= r.Nonce {
			return nil // queued behind earlier txs
		}
		if *suspect {
			c.mu.Lock()
			c.nonceKnown = false
			c.mu.Unlock()
			return fmt.Errorf("%w: tx %s with nonce %d; the account's nonce is now %d", ErrTxDropped, r.Hash, r.Nonce, acct.Nonce)
		}
		*suspect = true
		return nil
	default:
		c.mu.Lock()
		c.nonceKnown = false
		c.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrTxDropped, &RejectedError{Code: code, Log: log})
	}
}

// ErrQuery is returned when a query fails for a reason other than a
// missing record (chain.ErrNotFound).
var ErrQuery = errors.New("ledger query failed")

// Query runs an abci_query at the latest height and decodes the CBOR answer
// into v. A missing record returns an error wrapping chain.ErrNotFound.
func (c *Client) Query(ctx context.Context, path string, v any) error {
	res, err := c.rpc.ABCIQuery(ctx, path, nil)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	if res.Response.Code != 0 {
		return fmt.Errorf("%w: %s: %w: %s", ErrQuery, path, chain.ErrorOf(chain.Code(res.Response.Code)), res.Response.Log)
	}
	if err := chain.Unmarshal(res.Response.Value, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrQuery, path, err)
	}
	return nil
}

// Account returns an account with its current quota limit.
func (c *Client) Account(ctx context.Context, a chain.Address) (chain.AccountView, error) {
	var v chain.AccountView
	return v, c.Query(ctx, chain.QueryAccount+a.String(), &v)
}

// Node returns a registered node.
func (c *Client) Node(ctx context.Context, a chain.Address) (chain.Node, error) {
	var v chain.Node
	return v, c.Query(ctx, chain.QueryNode+a.String(), &v)
}

// Nodes lists the registered nodes in address order.
func (c *Client) Nodes(ctx context.Context) ([]chain.Node, error) {
	var v []chain.Node
	return v, c.Query(ctx, chain.QueryNodes, &v)
}

// File returns a placed file.
func (c *Client) File(ctx context.Context, id chain.Hash) (chain.File, error) {
	var v chain.File
	return v, c.Query(ctx, chain.QueryFile+id.String(), &v)
}

// Files lists the files an account owns.
func (c *Client) Files(ctx context.Context, owner chain.Address) ([]chain.File, error) {
	var v []chain.File
	return v, c.Query(ctx, chain.QueryFiles+owner.String(), &v)
}

// Pieces lists the pieces a holder is recorded to hold.
func (c *Client) Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	var v []chain.HeldPiece
	return v, c.Query(ctx, chain.QueryPieces+holder.String(), &v)
}

// Epoch returns the current epoch.
func (c *Client) Epoch(ctx context.Context) (chain.Epoch, error) {
	var v chain.Epoch
	return v, c.Query(ctx, chain.QueryEpoch, &v)
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
