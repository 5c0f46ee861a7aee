package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
