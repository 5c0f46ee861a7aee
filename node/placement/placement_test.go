package placement

import (
	"errors"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
)

func testCandidates(free ...uint64) []*Candidate {
	var out []*Candidate
	for i, f := range free {
		c := &Candidate{Address: chain.Address{byte(i + 1)}, Free: f, Rep: 0.5}
		c.Tie[0] = byte(i)
		out = append(out, c)
	}
	return out
}

func testPieces(segments, width int, size int64) []storage.PieceInfo {
	var out []storage.PieceInfo
	for s := range segments {
		for i := range width {
			out = append(out, storage.PieceInfo{PieceRef: storage.PieceRef{Segment: s, Index: i, Size: size}})
		}
	}
	return out
}

func TestPlacementPutsASegmentOnDistinctNodesAndSpreadsFiles(t *testing.T) {
	cands := testCandidates(1000, 1000, 1000, 1000, 1000, 1000)
	holders, err := Place(cands, testPieces(3, 4, 100), 4)
	if err != nil {
		t.Fatal(err)
	}
	load := map[*Candidate]int{}
	for s := range 3 {
		seen := map[*Candidate]bool{}
		for _, h := range holders[s*4 : s*4+4] {
			if seen[h] {
				t.Fatalf("segment %d has a node twice", s)
			}
			seen[h] = true
			load[h]++
		}
	}
	for c, n := range load {
		if n != 2 {
			t.Fatalf("node %x holds %d pieces; 12 pieces over 6 nodes should be 2 each", c.Address[:1], n)
		}
	}
}

func TestPlacementPrefersOtherNodesThenReputation(t *testing.T) {
	cands := testCandidates(1000, 1000, 1000)
	cands[0].Self = true
	cands[1].Rep = 0.9
	reputable, other := cands[1], cands[2]
	holders, err := Place(cands, testPieces(1, 2, 100), 2)
	if err != nil {
		t.Fatal(err)
	}
	if holders[0] != reputable || holders[1] != other {
		t.Fatalf("placed on %x, %x; want the reputable other node, then the other", holders[0].Address[:1], holders[1].Address[:1])
	}
	if _, err := Place(testCandidatesWithSelf(), testPieces(1, 3, 100), 3); err != nil {
		t.Fatalf("a small network should fall back to the uploader: %v", err)
	}
}

func testCandidatesWithSelf() []*Candidate {
	c := testCandidates(1000, 1000, 1000)
	c[2].Self = true
	return c
}

func TestPlacementRespectsFreeCapacity(t *testing.T) {
	cands := testCandidates(150, 1000, 1000)
	_, err := Place(cands, testPieces(2, 3, 100), 3)
	if !errors.Is(err, ErrNoHolders) {
		t.Fatalf("error %v, want ErrNoHolders: the first node has room for one piece only", err)
	}
}

// TestPlacementBoundsPiecesPerHolder: no holder is given more pieces of a
// file than one receipt names; a file that needs more fails clearly,
// before anything is pushed.
func TestPlacementBoundsPiecesPerHolder(t *testing.T) {
	segs := MaxPiecesPerHolder + 1
	holders, err := Place(testCandidates(1<<40, 1<<40, 1<<40), testPieces(segs, 2, 10), 2)
	if err != nil {
		t.Fatalf("three nodes for %d segments of two pieces: %v", segs, err)
	}
	count := map[*Candidate]int{}
	for _, h := range holders {
		count[h]++
	}
	for c, n := range count {
		if n > MaxPiecesPerHolder {
			t.Fatalf("holder %s given %d pieces", c.Address, n)
		}
	}
	_, err = Place(testCandidates(1<<40, 1<<40), testPieces(segs, 2, 10), 2)
	if !errors.Is(err, ErrTooManyPieces) {
		t.Fatalf("two nodes for %d segments of two pieces: %v, want ErrTooManyPieces", segs, err)
	}
}

// TestNextSkipsRuledOutAndFullCandidates: Next returns the best candidate
// in the given order that is neither ruled out nor without room, and
// charges nothing.
func TestNextSkipsRuledOutAndFullCandidates(t *testing.T) {
	cands := testCandidates(50, 1000, 900, 800)
	ruledOut, want := cands[1], cands[2] // the most free, the next
	order := func(a, b *Candidate) int { return Better(a, b) }
	pick, ok := Next(cands, order, func(c *Candidate) bool { return c == ruledOut }, 100)
	if !ok || pick != want {
		t.Fatalf("picked %v (ok %v), want the node with 900 free", pick, ok)
	}
	if pick.Free != 900 || pick.Pieces != 0 {
		t.Fatalf("Next charged the pick: free %d pieces %d", pick.Free, pick.Pieces)
	}
	if _, ok := Next(cands, order, func(*Candidate) bool { return false }, 2000); ok {
		t.Fatal("Next found a node with room for 2000 bytes; none has")
	}
}

// TestRepairOrderPutsTheRepairerFirstForOthersFiles: the repairing node
// (Self) keeps another owner's rebuilt pieces first, and its own file's
// last.
func TestRepairOrderPutsTheRepairerFirstForOthersFiles(t *testing.T) {
	cands := testCandidates(100, 1000)
	cands[0].Self = true
	if RepairOrder(false)(cands[0], cands[1]) >= 0 {
		t.Fatal("another owner's file: the repairer should come first")
	}
	if RepairOrder(true)(cands[0], cands[1]) <= 0 {
		t.Fatal("own file: the repairer should come last")
	}
}

// TestPlacementFillsInProportionToPledges: a node with the larger share
// of its pledge free comes first even with fewer free bytes, so a small
// pledge is not left empty while a large one fills.
func TestPlacementFillsInProportionToPledges(t *testing.T) {
	big := &Candidate{Address: chain.Address{1}, Capacity: 1000, Free: 500, Rep: 1}
	small := &Candidate{Address: chain.Address{2}, Capacity: 100, Free: 90, Rep: 1}
	if Better(small, big) >= 0 || Better(big, small) <= 0 {
		t.Fatal("the node with 90 % of its pledge free should come before the one with 50 %")
	}
	// Equal shares: more free bytes first.
	small.Free = 50
	if Better(big, small) >= 0 {
		t.Fatal("at equal shares free, the node with more free bytes should come first")
	}
	// Over many puts, pieces per node follow the pledges.
	nodes := []*Candidate{
		{Address: chain.Address{1}, Capacity: 40_000, Free: 40_000, Rep: 1},
		{Address: chain.Address{2}, Capacity: 10_000, Free: 10_000, Rep: 1},
		{Address: chain.Address{3}, Capacity: 10_000, Free: 10_000, Rep: 1},
		{Address: chain.Address{4}, Capacity: 20_000, Free: 20_000, Rep: 1},
	}
	for f := range 200 {
		cands := make([]*Candidate, len(nodes))
		for i, n := range nodes {
			c := *n
			c.Assigned, c.Pieces = 0, 0
			c.Tie[0] = byte(f + i)
			cands[i] = &c
		}
		holders, err := Place(cands, testPieces(1, 2, 100), 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range holders {
			nodes[h.Address[0]-1].Free -= 100
		}
	}
	for _, n := range nodes {
		used := float64(n.Capacity-n.Free) / float64(n.Capacity)
		if used < 0.45 || used > 0.55 {
			t.Fatalf("node %d (pledge %d) is %.2f full after half the total pledge was placed; want about 0.5", n.Address[0], n.Capacity, used)
		}
	}
}
