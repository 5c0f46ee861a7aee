package chain

import (
	"crypto/ed25519"
	"math/rand/v2"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// raiseLedger is a proveLedger (quota allowance as given) where alice's
// file F of two segments (3000 and 1000 bytes) was stored as two copies
// (K = 1, M = 1) on hank and henry although she asked for four (AskedM =
// 3): the network had two nodes then. carol and ivan joined since; tiny has
// 100 bytes of room; mallory is a fresh key.
type raiseLedger struct {
	*proveLedger
	ivan, tiny, mallory ed25519.PrivateKey
	file                Hash
	segs                []Piece // each segment's piece 0
}

func newRaiseLedger(t *testing.T, allowance uint64) *raiseLedger {
	t.Helper()
	p := &proveLedger{epochLength: 4, alice: testKey(0), hank: testKey(11), henry: testKey(12), carol: testKey(2), data: map[Hash][]byte{}, rng: rand.New(rand.NewPCG(5, 6))}
	g := testGenesis(p.alice)
	g.Params.EpochLength = 4
	g.Params.UptimeWindow = 10
	g.Params.UptimeMinPercent = 70
	g.Params.Allowance = allowance
	p.testLedger = newTestLedgerGenesis(t, "", g)
	r := &raiseLedger{proveLedger: p, ivan: testKey(13), tiny: testKey(14), mallory: testKey(99), file: Hash{0xf2}}
	p.run(t, [][]byte{
		p.sign(p.hank, registerBody(t, p.hank, 1<<30)),
		p.sign(p.henry, registerBody(t, p.henry, 1<<30)),
	}, 0, 0)
	pf := &PlaceFile{FileID: r.file, Size: 4000, K: 1, M: 1, AskedM: 3}
	for s, size := range []int{3000, 1000} {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(p.rng.Uint32())
		}
		id := Hash(proofs.IDOf(b))
		p.data[id] = b
		pc := Piece{Segment: uint32(s), ID: id, Size: uint64(size), Root: Hash(proofs.Root(b)), Leaves: proofs.LeafCount(int64(size))}
		r.segs = append(r.segs, pc)
		for i, h := range []Address{addrOf(p.hank), addrOf(p.henry)} {
			q := pc
			q.Index, q.Holder = uint32(i), h
			pf.Pieces = append(pf.Pieces, q)
		}
	}
	p.run(t, [][]byte{p.sign(p.alice, p.receipted(p.alice, pf))}, 0)
	p.run(t, [][]byte{
		p.sign(p.carol, registerBody(t, p.carol, 1<<30)),
		p.sign(r.ivan, registerBody(t, r.ivan, 1<<30)),
		p.sign(r.tiny, registerBody(t, r.tiny, 100)),
	}, 0, 0, 0)
	return r
}

func (r *raiseLedger) fileRec() File {
	r.t.Helper()
	var f File
	if err := r.query(QueryFile+r.file.String(), &f); err != nil {
		r.t.Fatal(err)
	}
	return f
}

// raise is the RaisePieces taking F from its M to M+len(holders[0]) with
// copies: holders[s][j] takes the j-th added copy of segment s, with
// receipts for owner alice.
func (r *raiseLedger) raise(holders ...[]ed25519.PrivateKey) *RaisePieces {
	f := r.fileRec()
	b := &RaisePieces{FileID: r.file, M: f.M + uint32(len(holders[0]))}
	keys := map[Address]ed25519.PrivateKey{}
	var order []Address
	mine := map[Address][]ReceiptPiece{}
	for s, hs := range holders {
		for j, k := range hs {
			p := r.segs[s]
			p.Index, p.Holder = f.K+f.M+uint32(j), addrOf(k)
			b.Pieces = append(b.Pieces, p)
			if _, ok := keys[p.Holder]; !ok {
				keys[p.Holder] = k
				order = append(order, p.Holder)
			}
			mine[p.Holder] = append(mine[p.Holder], ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
		}
	}
	for _, a := range order {
		b.Receipts = append(b.Receipts, SignReceipt(keys[a], testChainID, r.file, addrOf(r.alice), r.height+receiptTestLife, mine[a]))
	}
	return b
}

// refuse checks that signer's tx is refused with want, in CheckTx and in
// a block, and changed nothing but the signer's account (its nonce).
func (r *raiseLedger) refuse(t *testing.T, name string, signer ed25519.PrivateKey, body Body, want Code) {
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
			t.Fatalf("%s: a refused tx changed %q", name, k)
		}
	}
}

// A file stored as two copies where four were asked is raised by its owner
// in two steps as nodes join: each step adds a copy to every segment on a
// new holder, charged to the owner and credited to the holder as a
// placement is; the file's pieces stay segment by segment. The new
// holder's proofs over the added piece are judged proved. Past the asked
// redundancy nothing more is accepted.
func TestRaisePiecesAddsCopies(t *testing.T) {
	r := newRaiseLedger(t, 1<<30)
	alice, carol, ivan := addrOf(r.alice), addrOf(r.carol), addrOf(r.ivan)
	f0 := r.fileRec()
	if f0.M != 1 || f0.AskedM != 3 || !f0.Raising() || f0.Bytes != 8000 {
		t.Fatalf("placed file %+v", f0)
	}
	q0 := r.account(alice).QuotaUsed
	c0 := r.node(carol)
	r.run(t, [][]byte{r.sign(r.alice, r.raise([]ed25519.PrivateKey{r.carol}, []ed25519.PrivateKey{r.ivan}))}, 0)
	f := r.fileRec()
	if f.M != 2 || len(f.Pieces) != 6 || f.Bytes != 12000 || !f.Raising() {
		t.Fatalf("after the first raise: m=%d pieces=%d bytes=%d", f.M, len(f.Pieces), f.Bytes)
	}
	for i, p := range f.Pieces {
		if p.Segment != uint32(i/3) || p.Index != uint32(i%3) || p.ID != r.segs[i/3].ID {
			t.Fatalf("piece %d is %d/%d %s", i, p.Segment, p.Index, p.ID)
		}
	}
	if f.Pieces[2].Holder != carol || f.Pieces[5].Holder != ivan {
		t.Fatalf("added copies held by %s and %s", f.Pieces[2].Holder, f.Pieces[5].Holder)
	}
	if q := r.account(alice).QuotaUsed; q != q0+4000 {
		t.Fatalf("alice's quota used %d, want %d", q, q0+4000)
	}
	e := r.epochNow()
	if c := r.node(carol); c.Used != c0.Used+3000 || c.HeldForOthers != 3000 || c.ProveFrom != e+1 {
		t.Fatalf("carol %+v (epoch %d)", c, e)
	}
	var held []HeldPiece
	if err := listAll(r.testLedger, QueryPieces+carol.String(), &held); err != nil || len(held) != 1 || held[0].Piece.Index != 2 || held[0].File != r.file {
		t.Fatalf("carol's pieces %+v %v", held, err)
	}

	// The last step, the other way round; then nothing more.
	r.run(t, [][]byte{r.sign(r.alice, r.raise([]ed25519.PrivateKey{r.ivan}, []ed25519.PrivateKey{r.carol}))}, 0)
	f = r.fileRec()
	if f.M != 3 || len(f.Pieces) != 8 || f.Bytes != 16000 || f.Raising() {
		t.Fatalf("after the second raise: m=%d pieces=%d bytes=%d", f.M, len(f.Pieces), f.Bytes)
	}
	r.refuse(t, "beyond the asked redundancy", r.alice, r.raise([]ed25519.PrivateKey{r.tiny}, []ed25519.PrivateKey{r.tiny}), CodeInvalid)

	// Carol's next proof covers what she took.
	r.toEpoch(r.node(carol).ProveFrom)
	r.block()
	res := r.run(t, [][]byte{r.prove(r.carol, -1)}, 0)
	if got := eventOutcome(res[0]); got != OutcomeProved {
		t.Fatalf("carol's first proof: %q", got)
	}

	// Removing the file gives everything back.
	r.run(t, [][]byte{r.sign(r.alice, &RemoveFile{FileID: r.file})}, 0)
	if q := r.account(alice).QuotaUsed; q != q0-8000 {
		t.Fatalf("alice's quota used after removal %d, want %d", q, q0-8000)
	}
	for _, a := range []Address{carol, ivan, addrOf(r.hank)} {
		if n := r.node(a); n.Used != 0 {
			t.Fatalf("%s still uses %d after the removal", a, n.Used)
		}
	}
}

func (r *raiseLedger) epochNow() uint64 {
	r.t.Helper()
	var e Epoch
	if err := r.query(QueryEpoch, &e); err != nil {
		r.t.Fatal(err)
	}
	return e.Number
}

// The refusals: each attack or mistake is refused with its code and changes
// nothing. A fresh key (or a holder) cannot raise someone else's file: it
// would charge the owner's quota; nobody can credit a node that did not
// take the piece, nor go past what the owner asked.
func TestRaisePiecesRefusals(t *testing.T) {
	r := newRaiseLedger(t, 1<<30)
	one := []ed25519.PrivateKey{r.carol}
	good := func() *RaisePieces { return r.raise(one, []ed25519.PrivateKey{r.ivan}) }
	with := func(f func(b *RaisePieces)) func() *RaisePieces {
		return func() *RaisePieces { b := good(); f(b); return b }
	}
	exp := func() int64 { return r.height + receiptTestLife }
	cases := []struct {
		name   string
		signer ed25519.PrivateKey
		body   func() *RaisePieces
		want   Code
	}{
		{"a fresh key", r.mallory, good, CodeUnauthorized},
		{"a holder of the file", r.hank, good, CodeUnauthorized},
		{"a new holder", r.carol, good, CodeUnauthorized},
		{"no such file", r.alice, with(func(b *RaisePieces) { b.FileID = Hash{0xee} }), CodeNotFound},
		{"beyond the asked redundancy", r.alice, func() *RaisePieces {
			return r.raise([]ed25519.PrivateKey{r.carol, r.ivan, r.tiny}, []ed25519.PrivateKey{r.ivan, r.carol, r.tiny})
		}, CodeInvalid},
		{"not above the file's m", r.alice, with(func(b *RaisePieces) { b.M = 1 }), CodeInvalid},
		{"too few pieces", r.alice, with(func(b *RaisePieces) { b.Pieces = b.Pieces[:1]; b.Receipts = b.Receipts[:1] }), CodeInvalid},
		{"no pieces", r.alice, with(func(b *RaisePieces) { b.Pieces, b.Receipts = nil, nil }), CodeInvalid},
		{"wrong index", r.alice, with(func(b *RaisePieces) { b.Pieces[0].Index = 1 }), CodeInvalid},
		{"wrong segment", r.alice, with(func(b *RaisePieces) { b.Pieces[0].Segment = 1 }), CodeInvalid},
		{"wrong size", r.alice, with(func(b *RaisePieces) { b.Pieces[0].Size++ }), CodeInvalid},
		{"wrong leaves", r.alice, with(func(b *RaisePieces) { b.Pieces[0].Leaves++ }), CodeInvalid},
		{"not a copy", r.alice, with(func(b *RaisePieces) {
			b.Pieces[0].Root = Hash{7}
			b.Pieces[0].ID = Hash(proofs.ID(proofs.Hash{7}, b.Pieces[0].Size))
		}), CodeInvalid},
		{"an id that does not bind the root", r.alice, with(func(b *RaisePieces) { b.Pieces[0].Root[31] ^= 1 }), CodeInvalid},
		{"holder already in the segment", r.alice, func() *RaisePieces {
			return r.raise([]ed25519.PrivateKey{r.henry}, []ed25519.PrivateKey{r.ivan})
		}, CodeDuplicateHolder},
		{"one holder twice in a segment", r.alice, func() *RaisePieces {
			return r.raise([]ed25519.PrivateKey{r.carol, r.carol}, []ed25519.PrivateKey{r.ivan, r.carol})
		}, CodeDuplicateHolder},
		{"holder not a node", r.alice, func() *RaisePieces {
			return r.raise([]ed25519.PrivateKey{r.mallory}, []ed25519.PrivateKey{r.ivan})
		}, CodeHolderNotRegistered},
		{"holder without room", r.alice, func() *RaisePieces {
			return r.raise([]ed25519.PrivateKey{r.tiny}, []ed25519.PrivateKey{r.ivan})
		}, CodeNoCapacity},
		{"missing receipt", r.alice, with(func(b *RaisePieces) { b.Receipts = b.Receipts[:1] }), CodeBadReceipt},
		{"receipts swapped", r.alice, with(func(b *RaisePieces) { b.Receipts[0], b.Receipts[1] = b.Receipts[1], b.Receipts[0] }), CodeBadReceipt},
		{"receipt with a bad signature", r.alice, with(func(b *RaisePieces) { b.Receipts[0].Sig[0] ^= 1 }), CodeBadReceipt},
		{"forged receipt", r.alice, with(func(b *RaisePieces) {
			p := b.Pieces[0]
			b.Receipts[0] = SignReceipt(r.alice, testChainID, r.file, addrOf(r.alice), exp(), []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeBadReceipt},
		{"receipt for another owner", r.alice, with(func(b *RaisePieces) {
			p := b.Pieces[0]
			b.Receipts[0] = SignReceipt(r.carol, testChainID, r.file, addrOf(r.mallory), exp(), []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeBadReceipt},
		{"receipt of another file", r.alice, with(func(b *RaisePieces) {
			p := b.Pieces[0]
			b.Receipts[0] = SignReceipt(r.carol, testChainID, Hash{0xee}, addrOf(r.alice), exp(), []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeBadReceipt},
		{"expired receipt", r.alice, with(func(b *RaisePieces) {
			p := b.Pieces[0]
			b.Receipts[0] = SignReceipt(r.carol, testChainID, r.file, addrOf(r.alice), r.height, []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
		}), CodeReceiptExpired},
	}
	for _, c := range cases {
		r.refuse(t, c.name, c.signer, c.body(), c.want)
	}
	// A file placed as asked cannot be raised.
	r.run(t, [][]byte{r.placeTx(r.alice, Hash{0xa5}, addrOf(r.hank), 500)}, 0)
	plain := &RaisePieces{FileID: Hash{0xa5}, M: 1}
	r.refuse(t, "a file placed as asked", r.alice, plain, CodeInvalid)
	// The good one goes through.
	r.run(t, [][]byte{r.sign(r.alice, good())}, 0)
}

// The owner's quota must cover the added bytes.
func TestRaisePiecesOverQuota(t *testing.T) {
	r := newRaiseLedger(t, 10_000) // the file uses 8000; a raise adds 4000
	r.refuse(t, "over quota", r.alice, r.raise([]ed25519.PrivateKey{r.carol}, []ed25519.PrivateKey{r.ivan}), CodeQuotaExceeded)
}

// PlaceFile's asked m must be above m and fit with k.
func TestPlaceAskedMRefusals(t *testing.T) {
	r := newRaiseLedger(t, 1<<30)
	for _, c := range []struct {
		k, m, asked uint32
	}{{1, 1, 1}, {1, 2, 1}, {2, 1, 255}} {
		pf := &PlaceFile{FileID: Hash{0xa6}, Size: 10, K: c.k, M: c.m, AskedM: c.asked}
		for i := range c.k + c.m {
			pf.Pieces = append(pf.Pieces, Piece{Index: i, Holder: []Address{addrOf(r.hank), addrOf(r.henry), addrOf(r.carol)}[i], ID: Hash(proofs.ID(proofs.Hash{byte(i + 1)}, 10)), Root: Hash{byte(i + 1)}, Size: 10, Leaves: 1})
		}
		r.refuse(t, "asked m", r.alice, r.receipted(r.alice, pf), CodeInvalid)
	}
}

// A raised piece is a piece like the others: its holder can report it
// lost, and a ReplacePieces moves it (the slots follow the file's new m).
func TestRaisedPieceIsRepaired(t *testing.T) {
	r := newRaiseLedger(t, 1<<30)
	carol, ivan := addrOf(r.carol), addrOf(r.ivan)
	r.run(t, [][]byte{r.sign(r.alice, r.raise([]ed25519.PrivateKey{r.carol}, []ed25519.PrivateKey{r.ivan}))}, 0)
	r.run(t, [][]byte{r.sign(r.carol, &ReportLost{Pieces: []PieceRef{{File: r.file, Segment: 0, Index: 2}}})}, 0)
	if n := r.node(carol); n.Used != 0 || n.PiecesLost != 1 {
		t.Fatalf("carol after reporting her raised piece lost: %+v", n)
	}
	p := r.segs[0]
	rc := SignReceipt(r.ivan, testChainID, r.file, addrOf(r.alice), r.height+receiptTestLife, []ReceiptPiece{{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves}})
	r.run(t, [][]byte{r.sign(r.mallory, &ReplacePieces{FileID: r.file, Pieces: []Replacement{{Segment: 0, Index: 2, Holder: ivan}}, Receipts: []Receipt{rc}})}, 0)
	f := r.fileRec()
	if f.Pieces[2].Holder != ivan || f.Pieces[2].Index != 2 || f.Pieces[5].Holder != ivan || f.Pieces[5].Segment != 1 {
		t.Fatalf("after the repair: %+v", f.Pieces)
	}
	if n := r.node(ivan); n.Used != 4000 {
		t.Fatalf("ivan uses %d, want 4000 (one copy of each segment)", n.Used)
	}
}
