package compute

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	// Misbehaving children for the protocol tests.
	switch os.Getenv(ChildEnv) {
	case "crash":
		panic("compute test child: simulated crash")
	case "flood":
		junk := make([]byte, 1<<20)
		for range 256 {
			if _, err := os.Stdout.Write(junk); err != nil {
				os.Exit(1)
			}
		}
		os.Exit(0)
	case "garbage":
		os.Stdout.WriteString("this is not CBOR")
		os.Exit(0)
	case "hang":
		select {}
	case "floodready":
		// A child that signals readiness, then floods.
		os.Stdout.Write([]byte{readyByte})
		junk := make([]byte, 1<<20)
		for range 256 {
			if _, err := os.Stdout.Write(junk); err != nil {
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	ServeChildIfRequested()
	// One compiled-module cache for the whole test process, so each example
	// job is compiled once rather than once per test.
	dir, err := os.MkdirTemp("", "coop-compute-cache-")
	if err != nil {
		panic(err)
	}
	sharedCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var sharedCache string

// testRunner returns a Runner whose children are this test binary.
func testRunner(t testing.TB, mut ...func(*Config)) *Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Command = []string{exe}
	cfg.Env = []string{ChildEnv + "=1"}
	cfg.CacheDir = sharedCache
	cfg.Timeout = 120 * time.Second // cold compilation of a Go module on a loaded machine
	for _, f := range mut {
		f(&cfg)
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// testSpec is a spec for module with an inline input and generous limits.
func testSpec(module, input []byte, args ...string) JobSpec {
	return JobSpec{
		Module:      Sum(module),
		Input:       input,
		Args:        args,
		FuelLimit:   20_000_000_000,
		MemoryLimit: 256 << 20,
		MaxOutput:   1 << 20,
		Replicas:    3,
	}
}

func describe(r *Result) string {
	return fmt.Sprintf("status=%s exit=%d trap=%s fuel=%d out=%q stderr=%q",
		r.Status, r.ExitCode, r.Trap, r.FuelUsed, r.Output, r.Stderr)
}
