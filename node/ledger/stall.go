package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultStallTimeout is Client.StallTimeout's default: a tx wait fails
// when the ledger made no block for this long. The ledger makes a block
// every block time (about a second) even when no tx comes, so a gap of
// this length means consensus halted: fewer than two thirds of the
// validators' power is up, or the node the client talks to is down.
const DefaultStallTimeout = 30 * time.Second

// stallStatusTimeout bounds the status request a stalled-looking wait
// makes before it gives up.
const stallStatusTimeout = 3 * time.Second

// ErrStalled is returned by a tx wait (BroadcastCommit, WaitTx) when the
// ledger made no block for the client's StallTimeout. The tx may still be
// in a node's mempool and commit when the ledger makes blocks again; it is
// all or nothing, never half-applied.
var ErrStalled = errors.New("the ledger makes no blocks")

// StalledError is the error of a wait that gave up on a stalled ledger.
type StalledError struct {
	// For is the stall bound that passed without a block.
	For time.Duration
	// Height and Time are the last block the client knows of (zero if
	// none); Cause is why the node's status could not be read, if it could
	// not.
	Height int64
	Time   time.Time
	Cause  error
}

func (e *StalledError) Error() string {
	msg := fmt.Sprintf("the ledger made no block for %v: is a quorum of validators up?", e.For)
	if e.Height > 0 {
		msg += fmt.Sprintf(" (last block %d at %s)", e.Height, e.Time.UTC().Format(time.RFC3339))
	}
	if e.Cause != nil {
		msg += fmt.Sprintf(" (the ledger node does not answer: %v)", e.Cause)
	}
	return msg
}

// Unwrap makes a StalledError match ErrStalled.
func (e *StalledError) Unwrap() error { return ErrStalled }

// Tip is the latest block a ledger node has committed.
type Tip struct {
	Height int64
	// Time is the block's time (the chain's clock, the validators' median).
	Time time.Time
}

// Tip returns the latest block the client's node committed.
func (c *Client) Tip(ctx context.Context) (Tip, error) {
	st, err := c.rpc.Status(ctx)
	if err != nil {
		return Tip{}, fmt.Errorf("ledger node status: %w", err)
	}
	return Tip{Height: st.SyncInfo.LatestBlockHeight, Time: st.SyncInfo.LatestBlockTime}, nil
}

// Stalled reports whether a tip is older than the client's StallTimeout
// at now.
func (c *Client) Stalled(t Tip, now time.Time) bool {
	return t.Height > 0 && now.Sub(t.Time) > c.stallTimeout()
}

// StallBound is the client's StallTimeout, or DefaultStallTimeout when it
// is not set.
func (c *Client) StallBound() time.Duration { return c.stallTimeout() }

func (c *Client) stallTimeout() time.Duration {
	if c.StallTimeout > 0 {
		return c.StallTimeout
	}
	return DefaultStallTimeout
}

// noteBlock records that a block at height h was seen now.
func (b *blockWatch) noteBlock(h int64, now time.Time) {
	if h > b.seenHeight {
		b.seenHeight, b.seenAt = h, now
	}
}

// seen is the last block the watch saw and when.
func (b *blockWatch) seen() (int64, time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seenHeight, b.seenAt
}

// stallCheck decides, when a wait's stall timer fires, whether the ledger
// made a block within the StallTimeout: one the block watch saw, or else
// the node's latest block time (when the subscription is down). It returns
// when to check again, or the error to fail the wait with.
func (c *Client) stallCheck(ctx context.Context) (time.Duration, error) {
	bound := c.stallTimeout()
	now := time.Now()
	h, at := c.blocks.seen()
	if !at.IsZero() && now.Sub(at) < bound {
		return bound - now.Sub(at), nil
	}
	sctx, cancel := context.WithTimeout(ctx, min(stallStatusTimeout, bound))
	defer cancel()
	tip, err := c.Tip(sctx)
	if err == nil && tip.Height > 0 && now.Sub(tip.Time) < bound {
		// Block times come from the validators' clocks: check again soon,
		// whatever the skew.
		return max(bound-now.Sub(tip.Time), time.Second), nil
	}
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	e := &StalledError{For: bound, Height: h, Time: at}
	if err != nil {
		e.Cause = err
	} else if tip.Height > 0 && tip.Time.Unix() > 0 {
		e.Height, e.Time = tip.Height, tip.Time
	}
	return 0, e
}
