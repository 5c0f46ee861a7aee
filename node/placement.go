package node

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/storage"
)

// maxPiecesPerHolder bounds the pieces of one file a holder is given: its
// receipt must name them all in one exchange message.
const maxPiecesPerHolder = exchange.MaxReceiptPieces

// candidate is a node that may hold pieces of a put.
type candidate struct {
	rec      chain.Node
	peer     peer.ID
	self     bool
	free     uint64 // pledged capacity left, minus what this put assigned
	assigned uint64 // bytes of this put assigned to it
	pieces   int    // pieces of this put assigned to it
	rep      float64
	tie      [32]byte // per-file tie-break, spreading files over equal nodes
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
		c := &candidate{rec: rec, peer: id, self: self, free: rec.Free()}
		c.rep = float64(chain.AuditScore(&rec)) / 1000
		c.tie = sha256.Sum256(append(fileID[:], rec.Address[:]...))
		out = append(out, c)
	}
	return n.answering(ctx, out), nil
}

// better orders candidates for the next piece: other nodes before this one
// (data should leave the machine), then those given least of this file so
// far (spread), then higher reputation, then more free capacity, then a
// per-file pseudo-random order.
func better(a, b *candidate) int {
	if a.self != b.self {
		if b.self {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(a.assigned, b.assigned); c != 0 {
		return c
	}
	if c := cmp.Compare(b.rep, a.rep); c != 0 {
		return c
	}
	if c := cmp.Compare(b.free, a.free); c != 0 {
		return c
	}
	return slices.Compare(a.tie[:], b.tie[:])
}

// place assigns a holder to every piece: the K+M pieces of a segment go to
// distinct nodes with room for them. It returns one candidate per piece;
// it reorders cands and charges each pick's free capacity.
func place(cands []*candidate, pieces []storage.PieceInfo, n int) ([]*candidate, error) {
	out := make([]*candidate, len(pieces))
	for start := 0; start < len(pieces); start += n {
		seg := pieces[start : start+n]
		used := make(map[*candidate]bool, n)
		for i, p := range seg {
			slices.SortStableFunc(cands, better)
			var pick *candidate
			full := 0
			for _, c := range cands {
				if !used[c] && c.free >= uint64(p.Size) {
					if c.pieces >= maxPiecesPerHolder {
						full++
						continue
					}
					pick = c
					break
				}
			}
			if pick == nil && full > 0 {
				return nil, fmt.Errorf("%w: segment %d needs %d distinct nodes, and %d of those with room already hold %d pieces of the file, the most one receipt covers (use larger segments or more nodes)",
					ErrTooManyPieces, p.Segment, n, full, maxPiecesPerHolder)
			}
			if pick == nil {
				return nil, fmt.Errorf("%w: segment %d needs %d distinct nodes with %d bytes free each; the ledger lists %d usable", ErrNoHolders, p.Segment, n, p.Size, countFree(cands, uint64(p.Size)))
			}
			used[pick] = true
			pick.free -= uint64(p.Size)
			pick.assigned += uint64(p.Size)
			pick.pieces++
			out[start+i] = pick
		}
	}
	return out, nil
}

func countFree(cands []*candidate, size uint64) int {
	k := 0
	for _, c := range cands {
		if c.free >= size {
			k++
		}
	}
	return k
}
