package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-network/coop/node/ledger"
)

// TestInitJoinCLI: `coop init --join GENESIS --peer ADDR` makes a home with
// the network's genesis and the peer printed by `coop node peer-address`;
// a missing --peer, a genesis flag or a bad peer is refused before anything
// is written.
func TestInitJoinCLI(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "net")
	if _, err := runCLI(t, "--home", src, "init", "--p2p-listen", "tcp://127.0.0.1:36656"); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--home", src, "node", "peer-address")
	if err != nil {
		t.Fatal(err)
	}
	peer := strings.TrimSpace(out)
	if !strings.HasSuffix(peer, "@127.0.0.1:36656") {
		t.Fatalf("peer-address %q, want NODEID@127.0.0.1:36656", peer)
	}
	genesis := filepath.Join(src, "chain", "config", "genesis.json")
	home := filepath.Join(dir, "joiner")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--join", genesis}, "--peer"},
		{[]string{"--peer", peer}, "--join"},
		{[]string{"--join", genesis, "--peer", peer, "--chain-id", "x"}, "--chain-id"},
		{[]string{"--join", genesis, "--peer", "127.0.0.1:36656"}, "NODEID@HOST:PORT"},
		{[]string{"--join", filepath.Join(dir, "none.json"), "--peer", peer}, "none.json"},
	} {
		_, err := runCLI(t, append([]string{"--home", home, "init"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("init %v: %v, want an error naming %s", c.args, err, c.want)
		}
		if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("init %v failed but wrote %s", c.args, home)
		}
	}
	out, err = runCLI(t, "--home", home, "init", "--join", genesis, "--peer", peer, "--p2p-listen", "tcp://127.0.0.1:36666", "--rpc-listen", "tcp://127.0.0.1:36667")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "not a validator") || !strings.Contains(out, "coop-local") {
		t.Fatalf("init --join printed %q", out)
	}
	b, err := os.ReadFile(filepath.Join(home, "chain", "config", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `persistent_peers = "`+peer+`"`) {
		t.Fatal("the joined home's config.toml does not name the peer")
	}
}

// TestDevnetInitPrintsPeerAddresses: `coop devnet init --json` gives each
// node's peer address, the one the other nodes dial it at.
func TestDevnetInitPrintsPeerAddresses(t *testing.T) {
	dir := t.TempDir()
	out, err := runCLI(t, "devnet", "init", "--nodes", "2", "--dir", dir, "--base-port", "41000", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []struct{ Home, Peer string }
	if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 2 {
		t.Fatalf("devnet init --json: %q: %v", out, err)
	}
	if !strings.HasSuffix(nodes[0].Peer, "@127.0.0.1:41000") {
		t.Fatalf("node0 peer %q, want …@127.0.0.1:41000", nodes[0].Peer)
	}
	b, err := os.ReadFile(filepath.Join(nodes[1].Home, "chain", "config", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `persistent_peers = "`+nodes[0].Peer+`"`) {
		t.Fatalf("node1 does not dial node0 at %s", nodes[0].Peer)
	}
}

// TestInitJoinStateSyncCLI: `coop init --join … --state-sync RPC,RPC`
// writes a CometBFT config that state syncs through those servers from a
// header of the running network; one server, or --state-sync without
// --join, is refused before anything is written.
func TestInitJoinStateSyncCLI(t *testing.T) {
	net := ledger.StartTestNet(t, ledger.TestNetConfig(t, 2))
	v0 := ledger.DevnetHome(net.Dir, 0)
	genesis := filepath.Join(ledger.ChainDir(v0), "config", "genesis.json")
	peer, err := ledger.PeerAddress(v0)
	if err != nil {
		t.Fatal(err)
	}
	rpc0 := strings.TrimPrefix(net.Nodes[0].RPCAddress(), "tcp://")
	rpc1 := net.Nodes[1].RPCAddress()
	home := filepath.Join(t.TempDir(), "joiner")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--state-sync", rpc0 + "," + rpc1}, "--join"},
		{[]string{"--join", genesis, "--peer", peer, "--state-sync", rpc0}, "at least two"},
	} {
		_, err := runCLI(t, append([]string{"--home", home, "init"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("init %v: %v, want an error naming %s", c.args, err, c.want)
		}
		if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("init %v failed but wrote %s", c.args, home)
		}
	}
	ports := ledger.FreePorts(t, 2)
	out, err := runCLI(t, "--home", home, "init", "--join", genesis, "--peer", peer, "--state-sync", rpc0+","+rpc1,
		"--p2p-listen", fmt.Sprintf("tcp://127.0.0.1:%d", ports[0]), "--rpc-listen", fmt.Sprintf("tcp://127.0.0.1:%d", ports[1]), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		StateSync struct {
			TrustHeight int64  `json:"trust_height"`
			TrustHash   string `json:"trust_hash"`
		} `json:"state_sync"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.StateSync.TrustHeight < 1 || len(res.StateSync.TrustHash) != 64 {
		t.Fatalf("init --state-sync printed %q (%v)", out, err)
	}
	c, err := ledger.LoadCometConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if !c.StateSync.Enable || len(c.StateSync.RPCServers) != 2 || c.StateSync.TrustHeight != res.StateSync.TrustHeight || c.StateSync.TrustHash != res.StateSync.TrustHash {
		t.Fatalf("state sync config %+v, init printed %+v", c.StateSync, res.StateSync)
	}
	// The trusted header is the network's.
	h := res.StateSync.TrustHeight
	cm := net.Nodes[1].Comet().BlockStore().LoadBlockMeta(h)
	if cm == nil || fmt.Sprintf("%x", []byte(cm.BlockID.Hash)) != res.StateSync.TrustHash {
		t.Fatalf("trusted header %d %s is not node 1's (%v)", h, res.StateSync.TrustHash, cm)
	}
}
