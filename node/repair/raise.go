package repair

import (
	"context"
	"fmt"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// Raising. A file put on a network with fewer nodes than its k+m was
// stored with fewer parity pieces, and the ledger records the parity the
// owner asked (chain.File.AskedM). Each round the repairer raises the
// node's own such files as far as the ledger's nodes allow: every segment
// gains the same number of parity pieces (chain.RaisePieces sets one M for
// the file), each on an active node not yet named in that segment. The
// added pieces are computed from K pieces of the segment (storage.AddParity:
// the pieces already stored do not change), pushed to their new holders,
// receipted and recorded. A file with a repairable piece is repaired first.

// raiseStep is how many parity pieces each segment of f can gain now: the
// fewest active nodes, among those the ledger would take as new holders
// (and, if answering is not nil, answer now), that are not named in a
// segment, capped at what the owner asked. 0 if f is not this node's, is
// at its asked parity, or has a repairable piece.
func (r *Repairer) raiseStep(f *chain.File, v *view, answering map[chain.Address]bool) int {
	width := int(f.K + f.M)
	if f.Owner != r.self || !f.Raising() || width == 0 || len(f.Pieces) == 0 || len(f.Pieces)%width != 0 {
		return 0
	}
	for _, p := range f.Pieces {
		if chain.Repairable(v.params, v.lost[segKey{f.ID, p.Segment}][p.Index], v.nodes[p.Holder]) != "" {
			return 0 // repair first
		}
	}
	size := f.Pieces[0].Size // the first segment's pieces are the largest
	var usable []chain.Address
	for a, n := range v.nodes {
		if n.Status != chain.NodeActive || n.Free() < size || (a != r.self && len(n.Addrs) == 0) || (answering != nil && !answering[a]) {
			continue
		}
		if p := v.params.RepairAfterMissed; p > 0 && n.MissedInRow >= p && n.Used > 0 {
			continue
		}
		usable = append(usable, a)
	}
	step := int(f.AskedM - f.M)
	for s := 0; s < len(f.Pieces)/width && step > 0; s++ {
		named := map[chain.Address]bool{}
		for _, p := range f.Pieces[s*width : (s+1)*width] {
			named[p.Holder] = true
		}
		free := 0
		for _, a := range usable {
			if !named[a] {
				free++
			}
		}
		step = min(step, free)
	}
	return step
}

// quotaAllows reports whether the owner's quota covers adding step parity
// pieces to every segment of f (the ledger refuses the raise otherwise, so
// nothing is computed or pushed); it logs once per file when it does not.
func (r *Repairer) quotaAllows(ctx context.Context, f *chain.File, step int) (bool, error) {
	width := int(f.K + f.M)
	var need uint64
	for s := 0; s < len(f.Pieces)/width; s++ {
		need += uint64(step) * f.Pieces[s*width].Size
	}
	a, err := r.lc.Account(ctx, r.self)
	if err != nil {
		return false, fmt.Errorf("reading the account's quota: %w", err)
	}
	if a.QuotaUsed <= a.QuotaLimit && need <= a.QuotaLimit-a.QuotaUsed {
		delete(r.short, f.ID)
		return true, nil
	}
	if !r.short[f.ID] {
		r.short[f.ID] = true
		r.log.Warn("not raising a file: the quota left does not cover its added pieces", "file", f.ID, "m", f.M, "asked_m", f.AskedM,
			"needs", need, "quota_used", a.QuotaUsed, "quota_limit", a.QuotaLimit)
	}
	return false, nil
}

// raise adds step parity pieces to every segment of f and records them
// with one RaisePieces.
func (r *Repairer) raise(ctx context.Context, f *chain.File, step int, v *view) error {
	t0 := time.Now()
	width := int(f.K + f.M)
	m2 := int(f.M) + step
	src := r.net.Source(ctx, f)
	var added []storage.PieceInfo
	avoid := map[uint32]map[chain.Address]bool{}
	var placed []chain.Piece
	committed := false
	defer func() {
		if len(added) == 0 {
			return
		}
		var kept []chain.Replacement
		if committed {
			for _, p := range placed {
				kept = append(kept, chain.Replacement{Segment: p.Segment, Index: p.Index, Holder: p.Holder})
			}
		}
		r.net.Release(context.WithoutCancel(ctx), f, added, kept)
	}()
	for s := 0; s < len(f.Pieces)/width; s++ {
		seg := f.Pieces[s*width : (s+1)*width]
		l := storage.SegmentLayout{K: int(f.K), M: int(f.M)}
		avoid[uint32(s)] = map[chain.Address]bool{}
		for _, p := range seg {
			l.Pieces = append(l.Pieces, storage.PieceRef{FileID: blockstore.ID(f.ID), Segment: s, Index: int(p.Index), ID: blockstore.ID(p.ID), Size: int64(p.Size)})
			avoid[uint32(s)][p.Holder] = true
		}
		got, err := storage.AddParity(ctx, l, src, r.net.Sink(), m2)
		added = append(added, got...)
		if err != nil {
			return fmt.Errorf("computing parity of segment %d: %w", s, err)
		}
	}
	tCoded := time.Now()
	placed, receipts, err := r.net.PlaceAdded(ctx, f, added, avoid)
	if err != nil {
		return fmt.Errorf("placing added pieces: %w", err)
	}
	if _, err := r.lc.BroadcastCommit(ctx, &chain.RaisePieces{FileID: f.ID, M: uint32(m2), Pieces: placed, Receipts: receipts}); err != nil {
		return fmt.Errorf("recording the raise: %w", err)
	}
	committed = true
	r.mu.Lock()
	r.raised += uint64(len(placed))
	r.mu.Unlock()
	r.log.Info("raised a file towards its asked redundancy", "file", f.ID, "k", f.K, "m_from", f.M, "m_to", m2, "asked_m", f.AskedM,
		"pieces", len(placed), "epoch", v.epoch, "code", tCoded.Sub(t0).Round(time.Millisecond), "place_and_record", time.Since(tCoded).Round(time.Millisecond))
	return nil
}

// Raised is the number of pieces this node's raises added so far.
func (r *Repairer) Raised() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.raised
}
