package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// TestStalledLedgerFailsTxWaitWithinBound stops validators under running
// clients: with one of two validators down consensus halts while the other
// node still answers, so a tx enters its mempool and its wait fails with a
// *StalledError once no block came for the client's StallTimeout; with the
// last validator down too (the client's own node), a wait fails the same
// way.
func TestStalledLedgerFailsTxWaitWithinBound(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Dial(ctx, tn.Nodes[0].RPCAddress(), tn.Key(0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const bound = 2 * time.Second
	c.StallTimeout = bound
	if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
		t.Fatalf("a tx while the ledger runs: %v", err)
	}
	tip, err := c.Tip(ctx)
	if err != nil || tip.Height < 2 || c.Stalled(tip, time.Now()) {
		t.Fatalf("tip of a running ledger: %+v stalled=%v, %v", tip, c.Stalled(tip, time.Now()), err)
	}

	tn.StopNode(1) // one of two validators: no quorum
	t0 := time.Now()
	_, err = c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 2})
	took := time.Since(t0)
	var se *StalledError
	if !errors.Is(err, ErrStalled) || !errors.As(err, &se) {
		t.Fatalf("tx without a quorum: got %v after %v, want a stalled-ledger error", err, took)
	}
	if !strings.Contains(err.Error(), "the ledger made no block for 2s: is a quorum of validators up?") || se.Cause != nil {
		t.Fatalf("tx without a quorum: message %q (cause %v)", err, se.Cause)
	}
	// The bound counts from the last block, which was before the stop.
	if took > bound+stallStatusTimeout+2*time.Second {
		t.Fatalf("tx without a quorum failed after %v; bound %v", took, bound)
	}
	if tip, err := c.Tip(ctx); err != nil || !c.Stalled(tip, time.Now()) {
		t.Fatalf("tip of a halted ledger: %+v, %v; want stalled", tip, err)
	}

	tn.StopNode(0) // the client's own node: it does not answer at all
	t0 = time.Now()
	_, err = c.WaitTx(ctx, chain.Hash{7})
	took = time.Since(t0)
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "the ledger made no block for 2s") {
		t.Fatalf("wait with the ledger node down: got %v after %v", err, took)
	}
	if took > bound+stallStatusTimeout+2*time.Second {
		t.Fatalf("wait with the ledger node down failed after %v; bound %v", took, bound)
	}
}
