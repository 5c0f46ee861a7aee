package chain

import "testing"

// A worker that commits but never reveals, when the others cannot reach
// the quorum without it (q = r = 3): at the reveal deadline it is judged
// missed and the two revealers void (their results are public now, so they
// cannot count again), a fresh round of three workers who took no part is
// drawn the next block, and the job is accepted with them. The silent
// worker is paid nothing, its record counts the miss, and the books stay
// exact.
func TestJobWorkerThatCommitsButNeverRevealsIsReplaced(t *testing.T) {
	f := newJobFixture(t, 6)
	b := f.basicJob()
	b.Replicas, b.Quorum = 3, 3
	id := f.submit(b)
	ws := openWorkers(f.job(id))
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.commitTx(ws[1], id, honest()), f.commitTx(ws[2], id, honest())))
	j := f.job(id)
	if j.Phase != JobRevealing {
		t.Fatalf("all committed: %s", j.Phase)
	}
	f.mustOK(f.block(f.revealTx(ws[0], id, honest()), f.revealTx(ws[1], id, honest())))
	for f.height < j.RevealBy-1 {
		f.block()
	}
	if j := f.job(id); j.Phase != JobRevealing || j.Round != 1 {
		t.Fatalf("before the reveal deadline: %+v", j)
	}
	f.block() // the reveal deadline
	j = f.job(id)
	if j.Phase != JobAssigned || j.Round != 2 || j.ClosedHeight != 0 || j.Paid != 0 {
		t.Fatalf("after the reveal deadline: %+v", j)
	}
	want := []string{OutcomeVoid, OutcomeVoid, OutcomeMissed}
	for i, a := range j.Assignments[:3] {
		if a.Outcome != want[i] || a.Paid != 0 {
			t.Fatalf("assignment %d: %q, paid %d, want %q", i, a.Outcome, a.Paid, want[i])
		}
	}
	if r := f.block(f.revealTx(ws[2], id, honest()))[0]; r.Code == 0 {
		t.Fatal("a reveal after the deadline was taken")
	}
	j = f.job(id) // the deadline's block drew round 2
	fresh := openWorkers(j)
	if j.Round != 2 || len(fresh) != 3 {
		t.Fatalf("round 2: %+v", j)
	}
	for _, k := range fresh {
		for _, old := range ws {
			if addrOf(k) == addrOf(old) {
				t.Fatalf("round 2 drew %s again", addrOf(k))
			}
		}
	}
	f.runJob(id, honest(), honest(), honest())
	j = f.job(id)
	if j.Phase != JobAccepted || j.ClosedHeight == 0 || j.Paid != 3*1400 || j.Escrow != 0 {
		t.Fatalf("round 2: %+v", j)
	}
	if a := f.account(addrOf(ws[2])); a.Credits != 0 {
		t.Fatalf("the silent worker was paid %d", a.Credits)
	}
	if w := f.worker(addrOf(ws[2])); w.Missed != 1 || w.Paid != 0 {
		t.Fatalf("the silent worker's record: %+v", w)
	}
	for _, k := range ws[:2] {
		if a := f.account(addrOf(k)); a.Credits != 0 {
			t.Fatalf("a void revealer was paid %d", a.Credits)
		}
	}
	f.checkBooks()
}
