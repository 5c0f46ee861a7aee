package sim

import (
	"reflect"
	"testing"
)

// TestBalanceSmallNetwork places files on 200 nodes with varied pledges
// up to 60 % of the total pledge with the real placement rule: every put
// finds holders, no node holds more than its pledge, the fill ratios at
// 60 % have a coefficient of variation of at most 0.25 (the rule evens
// out free bytes, so by then the small nodes have caught up), and the
// same seed gives the same figures.
func TestBalanceSmallNetwork(t *testing.T) {
	o := BalanceOptions{Nodes: 200, Seed: 7, Fills: []float64{0.3, 0.6}}
	a, err := Balance(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Snapshots) != 2 {
		t.Fatalf("%d snapshots, want 2", len(a.Snapshots))
	}
	if a.FirstFailure != 0 {
		t.Fatalf("a put found too few holders at %.2f of the pledge stored", a.FirstFailure)
	}
	for _, s := range a.Snapshots {
		for i, n := range s.Nodes {
			if n.Held > n.Pledge {
				t.Fatalf("fill %.1f: node %d holds %d bytes of a %d-byte pledge", s.Target, i, n.Held, n.Pledge)
			}
		}
		t.Logf("fill %.2f: %d files, %d pieces; node fill mean %.3f p5 %.3f p50 %.3f p95 %.3f max %.3f cv %.2f gini %.2f; smallest tenth %.3f largest tenth %.3f",
			s.Stored, s.Files, s.Pieces, s.Fill.Mean, s.Fill.P5, s.Fill.P50, s.Fill.P95, s.Fill.Max, s.Fill.CV, s.Fill.Gini, s.Small, s.Large)
	}
	if last := a.Snapshots[1]; last.Fill.CV > 0.25 {
		t.Errorf("fill %.2f: coefficient of variation %.2f, want at most 0.25", last.Stored, last.Fill.CV)
	}
	b, err := Balance(o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with one seed differ")
	}
}
