package compute

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestMisbehavingChildIsAFailedRun: whatever the child does — flood its
// stdout, answer garbage, hang — the parent ends with a classified error,
// never a Result.
func TestMisbehavingChildIsAFailedRun(t *testing.T) {
	mod := wat(t, `(module `+watPrelude+`(func (export "_start")))`)
	cases := []struct {
		mode string
		want error
	}{
		{"flood", ErrChildFailed},
		{"garbage", ErrChildFailed},
		{"hang", ErrTimeout},
	}
	for _, c := range cases {
		t.Run(c.mode, func(t *testing.T) {
			r := testRunner(t, func(cfg *Config) {
				cfg.Env = []string{ChildEnv + "=" + c.mode}
				cfg.Timeout = 2 * time.Second
			})
			rep, err := r.Run(context.Background(), &Job{Spec: testSpec(mod, nil), Module: mod})
			if !errors.Is(err, c.want) || rep != nil {
				t.Fatalf("got %v, %v; want %v", rep, err, c.want)
			}
		})
	}
}

func TestRunnerRefusesJobsItCannotTrust(t *testing.T) {
	mod := wat(t, `(module `+watPrelude+`(func (export "_start")))`)
	r := testRunner(t)
	spec := testSpec(mod, nil)
	if _, err := r.Run(context.Background(), &Job{Spec: spec, Module: append(mod, 0)}); !errors.Is(err, ErrMismatch) {
		t.Errorf("module bytes not matching the spec: %v", err)
	}
	byID := spec
	byID.Input, byID.InputID = nil, Sum([]byte("expected"))
	if _, err := r.Run(context.Background(), &Job{Spec: byID, Module: mod, Input: []byte("other")}); !errors.Is(err, ErrMismatch) {
		t.Errorf("input not matching the input id: %v", err)
	}
	big := spec
	big.FuelLimit = r.cfg.MaxFuel + 1
	if _, err := r.Run(context.Background(), &Job{Spec: big, Module: mod}); !errors.Is(err, ErrOverLimit) {
		t.Errorf("fuel over the runner's limit: %v", err)
	}
	bad := spec
	bad.Replicas = 0
	if _, err := r.Run(context.Background(), &Job{Spec: bad, Module: mod}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("invalid spec: %v", err)
	}
}

// TestRunnerRunsJobsConcurrently: one Runner, several jobs at once, each
// with its own result.
func TestRunnerRunsJobsConcurrently(t *testing.T) {
	r := testRunner(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	mods := make([][]byte, len(errs))
	for i := range mods {
		mods[i] = wat(t, `(module `+watPrelude+`(func (export "_start") (call $proc_exit (i32.const `+string(rune('0'+i))+`))))`)
	}
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mod := mods[i]
			rep, err := r.Run(context.Background(), &Job{Spec: testSpec(mod, nil), Module: mod})
			if err == nil && rep.Result.ExitCode != uint32(i) {
				err = errors.New("wrong exit code: " + describe(rep.Result))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("job %d: %v", i, err)
		}
	}
}
