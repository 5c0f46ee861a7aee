package chain

import "testing"

// TestBlockRulesSeeEveryNodeAtEpochStart registers nodes, then checks that
// a block rule scanning the working tree at an epoch boundary sees them all
// (the hook the proofs rules use to settle uptime).
func TestBlockRulesSeeEveryNodeAtEpochStart(t *testing.T) {
	f := newFixture(t)
	var seen []Address
	var epochs []uint64
	blockRules = append(blockRules, func(b *blockCtx) error {
		if b.newEpoch == nil {
			return nil
		}
		epochs = append(epochs, b.newEpoch.Number)
		seen = seen[:0]
		return b.scanAll([]byte(prefixNode), func(_, v []byte) error {
			var n Node
			if err := Unmarshal(v, &n); err != nil {
				return err
			}
			seen = append(seen, n.Address)
			return nil
		})
	})
	t.Cleanup(func() { blockRules = blockRules[:len(blockRules)-1] })
	for range 10 {
		f.block()
	}
	if len(epochs) != 1 || epochs[0] != 1 || len(seen) != 2 {
		t.Fatalf("epochs %v, nodes seen %v", epochs, seen)
	}
}
