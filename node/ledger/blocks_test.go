package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// NewBlocks hands each reader the heights of new blocks from the client's
// one subscription, the latest one to a reader that fell behind; a
// reader's channel closes when its ctx ends, every channel at Close, and
// Close ends the subscription.
func TestNewBlocksTellsHeightsUntilCtxEndsOrClose(t *testing.T) {
	f := newFakeRPC()
	c := fakeClient(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	short, stop := context.WithCancel(ctx)
	a, err := c.NewBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.NewBlocks(short)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.subs == 1 })
	f.newBlock(5)
	if h := <-a; h != 5 {
		t.Fatalf("reader a got height %d, want 5", h)
	}
	if h := <-b; h != 5 {
		t.Fatalf("reader b got height %d, want 5", h)
	}
	// b ends with its ctx; a, behind by two blocks, gets the latest.
	stop()
	for range b {
	}
	f.newBlock(6)
	f.newBlock(7)
	waitFor(t, func() bool { c.blocks.mu.Lock(); defer c.blocks.mu.Unlock(); return c.blocks.last == 7 })
	if h := <-a; h != 7 {
		t.Fatalf("reader a behind two blocks got height %d, want 7", h)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if h, ok := <-a; ok {
		t.Fatalf("after Close reader a got height %d", h)
	}
	f.mu.Lock()
	subs := f.subs
	f.mu.Unlock()
	if subs != 0 {
		t.Fatalf("after Close: %d subscriptions", subs)
	}
	if _, err := c.NewBlocks(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("NewBlocks after Close: %v", err)
	}
	cancel() // a's AfterFunc finds its channel closed already
}

// Over a real node (the in-process RPC and HTTP with its websocket),
// NewBlocks tells heights that grow, and a committed tx's block is told
// to a reader that was there before it; Close ends the readers.
func TestNewBlocksOverARealNode(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	local, err := tn.Nodes[0].Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := tn.Nodes[0].Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	remote, err := Dial(ctx, tn.Nodes[0].RPCAddress(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Client{local, remote} {
		blocks, err := c.NewBlocks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sender.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1})
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		for last < res.Height {
			h, ok := <-blocks
			if !ok {
				t.Fatal("the channel closed before the tx's block")
			}
			if h <= last {
				t.Fatalf("height %d after %d", h, last)
			}
			last = h
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for range blocks {
		}
	}
}
