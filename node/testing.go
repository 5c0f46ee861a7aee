package node

import (
	"context"
	"testing"
	"time"

	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/p2p"
)

// TestNetwork is N real nodes on 127.0.0.1 for tests: each with an
// in-process CometBFT validator (node/ledger), a libp2p host, a block store
// and the API. Other packages' tests use it instead of building their own.
type TestNetwork struct {
	Ledger  *ledger.TestNet
	Nodes   []*Node  // nil entries are stopped
	Configs []Config // each node's configuration, for restarts
	t       testing.TB
}

// TestConfig is the configuration of test node i in home: loopback, free
// ports, 1 MiB segments at k=2 m=2, fast reconciling, no repairer (tests
// that stop holders expect their pieces to stay where they are; repair
// tests turn it on with RepairInterval).
func TestConfig(home string) Config {
	c := DefaultConfig(home)
	c.P2P = p2p.TestConfig()
	c.API.Listen = "127.0.0.1:0"
	c.Storage.K, c.Storage.M = 2, 2
	c.Storage.SegmentSize = 1 << 20
	c.Storage.StripeUnit = 64 << 10
	c.Pledge = 256 << 20
	// Long enough for a put on a loaded 2-core machine to get from push to
	// receipt (tests of the timeout set their own).
	c.PendingTimeout = time.Minute
	c.ReconcileInterval = 200 * time.Millisecond
	c.HedgeDelay = time.Second
	c.Blocks.CacheBytes = 512 << 20
	c.RepairInterval = 0
	return c
}

// StartTestNetwork starts an n-node network; mod, if not nil, adjusts each
// node's config. Everything stops at test cleanup.
func StartTestNetwork(t testing.TB, n int, mod func(i int, c *Config)) *TestNetwork {
	t.Helper()
	return StartTestNetworkWith(t, ledger.TestNetConfig(t, n), mod)
}

// StartTestNetworkWith is StartTestNetwork on a ledger devnet described by
// dc (genesis parameters, node count), e.g. from ledger.TestNetConfig.
func StartTestNetworkWith(t testing.TB, dc ledger.DevnetConfig, mod func(i int, c *Config)) *TestNetwork {
	t.Helper()
	return StartTestNetworkPartly(t, dc, dc.Nodes, mod)
}

// StartTestNetworkPartly is StartTestNetworkWith starting the daemons of
// the first daemons nodes only: the others' validators run, but they are
// no coop nodes until Restart starts their daemons (they join then).
func StartTestNetworkPartly(t testing.TB, dc ledger.DevnetConfig, daemons int, mod func(i int, c *Config)) *TestNetwork {
	t.Helper()
	tn := ledger.StartTestNet(t, dc)
	n := daemons
	net := &TestNetwork{Ledger: tn, Nodes: make([]*Node, dc.Nodes), Configs: make([]Config, dc.Nodes), t: t}
	t.Cleanup(func() {
		for i := range net.Nodes {
			net.Stop(i)
		}
	})
	type started struct {
		i   int
		n   *Node
		err error
	}
	ch := make(chan started, n)
	for i := range dc.Nodes {
		cfg := TestConfig(ledger.DevnetHome(tn.Dir, i))
		if mod != nil {
			mod(i, &cfg)
		}
		net.Configs[i] = cfg
		if i >= n {
			continue
		}
		key, client := tn.Key(i), tn.Client(i)
		go func() {
			nd, err := Start(context.Background(), cfg, key, client)
			ch <- started{i, nd, err}
		}()
	}
	var firstErr error
	for range n {
		s := <-ch
		if s.err != nil && firstErr == nil {
			firstErr = s.err
		}
		net.Nodes[s.i] = s.n
	}
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	// Nodes that registered early did not see the later ones: connect all.
	for _, a := range net.Nodes[:n] {
		a.connectKnown(context.Background())
	}
	return net
}

// Stop stops node i's daemon (its ledger validator keeps running).
func (net *TestNetwork) Stop(i int) {
	if net.Nodes[i] == nil {
		return
	}
	if err := net.Nodes[i].Close(); err != nil {
		net.t.Errorf("stopping node %d: %v", i, err)
	}
	net.Nodes[i] = nil
}

// Restart stops node i's daemon if it runs and starts it again with its
// configuration (on new ports), as after a crash or an upgrade.
func (net *TestNetwork) Restart(i int) *Node {
	net.t.Helper()
	net.Stop(i)
	n, err := Start(context.Background(), net.Configs[i], net.Ledger.Key(i), net.Ledger.Client(i))
	if err != nil {
		net.t.Fatalf("restarting node %d: %v", i, err)
	}
	net.Nodes[i] = n
	return n
}
