package sim

import (
	"reflect"
	"testing"

	"github.com/coop-network/coop/chain"
)

// TestChurnSmallNetwork runs a short churn on 200 nodes at the default
// redundancy (k = 4, m = 2) with the ledger's and the repairer's defaults,
// 10 % of the nodes leaving and joining per epoch for 6 epochs, and checks
// the run against its final state: a file counts as lost exactly when a
// segment has fewer than K pieces on online nodes, repairs keep a
// segment's pieces on distinct nodes and no online node over its pledge,
// repairs moved pieces, and the same seed gives the same figures. (It does
// not assert that no file is lost: with coop's placement rule some are, see
// docs/scale.md.)
func TestChurnSmallNetwork(t *testing.T) {
	o := ChurnOptions{Nodes: 200, Seed: 3, Epochs: 6, Rate: 0.1, Fill: 0.2}
	a, n, err := runChurn(o)
	if err != nil {
		t.Fatal(err)
	}
	var moved int
	for _, e := range a.Epochs {
		moved += e.Pieces
		t.Logf("epoch %d: online %d, left %d, repaired %d segments (%d pieces), traffic %.4f of %d stored, waiting %d, failed %d, lost %d",
			e.Epoch, e.Online, e.Left, e.Segments, e.Pieces, e.Traffic(), e.Stored, e.Waiting, e.Failed, e.LostFiles)
	}
	if a.K != 4 || a.M != 2 || a.RepairAfterMissed != chain.DefaultParams().RepairAfterMissed {
		t.Fatalf("ran at k=%d m=%d repair after %d, want the defaults", a.K, a.M, a.RepairAfterMissed)
	}
	if moved == 0 {
		t.Fatal("no piece was repaired though nodes left")
	}
	online := map[chain.Address]bool{}
	for _, sn := range n.nodes {
		online[sn.rec.Address] = sn.online
		if sn.online && sn.rec.Used > sn.rec.Pledge {
			t.Errorf("node %s holds %d bytes of a %d-byte pledge", sn.rec.Address, sn.rec.Used, sn.rec.Pledge)
		}
	}
	lost := 0
	for _, f := range n.files {
		width := int(f.f.K + f.f.M)
		short := false
		for s := 0; s < len(f.f.Pieces)/width; s++ {
			seen := map[chain.Address]bool{}
			on := 0
			for _, p := range f.f.Pieces[s*width : (s+1)*width] {
				if seen[p.Holder] {
					t.Fatalf("file %d segment %d has two pieces on %s", f.idx, s, p.Holder)
				}
				seen[p.Holder] = true
				if online[p.Holder] {
					on++
				}
			}
			short = short || on < int(f.f.K)
		}
		if short != f.lost {
			t.Fatalf("file %d: counted lost %v, but a segment below K online is %v", f.idx, f.lost, short)
		}
		if f.lost {
			lost++
		}
	}
	if lost != a.Lost() {
		t.Fatalf("%d files below K, the run reports %d lost", lost, a.Lost())
	}
	b, err := Churn(o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with one seed differ")
	}
}
