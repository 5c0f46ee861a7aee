package ledger

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
)

// stateSyncBlocks is how old the devnet is when a node joins it by state
// sync (COOP_STATESYNC_BLOCKS overrides it, for measuring).
func stateSyncBlocks(t *testing.T) int64 {
	if s := os.Getenv("COOP_STATESYNC_BLOCKS"); s != "" {
		var n int64
		if _, err := fmt.Sscan(s, &n); err != nil || n < 10 {
			t.Fatalf("COOP_STATESYNC_BLOCKS=%q: want a number ≥ 10", s)
		}
		return n
	}
	return 1000
}

// joinerHome makes a home that joins tn (through nodes 0 and 1) as a full
// node, by state sync if ss is set.
func joinerHome(t *testing.T, tn *TestNet, name string, ss *StateSyncConfig) string {
	t.Helper()
	var peers []string
	for i := range 2 {
		p, err := PeerAddress(DevnetHome(tn.Dir, i))
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	ports := FreePorts(t, 2)
	hc := DefaultHomeConfig()
	hc.Moniker = name
	hc.P2PListen = fmt.Sprintf("tcp://127.0.0.1:%d", ports[0])
	hc.RPCListen = fmt.Sprintf("tcp://127.0.0.1:%d", ports[1])
	hc.PrometheusListen = ""
	hc.BlockTime = tn.Config.BlockTime
	hc.StateSync = ss
	home := filepath.Join(t.TempDir(), name)
	if _, err := InitJoin(home, filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json"), strings.Join(peers, ","), hc); err != nil {
		t.Fatal(err)
	}
	return home
}

// appHeight is the height the node's ledger app last committed.
func appHeight(n *Node) int64 {
	info, err := n.App().Info(context.Background(), &abci.InfoRequest{})
	if err != nil {
		return 0
	}
	return info.LastBlockHeight
}

// waitNodeHeight waits until n's app has committed height h.
func waitNodeHeight(t *testing.T, n *Node, h int64, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for appHeight(n) < h {
		select {
		case <-deadline.C:
			t.Fatalf("node at height %d after %v, want %d", appHeight(n), timeout, h)
		case <-tick.C:
		}
	}
}

// TestStateSyncJoin: a 2-validator devnet that snapshots every 250 heights (keeping 3)
// runs past 1,000 blocks; a new node made by InitJoin with StateSyncTrust
// (its trusted header checked against the genesis validators) joins by
// state sync: it restores a snapshot, reaches the validators' height, has
// no block below the snapshot (it did not replay from genesis), answers
// queries at a common height byte for byte like a validator, and follows
// new blocks. A second node replays the same chain from genesis, for the
// comparison of join times the test logs.
func TestStateSyncJoin(t *testing.T) {
	blocks := stateSyncBlocks(t)
	dc := TestNetConfig(t, 2)
	dc.BlockTime = 10 * time.Millisecond
	tn := InitTestNet(t, dc)
	snaps := make(chan chain.SnapshotInfo, 64)
	interval := max(blocks/4, 20)
	tn.AppConfig = func(i int, c *chain.Config) {
		c.SnapshotInterval, c.SnapshotKeep = interval, 3
		if i == 0 {
			c.OnSnapshot = func(s chain.SnapshotInfo) {
				select { // never block the snapshot (Stop waits for it)
				case snaps <- s:
				default:
				}
			}
		}
	}
	for i := range tn.Nodes {
		tn.StartNode(i)
	}
	tn.WaitHeight(2, time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// Some state beyond genesis: node 0 pays a new account.
	c0 := tn.Client(0)
	payee := AddressOf(testAccountKey(777))
	if _, err := c0.BroadcastCommit(ctx, &chain.Transfer{To: payee, Amount: 1234}); err != nil {
		t.Fatal(err)
	}
	var last chain.SnapshotInfo
	for last.Height < blocks {
		select {
		case last = <-snaps:
			t.Logf("snapshot at %d: %d chunks, %d bytes", last.Height, last.Chunks, last.Bytes)
		case <-ctx.Done():
			t.Fatalf("no snapshot at height ≥ %d (chain at %d)", blocks, tn.Height(0))
		}
	}
	tn.WaitHeight(last.Height+3, 5*time.Minute)

	doc, err := ReadGenesis(filepath.Join(ChainDir(DevnetHome(tn.Dir, 0)), "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	ss, err := StateSyncTrust(ctx, doc, []string{tn.Nodes[0].RPCAddress(), tn.Nodes[1].RPCAddress()})
	if err != nil {
		t.Fatal(err)
	}
	home := joinerHome(t, tn, "syncer", &ss)
	start := time.Now()
	j, err := Start(ctx, testNodeConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Stop() })
	tip := tn.Height(0)
	waitNodeHeight(t, j, tip, 5*time.Minute)
	syncTook := time.Since(start)
	// It follows the chain: blocks after the snapshot are in its store.
	waitNodeHeight(t, j, appHeight(j)+3, time.Minute)
	if base := j.Comet().BlockStore().Base(); base <= 1 {
		t.Fatalf("the state-synced node has blocks from height %d: it replayed from genesis", base)
	}
	t.Logf("state sync join: tip %d reached in %v (block store from %d)", tip, syncTook, j.Comet().BlockStore().Base())

	// Queries at one height, on the joiner and a validator.
	h := appHeight(j)
	tn.WaitHeight(h, time.Minute)
	for _, q := range []struct {
		path string
	}{{chain.QueryAccount + payee.String()}, {chain.QueryAccount + tn.Addrs[0].String()}, {chain.QueryNodes}, {chain.QueryEpoch}, {chain.QueryParams}, {chain.QueryChain}} {
		a, err := j.App().Query(ctx, &abci.QueryRequest{Path: q.path, Height: h})
		if err != nil {
			t.Fatal(err)
		}
		b, err := tn.Nodes[0].App().Query(ctx, &abci.QueryRequest{Path: q.path, Height: h})
		if err != nil {
			t.Fatal(err)
		}
		if a.Code != b.Code || !bytes.Equal(a.Value, b.Value) || a.Height != h || b.Height != h {
			t.Fatalf("%s at %d: joiner %d %x (h %d), validator %d %x (h %d)", q.path, h, a.Code, a.Value, a.Height, b.Code, b.Value, b.Height)
		}
	}
	var acct chain.AccountView
	if res, _ := j.App().Query(ctx, &abci.QueryRequest{Path: chain.QueryAccount + payee.String()}); chain.Unmarshal(res.Value, &acct) != nil || acct.Credits != 1234 {
		t.Fatalf("the joiner sees the payee as %+v", acct)
	}

	// The same chain, replayed from genesis.
	rhome := joinerHome(t, tn, "replayer", nil)
	start = time.Now()
	r, err := Start(ctx, testNodeConfig(rhome))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop() })
	tip = tn.Height(0)
	waitNodeHeight(t, r, tip, 10*time.Minute)
	t.Logf("replay join: tip %d reached in %v", tip, time.Since(start))
}
