package compute

import (
	"context"
	"testing"

	"github.com/coop-network/coop/compute/internal/wasmtest"
)

// TestSameJobSameResult: ten runs of each example job give one result hash
// and one fuel figure, and the wazero oracle agrees.
func TestSameJobSameResult(t *testing.T) {
	r := testRunner(t)
	jobs := []struct {
		name  string
		input []byte
		args  []string
	}{
		{"sha256", []byte("determinism"), nil},
		{"wordfreq", []byte("a b a c b a"), nil},
		{"primes", []byte("200000"), []string{"2"}},
	}
	for _, j := range jobs {
		t.Run(j.name, func(t *testing.T) {
			mod := wasmtest.Job(t, j.name)
			spec := testSpec(mod, j.input, j.args...)
			first, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
			if err != nil {
				t.Fatal(err)
			}
			want := first.Result.Hash()
			runs := 10
			if testing.Short() {
				runs = 3
			}
			for i := 1; i < runs; i++ {
				rep, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
				if err != nil {
					t.Fatal(err)
				}
				if !rep.CacheHit {
					t.Errorf("run %d: compiled module not taken from the cache", i)
				}
				if got := rep.Result.Hash(); got != want {
					t.Fatalf("run %d: result %s differs from %s:\n%s\n%s", i, got, want, describe(rep.Result), describe(first.Result))
				}
			}
			oracle := runOracle(t, &spec, mod, spec.Input)
			if oracle.Hash() != want {
				t.Fatalf("wazero disagrees:\nwazero %s\nwasmer %s", describe(oracle), describe(first.Result))
			}
			t.Logf("%s: fuel %d, result %s", j.name, first.Result.FuelUsed, want)
		})
	}
}

// TestOutOfFuelIsDeterministic: at a fuel limit below what the job needs,
// every run (and the oracle) traps out of fuel having used exactly the limit.
func TestOutOfFuelIsDeterministic(t *testing.T) {
	r := testRunner(t)
	mod := wasmtest.Job(t, "primes")
	for _, limit := range []uint64{1_000, 1_500_000, 3_000_000} {
		spec := testSpec(mod, []byte("300000"))
		spec.FuelLimit = limit
		var want *Result
		for i := 0; i < 3; i++ {
			rep, err := r.Run(context.Background(), &Job{Spec: spec, Module: mod})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			if res.Status != StatusTrapped || res.Trap != TrapOutOfFuel || res.FuelUsed != limit {
				t.Fatalf("limit %d: %s", limit, describe(res))
			}
			if want == nil {
				want = res
			} else if res.Hash() != want.Hash() {
				t.Fatalf("limit %d run %d: %s vs %s", limit, i, describe(res), describe(want))
			}
		}
		if o := runOracle(t, &spec, mod, nil); o.Hash() != want.Hash() {
			t.Fatalf("limit %d: wazero %s, wasmer %s", limit, describe(o), describe(want))
		}
	}
}
