package ledger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	cmtservice "github.com/cometbft/cometbft/libs/service"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// ErrTxDropped is returned by BroadcastCommit when the mempool dropped the tx
// (its account's committed nonce moved past it without it).
var ErrTxDropped = errors.New("tx dropped from the mempool")

// ErrClosed is returned by a wait of a Client that was closed.
var ErrClosed = errors.New("ledger client closed")

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

// BroadcastCommitFor is BroadcastFor, then waits until the tx is in a
// committed block, as BroadcastCommit.
func (c *Client) BroadcastCommitFor(ctx context.Context, account chain.Address, body chain.Body) (Result, error) {
	r, err := c.BroadcastFor(ctx, account, body)
	if err != nil {
		return r, err
	}
	return c.waitTx(ctx, r, true)
}

// WaitTx waits until the tx with hash is committed and returns its result.
func (c *Client) WaitTx(ctx context.Context, hash chain.Hash) (Result, error) {
	return c.waitTx(ctx, Result{Hash: hash}, false)
}

// blockWatch is a Client's one subscription to new blocks, fanned out to the
// calls waiting for their txs. It starts with the first wait and ends at
// Close. On each block it reads the block's txs (once, for all waiters) and
// hands each waiter whose tx is there its result: the block and its results
// are stored before CometBFT publishes the event, while the tx index is
// written after it, so the block is the place to look first.
type blockWatch struct {
	mu      sync.Mutex
	waiters map[*waiter]struct{}
	// heights are the NewBlocks channels: each gets every new height
	// (the latest one, for a slow reader).
	heights map[chan int64]struct{}
	running bool // the watch goroutine was started
	closed  bool
	cancel  context.CancelFunc // ends the watch goroutine
	done    chan struct{}      // closed when the watch goroutine ended
	closing chan struct{}      // closed by Close
	last    int64              // the last height dispatched; 0: none since (re)subscribing
	// seenHeight and seenAt are the highest block the watch saw and when
	// (zero: none yet), for the stall check.
	seenHeight int64
	seenAt     time.Time

	// startedRPC: the watch started the HTTP client's websocket, so Close
	// stops it. Written by the watch goroutine, read after done.
	startedRPC bool
}

func (b *blockWatch) init() {
	b.waiters = map[*waiter]struct{}{}
	b.heights = map[chan int64]struct{}{}
	b.done = make(chan struct{})
	b.closing = make(chan struct{})
}

// waiter is one call waiting for its tx.
type waiter struct {
	hash  chain.Hash
	found chan txFound  // its tx's result, once
	check chan struct{} // look in the tx index: blocks may have gone unscanned
	fresh bool          // no block dispatched since it registered (blockWatch.mu)
}

// txFound is a tx's result in a committed block.
type txFound struct {
	height int64
	v      verdict
}

// poke sends on a signal channel of capacity 1 without blocking.
func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// subscriberSeq numbers the clients' subscriptions (the local client's
// event bus keys subscriptions by subscriber name).
var subscriberSeq atomic.Uint64

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// addWaiter registers a wait for hash and starts the block watch if it is
// not running.
func (c *Client) addWaiter(hash chain.Hash) (*waiter, error) {
	b := &c.blocks
	w := &waiter{hash: hash, found: make(chan txFound, 1), check: make(chan struct{}, 1), fresh: true}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.waiters[w] = struct{}{}
	c.startWatchLocked()
	return w, nil
}

// startWatchLocked starts the block watch if it is not running; the
// caller holds blocks.mu.
func (c *Client) startWatchLocked() {
	b := &c.blocks
	if !b.running {
		b.running = true
		ctx, cancel := context.WithCancel(context.Background())
		b.cancel = cancel
		go c.watchBlocks(ctx)
	}
}

func (c *Client) removeWaiter(w *waiter) {
	c.blocks.mu.Lock()
	delete(c.blocks.waiters, w)
	c.blocks.mu.Unlock()
}

// Close ends the client's block subscription and waits for its goroutine,
// and stops the RPC client's websocket if the client started it (or made
// the RPC client, in Dial). Waits in progress return ErrClosed. Queries and
// Broadcast over a caller's RPC client still work after Close. It is safe
// to call more than once.
func (c *Client) Close() error {
	b := &c.blocks
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	close(b.closing)
	for ch := range b.heights {
		delete(b.heights, ch)
		close(ch)
	}
	running, cancel := b.running, b.cancel
	b.mu.Unlock()
	if running {
		cancel()
		<-b.done
	}
	if b.startedRPC || (c.ownsRPC && c.rpc.IsRunning()) {
		if err := c.rpc.Stop(); err != nil && !errors.Is(err, cmtservice.ErrAlreadyStopped) {
			return fmt.Errorf("stopping the ledger rpc client: %w", err)
		}
	}
	return nil
}

// watchBlocks holds the client's subscription to new blocks until ctx ends,
// making it again when it fails or its channel closes, and dispatches each
// block to the waiters.
func (c *Client) watchBlocks(ctx context.Context) {
	b := &c.blocks
	defer close(b.done)
	subscriber := fmt.Sprintf("coop-ledger-client-%d", subscriberSeq.Add(1))
	var events <-chan ctypes.ResultEvent
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			if events != nil {
				uctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
				if err := c.rpc.Unsubscribe(uctx, subscriber, newBlockQuery); err != nil {
					c.logger().Debug("ledger client: unsubscribing from blocks", "err", err)
				}
				cancel()
			}
			return
		case <-retry.C:
			ev, err := c.subscribe(ctx, subscriber)
			if err != nil {
				if ctx.Err() == nil {
					c.logger().Debug("ledger client: subscribing to blocks; polling meanwhile", "err", err, "retry_in", subscribeRetry)
					retry.Reset(subscribeRetry)
				}
				continue
			}
			events = ev
			b.mu.Lock()
			b.last = 0 // blocks may have passed unseen: the first event is a gap
			b.mu.Unlock()
		case e, ok := <-events:
			if !ok {
				c.logger().Debug("ledger client: block subscription ended; polling meanwhile", "retry_in", subscribeRetry)
				events = nil
				retry.Reset(subscribeRetry)
				continue
			}
			if hdr, ok := e.Data.(cmttypes.EventDataNewBlockHeader); ok {
				c.dispatch(ctx, hdr.Header.Height)
			}
		}
	}
}

// subscribe makes the client's one subscription to new block headers,
// starting an HTTP client's websocket if it is not running.
func (c *Client) subscribe(ctx context.Context, subscriber string) (<-chan ctypes.ResultEvent, error) {
	if h, ok := c.rpc.(*rpchttp.HTTP); ok && !h.IsRunning() {
		if err := h.Start(); err != nil {
			return nil, fmt.Errorf("starting the rpc websocket: %w", err)
		}
		c.blocks.startedRPC = true
	}
	sctx, cancel := context.WithTimeout(ctx, closeTimeout)
	defer cancel()
	return c.rpc.Subscribe(sctx, subscriber, newBlockQuery, eventBuffer)
}

// dispatch handles a new block at height h: it scans the blocks since the
// last one dispatched for the waiters' txs, or, after a gap too long to
// scan (or the first event of a subscription), asks every waiter to look in
// the tx index. A waiter that registered since the last event looks in the
// index too: the block before it registered may not have been indexed when
// it first looked.
func (c *Client) dispatch(ctx context.Context, h int64) {
	b := &c.blocks
	b.mu.Lock()
	last := b.last
	b.last = h
	b.noteBlock(h, time.Now())
	for ch := range b.heights {
		sendLatest(ch, h)
	}
	ws := make([]*waiter, 0, len(b.waiters))
	for w := range b.waiters {
		if w.fresh {
			w.fresh = false
			poke(w.check)
		}
		ws = append(ws, w)
	}
	b.mu.Unlock()
	if len(ws) == 0 {
		return
	}
	from := last + 1
	if last == 0 || h <= last || h-last > maxScanGap {
		for _, w := range ws {
			poke(w.check)
		}
		from = h
	}
	for height := from; height <= h; height++ {
		if err := c.scanBlock(ctx, height, ws); err != nil {
			if ctx.Err() == nil {
				c.logger().Debug("ledger client: reading a new block; waiters look in the tx index", "height", height, "err", err)
			}
			for _, w := range ws {
				poke(w.check)
			}
			return
		}
	}
}

// scanBlock looks for the waiters' txs in block h and hands each found one
// its result.
func (c *Client) scanBlock(ctx context.Context, h int64, ws []*waiter) error {
	blk, err := c.rpc.Block(ctx, &h)
	if err != nil {
		return err
	}
	if blk.Block == nil {
		return fmt.Errorf("block %d: empty answer", h)
	}
	byHash := make(map[chain.Hash]*waiter, len(ws))
	for _, w := range ws {
		byHash[w.hash] = w
	}
	hits := map[int]*waiter{}
	for i, tx := range blk.Block.Data.Txs {
		if w, ok := byHash[sha256.Sum256(tx)]; ok {
			hits[i] = w
		}
	}
	if len(hits) == 0 {
		return nil
	}
	res, err := c.rpc.BlockResults(ctx, &h)
	if err != nil {
		return err
	}
	for i, w := range hits {
		if i >= len(res.TxResults) || res.TxResults[i] == nil {
			return fmt.Errorf("block %d: %d tx results for tx %d", h, len(res.TxResults), i)
		}
		r := res.TxResults[i]
		select {
		case w.found <- txFound{height: h, v: verdict{Code: r.Code, Codespace: r.Codespace, Data: r.Data, Log: r.Log}}:
		default: // already handed its result
		}
	}
	return nil
}

// waitTx waits for r's tx to commit: block events bring it (see
// blockWatch), the tx index is the fallback, looked at every PollInterval.
// With watch (a tx this client broadcast, r.raw set), each fallback round
// also checks whether the mempool dropped it.
func (c *Client) waitTx(ctx context.Context, r Result, watch bool) (Result, error) {
	w, err := c.addWaiter(r.Hash)
	if err != nil {
		return r, err
	}
	defer c.removeWaiter(w)
	// Registered first, then looked up: a tx committed in between is found
	// here or by the next event.
	if done, res, err := c.lookupTx(ctx, r); done {
		return res, err
	}
	every := c.PollInterval
	if every <= 0 {
		every = DefaultPollInterval
	}
	poll := time.NewTicker(every)
	defer poll.Stop()
	stall := time.NewTimer(c.stallTimeout())
	defer stall.Stop()
	suspect := false
	for {
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("waiting for tx %s: %w", r.Hash, ctx.Err())
		case <-stall.C:
			next, err := c.stallCheck(ctx)
			if err != nil {
				// A last look: the tx may have committed just before.
				if done, res, lerr := c.lookupTx(ctx, r); done {
					return res, lerr
				}
				return r, fmt.Errorf("waiting for tx %s: %w", r.Hash, err)
			}
			stall.Reset(next)
		case <-c.blocks.closing:
			return r, fmt.Errorf("waiting for tx %s: %w", r.Hash, ErrClosed)
		case f := <-w.found:
			r.Height = f.height
			return r, f.v.err(f.height)
		case <-w.check:
			if done, res, err := c.lookupTx(ctx, r); done {
				return res, err
			}
		case <-poll.C:
			if done, res, err := c.lookupTx(ctx, r); done {
				return res, err
			}
			if watch && r.raw != nil {
				if err := c.checkDropped(ctx, r, &suspect); err != nil {
					return r, err
				}
			}
		}
	}
}

// lookupTx looks r's tx up in the node's tx index; done reports it found.
func (c *Client) lookupTx(ctx context.Context, r Result) (done bool, _ Result, _ error) {
	res, err := c.rpc.Tx(ctx, r.Hash[:], false)
	if err != nil {
		return false, r, nil // not (yet) indexed, or cannot tell now
	}
	r.Height = res.Height
	v := verdict{Code: res.TxResult.Code, Codespace: res.TxResult.Codespace, Data: res.TxResult.Data, Log: res.TxResult.Log}
	return true, r, v.err(res.Height)
}

// checkDropped notices a tx that will never commit: the mempool drops a tx
// that fails a recheck (an earlier tx changed the state it relied on), and a
// tx whose nonce another tx of the account took. It resubmits the same
// bytes: a tx still in the mempool hits the cache; a dropped one is checked
// again and either re-admitted or refused with the reason.
func (c *Client) checkDropped(ctx context.Context, r Result, suspect *bool) error {
	v, err := c.broadcastSync(ctx, r.raw)
	switch {
	case err != nil:
		return nil // still pending (in the cache), mempool full, or cannot tell now
	case v.ok():
		return nil // re-admitted
	case v.is(chain.CodeBadNonce):
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
		return fmt.Errorf("%w: %w", ErrTxDropped, v.err(0))
	}
}
