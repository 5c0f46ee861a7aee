package chain

import "fmt"

// TypeReplacePieces is the type of ReplacePieces transactions.
const TypeReplacePieces = "replace_pieces"

// MaxReplacePieces bounds the pieces one ReplacePieces moves.
const MaxReplacePieces = 1024

// LostOffline is the reason a piece was marked lost (LostPiece.Reason) when
// a ReplacePieces moved it off a holder that had missed
// Params.RepairAfterMissed epochs in a row.
const LostOffline = "offline"

// Replacement names one piece of a file (its segment and index) and the
// node that holds it from now on.
type Replacement struct {
	Segment uint32  `cbor:"segment"`
	Index   uint32  `cbor:"index"`
	Holder  Address `cbor:"holder"`
}

// ReplacePieces is a repair: it moves repairable pieces of file FileID to
// new holders. Reed–Solomon is deterministic, so a piece rebuilt from any K
// others of its segment is bit for bit the lost one: the same id, size and
// Merkle root the file record already names. The repairer needs no file
// key, and the record's pieces do not change, only their holders; the new
// holder's next proof shows the work was done.
//
// Anyone may sign it (the owner, a holder, any account). A piece is
// repairable when
//
//   - it is recorded lost (lost.go: a failed proof, a report, a fault, a
//     disqualified holder), or
//   - its holder has missed Params.RepairAfterMissed or more epochs in a
//     row (Node.MissedInRow): it is first marked lost with reason
//     LostOffline (its holder loses the credit, as in markLost), or
//   - its holder is disqualified.
//
// A piece whose holder is live (proving, or missing fewer epochs) is not
// repairable: ErrNotRepairable.
//
// Each new holder must be a registered (ErrHolderNotRegistered), active
// node that is not itself missing RepairAfterMissed epochs in a row while
// holding pieces (ErrHolderUnavailable; one that holds nothing starts
// afresh, as in PlaceFile), must not be named in the segment, holding a
// piece of it or having lost one (ErrDuplicateHolder: so its old receipts
// cannot credit it with a piece it lost), must have the free pledged capacity
// (ErrNoCapacity), and must sign a Receipt for its pieces, exactly as for
// PlaceFile: one receipt per distinct new holder, in the order holders
// first appear in Pieces, over its pieces of this tx in that order (id,
// root, size and leaves as the file records them), for this chain, the
// file id and the file's owner, usable at this height (ErrBadReceipt,
// ErrReceiptExpired). So nobody can credit a node with a piece it did not
// take.
//
// The rule moves each piece: File.Pieces[i].Holder becomes the new holder,
// its hold/ entry is written, its lost/ record deleted, and the new holder's
// Used (and, for another owner's file, HeldForOthers) grow by its size,
// with ProveFrom set (and MissedInRow cleared) as in PlaceFile when it is
// its first piece. The
// owner's quota does not change (the file's bytes do not).
//
// The reward: none is minted. A repairer earns what any holder earns: it
// may name itself as a new holder of the pieces it rebuilt (it has the
// bytes already), and holding another owner's pieces earns quota
// (HeldForOthers × EarnPercent / 100). An owner repairs its own files to
// keep them readable.
type ReplacePieces struct {
	FileID   Hash          `cbor:"file_id"`
	Pieces   []Replacement `cbor:"pieces"`
	Receipts []Receipt     `cbor:"receipts"`
}

// TxType implements Body.
func (*ReplacePieces) TxType() string { return TypeReplacePieces }

// Repairable reports why the piece (file, segment, index) held by n could
// be moved by a ReplacePieces now: lost (recorded lost), the holder is
// disqualified, or it missed p.RepairAfterMissed epochs in a row; "" if it
// is live. lost is whether a lost/ record exists; n is the recorded holder
// (nil if it is not a registered node).
func Repairable(p Params, lost bool, n *Node) string {
	switch {
	case lost:
		return "lost"
	case n == nil:
		return ""
	case n.Status == NodeDisqualified:
		return LostDisqualified
	case p.RepairAfterMissed > 0 && n.MissedInRow >= p.RepairAfterMissed:
		return LostOffline
	}
	return ""
}

func applyReplacePieces(x *execCtx, b *ReplacePieces) error {
	if len(b.Pieces) == 0 || len(b.Pieces) > MaxReplacePieces {
		return fmt.Errorf("%w: %d pieces to replace, want 1 to %d", ErrInvalid, len(b.Pieces), MaxReplacePieces)
	}
	var f File
	found, err := getValue(x.st, fileKey(b.FileID), &f)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: file %s", ErrNotFound, b.FileID)
	}
	width := uint64(f.K) + uint64(f.M)
	slots := make([]int, len(b.Pieces))
	seen := make(map[int]bool, len(b.Pieces))
	for i, r := range b.Pieces {
		slot := uint64(r.Segment)*width + uint64(r.Index)
		if uint64(r.Index) >= width || slot >= uint64(len(f.Pieces)) {
			return fmt.Errorf("%w: file %s has no piece %d/%d (%d segments of k+m=%d)", ErrInvalid, f.ID, r.Segment, r.Index, uint64(len(f.Pieces))/width, width)
		}
		if seen[int(slot)] {
			return fmt.Errorf("%w: piece %d/%d named twice", ErrInvalid, r.Segment, r.Index)
		}
		seen[int(slot)] = true
		slots[i] = int(slot)
	}

	nodes := make(map[Address]*Node)
	var order []Address // nodes touched, in first-seen order, for deterministic writes
	node := func(a Address) (*Node, error) {
		if n, ok := nodes[a]; ok {
			return n, nil
		}
		n, found, err := x.loadNode(a)
		if err != nil || !found {
			return nil, err
		}
		nodes[a] = n
		order = append(order, a)
		return n, nil
	}

	// First every named piece must be repairable; a live holder's piece
	// is refused, an offline or disqualified holder's is taken off it.
	for i, r := range b.Pieces {
		p := f.Pieces[slots[i]]
		lost, err := isLost(x.st, f.ID, p.Segment, p.Index)
		if err != nil {
			return err
		}
		old, err := node(p.Holder)
		if err != nil {
			return err
		}
		why := Repairable(x.params, lost, old)
		if why == "" {
			if old == nil {
				return fmt.Errorf("%w: piece %d/%d of file %s: its holder %s is not a node", ErrNotRepairable, r.Segment, r.Index, f.ID, p.Holder)
			}
			return fmt.Errorf("%w: piece %d/%d of file %s: its holder %s is %s, missed %d epochs in a row (repairable from %d) and has not lost it",
				ErrNotRepairable, r.Segment, r.Index, f.ID, p.Holder, old.Status, old.MissedInRow, x.params.RepairAfterMissed)
		}
		if lost {
			continue
		}
		var hp HeldPiece
		held, err := getValue(x.st, heldKey(p.Holder, f.ID, p.Segment, p.Index), &hp)
		if err != nil {
			return err
		}
		if !held {
			return fmt.Errorf("piece %d/%d of file %s is neither held by %s nor recorded lost", r.Segment, r.Index, f.ID, p.Holder)
		}
		if err := markLost(x.st, x.height, old, hp, why); err != nil {
			return err
		}
	}

	// Then each piece goes to its new holder.
	var holders []Address // new holders in first-seen order: the receipts' order
	pieces := make(map[Address][]ReceiptPiece)
	var epoch *Epoch
	for i, r := range b.Pieces {
		slot := slots[i]
		p := &f.Pieces[slot]
		n, err := node(r.Holder)
		if err != nil {
			return err
		}
		if n == nil {
			return fmt.Errorf("%w: piece %d/%d names holder %s", ErrHolderNotRegistered, r.Segment, r.Index, r.Holder)
		}
		if n.Status != NodeActive {
			return fmt.Errorf("%w: holder %s is %s", ErrHolderUnavailable, r.Holder, n.Status)
		}
		if x.params.RepairAfterMissed > 0 && n.MissedInRow >= x.params.RepairAfterMissed && n.Used > 0 {
			return fmt.Errorf("%w: holder %s missed its last %d epochs", ErrHolderUnavailable, r.Holder, n.MissedInRow)
		}
		// A node named anywhere in the segment is refused: one that holds
		// a piece of it (distinct holders keep the redundancy), and one
		// that lost a piece of it and is still named for it. The latter
		// matters because a receipt does not say whether it was signed for
		// a placement or a repair: the receipt a node signed for a piece
		// before it lost it (within its expiry) would otherwise credit it
		// with the same piece again, which it no longer has, and each
		// failed challenge would cost it an audit.
		start := slot - int(p.Index)
		for j := start; j < start+int(width); j++ {
			q := f.Pieces[j]
			if q.Holder != r.Holder {
				continue
			}
			if j == slot {
				return fmt.Errorf("%w: holder %s is piece %d/%d's former holder", ErrDuplicateHolder, r.Holder, q.Segment, q.Index)
			}
			lost, err := isLost(x.st, f.ID, q.Segment, q.Index)
			if err != nil {
				return err
			}
			if lost {
				return fmt.Errorf("%w: holder %s lost piece %d/%d of segment %d", ErrDuplicateHolder, r.Holder, q.Segment, q.Index, q.Segment)
			}
			return fmt.Errorf("%w: holder %s already holds piece %d/%d of segment %d", ErrDuplicateHolder, r.Holder, q.Segment, q.Index, q.Segment)
		}
		if err := x.takeNewPiece(n, r.Holder, r.Segment, r.Index, p.Size, &epoch); err != nil {
			return err
		}
		if r.Holder != f.Owner {
			n.HeldForOthers += p.Size // ≤ Used
		}
		if _, ok := pieces[r.Holder]; !ok {
			holders = append(holders, r.Holder)
		}
		pieces[r.Holder] = append(pieces[r.Holder], ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
		p.Holder = r.Holder
		if err := x.st.Delete(lostKey(f.ID, p.Segment, p.Index)); err != nil {
			return err
		}
		if err := setValue(x.st, heldKey(r.Holder, f.ID, p.Segment, p.Index), &HeldPiece{File: f.ID, Piece: *p}); err != nil {
			return err
		}
	}
	if err := checkReplaceReceipts(x, b.Receipts, &f, holders, pieces); err != nil {
		return err
	}
	if err := setValue(x.st, fileKey(f.ID), &f); err != nil {
		return err
	}
	for _, a := range order {
		if err := setValue(x.st, nodeKey(a), nodes[a]); err != nil {
			return err
		}
	}
	// The new holders earned quota: those in debt repay what is now backed.
	if err := repayDebts(x, holders); err != nil {
		return fmt.Errorf("replacing pieces of file %s: %w", f.ID, err)
	}
	return nil
}

// checkReplaceReceipts applies the receipt rule of ReplacePieces (and
// RaisePieces) to receipts: one
// receipt per new holder, in order of first appearance, each usable at this
// height (height ≤ Expires ≤ height + ReceiptTTL) and signed by the holder
// over its pieces of this tx for this chain, file and the file's owner.
// Unlike PlaceFile's, the signed message depends on the state (the owner
// and the pieces come from the file record), so the verification is not
// cached.
func checkReplaceReceipts(x *execCtx, receipts []Receipt, f *File, holders []Address, pieces map[Address][]ReceiptPiece) error {
	if len(receipts) != len(holders) {
		return fmt.Errorf("%w: %d receipts for %d distinct new holders, want one per holder in order of first appearance", ErrBadReceipt, len(receipts), len(holders))
	}
	for i := range receipts {
		r := &receipts[i]
		if r.Expires < x.height {
			return fmt.Errorf("%w: receipt %d (holder %s) expired at height %d, this is height %d", ErrReceiptExpired, i, holders[i], r.Expires, x.height)
		}
		if r.Expires-x.height > int64(x.params.ReceiptTTL) {
			return fmt.Errorf("%w: receipt %d (holder %s) expires at height %d, more than receipt_ttl = %d blocks after this height %d", ErrReceiptExpired, i, holders[i], r.Expires, x.params.ReceiptTTL, x.height)
		}
	}
	for i := range receipts {
		if err := receipts[i].Verify(x.chainID, f.ID, f.Owner, holders[i], pieces[holders[i]]); err != nil {
			return fmt.Errorf("receipt %d: %w", i, err)
		}
	}
	return nil
}

// takeNewPiece credits node n (holder) with a new piece segment/index of
// size bytes, as ReplacePieces and RaisePieces do: ErrNoCapacity past its
// pledge; its first piece makes it owe proofs from the next epoch on
// (*epoch, the current epoch, is read once per tx and kept there).
func (x *execCtx) takeNewPiece(n *Node, holder Address, segment, index uint32, size uint64, epoch **Epoch) error {
	used, ok := addUint64(n.Used, size)
	if !ok || used > n.Pledge {
		return fmt.Errorf("%w: holder %s has %d bytes free, piece %d/%d needs %d", ErrNoCapacity, holder, n.Free(), segment, index, size)
	}
	if n.Used == 0 {
		if *epoch == nil {
			e, _, err := currentEpoch(x.st)
			if err != nil {
				return err
			}
			*epoch = &e
		}
		n.ProveFrom = (*epoch).Number + 1
		n.MissedInRow = 0 // as in PlaceFile: it is back
	}
	n.Used = used
	return nil
}
