package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/storage"
)

// maxPiecesPerHolder bounds the pieces of one file a holder is given: its
// receipt must name them all in one exchange message.
const maxPiecesPerHolder = placement.MaxPiecesPerHolder

// candidate is a node that may hold pieces of a put: its placement
// accounting (package placement) and what pushing to it needs.
type candidate struct {
	placement.Candidate
	rec  chain.Node
	peer peer.ID
}

// candidates lists active nodes that could hold pieces, with their peers
// added to the peerstore, leaving out those that do not answer now
// (answering).
func (n *Node) candidates(ctx context.Context, fileID [32]byte) ([]*candidate, error) {
	nodes, err := n.lc.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing nodes on the ledger: %w", err)
	}
	var out []*candidate
	for i := range nodes {
		rec := nodes[i]
		if rec.Status != chain.NodeActive || rec.Free() == 0 {
			continue
		}
		self := rec.Address == n.addr
		if !self && len(rec.Addrs) == 0 {
			continue
		}
		id, err := n.peerOf(&rec)
		if err != nil {
			n.log.Debug("skipping a ledger node with a bad peer id", "node", rec.Address, "err", err)
			continue
		}
		if !self && len(n.host.Libp2p().Peerstore().Addrs(id)) == 0 {
			n.log.Debug("skipping a ledger node with no usable address", "node", rec.Address)
			continue
		}
		out = append(out, &candidate{Candidate: placement.New(&rec, self, fileID), rec: rec, peer: id})
	}
	return n.answering(ctx, out), nil
}

// better orders candidates for the next piece (placement.Better).
func better(a, b *candidate) int { return placement.Better(&a.Candidate, &b.Candidate) }

// place assigns a holder to every piece (placement.Place): the K+M pieces
// of a segment go to distinct nodes with room for them. It returns one
// candidate per piece; it reorders cands and charges each pick's free
// capacity. Errors match ErrNoHolders or ErrTooManyPieces.
func place(cands []*candidate, pieces []storage.PieceInfo, n int) ([]*candidate, error) {
	out, err := placement.Place(cands, pieces, n)
	switch {
	case errors.Is(err, placement.ErrTooManyPieces):
		return nil, fmt.Errorf("%w: %w", ErrTooManyPieces, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrNoHolders, err)
	}
	return out, nil
}
