package chain

import (
	"slices"
	"strings"
	"testing"
)

// containment reads holder's contain/ record from the committed state.
func (p *proveLedger) containment(holder Address) (Containment, bool) {
	p.t.Helper()
	var c Containment
	found, err := getValue(p.app.committed(), containKey(holder), &c)
	if err != nil {
		p.t.Fatal(err)
	}
	return c, found
}

// settle finalizes empty blocks through epoch n's first block, which
// settles epoch n−1.
func (p *proveLedger) settle(n uint64) {
	p.toEpoch(n)
	p.block()
}

// A holder that skips the epoch of a challenge it cannot answer gets the
// same challenge the next epoch, and the next, and its audit score does not
// move (a missed epoch costs uptime, not an audit); answering clears the
// containment, and the epoch after it gets fresh challenges again. While it
// is contained, a proof of fresh challenges is stale (code 21).
func TestSkippingAnEpochDoesNotDodgeAChallenge(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xd1}, hank, 8192, 3000), p.placeTx(p.alice, Hash{0xd2}, hank, 5000)}, 0, 0)
	p.settle(1)
	missed := p.challenges(hank) // epoch 1's: hank stays silent
	if missed.Epoch != 1 || missed.Contained || len(missed.Challenges) != ChallengesPerEpoch {
		t.Fatalf("epoch 1 set %+v", missed)
	}
	before := p.node(hank)

	for e := uint64(2); e <= 3; e++ {
		p.settle(e) // settles e−1 as missing
		if o, _ := p.outcome(e-1, hank); o.Outcome != OutcomeMissing {
			t.Fatalf("epoch %d: %+v", e-1, o)
		}
		set := p.challenges(hank)
		if set.Epoch != e || !set.Contained || !slices.Equal(set.Challenges, missed.Challenges) {
			t.Fatalf("epoch %d: challenges %+v, want epoch 1's %+v again", e, set, missed.Challenges)
		}
		fresh := Challenges(set.Seed, hank, p.held(hank), ChallengesPerEpoch)
		if slices.Equal(fresh, missed.Challenges) {
			t.Fatal("epoch's fresh challenges equal epoch 1's: the test cannot tell them apart")
		}
		if c, found := p.containment(hank); !found || c.Epoch != 1 || !slices.Equal(c.Challenges, missed.Challenges) {
			t.Fatalf("epoch %d: containment %+v %v", e, c, found)
		}
		n := p.node(hank)
		if n.RepAlpha != before.RepAlpha || n.RepBeta != before.RepBeta || n.ProofsFailed != 0 || n.Status != NodeActive {
			t.Fatalf("a missed epoch moved the audit score: %+v, was %+v", n, before)
		}
		if n.MissedInRow != e-1 || n.Uptime[len(n.Uptime)-1] {
			t.Fatalf("epoch %d: missed in row %d, uptime %v", e, n.MissedInRow, n.Uptime)
		}
	}

	// Answering epoch 3's fresh challenges instead is stale, not judged.
	set := p.challenges(hank)
	dodge := p.proofsFor(ChallengeSet{Epoch: 3, Challenges: Challenges(set.Seed, hank, p.held(hank), ChallengesPerEpoch)}, -1)
	if r := p.run(t, [][]byte{p.sign(p.hank, dodge)}, CodeStaleChallenges); !strings.Contains(r[0].Log, "is contained and must answer the challenges it missed") {
		t.Fatalf("log %q", r[0].Log)
	}
	if _, found := p.outcome(3, hank); found {
		t.Fatal("a proof of fresh challenges was judged while contained")
	}
	// Answering the contained ones proves the epoch and clears it.
	r := p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	if got := eventOutcome(r[0]); got != OutcomeProved {
		t.Fatalf("answer to the contained challenges: %q", got)
	}
	if c, found := p.containment(hank); found {
		t.Fatalf("still contained after answering: %+v", c)
	}
	if set := p.challenges(hank); set.Contained || !slices.Equal(set.Challenges, Challenges(set.Seed, hank, p.held(hank), ChallengesPerEpoch)) {
		t.Fatalf("after answering: %+v, want fresh challenges", set)
	}
	p.settle(4)
	if o, _ := p.outcome(3, hank); o.Outcome != OutcomeProved {
		t.Fatalf("epoch 3: %+v", o)
	}
	if set := p.challenges(hank); set.Contained || set.Epoch != 4 {
		t.Fatalf("epoch 4: %+v", set)
	}
	if n := p.node(hank); n.MissedInRow != 0 || n.ProofsPassed != 1 || AuditScore(&n) != 1000 {
		t.Fatalf("after proving: %+v", n)
	}
}

// A wrong answer to a contained challenge is a failed audit like any
// other: the epoch is invalid, the piece marked lost, the score drops, and
// containment ends (the question was answered).
func TestAWrongAnswerToAContainedChallengeIsAFailedAudit(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xd3}, hank, 4096, 2048), p.placeTx(p.alice, Hash{0xd4}, hank, 6000)}, 0, 0)
	p.settle(1)
	missed := p.challenges(hank)
	p.settle(2)
	r := p.run(t, [][]byte{p.prove(p.hank, 0)}, 0)
	if got := eventOutcome(r[0]); got != OutcomeInvalid {
		t.Fatalf("wrong answer to a contained challenge: %q", got)
	}
	n := p.node(hank)
	if n.ProofsFailed != 1 || AuditScore(&n) >= 1000 || n.PiecesLost != 1 {
		t.Fatalf("after a wrong answer: %+v", n)
	}
	if lost, _ := isLost(p.app.committed(), missed.Challenges[0].File, missed.Challenges[0].Segment, missed.Challenges[0].Index); !lost {
		t.Fatalf("the wrongly answered piece %+v is not lost", missed.Challenges[0])
	}
	if _, found := p.containment(hank); found {
		t.Fatal("contained after a judged answer")
	}
}

// Contained challenges on pieces no longer credited to the holder are
// dropped (the rest stay); when none is left it gets fresh challenges.
func TestContainedChallengesOnPiecesThatWentAreDropped(t *testing.T) {
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	a, b := Hash{0xd5}, Hash{0xd6}
	p.run(t, [][]byte{p.placeTx(p.alice, a, hank, 5000), p.placeTx(p.alice, b, hank, 5000)}, 0, 0)
	p.settle(1)
	missed := p.challenges(hank)
	onB := slices.DeleteFunc(slices.Clone(missed.Challenges), func(c Challenge) bool { return c.File != b })
	if len(onB) == 0 || len(onB) == len(missed.Challenges) {
		t.Fatalf("epoch 1's challenges %+v do not cover both files", missed.Challenges)
	}
	p.settle(2)
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: a})}, 0)
	if set := p.challenges(hank); !set.Contained || !slices.Equal(set.Challenges, onB) {
		t.Fatalf("after removing file a: %+v, want the contained challenges on b %+v", set, onB)
	}
	// The kept challenges are what a proof must answer.
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	if o, _ := p.outcome(2, hank); o.Outcome != OutcomeProved {
		t.Fatalf("epoch 2: %+v", o)
	}

	// Contained again (epoch 3 missed), then every challenged piece goes.
	p.settle(3)
	p.settle(4)
	if c, found := p.containment(hank); !found || c.Epoch != 3 {
		t.Fatalf("epoch 3 missed: %+v %v", c, found)
	}
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: b}), p.placeTx(p.alice, Hash{0xd7}, hank, 3000)}, 0, 0)
	set := p.challenges(hank)
	if set.Contained || !slices.Equal(set.Challenges, Challenges(set.Seed, hank, p.held(hank), ChallengesPerEpoch)) {
		t.Fatalf("all contained pieces gone: %+v, want fresh challenges", set)
	}
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	if _, found := p.containment(hank); found {
		t.Fatal("contained after proving")
	}
}

// held reads holder's pieces from the committed state, in key order.
func (p *proveLedger) held(holder Address) []HeldPiece {
	p.t.Helper()
	var out []HeldPiece
	if err := listAll(p.testLedger, QueryPieces+holder.String(), &out); err != nil {
		p.t.Fatal(err)
	}
	return out
}

// A holder with more pieces than challenges are drawn over is never
// challenged: when it settles missing, the block rule neither fails nor
// contains it.
func TestAHolderTooLargeToChallengeIsNotContained(t *testing.T) {
	challengePiecesLimit = 2
	t.Cleanup(func() { challengePiecesLimit = MaxChallengePieces })
	p := newProveLedger(t, 10, 4)
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xd8}, hank, 1000, 1000, 1000)}, 0)
	p.settle(1)
	p.settle(2) // settles epoch 1: missing
	if o, _ := p.outcome(1, hank); o.Outcome != OutcomeMissing {
		t.Fatalf("epoch 1: %+v", o)
	}
	if c, found := p.containment(hank); found {
		t.Fatalf("contained over %d pieces: %+v", challengePiecesLimit, c)
	}
}
