package node

import (
	"errors"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/storage"
)

// TestPlaceErrorsMatchTheNodeSentinels: the node's place reports
// placement's shortages as ErrNoHolders and ErrTooManyPieces, which the
// API maps to its status codes.
func TestPlaceErrorsMatchTheNodeSentinels(t *testing.T) {
	cands := func(free ...uint64) []*candidate {
		var out []*candidate
		for i, f := range free {
			rec := chain.Node{Address: chain.Address{byte(i + 1)}, Pledge: f, Status: chain.NodeActive}
			out = append(out, &candidate{Candidate: placement.New(&rec, false, [32]byte{}), rec: rec})
		}
		return out
	}
	pieces := func(segments, width int, size int64) []storage.PieceInfo {
		var out []storage.PieceInfo
		for s := range segments {
			for i := range width {
				out = append(out, storage.PieceInfo{PieceRef: storage.PieceRef{Segment: s, Index: i, Size: size}})
			}
		}
		return out
	}
	holders, err := place(cands(1000, 1000, 1000), pieces(2, 3, 100), 3)
	if err != nil || len(holders) != 6 {
		t.Fatalf("three nodes for two segments of three pieces: %d holders, %v", len(holders), err)
	}
	if _, err := place(cands(150, 1000, 1000), pieces(2, 3, 100), 3); !errors.Is(err, ErrNoHolders) || !errors.Is(err, placement.ErrNoHolders) {
		t.Fatalf("error %v, want ErrNoHolders", err)
	}
	segs := maxPiecesPerHolder + 1
	if _, err := place(cands(1<<40, 1<<40), pieces(segs, 2, 10), 2); !errors.Is(err, ErrTooManyPieces) {
		t.Fatalf("error %v, want ErrTooManyPieces", err)
	}
}
