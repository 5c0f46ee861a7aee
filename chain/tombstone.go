package chain

// pruneTombstones deletes the tombstones whose wait ends with this block:
// those of files removed at height − ReceiptTTL − 1, from which height on
// the id may be placed again (applyPlaceFile) and every receipt of the
// removed placement has expired. So removed ids leave nothing in the state
// for longer than ReceiptTTL blocks. A tombstone is deleted only if it still
// holds that height (an id removed, placed and removed again has a later
// one).
func pruneTombstones(b *blockCtx) error {
	h := b.height - int64(b.params.ReceiptTTL) - 1
	if h < b.initialHeight {
		return nil
	}
	prefix := goneAtPrefix(h)
	var ids []Hash
	err := b.scanAll(prefix, func(k, _ []byte) error {
		ids = append(ids, Hash(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := b.st.Delete(goneAtKey(h, id)); err != nil {
			return err
		}
		var removed int64
		found, err := getValue(b.st, goneKey(id), &removed)
		if err != nil {
			return err
		}
		if found && removed == h {
			if err := b.st.Delete(goneKey(id)); err != nil {
				return err
			}
		}
	}
	return nil
}
