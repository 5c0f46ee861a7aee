package chain

import (
	"crypto/ed25519"
	"fmt"
)

// A Receipt is a holder's signed statement that it received and stored the
// pieces a placement names for it. PlaceFile carries one receipt per
// distinct holder; the ledger credits a holder with a piece only on the
// strength of that holder's receipt, so nobody can charge a node's capacity
// (or earn quota for it) without the node having taken the bytes.
//
// The signature covers ReceiptSignBytes: the chain id, the file id, the
// owner, the holder, the expiry height and the holder's pieces of the file
// (id, Merkle root, size, leaf count, in PlaceFile order). It binds the file
// id, so a receipt cannot be reused for another placement, and it expires,
// so a receipt kept after the file was removed cannot credit the holder
// again with pieces it has deleted.
type Receipt struct {
	// PubKey is the holder's ed25519 public key; its address must be the
	// holder the pieces name.
	PubKey []byte `cbor:"pubkey" json:"pubkey"`
	// Expires is the last block height at which the receipt may be used.
	Expires int64 `cbor:"expires" json:"expires"`
	// Sig is ed25519 over ReceiptSignBytes.
	Sig []byte `cbor:"sig" json:"sig"`
}

// ReceiptPiece is one piece as a receipt covers it.
type ReceiptPiece struct {
	ID     Hash   `cbor:"id"`
	Root   Hash   `cbor:"root"`
	Size   uint64 `cbor:"size"`
	Leaves uint64 `cbor:"leaves"`
}

// receiptMessage is what a receipt signs (after receiptDomain).
type receiptMessage struct {
	ChainID string         `cbor:"chain_id"`
	FileID  Hash           `cbor:"file_id"`
	Owner   Address        `cbor:"owner"`
	Holder  Address        `cbor:"holder"`
	Expires int64          `cbor:"expires"`
	Pieces  []ReceiptPiece `cbor:"pieces"`
}

// receiptDomain separates receipt signatures from transaction signatures
// and every other use of the key.
const receiptDomain = "coop/receipt/v1\x00"

// ReceiptSignBytes is the message a holder signs to receipt pieces of file
// fileID placed by owner, usable up to block height expires.
func ReceiptSignBytes(chainID string, fileID Hash, owner, holder Address, expires int64, pieces []ReceiptPiece) []byte {
	if pieces == nil {
		pieces = []ReceiptPiece{}
	}
	b := mustMarshal(receiptMessage{ChainID: chainID, FileID: fileID, Owner: owner, Holder: holder, Expires: expires, Pieces: pieces})
	return append([]byte(receiptDomain), b...)
}

// SignReceipt signs a receipt with the holder's key.
func SignReceipt(key ed25519.PrivateKey, chainID string, fileID Hash, owner Address, expires int64, pieces []ReceiptPiece) Receipt {
	pub := key.Public().(ed25519.PublicKey)
	msg := ReceiptSignBytes(chainID, fileID, owner, AddressOf(pub), expires, pieces)
	return Receipt{PubKey: append([]byte(nil), pub...), Expires: expires, Sig: ed25519.Sign(key, msg)}
}

// Verify checks that r is holder's valid signature over the given pieces.
// It does not look at the expiry height; the PlaceFile rule does.
func (r *Receipt) Verify(chainID string, fileID Hash, owner, holder Address, pieces []ReceiptPiece) error {
	if len(r.PubKey) != ed25519.PublicKeySize || len(r.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: receipt of holder %s has a %d-byte key and a %d-byte signature", ErrBadReceipt, holder, len(r.PubKey), len(r.Sig))
	}
	if AddressOf(r.PubKey) != holder {
		return fmt.Errorf("%w: receipt key is %s's, not holder %s's", ErrBadReceipt, AddressOf(r.PubKey), holder)
	}
	if !verifySignature(r.PubKey, ReceiptSignBytes(chainID, fileID, owner, holder, r.Expires, pieces), r.Sig) {
		return fmt.Errorf("%w: holder %s's receipt does not verify for file %s", ErrBadReceipt, holder, fileID)
	}
	return nil
}

// checkReceipts applies PlaceFile's receipt rule: there is exactly one
// receipt per distinct holder, receipt i being that of holders[i] (the
// holders in the order they first appear in b.Pieces), signed by the
// holder's key over its pieces of the file in PlaceFile order, for this
// chain, this file and the signer as owner; and each is usable at this
// height: height ≤ Expires ≤ height + ReceiptTTL. A wrong count, key or
// signature is ErrBadReceipt, a wrong expiry ErrReceiptExpired.
//
// The signatures depend only on the tx bytes, so once they verified the
// result is noted in the tx's cache entry and not computed again
// (FinalizeBlock after CheckTx, mempool rechecks); the expiry, which
// depends on the height, is checked every time.
func checkReceipts(x *execCtx, b *PlaceFile, holders []Address) error {
	if len(b.Receipts) != len(holders) {
		return fmt.Errorf("%w: %d receipts for %d distinct holders, want one per holder in order of first appearance", ErrBadReceipt, len(b.Receipts), len(holders))
	}
	for i := range b.Receipts {
		r := &b.Receipts[i]
		if r.Expires < x.height {
			return fmt.Errorf("%w: receipt %d (holder %s) expired at height %d, this is height %d", ErrReceiptExpired, i, holders[i], r.Expires, x.height)
		}
		if r.Expires-x.height > int64(x.params.ReceiptTTL) {
			return fmt.Errorf("%w: receipt %d (holder %s) expires at height %d, more than receipt_ttl = %d blocks after this height %d", ErrReceiptExpired, i, holders[i], r.Expires, x.params.ReceiptTTL, x.height)
		}
	}
	if x.memo != nil && x.memo.receiptsOK.Load() {
		return nil
	}
	slot := make(map[Address]int, len(holders))
	for i, h := range holders {
		slot[h] = i
	}
	pieces := make([][]ReceiptPiece, len(holders))
	for _, p := range b.Pieces {
		i := slot[p.Holder]
		pieces[i] = append(pieces[i], ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
	}
	for i := range b.Receipts {
		// The receipt names the key that pushed the pieces and signs the
		// PlaceFile: the account's own, or its device's (x.device) when a
		// device places a file for its account.
		if err := b.Receipts[i].Verify(x.chainID, b.FileID, x.device, holders[i], pieces[i]); err != nil {
			return fmt.Errorf("receipt %d: %w", i, err)
		}
	}
	if x.memo != nil {
		x.memo.receiptsOK.Store(true)
	}
	return nil
}
