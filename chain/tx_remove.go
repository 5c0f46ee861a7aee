package chain

import "fmt"

// TypeRemoveFile is the type of RemoveFile transactions.
const TypeRemoveFile = "remove_file"

// RemoveFile deletes a placed file. Only its owner may remove it; each
// holder's used capacity goes down by the piece sizes, and so do the
// holders' credits for holding them (HeldForOthers and ProvedForOthers),
// so their earned quota.
// The owner's used quota goes down by the file's bytes, except the part a
// holder had already spent of the quota the file earned it: that stays
// charged to the owner as the holder's debt until the holder repays it
// (debt.go). The file id is tombstoned: it cannot be placed again for
// Params.ReceiptTTL blocks, by when every receipt of this placement expired
// (pruneTombstones then deletes the tombstone).
type RemoveFile struct {
	FileID Hash `cbor:"file_id"`
}

// TxType implements Body.
func (*RemoveFile) TxType() string { return TypeRemoveFile }

func applyRemoveFile(x *execCtx, b *RemoveFile) error {
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
	nodes := make(map[Address]*Node)
	heldBefore := make(map[Address]uint64)
	var order []Address // holders in first-seen order, for deterministic writes
	for _, p := range f.Pieces {
		lost, err := isLost(x.st, f.ID, p.Segment, p.Index)
		if err != nil {
			return err
		}
		if lost {
			// Its holder was already uncredited (markLost).
			if err := x.st.Delete(lostKey(f.ID, p.Segment, p.Index)); err != nil {
				return err
			}
			continue
		}
		if err := x.st.Delete(heldKey(p.Holder, f.ID, p.Segment, p.Index)); err != nil {
			return err
		}
		n, ok := nodes[p.Holder]
		if !ok {
			var found bool
			n, found, err = x.loadNode(p.Holder)
			if err != nil {
				return err
			}
			if !found {
				continue
			}
			nodes[p.Holder] = n
			heldBefore[p.Holder] = n.HeldForOthers
			order = append(order, p.Holder)
		}
		n.Used = subSat(n.Used, p.Size)
		if p.Holder != f.Owner {
			uncreditForOthers(n, p.Size)
		}
	}
	for _, a := range order {
		if err := setValue(x.st, nodeKey(a), nodes[a]); err != nil {
			return err
		}
	}
	// Each holder's earning limit drops with its credit; the part of the
	// drop it had already spent (how much further over its limit it now
	// is) stays charged to the owner, as the holder's debt.
	owner := x.account
	var kept uint64
	for _, a := range order {
		if a == f.Owner {
			continue // the owner's own pieces earned nothing
		}
		n := nodes[a]
		drop := heldBefore[a] - n.HeldForOthers // ≤ heldBefore: subSat above
		if drop == 0 {
			continue
		}
		holder, _, err := x.loadAccount(a)
		if err != nil {
			return fmt.Errorf("removing file %s: holder %s: %w", f.ID, a, err)
		}
		before := overLimit(holder.QuotaUsed, earningLimit(x.params, heldBefore[a]))
		after := overLimit(holder.QuotaUsed, earningLimit(x.params, n.HeldForOthers))
		short := min(drop, after-before) // the limit only dropped: after ≥ before
		if short == 0 {
			continue
		}
		if err := addDebt(x, holder, owner, short); err != nil {
			return fmt.Errorf("removing file %s: %w", f.ID, err)
		}
		kept += short // Σ short ≤ Σ drop ≤ f.Bytes
	}
	owner.QuotaUsed = subSat(owner.QuotaUsed, subSat(f.Bytes, kept))
	if err := x.st.Delete(ownedKey(f.Owner, f.ID)); err != nil {
		return err
	}
	if err := setValue(x.st, goneKey(f.ID), x.height); err != nil {
		return err
	}
	if err := setValue(x.st, goneAtKey(x.height, f.ID), true); err != nil {
		return err
	}
	if err := x.st.Delete(fileKey(f.ID)); err != nil {
		return err
	}
	// The owner has quota back, so may repay what it owes; a holder whose
	// earlier repayments were cut short by MaxRepaymentsPerTx continues.
	if err := repayDebts(x, ownerFirst(f.Owner, order)); err != nil {
		return fmt.Errorf("removing file %s: %w", f.ID, err)
	}
	return nil
}

// subSat returns a-b, or 0 if b > a.
func subSat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
