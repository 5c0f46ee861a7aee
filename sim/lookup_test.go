package sim

import (
	"context"
	"math"
	"runtime"
	"testing"
	"time"
)

// TestLookupSmallNetwork runs the lookup experiment on 64 nodes: every
// lookup must return the true 20 closest peers (brute force over XOR
// distance) and reach the closest within 2·log2 N hops.
func TestLookupSmallNetwork(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	const nodes = 64
	res, err := Run(ctx, Options{Nodes: nodes, Seed: 1, Lookups: 40})
	if err != nil {
		t.Fatal(err)
	}
	bound := int(2 * math.Log2(nodes))
	for i, l := range res.Lookups {
		if l.Err != nil {
			t.Errorf("lookup %d from %s: %v", i, l.Origin, l.Err)
		}
		if !l.Exact {
			t.Errorf("lookup %d from %s: found %d of the true %d closest", i, l.Origin, l.Found, BucketSize)
		}
		if l.Hops < 0 || l.Hops > bound {
			t.Errorf("lookup %d from %s: %d hops to the closest peer, want 0..%d", i, l.Origin, l.Hops, bound)
		}
		if l.Contacted < 1 || l.Contacted >= nodes {
			t.Errorf("lookup %d: contacted %d peers of %d", i, l.Contacted, nodes)
		}
	}
	s := res.Summarize()
	t.Logf("N=%d: hops mean %.2f p95 %d max %d; contacted mean %.1f p95 %d; routing table %.1f; setup %.1fs lookups %.1fs",
		s.Nodes, s.MeanHops, s.P95Hops, s.MaxHops, s.MeanContacted, s.P95Contacted, s.MeanRoutingTable, s.SetupSecs, s.MeasureSecs)
}

// TestSeedFixesNetworkAndKeys checks that one seed gives the same node
// identities and lookup keys, and another seed different ones, and that Run
// leaves no goroutines behind.
func TestSeedFixesNetworkAndKeys(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	before := runtime.NumGoroutine()
	run := func(seed uint64) *Result {
		res, err := Run(ctx, Options{Nodes: 8, Seed: seed, Lookups: 5})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	a, b, c := run(7), run(7), run(8)
	for i := range a.Lookups {
		if a.Lookups[i].Origin != b.Lookups[i].Origin || a.Lookups[i].Key != b.Lookups[i].Key {
			t.Fatalf("seed 7 twice: lookup %d differs (%s/%x vs %s/%x)", i,
				a.Lookups[i].Origin, a.Lookups[i].Key, b.Lookups[i].Origin, b.Lookups[i].Key)
		}
	}
	if a.Lookups[0].Key == c.Lookups[0].Key {
		t.Fatal("seeds 7 and 8 gave the same first key")
	}
	if err := waitFor(ctx, time.Minute, func() bool { return runtime.NumGoroutine() <= before }); err != nil {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after three closed networks, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
	}
}

// TestOptionsRejected checks that bad options get a clear error.
func TestOptionsRejected(t *testing.T) {
	for _, o := range []Options{{Nodes: 1}, {Nodes: 4, Bootstrap: -1}, {Nodes: 4, Lookups: -2}, {Nodes: 4, RefreshRounds: -1}} {
		if _, err := Run(t.Context(), o); err == nil {
			t.Errorf("Run(%+v) succeeded, want an error", o)
		}
	}
}
