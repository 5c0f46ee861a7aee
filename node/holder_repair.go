package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
)

// Repair pushes. A repairer (node/repair; any node, not only the owner's)
// pushes a rebuilt piece with the ledger id of its file as the push's put
// id, and the file's manifest the same way. The holder recognises one by
// looking the put id up on the ledger: a placed file that lists the piece
// (with its size), or whose manifest the piece is. Such a push charges
// nobody's quota (the file's bytes are already charged to its owner), and
// the receipt the holder signs for it names the file's owner, as
// chain.ReplacePieces wants. Nothing else differs: the bytes must match the
// piece id and the commitment, and the holder's capacity must be free. The
// ledger credits the piece only if a ReplacePieces moves it here, so a push
// of a piece nobody needs just waits out its pending timeout.

// repairPush reports whether p is a repair push, and the owner of its
// file if so.
func (h *holder) repairPush(ctx context.Context, p exchange.Push) (chain.Address, bool, error) {
	f, err := h.lc.File(ctx, chain.Hash(p.File))
	if errors.Is(err, chain.ErrNotFound) {
		return chain.Address{}, false, nil
	}
	if err != nil {
		return chain.Address{}, false, fmt.Errorf("looking up file %x of a push: %w", p.File[:4], err)
	}
	if p.Piece == exchange.PieceID(f.ID) {
		if p.Size > maxManifestBlock {
			return chain.Address{}, false, rejected("manifest of file %s is %d bytes, at most %d", f.ID, p.Size, maxManifestBlock)
		}
		return f.Owner, true, nil
	}
	for _, pc := range f.Pieces {
		if pc.ID == chain.Hash(p.Piece) && pc.Size == uint64(p.Size) {
			return f.Owner, true, nil
		}
	}
	return chain.Address{}, false, rejected("piece %s of %d bytes is not a piece of file %s", p.Piece, p.Size, f.ID)
}

// checkRepairReceipt refuses a receipt request that mixes repair-pushed
// pieces with others (their receipts name different owners), or whose
// repair pieces are asked for another file than the one pushed.
func checkRepairReceipt(r exchange.ReceiptRequest, repairs int) error {
	switch {
	case repairs == 0:
		return nil
	case repairs != len(r.Pieces):
		return rejected("receipt request mixes %d repair-pushed pieces with %d others", repairs, len(r.Pieces)-repairs)
	case r.File != r.Put:
		return rejected("repair-pushed pieces of file %x asked for file %x", r.Put[:4], r.File[:4])
	}
	return nil
}
