package node

import (
	"context"
	"testing"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/coop-network/coop/chain"
)

// A submitter whose node goes away right after submitting (so no worker
// can get the job's module and input keys) gets a failed job and all its
// escrow back, and no worker is judged: each commits and reveals the
// unavailable claim after its tries, and that quorum fails the job. (A
// worker judged missed for a submitter's silence was an attack: a fresh
// account could ruin workers' compute scores at no cost.)
func TestComputeJobWhoseFilesAreWithheldFailsAndJudgesNoWorker(t *testing.T) {
	nodes, _ := startComputeNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	watcher := nodes[1]
	account := func(a chain.Address) chain.AccountView {
		t.Helper()
		acc, err := watcher.lc.Account(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return acc
	}
	supply := func() (s uint64) {
		for _, nd := range nodes {
			a := account(nd.addr)
			s += a.Credits + a.CreditsEscrowed
		}
		return s
	}
	before, sub := supply(), account(nodes[0].addr)
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	v := waitJob(t, watcher, id)
	if v.Phase != chain.JobFailed || v.Result.Status != chain.ResultUnavailable || v.Paid != 0 || v.Escrow != 0 || v.Round != 1 {
		t.Fatalf("job %s in round %d, result %+v, paid %d, escrow %d", v.Phase, v.Round, v.Result, v.Paid, v.Escrow)
	}
	for _, a := range v.Assignments {
		if a.Outcome != chain.OutcomeVoid && a.Outcome != chain.OutcomeUnneeded {
			t.Fatalf("worker %s judged %q", a.Worker, a.Outcome)
		}
		jl, err := watcher.jobLedger()
		if err != nil {
			t.Fatal(err)
		}
		w, err := jl.Worker(ctx, a.Worker)
		if err != nil {
			t.Fatal(err)
		}
		if w.Missed != 0 || w.Wrong != 0 {
			t.Fatalf("worker %s's record %+v", a.Worker, w)
		}
	}
	if after := account(nodes[0].addr); after.Credits+after.CreditsEscrowed != sub.Credits || after.CreditsEscrowed != 0 || after.CreditsSpent != 0 {
		t.Fatalf("submitter %+v, was %+v", after, sub)
	}
	if after := supply(); after != before {
		t.Fatalf("balances sum to %d, were %d", after, before)
	}
}

// The submitter reads an accepted job's output with none of its workers
// able to hand over the output's key (their kept records gone): the key
// each put on the ledger with its reveal, sealed to the submitter, opens
// the output file.
func TestComputeJobOutputReadsWithoutTheWorkersKeys(t *testing.T) {
	nodes, _ := startComputeNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	v := waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s", v.Phase)
	}
	for _, a := range v.Assignments {
		if a.Revealed && len(a.OutputKey) == 0 {
			t.Fatalf("worker %s revealed no output key", a.Worker)
		}
	}
	for _, nd := range nodes[1:] {
		if err := nd.workState.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != "hello!" {
		t.Fatalf("output %q", res.Output)
	}
}
