// Package wasmtest builds the example jobs of examples/jobs for the tests
// and benchmarks of compute and compute/instrument, so `go test
// ./compute/...` needs no prior `make jobs`.
package wasmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// RepoRoot is the root of the coop module.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Job returns the bytes of examples/jobs/<name> built with GOOS=wasip1
// GOARCH=wasm, building it once per test process.
func Job(tb testing.TB, name string) []byte {
	tb.Helper()
	return Build(tb, "./examples/jobs/"+name)
}

// Build builds the package at pkg (a path relative to the repository
// root, e.g. ./compute/testdata/clockjob) for wasip1, once per process.
func Build(tb testing.TB, pkg string) []byte {
	tb.Helper()
	name := pkg
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[name]; ok {
		return b
	}
	dir, err := os.MkdirTemp("", "coop-wasmtest-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "job.wasm")
	goBin, err := exec.LookPath("go") // go test puts its own toolchain first in PATH
	if err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building job %s: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	built[name] = b
	return b
}
