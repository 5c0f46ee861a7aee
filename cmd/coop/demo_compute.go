package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coop-network/coop/compute"
)

// runComputeDemo runs the example prime-sieve job as three independent
// workers would (each in its own child process, the first compiling, the
// others loading the compiled module from the cache), shows that their result
// hashes agree, then runs it again with too little fuel to show that metering
// stops it at exactly the limit, identically on every run.
func runComputeDemo(ctx context.Context, out io.Writer, dir, jobsDir string) error {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	module, err := os.ReadFile(filepath.Join(jobsDir, "primes.wasm"))
	if errors.Is(err, fs.ErrNotExist) {
		say("compute: %s not built (run `make jobs`); skipping the compute part", filepath.Join(jobsDir, "primes.wasm"))
		return nil
	}
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	work := filepath.Join(dir, "compute-demo")
	if err := os.MkdirAll(work, 0o700); err != nil {
		return err
	}
	defer func() {
		os.RemoveAll(work)
		os.Remove(dir) // only if empty
	}()
	rc := compute.DefaultConfig()
	rc.Command = []string{exe, "compute", computeChildCmd}
	rc.CacheDir = filepath.Join(work, "cache")
	runner, err := compute.NewRunner(rc)
	if err != nil {
		return err
	}
	job := func(fuel uint64) *compute.Job {
		return &compute.Job{Module: module, Spec: compute.JobSpec{
			Module: compute.Sum(module), Input: []byte("2000000"), FuelLimit: fuel,
			MemoryLimit: 256 << 20, MaxOutput: 1 << 10, Replicas: 3,
		}}
	}

	say("")
	say("compute: prime sieve to 2,000,000 (examples/jobs/primes.wasm, %s), 3 workers", formatBytes(int64(len(module))))
	var first compute.Hash
	for w := 1; w <= 3; w++ {
		rep, err := runner.Run(ctx, job(10_000_000_000))
		if err != nil {
			return fmt.Errorf("worker %d: %w", w, err)
		}
		res := rep.Result
		if res.Status != compute.StatusExited || res.ExitCode != 0 {
			return fmt.Errorf("worker %d: job ended %s (%s) %s", w, res.Status, res.Trap, rep.Detail)
		}
		how := "compiled"
		if rep.CacheHit {
			how = "cached module"
		}
		say("  worker %d: %q  fuel %d  result %s…  (%v, %s)", w, strings.TrimSpace(string(res.Output)),
			res.FuelUsed, res.Hash().String()[:12], rep.Wall.Round(time.Millisecond), how)
		if w == 1 {
			first = res.Hash()
		} else if res.Hash() != first {
			return fmt.Errorf("worker %d disagrees: result %s, worker 1 had %s", w, res.Hash(), first)
		}
	}
	say("  3 of 3 results agree: the quorum accepts %s…", first.String()[:12])

	const small = 50_000_000
	var fuel uint64
	for run := 1; run <= 2; run++ {
		rep, err := runner.Run(ctx, job(small))
		if err != nil {
			return err
		}
		res := rep.Result
		if res.Status != compute.StatusTrapped {
			return fmt.Errorf("with %d fuel the job ended %s, want a trap", small, res.Status)
		}
		if run == 2 && res.FuelUsed != fuel {
			return fmt.Errorf("out of fuel is not deterministic: %d then %d", fuel, res.FuelUsed)
		}
		fuel = res.FuelUsed
		say("  with a fuel limit of %d: trapped (%s) after %d fuel (run %d)", small, res.Trap, res.FuelUsed, run)
	}
	return nil
}
