package compute

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(ChildEnv) == "crash" {
		panic("compute test child: simulated crash")
	}
	ServeChildIfRequested()
	os.Exit(m.Run())
}

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
	cfg.CacheDir = t.TempDir()
	cfg.Timeout = 60 * time.Second
	for _, f := range mut {
		f(&cfg)
	}
	r, err := NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
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
