package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/worker"
)

// memLedger is a ledger in memory for fast tests: a real chain.App (the
// real rules, the real queries) driven directly, one block per
// transaction, with no consensus and no network. Clients of it implement
// Ledger for one account. Reads of lists go page by page like the ledger
// client's, and tests can make a read fail (FailReads) to see that callers
// act on complete lists only.
type memLedger struct {
	t       testing.TB
	chainID string

	mu       sync.Mutex
	app      *chain.App
	height   int64
	pageSize int                // list reads page by this many items
	failPage int                // > 0: list reads fail when they reach this page (1 = the first)
	failRead func(string) error // if set, called with each query path; an error fails the read

	// heights are the NewBlocks readers' channels.
	heights map[chan int64]struct{}

	// send serialises BroadcastCommit: each reads its account's nonce
	// and commits its block before the next reads it.
	send sync.Mutex
}

const memChainID = "coop-mem"

// newMemLedger starts a ledger whose genesis funds the given keys, with
// default parameters.
func newMemLedger(t testing.TB, funded ...ed25519.PrivateKey) *memLedger {
	t.Helper()
	cfg := chain.DefaultConfig("")
	cfg.Logger = slog.New(slog.DiscardHandler)
	app, err := chain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	g := chain.DefaultGenesisState()
	for _, k := range funded {
		g.Accounts = append(g.Accounts, chain.GenesisAccount{Address: chain.AddressOf(k.Public().(ed25519.PublicKey)), Credits: 1000})
	}
	st, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: memChainID, AppStateBytes: st, InitialHeight: 1}); err != nil {
		t.Fatal(err)
	}
	l := &memLedger{t: t, chainID: memChainID, app: app, pageSize: 1000}
	l.block() // an empty first block, so queries see the genesis
	return l
}

// block finalizes and commits one block of txs; the caller holds no lock.
func (l *memLedger) block(txs ...[]byte) []*abci.ExecTxResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blockLocked(txs...)
}

func (l *memLedger) blockLocked(txs ...[]byte) []*abci.ExecTxResult {
	l.height++
	h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(l.height)))
	res, err := l.app.FinalizeBlock(context.Background(), &abci.FinalizeBlockRequest{Height: l.height, Hash: h[:], Txs: txs})
	if err != nil {
		l.t.Fatalf("block %d: %v", l.height, err)
	}
	if _, err := l.app.Commit(context.Background(), &abci.CommitRequest{}); err != nil {
		l.t.Fatalf("commit %d: %v", l.height, err)
	}
	for ch := range l.heights {
		select { // the latest height replaces one not taken yet
		case <-ch:
		default:
		}
		ch <- l.height
	}
	return res.TxResults
}

// advance commits n empty blocks.
func (l *memLedger) advance(n int) {
	for range n {
		l.block()
	}
}

// setFailPage makes list reads fail at page p (0: never).
func (l *memLedger) setFailPage(p int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failPage = p
}

// setPageSize sets how many items one page of a list read holds.
func (l *memLedger) setPageSize(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pageSize = n
}

// client is a Ledger for the account of key.
func (l *memLedger) client(key ed25519.PrivateKey) *memClient {
	return &memClient{l: l, key: key, addr: chain.AddressOf(key.Public().(ed25519.PublicKey))}
}

func (l *memLedger) query(ctx context.Context, path string, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	fail := l.failRead
	l.mu.Unlock()
	if fail != nil {
		if err := fail(path); err != nil {
			return err
		}
	}
	res, err := l.app.Query(ctx, &abci.QueryRequest{Path: path})
	if err != nil {
		return err
	}
	if res.Code != 0 {
		return fmt.Errorf("%w: %s: %w: %s", ledger.ErrQuery, path, chain.ErrorOf(chain.Code(res.Code)), res.Log)
	}
	return chain.Unmarshal(res.Value, v)
}

// errPageFailed is the error of a list read failing part way.
var errPageFailed = errors.New("memledger: page read failed")

// list reads a list query whole, then hands it out page by page like the
// ledger client: a read failing at any page returns the error, no items.
func list[T any](ctx context.Context, l *memLedger, path string) ([]T, error) {
	var page chain.Page[T]
	var items []T
	res, err := l.app.Query(ctx, &abci.QueryRequest{Path: path})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("%w: %s: %w: %s", ledger.ErrQuery, path, chain.ErrorOf(chain.Code(res.Code)), res.Log)
	}
	if err := chain.Unmarshal(res.Value, &page); err == nil {
		items = page.Items // the paged answer (branch chain)
	} else if err := chain.Unmarshal(res.Value, &items); err != nil {
		return nil, err
	}
	l.mu.Lock()
	size, failAt, fail := l.pageSize, l.failPage, l.failRead
	l.mu.Unlock()
	if fail != nil {
		if err := fail(path); err != nil {
			return nil, err
		}
	}
	var out []T
	for p := 1; ; p++ {
		if failAt == p {
			return nil, fmt.Errorf("%w: %s page %d", errPageFailed, path, p)
		}
		n := min(size, len(items))
		out = append(out, items[:n]...)
		items = items[n:]
		if len(items) == 0 {
			return out, nil
		}
	}
}

// memClient is a Ledger of one account on a memLedger.
type memClient struct {
	l    *memLedger
	key  ed25519.PrivateKey
	addr chain.Address
}

var _ Ledger = (*memClient)(nil)

func (c *memClient) ChainID() string { return c.l.chainID }

func (c *memClient) Height(ctx context.Context) (int64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.l.failRead != nil {
		if err := c.l.failRead("height"); err != nil {
			return 0, nil, err
		}
	}
	return c.l.height, nil, nil
}

func (c *memClient) Params(ctx context.Context) (chain.Params, error) {
	var v chain.Params
	return v, c.l.query(ctx, chain.QueryParams, &v)
}

func (c *memClient) Account(ctx context.Context, a chain.Address) (chain.AccountView, error) {
	var v chain.AccountView
	return v, c.l.query(ctx, chain.QueryAccount+a.String(), &v)
}

func (c *memClient) Node(ctx context.Context, a chain.Address) (chain.Node, error) {
	var v chain.Node
	return v, c.l.query(ctx, chain.QueryNode+a.String(), &v)
}

func (c *memClient) Nodes(ctx context.Context) ([]chain.Node, error) {
	return list[chain.Node](ctx, c.l, chain.QueryNodes)
}

func (c *memClient) File(ctx context.Context, id chain.Hash) (chain.File, error) {
	var v chain.File
	return v, c.l.query(ctx, chain.QueryFile+id.String(), &v)
}

func (c *memClient) Files(ctx context.Context, owner chain.Address) ([]chain.File, error) {
	return list[chain.File](ctx, c.l, chain.QueryFiles+owner.String())
}

func (c *memClient) Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	return list[chain.HeldPiece](ctx, c.l, chain.QueryPieces+holder.String())
}

func (c *memClient) Epoch(ctx context.Context) (chain.Epoch, error) {
	var v chain.Epoch
	return v, c.l.query(ctx, chain.QueryEpoch, &v)
}

func (c *memClient) Challenges(ctx context.Context, holder chain.Address) (chain.ChallengeSet, error) {
	var v chain.ChallengeSet
	return v, c.l.query(ctx, chain.QueryChallenges+holder.String(), &v)
}

func (c *memClient) Lost(ctx context.Context) ([]chain.LostPiece, error) {
	return list[chain.LostPiece](ctx, c.l, chain.QueryLost)
}

// BroadcastCommit signs body with the account's next nonce and commits it
// in a block of its own.
func (c *memClient) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	c.l.send.Lock()
	defer c.l.send.Unlock()
	acct, err := c.Account(ctx, c.addr)
	if err != nil {
		return ledger.Result{}, err
	}
	tx, err := chain.NewTx(c.l.chainID, body, c.key, acct.Nonce)
	if err != nil {
		return ledger.Result{}, err
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	res := c.l.blockLocked(tx.Bytes())[0]
	r := ledger.Result{Nonce: acct.Nonce, Height: c.l.height, Hash: sha256.Sum256(tx.Bytes())}
	if res.Code != uint32(chain.CodeOK) {
		return r, &ledger.RejectedError{Code: chain.Code(res.Code), Log: res.Log, Height: c.l.height}
	}
	return r, nil
}

// NewBlocks tells the height of each new block (the latest, to a slow
// reader) until ctx ends (worker.Blocks).
func (c *memClient) NewBlocks(ctx context.Context) (<-chan int64, error) {
	ch := make(chan int64, 1)
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	if c.l.heights == nil {
		c.l.heights = map[chan int64]struct{}{}
	}
	c.l.heights[ch] = struct{}{}
	context.AfterFunc(ctx, func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		delete(c.l.heights, ch)
		close(ch)
	})
	return ch, nil
}

var _ worker.Blocks = (*memClient)(nil)

// memClock is a clock tests move by hand.
type memClock struct {
	mu sync.Mutex
	t  time.Time
}

func newMemClock() *memClock { return &memClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *memClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *memClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
