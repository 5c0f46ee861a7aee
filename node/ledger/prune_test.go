package ledger

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// TestPruning: a node that keeps 30 blocks (its genesis evidence age 20),
// 50 ledger versions, and snapshots every 40 heights (keeping 2) prunes
// old blocks and versions: block 1 is gone from its store and its RPC, a
// query of an old height is refused, the blocks back to its oldest
// snapshot stay; and it still makes blocks after a restart.
func TestPruning(t *testing.T) {
	dc := TestNetConfig(t, 1)
	dc.BlockTime = 10 * time.Millisecond
	tn := InitTestNet(t, dc)
	gf := filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json")
	doc, err := types.GenesisDocFromFile(gf)
	if err != nil {
		t.Fatal(err)
	}
	doc.ConsensusParams.Evidence.MaxAgeNumBlocks = 20
	if err := doc.SaveAs(gf); err != nil {
		t.Fatal(err)
	}
	tn.AppConfig = func(_ int, c *chain.Config) {
		c.MinRetainBlocks, c.KeepVersions = 30, 50
		c.SnapshotInterval, c.SnapshotKeep = 40, 2
	}
	tn.StartNode(0)
	tn.WaitHeight(210, 5*time.Minute)
	n := tn.Nodes[0]
	ctx := context.Background()
	// CometBFT's pruner runs every 10 s.
	deadline := time.Now().Add(2 * time.Minute)
	for n.Comet().BlockStore().Base() <= 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no block pruned by height %d", tn.Height(0))
		}
		time.Sleep(50 * time.Millisecond)
	}
	base, h := n.Comet().BlockStore().Base(), tn.Height(0)
	// The oldest snapshot kept is at most 2×40 heights old; its blocks stay.
	if base > h-80 {
		t.Fatalf("blocks from %d kept at height %d: want at least the 80 back to the oldest snapshot", base, h)
	}
	rpc := n.rpcLocal()
	one := int64(1)
	if _, err := rpc.Block(ctx, &one); err == nil {
		t.Fatal("block 1 is still served after pruning")
	}
	if _, err := rpc.Block(ctx, &base); err != nil {
		t.Fatalf("block %d (the base): %v", base, err)
	}
	res, err := n.App().Query(ctx, &abci.QueryRequest{Path: chain.QueryParams, Height: 5})
	if err != nil || res.Code == 0 {
		t.Fatalf("query at pruned height 5: %+v, %v; want refused", res, err)
	}
	res, err = n.App().Query(ctx, &abci.QueryRequest{Path: chain.QueryParams, Height: h - 10})
	if err != nil || res.Code != 0 {
		t.Fatalf("query at recent height %d: %+v, %v", h-10, res, err)
	}
	t.Logf("at height %d: blocks from %d", h, base)

	tn.StopNode(0)
	tn.StartNode(0)
	tn.WaitHeight(h+20, 2*time.Minute)
	if b := tn.Nodes[0].Comet().BlockStore().Base(); b < base {
		t.Fatalf("after a restart blocks from %d, before %d", b, base)
	}
}
