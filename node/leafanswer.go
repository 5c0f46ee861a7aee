package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

var _ exchange.LeafAnswerer = (*holder)(nil)

// AnswerLeaf implements exchange.LeafAnswerer: it proves leaf r.Leaf of the
// stored piece r.Piece (with its kept Levels when they belong to r.Root,
// else by reading the whole piece) and signs the answer (chain.LeafAnswer)
// with the node's key.
//
// A signed wrong answer is evidence against this node (chain.ReportFault),
// so it signs only a proof that leads to r.Root: a piece it does not store,
// or whose bytes no longer match the root the auditor names, is refused
// (ErrNotFound) unsigned. A refusal costs the node nothing on the ledger
// (its own challenges and scrub find the loss); a wrong root named by the
// auditor cannot make it sign anything.
func (h *holder) AnswerLeaf(ctx context.Context, r exchange.LeafRequest) (exchange.LeafAnswer, error) {
	rd, err := h.store.Open(ctx, blockstore.ID(r.Piece))
	if errors.Is(err, blockstore.ErrNotFound) {
		return exchange.LeafAnswer{}, fmt.Errorf("%w: piece %s is not stored here", exchange.ErrNotFound, r.Piece)
	}
	if err != nil {
		return exchange.LeafAnswer{}, err
	}
	defer rd.Close()
	size := rd.Size()
	if leaves := proofs.LeafCount(size); r.Leaf >= leaves {
		return exchange.LeafAnswer{}, fmt.Errorf("%w: leaf %d of a piece of %d leaves", exchange.ErrMalformed, r.Leaf, leaves)
	}
	root := proofs.Hash(r.Root)
	var pr *proofs.Proof
	if h.levels != nil {
		if lv, err := h.levels.Levels(chain.Hash(r.Piece)); err == nil && lv.Check(root) == nil {
			if pr, err = proofs.ProveWithLevels(rd, size, r.Leaf, lv); err != nil {
				pr = nil
			}
		}
	}
	if pr == nil {
		if pr, err = proofs.ProveAt(rd, size, r.Leaf); err != nil {
			return exchange.LeafAnswer{}, fmt.Errorf("proving leaf %d of piece %s: %w", r.Leaf, r.Piece, err)
		}
	}
	if err := proofs.Verify(root, pr); err != nil {
		h.log.Warn("a leaf request names a root this piece's bytes do not lead to; not signing", "piece", r.Piece, "root", root, "err", err)
		return exchange.LeafAnswer{}, fmt.Errorf("%w: piece %s cannot be proved against root %s", exchange.ErrNotFound, r.Piece, root)
	}
	raw, err := pr.MarshalBinary()
	if err != nil {
		return exchange.LeafAnswer{}, err
	}
	a := chain.LeafAnswer{File: chain.Hash(r.File), Segment: r.Segment, Index: r.Index, Piece: chain.Hash(r.Piece), Leaf: r.Leaf, Proof: raw}
	a.Sign(h.key, h.lc.ChainID())
	return exchange.LeafAnswer{Proof: raw, PubKey: a.PubKey, Sig: a.Sig}, nil
}
