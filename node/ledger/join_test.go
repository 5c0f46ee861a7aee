package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitJoinChecksBeforeWriting: a genesis file that does not parse and a
// malformed peer are refused with errors naming them, and nothing is
// written; a good pair makes a home with the network's genesis and peers.
func TestInitJoinChecksBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "net")
	if _, err := InitHome(src, DefaultHomeConfig()); err != nil {
		t.Fatal(err)
	}
	genesis := filepath.Join(ChainDir(src), "config", "genesis.json")
	peer, err := PeerAddress(src)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"chain_id": "x", "validators": [}`), 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "joiner")
	for _, c := range []struct{ genesis, peers, want string }{
		{bad, peer, "bad.json"},
		{filepath.Join(dir, "missing.json"), peer, "missing.json"},
		{genesis, "", "no peer"},
		{genesis, "127.0.0.1:26656", `"127.0.0.1:26656"`},
		{genesis, "abc@127.0.0.1:26656", `"abc@127.0.0.1:26656"`},
		{genesis, peer + ",nothex@host", "nothex@host"},
		{genesis, strings.Split(peer, "@")[0] + "@0.0.0.0:26656", "wildcard"},
	} {
		_, err := InitJoin(home, c.genesis, c.peers, DefaultHomeConfig())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("InitJoin(%s, %q): %v, want an error naming %s", filepath.Base(c.genesis), c.peers, err, c.want)
		}
		if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("InitJoin(%s, %q) failed but wrote %s (%v)", filepath.Base(c.genesis), c.peers, home, err)
		}
	}

	addr, err := InitJoin(home, genesis, " "+peer+" ,", DefaultHomeConfig())
	if err != nil {
		t.Fatal(err)
	}
	if addr == AddressOf(mustKey(t, src)) {
		t.Fatal("the joining home reuses the network node's key")
	}
	c, err := LoadCometConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if c.P2P.PersistentPeers != peer {
		t.Fatalf("persistent peers %q, want %q", c.P2P.PersistentPeers, peer)
	}
	a, _ := os.ReadFile(genesis)
	b, _ := os.ReadFile(c.GenesisFile())
	if string(a) != string(b) {
		t.Fatal("the joining home's genesis differs from the network's")
	}
	if _, err := InitJoin(home, genesis, peer, DefaultHomeConfig()); !errors.Is(err, ErrHomeExists) {
		t.Fatalf("second InitJoin: %v, want ErrHomeExists", err)
	}
}

func mustKey(t *testing.T, home string) []byte {
	t.Helper()
	k, err := LoadKey(KeyPath(home))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
