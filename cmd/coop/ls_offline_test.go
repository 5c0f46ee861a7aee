package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestLsReadsTheLedgerWithoutARunningNode: after the node that put a file
// stops, `coop ls -l` still lists it, name and capability included, from
// the home's own ledger state; and while another process holds the home
// (a node starting), ls does not touch the state. On the way, an empty file
// is put and read back as 0 bytes through the CLI.
func TestLsReadsTheLedgerWithoutARunningNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := node.StartTestNetwork(t, 2, nil)
	homeA := ledger.DevnetHome(net.Ledger.Dir, 0)
	data := make([]byte, 100_000)
	_, _ = rand.Read(data)
	in := filepath.Join(t.TempDir(), "notes.bin")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--home", homeA, "put", in, "--copies", "2", "--json")
	if err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	var res api.PutResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("put --json: %q: %v", out, err)
	}

	// An empty file goes through the same commands: put, then read back as
	// 0 bytes on the other node.
	emptyIn := filepath.Join(t.TempDir(), "empty.txt")
	if err := os.WriteFile(emptyIn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, "--home", homeA, "put", emptyIn, "--json")
	var empty api.PutResult
	if err != nil || json.Unmarshal([]byte(out), &empty) != nil || empty.Size != 0 {
		t.Fatalf("put of an empty file: %v\n%s", err, out)
	}
	// The reader finds an empty file by its ledger record alone (there is
	// no holder to ask): let its validator catch up with the put's block.
	net.Ledger.WaitHeight(net.Ledger.Height(0), 30*time.Second)
	emptyOut := filepath.Join(t.TempDir(), "empty.out")
	if out, err := runCLI(t, "--home", ledger.DevnetHome(net.Ledger.Dir, 1), "get", empty.Capability, "-o", emptyOut); err != nil {
		t.Fatalf("get of the empty file: %v\n%s", err, out)
	}
	if st, err := os.Stat(emptyOut); err != nil || st.Size() != 0 {
		t.Fatalf("get of the empty file wrote %v (%v), want 0 bytes", st, err)
	}

	net.Stop(0)
	net.Stop(1)
	net.Ledger.StopAll()

	out, err = runCLI(t, "--home", homeA, "ls", "-l")
	if err != nil {
		t.Fatalf("ls -l with no node running: %v\n%s", err, out)
	}
	for _, want := range []string{res.FileID, "notes.bin", res.Capability, "no node running", empty.FileID, "empty.txt"} {
		if !strings.Contains(out, want) {
			t.Fatalf("ls -l with no node running lacks %q:\n%s", want, out)
		}
	}
	out, err = runCLI(t, "--home", homeA, "ls", "--json")
	var files []api.FileInfo
	if err != nil || json.Unmarshal([]byte(out), &files) != nil || len(files) != 2 {
		t.Fatalf("ls --json with no node running: %v\n%s", err, out)
	}

	// The ledger read commands too.
	if out, err := runCLI(t, "--home", homeA, "ledger", "files"); err != nil || !strings.Contains(out, res.FileID) || !strings.Contains(out, empty.FileID) {
		t.Fatalf("ledger files with no node running: %v\n%s", err, out)
	}
	if out, err := runCLI(t, "--home", homeA, "ledger", "file", res.FileID); err != nil || !strings.Contains(out, res.Pieces[0].Holder) {
		t.Fatalf("ledger file with no node running: %v\n%s", err, out)
	}

	lock, err := lockHome(homeA)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	if _, err := runCLI(t, "--home", homeA, "ls"); err == nil {
		t.Fatal("ls read the state of a home another process holds")
	}
	if _, err := runCLI(t, "--home", homeA, "ledger", "files"); err == nil {
		t.Fatal("ledger files read the state of a home another process holds")
	}
}
