package chain

import (
	"fmt"
)

// TypeReportFault is the type of ReportFault transactions.
const TypeReportFault = "report_fault"

// ReportFault puts a holder's signed wrong leaf answer (LeafAnswer, from an
// audit's spot check over the piece exchange) on the ledger as evidence.
// Anyone may submit it: the evidence is the holder's own signature, not the
// submitter's word, so the signer needs no funds, no node and no relation
// to the holder.
//
// The rule (applyReportFault), in order; each refusal records nothing:
//
//  1. the answer's shape: a proof of at most MaxLeafProofSize bytes
//     (ErrInvalid), a key whose address is the holder and a signature by it
//     over the answer for this chain (ErrBadSignature);
//  2. the evidence was not counted before: fault/<EvidenceID> does not
//     exist (ErrExists);
//  3. the holder is a registered node (ErrHolderNotRegistered);
//  4. the ledger credits the holder now with piece (file, segment, index)
//     and its id is the answer's piece id (ErrNotFound otherwise: another
//     holder's piece, a lost or removed one, another piece at that place);
//  5. the leaf is one of the piece's (ErrInvalid);
//  6. the answer is wrong: it does not decode, names another leaf or leaf
//     count, or does not lead to the recorded root (LeafAnswer.Judge); a
//     correct answer is refused with ErrNoFault.
//
// A fault then costs the holder what a failed challenge costs: the piece
// is marked lost (LostFault; repair moves it), the holder's audit score
// counts a failed audit (recordAudit; disqualification marks all its
// pieces lost), Node.Faults counts it, and FaultRecord is stored at
// fault/<EvidenceID>, so the same evidence counts once. Since the piece is
// lost at once, a holder answers for each credited piece at most once.
type ReportFault struct {
	Answer LeafAnswer `cbor:"answer"`
}

// TxType implements Body.
func (*ReportFault) TxType() string { return TypeReportFault }

// prefixFault keys the counted evidence: fault/<evidence id:32> →
// FaultRecord.
const prefixFault = "fault/"

func faultKey(id Hash) []byte { return append([]byte(prefixFault), id[:]...) }

// FaultRecord is what the ledger keeps of a counted fault: the answer to
// /fault/<evidence id>.
type FaultRecord struct {
	Evidence Hash    `cbor:"evidence" json:"evidence"`
	Holder   Address `cbor:"holder" json:"holder"`
	File     Hash    `cbor:"file" json:"file"`
	Segment  uint32  `cbor:"segment" json:"segment"`
	Index    uint32  `cbor:"index" json:"index"`
	Piece    Hash    `cbor:"piece" json:"piece"`
	Leaf     uint64  `cbor:"leaf" json:"leaf"`
	Reporter Address `cbor:"reporter" json:"reporter"`
	Height   int64   `cbor:"height" json:"height"`
}

// applyReportFault applies the ReportFault rule (see ReportFault).
func applyReportFault(x *execCtx, b *ReportFault) error {
	a := &b.Answer
	if err := a.VerifySignature(x.chainID); err != nil {
		return err
	}
	ev := a.EvidenceID(x.chainID)
	if found, err := x.st.Get(faultKey(ev)); err != nil {
		return err
	} else if found != nil {
		return fmt.Errorf("%w: fault evidence %s was already counted", ErrExists, ev)
	}
	node, found, err := x.loadNode(a.Holder)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: holder %s is not a node", ErrHolderNotRegistered, a.Holder)
	}
	var hp HeldPiece
	found, err = getValue(x.st, heldKey(a.Holder, a.File, a.Segment, a.Index), &hp)
	if err != nil {
		return err
	}
	if !found || hp.Piece.ID != a.Piece {
		return fmt.Errorf("%w: node %s is not credited with piece %s as %s/%d/%d", ErrNotFound, a.Holder, a.Piece, a.File, a.Segment, a.Index)
	}
	if a.Leaf >= hp.Piece.Leaves {
		return fmt.Errorf("%w: leaf %d of a piece of %d leaves", ErrInvalid, a.Leaf, hp.Piece.Leaves)
	}
	if err := a.Judge(hp.Piece); err == nil {
		return fmt.Errorf("%w: holder %s's answer for leaf %d of piece %s is correct", ErrNoFault, a.Holder, a.Leaf, a.Piece)
	}
	if err := markLost(x.st, x.height, node, hp, LostFault); err != nil {
		return err
	}
	node.Faults++
	if recordAudit(x.params, node, false) {
		if err := disqualify(x.st, x.height, node); err != nil {
			return err
		}
	}
	if err := setValue(x.st, nodeKey(a.Holder), node); err != nil {
		return err
	}
	return setValue(x.st, faultKey(ev), &FaultRecord{
		Evidence: ev, Holder: a.Holder, File: a.File, Segment: a.Segment, Index: a.Index,
		Piece: a.Piece, Leaf: a.Leaf, Reporter: x.signer, Height: x.height,
	})
}
