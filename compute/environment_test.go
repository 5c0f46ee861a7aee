package compute

import (
	"context"
	"strings"
	"testing"

	"github.com/coop-network/coop/compute/internal/wasmtest"
)

// TestJobEnvironmentIsDeterministic: clocks are logical, sleeping advances
// them without waiting, random bytes come from the job id, there is no
// environment and no filesystem — identically on wasmer and wazero.
func TestJobEnvironmentIsDeterministic(t *testing.T) {
	r := testRunner(t)
	mod := wasmtest.Build(t, "./compute/testdata/clockjob")
	spec := testSpec(mod, nil, "x")
	a, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
	if err != nil {
		t.Fatal(err)
	}
	out := string(a.Result.Output)
	if a.Result.Hash() != b.Result.Hash() {
		t.Fatalf("two runs differ:\n%s\n%s", out, b.Result.Output)
	}
	if o := runOracle(t, &spec, mod, nil); o.Hash() != a.Result.Hash() {
		t.Fatalf("wazero differs:\n%s\n%s", o.Output, out)
	}
	for _, want := range []string{"now=17040672", "slept=1500\n", "args=[\"job\" \"x\"]", "env=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "filesystem reachable") {
		t.Error("the job opened a host file")
	}
	if string(a.Result.Stderr) != "to stderr\n" {
		t.Errorf("stderr %q", a.Result.Stderr)
	}
	if a.Execute > 1500_000_000 {
		t.Logf("note: execution took %v (sleep must not wait in real time)", a.Execute)
	}

	other := testSpec(mod, nil, "y")
	c, err := r.Run(context.Background(), &Job{Spec: other, Module: mod})
	if err != nil {
		t.Fatal(err)
	}
	rnd := func(s string) string { i := strings.Index(s, "random="); return s[i : i+39] }
	if rnd(string(c.Result.Output)) == rnd(out) {
		t.Error("random bytes do not depend on the job id")
	}
}

// TestNaNBitsAreCanonical: a NaN computed by the guest is observed with
// the canonical bits on both runtimes (x86 produces a negative NaN for
// 0/0, other CPUs a positive one).
func TestNaNBitsAreCanonical(t *testing.T) {
	mod := wat(t, `(module `+watPrelude+`
	  (func (export "_start")
	    (f32.store (i32.const 16) (f32.div (f32.const 0) (f32.const 0)))
	    (f64.store (i32.const 20) (f64.div (f64.const 0) (f64.const 0)))
	    (i32.store (i32.const 28) (i32.reinterpret_f32 (f32.sqrt (f32.const -1))))
	    (f32.store (i32.const 32) (f32.copysign (f32.const 1) (f32.div (f32.const 0) (f32.const 0))))
	    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 20))
	    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
	spec := testSpec(mod, nil)
	r := testRunner(t)
	rep, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
	if err != nil {
		t.Fatal(err)
	}
	want := "\x00\x00\xc0\x7f" + "\x00\x00\x00\x00\x00\x00\xf8\x7f" + "\x00\x00\xc0\x7f" + "\x00\x00\x80\x3f"
	if got := string(rep.Result.Output); got != want {
		t.Fatalf("wasmer wrote % x, want % x", got, want)
	}
	for _, o := range []*Result{runOracle(t, &spec, mod, nil), runOracleCompiled(t, &spec, mod, nil)} {
		if o.Hash() != rep.Result.Hash() {
			t.Fatalf("wazero wrote % x", o.Output)
		}
	}
}
