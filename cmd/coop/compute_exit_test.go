package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wasmerio/wasmer-go/wasmer"
)

// exitPrelude imports what the modules below call.
const exitPrelude = `
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
`

// TestComputeRunExitCodes runs the real binary on one module per way a run
// can end and checks the exit code of each (computeExitHelp), with and
// without --json, and that --help lists them.
func TestComputeRunExitCodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the coop binary")
	}
	dir := t.TempDir()
	coop := buildForTest(t, dir, "coop", "./cmd/coop")
	home := filepath.Join(dir, "home")
	rawModule := func(name, src string) string {
		t.Helper()
		b, err := wasmer.Wat2Wasm(src)
		if err != nil {
			t.Fatalf("wat %s: %v", name, err)
		}
		p := filepath.Join(dir, name+".wasm")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	module := func(name, src string) string {
		t.Helper()
		return rawModule(name, "(module "+exitPrelude+src+")")
	}
	notWasm := filepath.Join(dir, "script.wasm")
	if err := os.WriteFile(notWasm, []byte("#!/bin/sh\necho hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		module string
		args   []string
		code   int
		status string
	}{
		{"a job that returns", module("ok", `(func (export "_start"))`), nil, 0, "exited"},
		{"a job that exits 7", module("exit7", `(func (export "_start") (call $proc_exit (i32.const 7)))`), nil, exitJobFailed, "exited"},
		{"an endless loop", module("loop", `(func (export "_start") (loop br 0))`), []string{"--fuel", "1000000"}, exitOutOfFuel, "trapped"},
		{"too much output", module("chatty", `(func (export "_start")
			(i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 60000))
			(loop (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) br 0))`),
			[]string{"--max-output", "64KiB"}, exitOutputLimit, "trapped"},
		{"endless recursion", module("recurse", `(func $f (call $f)) (func (export "_start") (call $f))`), nil, exitStack, "trapped"},
		{"unreachable", module("trap", `(func (export "_start") unreachable)`), nil, exitTrap, "trapped"},
		{"a module declaring more memory than --mem", rawModule("bigmem", `(module (memory (export "memory") 64) (func (export "_start")))`),
			[]string{"--mem", "1MiB"}, exitOverLimit, "rejected"},
		{"not WebAssembly", notWasm, nil, exitRejected, "rejected"},
	}
	for _, c := range cases {
		for _, asJSON := range []bool{false, true} {
			args := []string{"--home", home, "compute", "run", c.module, "--no-cache"}
			if asJSON {
				args = append(args, "--json")
			}
			cmd := exec.Command(coop, append(args, c.args...)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			_ = cmd.Run()
			if got := cmd.ProcessState.ExitCode(); got != c.code {
				t.Errorf("%s (json %v): exit code %d, want %d\n%s", c.name, asJSON, got, c.code, stderr.String())
				continue
			}
			if asJSON {
				var r struct{ Status string }
				if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || r.Status != c.status {
					t.Errorf("%s: JSON %q (%v), want status %s", c.name, stdout.String(), err, c.status)
				}
			} else if !strings.Contains(stderr.String(), "status:      "+c.status) {
				t.Errorf("%s: no %q status in the summary:\n%s", c.name, c.status, stderr.String())
			}
		}
	}

	// The wall-clock limit is an error, not a result: a message and its own code.
	cmd := exec.Command(coop, "--home", home, "compute", "run", module("spin", `(func (export "_start") (loop br 0))`),
		"--fuel", "1000000000000", "--timeout", "300ms")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if got := cmd.ProcessState.ExitCode(); got != exitTimeout || !strings.Contains(stderr.String(), "wall-clock") {
		t.Errorf("a job past --timeout: exit code %d, want %d\n%s", got, exitTimeout, stderr.String())
	}

	out, err := exec.Command(coop, "compute", "run", "--help").Output()
	if err != nil || !strings.Contains(string(out), "Exit codes:") || !strings.Contains(string(out), "3  out of fuel") {
		t.Errorf("compute run --help does not list the exit codes (%v):\n%s", err, out)
	}
}
