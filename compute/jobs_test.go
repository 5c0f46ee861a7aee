package compute

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/coop-network/coop/compute/internal/wasmtest"
)

func TestExampleJobsGiveExpectedOutput(t *testing.T) {
	r := testRunner(t)
	text := []byte("the cat and the hat and THE bat\n")
	sum := sha256.Sum256(text)
	cases := []struct {
		name, job string
		input     []byte
		args      []string
		want      string
	}{
		{"sha256 prints the digest of its input", "sha256", text, nil, hex.EncodeToString(sum[:]) + "\n"},
		{"wordfreq counts words case-folded", "wordfreq", text, []string{"3"}, "3 the\n2 and\n1 bat\n"},
		{"primes counts primes up to the bound", "primes", []byte("1000000"), nil, "78498 primes <= 1000000, largest 999983\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mod := wasmtest.Job(t, c.job)
			rep, err := r.Run(context.Background(), &Job{Spec: testSpec(mod, c.input, c.args...), Module: mod})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			if res.Status != StatusExited || res.ExitCode != 0 || string(res.Output) != c.want {
				t.Fatalf("got %s, want output %q", describe(res), c.want)
			}
			t.Logf("fuel %d, prepare %v (cache hit %v), execute %v, wall %v", res.FuelUsed, rep.Prepare, rep.CacheHit, rep.Execute, rep.Wall)
		})
	}
}
