package chain

import (
	"fmt"

	"github.com/coop-network/coop/proofs"
)

// TypePlaceFile is the type of PlaceFile transactions.
const TypePlaceFile = "place_file"

// MaxSealedKeyBytes bounds PlaceFile.SealedKey: room for a 32-byte file key
// sealed with an AEAD (nonce, tag) and a version byte, not for payloads.
const MaxSealedKeyBytes = 96

// maxShards bounds k+m (Reed-Solomon over GF(2^8) allows at most 256 shards).
const maxShards = 256

// PlaceFile records that the signer stored file FileID as erasure-coded
// pieces with the named holders. Pieces are listed segment by segment, each
// segment's K+M pieces in index order (piece i has Segment i/(K+M) and Index
// i%(K+M)); a piece of Size bytes has ceil(Size / proofs.LeafSize) Leaves,
// and its ID is its Merkle commitment bound to its size:
// ID = proofs.ID(Root, Size) (one hash pass over a piece gives both).
// Every holder signs a Receipt for its pieces. The signer is charged
// Σ piece sizes against its quota; each holder's free pledged capacity
// shrinks by the sizes of the pieces it holds, and a holder other than the
// signer is credited with them (Node.HeldForOthers), which earns its
// account quota (and lets a holder in debt repay, debt.go). A removed file
// id can be placed again only after Params.ReceiptTTL blocks. An empty file
// (Size 0) has no segments, so no pieces, holders or receipts: it costs no
// quota and is only its record (and sealed key).
type PlaceFile struct {
	FileID Hash    `cbor:"file_id"`
	Size   uint64  `cbor:"size"`
	K      uint32  `cbor:"k"`
	M      uint32  `cbor:"m"`
	Pieces []Piece `cbor:"pieces"`
	// SealedKey, optional, is the file key sealed for the owner's account
	// key (node/sealkey.go), so any device with that key can read the
	// owner's files; the ledger only bounds its size (≤ MaxSealedKeyBytes).
	// Absent, the file is readable only with its capability.
	SealedKey []byte `cbor:"sealed_key,omitempty"`
	// AskedM, optional, is the number of parity pieces per segment the
	// owner asked when fewer were stored because the network had too
	// few nodes: M < AskedM, K+AskedM ≤ 256 (0: placed as asked). The
	// file records it (File.AskedM) and RaisePieces may then raise M up to
	// it. A file stored as copies (K = 1) is raised with copies: AskedM
	// is the losses it should survive.
	AskedM uint32 `cbor:"asked_m,omitempty"`
	// Receipts holds one receipt per distinct holder, in the order holders
	// first appear in Pieces: each holder's signature over its pieces of
	// this file (receipt.go). A piece without its holder's receipt is
	// rejected.
	Receipts []Receipt `cbor:"receipts"`
}

// TxType implements Body.
func (*PlaceFile) TxType() string { return TypePlaceFile }

// checkPieceRoot refuses a piece whose id is not its Merkle root bound to
// its size (ID = proofs.ID(Root, Size), since AppVersion 11).
func checkPieceRoot(p *Piece) error {
	if want := Hash(proofs.ID(proofs.Hash(p.Root), p.Size)); p.ID != want {
		return fmt.Errorf("%w: piece %d/%d has id %s, but its root %s and %d bytes give id %s", ErrInvalid, p.Segment, p.Index, p.ID, p.Root, p.Size, want)
	}
	return nil
}

func applyPlaceFile(x *execCtx, b *PlaceFile) error {
	if b.FileID.IsZero() {
		return fmt.Errorf("%w: zero file id", ErrInvalid)
	}
	if b.K == 0 || uint64(b.K)+uint64(b.M) > maxShards {
		return fmt.Errorf("%w: k=%d m=%d, need 1 ≤ k and k+m ≤ %d", ErrInvalid, b.K, b.M, maxShards)
	}
	if len(b.SealedKey) > MaxSealedKeyBytes {
		return fmt.Errorf("%w: sealed key is %d bytes, at most %d", ErrInvalid, len(b.SealedKey), MaxSealedKeyBytes)
	}
	if b.AskedM != 0 && (b.AskedM <= b.M || uint64(b.K)+uint64(b.AskedM) > maxShards) {
		return fmt.Errorf("%w: asked m=%d with k=%d m=%d, need m < asked m and k + asked m ≤ %d", ErrInvalid, b.AskedM, b.K, b.M, maxShards)
	}
	n := b.K + b.M
	switch {
	case len(b.Pieces) == 0 && b.Size != 0:
		return fmt.Errorf("%w: a file of %d bytes with no pieces (only an empty file has none)", ErrInvalid, b.Size)
	case uint64(len(b.Pieces))%uint64(n) != 0:
		return fmt.Errorf("%w: %d pieces is not a whole number of segments of k+m=%d", ErrInvalid, len(b.Pieces), n)
	}
	if found, err := getValue(x.st, fileKey(b.FileID), &File{}); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: file %s is already placed", ErrExists, b.FileID)
	}
	var removed int64
	tombstone, err := getValue(x.st, goneKey(b.FileID), &removed)
	if err != nil {
		return err
	}
	if again := removed + int64(x.params.ReceiptTTL) + 1; tombstone && x.height < again {
		return fmt.Errorf("%w: file %s was removed at height %d; it may be placed again from height %d", ErrExists, b.FileID, removed, again)
	}
	owner := x.account

	var total uint64
	nodes := make(map[Address]*Node)
	var order []Address // holders in first-seen order, for deterministic writes
	seen := make(map[Address]bool, n)
	for i := range b.Pieces {
		p := &b.Pieces[i]
		seg, idx := uint32(uint64(i)/uint64(n)), uint32(uint64(i)%uint64(n))
		if p.Segment != seg || p.Index != idx {
			return fmt.Errorf("%w: piece %d is segment %d index %d, want segment %d index %d", ErrInvalid, i, p.Segment, p.Index, seg, idx)
		}
		if p.Size == 0 {
			return fmt.Errorf("%w: piece %d/%d has size 0", ErrInvalid, seg, idx)
		}
		if want := leafCount(p.Size); p.Leaves != want {
			return fmt.Errorf("%w: piece %d/%d of %d bytes has %d leaves, want %d (%d-byte leaves)", ErrInvalid, seg, idx, p.Size, p.Leaves, want, proofs.LeafSize)
		}
		if err := checkPieceRoot(p); err != nil {
			return err
		}
		if idx == 0 {
			clear(seen)
		}
		if seen[p.Holder] {
			return fmt.Errorf("%w: holder %s named twice in segment %d", ErrDuplicateHolder, p.Holder, seg)
		}
		seen[p.Holder] = true
		node, ok := nodes[p.Holder]
		if !ok {
			var found bool
			var err error
			node, found, err = x.loadNode(p.Holder)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("%w: piece %d/%d names holder %s", ErrHolderNotRegistered, seg, idx, p.Holder)
			}
			if node.Status != NodeActive {
				return fmt.Errorf("%w: holder %s is %s", ErrHolderUnavailable, p.Holder, node.Status)
			}
			nodes[p.Holder] = node
			order = append(order, p.Holder)
		}
		used, ok := addUint64(node.Used, p.Size)
		if !ok || used > node.Pledge {
			return fmt.Errorf("%w: holder %s has %d bytes free, piece %d/%d needs %d more", ErrNoCapacity, p.Holder, node.Free(), seg, idx, p.Size)
		}
		if node.Used == 0 {
			// Its first piece: it owes proofs from the next epoch on, and
			// epochs it missed before it held nothing no longer count (it
			// signed a receipt, so it is back; else repair would move
			// the piece off it at once).
			e, _, err := currentEpoch(x.st)
			if err != nil {
				return err
			}
			node.ProveFrom = e.Number + 1
			node.MissedInRow = 0
		}
		node.Used = used
		if p.Holder != owner.Address {
			// ≤ Used, so it cannot overflow.
			node.HeldForOthers += p.Size
		}
		if total, ok = addUint64(total, p.Size); !ok {
			return fmt.Errorf("%w: piece sizes add up past 2^64-1", ErrOverflow)
		}
	}

	ownerNode, _, err := x.loadNode(owner.Address)
	if err != nil {
		return err
	}
	limit := QuotaLimit(x.params, owner, ownerNode)
	used, ok := addUint64(owner.QuotaUsed, total)
	if !ok || used > limit {
		if owner.QuotaLent > 0 {
			return fmt.Errorf("%w: %s uses %d of %d bytes (%d of them lent: held by debts of holders that spent them), file needs %d", ErrQuotaExceeded, owner.Address, owner.QuotaUsed, limit, owner.QuotaLent, total)
		}
		return fmt.Errorf("%w: %s uses %d of %d bytes, file needs %d", ErrQuotaExceeded, owner.Address, owner.QuotaUsed, limit, total)
	}
	owner.QuotaUsed = used
	if err := checkReceipts(x, b, order); err != nil {
		return err
	}

	f := &File{ID: b.FileID, Owner: owner.Address, Size: b.Size, K: b.K, M: b.M, Bytes: total, PlacedHeight: x.height, Pieces: b.Pieces, SealedKey: b.SealedKey, AskedM: b.AskedM}
	if err := setValue(x.st, fileKey(f.ID), f); err != nil {
		return err
	}
	if err := setValue(x.st, ownedKey(owner.Address, f.ID), total); err != nil {
		return err
	}
	for _, p := range f.Pieces {
		if err := setValue(x.st, heldKey(p.Holder, f.ID, p.Segment, p.Index), &HeldPiece{File: f.ID, Piece: p}); err != nil {
			return err
		}
	}
	for _, a := range order {
		if err := setValue(x.st, nodeKey(a), nodes[a]); err != nil {
			return err
		}
	}
	if tombstone {
		// Only CheckTx gets here: in a block, pruneTombstones deleted it
		// at the start of the block it ends in.
		if err := x.st.Delete(goneAtKey(removed, f.ID)); err != nil {
			return err
		}
		if err := x.st.Delete(goneKey(f.ID)); err != nil {
			return err
		}
	}
	// The holders earned quota: those in debt repay what is now backed.
	if err := repayDebts(x, ownerFirst(owner.Address, order)); err != nil {
		return fmt.Errorf("placing file %s: %w", f.ID, err)
	}
	return nil
}

// leafCount is the number of proofs.LeafSize leaves of a piece of size
// bytes: ceil(size / LeafSize).
func leafCount(size uint64) uint64 {
	n := size / proofs.LeafSize
	if size%proofs.LeafSize != 0 {
		n++
	}
	return n
}
