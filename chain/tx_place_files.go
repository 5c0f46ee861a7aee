package chain

import "fmt"

// TypePlaceFiles is the type of PlaceFiles transactions.
const TypePlaceFiles = "place_files"

// MaxPlaceFilesEntries bounds PlaceFiles.Files. With max_tx_bytes the
// bound on the tx's bytes, it caps the work one batch asks of the ledger.
const MaxPlaceFilesEntries = 64

// PlaceFiles records several placements of the signer's in one
// transaction: a batch of small puts that would each pay a tx and a commit
// wait. Files holds 2 to MaxPlaceFilesEntries PlaceFile bodies, each of a
// non-empty file (an empty one costs no quota and has no receipts, so it
// goes alone in a place_file: a batch of them would record files more
// cheaply per block byte than single txs can). The entries are applied in
// order, each exactly as the PlaceFile rule applies a place_file of the
// same signer at this height, on the state the entries before it left
// (so their quota adds up, a file id may appear once, and each holder's
// capacity counts the pieces of the entries before); the batch is all or
// nothing: if any entry fails, the tx fails with that entry's error (its
// code, the log naming the entry) and changes nothing but the nonce.
// Receipts are per entry, bound to its file id and the signing key, as
// in a place_file.
type PlaceFiles struct {
	Files []PlaceFile `cbor:"files"`
}

// TxType implements Body.
func (*PlaceFiles) TxType() string { return TypePlaceFiles }

func applyPlaceFiles(x *execCtx, b *PlaceFiles) error {
	if len(b.Files) < 2 || len(b.Files) > MaxPlaceFilesEntries {
		return fmt.Errorf("%w: a batch of %d files, want 2 to %d (one file goes in a place_file)", ErrInvalid, len(b.Files), MaxPlaceFilesEntries)
	}
	for i := range b.Files {
		if b.Files[i].Size == 0 {
			return fmt.Errorf("%w: file %d of the batch (%s) is empty: an empty file is placed alone (place_file)", ErrInvalid, i, b.Files[i].FileID)
		}
	}
	// The receipt memo is one flag for the whole tx: an entry must not
	// set it for the others. Once every entry's receipts verified (in
	// CheckTx), all are skipped; until then each entry verifies its own.
	memo := x.memo
	verified := memo != nil && memo.receiptsOK.Load()
	for i := range b.Files {
		y := *x
		if !verified {
			y.memo = nil
		}
		if err := applyPlaceFile(&y, &b.Files[i]); err != nil {
			return fmt.Errorf("file %d of the batch (%s): %w", i, b.Files[i].FileID, err)
		}
	}
	if memo != nil {
		memo.receiptsOK.Store(true)
	}
	return nil
}
