package node

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/manifest"
)

// Answering implements repair.Network: the nodes a placement would use now
// (candidates: active, with room, answering).
func (r repairNet) Answering(ctx context.Context) (map[chain.Address]bool, error) {
	cands, err := r.n.candidates(ctx, [32]byte{})
	if err != nil {
		return nil, err
	}
	out := make(map[chain.Address]bool, len(cands))
	for _, c := range cands {
		out[c.rec.Address] = true
	}
	return out, nil
}

// PlaceAdded implements repair.Network for a raise of this node's own file
// f: each added parity piece goes to the best candidate not in its segment
// (avoid), other nodes before this one, pushed as an ordinary put of this
// node's (a fresh put id: the holder checks the owner's quota and signs a
// receipt naming this node's account, the owner, as chain.RaisePieces
// wants), with the file's manifest, so readers find it with the file's
// holders. A holder whose push fails is replaced by the next candidate; a
// refused receipt fails the raise, which is tried again later.
func (r repairNet) PlaceAdded(ctx context.Context, f *chain.File, pieces []storage.PieceInfo, avoid map[uint32]map[chain.Address]bool) ([]chain.Piece, []chain.Receipt, error) {
	n := r.n
	if f.Owner != n.addr {
		return nil, nil, fmt.Errorf("%w: file %s belongs to %s: only its owner raises it", ErrNotOwner, f.ID, f.Owner)
	}
	var putID [32]byte
	if _, err := rand.Read(putID[:]); err != nil {
		return nil, nil, err
	}
	cands, err := r.placeable(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	chosen, err := r.pushNew(ctx, f, cands, better, pieces, avoid, putID, "added")
	if err != nil {
		return nil, nil, err
	}
	out := make([]chain.Piece, len(pieces))
	for i, p := range pieces {
		out[i] = chain.Piece{Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: chosen[i].rec.Address, ID: chain.Hash(p.ID), Size: uint64(p.Size), Root: chain.Hash(p.Root), Leaves: p.Leaves}
	}
	tx := &chain.PlaceFile{FileID: f.ID, Pieces: out} // receipts() reads the file id and the pieces
	receipts, failed, err := n.receipts(ctx, tx, chosen, putID, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range chosen { // the first refusal, in piece order
		if err, ok := failed[c]; ok {
			return nil, nil, fmt.Errorf("receipt of new holder %s: %w", c.rec.Address, err)
		}
	}
	return out, receipts, nil
}

// widenManifest lists in m the parity pieces a raise added to file (its
// ledger record; chain.RaisePieces): the manifest, whose hash is the file
// id, names only the pieces of the put, so a raised file's manifest is
// widened to the ledger's M for a read to use every piece. The ledger's
// record must extend the manifest (same K, the manifest's pieces first in
// each segment), else m is returned as it is. Get checks every piece it
// reads against its id, so a wrong record can only make pieces unusable.
func widenManifest(m *manifest.Manifest, file *chain.File) *manifest.Manifest {
	if file == nil || uint64(file.K) != m.K || uint64(file.M) <= m.M {
		return m
	}
	width, old := int(file.K+file.M), int(m.K+m.M)
	if len(file.Pieces) != width*len(m.Segments) {
		return m
	}
	extra := make([][]manifest.Piece, len(m.Segments))
	for s, seg := range m.Segments {
		rec := file.Pieces[s*width : (s+1)*width]
		for i, p := range seg.Pieces {
			if rec[i].ID != chain.Hash(p.ID) {
				return m
			}
		}
		for _, p := range rec[old:] {
			extra[s] = append(extra[s], manifest.Piece{ID: p.ID, Size: p.Size, Root: p.Root, Leaves: p.Leaves})
		}
	}
	w, err := storage.Widen(m, int(file.M), extra)
	if err != nil {
		return m
	}
	return w
}
