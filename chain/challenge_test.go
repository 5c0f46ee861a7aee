package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/coop-network/coop/proofs"
)

// heldPiece is a held-piece entry of file f, piece idx of segment seg, of
// size bytes.
func heldPiece(f byte, seg, idx uint32, size uint64) HeldPiece {
	id := sha256.Sum256([]byte{f, byte(seg >> 24), byte(seg >> 16), byte(seg >> 8), byte(seg), byte(idx >> 24), byte(idx >> 16), byte(idx >> 8), byte(idx)})
	return HeldPiece{File: Hash{f}, Piece: Piece{Segment: seg, Index: idx, ID: id, Size: size, Leaves: leafCount(size)}}
}

func seedN(i int) Hash {
	return sha256.Sum256(binary.BigEndian.AppendUint64([]byte("test seed"), uint64(i)))
}

func TestChallengesAreDeterministicAndDependOnSeedAndHolder(t *testing.T) {
	held := []HeldPiece{heldPiece(1, 0, 0, 5000), heldPiece(1, 0, 1, 5000), heldPiece(2, 3, 0, 1<<20), heldPiece(3, 0, 0, 700)}
	a, b := Address{0xa}, Address{0xb}
	c1 := Challenges(seedN(0), a, held, 32)
	if len(c1) != 32 {
		t.Fatalf("%d challenges, want 32", len(c1))
	}
	if c2 := Challenges(seedN(0), a, held, 32); !reflect.DeepEqual(c1, c2) {
		t.Fatal("same inputs, different challenges")
	}
	// The order of held does not matter: it is sorted by (file, segment, index).
	rev := slices.Clone(held)
	slices.Reverse(rev)
	if c2 := Challenges(seedN(0), a, rev, 32); !reflect.DeepEqual(c1, c2) {
		t.Fatal("challenges depend on the order of held")
	}
	if c2 := Challenges(seedN(1), a, held, 32); reflect.DeepEqual(c1, c2) {
		t.Fatal("another seed gives the same challenges")
	}
	if c2 := Challenges(seedN(0), b, held, 32); reflect.DeepEqual(c1, c2) {
		t.Fatal("another holder gives the same challenges")
	}
	// Fewer challenges are a prefix of more: challenge j uses the stream's
	// j-th accepted draw.
	if c2 := Challenges(seedN(0), a, held, 5); !reflect.DeepEqual(c1[:5], c2) {
		t.Fatal("the first 5 of 32 challenges are not the 5 challenges")
	}
	// Input is not modified.
	if held[0].Piece.Size != 5000 || held[3].File != (Hash{3}) {
		t.Fatal("Challenges changed its input")
	}
}

// TestChallengesPinned pins the stream and the offset-to-leaf mapping: a
// change to either changes every holder's challenges, which must be a
// deliberate protocol change.
func TestChallengesPinned(t *testing.T) {
	held := []HeldPiece{heldPiece(1, 0, 0, 3000), heldPiece(2, 0, 0, 1)}
	// Recompute challenge 0 by hand: the first word of block 0.
	seed := seedN(7)
	blk := sha256.Sum256(binary.BigEndian.AppendUint64([]byte(challengeDomain+string(seed[:])+string(make([]byte, AddressSize))), 0))
	w := binary.BigEndian.Uint64(blk[:])
	total := uint64(3001)
	if w < -total%total {
		t.Skip("first word rejected; pick another seed")
	}
	off := w % total
	want := Challenge{File: Hash{1}, Segment: 0, Index: 0, Piece: held[0].Piece.ID, Leaf: off / proofs.LeafSize}
	if off == 3000 {
		want = Challenge{File: Hash{2}, Piece: held[1].Piece.ID, Leaf: 0}
	}
	if got := Challenges(seedN(7), Address{}, held, 1); len(got) != 1 || got[0] != want {
		t.Fatalf("challenge 0 = %+v, want %+v (offset %d)", got, want, off)
	}
}

func TestNoChallengesWithoutPiecesOrCount(t *testing.T) {
	held := []HeldPiece{heldPiece(1, 0, 0, 5000)}
	for _, c := range []struct {
		name string
		held []HeldPiece
		c    int
	}{
		{"c = 0", held, 0},
		{"c < 0", held, -1},
		{"no pieces", nil, 10},
		{"empty pieces", []HeldPiece{}, 10},
		{"zero-byte pieces", []HeldPiece{heldPiece(1, 0, 0, 0)}, 10},
		{"sizes overflow", []HeldPiece{heldPiece(1, 0, 0, math.MaxUint64), heldPiece(2, 0, 0, 1)}, 10},
	} {
		if got := Challenges(seedN(0), Address{1}, c.held, c.c); got != nil {
			t.Errorf("%s: %d challenges, want none", c.name, len(got))
		}
	}
}

// TestChallengedLeavesAreInTheirPieces draws challenges over pieces of
// awkward sizes (1 byte, leaf ± 1, zero) and checks every challenge names a
// held piece and a leaf below its Leaves holding one of its bytes.
func TestChallengedLeavesAreInTheirPieces(t *testing.T) {
	sizes := []uint64{1, proofs.LeafSize - 1, proofs.LeafSize, proofs.LeafSize + 1, 0, 3*proofs.LeafSize + 17, 1 << 20, 0, 2}
	var held []HeldPiece
	for i, s := range sizes {
		held = append(held, heldPiece(byte(i%3), uint32(i), uint32(i*7%5), s))
	}
	byID := map[Hash]HeldPiece{}
	for _, hp := range held {
		byID[hp.Piece.ID] = hp
	}
	hit := map[Hash]bool{}
	for s := range 200 {
		for _, c := range Challenges(seedN(s), Address{byte(s)}, held, 50) {
			hp, ok := byID[c.Piece]
			if !ok || hp.File != c.File || hp.Piece.Segment != c.Segment || hp.Piece.Index != c.Index {
				t.Fatalf("challenge %+v names no held piece", c)
			}
			if c.Leaf >= hp.Piece.Leaves || c.Leaf*proofs.LeafSize >= hp.Piece.Size {
				t.Fatalf("challenge %+v: leaf out of its %d-byte, %d-leaf piece", c, hp.Piece.Size, hp.Piece.Leaves)
			}
			hit[c.Piece] = true
		}
	}
	for _, hp := range held {
		if hp.Piece.Size == 0 && hit[hp.Piece.ID] {
			t.Errorf("zero-byte piece %d/%d challenged", hp.Piece.Segment, hp.Piece.Index)
		}
	}
}

// TestChallengesSampleByBytes: a holder with one 1 MiB piece and 100
// one-leaf (1 KiB) pieces holds 1,024 of its 1,124 KiB in the big piece, so
// each challenge lands there with p = 1024/1124 ≈ 0.9110 (sampling by piece
// would give 1/101 ≈ 1 %). Over n = 10,000 challenges (200 fixed seeds × 50)
// the count is Binomial(n, p): mean 9,110.3, standard deviation
// √(n·p·(1−p)) ≈ 28.5. The test allows ±5σ (±142): a fair sampler fails it
// with probability < 10⁻⁶, and the seeds are fixed, so it never flakes. It
// also checks, with a χ² test, that the big piece's leaves are hit evenly.
func TestChallengesSampleByBytes(t *testing.T) {
	held := []HeldPiece{heldPiece(0x80, 0, 0, 1<<20)}
	for i := range 100 {
		held = append(held, heldPiece(byte(i), 0, 0, proofs.LeafSize))
	}
	big := held[0].Piece.ID
	const seeds, per = 200, 50
	n, inBig := 0, 0
	leafHits := make([]int, 1024)
	for s := range seeds {
		for _, c := range Challenges(seedN(s), Address{0x42}, held, per) {
			n++
			if c.Piece == big {
				inBig++
				leafHits[c.Leaf]++
			}
		}
	}
	p := 1024.0 / 1124.0
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	if d := math.Abs(float64(inBig) - mean); d > 5*sd {
		t.Fatalf("%d of %d challenges in the 1 MiB piece, want %.1f ± %.1f (5σ)", inBig, n, mean, 5*sd)
	}
	t.Logf("%d of %d challenges in the 1 MiB piece (expected %.1f, σ %.1f)", inBig, n, mean, sd)
	// Leaves of the big piece are hit uniformly: a χ² test over its 1,024
	// leaves (1,023 degrees of freedom: mean 1,023, σ = √2046 ≈ 45).
	chi2 := 0.0
	e := float64(inBig) / 1024
	for _, h := range leafHits {
		chi2 += (float64(h) - e) * (float64(h) - e) / e
	}
	if chi2 > 1023+5*math.Sqrt(2*1023) {
		t.Fatalf("χ² over the big piece's leaves = %.0f, want ≈ 1023 ± 45", chi2)
	}
}

// TestUniformRejectsBiasedWords: for n = 2^63 + 1, 2^64 mod n = 2^63 − 1, so
// words below it (about half) are rejected; draws stay in range and match a
// direct reading of the stream.
func TestUniformRejectsBiasedWords(t *testing.T) {
	n := uint64(1)<<63 + 1
	a, b := newChallengeStream(seedN(1), Address{}), newChallengeStream(seedN(1), Address{})
	rejected := 0
	for range 1000 {
		x := a.uniform(n)
		for {
			w := b.next()
			if w >= 1<<63-1 {
				if w%n != x {
					t.Fatalf("uniform = %d, stream's next accepted word gives %d", x, w%n)
				}
				break
			}
			rejected++
		}
		if x >= n {
			t.Fatalf("draw %d ≥ %d", x, n)
		}
	}
	if rejected < 400 || rejected > 1600 {
		t.Fatalf("%d words rejected for 1000 draws, want about 1000", rejected)
	}
	s := newChallengeStream(seedN(1), Address{})
	for range 100 {
		if s.uniform(1) != 0 {
			t.Fatal("uniform(1) != 0")
		}
	}
}

// TestProofsDocTables checks the detection tables of docs/proofs.md: the
// probability (1−f)^(c·k) that a holder missing a fraction f of its bytes
// passes c challenges in each of k epochs, computed exactly with rationals
// and rounded to 3 significant digits.
func TestProofsDocTables(t *testing.T) {
	doc, err := os.ReadFile("../docs/proofs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range proofsTableRows() {
		if !strings.Contains(string(doc), row+"\n") {
			t.Errorf("docs/proofs.md lacks the row\n%s", row)
		}
	}
}

// proofsTableRows are the rows of docs/proofs.md's detection tables: per f
// (in %), a row per c with the pass probability for each k.
func proofsTableRows() []string {
	var rows []string
	for _, f := range []int64{1, 5, 10} {
		for _, c := range []int64{4, 8, ChallengesPerEpoch, 16, 32} {
			row := "| " + big.NewInt(f).String() + " % | " + big.NewInt(c).String() + " |"
			for _, k := range []int64{1, 2, 5, 10} {
				num := new(big.Int).Exp(big.NewInt(100-f), big.NewInt(c*k), nil)
				den := new(big.Int).Exp(big.NewInt(100), big.NewInt(c*k), nil)
				x := new(big.Float).SetPrec(200).SetRat(new(big.Rat).SetFrac(num, den))
				row += " " + x.Text('g', 3) + " |"
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// TestPrintProofsDocTables prints the rows (go test -run PrintProofs -v).
func TestPrintProofsDocTables(t *testing.T) {
	for _, r := range proofsTableRows() {
		t.Log(r)
	}
}

// TestChallengesQuery places files on two holders, runs into the second
// epoch and checks /challenges/<holder> through App.Query: it answers the
// current epoch's challenges over every piece /pieces lists, changes with
// the epoch, reads older heights, and refuses bad addresses and holders
// with too many pieces.
func TestChallengesQuery(t *testing.T) {
	alice, carol, dave := testKey(0), testKey(2), testKey(3)
	g := testGenesis(alice)
	g.Params.Allowance = 1 << 20
	l := newTestLedgerGenesis(t, "", g)
	c, d := addrOf(carol), addrOf(dave)
	res := l.block(l.sign(carol, registerBody(t, carol, 1<<20)), l.sign(dave, registerBody(t, dave, 1<<20)))
	res = append(res, l.block(
		l.sign(alice, l.receipted(alice, &PlaceFile{FileID: Hash{0xf1}, Size: 70000, K: 1, M: 1, Pieces: []Piece{
			piece(0, 0, c, 5000), piece(0, 1, d, 5000),
			piece(1, 0, d, 70000), piece(1, 1, c, 70000),
			piece(2, 0, c, 300), piece(2, 1, d, 300)}})),
		l.sign(alice, l.receipted(alice, &PlaceFile{FileID: Hash{0xf2}, Size: 20000, K: 1, M: 0, Pieces: []Piece{piece(0, 0, c, 20000)}})),
	)...)
	for i, r := range res {
		if r.Code != 0 {
			t.Fatalf("setup tx %d: %s", i, r.Log)
		}
	}

	// check answers /challenges/<holder> at height (0: latest) and compares
	// it with Challenges over /pieces at the same height and the epoch's seed.
	check := func(holder Address, height int64, pieces int, bytes uint64) ChallengeSet {
		t.Helper()
		r := l.queryAt(QueryChallenges+holder.String(), nil, height)
		if r.Code != 0 {
			t.Fatalf("/challenges at %d: %s", height, r.Log)
		}
		var set ChallengeSet
		if err := Unmarshal(r.Value, &set); err != nil {
			t.Fatal(err)
		}
		var e Epoch
		er := l.queryAt(QueryEpoch, nil, r.Height)
		if er.Code != 0 || Unmarshal(er.Value, &e) != nil {
			t.Fatalf("/epoch at %d: %s", r.Height, er.Log)
		}
		var held []HeldPiece
		for cursor := []byte(nil); ; {
			pr := l.queryAt(QueryPieces+holder.String(), cursor, r.Height)
			var p Page[HeldPiece]
			if pr.Code != 0 || Unmarshal(pr.Value, &p) != nil {
				t.Fatalf("/pieces: %s", pr.Log)
			}
			held = append(held, p.Items...)
			if cursor = p.Next; len(cursor) == 0 {
				break
			}
		}
		want := Challenges(e.Seed, holder, held, ChallengesPerEpoch)
		if set.Epoch != e.Number || set.Seed != e.Seed || set.Holder != holder || set.Pieces != uint64(pieces) || set.Bytes != bytes || len(set.Challenges) != len(want) {
			t.Fatalf("/challenges at %d: epoch %d seed %x holder %s, %d pieces, %d bytes, %d challenges; want epoch %d seed %x, %d pieces, %d bytes, %d challenges",
				r.Height, set.Epoch, set.Seed[:4], set.Holder, set.Pieces, set.Bytes, len(set.Challenges), e.Number, e.Seed[:4], pieces, bytes, len(want))
		}
		if len(want) > 0 && !reflect.DeepEqual(set.Challenges, want) {
			t.Fatalf("/challenges = %+v, want %+v", set.Challenges, want)
		}
		return set
	}

	const carolBytes, daveBytes = 5000 + 70000 + 300 + 20000, 5000 + 70000 + 300
	e0 := check(c, 0, 4, carolBytes)
	if e0.Epoch != 0 || len(e0.Challenges) != ChallengesPerEpoch {
		t.Fatalf("epoch 0: %+v", e0)
	}
	epoch0Height := l.height
	for l.height < 12 {
		l.block()
	}
	e1 := check(c, 0, 4, carolBytes)
	if e1.Epoch != 1 || reflect.DeepEqual(e0.Challenges, e1.Challenges) {
		t.Fatalf("epoch 1 challenges %+v, epoch 0's %+v", e1, e0)
	}
	if old := check(c, epoch0Height, 4, carolBytes); !reflect.DeepEqual(old, e0) {
		t.Fatalf("at height %d: %+v, want epoch 0's %+v", epoch0Height, old, e0)
	}
	if dv := check(d, 0, 3, daveBytes); reflect.DeepEqual(dv.Challenges, e1.Challenges) {
		t.Fatal("dave got carol's challenges")
	}
	// A holder with no pieces (here: not a node at all) has none.
	if none := check(addrOf(alice), 0, 0, 0); none.Challenges == nil || len(none.Challenges) != 0 {
		t.Fatalf("a holder without pieces: %+v", none)
	}

	if r := l.queryAt(QueryChallenges+"zz", nil, 0); Code(r.Code) != CodeInvalid {
		t.Fatalf("bad address: %d %s", r.Code, r.Log)
	}
	challengePiecesLimit = 3
	t.Cleanup(func() { challengePiecesLimit = MaxChallengePieces })
	if r := l.queryAt(QueryChallenges+c.String(), nil, 0); Code(r.Code) != CodeInvalid || !strings.Contains(r.Log, "more than 3 pieces") {
		t.Fatalf("carol's 4 pieces over a limit of 3: %d %s", r.Code, r.Log)
	}
	check(d, 0, 3, daveBytes) // exactly at the limit
}

// BenchmarkChallengesQuery measures /challenges/<holder> for a holder with
// 100,000 pieces (written straight into the tree, bypassing PlaceFile):
// the scan and decode of its hold/ entries dominates, so the cost is linear
// in its piece count (docs/proofs.md, Cost).
func BenchmarkChallengesQuery(b *testing.B) {
	const pieces = 100_000
	l := newTestLedger(b, "")
	l.block()
	holder := Address{0x99}
	for i := range pieces {
		hp := heldPiece(byte(i>>16), uint32(i>>8), uint32(i), 16<<20)
		hp.File[1], hp.File[2] = byte(i>>8), byte(i)
		hp.Piece.Holder = holder
		if err := setValue(treeWriter{l.app.tree}, heldKey(holder, hp.File, hp.Piece.Segment, hp.Piece.Index), &hp); err != nil {
			b.Fatal(err)
		}
	}
	l.block()
	b.ResetTimer()
	for range b.N {
		r := l.queryAt(QueryChallenges+holder.String(), nil, 0)
		if r.Code != 0 {
			b.Fatal(r.Log)
		}
		var set ChallengeSet
		if err := Unmarshal(r.Value, &set); err != nil || set.Pieces != pieces {
			b.Fatalf("%+v %v", set.Pieces, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/pieces, "ns/piece")
}

// TestChallengeProofsFitTheBudget checks docs/proofs.md's proof-size table
// against the proofs encoding, and that ChallengesPerEpoch proofs of the
// longest path stay within 16 KiB for pieces up to 256 MiB.
func TestChallengeProofsFitTheBudget(t *testing.T) {
	doc, err := os.ReadFile("../docs/proofs.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		size uint64
		fits bool
	}{
		{"1 MiB", 1 << 20, true},
		{"16 MiB", 16 << 20, true},
		{"64 MiB", 64 << 20, true},
		{"256 MiB", 256 << 20, true},
		{"1 GiB", 1 << 30, false},
	} {
		leaves := leafCount(c.size)
		h := max(proofs.PathLen(0, leaves), proofs.PathLen(leaves-1, leaves))
		one := (&proofs.Proof{Leaves: leaves, Path: make([]proofs.Hash, h)}).EncodedSize()
		all := ChallengesPerEpoch * one
		if fits := all <= 16<<10; fits != c.fits {
			t.Errorf("%s pieces: %d proofs of %d bytes = %d bytes; within 16 KiB: %v, want %v", c.name, ChallengesPerEpoch, one, all, fits, c.fits)
		}
		cell := func(n int) string { return fmt.Sprintf("%d,%03d B", n/1000, n%1000) }
		row := fmt.Sprintf("| %d | %s | %s |", h, cell(one), cell(all))
		if !strings.Contains(string(doc), row+"\n") || !strings.Contains(string(doc), "| "+c.name) {
			t.Errorf("docs/proofs.md lacks the %s row ending %q", c.name, row)
		}
	}
}
