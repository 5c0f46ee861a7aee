package chain

import (
	"crypto/ed25519"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// replaceLedger is a proveLedger with alice's file F of one segment of two
// copies (K = 1, M = 1: both pieces are the same bytes, so proofs of either
// are real) on hank (piece 0/0) and henry (piece 0/1), and two more nodes,
// carol and ivan, that hold nothing yet. mallory is a fresh key: no
// credits, no node.
type replaceLedger struct {
	*proveLedger
	ivan, tiny, mallory ed25519.PrivateKey
	file                Hash
	size                uint64
	placement           *PlaceFile // F's placement, with the holders' receipts
}

func newReplaceLedger(t *testing.T, epochLength uint64) *replaceLedger {
	t.Helper()
	r := &replaceLedger{proveLedger: newProveLedger(t, 10, epochLength), ivan: testKey(13), tiny: testKey(14), mallory: testKey(99), file: Hash{0xf1}, size: 3000}
	p := r.proveLedger
	p.run(t, [][]byte{
		p.sign(p.carol, registerBody(t, p.carol, 1<<30)),
		p.sign(r.ivan, registerBody(t, r.ivan, 1<<30)),
		p.sign(r.tiny, registerBody(t, r.tiny, 100)),
	}, 0, 0, 0)
	b := make([]byte, r.size)
	for i := range b {
		b[i] = byte(p.rng.Uint32())
	}
	id := Hash(proofs.IDOf(b))
	p.data[id] = b
	pc := Piece{ID: id, Size: r.size, Root: Hash(proofs.Root(b)), Leaves: proofs.LeafCount(int64(r.size))}
	pf := &PlaceFile{FileID: r.file, Size: r.size, K: 1, M: 1}
	for i, h := range []Address{addrOf(p.hank), addrOf(p.henry)} {
		q := pc
		q.Index, q.Holder = uint32(i), h
		pf.Pieces = append(pf.Pieces, q)
	}
	p.run(t, [][]byte{p.sign(p.alice, p.receipted(p.alice, pf))}, 0)
	r.placement = pf
	return r
}

func (r *replaceLedger) fileRec() File {
	r.t.Helper()
	var f File
	if err := r.query(QueryFile+r.file.String(), &f); err != nil {
		r.t.Fatal(err)
	}
	return f
}

// receipt is holder key k's receipt for pieces of F (by index) as the file
// records them, for owner alice, expiring at expires.
func (r *replaceLedger) receipt(k ed25519.PrivateKey, expires int64, idx ...uint32) Receipt {
	f := r.fileRec()
	var ps []ReceiptPiece
	for _, i := range idx {
		p := f.Pieces[i]
		ps = append(ps, ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
	}
	return SignReceipt(k, testChainID, r.file, addrOf(r.alice), expires, ps)
}

// replace is the ReplacePieces moving piece 0/idx of F to holder k, with
// k's receipt.
func (r *replaceLedger) replace(k ed25519.PrivateKey, idx uint32) *ReplacePieces {
	return &ReplacePieces{FileID: r.file, Pieces: []Replacement{{Index: idx, Holder: addrOf(k)}}, Receipts: []Receipt{r.receipt(k, r.height+receiptTestLife, idx)}}
}

// refuse checks that signer's tx is refused with want, in CheckTx and in
// a block (not an epoch's first, so nothing else happens in it), and that
// the block changed nothing but the signer's account (its spent nonce).
func (r *replaceLedger) refuse(t *testing.T, name string, signer ed25519.PrivateKey, body *ReplacePieces, want Code) {
	t.Helper()
	if uint64(r.height)%r.epochLength == 0 {
		r.block()
	}
	tx := r.sign(signer, body)
	if c := r.check(tx); Code(c.Code) != want {
		t.Fatalf("%s: CheckTx code %d (%s), want %d", name, c.Code, c.Log, want)
	}
	before := dump(t, r.app)
	if res := r.block(tx); Code(res[0].Code) != want {
		t.Fatalf("%s: code %d (%s), want %d", name, res[0].Code, res[0].Log, want)
	}
	for _, k := range stateDiff(before, dump(t, r.app)) {
		if k != string(accountKey(addrOf(signer))) {
			t.Fatalf("%s: a refused replacement changed %q", name, k)
		}
	}
}

// A lost piece is repaired by anyone, even a fresh unfunded key: the file
// names the new holder, which is credited (used, held_for_others,
// prove_from) and challenged over it, the lost record goes, and the new
// holder's next proof over the piece is judged proved. Replacing it again
// is refused: its holder is now live.
func TestReplaceLostPiece(t *testing.T) {
	r := newReplaceLedger(t, 4)
	hank, carol := addrOf(r.hank), addrOf(r.carol)
	r.run(t, [][]byte{r.sign(r.hank, &ReportLost{Pieces: []PieceRef{{File: r.file}}})}, 0)
	if v := r.account(addrOf(r.mallory)); v.Exists || v.Credits != 0 {
		t.Fatalf("mallory is not fresh: %+v", v)
	}
	before := r.node(carol)
	body := r.replace(r.carol, 0)
	r.run(t, [][]byte{r.sign(r.mallory, body)}, 0)

	f := r.fileRec()
	if f.Pieces[0].Holder != carol || f.Pieces[1].Holder != addrOf(r.henry) {
		t.Fatalf("holders after repair: %s %s", f.Pieces[0].Holder, f.Pieces[1].Holder)
	}
	after := r.node(carol)
	e := r.epochNow()
	if after.Used != before.Used+r.size || after.HeldForOthers != before.HeldForOthers+r.size || after.ProveFrom != e+1 {
		t.Fatalf("carol before %+v after %+v (epoch %d)", before, after, e)
	}
	var held []HeldPiece
	if err := listAll(r.testLedger, QueryPieces+carol.String(), &held); err != nil || len(held) != 1 || held[0].File != r.file || held[0].Piece.Holder != carol {
		t.Fatalf("carol's pieces %+v %v", held, err)
	}
	var lost []LostPiece
	if err := listAll(r.testLedger, QueryLost, &lost); err != nil || len(lost) != 0 {
		t.Fatalf("lost after repair %+v %v", lost, err)
	}
	if h := r.node(hank); h.Used != 0 || h.PiecesLost != 1 {
		t.Fatalf("hank %+v", h)
	}
	if v := r.account(addrOf(r.mallory)); v.Credits != 0 || v.QuotaUsed != 0 {
		t.Fatalf("the repairer gained or paid something: %+v", v)
	}

	// Double replacement: the piece is carol's now, and she is live.
	r.refuse(t, "again", r.mallory, r.replace(r.ivan, 0), CodeNotRepairable)

	// Carol's next proof confirms the work.
	r.toEpoch(after.ProveFrom)
	r.block()
	res := r.run(t, [][]byte{r.prove(r.carol, -1)}, 0)
	if got := eventOutcome(res[0]); got != OutcomeProved {
		t.Fatalf("carol's first proof: %q", got)
	}
}

func (r *replaceLedger) epochNow() uint64 {
	r.t.Helper()
	var e Epoch
	if err := r.query(QueryEpoch, &e); err != nil {
		r.t.Fatal(err)
	}
	return e.Number
}

// The refusals: each attack or mistake is refused with its code and
// changes nothing, whoever signs.
func TestReplacePiecesRefusals(t *testing.T) {
	r := newReplaceLedger(t, 1000) // no epoch ends: every holder stays live
	r.run(t, [][]byte{r.sign(r.hank, &ReportLost{Pieces: []PieceRef{{File: r.file}}})}, 0)
	exp := r.height + receiptTestLife
	// Hank's placement receipt is a valid receipt for moving the piece he
	// lost back to him (a receipt does not say what it was signed for):
	// only the rule on former holders stops its replay.
	p0 := r.fileRec().Pieces[0]
	if err := r.placement.Receipts[0].Verify(testChainID, r.file, addrOf(r.alice), addrOf(r.hank), []ReceiptPiece{{ID: p0.ID, Root: p0.Root, Size: p0.Size, Leaves: p0.Leaves}}); err != nil || r.placement.Receipts[0].Expires <= r.height+1 {
		t.Fatalf("hank's placement receipt would not do for a replay anyway: %v", err)
	}
	good := func() *ReplacePieces { return r.replace(r.carol, 0) }
	with := func(f func(b *ReplacePieces)) func() *ReplacePieces {
		return func() *ReplacePieces { b := good(); f(b); return b }
	}
	rep := func(k ed25519.PrivateKey, idx uint32) func() *ReplacePieces {
		return func() *ReplacePieces { return r.replace(k, idx) }
	}
	cases := []struct {
		name string
		body func() *ReplacePieces
		want Code
	}{
		// Hank lost the piece: his own receipt for it, fresh or the one he
		// signed for the placement (replayed), cannot put it back on him.
		{"the piece's former holder", rep(r.hank, 0), CodeDuplicateHolder},
		{"the former holder's placement receipt replayed", with(func(b *ReplacePieces) {
			b.Pieces[0].Holder = addrOf(r.hank)
			b.Receipts[0] = r.placement.Receipts[0]
		}), CodeDuplicateHolder},
		// A live, proving holder's piece.
		{"live holder", rep(r.carol, 1), CodeNotRepairable},
		{"no pieces", with(func(b *ReplacePieces) { b.Pieces = nil }), CodeInvalid},
		{"one piece twice", with(func(b *ReplacePieces) { b.Pieces = append(b.Pieces, b.Pieces[0]) }), CodeInvalid},
		{"no such index", with(func(b *ReplacePieces) { b.Pieces[0].Index = 2 }), CodeInvalid},
		{"no such segment", with(func(b *ReplacePieces) { b.Pieces[0].Segment = 1 }), CodeInvalid},
		{"no such file", with(func(b *ReplacePieces) { b.FileID = Hash{0xee} }), CodeNotFound},
		// A fresh key names carol without her receipt, or with one it
		// forged with its own key, or with one for other pieces, owner or
		// file: it cannot credit a node that did not take the piece.
		{"missing receipt", with(func(b *ReplacePieces) { b.Receipts = nil }), CodeBadReceipt},
		{"extra receipt", with(func(b *ReplacePieces) { b.Receipts = append(b.Receipts, b.Receipts[0]) }), CodeBadReceipt},
		{"forged receipt", with(func(b *ReplacePieces) {
			b.Receipts[0] = SignReceipt(r.mallory, testChainID, r.file, addrOf(r.alice), exp, []ReceiptPiece{{ID: r.fileRec().Pieces[0].ID}})
		}), CodeBadReceipt},
		{"receipt with a bad signature", with(func(b *ReplacePieces) { b.Receipts[0].Sig[0] ^= 1 }), CodeBadReceipt},
		{"receipt for another owner", with(func(b *ReplacePieces) {
			p := r.fileRec().Pieces[0]
			b.Receipts[0] = SignReceipt(r.carol, testChainID, r.file, addrOf(r.mallory), exp, []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeBadReceipt},
		{"receipt for other pieces", with(func(b *ReplacePieces) {
			b.Receipts[0] = SignReceipt(r.carol, testChainID, r.file, addrOf(r.alice), exp, []ReceiptPiece{{ID: Hash{1}, Size: r.size, Leaves: 3}})
		}), CodeBadReceipt},
		{"receipt of another file", with(func(b *ReplacePieces) {
			p := r.fileRec().Pieces[0]
			b.Receipts[0] = SignReceipt(r.carol, testChainID, Hash{0xee}, addrOf(r.alice), exp, []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeBadReceipt},
		{"expired receipt", with(func(b *ReplacePieces) { b.Receipts[0] = r.receipt(r.carol, r.height, 0) }), CodeReceiptExpired},
		{"receipt too far ahead", with(func(b *ReplacePieces) {
			b.Receipts[0] = r.receipt(r.carol, r.height+3+int64(DefaultParams().ReceiptTTL), 0)
		}), CodeReceiptExpired},
		// Henry holds the segment's other piece.
		{"holder already in the segment", rep(r.henry, 0), CodeDuplicateHolder},
		{"holder not a node", rep(r.mallory, 0), CodeHolderNotRegistered},
		{"holder without room", rep(r.tiny, 0), CodeNoCapacity},
	}
	for _, c := range cases {
		exp = r.height + receiptTestLife
		r.refuse(t, c.name, r.mallory, c.body(), c.want)
	}
	// The good one still goes through, from the owner this time.
	r.run(t, [][]byte{r.sign(r.alice, good())}, 0)
}

// A holder that misses its proofs: below repair_after_missed missed epochs
// in a row its piece is not repairable; from then on a ReplacePieces takes
// it off the holder (marked lost as "offline": pieces_lost, used drop) and
// gives it to the new holder. A node that is itself missing cannot be the
// new holder.
func TestReplaceOfflineHolder(t *testing.T) {
	r := newReplaceLedger(t, 4)
	hank := addrOf(r.hank)
	after := DefaultParams().RepairAfterMissed
	// Another file on ivan, so ivan owes proofs and can miss too.
	r.run(t, [][]byte{r.placeTx(r.alice, Hash{0xf2}, addrOf(r.ivan), 2048)}, 0)
	for e := uint64(1); ; e++ {
		r.toEpoch(e)
		r.block() // settles epoch e−1
		if n := r.node(hank); n.MissedInRow >= after {
			break
		} else if e > after+2 {
			t.Fatalf("hank missed %d in a row by epoch %d", n.MissedInRow, e)
		}
		r.refuse(t, "before", r.mallory, r.replace(r.carol, 0), CodeNotRepairable)
		r.run(t, [][]byte{r.prove(r.henry, -1)}, 0) // henry stays live
	}
	if n := r.node(addrOf(r.ivan)); n.MissedInRow < after {
		t.Fatalf("ivan missed %d", n.MissedInRow)
	}
	r.refuse(t, "a missing new holder", r.mallory, r.replace(r.ivan, 0), CodeHolderUnavailable)
	r.refuse(t, "henry is live", r.mallory, r.replace(r.carol, 1), CodeNotRepairable)
	before := r.node(hank)
	r.run(t, [][]byte{r.sign(r.mallory, r.replace(r.carol, 0))}, 0)
	n := r.node(hank)
	if n.Used != before.Used-r.size || n.HeldForOthers != before.HeldForOthers-r.size || n.PiecesLost != before.PiecesLost+1 {
		t.Fatalf("hank before %+v after %+v", before, n)
	}
	if f := r.fileRec(); f.Pieces[0].Holder != addrOf(r.carol) {
		t.Fatalf("piece 0 is %s's", f.Pieces[0].Holder)
	}
	var lost []LostPiece
	if err := listAll(r.testLedger, QueryLost, &lost); err != nil || len(lost) != 0 {
		t.Fatalf("lost %+v %v", lost, err)
	}

	// Hank now holds nothing: back online, he may take a piece again (of
	// ivan's file, ivan being offline too), and his missed epochs no
	// longer count, so the piece is not repairable off him at once.
	var f2 File
	if err := r.query(QueryFile+(Hash{0xf2}).String(), &f2); err != nil {
		t.Fatal(err)
	}
	p := f2.Pieces[0]
	rc := SignReceipt(r.hank, testChainID, f2.ID, addrOf(r.alice), r.height+receiptTestLife, []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
	r.run(t, [][]byte{r.sign(r.mallory, &ReplacePieces{FileID: f2.ID, Pieces: []Replacement{{Holder: hank}}, Receipts: []Receipt{rc}})}, 0)
	if n := r.node(hank); n.MissedInRow != 0 || n.Used != p.Size || n.ProveFrom != r.epochNow()+1 {
		t.Fatalf("hank back: %+v", n)
	}
	r.refuse(t, "hank is back", r.mallory, &ReplacePieces{FileID: f2.ID, Pieces: []Replacement{{Holder: addrOf(r.carol)}}, Receipts: []Receipt{rc}}, CodeNotRepairable)
}

// A node that missed its epochs and then held nothing starts afresh when a
// placement gives it pieces again: missed_in_row is cleared with its new
// prove_from, so its new pieces are not repairable at once.
func TestPlacementClearsMissedEpochsOfAnEmptyNode(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xa1}, hank, 2048)}, 0)
	for e := uint64(1); p.node(hank).MissedInRow < DefaultParams().RepairAfterMissed; e++ {
		p.toEpoch(e)
		p.block()
	}
	p.run(t, [][]byte{p.sign(p.hank, &ReportLost{Pieces: []PieceRef{{File: Hash{0xa1}}}})}, 0)
	if n := p.node(hank); n.Used != 0 || n.MissedInRow < DefaultParams().RepairAfterMissed {
		t.Fatalf("hank %+v", n)
	}
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xa2}, hank, 2048)}, 0)
	if n := p.node(hank); n.MissedInRow != 0 || n.Used != 2048 {
		t.Fatalf("hank given a piece again: %+v", n)
	}
}

// Repairable's reasons.
func TestRepairable(t *testing.T) {
	p := DefaultParams()
	cases := []struct {
		lost bool
		n    *Node
		want string
	}{
		{true, nil, "lost"},
		{false, nil, ""},
		{false, &Node{Status: NodeActive}, ""},
		{false, &Node{Status: NodeSuspended, MissedInRow: p.RepairAfterMissed - 1}, ""},
		{false, &Node{Status: NodeActive, MissedInRow: p.RepairAfterMissed}, LostOffline},
		{false, &Node{Status: NodeDisqualified}, LostDisqualified},
	}
	for i, c := range cases {
		if got := Repairable(p, c.lost, c.n); got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}
