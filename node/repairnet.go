package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/node/repair"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// repairNet is the node's side of repair (repair.Network): pieces come
// from the file's holders through the exchange (netSource), rebuilt ones
// go to the block store, pinned, and out to new holders as repair pushes
// (holder_repair.go).
type repairNet struct{ n *Node }

var _ repair.Network = repairNet{}

// Source implements repair.Network.
func (r repairNet) Source(ctx context.Context, f *chain.File) storage.PieceSource {
	return &netSource{n: r.n, file: f, fileID: blockstore.ID(f.ID)}
}

// Sink implements repair.Network: rebuilt pieces are pinned until Release,
// so the cache does not evict them before they are pushed.
func (r repairNet) Sink() storage.BlockSink { return storage.StoreSink(r.n.store, blockstore.Pinned) }

// Place implements repair.Network. Candidates are the active nodes with
// room that are not missing epochs while holding pieces (the ledger's
// rule) and not in the segment (avoid); for
// another owner's file this node comes first (it has the bytes, and
// holding them earns it quota: the repairer's reward), for its own file
// last (data should leave the machine). A holder whose push fails is
// replaced by the next candidate; a refused receipt fails the repair,
// which is tried again later.
func (r repairNet) Place(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Replacement, []chain.Receipt, error) {
	n := r.n
	cands, err := r.placeable(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	own := f.Owner == n.addr
	repairOrder := placement.RepairOrder(own)
	order := func(a, b *candidate) int { return repairOrder(&a.Candidate, &b.Candidate) }
	chosen, err := r.pushNew(ctx, f, cands, order, pieces, avoid, [32]byte(f.ID), "repaired")
	if err != nil {
		return nil, nil, err
	}
	reps := make([]chain.Replacement, len(pieces))
	for i, p := range pieces {
		reps[i] = chain.Replacement{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: chosen[i].rec.Address}
	}
	var holders []*candidate
	byHolder := map[*candidate][]chain.ReceiptPiece{}
	for i, c := range chosen {
		if _, ok := byHolder[c]; !ok {
			holders = append(holders, c)
		}
		p := pieces[i]
		byHolder[c] = append(byHolder[c], chain.ReceiptPiece{ID: chain.Hash(p.ID), Root: chain.Hash(p.Root), Size: uint64(p.Size), Leaves: p.Leaves})
	}
	receipts := make([]chain.Receipt, len(holders))
	for j, c := range holders {
		if c.Self {
			expires, err := receiptExpiry(ctx, n.lc)
			if err != nil {
				return nil, nil, err
			}
			receipts[j] = chain.SignReceipt(n.key, n.lc.ChainID(), f.ID, f.Owner, expires, byHolder[c])
			continue
		}
		if receipts[j], err = r.receiptFrom(ctx, f, c, byHolder[c]); err != nil {
			return nil, nil, fmt.Errorf("receipt of new holder %s: %w", c.rec.Address, err)
		}
	}
	return reps, receipts, nil
}

// receiptFrom asks new holder c for its receipt of repair-pushed pieces of
// f and checks it names f's owner.
func (r repairNet) receiptFrom(ctx context.Context, f *chain.File, c *candidate, pieces []chain.ReceiptPiece) (chain.Receipt, error) {
	if len(pieces) > exchange.MaxReceiptPieces {
		return chain.Receipt{}, fmt.Errorf("%w: holder %s would take %d pieces of the file, at most %d", ErrTooManyPieces, c.rec.Address, len(pieces), exchange.MaxReceiptPieces)
	}
	pub, err := p2p.PublicKeyFromPeerID(c.peer)
	if err != nil {
		return chain.Receipt{}, fmt.Errorf("holder %s: %w", c.rec.Address, err)
	}
	req := exchange.ReceiptRequest{Put: [32]byte(f.ID), File: [32]byte(f.ID), Pieces: make([]exchange.ReceiptPiece, len(pieces))}
	for i, p := range pieces {
		req.Pieces[i] = exchange.ReceiptPiece{Piece: exchange.PieceID(p.ID), Root: [32]byte(p.Root), Size: int64(p.Size)}
	}
	got, err := r.n.px.RequestReceipt(ctx, c.peer, req)
	if err != nil {
		return chain.Receipt{}, err
	}
	rc := chain.Receipt{PubKey: []byte(pub), Expires: got.Expires, Sig: got.Sig}
	if err := rc.Verify(r.n.lc.ChainID(), f.ID, f.Owner, c.rec.Address, pieces); err != nil {
		return chain.Receipt{}, err
	}
	return rc, nil
}

// pushManifest pushes f's manifest (encrypted: the repairer cannot read it,
// only forward it) to new holder c, so readers find it with the file's
// holders: from this node's store, else fetched from the file's holders.
func (r repairNet) pushManifest(ctx context.Context, f *chain.File, c *candidate) error {
	n := r.n
	id := blockstore.ID(f.ID)
	b, err := n.store.Get(ctx, id, maxManifestBlock)
	if err != nil {
		if b, err = r.fetchManifest(ctx, f); err != nil {
			return err
		}
	}
	return n.pushPiece(ctx, c, id, int64(len(b)), [32]byte(f.ID), nil)
}

// fetchManifest fetches f's manifest block from its holders (the exchange
// checks the bytes against the file id) into the cache.
func (r repairNet) fetchManifest(ctx context.Context, f *chain.File) ([]byte, error) {
	n := r.n
	var errs []error
	seen := map[chain.Address]bool{n.addr: true}
	for _, p := range f.Pieces {
		if seen[p.Holder] {
			continue
		}
		seen[p.Holder] = true
		id, err := n.holderPeer(ctx, p.Holder)
		if err != nil {
			continue
		}
		b, err := n.px.GetBytes(ctx, id, exchange.PieceID(f.ID))
		if err == nil && int64(len(b)) > maxManifestBlock {
			err = fmt.Errorf("manifest of %d bytes", len(b))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := n.store.PutExpect(ctx, blockstore.Cache, blockstore.ID(f.ID), bytesReader(b)); err != nil {
			return nil, err
		}
		return b, nil
	}
	return nil, fmt.Errorf("manifest of file %s unavailable from its holders: %w", f.ID, errors.Join(errs...))
}

// Release implements repair.Network: a rebuilt piece a recorded
// replacement gives to this node stays pinned (with the Levels Place
// wrote); the others move to the cache, unless this node holds the same
// block for another piece (copies share ids).
func (r repairNet) Release(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, replaced []chain.Replacement) {
	n := r.n
	keep := map[blockstore.ID]bool{}
	for i, rp := range replaced {
		if rp.Holder == n.addr && i < len(pieces) {
			keep[pieces[i].ID] = true
		}
	}
	held := map[blockstore.ID]bool{}
	if hs, err := n.lc.Pieces(ctx, n.addr); err == nil {
		for _, hp := range hs {
			held[blockstore.ID(hp.Piece.ID)] = true
		}
	} else {
		n.log.Warn("listing own pieces after a repair; keeping the rebuilt ones pinned", "err", err)
		return
	}
	for _, p := range pieces {
		switch {
		case keep[p.ID] || held[p.ID] || n.hold.isCredited(p.ID):
			// Kept pinned; pushPiece already wrote the Levels of a piece
			// placed on this node.
		default:
			if err := n.store.Unpin(ctx, p.ID); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
				n.log.Warn("unpinning a rebuilt piece", "piece", p.ID, "err", err)
			}
		}
	}
}

// placeable lists the nodes that may take new pieces of f: candidates
// (active, with room, answering) that are not missing epochs while holding
// pieces (the ledger's rule for new holders).
func (r repairNet) placeable(ctx context.Context, f *chain.File) ([]*candidate, error) {
	params, err := r.n.lc.Params(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ledger parameters: %w", err)
	}
	all, err := r.n.candidates(ctx, [32]byte(f.ID))
	if err != nil {
		return nil, err
	}
	var cands []*candidate
	for _, c := range all {
		if c.rec.MissedInRow < params.RepairAfterMissed || c.rec.Used == 0 {
			cands = append(cands, c)
		}
	}
	return cands, nil
}

// pushNew gives each of pieces a holder: the first of cands, in order,
// that has not been tried for it, is not in its segment (avoid, which it
// extends), has room and takes the push (as put putID); a holder whose push
// fails is replaced by the next. Each new holder also gets f's manifest, so
// readers find it with the file's holders. what names the pieces in logs
// and errors ("repaired", "added").
func (r repairNet) pushNew(ctx context.Context, f *chain.File, cands []*candidate, order func(a, b *candidate) int, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool, putID [32]byte, what string) ([]*candidate, error) {
	n := r.n
	gotManifest := map[*candidate]bool{}
	chosen := make([]*candidate, len(pieces))
	for i, p := range pieces {
		seg := uint32(p.Segment)
		tried := map[*candidate]bool{}
		for chosen[i] == nil {
			pick, ok := placement.Next(cands, order, func(c *candidate) bool { return tried[c] || avoid[seg][c.rec.Address] }, uint64(p.Size))
			if !ok {
				return nil, fmt.Errorf("%w: no node left to take %s piece %d/%d of file %s (%d bytes)", ErrNoHolders, what, p.Segment, p.Index, f.ID, p.Size)
			}
			tried[pick] = true
			if err := n.pushPiece(ctx, pick, p.ID, p.Size, putID, nil); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				n.log.Warn("push of a "+what+" piece failed; trying another holder", "piece", p.ID, "holder", pick.rec.Address, "err", err)
				continue
			}
			if !pick.Self && !gotManifest[pick] {
				gotManifest[pick] = true
				if err := r.pushManifest(ctx, f, pick); err != nil {
					n.log.Warn("pushing the manifest of a file with "+what+" pieces", "file", f.ID, "holder", pick.rec.Address, "err", err)
				}
			}
			pick.Take(uint64(p.Size))
			if avoid[seg] == nil {
				avoid[seg] = map[chain.Address]bool{}
			}
			avoid[seg][pick.rec.Address] = true
			chosen[i] = pick
		}
	}
	return chosen, nil
}
