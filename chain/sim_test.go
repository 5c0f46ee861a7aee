package chain

import (
	"bytes"
	"crypto/ed25519"
	"math"
	"math/rand/v2"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/coop-network/coop/proofs"
)

// The simulation: 1,000 epochs of the real app (in memory, no network),
// holders answering their challenges every epoch with real Merkle proofs.
//
// Lossy holders have lost a fraction f of their leaves: each epoch a set of
// exactly f·L of their L leaves is drawn at random (re-drawn every epoch),
// and a challenge on a leaf of that set is answered with wrong data (one
// byte flipped), as a holder answers what it cannot read. A wrong answer
// marks the challenged piece lost (lost.go), which takes it off the holder;
// so that its loss rate stays f, the holder is given a new piece in its
// place in the epoch's second block (a repair would do the same). Every
// piece is a whole number of leaves and all are the same size, so each
// challenge lands on a lost leaf with probability exactly f, and an epoch is
// caught (judged invalid) with probability 1 − (1 − f)^c.
//
// Honest holders prove every epoch, one of them offline now and then for a
// few epochs; neither is ever suspended or disqualified, and the offline one
// is contained after each absence and answers the challenges it missed.

const (
	simPieces     = 10 // pieces per holder
	simPieceBytes = 20 * proofs.LeafSize
	simLeaves     = simPieces * simPieceBytes / proofs.LeafSize // L
)

// simEpochs is the simulation's length: 1,000 epochs, 200 under -short.
func simEpochs() int {
	if testing.Short() {
		return 200
	}
	return 1000
}

// simHolder is one simulated holder.
type simHolder struct {
	key    ed25519.PrivateKey
	lost   int // f·L: leaves lost each epoch
	caught int // epochs judged invalid
	judged int // epochs judged
	hits   int // challenges on lost leaves
	nextID uint64
}

// simAnswer answers holder's current challenges: a real proof for each,
// with the leaf's data wrong for challenges on a leaf in lost (indexed by
// piece position in the held list × leaves per piece + leaf). It reports
// how many answers are wrong.
func simAnswer(t *testing.T, p *proveLedger, trees map[Hash]*proofs.Tree, holder Address, lost map[int]bool) (*ProveStorage, int) {
	t.Helper()
	cs := p.challenges(holder)
	held := p.held(holder)
	pos := make(map[Hash]int, len(held))
	for i, hp := range held {
		pos[hp.Piece.ID] = i
	}
	body := &ProveStorage{Epoch: cs.Epoch, Challenges: ChallengesHash(cs.Challenges)}
	wrong := 0
	for _, c := range cs.Challenges {
		b := p.data[c.Piece]
		tree, ok := trees[c.Piece]
		if !ok {
			var err error
			if tree, err = proofs.BuildTree(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			trees[c.Piece] = tree
		}
		lo := c.Leaf * proofs.LeafSize
		pr, err := tree.Prove(c.Leaf, b[lo:min(lo+proofs.LeafSize, uint64(len(b)))])
		if err != nil {
			t.Fatal(err)
		}
		if lost[pos[c.Piece]*(simPieceBytes/proofs.LeafSize)+int(c.Leaf)] {
			pr.Leaf = append([]byte(nil), pr.Leaf...)
			pr.Leaf[0] ^= 1
			wrong++
		}
		raw, err := pr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		body.Proofs = append(body.Proofs, raw)
	}
	return body, wrong
}

// giveSimPieces has alice place one new file on holder with n pieces of
// simPieceBytes, in one block.
func giveSimPieces(t *testing.T, p *proveLedger, h *simHolder, tag byte, n int) []byte {
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = simPieceBytes
	}
	h.nextID++
	id := Hash{0x51, tag}
	id[2], id[3], id[4] = byte(h.nextID>>16), byte(h.nextID>>8), byte(h.nextID)
	return p.placeTx(p.alice, id, addrOf(h.key), sizes...)
}

// simBlock finalizes txs in one block (without CheckTx, which the
// simulation's speed cannot afford; prove_test.go checks both agree) and
// fails unless every one succeeds.
func simBlock(t *testing.T, p *proveLedger, txs [][]byte) []*abci.ExecTxResult {
	t.Helper()
	res := p.block(txs...)
	for i, r := range res {
		if r.Code != 0 {
			t.Fatalf("height %d tx %d: code %d (%s)", p.height, i, r.Code, r.Log)
		}
	}
	return res
}

// binomialBound is the interval mean ± k standard deviations of a
// binomial(n, q).
func binomialBound(n int, q float64, k float64) (lo, hi float64) {
	mean := float64(n) * q
	sd := math.Sqrt(float64(n) * q * (1 - q))
	return mean - k*sd, mean + k*sd
}

// Lossy holders are caught at the rate docs/proofs.md predicts,
// 1 − (1 − f)^c per epoch, within 4 standard deviations of the binomial
// over the simulated epochs, and the ledger's verdict agrees with what the
// holder got wrong in every epoch. (Suspension and disqualification are
// turned off here, so the same holders are measured for every epoch.)
func TestSimulationCatchesLossyHoldersAtThePredictedRate(t *testing.T) {
	epochs := simEpochs()
	p := newProveLedgerWith(t, 10, 2, func(g *GenesisState) {
		g.Params.Allowance = 1 << 40
		g.Params.SuspendBelowPermille, g.Params.DisqualifyBelowPermille = 0, 0
	})
	c := int(p.app.params.ChallengesPerEpoch)
	holders := []*simHolder{
		{key: p.hank, lost: simLeaves / 100}, // f = 1 %
		{key: p.henry, lost: simLeaves / 10}, // f = 10 %
	}
	var txs [][]byte
	for i, h := range holders {
		txs = append(txs, giveSimPieces(t, p, h, byte(i), simPieces))
	}
	p.run(t, txs, 0, 0)
	trees := map[Hash]*proofs.Tree{}
	rng := rand.New(rand.NewPCG(7, 11))
	var replace [][]byte
	for e := 1; e <= epochs; e++ {
		// The epoch's first block settles e−1 and gives the holders new
		// pieces for those marked lost in e−1.
		p.toEpoch(uint64(e))
		simBlock(t, p, replace)
		replace = nil
		txs := txs[:0]
		var wrong []bool
		for _, h := range holders {
			lost := map[int]bool{}
			for _, i := range rng.Perm(simLeaves)[:h.lost] {
				lost[i] = true
			}
			body, w := simAnswer(t, p, trees, addrOf(h.key), lost)
			txs = append(txs, p.sign(h.key, body))
			wrong = append(wrong, w > 0)
			h.hits += w
		}
		res := simBlock(t, p, txs)
		for i, h := range holders {
			got := eventOutcome(res[i])
			if (got == OutcomeInvalid) != wrong[i] || (got != OutcomeInvalid && got != OutcomeProved) {
				t.Fatalf("epoch %d holder %d: outcome %q, its answers wrong: %v", e, i, got, wrong[i])
			}
			h.judged++
			if wrong[i] {
				h.caught++
				if n := simPieces - len(p.held(addrOf(h.key))); n > 0 {
					replace = append(replace, giveSimPieces(t, p, h, byte(i), n))
				}
			}
		}
	}
	for i, h := range holders {
		f := float64(h.lost) / simLeaves
		q := 1 - math.Pow(1-f, float64(c))
		lo, hi := binomialBound(h.judged, q, 4)
		rate := float64(h.caught) / float64(h.judged)
		t.Logf("holder %d, f = %.0f %%: caught in %d of %d epochs (%.4f), predicted %.4f (%.1f expected, 4σ interval [%.1f, %.1f]); %d of %d challenges on lost leaves (%.4f)", i, 100*f, h.caught, h.judged, rate, q, q*float64(h.judged), lo, hi, h.hits, h.judged*c, float64(h.hits)/float64(h.judged*c))
		if float64(h.caught) < lo || float64(h.caught) > hi {
			t.Errorf("holder %d (f = %.2f): caught %d times in %d epochs, outside the 4σ interval [%.1f, %.1f] around %.1f", i, f, h.caught, h.judged, lo, hi, q*float64(h.judged))
		}
		n := p.node(addrOf(h.key))
		if n.ProofsFailed != uint64(h.caught) || n.ProofsPassed != uint64(h.judged-h.caught) {
			t.Errorf("holder %d: ledger counts %d failed %d passed, the simulation %d caught of %d", i, n.ProofsFailed, n.ProofsPassed, h.caught, h.judged)
		}
	}
}

// Honest holders over the simulated epochs are never suspended or
// disqualified, with the default thresholds: one proves every epoch, the
// other is offline for 1 to 3 epochs now and then (missing, then contained:
// it answers the challenges it missed when it is back), and neither ever
// fails an audit.
func TestSimulationNeverPunishesHonestHolders(t *testing.T) {
	epochs := simEpochs()
	p := newProveLedgerWith(t, 10, 2, func(g *GenesisState) { g.Params.Allowance = 1 << 40 })
	steady, flaky := &simHolder{key: p.hank}, &simHolder{key: p.henry}
	holders := []*simHolder{steady, flaky}
	p.run(t, [][]byte{giveSimPieces(t, p, steady, 0, simPieces), giveSimPieces(t, p, flaky, 1, simPieces)}, 0, 0)
	trees := map[Hash]*proofs.Tree{}
	rng := rand.New(rand.NewPCG(3, 5))
	offline, absences, missed, containedAnswers, away := 0, 0, 0, 0, false
	for e := 1; e <= epochs; e++ {
		p.settle(uint64(e))
		if offline == 0 && rng.IntN(50) == 0 {
			offline = 1 + rng.IntN(3)
			absences++
			away = true
		}
		var txs [][]byte
		for _, h := range holders {
			if h == flaky && offline > 0 {
				continue
			}
			if contained := p.challenges(addrOf(h.key)).Contained; contained != (h == flaky && away) {
				t.Fatalf("epoch %d: holder %s contained: %v", e, addrOf(h.key), contained)
			} else if contained {
				containedAnswers++
				away = false
			}
			body, wrong := simAnswer(t, p, trees, addrOf(h.key), nil)
			if wrong > 0 {
				t.Fatal("an honest answer is wrong")
			}
			txs = append(txs, p.sign(h.key, body))
		}
		res := simBlock(t, p, txs)
		for i, r := range res {
			if got := eventOutcome(r); got != OutcomeProved {
				t.Fatalf("epoch %d tx %d: honest holder judged %q", e, i, got)
			}
		}
		if offline > 0 {
			offline--
			missed++
		}
		for _, h := range holders {
			n := p.node(addrOf(h.key))
			if n.Status != NodeActive || n.ProofsFailed != 0 || AuditScore(&n) != 1000 || n.PiecesLost != 0 {
				t.Fatalf("epoch %d: honest holder %s: %s, score %d, %d failed, %d lost", e, n.Address, n.Status, AuditScore(&n), n.ProofsFailed, n.PiecesLost)
			}
		}
	}
	p.settle(uint64(epochs + 1))
	n := p.node(addrOf(flaky.key))
	if away {
		absences-- // not back yet
	}
	if absences < 2 || n.ProofsPassed != uint64(epochs-missed) || containedAnswers != absences {
		t.Fatalf("flaky holder: %d absences, %d epochs missed, %d passed, %d contained answers", absences, missed, n.ProofsPassed, containedAnswers)
	}
	t.Logf("%d epochs: the flaky holder was offline %d times (%d epochs), answered its contained challenges each time; both holders active, score 1000", epochs, absences, missed)
}
