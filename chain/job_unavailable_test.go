package chain

import "testing"

func unavailable() JobResult { return JobResult{Status: ResultUnavailable} }

// A submitter that withholds its job's files from every worker gets a
// failed job and its escrow back, and no worker's record changes: the
// attack that used to cost workers a missed assignment each costs them
// nothing on the ledger.
func TestJobWhoseFilesAreWithheldFailsWithoutJudgingAnyone(t *testing.T) {
	f := newJobFixture(t, 5)
	before := f.account(addrOf(f.alice))
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	var commits, reveals [][]byte
	for _, k := range ws {
		commits = append(commits, f.commitTx(k, id, unavailable()))
		reveals = append(reveals, f.revealTx(k, id, unavailable()))
	}
	f.mustOK(f.block(commits...))
	res := f.block(reveals...)
	f.mustOK(res[:2])
	if Code(res[2].Code) != CodeNotAssigned {
		t.Fatalf("a reveal after the job closed: code %d %s", res[2].Code, res[2].Log)
	}
	j := f.job(id)
	if j.Phase != JobFailed || j.ClosedHeight == 0 || j.AcceptedHeight != 0 || j.Result.Status != ResultUnavailable || j.Escrow != 0 || j.Paid != 0 {
		t.Fatalf("job %+v", j)
	}
	// The quorum closes the job: the third worker, committed but not yet
	// revealed then, is unneeded.
	want := []string{OutcomeVoid, OutcomeVoid, OutcomeUnneeded}
	for i, a := range j.Assignments {
		if a.Outcome != want[i] || a.Paid != 0 {
			t.Fatalf("assignment %d: %q paid %d, want %q", i, a.Outcome, a.Paid, want[i])
		}
	}
	for _, k := range ws {
		if w := f.worker(addrOf(k)); w.Missed != 0 || w.Wrong != 0 || w.Paid != 0 || ComputeScore(&w) != ComputeScore(&Worker{}) {
			t.Fatalf("worker %s judged: %+v", addrOf(k), w)
		}
	}
	if a := f.account(addrOf(f.alice)); a.Credits != before.Credits || a.CreditsEscrowed != 0 || a.CreditsSpent != 0 {
		t.Fatalf("submitter after: %+v, before %+v", a, before)
	}
	f.checkBooks()
}

// A submitter that hands its files to one worker of three: the two that
// got nothing say so, that quorum fails the job, and the worker that ran
// it is void, not wrong.
func TestJobWhoseFilesReachedOneWorkerFailsAndTheRunnerIsVoid(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := f.runJob(id, unavailable(), honest(), unavailable())
	j := f.job(id)
	if j.Phase != JobFailed || j.Escrow != 0 || j.Paid != 0 {
		t.Fatalf("job %+v", j)
	}
	if w := f.worker(addrOf(ws[1])); w.Wrong != 0 || w.Missed != 0 {
		t.Fatalf("the worker that ran the job was judged: %+v", w)
	}
	f.checkBooks()
}

// A worker that says unavailable while a quorum ran the job is void: no
// pay, no penalty; the others are paid.
func TestJobUnavailableAgainstAnAcceptedRunIsVoid(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := f.runJob(id, honest(), unavailable(), honest())
	j := f.job(id)
	if j.Phase != JobAccepted || j.Result != honest() {
		t.Fatalf("job %+v", j)
	}
	want := []string{OutcomePaid, OutcomeVoid, OutcomePaid}
	for i, a := range j.Assignments {
		if a.Outcome != want[i] {
			t.Fatalf("assignment %d: %q, want %q", i, a.Outcome, want[i])
		}
	}
	if w := f.worker(addrOf(ws[1])); w.Wrong != 0 || w.Missed != 0 || w.Paid != 0 {
		t.Fatalf("the unavailable worker was judged: %+v", w)
	}
	f.checkBooks()
}

// An unavailable result is canonical: any fuel, exit code, trap, cost
// table or output with it is refused, and the job is untouched.
func TestJobUnavailableCarriesNothing(t *testing.T) {
	f := newJobFixture(t, 5)
	for _, bad := range []JobResult{
		{Status: ResultUnavailable, FuelUsed: 1},
		{Status: ResultUnavailable, ExitCode: 1},
		{Status: ResultUnavailable, Trap: "oops"},
		{Status: ResultUnavailable, CostTable: 1},
		{Status: ResultUnavailable, OutputHash: Hash{1}},
	} {
		id := f.submit(f.basicJob())
		ws := openWorkers(f.job(id))
		f.mustOK(f.block(f.commitTx(ws[0], id, bad), f.commitTx(ws[1], id, honest()), f.commitTx(ws[2], id, honest())))
		if r := f.block(f.revealTx(ws[0], id, bad))[0]; Code(r.Code) != CodeInvalid {
			t.Fatalf("%+v revealed: code %d %s", bad, r.Code, r.Log)
		}
		if j := f.job(id); j.Paid != 0 || j.Assignments[0].Revealed {
			t.Fatalf("job %+v", j)
		}
	}
}
