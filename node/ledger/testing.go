package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
)

// TestNet is a devnet of in-process ledger nodes on 127.0.0.1 for tests:
// real CometBFT, real consensus, short blocks. Other packages' tests use it
// (StartTestNet) instead of building their own.
type TestNet struct {
	Dir    string
	Config DevnetConfig
	Nodes  []*Node // nil entries are stopped nodes
	Addrs  []chain.Address
	// AppConfig, if set, adjusts the ledger app's config of node i before
	// it starts (snapshot interval, pruning).
	AppConfig func(i int, c *chain.Config)
	t         testing.TB
}

// TestNetConfig returns a devnet config with n nodes on free loopback ports,
// 100 ms blocks and 5-block epochs.
func TestNetConfig(t testing.TB, n int) DevnetConfig {
	dc := DefaultDevnetConfig()
	dc.ChainID = "coop-test"
	dc.Nodes = n
	dc.BlockTime = 100 * time.Millisecond
	dc.Genesis.Params.EpochLength = 5
	ports := FreePorts(t, 2*n)
	dc.P2PPorts, dc.RPCPorts = ports[:n], ports[n:]
	return dc
}

// StartTestNet writes a devnet from dc into a temp dir, starts every node and
// waits for the first blocks. Nodes stop at test cleanup.
func StartTestNet(t testing.TB, dc DevnetConfig) *TestNet {
	t.Helper()
	tn := InitTestNet(t, dc)
	for i := range tn.Nodes {
		tn.StartNode(i)
	}
	tn.WaitHeight(2, 60*time.Second)
	return tn
}

// InitTestNet writes a devnet from dc into a temp dir without starting any
// node (start them with StartNode, or run one as a separate process).
func InitTestNet(t testing.TB, dc DevnetConfig) *TestNet {
	t.Helper()
	dir := t.TempDir()
	addrs, err := InitDevnet(dir, dc)
	if err != nil {
		t.Fatal(err)
	}
	tn := &TestNet{Dir: dir, Config: dc, Nodes: make([]*Node, dc.Nodes), Addrs: addrs, t: t}
	t.Cleanup(tn.StopAll)
	return tn
}

// StartNode (re)starts node i.
func (tn *TestNet) StartNode(i int) {
	tn.t.Helper()
	cfg := testNodeConfig(DevnetHome(tn.Dir, i))
	if tn.AppConfig != nil {
		tn.AppConfig(i, &cfg.App)
	}
	n, err := Start(context.Background(), cfg)
	if err != nil {
		tn.t.Fatalf("starting node %d: %v", i, err)
	}
	tn.Nodes[i] = n
}

func testNodeConfig(home string) Config {
	cfg := DefaultConfig(home)
	if os.Getenv("COOP_TEST_LOG") == "" {
		cfg.Logger = quietLogger()
	}
	return cfg
}

// StopNode stops node i.
func (tn *TestNet) StopNode(i int) {
	if tn.Nodes[i] == nil {
		return
	}
	if err := tn.Nodes[i].Stop(); err != nil {
		tn.t.Errorf("stopping node %d: %v", i, err)
	}
	tn.Nodes[i] = nil
}

// StopAll stops every running node.
func (tn *TestNet) StopAll() {
	for i := range tn.Nodes {
		tn.StopNode(i)
	}
}

// Key returns node i's account key.
func (tn *TestNet) Key(i int) ed25519.PrivateKey {
	k, err := LoadKey(KeyPath(DevnetHome(tn.Dir, i)))
	if err != nil {
		tn.t.Fatal(err)
	}
	return k
}

// Client returns a client of node i's account over its in-process RPC,
// closed at test cleanup (before the nodes stop).
func (tn *TestNet) Client(i int) *Client {
	tn.t.Helper()
	c, err := tn.Nodes[i].Client(context.Background())
	if err != nil {
		tn.t.Fatal(err)
	}
	tn.t.Cleanup(func() { c.Close() })
	return c
}

// Height is the latest height node i has executed: the ledger app
// committed it, so its block, its FinalizeBlock results and the state are
// stored (CometBFT saves a block before executing it, and its results
// before the app commits; the block store's height alone may be a block
// whose results are not there yet).
func (tn *TestNet) Height(i int) int64 {
	info, err := tn.Nodes[i].App().Info(context.Background(), &abci.InfoRequest{})
	if err != nil {
		return 0
	}
	return info.LastBlockHeight
}

// WaitHeight waits until every running node has executed height h (see
// Height), failing the test after timeout.
func (tn *TestNet) WaitHeight(h int64, timeout time.Duration) {
	tn.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if low, err := tn.WaitHeightContext(ctx, h); err != nil {
		tn.t.Fatalf("height %d not reached in %v (lowest node at %d): %v", h, timeout, low, err)
	}
}

// WaitHeightContext waits until every running node has executed height h
// or ctx ends, and returns the lowest node's height. It watches the nodes'
// state; its tick only paces the looking.
func (tn *TestNet) WaitHeightContext(ctx context.Context, h int64) (int64, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		low := int64(-1)
		for i, n := range tn.Nodes {
			if n != nil {
				if hi := tn.Height(i); low < 0 || hi < low {
					low = hi
				}
			}
		}
		if low >= h {
			return low, nil
		}
		select {
		case <-ctx.Done():
			return low, ctx.Err()
		case <-tick.C:
		}
	}
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(fmt.Errorf("free port: %w", err))
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
