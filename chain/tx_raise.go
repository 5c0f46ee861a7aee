package chain

import (
	"fmt"
	"slices"
)

// TypeRaisePieces is the type of RaisePieces transactions.
const TypeRaisePieces = "raise_pieces"

// RaisePieces raises a file stored below the redundancy its owner asked
// (PlaceFile.AskedM: the network had too few nodes) towards it: it adds
// parity pieces to every segment, taking the file from M to M parity
// pieces per segment (File.M < M ≤ File.AskedM).
//
// Reed–Solomon as storage codes it gives parity piece i of a segment the
// same bytes for any number of parity pieces above i (storage.AddParity),
// so raising only adds pieces K+File.M … K+M−1 to each segment; the
// existing pieces, their ids and their holders do not change. With K = 1
// the added pieces are further copies.
//
// Only the owner may raise (ErrUnauthorized): it is charged for the added
// bytes, as a placement is. Pieces lists the added pieces segment by
// segment, each segment's in index order (Segment and Index as they will
// be in the file), every one of the size of its segment's pieces, with
// ceil(Size / LeafSize) Leaves and its id binding its root and size
// (proofs.ID, as in PlaceFile); with K = 1 each is a copy: the id and root
// of its segment's piece 0. The ledger cannot recompute parity, so as in
// PlaceFile the evidence is the new holders' receipts and, after, their
// proofs: each new holder must be a registered, active node that is not
// missing RepairAfterMissed epochs in a row while holding pieces, must not
// be named in the segment already (holding a piece of it or having lost
// one: ErrDuplicateHolder), must have the free pledged capacity
// (ErrNoCapacity) and must sign one Receipt over its added pieces in this
// tx's order, for this chain, the file id and the owner (ErrBadReceipt,
// ErrReceiptExpired), one receipt per distinct new holder in order of first
// appearance. The owner's quota must cover the added bytes
// (ErrQuotaExceeded).
//
// The rule inserts the pieces into File.Pieces (which stays segment by
// segment, K+M per segment), sets File.M and grows File.Bytes, writes the
// hold/ entries and credits the holders as PlaceFile does.
type RaisePieces struct {
	FileID   Hash      `cbor:"file_id"`
	M        uint32    `cbor:"m"`
	Pieces   []Piece   `cbor:"pieces"`
	Receipts []Receipt `cbor:"receipts"`
}

// TxType implements Body.
func (*RaisePieces) TxType() string { return TypeRaisePieces }

func applyRaisePieces(x *execCtx, b *RaisePieces) error {
	var f File
	found, err := getValue(x.st, fileKey(b.FileID), &f)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: file %s", ErrNotFound, b.FileID)
	}
	if f.Owner != x.signer {
		return fmt.Errorf("%w: file %s belongs to %s, not %s", ErrUnauthorized, f.ID, f.Owner, x.signer)
	}
	if b.M <= f.M || b.M > f.AskedM {
		return fmt.Errorf("%w: file %s has m=%d and asked m=%d: it may be raised to m=%d…%d, not %d", ErrInvalid, f.ID, f.M, f.AskedM, f.M+1, f.AskedM, b.M)
	}
	width := uint64(f.K) + uint64(f.M)
	segs := uint64(len(f.Pieces)) / width
	add := uint64(b.M - f.M)
	if segs == 0 || uint64(len(b.Pieces)) != segs*add {
		return fmt.Errorf("%w: %d pieces to add, file %s has %d segments gaining %d each", ErrInvalid, len(b.Pieces), f.ID, segs, add)
	}

	nodes := make(map[Address]*Node)
	var order []Address // nodes touched, in first-seen order, for deterministic writes
	var holders []Address
	pieces := make(map[Address][]ReceiptPiece)
	var total uint64
	var epoch *Epoch
	named := map[Address]bool{}
	for i := range b.Pieces {
		p := &b.Pieces[i]
		s, j := uint64(i)/add, uint64(i)%add
		seg := f.Pieces[s*width : (s+1)*width]
		if want := uint32(width + j); p.Segment != uint32(s) || p.Index != want {
			return fmt.Errorf("%w: added piece %d is %d/%d, want %d/%d", ErrInvalid, i, p.Segment, p.Index, s, want)
		}
		if p.Size != seg[0].Size || p.Leaves != leafCount(p.Size) {
			return fmt.Errorf("%w: added piece %d/%d has %d bytes and %d leaves, the segment's pieces %d bytes and %d leaves", ErrInvalid, p.Segment, p.Index, p.Size, p.Leaves, seg[0].Size, seg[0].Leaves)
		}
		if err := checkPieceRoot(p); err != nil {
			return err
		}
		if f.K == 1 && (p.ID != seg[0].ID || p.Root != seg[0].Root) {
			return fmt.Errorf("%w: added piece %d/%d of a file of copies (k=1) is not a copy of piece %d/0", ErrInvalid, p.Segment, p.Index, p.Segment)
		}
		if j == 0 {
			clear(named)
			for _, q := range seg {
				named[q.Holder] = true
			}
		}
		if named[p.Holder] {
			// As in ReplacePieces: a node named in the segment holds a
			// piece of it, or lost one (and its old receipts must not
			// credit it again).
			return fmt.Errorf("%w: holder %s is already named in segment %d", ErrDuplicateHolder, p.Holder, s)
		}
		named[p.Holder] = true
		n, ok := nodes[p.Holder]
		if !ok {
			var found bool
			if n, found, err = x.loadNode(p.Holder); err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("%w: piece %d/%d names holder %s", ErrHolderNotRegistered, p.Segment, p.Index, p.Holder)
			}
			nodes[p.Holder] = n
			order = append(order, p.Holder)
		}
		if n.Status != NodeActive {
			return fmt.Errorf("%w: holder %s is %s", ErrHolderUnavailable, p.Holder, n.Status)
		}
		if x.params.RepairAfterMissed > 0 && n.MissedInRow >= x.params.RepairAfterMissed && n.Used > 0 {
			return fmt.Errorf("%w: holder %s missed its last %d epochs", ErrHolderUnavailable, p.Holder, n.MissedInRow)
		}
		if err := x.takeNewPiece(n, p.Holder, p.Segment, p.Index, p.Size, &epoch); err != nil {
			return err
		}
		if p.Holder != f.Owner {
			n.HeldForOthers += p.Size // ≤ Used
		}
		if _, ok := pieces[p.Holder]; !ok {
			holders = append(holders, p.Holder)
		}
		pieces[p.Holder] = append(pieces[p.Holder], ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
		if total, ok = addUint64(total, p.Size); !ok {
			return fmt.Errorf("%w: piece sizes add up past 2^64-1", ErrOverflow)
		}
	}

	owner := x.account
	ownerNode, _, err := x.loadNode(owner.Address)
	if err != nil {
		return err
	}
	limit := QuotaLimit(x.params, owner, ownerNode)
	used, ok := addUint64(owner.QuotaUsed, total)
	if !ok || used > limit {
		return fmt.Errorf("%w: %s uses %d of %d bytes, raising file %s needs %d more", ErrQuotaExceeded, owner.Address, owner.QuotaUsed, limit, f.ID, total)
	}
	fileBytes, ok := addUint64(f.Bytes, total)
	if !ok {
		return fmt.Errorf("%w: file bytes past 2^64-1", ErrOverflow)
	}
	if err := checkReplaceReceipts(x, b.Receipts, &f, holders, pieces); err != nil {
		return err
	}
	owner.QuotaUsed = used

	all := make([]Piece, 0, uint64(len(f.Pieces))+uint64(len(b.Pieces)))
	for s := uint64(0); s < segs; s++ {
		all = append(all, f.Pieces[s*width:(s+1)*width]...)
		all = append(all, b.Pieces[s*add:(s+1)*add]...)
	}
	f.Pieces, f.M, f.Bytes = all, b.M, fileBytes
	if err := setValue(x.st, fileKey(f.ID), &f); err != nil {
		return err
	}
	if err := setValue(x.st, ownedKey(f.Owner, f.ID), f.Bytes); err != nil {
		return err
	}
	for _, p := range b.Pieces {
		if err := setValue(x.st, heldKey(p.Holder, f.ID, p.Segment, p.Index), &HeldPiece{File: f.ID, Piece: p}); err != nil {
			return err
		}
	}
	for _, a := range order {
		if err := setValue(x.st, nodeKey(a), nodes[a]); err != nil {
			return err
		}
	}
	// The new holders earned quota: those in debt repay what is now backed.
	if err := repayDebts(x, ownerFirst(owner.Address, slices.Clone(holders))); err != nil {
		return fmt.Errorf("raising file %s: %w", f.ID, err)
	}
	return nil
}
