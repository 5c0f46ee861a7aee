package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestJoinedFullNodeStoresAndPuts: a node made with ledger.InitJoin (what
// `coop init --join GENESIS --peer ADDR` does) from a running 4-validator
// network's genesis file and one validator's peer address catches up as a
// full node, registers with a pledge, puts a file other nodes read, and
// holds a piece of another node's put.
func TestJoinedFullNodeStoresAndPuts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four CometBFT validators and a full node")
	}
	net := StartTestNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	v0 := ledger.DevnetHome(net.Ledger.Dir, 0)
	peer, err := ledger.PeerAddress(v0)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "joiner")
	hc := ledger.DefaultHomeConfig()
	ports := ledger.FreePorts(t, 2)
	hc.P2PListen = "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
	hc.RPCListen = "tcp://127.0.0.1:" + strconv.Itoa(ports[1])
	hc.PrometheusListen = ""
	hc.BlockTime = net.Ledger.Config.BlockTime
	addr, err := ledger.InitJoin(home, filepath.Join(ledger.ChainDir(v0), "config", "genesis.json"), peer, hc)
	if err != nil {
		t.Fatal(err)
	}

	lcfg := ledger.DefaultConfig(home)
	lcfg.Logger = slog.New(slog.DiscardHandler)
	ln, err := ledger.Start(ctx, lcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ln.Stop(); err != nil {
			t.Errorf("stopping the joined ledger node: %v", err)
		}
	})
	// It catches up: executes the blocks the validators made.
	target := net.Ledger.Height(0)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		info, err := ln.App().Info(ctx, &abci.InfoRequest{})
		if err == nil && info.LastBlockHeight >= target {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("joined node did not catch up to height %d", target)
		case <-tick.C:
		}
	}
	lc, err := ln.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lc.Close() })
	// Start registers it (and waits for the registration to commit).
	cfg := TestConfig(home)
	j, err := Start(ctx, cfg, ln.Key(), lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := j.Close(); err != nil {
			t.Errorf("closing the joined node: %v", err)
		}
	})
	if j.Address() != addr {
		t.Fatalf("joined node runs as %s, init made %s", j.Address(), addr)
	}
	rec, err := net.Nodes[1].lc.Node(ctx, addr)
	if err != nil || rec.Pledge != cfg.Pledge || rec.Status != chain.NodeActive {
		t.Fatalf("a validator sees the joined node as %+v, %v; want active with pledge %d", rec, err, cfg.Pledge)
	}
	// A genesis-less account: no credits, but the allowance to put.
	if acct, err := lc.Account(ctx, addr); err != nil || acct.Credits != 0 {
		t.Fatalf("joined account %+v, %v: want 0 credits", acct, err)
	}
	j.connectKnown(ctx)
	for _, n := range net.Nodes {
		n.connectKnown(ctx)
	}

	// Put from the joined node, read from a validator's node.
	data := make([]byte, 1<<20+300<<10)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	res, err := apiClient(t, j).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 2, Name: "from-joiner"})
	if err != nil {
		t.Fatalf("put from the joined node: %v", err)
	}
	got, err := getAll(ctx, apiClient(t, net.Nodes[2]), res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("validator's node read the joined node's file: %d bytes, %v", len(got), err)
	}

	// A validator's put needs 4 holders besides itself: the joined node is
	// one of them, and the file reads back from the joined node.
	res, err = apiClient(t, net.Nodes[0]).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 2, Name: "to-joiner"})
	if err != nil {
		t.Fatalf("put from validator 0: %v", err)
	}
	held := 0
	for _, p := range res.Pieces {
		if p.Holder == addr.String() {
			held++
		}
	}
	if held == 0 {
		t.Fatalf("validator 0's put placed no piece on the joined node: %+v", res.Pieces)
	}
	// The joined node is a full node: its ledger may be a block behind the
	// validator that committed the put.
	fid, err := chain.ParseHash(res.FileID)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := lc.File(ctx, fid); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the joined node's ledger never saw validator 0's file")
		case <-time.After(20 * time.Millisecond):
		}
	}
	got, err = getAll(ctx, apiClient(t, j), res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("joined node read validator 0's file: %d bytes, %v", len(got), err)
	}
}
