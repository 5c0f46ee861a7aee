package node

import (
	"context"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// A worker that commits but never reveals, on real nodes: the two others
// reveal the same result, which the quorum (q = 2) accepts; at the reveal
// deadline the ledger judges the silent worker missed, it is paid nothing,
// the job closes with its unused escrow refunded, the balances' sum is
// unchanged and the submitter reads the output. (When the silent worker
// is needed for the quorum, the ledger draws a fresh round instead:
// chain.TestJobWorkerThatCommitsButNeverRevealsIsReplaced.) The workers'
// loops are driven by hand (their ticker never fires): the silent one runs
// one Round, which commits (first: a commit that closes the commit phase
// is revealed at once), and is never asked again.
func TestComputeJobWorkerThatNeverRevealsIsNotPaid(t *testing.T) {
	cache := t.TempDir()
	nodes, l := startMemNetworkGenesis(t, 4, func(g *chain.GenesisState) {
		g.Params.Jobs.RevealBlocks = 10
		g.Params.RepairAfterMissed = 1 << 20 // the deadline passes in a burst of empty blocks
	}, func(i int, c *Config) {
		if i == 0 {
			return
		}
		offerCPU(t, c, cache)
		c.Compute.Interval = time.Hour
		c.Compute.PollOnly = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	total := func() uint64 { return creditSupply(ctx, t, nodes) }
	before := total()
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(1)
	byAddr := map[chain.Address]*Node{}
	for _, nd := range nodes[1:] {
		byAddr[nd.addr] = nd
	}
	v, err := nodes[0].Job(ctx, id)
	if err != nil || len(v.Assignments) != 3 {
		t.Fatalf("%d assignments: %v", len(v.Assignments), err)
	}
	round := func(nd *Node) {
		t.Helper()
		if err := nd.work.Round(ctx); err != nil {
			t.Fatalf("worker %s: %v", nd.addr, err)
		}
		nd.work.Wait()
	}
	silent := byAddr[v.Assignments[2].Worker]
	for i := len(v.Assignments) - 1; i >= 0; i-- {
		// Runs and commits: the silent one first, as its commit must not
		// close the commit phase (the worker whose commit does reveals
		// right after it).
		round(byAddr[v.Assignments[i].Worker])
	}
	v, _ = nodes[0].Job(ctx, id)
	if v.Phase != chain.JobRevealing || !v.RevealOpen {
		t.Fatalf("all three committed, the job is %s", v.Phase)
	}
	for _, a := range v.Assignments[:2] {
		round(byAddr[a.Worker]) // reveals (the closing committer did already)
	}
	v, _ = nodes[0].Job(ctx, id)
	if v.Phase != chain.JobAccepted || v.ClosedHeight != 0 {
		t.Fatalf("two matching reveals: %s, closed at %d", v.Phase, v.ClosedHeight)
	}
	if a := v.AssignmentOf(silent.addr); a == nil || a.CommittedHeight == 0 || a.Revealed || a.Outcome != "" {
		t.Fatalf("the silent worker before the deadline: %+v", a)
	}
	h, _, _ := nodes[0].lc.Height(ctx)
	l.advance(int(v.RevealBy - h)) // to the reveal deadline
	v, _ = nodes[0].Job(ctx, id)
	if v.Phase != chain.JobAccepted || v.ClosedHeight == 0 || v.Escrow != 0 {
		t.Fatalf("after the reveal deadline: %s, closed at %d, escrow %d", v.Phase, v.ClosedHeight, v.Escrow)
	}
	for _, a := range v.Assignments {
		switch a.Worker {
		case silent.addr:
			if a.Outcome != chain.OutcomeMissed || a.Paid != 0 {
				t.Errorf("the silent worker: %q, paid %d", a.Outcome, a.Paid)
			}
		default:
			if a.Outcome != chain.OutcomePaid || a.Paid == 0 {
				t.Errorf("worker %s: %q, paid %d", a.Worker, a.Outcome, a.Paid)
			}
		}
	}
	if v.Paid != 2*v.Assignments[0].Paid {
		t.Fatalf("paid %d in all", v.Paid)
	}
	if rec, err := nodes[0].lc.(jobLedger).Worker(ctx, silent.addr); err != nil || rec.Missed != 1 || rec.Paid != 0 {
		t.Fatalf("the silent worker's record: %+v, %v", rec, err)
	}
	if a, _ := nodes[0].lc.Account(ctx, silent.addr); a.CreditsEarned != 0 {
		t.Fatalf("the silent worker earned %d", a.CreditsEarned)
	}
	if after := total(); after != before {
		t.Fatalf("balances sum to %d, were %d", after, before)
	}
	if sub, _ := nodes[0].lc.Account(ctx, nodes[0].addr); sub.CreditsEscrowed != 0 || sub.CreditsSpent != v.Paid {
		t.Fatalf("submitter: escrowed %d, spent %d, paid %d", sub.CreditsEscrowed, sub.CreditsSpent, v.Paid)
	}
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil || string(res.Output) != "hello!" {
		t.Fatalf("result: %v", err)
	}
}
