package chain

import (
	"crypto/ed25519"
	"testing"
)

// The audit score follows the documented trajectory: from a new node's
// perfect score, five failed audits in a row suspend it, ten disqualify
// it; a suspended node that passes again is active again once its score is
// back above the threshold; a disqualified node stays disqualified.
func TestAuditScoreSuspendsThenDisqualifies(t *testing.T) {
	p := DefaultParams()
	n := &Node{Status: NodeActive, RepAlpha: initialAlpha(p)}
	if s := AuditScore(n); s != 1000 {
		t.Fatalf("new node scores %d", s)
	}
	var statuses []string
	for i := 0; i < 10; i++ {
		dq := recordAudit(p, n, false)
		statuses = append(statuses, n.Status)
		if dq != (i == 9) {
			t.Fatalf("audit %d: disqualified=%v (score %d)", i+1, dq, AuditScore(n))
		}
	}
	want := []string{NodeActive, NodeActive, NodeActive, NodeActive, NodeSuspended, NodeSuspended, NodeSuspended, NodeSuspended, NodeSuspended, NodeDisqualified}
	for i := range want {
		if statuses[i] != want[i] {
			t.Fatalf("statuses %v, want %v", statuses, want)
		}
	}
	if recordAudit(p, n, true); n.Status != NodeDisqualified {
		t.Fatalf("a disqualified node came back as %s", n.Status)
	}

	// Suspended after five failures, active again after enough passes.
	n = &Node{Status: NodeActive, RepAlpha: initialAlpha(p)}
	for range 5 {
		recordAudit(p, n, false)
	}
	if n.Status != NodeSuspended {
		t.Fatalf("after 5 failures: %s, score %d", n.Status, AuditScore(n))
	}
	passes := 0
	for n.Status == NodeSuspended && passes < 100 {
		recordAudit(p, n, true)
		passes++
	}
	if n.Status != NodeActive || passes < 2 {
		t.Fatalf("after %d passes: %s, score %d", passes, n.Status, AuditScore(n))
	}

	// An honest node with a failure every tenth audit (a bad disk sector
	// now and then) is never suspended.
	n = &Node{Status: NodeActive, RepAlpha: initialAlpha(p)}
	for i := range 1000 {
		recordAudit(p, n, i%10 != 9)
		if n.Status != NodeActive {
			t.Fatalf("audit %d: %s, score %d", i, n.Status, AuditScore(n))
		}
	}
}

// A wrong answer marks the challenged piece lost: the holder's Used and
// HeldForOthers drop by its size, /lost lists it with the reason, the
// piece is no longer challenged, and removing the file deletes the lost
// record without taking the bytes off the holder a second time.
func TestWrongAnswerMarksThePieceLost(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xc1}, hank, 4096), p.placeTx(p.alice, Hash{0xc2}, hank, 8192)}, 0, 0)
	before := p.node(hank)
	cs := p.challenges(hank)
	bad := cs.Challenges[0]
	p.run(t, [][]byte{p.prove(p.hank, 0)}, 0)
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil {
		t.Fatal(err)
	}
	if len(lost) != 1 || lost[0].File != bad.File || lost[0].Piece.Holder != hank || lost[0].Reason != LostFailedProof || lost[0].Height != p.height {
		t.Fatalf("lost %+v, challenged %+v", lost, bad)
	}
	after := p.node(hank)
	size := lost[0].Piece.Size
	if after.Used != before.Used-size || after.HeldForOthers != before.HeldForOthers-size || after.PiecesLost != 1 {
		t.Fatalf("before %+v after %+v (lost %d bytes)", before, after, size)
	}
	if s := AuditScore(&after); s >= 1000 {
		t.Fatalf("score %d after a failed audit", s)
	}
	var pieces []HeldPiece
	if err := listAll(p.testLedger, QueryPieces+hank.String(), &pieces); err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 1 || pieces[0].File == bad.File {
		t.Fatalf("hank still credited with %+v", pieces)
	}
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: bad.File})}, 0)
	if n := p.node(hank); n.Used != after.Used || n.HeldForOthers != after.HeldForOthers {
		t.Fatalf("removing the file with the lost piece took bytes again: %+v, was %+v", n, after)
	}
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 0 {
		t.Fatalf("lost after removal: %+v %v", lost, err)
	}
}

// ReportLost: a holder reports its own pieces; the credit goes, the score
// does not; reporting a piece it does not hold, one twice, none, or from a
// key that is not a node is refused with its code and changes nothing.
func TestReportLost(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank, henry := addrOf(p.hank), addrOf(p.henry)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xd1}, hank, 4096, 2048), p.placeTx(p.alice, Hash{0xd2}, henry, 4096)}, 0, 0)
	ref := PieceRef{File: Hash{0xd1}, Segment: 1}
	refused := []struct {
		key  ed25519.PrivateKey
		body *ReportLost
		want Code
	}{
		{p.hank, &ReportLost{}, CodeInvalid},
		{p.hank, &ReportLost{Pieces: []PieceRef{ref, ref}}, CodeInvalid},
		{p.hank, &ReportLost{Pieces: []PieceRef{{File: Hash{0xd2}}}}, CodeNotFound}, // henry's
		{p.hank, &ReportLost{Pieces: []PieceRef{{File: Hash{0xd1}, Segment: 7}}}, CodeNotFound},
		{p.carol, &ReportLost{Pieces: []PieceRef{ref}}, CodeHolderNotRegistered},
	}
	before := p.node(hank)
	for i, r := range refused {
		if c := p.check(p.sign(r.key, r.body)); Code(c.Code) != r.want {
			t.Fatalf("case %d: code %d (%s), want %d", i, c.Code, c.Log, r.want)
		}
		p.nonces[addrOf(r.key)]-- // refused: the nonce was not used
	}
	if n := p.node(hank); n.Used != before.Used {
		t.Fatal("a refused report changed the node")
	}
	p.run(t, [][]byte{p.sign(p.hank, &ReportLost{Pieces: []PieceRef{ref}})}, 0)
	n := p.node(hank)
	if n.Used != before.Used-2048 || n.HeldForOthers != before.HeldForOthers-2048 || n.PiecesLost != 1 {
		t.Fatalf("after report %+v, before %+v", n, before)
	}
	if n.RepAlpha != before.RepAlpha || n.RepBeta != before.RepBeta || n.Status != NodeActive {
		t.Fatalf("a report changed the audit score: %+v", n)
	}
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 1 || lost[0].Reason != LostReported {
		t.Fatalf("lost %+v %v", lost, err)
	}
	// Reporting it again: no longer credited.
	c := p.check(p.sign(p.hank, &ReportLost{Pieces: []PieceRef{ref}}))
	if Code(c.Code) != CodeNotFound {
		t.Fatalf("second report: code %d (%s)", c.Code, c.Log)
	}
}

// A holder that lost everything fails all c challenges of its first proof:
// c = 10 failed audits disqualify it in that epoch; all its pieces are
// marked lost, its earned quota goes, it can no longer prove or be given
// pieces. One that fails one challenge an epoch is only suspended at worst.
func TestHolderThatLostEverythingIsDisqualified(t *testing.T) {
	p := newProveLedger(t, 10, 2)
	hank := addrOf(p.hank)
	var txs [][]byte
	for i := range 12 {
		txs = append(txs, p.placeTx(p.alice, Hash{0xe0, byte(i)}, hank, 2048))
	}
	p.run(t, txs, make([]Code, len(txs))...)
	p.toEpoch(1)
	p.block()
	body := p.proofsFor(p.challenges(hank), -1)
	for i := range body.Proofs {
		body.Proofs[i] = nil // nothing to answer with
	}
	p.run(t, [][]byte{p.sign(p.hank, body)}, 0)
	n := p.node(hank)
	if n.Status != NodeDisqualified || n.Used != 0 || n.HeldForOthers != 0 || n.PiecesLost != 12 {
		t.Fatalf("disqualified node %+v", n)
	}
	if v := p.account(hank); v.QuotaEarned != 0 || v.QuotaLimit != 1<<30 {
		t.Fatalf("account %+v", v)
	}
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 12 {
		t.Fatalf("%d lost, %v", len(lost), err)
	}
	if c := p.check(p.placeTx(p.alice, Hash{0xef}, hank, 2048)); Code(c.Code) != CodeHolderUnavailable {
		t.Fatalf("placing on a disqualified holder: code %d (%s)", c.Code, c.Log)
	}
	p.toEpoch(2)
	p.block()
	if c := p.check(p.sign(p.hank, &ProveStorage{Epoch: 2})); Code(c.Code) != CodeHolderUnavailable {
		t.Fatalf("a disqualified holder's proof: code %d (%s)", c.Code, c.Log)
	}
}
