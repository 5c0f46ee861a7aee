package compute

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coop-network/coop/compute/internal/wasmtest"
)

// idlePIDs lists the process ids of r's warm children.
func idlePIDs(r *Runner) []int {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	var pids []int
	for _, p := range r.pool.idle {
		pids = append(pids, p.cmd.Process.Pid)
	}
	slices.Sort(pids)
	return pids
}

// gone reports whether no process has id pid (it exited and was reaped).
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func warmUp(t *testing.T, r *Runner, want int) {
	t.Helper()
	n, err := r.waitWarm(context.Background())
	if err != nil || n != want {
		t.Fatalf("warm children: %d, %v; want %d", n, err, want)
	}
}

// TestWarmChildrenServeOneJobEachAndPreload: with a pool, a job goes to a
// child started before it came, that child serves no other job (it is
// gone after the job and replaced), and the replacement has loaded the
// module of the job it replaces, so the next job of that module skips the
// load. Results are the same as from a fresh child.
func TestWarmChildrenServeOneJobEachAndPreload(t *testing.T) {
	mod := wat(t, `(module `+watPrelude+`(func (export "_start") (call $proc_exit (i32.const 7))))`)
	job := &Job{Spec: testSpec(mod, nil), Module: mod}
	fresh := testRunner(t, func(c *Config) { c.CacheDir = t.TempDir() })
	want, err := fresh.Run(context.Background(), job)
	if err != nil || want.Warm || want.Preloaded {
		t.Fatalf("fresh child: %+v, %v", want, err)
	}

	r := testRunner(t, func(c *Config) { c.CacheDir = t.TempDir(); c.WarmChildren = 2 })
	warmUp(t, r, 2)
	for i := range 4 {
		before := idlePIDs(r)
		rep, err := r.Run(context.Background(), job)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if !rep.Warm {
			t.Fatalf("run %d did not use a warm child", i)
		}
		// The first run compiles (cache miss); from then on the replacement
		// child has loaded the module before the job.
		if i >= 1 && !rep.Preloaded {
			t.Fatalf("run %d: child had not preloaded the module (%+v)", i, rep)
		}
		if rep.Result.Hash() != want.Result.Hash() {
			t.Fatalf("run %d: %s, fresh child: %s", i, describe(rep.Result), describe(want.Result))
		}
		warmUp(t, r, 2)
		after := idlePIDs(r)
		var used []int
		for _, pid := range before {
			if !slices.Contains(after, pid) {
				used = append(used, pid)
			}
		}
		if len(used) != 1 || !gone(used[0]) {
			t.Fatalf("run %d: warm children %v before, %v after: want exactly one used and gone", i, before, after)
		}
	}
	// Another module takes a child that preloaded something else: still a
	// correct result, from a warm child.
	other := wat(t, `(module `+watPrelude+`(func (export "_start") (call $proc_exit (i32.const 9))))`)
	rep, err := r.Run(context.Background(), &Job{Spec: testSpec(other, nil), Module: other})
	if err != nil || !rep.Warm || rep.Preloaded || rep.Result.ExitCode != 9 {
		t.Fatalf("other module: %+v, %v", rep, err)
	}
}

// TestCloseKillsWarmChildren: Close ends every warm child and waits for
// it; runs after Close start their own child and refill nothing.
func TestCloseKillsWarmChildren(t *testing.T) {
	r := testRunner(t, func(c *Config) { c.WarmChildren = 3 })
	warmUp(t, r, 3)
	pids := idlePIDs(r)
	if len(pids) != 3 {
		t.Fatalf("warm children: %v", pids)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if !gone(pid) {
			t.Errorf("warm child %d still exists after Close", pid)
		}
	}
	mod := wat(t, `(module `+watPrelude+`(func (export "_start")))`)
	rep, err := r.Run(context.Background(), &Job{Spec: testSpec(mod, nil), Module: mod})
	if err != nil || rep.Warm {
		t.Fatalf("run after Close: %+v, %v", rep, err)
	}
	if n, _ := r.waitWarm(context.Background()); n != 0 || len(idlePIDs(r)) != 0 {
		t.Fatalf("closed runner refilled its pool: %d warm", n)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWarmChildKeepsTheLimits: a warm child is held to the same wall-clock
// limit (counted from Run, so time spent waiting does not count) and
// output cap as a fresh one, and one that misbehaves before its job is a
// failed run.
func TestWarmChildKeepsTheLimits(t *testing.T) {
	mod := wat(t, `(module `+watPrelude+`(func (export "_start")))`)
	cases := []struct {
		mode string
		want error
	}{
		{"floodready", ErrChildFailed}, // ready, then more than the cap
		{"flood", ErrChildFailed},      // no ready byte
		{"garbage", ErrChildFailed},
		{"hang", ErrTimeout},
		{"crash", ErrChildFailed},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			r := testRunner(t, func(cfg *Config) {
				cfg.Env = []string{ChildEnv + "=" + c.mode}
				// Only the hanging child should meet the limit: the others
				// fail by what they do, however long a loaded machine takes
				// to start them.
				cfg.Timeout = time.Minute
				if c.mode == "hang" {
					cfg.Timeout = 2 * time.Second
				}
				cfg.WarmChildren = 1
			})
			r.pool.wg.Wait()
			pids := idlePIDs(r)
			t0 := time.Now()
			rep, err := r.Run(context.Background(), &Job{Spec: testSpec(mod, nil), Module: mod})
			if !errors.Is(err, c.want) || rep != nil {
				t.Fatalf("got %v, %v; want %v", rep, err, c.want)
			}
			if c.mode == "hang" && time.Since(t0) > 10*time.Second {
				t.Fatalf("hanging warm child killed after %s", time.Since(t0))
			}
			for _, pid := range pids {
				if !gone(pid) {
					t.Errorf("child %d still exists after its failed run", pid)
				}
			}
		})
	}
}

// TestPreloadedGoJobMatchesFreshChild: a Go job (data segments, memory
// growth, host calls) gives the same Result — output, fuel, status — from
// a child that instantiated its module before the job as from a fresh one,
// with jobs running concurrently on the pool.
func TestPreloadedGoJobMatchesFreshChild(t *testing.T) {
	wasm := wasmtest.Job(t, "sha256")
	fresh := testRunner(t)
	pooled := testRunner(t, func(c *Config) { c.WarmChildren = 2 })
	inputs := [][]byte{[]byte("a"), make([]byte, 5000), []byte("the quick brown fox")}
	want := make([]*Result, len(inputs))
	for i, in := range inputs {
		rep, err := fresh.Run(context.Background(), &Job{Spec: testSpec(wasm, in), Module: wasm})
		if err != nil {
			t.Fatal(err)
		}
		want[i] = rep.Result
	}
	// Once to get the module into the pool's children.
	if _, err := pooled.Run(context.Background(), &Job{Spec: testSpec(wasm, nil), Module: wasm}); err != nil {
		t.Fatal(err)
	}
	warmUp(t, pooled, 2)
	var wg sync.WaitGroup
	got := make([]*Report, len(inputs))
	errs := make([]error, len(inputs))
	for i, in := range inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = pooled.Run(context.Background(), &Job{Spec: testSpec(wasm, in), Module: wasm})
		}()
	}
	wg.Wait()
	preloaded := 0
	for i := range inputs {
		if errs[i] != nil {
			t.Fatalf("job %d: %v", i, errs[i])
		}
		if got[i].Result.Hash() != want[i].Hash() {
			t.Errorf("job %d: pooled %s, fresh %s", i, describe(got[i].Result), describe(want[i]))
		}
		if got[i].Preloaded {
			preloaded++
		}
	}
	// The replacement after the first run has the module; the other jobs
	// ran on the warm child started empty, or on a fresh one.
	if preloaded < 1 {
		t.Errorf("%d of %d jobs ran on a preloaded child, want ≥ 1", preloaded, len(inputs))
	}
}
