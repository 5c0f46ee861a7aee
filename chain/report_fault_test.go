package chain

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"reflect"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/coop-network/coop/proofs"
)

// leafAnswer is holder key k's signed answer for leaf of segment seg of
// file id (a K=1 placement: index 0), with a real proof; corrupt flips a
// leaf byte before signing.
func (p *proveLedger) leafAnswer(k ed25519.PrivateKey, id Hash, seg uint32, leaf uint64, corrupt bool) LeafAnswer {
	p.t.Helper()
	var f File
	if err := p.query(QueryFile+id.String(), &f); err != nil {
		p.t.Fatal(err)
	}
	pc := f.Pieces[seg]
	b := p.data[pc.ID]
	tree, err := proofs.BuildTree(bytes.NewReader(b))
	if err != nil {
		p.t.Fatal(err)
	}
	lo := leaf * proofs.LeafSize
	pr, err := tree.Prove(leaf, b[lo:min(lo+proofs.LeafSize, uint64(len(b)))])
	if err != nil {
		p.t.Fatal(err)
	}
	if corrupt {
		pr.Leaf[0] ^= 1
	}
	raw, err := pr.MarshalBinary()
	if err != nil {
		p.t.Fatal(err)
	}
	a := LeafAnswer{File: id, Segment: seg, Index: pc.Index, Piece: pc.ID, Leaf: leaf, Proof: raw}
	a.Sign(k, testChainID)
	return a
}

// The evidence store of the committed state: every fault/ record.
func (p *proveLedger) faults() []FaultRecord {
	p.t.Helper()
	pairs, err := scanPrefix(p.app.committed(), []byte(prefixFault), 1000)
	if err != nil {
		p.t.Fatal(err)
	}
	var out []FaultRecord
	for _, kv := range pairs {
		var r FaultRecord
		if err := Unmarshal(kv.value, &r); err != nil {
			p.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// A holder's signed wrong answer, reported by a fresh unfunded key, is a
// fault: the piece is lost (reason fault), the holder's score counts a
// failed audit and its Faults go up, the evidence is recorded with the
// reporter; the same evidence again is refused as already counted, and a
// second wrong answer about the now lost piece finds nothing to blame.
func TestReportFaultCountsAWrongSignedAnswer(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	reporter := testKey(77) // never funded, never signed
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xf1}, hank, 4096, 3000)}, 0)
	before := p.node(hank)
	bad := p.leafAnswer(p.hank, Hash{0xf1}, 1, 2, true)
	tx := p.sign(reporter, &ReportFault{Answer: bad})
	p.run(t, [][]byte{tx}, 0)

	after := p.node(hank)
	if after.Faults != 1 || after.PiecesLost != 1 || after.Used != before.Used-3000 || after.HeldForOthers != before.HeldForOthers-3000 {
		t.Fatalf("before %+v after %+v", before, after)
	}
	if s := AuditScore(&after); s >= 1000 || after.Status != NodeActive {
		t.Fatalf("score %d status %s after one fault", s, after.Status)
	}
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 1 || lost[0].Reason != LostFault || lost[0].Piece.Segment != 1 {
		t.Fatalf("lost %+v %v", lost, err)
	}
	ev := bad.EvidenceID(testChainID)
	var rec FaultRecord
	if err := p.query(QueryFault+ev.String(), &rec); err != nil {
		t.Fatal(err)
	}
	want := FaultRecord{Evidence: ev, Holder: hank, File: Hash{0xf1}, Segment: 1, Piece: bad.Piece, Leaf: 2, Reporter: addrOf(reporter), Height: p.height}
	if rec != want {
		t.Fatalf("fault record %+v, want %+v", rec, want)
	}
	if err := p.query(QueryFault+Hash{1}.String(), &rec); err == nil || !strings.Contains(err.Error(), "fault evidence") {
		t.Fatalf("/fault/ of unknown evidence: %v", err)
	}
	if err := p.query(QueryFault+"zz", &rec); err == nil {
		t.Fatal("/fault/ of a malformed id answered")
	}

	// Replay: the same evidence, by anyone, is refused as counted.
	for _, k := range []ed25519.PrivateKey{reporter, p.alice} {
		if c := p.check(p.sign(k, &ReportFault{Answer: bad})); Code(c.Code) != CodeExists {
			t.Fatalf("replay: code %d (%s)", c.Code, c.Log)
		}
		p.nonces[addrOf(k)]--
	}
	// Another wrong answer about the lost piece: it is no longer credited.
	other := p.leafAnswer(p.hank, Hash{0xf1}, 1, 0, true)
	if c := p.check(p.sign(reporter, &ReportFault{Answer: other})); Code(c.Code) != CodeNotFound {
		t.Fatalf("fault on a lost piece: code %d (%s)", c.Code, c.Log)
	}
}

// What ReportFault refuses, each with its code and no change to the holder,
// the lost pieces or the evidence: a forged or moved signature, a correct
// answer, a piece the holder is not credited with (another holder's, or
// another piece id), a leaf the piece does not have, an oversized proof,
// and junk from a fresh key. Included in a block, a refused report changes
// nothing but its signer's nonce.
func TestReportFaultRefusals(t *testing.T) {
	p := newProveLedger(t, 10, 1000) // no epoch ends: only the reports can change the nodes
	hank, henry := addrOf(p.hank), addrOf(p.henry)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xf2}, hank, 4096), p.placeTx(p.alice, Hash{0xf3}, henry, 2048)}, 0, 0)
	fresh := testKey(78)

	good := p.leafAnswer(p.hank, Hash{0xf2}, 0, 1, false)
	bad := p.leafAnswer(p.hank, Hash{0xf2}, 0, 1, true)

	forgedKey := bad // signed by carol, claims hank
	forgedKey.Sign(p.carol, testChainID)
	forgedKey.Holder = hank
	flipped := bad
	flipped.Sig = append([]byte(nil), bad.Sig...)
	flipped.Sig[5] ^= 1
	moved := bad // hank's signature, moved to another leaf
	moved.Leaf = 2
	otherChain := bad
	otherChain.Sign(p.hank, "another-chain")
	henrys := p.leafAnswer(p.hank, Hash{0xf3}, 0, 0, true) // hank signs about henry's piece
	henrysOwn := p.leafAnswer(p.henry, Hash{0xf3}, 0, 0, true)
	henrysOwn.Holder = hank // claims hank holds it: key mismatch
	wrongID := bad
	wrongID.Piece = Hash{0x99}
	wrongID.Sign(p.hank, testChainID)
	noLeaf := bad
	noLeaf.Leaf = 4 // a 4096-byte piece has leaves 0..3
	noLeaf.Sign(p.hank, testChainID)
	huge := bad
	huge.Proof = make([]byte, MaxLeafProofSize+1)
	huge.Sign(p.hank, testChainID)
	junk := LeafAnswer{Holder: hank, File: Hash{0xf2}, Proof: []byte("junk"), PubKey: make([]byte, 32), Sig: make([]byte, 64)}
	empty := LeafAnswer{}

	refused := []struct {
		name string
		key  ed25519.PrivateKey
		a    LeafAnswer
		want Code
	}{
		{"another key claims the holder", fresh, forgedKey, CodeBadSignature},
		{"flipped signature", fresh, flipped, CodeBadSignature},
		{"signature moved to another leaf", fresh, moved, CodeBadSignature},
		{"signed for another chain", fresh, otherChain, CodeBadSignature},
		{"henry's signature, hank named", fresh, henrysOwn, CodeBadSignature},
		{"correct answer", fresh, good, CodeNoFault},
		{"correct answer, by the owner", p.alice, good, CodeNoFault},
		{"another holder's piece", fresh, henrys, CodeNotFound},
		{"another piece id", fresh, wrongID, CodeNotFound},
		{"a leaf the piece lacks", fresh, noLeaf, CodeInvalid},
		{"oversized proof", fresh, huge, CodeInvalid},
		{"junk", fresh, junk, CodeBadSignature},
		{"empty", fresh, empty, CodeBadSignature},
	}
	hankBefore, henryBefore := p.node(hank), p.node(henry)
	for _, r := range refused {
		if c := p.check(p.sign(r.key, &ReportFault{Answer: r.a})); Code(c.Code) != r.want {
			t.Fatalf("%s: CheckTx code %d (%s), want %d", r.name, c.Code, c.Log, r.want)
		}
		p.nonces[addrOf(r.key)]--
	}
	// A proposer includes them anyway: each is refused in the block too.
	for _, r := range refused {
		if res := p.block(p.sign(r.key, &ReportFault{Answer: r.a})); Code(res[0].Code) != r.want {
			t.Fatalf("%s: block code %d (%s), want %d", r.name, res[0].Code, res[0].Log, r.want)
		}
	}
	if n := p.node(hank); !reflect.DeepEqual(n, hankBefore) {
		t.Fatalf("hank changed: %+v, was %+v", n, hankBefore)
	}
	if n := p.node(henry); !reflect.DeepEqual(n, henryBefore) {
		t.Fatalf("henry changed: %+v, was %+v", n, henryBefore)
	}
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 0 {
		t.Fatalf("lost %+v %v", lost, err)
	}
	if f := p.faults(); len(f) != 0 {
		t.Fatalf("evidence recorded: %+v", f)
	}
	// The fresh key gained an account (its nonce) and nothing else.
	if v := p.account(addrOf(fresh)); v.Credits != 0 || v.QuotaUsed != 0 {
		t.Fatalf("fresh key's account %+v", v)
	}
	// The correct answer's evidence id is not burnt: the real wrong answer
	// still counts afterwards.
	p.run(t, [][]byte{p.sign(fresh, &ReportFault{Answer: bad})}, 0)
	if n := p.node(hank); n.Faults != 1 {
		t.Fatalf("hank %+v", n)
	}
}

// Faults are audits: ten wrong signed answers disqualify a holder, and
// all its other pieces are marked lost.
func TestReportFaultsDisqualify(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	var txs [][]byte
	for i := range 12 {
		txs = append(txs, p.placeTx(p.alice, Hash{0xf4, byte(i)}, hank, 2048))
	}
	p.run(t, txs, make([]Code, len(txs))...)
	reporter := testKey(79)
	for i := range 10 {
		if s := p.node(hank).Status; s == NodeDisqualified {
			t.Fatalf("disqualified after %d faults", i)
		}
		p.run(t, [][]byte{p.sign(reporter, &ReportFault{Answer: p.leafAnswer(p.hank, Hash{0xf4, byte(i)}, 0, 1, true)})}, 0)
	}
	n := p.node(hank)
	if n.Status != NodeDisqualified || n.Faults != 10 || n.PiecesLost != 12 || n.Used != 0 {
		t.Fatalf("after 10 faults: %+v (score %d)", n, AuditScore(&n))
	}
	var lost []LostPiece
	if err := listAll(p.testLedger, QueryLost, &lost); err != nil || len(lost) != 12 {
		t.Fatalf("%d lost, %v", len(lost), err)
	}
}

// ProofsMissed counts the epochs settled as missing, and only those: a
// proved and an invalid epoch leave it alone.
func TestProofsMissedCountsMissingEpochs(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xf5}, hank, 4096, 4096)}, 0)
	p.toEpoch(1)
	p.block()
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0) // epoch 1 proved
	p.toEpoch(4)                               // epochs 2, 3 missing
	p.block()
	p.run(t, [][]byte{p.prove(p.hank, 0)}, 0) // epoch 4 invalid
	p.toEpoch(5)
	p.block()
	n := p.node(hank)
	if n.ProofsMissed != 2 || n.ProofsPassed != 1 || n.ProofsFailed != 1 {
		t.Fatalf("node %+v: want 2 missed, 1 passed, 1 failed", n)
	}
}

// FuzzReportFault signs arbitrary proofs and leaf indices as hank's answers
// about his piece and checks what CheckTx makes of them: never an internal
// error, a leaf past the piece refused (7), and otherwise accepted (0)
// exactly when the answer does not verify against the recorded root, else
// refused as no fault (24).
func FuzzReportFault(f *testing.F) {
	p := newProveLedger(f, 10, 1000)
	hank := addrOf(p.hank)
	id := Hash{0xf6}
	tx := p.placeTx(p.alice, id, hank, 5000)
	if c := p.check(tx); c.Code != 0 {
		f.Fatal(c.Log)
	}
	p.block(tx)
	var file File
	if err := p.query(QueryFile+id.String(), &file); err != nil {
		f.Fatal(err)
	}
	pc := file.Pieces[0]
	good := p.leafAnswer(p.hank, id, 0, 2, false)
	bad := p.leafAnswer(p.hank, id, 0, 2, true)
	f.Add(good.Proof, uint64(2))
	f.Add(bad.Proof, uint64(2))
	f.Add(good.Proof, uint64(3))
	f.Add([]byte("junk"), uint64(0))
	f.Add([]byte{}, uint64(5))
	n := 1000
	f.Fuzz(func(t *testing.T, proof []byte, leaf uint64) {
		n++
		a := LeafAnswer{File: id, Segment: 0, Index: pc.Index, Piece: pc.ID, Leaf: leaf, Proof: proof}
		a.Sign(p.hank, testChainID)
		reporter := testKey(n)
		ftx, err := NewTx(testChainID, &ReportFault{Answer: a}, reporter, 0)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.app.CheckTx(context.Background(), &abci.CheckTxRequest{Tx: ftx.Bytes(), Type: abci.CHECK_TX_TYPE_CHECK})
		if err != nil {
			t.Fatal(err)
		}
		// Forget what this check did to the mempool's view: each input is
		// judged against the same committed state.
		p.app.mu.Lock()
		p.app.resetCheck(p.app.committed())
		p.app.mu.Unlock()
		var want Code
		switch {
		case len(proof) > MaxLeafProofSize:
			want = CodeInvalid
		case leaf >= pc.Leaves:
			want = CodeInvalid
		case a.Judge(pc) == nil:
			want = CodeNoFault
		default:
			want = CodeOK
		}
		if Code(res.Code) != want {
			t.Fatalf("proof of %d bytes, leaf %d: code %d (%s), want %d", len(proof), leaf, res.Code, res.Log, want)
		}
	})
}
