package chain

import "fmt"

// TypeReportLost is the type of ReportLost transactions.
const TypeReportLost = "report_lost"

// MaxReportLostPieces bounds the pieces one ReportLost names.
const MaxReportLostPieces = 1024

// PieceRef names one piece of a file: its segment and index.
type PieceRef struct {
	File    Hash   `cbor:"file" json:"file"`
	Segment uint32 `cbor:"segment" json:"segment"`
	Index   uint32 `cbor:"index" json:"index"`
}

// ReportLost is a holder's report that it no longer has pieces it is
// credited with (its scrub found them corrupt or missing). The signer is the
// holder. Each piece is marked lost (lost.go) at once, so repair can start
// before a challenge finds the loss.
//
// What it costs: the holder loses the credit for the pieces (Used,
// HeldForOthers, so its earned quota), as it would if caught; but a report
// is not an audit, so its audit score does not change. Being caught by a
// challenge costs the credit and a failed audit (score, then suspension and
// disqualification); keeping the data costs neither. docs/proofs.md has the
// numbers.
type ReportLost struct {
	Pieces []PieceRef `cbor:"pieces"`
}

// TxType implements Body.
func (*ReportLost) TxType() string { return TypeReportLost }

// applyReportLost checks that the signer is a node (ErrHolderNotRegistered),
// that it names 1 to MaxReportLostPieces pieces, each once (ErrInvalid),
// and that it is credited with each of them (ErrNotFound otherwise: a piece
// it does not hold, already lost, or another holder's), then marks them lost.
func applyReportLost(x *execCtx, b *ReportLost) error {
	if len(b.Pieces) == 0 || len(b.Pieces) > MaxReportLostPieces {
		return fmt.Errorf("%w: %d pieces reported, want 1 to %d", ErrInvalid, len(b.Pieces), MaxReportLostPieces)
	}
	n, found, err := x.loadNode(x.signer)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: signer %s is not a node", ErrHolderNotRegistered, x.signer)
	}
	seen := make(map[PieceRef]bool, len(b.Pieces))
	for _, r := range b.Pieces {
		if seen[r] {
			return fmt.Errorf("%w: piece %s/%d/%d reported twice", ErrInvalid, r.File, r.Segment, r.Index)
		}
		seen[r] = true
		var hp HeldPiece
		found, err := getValue(x.st, heldKey(x.signer, r.File, r.Segment, r.Index), &hp)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: node %s is not credited with piece %s/%d/%d", ErrNotFound, x.signer, r.File, r.Segment, r.Index)
		}
		if err := markLost(x.st, x.height, n, hp, LostReported); err != nil {
			return err
		}
	}
	return setValue(x.st, nodeKey(x.signer), n)
}
