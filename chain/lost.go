package chain

import (
	"encoding/binary"
	"fmt"
)

// Lost pieces. A piece is marked lost when its holder fails a challenge on
// it (a wrong proof is evidence the holder no longer has it), reports it
// lost (ReportLost, after its scrub found it corrupt or missing), or is
// disqualified (every piece it held). Marking a piece lost takes it off
// the holder: its hold/ entry goes, and so do the bytes from the holder's
// Used and HeldForOthers (so its earned quota). The file keeps the piece in
// its record, naming the former holder, and a lost/ record says it needs
// repair; ReplacePieces (repair) moves it to a new holder and deletes the
// lost/ record. RemoveFile deletes the lost/ records of the file it removes.

// Reasons a piece was marked lost (LostPiece.Reason).
const (
	LostFailedProof  = "failed_proof" // its holder answered a challenge on it wrongly
	LostReported     = "reported"     // its holder reported it lost (ReportLost)
	LostDisqualified = "disqualified" // its holder was disqualified
	LostFault        = "fault"        // a ReportFault proved its holder served a wrong leaf
)

// prefixLost keys the lost pieces: lost/<file:32><segment:4><index:4> →
// LostPiece.
const prefixLost = "lost/"

// lostSuffixSize is the length of a lost/ key after its prefix.
const lostSuffixSize = HashSize + 4 + 4

func lostKey(file Hash, segment, index uint32) []byte {
	k := append([]byte(prefixLost), file[:]...)
	k = binary.BigEndian.AppendUint32(k, segment)
	return binary.BigEndian.AppendUint32(k, index)
}

// LostPiece is a piece the ledger no longer credits to anyone: the answer
// to /lost (a Page of them). Piece names the holder that lost it.
type LostPiece struct {
	File   Hash   `cbor:"file" json:"file"`
	Piece  Piece  `cbor:"piece" json:"piece"`
	Reason string `cbor:"reason" json:"reason"`
	Height int64  `cbor:"height" json:"height"`
}

// markLost takes piece hp off holder n (which must be the node recorded in
// hp.Piece.Holder and still hold it): deletes its hold/ entry, lowers n's
// Used and, for a file of another owner, HeldForOthers and
// ProvedForOthers (uncreditForOthers), counts it in
// n.PiecesLost, and records the piece in lost/. The caller saves n.
func markLost(st kvWriter, height int64, n *Node, hp HeldPiece, reason string) error {
	p := hp.Piece
	if p.Holder != n.Address {
		return fmt.Errorf("marking piece %s/%d/%d lost: it is held by %s, not %s", hp.File, p.Segment, p.Index, p.Holder, n.Address)
	}
	var f File
	found, err := getValue(st, fileKey(hp.File), &f)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("marking piece %s/%d/%d lost: no file record", hp.File, p.Segment, p.Index)
	}
	if err := st.Delete(heldKey(n.Address, hp.File, p.Segment, p.Index)); err != nil {
		return err
	}
	n.Used = subSat(n.Used, p.Size)
	if f.Owner != n.Address {
		uncreditForOthers(n, p.Size)
	}
	n.PiecesLost++
	return setValue(st, lostKey(hp.File, p.Segment, p.Index), &LostPiece{File: hp.File, Piece: p, Reason: reason, Height: height})
}

// isLost reports whether the piece (file, segment, index) is recorded lost.
func isLost(st kvReader, file Hash, segment, index uint32) (bool, error) {
	b, err := st.Get(lostKey(file, segment, index))
	return b != nil, err
}
