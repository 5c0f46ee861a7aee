package chain

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// newProveLedgerWith is newProveLedger with a genesis change (applied after
// newProveLedger's own).
func newProveLedgerWith(t testing.TB, window, epochLength uint64, change func(*GenesisState)) *proveLedger {
	t.Helper()
	p := &proveLedger{epochLength: epochLength, alice: testKey(0), hank: testKey(11), henry: testKey(12), carol: testKey(2), data: map[Hash][]byte{}, rng: rand.New(rand.NewPCG(1, 2))}
	g := testGenesis(p.alice)
	g.Params.EpochLength = epochLength
	g.Params.UptimeWindow = window
	g.Params.UptimeMinPercent = 70
	g.Params.Allowance = 1 << 30
	change(&g)
	p.testLedger = newTestLedgerGenesis(t, "", g)
	for i, r := range p.block(
		p.sign(p.hank, registerBody(t, p.hank, 1<<30)),
		p.sign(p.henry, registerBody(t, p.henry, 1<<30)),
	) {
		if r.Code != 0 {
			t.Fatalf("register %d: %s", i, r.Log)
		}
	}
	return p
}

// Earned quota counts only the bytes a holder proved: pieces given to it
// earn nothing until a proof of its is judged proved (which counts
// everything it then holds for others), pieces given after the proof wait
// for the next one, and bytes that go (removed, lost) take proved bytes
// with them. Hank — a fresh key with a node — cannot spend quota for
// pieces he was given until he proves he has them.
func TestEarnedQuotaCountsOnlyProvedBytes(t *testing.T) {
	p := newProveLedgerWith(t, 10, 16, func(g *GenesisState) { g.Params.Allowance = 20_000 })
	hank := addrOf(p.hank)
	check := func(what string, held, proved uint64) {
		t.Helper()
		n := p.node(hank)
		if n.HeldForOthers != held || n.ProvedForOthers != proved {
			t.Fatalf("%s: held %d proved %d, want %d %d", what, n.HeldForOthers, n.ProvedForOthers, held, proved)
		}
		if v := p.account(hank); v.QuotaEarned != proved || v.QuotaLimit != 20_000+proved {
			t.Fatalf("%s: earned %d limit %d, want %d %d (%+v)", what, v.QuotaEarned, v.QuotaLimit, proved, 20_000+proved, n)
		}
	}
	spend := func(id Hash, size int) []byte {
		return p.sign(p.hank, p.receipted(p.hank, file(id, uint64(size), addrOf(p.henry))))
	}
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe1}, hank, 8000)}, 0)
	check("given 8000 bytes", 8000, 0)
	// Spending them before a proof is refused, in CheckTx and in a block.
	res := p.run(t, [][]byte{spend(Hash{0xef}, 25_000)}, CodeQuotaExceeded)
	if !strings.Contains(res[0].Log, "uses 0 of 20000 bytes") {
		t.Fatalf("log %q", res[0].Log)
	}

	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	check("proved", 8000, 8000)
	p.run(t, [][]byte{spend(Hash{0xf0}, 25_000)}, 0)

	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe2}, hank, 3000)}, 0)
	check("given 3000 more", 11_000, 8000)
	p.settle(1)
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	check("proved again", 11_000, 11_000)

	// Removing the first file takes its 8000 bytes from both.
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: Hash{0xe1}})}, 0)
	check("8000 removed", 3000, 3000)
	// A piece given after the proof does not stand in for one that went.
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe3}, hank, 5000)}, 0)
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: Hash{0xe2}})}, 0)
	check("3000 removed after 5000 given", 5000, 0)

	// A wrong answer marks its piece lost and lowers both.
	p.settle(2)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe4}, hank, 2000)}, 0)
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	check("proved 7000", 7000, 7000)
	p.settle(3)
	bad := p.challenges(hank).Challenges[0]
	p.run(t, [][]byte{p.prove(p.hank, 0)}, 0)
	var lost LostPiece
	if found, err := getValue(p.app.committed(), lostKey(bad.File, bad.Segment, bad.Index), &lost); err != nil || !found {
		t.Fatalf("challenged piece not lost: %v %v", found, err)
	}
	check("a piece lost", 7000-lost.Piece.Size, 7000-lost.Piece.Size)
}

// Proving never changes a debt (debts are measured against the bytes held,
// proved or not): the quota books stay exact through placements, proofs
// and removals by a holder that spent its earned quota.
func TestProvingKeepsTheQuotaBooks(t *testing.T) {
	p := newProveLedgerWith(t, 10, 4, func(g *GenesisState) { g.Params.Allowance = 10_000 })
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe5}, hank, 6000)}, 0)
	checkQuotaBooks(t, dump(t, p.app), p.app.params, true)
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	checkQuotaBooks(t, dump(t, p.app), p.app.params, true)
	p.run(t, [][]byte{p.sign(p.hank, p.receipted(p.hank, file(Hash{0xe6}, 15_000, addrOf(p.henry))))}, 0)
	// Alice removes: hank had spent 5000 of the 6000 it earned him.
	p.run(t, [][]byte{p.sign(p.alice, &RemoveFile{FileID: Hash{0xe5}})}, 0)
	if v := p.account(hank); v.QuotaOwed != 5000 {
		t.Fatalf("hank owes %d, want 5000", v.QuotaOwed)
	}
	checkQuotaBooks(t, dump(t, p.app), p.app.params, true)
	// New pieces repay as they are placed (held, not yet proved) …
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe7}, hank, 2000)}, 0)
	if v := p.account(hank); v.QuotaOwed != 3000 {
		t.Fatalf("hank owes %d, want 3000", v.QuotaOwed)
	}
	checkQuotaBooks(t, dump(t, p.app), p.app.params, true)
	// … and a proof changes no debt.
	p.settle(1)
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	if v := p.account(hank); v.QuotaOwed != 3000 {
		t.Fatalf("after proving hank owes %d, want 3000", v.QuotaOwed)
	}
	checkQuotaBooks(t, dump(t, p.app), p.app.params, true)
}

// challenges_per_epoch is a genesis param: c challenges per holder, a
// default for a genesis that leaves it out, and bounds.
func TestChallengesPerEpochIsAGenesisParam(t *testing.T) {
	for _, c := range []struct {
		json string
		want uint64
		err  string
	}{
		{`{"params":{"epoch_length":10,"receipt_ttl":1,"max_tx_bytes":262144},"accounts":[]}`, ChallengesPerEpoch, ""},
		{`{"params":{"challenges_per_epoch":3},"accounts":[]}`, 3, ""},
		{`{"params":{"challenges_per_epoch":0},"accounts":[]}`, 0, "challenges_per_epoch 0 outside [1, 256]"},
		{`{"params":{"challenges_per_epoch":257,"max_tx_bytes":16777216},"accounts":[]}`, 0, "challenges_per_epoch 257 outside [1, 256]"},
		{`{"params":{"challenges_per_epoch":200},"accounts":[]}`, 0, "would not fit in max_tx_bytes 262144"},
	} {
		g, err := ParseGenesisState([]byte(c.json))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("%s: %v, want %q", c.json, err, c.err)
			}
			continue
		}
		if err != nil || g.Params.ChallengesPerEpoch != c.want {
			t.Fatalf("%s: %d %v, want %d", c.json, g.Params.ChallengesPerEpoch, err, c.want)
		}
	}
	p := newProveLedgerWith(t, 10, 4, func(g *GenesisState) { g.Params.ChallengesPerEpoch = 3 })
	hank := addrOf(p.hank)
	p.run(t, [][]byte{p.placeTx(p.alice, Hash{0xe8}, hank, 9000)}, 0)
	set := p.challenges(hank)
	if len(set.Challenges) != 3 {
		t.Fatalf("%d challenges, want 3", len(set.Challenges))
	}
	p.run(t, [][]byte{p.prove(p.hank, -1)}, 0)
	if o, _ := p.outcome(0, hank); o.Outcome != OutcomeProved {
		t.Fatalf("three proofs: %+v", o)
	}
}
