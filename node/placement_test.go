package node

import (
	"errors"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
)

func testCandidates(free ...uint64) []*candidate {
	var out []*candidate
	for i, f := range free {
		c := &candidate{rec: chain.Node{Address: chain.Address{byte(i + 1)}}, free: f, rep: 0.5}
		c.tie[0] = byte(i)
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
	holders, err := place(cands, testPieces(3, 4, 100), 4)
	if err != nil {
		t.Fatal(err)
	}
	load := map[*candidate]int{}
	for s := range 3 {
		seen := map[*candidate]bool{}
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
			t.Fatalf("node %x holds %d pieces; 12 pieces over 6 nodes should be 2 each", c.rec.Address[:1], n)
		}
	}
}

func TestPlacementPrefersOtherNodesThenReputation(t *testing.T) {
	cands := testCandidates(1000, 1000, 1000)
	cands[0].self = true
	cands[1].rep = 0.9
	reputable, other := cands[1], cands[2]
	holders, err := place(cands, testPieces(1, 2, 100), 2)
	if err != nil {
		t.Fatal(err)
	}
	if holders[0] != reputable || holders[1] != other {
		t.Fatalf("placed on %x, %x; want the reputable other node, then the other", holders[0].rec.Address[:1], holders[1].rec.Address[:1])
	}
	if _, err := place(testCandidatesWithSelf(), testPieces(1, 3, 100), 3); err != nil {
		t.Fatalf("a small network should fall back to the uploader: %v", err)
	}
}

func testCandidatesWithSelf() []*candidate {
	c := testCandidates(1000, 1000, 1000)
	c[2].self = true
	return c
}

func TestPlacementRespectsFreeCapacity(t *testing.T) {
	cands := testCandidates(150, 1000, 1000)
	_, err := place(cands, testPieces(2, 3, 100), 3)
	if !errors.Is(err, ErrNoHolders) {
		t.Fatalf("error %v, want ErrNoHolders: the first node has room for one piece only", err)
	}
}

// TestPlacementBoundsPiecesPerHolder: no holder is given more pieces of a
// file than one receipt names; a file that needs more fails clearly,
// before anything is pushed.
func TestPlacementBoundsPiecesPerHolder(t *testing.T) {
	segs := maxPiecesPerHolder + 1
	holders, err := place(testCandidates(1<<40, 1<<40, 1<<40), testPieces(segs, 2, 10), 2)
	if err != nil {
		t.Fatalf("three nodes for %d segments of two pieces: %v", segs, err)
	}
	count := map[*candidate]int{}
	for _, h := range holders {
		count[h]++
	}
	for c, n := range count {
		if n > maxPiecesPerHolder {
			t.Fatalf("holder %s given %d pieces", c.rec.Address, n)
		}
	}
	_, err = place(testCandidates(1<<40, 1<<40), testPieces(segs, 2, 10), 2)
	if !errors.Is(err, ErrTooManyPieces) {
		t.Fatalf("two nodes for %d segments of two pieces: %v, want ErrTooManyPieces", segs, err)
	}
}
