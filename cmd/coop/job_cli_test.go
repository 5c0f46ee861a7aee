package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/worker"
)

// echoWat copies stdin (up to 4 KiB) to stdout and appends "!".
const echoWat = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.add (i32.const 64) (i32.load (i32.const 8))) (i32.const 33))
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))`

// TestJobCommandsAgainstRunningNodes drives coop job submit --wait,
// status, ls and result through the CLI against four real nodes on
// CometBFT validators: node 0 submits, nodes 1–3 are workers (this test
// binary is their compute child), node 3 lies about the output. The
// honest result is accepted, the liar judged wrong, and the submitter
// reads the honest output.
func TestJobCommandsAgainstRunningNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	net := node.StartTestNetwork(t, 4, func(i int, c *node.Config) {
		if i == 0 {
			return
		}
		c.CPU = 1
		c.Compute.Runner.Command = []string{exe, "compute", computeChildCmd}
		c.Compute.Runner.Env = []string{runAsCoopEnv + "=1"}
		c.Compute.Runner.CacheDir = cache
		c.Compute.Runner.Timeout = 2 * time.Minute
		c.Compute.Interval = 200 * time.Millisecond
		if i == 3 {
			c.Compute.Fault = worker.FaultOutput
		}
	})
	home := ledger.DevnetHome(net.Ledger.Dir, 0)
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	modPath, inPath, outPath := filepath.Join(dir, "echo.wasm"), filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	if err := os.WriteFile(modPath, mod, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inPath, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := runCLI(t, "--home", home, "job", "submit", modPath, "--input", inPath, "--fuel", "300", "--mem", "64KiB", "--wait", "--json")
	if err != nil {
		t.Fatalf("job submit: %v\n%s", err, out)
	}
	var v chain.JobView
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("job submit --wait --json: %q: %v", out, err)
	}
	if v.Phase != chain.JobAccepted || v.Result.Status != chain.ResultExited {
		t.Fatalf("job %s: %+v", v.Phase, v.Result)
	}
	liar := net.Nodes[3].Address()
	for _, a := range v.Assignments {
		if a.Worker == liar && a.Outcome != "" && a.Outcome != chain.OutcomeWrong {
			t.Fatalf("the liar's outcome: %s", a.Outcome)
		}
	}
	id := v.ID.String()

	if out, err = runCLI(t, "--home", home, "job", "result", id, "-o", outPath); err != nil {
		t.Fatalf("job result: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(outPath); err != nil || string(got) != "hello!" {
		t.Fatalf("job result wrote %q (%v)", got, err)
	}
	if out, err = runCLI(t, "--home", home, "job", "status", id); err != nil || !strings.Contains(out, "accepted") || !strings.Contains(out, id) {
		t.Fatalf("job status: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "--home", home, "job", "ls", "--json"); err != nil {
		t.Fatalf("job ls: %v\n%s", err, out)
	}
	var ls []chain.JobView
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 || ls[0].ID != v.ID {
		t.Fatalf("job ls --json: %q: %v", out, err)
	}
	if _, err := runCLI(t, "--home", home, "job", "status", "nope"); err == nil || !strings.Contains(err.Error(), "job id") {
		t.Fatalf("job status of a malformed id: %v", err)
	}

	// --input-id: a job on a file the account stored before.
	if err := os.WriteFile(inPath, []byte("by id"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err = runCLI(t, "--home", home, "put", inPath, "--json"); err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	var put api.PutResult
	if err := json.Unmarshal([]byte(out), &put); err != nil {
		t.Fatalf("put --json: %q: %v", out, err)
	}
	if out, err = runCLI(t, "--home", home, "job", "submit", modPath, "--input-id", put.FileID, "--fuel", "300", "--mem", "64KiB", "--wait", "--json"); err != nil {
		t.Fatalf("job submit --input-id: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Phase != chain.JobAccepted || v.Input.String() != put.FileID {
		t.Fatalf("job submit --input-id: %q: %v", out, err)
	}
	if out, err = runCLI(t, "--home", home, "job", "result", v.ID.String(), "-o", outPath); err != nil {
		t.Fatalf("job result: %v\n%s", err, out)
	}
	if got, err := os.ReadFile(outPath); err != nil || string(got) != "by id!" {
		t.Fatalf("job result of the --input-id job wrote %q (%v)", got, err)
	}

	// --module-id: the same module again, not stored again.
	files := func() int {
		t.Helper()
		out, err := runCLI(t, "--home", home, "ls", "--json")
		if err != nil {
			t.Fatalf("ls: %v\n%s", err, out)
		}
		var fs []json.RawMessage
		if err := json.Unmarshal([]byte(out), &fs); err != nil {
			t.Fatalf("ls --json: %q: %v", out, err)
		}
		return len(fs)
	}
	before := files()
	module := v.Module.String()
	if out, err = runCLI(t, "--home", home, "job", "submit", "--module-id", module, "--input-id", put.FileID, "--fuel", "300", "--mem", "64KiB", "--wait", "--json"); err != nil {
		t.Fatalf("job submit --module-id: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.Phase != chain.JobAccepted || v.Module.String() != module {
		t.Fatalf("job submit --module-id: %q: %v", out, err)
	}
	if after := files(); after != before {
		t.Fatalf("a job on --module-id and --input-id stored %d files", after-before)
	}
	for _, bad := range [][]string{
		{"job", "submit", modPath, "--module-id", module},
		{"job", "submit"},
		{"job", "submit", "--module-id", "nope"},
		{"job", "submit", "--module-id", put.FileID + "x"},
	} {
		if out, err := runCLI(t, append([]string{"--home", home}, bad...)...); err == nil {
			t.Fatalf("%q was taken: %s", bad, out)
		}
	}
}
