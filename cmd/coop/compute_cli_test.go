package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildForTest builds pkg (relative to the repository root) into dir with
// the given extra environment and returns the output path.
func buildForTest(t *testing.T, dir, name, pkg string, env ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-o", out, pkg)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, msg)
	}
	return out
}

// TestComputeRunCommand runs `coop compute run` as a user would: the real
// binary, a real example job, a child process per run, the module cache in
// the home.
func TestComputeRunCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coop binary")
	}
	dir := t.TempDir()
	coop := buildForTest(t, dir, "coop", "./cmd/coop")
	job := buildForTest(t, dir, "sha256.wasm", "./examples/jobs/sha256", "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	input := bytes.Repeat([]byte("cooperate "), 50_000) // 500 KB
	inPath := filepath.Join(dir, "input.txt")
	if err := os.WriteFile(inPath, input, 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")

	type report struct {
		Status     string `json:"status"`
		ExitCode   uint32 `json:"exit_code"`
		Trap       string `json:"trap"`
		FuelUsed   uint64 `json:"fuel_used"`
		Output     string `json:"output"`
		ResultHash string `json:"result_hash"`
		CacheHit   bool   `json:"cache_hit"`
	}
	// run runs the job and checks coop's exit code (see computeExitHelp).
	runExit := func(wantCode int, args ...string) report {
		t.Helper()
		cmd := exec.Command(coop, append([]string{"--home", home, "compute", "run", "--json"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if code := cmd.ProcessState.ExitCode(); code != wantCode {
			t.Fatalf("coop compute run %v: exit code %d (%v), want %d\n%s", args, code, err, wantCode, stderr.String())
		}
		var r report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		return r
	}
	run := func(args ...string) report { t.Helper(); return runExit(0, args...) }

	sum := sha256.Sum256(input)
	first := run(job, "--input", inPath)
	if first.Status != "exited" || first.ExitCode != 0 {
		t.Fatalf("job ended %+v", first)
	}
	if got := strings.TrimSpace(first.Output); got != hex.EncodeToString(sum[:]) {
		t.Fatalf("job printed %q, want the input's SHA-256 %x", got, sum)
	}
	if first.FuelUsed == 0 || first.ResultHash == "" {
		t.Fatalf("no fuel or result hash reported: %+v", first)
	}
	if first.CacheHit {
		t.Fatal("first run claims a cache hit")
	}

	second := run(job, "--input", inPath)
	if !second.CacheHit {
		t.Error("second run compiled again instead of using the module cache")
	}
	if second.ResultHash != first.ResultHash || second.FuelUsed != first.FuelUsed {
		t.Fatalf("runs disagree: %+v vs %+v", first, second)
	}

	starved := runExit(exitOutOfFuel, job, "--input", inPath, "--fuel", "1000")
	if starved.Status != "trapped" || starved.FuelUsed != 1000 {
		t.Fatalf("with 1000 fuel: %+v, want a trap after exactly 1000", starved)
	}

	// A file that is not WebAssembly is refused with a reason, not run.
	bogus := filepath.Join(dir, "bogus.wasm")
	if err := os.WriteFile(bogus, []byte("#!/bin/sh\necho hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runExit(exitRejected, bogus); r.Status == "exited" || r.Trap == "" {
		t.Fatalf("a non-WASM file ran: %+v", r)
	}
}
