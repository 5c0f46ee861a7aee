package main

import (
	"strconv"
	"testing"

	"github.com/coop-network/coop/node/ledger"
)

func TestDevnetHomesListenOnLoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	base := freePortBlock(t, 20)
	if out, err := runCLI(t, "devnet", "init", "--nodes", "2", "--dir", dir, "--base-port", strconv.Itoa(base)); err != nil {
		t.Fatalf("devnet init: %v\n%s", err, out)
	}
	for i := range 2 {
		home := ledger.DevnetHome(dir, i)
		if _, err := runCLI(t, "--home", home, "version"); err != nil {
			t.Fatal(err)
		}
		if got := cfg.GetString("p2p-ip"); got != "127.0.0.1" {
			t.Errorf("%s: p2p-ip = %q, want 127.0.0.1", home, got)
		}
	}
}
