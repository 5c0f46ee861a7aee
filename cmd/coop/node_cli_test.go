package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/coop-network/coop/node/ledger"
)

// TestNodeRefusesAHomeInUse: while a process holds the home's lock (as a
// running `coop node` does), a second `coop node` on it fails at once,
// naming the holder, and starts nothing.
func TestNodeRefusesAHomeInUse(t *testing.T) {
	home := t.TempDir()
	if _, err := runCLI(t, "--home", home, "init"); err != nil {
		t.Fatal(err)
	}
	lock, err := lockHome(home)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	_, err = runCLI(t, "--home", home, "node")
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("coop node on a locked home: %v, want a refusal naming pid %d", err, os.Getpid())
	}
}

// TestNodeChecksFlagsBeforeStarting: a bad flag is refused before the
// ledger starts, with the flag named.
func TestNodeChecksFlagsBeforeStarting(t *testing.T) {
	home := t.TempDir()
	if _, err := runCLI(t, "--home", home, "init"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--pledge", "10XB"},
		{"--upload-rate", "fast"},
		{"--scrub-interval", "-1h"},
		{"--ledger-stall-timeout", "-5s"},
	} {
		_, err := runCLI(t, append([]string{"--home", home, "node"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Fatalf("coop node %v: %v, want an error naming %s", args, err, args[0])
		}
	}
	if _, err := os.Stat(ledger.ChainDir(home) + "/data/blockstore.db"); err == nil {
		t.Fatal("the ledger started (its block database exists)")
	}
}

// TestDevnetStartRefusesAHomeInUse: devnet start on a devnet whose node is
// running says so at once instead of starting nodes that fail one by one.
func TestDevnetStartRefusesAHomeInUse(t *testing.T) {
	dir := t.TempDir()
	base := freePortBlock(t, 20)
	if out, err := runCLI(t, "devnet", "init", "--nodes", "2", "--dir", dir, "--base-port", fmt.Sprint(base)); err != nil {
		t.Fatalf("devnet init: %v\n%s", err, out)
	}
	lock, err := lockHome(ledger.DevnetHome(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	out, err := runCLI(t, "devnet", "start", "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "in use") || strings.Contains(out, "started") {
		t.Fatalf("devnet start with node1 in use: %v\n%s", err, out)
	}
}
