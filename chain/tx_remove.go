package chain

import "fmt"

// TypeRemoveFile is the type of RemoveFile transactions.
const TypeRemoveFile = "remove_file"

// RemoveFile deletes a placed file. Only its owner may remove it; the owner's
// used quota and each holder's used capacity go down by the piece sizes, and
// so do the holders' credits for holding them (HeldForOthers), so their
// earned quota. The file id is tombstoned: it cannot be placed again for
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
	var order []Address
	for _, p := range f.Pieces {
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
			order = append(order, p.Holder)
		}
		n.Used = subSat(n.Used, p.Size)
		if p.Holder != f.Owner {
			n.HeldForOthers = subSat(n.HeldForOthers, p.Size)
		}
	}
	for _, a := range order {
		if err := setValue(x.st, nodeKey(a), nodes[a]); err != nil {
			return err
		}
	}
	x.account.QuotaUsed = subSat(x.account.QuotaUsed, f.Bytes)
	if err := x.st.Delete(ownedKey(f.Owner, f.ID)); err != nil {
		return err
	}
	if err := setValue(x.st, goneKey(f.ID), x.height); err != nil {
		return err
	}
	if err := setValue(x.st, goneAtKey(x.height, f.ID), true); err != nil {
		return err
	}
	return x.st.Delete(fileKey(f.ID))
}

// subSat returns a-b, or 0 if b > a.
func subSat(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}
