package chain

import (
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"
)

// jobFixture is a ledger with jobs on short deadlines: alice (funded with
// 1,000,000 credits) owns a module file, nWorkers nodes offer CPU, and
// mallory is a fresh key with no credits and no node.
type jobFixture struct {
	*testLedger
	alice, mallory ed25519.PrivateKey
	workers        []ed25519.PrivateKey
	module         Hash
	supply         uint64
}

const (
	testCommitBlocks = 10
	testRevealBlocks = 20
)

func newJobFixture(t *testing.T, nWorkers int, tweak ...func(*GenesisState)) *jobFixture {
	t.Helper()
	return newJobFixtureIn(t, "", nWorkers, tweak...)
}

// newJobFixtureIn is newJobFixture with the state in dir ("": in memory).
func newJobFixtureIn(t *testing.T, dir string, nWorkers int, tweak ...func(*GenesisState)) *jobFixture {
	t.Helper()
	alice := testKey(0)
	g := testGenesis(alice)
	g.Accounts[0].Credits = 1_000_000
	g.Params.EpochLength = 10_000 // no epoch settles during a test: nobody misses proofs
	g.Params.Allowance = 1 << 20
	g.Params.Jobs.CommitBlocks = testCommitBlocks
	g.Params.Jobs.RevealBlocks = testRevealBlocks
	g.Params.Jobs.FuelPerBlock = 1 << 40
	for _, f := range tweak {
		f(&g)
	}
	f := &jobFixture{testLedger: newTestLedgerGenesis(t, dir, g), alice: alice, mallory: testKey(99), module: Hash{0x3d, 1}}
	for _, a := range g.Accounts {
		f.supply += a.Credits
	}
	var reg [][]byte
	for i := range nWorkers {
		k := testKey(10 + i)
		f.workers = append(f.workers, k)
		reg = append(reg, f.sign(k, registerBody(t, k, 1<<20)))
	}
	f.mustOK(f.block(reg...))
	f.mustOK(f.block(f.sign(alice, f.receipted(alice, &PlaceFile{FileID: f.module, Size: 100, K: 1, M: 0,
		Pieces: []Piece{piece(0, 0, addrOf(f.workers[0]), 100)}}))))
	return f
}

func (f *jobFixture) mustOK(res []*abci.ExecTxResult) {
	f.t.Helper()
	for i, r := range res {
		if r.Code != 0 {
			f.t.Fatalf("tx %d: code %d %s", i, r.Code, r.Log)
		}
	}
}

// submitTx signs b by k and returns the tx and the id of the job it makes.
func (f *jobFixture) submitTx(k ed25519.PrivateKey, b *SubmitJob) ([]byte, Hash) {
	id := JobID(addrOf(k), f.nonces[addrOf(k)])
	return f.sign(k, b), id
}

func (f *jobFixture) basicJob() *SubmitJob {
	return &SubmitJob{Module: f.module, InlineInput: []byte("7"), FuelLimit: 1_000_000_000, MemoryLimit: 1 << 20, Price: 2}
}

// submit submits b for alice and checks it is accepted and assigned in
// the same block (the block's end rule draws its workers).
func (f *jobFixture) submit(b *SubmitJob) Hash {
	f.t.Helper()
	tx, id := f.submitTx(f.alice, b)
	f.mustOK(f.block(tx))
	if j := f.job(id); j.Phase != JobAssigned || j.Round != 1 || len(j.Assignments) != int(j.Replicas) || j.Assignments[0].AssignedHeight != j.SubmittedHeight {
		f.t.Fatalf("a new job is %s in round %d with %d assignments at height %d, want assigned in its submission block %d",
			j.Phase, j.Round, len(j.Assignments), j.Assignments[0].AssignedHeight, j.SubmittedHeight)
	}
	return id
}

func (f *jobFixture) job(id Hash) JobView {
	f.t.Helper()
	var v JobView
	if err := f.query(QueryJob+id.String(), &v); err != nil {
		f.t.Fatal(err)
	}
	return v
}

func (f *jobFixture) worker(a Address) Worker {
	f.t.Helper()
	var w Worker
	if err := f.query(QueryWorker+a.String(), &w); err != nil {
		f.t.Fatal(err)
	}
	return w
}

func keyOf(a Address) ed25519.PrivateKey { return testKeyIndex()[a] }

// openWorkers are the keys of j's open assignments, in assignment order.
func openWorkers(j JobView) []ed25519.PrivateKey {
	var out []ed25519.PrivateKey
	for _, a := range j.Assignments {
		if a.Outcome == "" {
			out = append(out, keyOf(a.Worker))
		}
	}
	return out
}

func honest() JobResult {
	return JobResult{CostTable: 1, Status: ResultExited, FuelUsed: 700_000_000, OutputHash: Hash{0xaa}}
}

func lie() JobResult {
	r := honest()
	r.OutputHash = Hash{0xbb}
	return r
}

func saltOf(k ed25519.PrivateKey) []byte { a := addrOf(k); return append(a[:], "salt-salt"...) }

func (f *jobFixture) commitTx(k ed25519.PrivateKey, job Hash, r JobResult) []byte {
	return f.sign(k, &CommitResult{Job: job, Commitment: Commitment(job, addrOf(k), ResultHash(job, &r), saltOf(k))})
}

func (f *jobFixture) revealTx(k ed25519.PrivateKey, job Hash, r JobResult) []byte {
	return f.sign(k, &RevealResult{Job: job, Result: r, Salt: saltOf(k)})
}

// runJob has the open workers of job commit and reveal results[i] (the
// i-th open worker), all in two blocks.
func (f *jobFixture) runJob(job Hash, results ...JobResult) []ed25519.PrivateKey {
	f.t.Helper()
	ws := openWorkers(f.job(job))
	var commits, reveals [][]byte
	for i, k := range ws {
		commits = append(commits, f.commitTx(k, job, results[i]))
		reveals = append(reveals, f.revealTx(k, job, results[i]))
	}
	f.mustOK(f.block(commits...))
	f.mustOK(f.block(reveals...))
	return ws
}

// checkBooks checks the credit books: Σ (credits + escrowed) over all
// accounts is the genesis supply, and each account's escrow is Σ Escrow of
// its jobs; closed jobs hold none.
func (f *jobFixture) checkBooks() {
	f.t.Helper()
	t := f.t.(*testing.T)
	checkJobBooks(t, dump(t, f.app), f.supply)
}

func checkJobBooks(t testing.TB, st map[string][]byte, supply uint64) {
	t.Helper()
	var total uint64
	escrowed := map[Address]uint64{}
	jobEscrow := map[Address]uint64{}
	for k, v := range st {
		switch {
		case strings.HasPrefix(k, prefixAccount):
			var a Account
			if err := Unmarshal(v, &a); err != nil {
				t.Fatal(err)
			}
			total += a.Credits + a.CreditsEscrowed
			escrowed[a.Address] = a.CreditsEscrowed
		case strings.HasPrefix(k, prefixJob):
			var j Job
			if err := Unmarshal(v, &j); err != nil {
				t.Fatal(err)
			}
			if j.ClosedHeight != 0 && j.Escrow != 0 {
				t.Errorf("closed job %s holds %d in escrow", j.ID, j.Escrow)
			}
			if j.Escrow+j.Paid > uint64(j.Replicas)*j.FuelLimit*j.Price {
				t.Errorf("job %s: escrow %d + paid %d above what it escrowed", j.ID, j.Escrow, j.Paid)
			}
			jobEscrow[j.Submitter] += j.Escrow
		}
	}
	if total != supply {
		t.Errorf("Σ credits + escrowed = %d, supply is %d", total, supply)
	}
	for a, e := range escrowed {
		if e != jobEscrow[a] {
			t.Errorf("account %s: escrowed %d, its jobs hold %d", a, e, jobEscrow[a])
		}
	}
}

func TestJobHonestQuorumPaysByFuelUsedAndRefundsTheRest(t *testing.T) {
	f := newJobFixture(t, 5)
	before := f.account(addrOf(f.alice))
	id := f.submit(f.basicJob())
	j := f.job(id)
	if j.Phase != JobAssigned || len(j.Assignments) != 3 || !j.CommitOpen || j.RevealOpen {
		t.Fatalf("after assignment: %+v", j)
	}
	a := f.account(addrOf(f.alice))
	if a.Credits != before.Credits-6000 || a.CreditsEscrowed != 6000 || j.Escrow != 6000 {
		t.Fatalf("escrow: credits %d escrowed %d job %d", a.Credits, a.CreditsEscrowed, j.Escrow)
	}
	f.checkBooks()
	ws := openWorkers(j)
	for _, k := range ws {
		var page Page[JobView]
		if err := f.query(QueryAssignments+addrOf(k).String(), &page); err != nil || len(page.Items) != 1 || page.Items[0].ID != id {
			t.Fatalf("assignments of %s: %+v %v", addrOf(k), page, err)
		}
		if addrOf(k) == addrOf(f.alice) || j.Assignments[0].CommitBy != f.height+testCommitBlocks {
			t.Fatalf("assignment %+v", j.Assignments)
		}
	}
	// Two commit: still committing, reveals closed.
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.commitTx(ws[1], id, honest())))
	if j := f.job(id); j.Phase != JobCommitting || j.RevealOpen {
		t.Fatalf("two of three committed: %s", j.Phase)
	}
	early := f.revealTx(ws[0], id, honest())
	if r := f.block(early)[0]; Code(r.Code) != CodeWrongPhase {
		t.Fatalf("a reveal before the commit phase closed: code %d %s", r.Code, r.Log)
	}
	f.mustOK(f.block(f.commitTx(ws[2], id, honest())))
	if j := f.job(id); j.Phase != JobRevealing || !j.RevealOpen || j.RevealBy != f.height+testRevealBlocks {
		t.Fatalf("all committed: %+v", j)
	}
	f.mustOK(f.block(f.revealTx(ws[0], id, honest())))
	if j := f.job(id); j.Phase != JobRevealing {
		t.Fatalf("one reveal: %s", j.Phase)
	}
	f.mustOK(f.block(f.revealTx(ws[1], id, honest())))
	j = f.job(id)
	if j.Phase != JobAccepted || j.ResultHash != ResultHash(id, &[]JobResult{honest()}[0]) || j.Result != honest() || j.Paid != 2800 || j.Escrow != 3200 || j.ClosedHeight != 0 {
		t.Fatalf("quorum: %+v", j)
	}
	f.mustOK(f.block(f.revealTx(ws[2], id, honest())))
	j = f.job(id)
	if j.ClosedHeight == 0 || j.Escrow != 0 || j.Paid != 4200 {
		t.Fatalf("all revealed: %+v", j)
	}
	for _, k := range ws {
		acct := f.account(addrOf(k))
		if acct.Credits != 1400 || acct.CreditsEarned != 1400 {
			t.Fatalf("worker paid %d earned %d, want 700 Mfuel × 2", acct.Credits, acct.CreditsEarned)
		}
		if w := f.worker(addrOf(k)); w.Paid != 1 || w.Assigned != 1 || ComputeScore(&w) <= 500 {
			t.Fatalf("worker record %+v score %d", w, ComputeScore(&w))
		}
		var page Page[JobView]
		if err := f.query(QueryAssignments+addrOf(k).String(), &page); err != nil || len(page.Items) != 0 {
			t.Fatalf("a closed job is still listed for its worker: %+v %v", page, err)
		}
	}
	a = f.account(addrOf(f.alice))
	if a.Credits != before.Credits-4200 || a.CreditsEscrowed != 0 || a.CreditsSpent != 4200 {
		t.Fatalf("submitter after: %+v", a)
	}
	var mine Page[JobView]
	if err := f.query(QueryJobs+addrOf(f.alice).String(), &mine); err != nil || len(mine.Items) != 1 || mine.Items[0].Phase != JobAccepted {
		t.Fatalf("/jobs: %+v %v", mine, err)
	}
	f.checkBooks()
}

func TestJobLiarOutvotedIsPenalizedAndUnpaid(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := f.runJob(id, honest(), lie(), honest())
	j := f.job(id)
	if j.Phase != JobAccepted || j.Result != honest() || j.ClosedHeight == 0 {
		t.Fatalf("job %+v", j)
	}
	liar := addrOf(ws[1])
	if a := f.account(liar); a.Credits != 0 || a.CreditsEarned != 0 {
		t.Fatalf("the liar was paid: %+v", a)
	}
	w := f.worker(liar)
	if w.Wrong != 1 || ComputeScore(&w) >= 500 {
		t.Fatalf("liar's record %+v score %d", w, ComputeScore(&w))
	}
	if j.Assignments[1].Outcome != OutcomeWrong || j.Assignments[0].Outcome != OutcomePaid || j.Assignments[2].Outcome != OutcomePaid {
		t.Fatalf("outcomes %+v", j.Assignments)
	}
	for _, k := range []ed25519.PrivateKey{ws[0], ws[2]} {
		if a := f.account(addrOf(k)); a.Credits != 700*2 {
			t.Fatalf("honest worker got %d, want fuel used × price = 1400", a.Credits)
		}
	}
	if a := f.account(addrOf(f.alice)); a.CreditsSpent != 2800 {
		t.Fatalf("submitter spent %d", a.CreditsSpent)
	}
	f.checkBooks()
}

// Two colluding liars out of three with quorum 2 win the job: their
// result is accepted, they are paid, and the honest worker is judged wrong.
// docs/compute.md says so and what it costs to get there.
func TestJobTwoColludingLiarsOfThreeWin(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := f.runJob(id, lie(), honest(), lie())
	j := f.job(id)
	if j.Phase != JobAccepted || j.Result != lie() {
		t.Fatalf("job %+v", j)
	}
	if w := f.worker(addrOf(ws[1])); w.Wrong != 1 {
		t.Fatalf("the honest minority: %+v", w)
	}
	if a := f.account(addrOf(ws[0])); a.Credits != 1400 {
		t.Fatalf("a colluder got %d", a.Credits)
	}
	f.checkBooks()
}

func TestJobSubmitRejectionsEscrowNothing(t *testing.T) {
	f := newJobFixture(t, 3)
	// bob owns a file alice cannot use as her module.
	bob := testKey(1)
	f.mustOK(f.block(f.sign(f.alice, &Transfer{To: addrOf(bob), Amount: 100})))
	f.mustOK(f.block(f.sign(bob, f.receipted(bob, &PlaceFile{FileID: Hash{0xb0}, Size: 100, K: 1, M: 0,
		Pieces: []Piece{piece(0, 0, addrOf(f.workers[1]), 100)}}))))
	ok := f.basicJob
	with := func(edit func(*SubmitJob)) *SubmitJob { b := ok(); edit(b); return b }
	cases := []struct {
		name string
		k    ed25519.PrivateKey
		b    *SubmitJob
		want Code
	}{
		{"not enough credits", f.alice, with(func(b *SubmitJob) { b.Price = 1_000 }), CodeInsufficientFunds},
		{"fresh key", f.mallory, ok(), CodeInsufficientFunds},
		{"unknown module", f.alice, with(func(b *SubmitJob) { b.Module = Hash{0xee} }), CodeUnknownModule},
		{"unknown input", f.alice, with(func(b *SubmitJob) { b.InlineInput = nil; b.Input = Hash{0xef} }), CodeUnknownModule},
		{"another's module", f.alice, with(func(b *SubmitJob) { b.Module = Hash{0xb0} }), CodeUnauthorized},
		{"fuel 0", f.alice, with(func(b *SubmitJob) { b.FuelLimit = 0 }), CodeBadJobLimits},
		{"fuel above max", f.alice, with(func(b *SubmitJob) { b.FuelLimit = 1<<40 + 1 }), CodeBadJobLimits},
		{"price 0", f.alice, with(func(b *SubmitJob) { b.Price = 0 }), CodeBadJobLimits},
		{"memory not pages", f.alice, with(func(b *SubmitJob) { b.MemoryLimit = 1000 }), CodeBadJobLimits},
		{"memory 0", f.alice, with(func(b *SubmitJob) { b.MemoryLimit = 0 }), CodeBadJobLimits},
		{"inline too big", f.alice, with(func(b *SubmitJob) { b.InlineInput = make([]byte, 4097) }), CodeBadJobLimits},
		{"inline and file", f.alice, with(func(b *SubmitJob) { b.Input = f.module }), CodeBadJobLimits},
		{"r < q", f.alice, with(func(b *SubmitJob) { b.Replicas, b.Quorum = 2, 3 }), CodeBadQuorum},
		{"q not a majority", f.alice, with(func(b *SubmitJob) { b.Replicas, b.Quorum = 4, 2 }), CodeBadQuorum},
		{"r too large", f.alice, with(func(b *SubmitJob) { b.Replicas, b.Quorum = 17, 9 }), CodeBadQuorum},
		{"r above workers", f.alice, with(func(b *SubmitJob) { b.Replicas, b.Quorum = 5, 3 }), CodeNoWorkers},
		{"overflow", f.alice, with(func(b *SubmitJob) { b.FuelLimit, b.Price = 1<<40, 1<<60 }), CodeOverflow},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dump(t, f.app)
			acct := f.account(addrOf(c.k))
			tx, id := f.submitTx(c.k, c.b)
			if r := f.check(tx); Code(r.Code) != c.want {
				t.Fatalf("CheckTx: code %d %s, want %d", r.Code, r.Log, c.want)
			}
			r := f.block(tx)[0]
			if Code(r.Code) != c.want {
				t.Fatalf("block: code %d %s, want %d", r.Code, r.Log, c.want)
			}
			after := f.account(addrOf(c.k))
			if after.Credits != acct.Credits || after.CreditsEscrowed != 0 {
				t.Fatalf("credits %d → %d, escrowed %d", acct.Credits, after.Credits, after.CreditsEscrowed)
			}
			if err := f.query(QueryJob+id.String(), &JobView{}); err == nil {
				t.Fatal("a rejected job was recorded")
			}
			for _, k := range stateDiff(before, dump(t, f.app)) {
				if k != string(accountKey(addrOf(c.k))) {
					t.Fatalf("state key %q changed", k)
				}
			}
		})
	}
	// The submitter is never its own worker: with three workers of which
	// one is alice's node, three replicas are too many.
	f.mustOK(f.block(f.sign(f.alice, registerBody(t, f.alice, 1<<20))))
	tx, _ := f.submitTx(f.alice, ok())
	f.mustOK(f.block(tx))
	tx, _ = f.submitTx(f.workers[0], ok())
	if r := f.block(tx)[0]; Code(r.Code) != CodeInsufficientFunds {
		t.Fatalf("unfunded worker: %d %s", r.Code, r.Log)
	}
	f.checkBooks()
}

func TestJobSubmitterNeverAssignedAndDefaultsApply(t *testing.T) {
	f := newJobFixture(t, 3)
	f.mustOK(f.block(f.sign(f.alice, registerBody(t, f.alice, 1<<20))))
	for range 3 {
		id := f.submit(f.basicJob())
		j := f.job(id)
		if j.Replicas != DefaultReplicas || j.Quorum != DefaultQuorum || len(j.Assignments) != 3 {
			t.Fatalf("defaults: %+v", j)
		}
		for _, a := range j.Assignments {
			if a.Worker == addrOf(f.alice) {
				t.Fatal("the submitter was assigned its own job")
			}
		}
	}
	f.checkBooks()
}

func TestJobCommitRevealRulesAndAttacks(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	var outsider ed25519.PrivateKey
	for _, k := range f.workers {
		if j := f.job(id); j.AssignmentOf(addrOf(k)) == nil {
			outsider = k
		}
	}
	refuse := func(name string, tx []byte, want Code) {
		t.Helper()
		before := f.job(id)
		if r := f.block(tx)[0]; Code(r.Code) != want {
			t.Fatalf("%s: code %d %s, want %d", name, r.Code, r.Log, want)
		}
		after := f.job(id)
		if string(mustMarshal(&before)) != string(mustMarshal(&after)) {
			t.Fatalf("%s changed the job", name)
		}
	}
	// A fresh unfunded key and a node that was not drawn can neither
	// commit nor reveal; nor can anyone for a job that does not exist.
	refuse("mallory commits", f.commitTx(f.mallory, id, honest()), CodeNotAssigned)
	refuse("outsider commits", f.commitTx(outsider, id, honest()), CodeNotAssigned)
	refuse("submitter commits", f.commitTx(f.alice, id, honest()), CodeNotAssigned)
	if r := f.block(f.commitTx(ws[0], Hash{0x99}, honest()))[0]; Code(r.Code) != CodeNotFound {
		t.Fatalf("commit to an unknown job: %d", r.Code)
	}
	f.mustOK(f.block(f.commitTx(ws[0], id, honest())))
	refuse("second commit", f.commitTx(ws[0], id, lie()), CodeExists)
	// Copying another's commitment does not let a worker open it with
	// the other's reveal: the commitment binds the worker's address.
	j0 := f.job(id)
	copied := j0.AssignmentOf(addrOf(ws[0])).Commitment
	f.mustOK(f.block(f.sign(ws[1], &CommitResult{Job: id, Commitment: copied})))
	f.mustOK(f.block(f.commitTx(ws[2], id, honest())))
	if j := f.job(id); j.Phase != JobRevealing {
		t.Fatalf("phase %s", j.Phase)
	}
	refuse("commit after the phase closed", f.commitTx(outsider, id, honest()), CodeNotAssigned)
	refuse("copier reveals the copied result with the original's salt",
		f.sign(ws[1], &RevealResult{Job: id, Result: honest(), Salt: saltOf(ws[0])}), CodeBadReveal)
	refuse("reveal of another result", f.revealTx(ws[0], id, lie()), CodeBadReveal)
	refuse("mallory reveals", f.revealTx(f.mallory, id, honest()), CodeNotAssigned)
	refuse("short salt", f.sign(ws[0], &RevealResult{Job: id, Result: honest(), Salt: []byte("x")}), CodeInvalid)
	bad := honest()
	bad.Status = "ok"
	refuse("unknown status", f.sign(ws[0], &RevealResult{Job: id, Result: bad, Salt: saltOf(ws[0])}), CodeInvalid)
	over := honest()
	over.FuelUsed = 1_000_000_001
	refuse("fuel above the limit", f.sign(ws[0], &RevealResult{Job: id, Result: over, Salt: saltOf(ws[0])}), CodeInvalid)
	refuse("output file unknown", f.sign(ws[0], &RevealResult{Job: id, Result: honest(), Salt: saltOf(ws[0]), OutputFile: Hash{0x77}}), CodeNotFound)
	f.mustOK(f.block(f.sign(ws[0], &RevealResult{Job: id, Result: honest(), Salt: saltOf(ws[0]), OutputFile: f.module})))
	refuse("second reveal", f.revealTx(ws[0], id, honest()), CodeExists)
	f.mustOK(f.block(f.revealTx(ws[2], id, honest())))
	j := f.job(id)
	if j.Phase != JobAccepted || j.OutputFile != f.module {
		t.Fatalf("accepted: %+v", j)
	}
	// The copier can reveal nothing that opens its copy; at the reveal
	// deadline it is missed and unpaid, and the job closes.
	for f.height < j.RevealBy-1 {
		f.block()
	}
	if j := f.job(id); j.ClosedHeight != 0 {
		t.Fatal("closed before the reveal deadline")
	}
	late := f.revealTx(ws[1], id, honest())
	f.block()
	j = f.job(id)
	if j.ClosedHeight == 0 || j.Assignments[1].Outcome != OutcomeMissed {
		t.Fatalf("after the reveal deadline: %+v", j)
	}
	if r := f.block(late)[0]; Code(r.Code) != CodeNotAssigned {
		t.Fatalf("a late reveal: %d %s", r.Code, r.Log)
	}
	if a := f.account(addrOf(ws[1])); a.Credits != 0 {
		t.Fatalf("the copier was paid %d", a.Credits)
	}
	if w := f.worker(addrOf(ws[1])); w.Missed != 1 {
		t.Fatalf("copier %+v", w)
	}
	f.checkBooks()
}

func TestJobLateCommitAndRevealAreRejectedWithJobLate(t *testing.T) {
	f := newJobFixture(t, 6)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	j := f.job(id)
	for f.height < j.CommitBy-2 {
		f.block()
	}
	// The last block before the deadline still takes commits.
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.commitTx(ws[1], id, honest())))
	// A commit for the deadline block is late (the mempool says so); in
	// the block itself the deadline rule runs first and has marked the
	// worker missed.
	late := f.commitTx(ws[2], id, honest())
	if r := f.check(late); Code(r.Code) != CodeJobLate {
		t.Fatalf("CheckTx of a late commit: %d %s", r.Code, r.Log)
	}
	if r := f.block(late)[0]; Code(r.Code) != CodeNotAssigned {
		t.Fatalf("commit of a missed worker: %d %s", r.Code, r.Log)
	}
	j = f.job(id)
	if j.Phase != JobRevealing || j.Assignments[2].Outcome != OutcomeMissed {
		t.Fatalf("at the commit deadline with 2 of 3 committed: %+v", j)
	}
	f.mustOK(f.block(f.revealTx(ws[0], id, honest())))
	for f.height < j.RevealBy-1 {
		f.block()
	}
	late = f.revealTx(ws[1], id, honest())
	if r := f.check(late); Code(r.Code) != CodeJobLate {
		t.Fatalf("CheckTx of a late reveal: %d %s", r.Code, r.Log)
	}
	if r := f.block(late)[0]; Code(r.Code) != CodeNotAssigned {
		t.Fatalf("a reveal after the deadline: %d %s", r.Code, r.Log)
	}
	// One reveal of two committed: no quorum at the deadline. The round
	// is void, the silent worker missed, and the same block draws a fresh
	// round from workers that had no part.
	j = f.job(id)
	if j.Assignments[0].Outcome != OutcomeVoid || j.Assignments[1].Outcome != OutcomeMissed {
		t.Fatalf("after a reveal phase without quorum: %+v", j)
	}
	if j.Round != 2 || j.Phase != JobAssigned || len(openWorkers(j)) != 3 {
		t.Fatalf("round 2: %+v", j)
	}
	for _, a := range j.Assignments {
		if a.Round == 2 && (a.Worker == addrOf(ws[0]) || a.Worker == addrOf(ws[1]) || a.Worker == addrOf(ws[2])) {
			t.Fatalf("a worker of round 1 was drawn again: %+v", j.Assignments)
		}
	}
	f.runJob(id, honest(), honest(), honest())
	if j := f.job(id); j.Phase != JobAccepted || j.ClosedHeight == 0 || j.Paid != 3*1400 {
		t.Fatalf("round 2 result: %+v", j)
	}
	if a := f.account(addrOf(ws[0])); a.Credits != 0 {
		t.Fatal("a void reveal was paid")
	}
	f.checkBooks()
}

func TestJobWorkerThatNeverCommitsIsReplaced(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	f.mustOK(f.block(f.commitTx(ws[0], id, honest())))
	j := f.job(id)
	for f.height < j.CommitBy {
		f.block()
	}
	j = f.job(id)
	if j.Round != 2 || j.Phase != JobCommitting || j.Assignments[1].Outcome != OutcomeMissed || j.Assignments[2].Outcome != OutcomeMissed || len(openWorkers(j)) != 3 {
		t.Fatalf("after the commit deadline with 1 of 3 committed: %+v", j)
	}
	if j.CommitBy != f.height+testCommitBlocks {
		t.Fatalf("new commit deadline %d at height %d", j.CommitBy, f.height)
	}
	var fresh []ed25519.PrivateKey
	for _, k := range openWorkers(j)[1:] {
		fresh = append(fresh, k)
	}
	f.mustOK(f.block(f.commitTx(fresh[0], id, honest()), f.commitTx(fresh[1], id, honest())))
	f.mustOK(f.block(f.revealTx(ws[0], id, honest()), f.revealTx(fresh[0], id, honest()), f.revealTx(fresh[1], id, honest())))
	j = f.job(id)
	if j.Phase != JobAccepted || j.ClosedHeight == 0 || j.Paid != 3*1400 {
		t.Fatalf("replaced job: %+v", j)
	}
	for _, k := range ws[1:] {
		if a := f.account(addrOf(k)); a.Credits != 0 {
			t.Fatal("a worker that never committed was paid")
		}
		if w := f.worker(addrOf(k)); w.Missed != 1 {
			t.Fatalf("missed worker %+v", w)
		}
	}
	f.checkBooks()
}

func TestJobWithoutQuorumFailsAfterMaxRoundsAndRefundsAll(t *testing.T) {
	f := newJobFixture(t, 6, func(g *GenesisState) { g.Params.Jobs.MaxRounds = 2 })
	before := f.account(addrOf(f.alice))
	id := f.submit(f.basicJob())
	other := func(b byte) JobResult { r := honest(); r.OutputHash = Hash{b}; return r }
	f.runJob(id, other(1), other(2), other(3))
	j := f.job(id)
	for _, a := range j.Assignments[:3] {
		if a.Outcome != OutcomeVoid {
			t.Fatalf("outcome %q", a.Outcome)
		}
	}
	// The block that voided round 1 draws round 2.
	if j.Round != 2 || j.Phase != JobAssigned || len(openWorkers(j)) != 3 {
		t.Fatalf("round 2: %+v", j)
	}
	f.runJob(id, other(4), other(5), other(6))
	j = f.job(id)
	if j.Phase != JobFailed || j.ClosedHeight == 0 || j.Escrow != 0 || j.Paid != 0 {
		t.Fatalf("after max rounds: %+v", j)
	}
	if a := f.account(addrOf(f.alice)); a.Credits != before.Credits || a.CreditsEscrowed != 0 {
		t.Fatalf("refund: %d of %d", a.Credits, before.Credits)
	}
	f.checkBooks()
}

func TestJobFailsWhenTooFewWorkersRemain(t *testing.T) {
	f := newJobFixture(t, 3)
	id := f.submit(f.basicJob())
	// Nobody commits: at the deadline all three are missed and there is
	// nobody left to draw (each worker takes part in a job once).
	j := f.job(id)
	for f.height < j.CommitBy {
		f.block()
	}
	j = f.job(id)
	if j.Phase != JobFailed || j.Escrow != 0 {
		t.Fatalf("%+v", j)
	}
	f.checkBooks()
}

func TestJobRejectedAndTrappedRunsAreResultsToo(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	trap := JobResult{CostTable: 1, Status: ResultTrapped, Trap: "out_of_fuel", FuelUsed: 1_000_000_000, OutputHash: Hash{1}}
	f.runJob(id, trap, trap, trap)
	if j := f.job(id); j.Phase != JobAccepted || j.Result != trap || j.Paid != 3*2000 || j.Escrow != 0 {
		t.Fatalf("out of fuel: %+v", j)
	}
	id = f.submit(f.basicJob())
	rej := JobResult{CostTable: 1, Status: ResultRejected, Trap: "malformed"}
	f.runJob(id, rej, rej, rej)
	if j := f.job(id); j.Phase != JobAccepted || j.Paid != 0 {
		t.Fatalf("rejected module: %+v", j)
	}
	f.checkBooks()
}

func TestComputeScoreWeightsAssignment(t *testing.T) {
	if s := ComputeScore(&Worker{}); s != 500 {
		t.Fatalf("a new worker scores %d", s)
	}
	p := DefaultParams()
	good, bad := &Worker{}, &Worker{}
	for range 100 {
		recordCompute(p, good, true)
	}
	for range 10 {
		recordCompute(p, bad, false)
	}
	if s := ComputeScore(good); s < 950 || s > 956 {
		t.Fatalf("an always-paid worker scores %d", s)
	}
	if s := ComputeScore(bad); s >= p.Jobs.MinScorePermille {
		t.Fatalf("ten failures leave %d ≥ the min %d", s, p.Jobs.MinScorePermille)
	}
	// Draws are deterministic and follow the weights.
	cands := []candidate{{addr: Address{1}, weight: 1000}, {addr: Address{2}, weight: 100}, {addr: Address{3}, weight: 500}}
	count := map[Address]int{}
	for i := range 3000 {
		c := append([]candidate(nil), cands...)
		got := drawWorkers(c, 1, []byte{byte(i), byte(i >> 8)}, Hash{7}, 1)
		again := drawWorkers(append([]candidate(nil), cands...), 1, []byte{byte(i), byte(i >> 8)}, Hash{7}, 1)
		if len(got) != 1 || got[0] != again[0] {
			t.Fatal("draw not deterministic")
		}
		count[got[0]]++
	}
	// Expected 1875, 188, 938.
	if count[Address{1}] < 1700 || count[Address{2}] > 300 || count[Address{3}] < 800 || count[Address{3}] > 1080 {
		t.Fatalf("draw counts %v", count)
	}
	all := drawWorkers(append([]candidate(nil), cands...), 5, []byte{1}, Hash{7}, 1)
	if len(all) != 3 || all[0] == all[1] || all[1] == all[2] || all[0] == all[2] {
		t.Fatalf("drawing more than there are: %v", all)
	}
}

func TestJobParamsValidate(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	p.Jobs = JobParams{}
	if err := p.Validate(); err != nil {
		t.Fatalf("jobs off: %v", err)
	}
	for _, edit := range []func(*JobParams){
		func(j *JobParams) { j.RevealBlocks = 0 },
		func(j *JobParams) { j.FuelPerBlock = 0 },
		func(j *JobParams) { j.MaxRounds = 0 },
		func(j *JobParams) { j.MaxFuel = 0 },
		func(j *JobParams) { j.MinScorePermille = 1001 },
	} {
		p := DefaultParams()
		edit(&p.Jobs)
		if err := p.Validate(); !errors.Is(err, ErrGenesis) {
			t.Fatalf("%+v: %v", p.Jobs, err)
		}
	}
	// A chain without job params refuses jobs with their own code.
	f := newJobFixture(t, 3, func(g *GenesisState) { g.Params.Jobs = JobParams{} })
	tx, _ := f.submitTx(f.alice, f.basicJob())
	if r := f.block(tx)[0]; Code(r.Code) != CodeJobsDisabled {
		t.Fatalf("%d %s", r.Code, r.Log)
	}
}

// A job in flight and the credit books survive a restart: the app is
// closed with a job half committed (as after kill -9, the state is what
// the last Commit wrote) and reopened from disk; the job completes and
// pays as if nothing happened.
func TestJobAndBalancesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	f := newJobFixtureIn(t, dir, 4)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.commitTx(ws[1], id, lie())))
	before := f.job(id)
	if err := f.app.Close(); err != nil {
		t.Fatal(err)
	}
	app, err := Open(Config{Dir: dir, CacheSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	f.app = app
	if after := f.job(id); string(mustMarshal(&after)) != string(mustMarshal(&before)) {
		t.Fatalf("job changed across the restart:\n%+v\n%+v", before, after)
	}
	f.checkBooks()
	f.mustOK(f.block(f.commitTx(ws[2], id, honest())))
	f.mustOK(f.block(f.revealTx(ws[0], id, honest()), f.revealTx(ws[1], id, lie()), f.revealTx(ws[2], id, honest())))
	j := f.job(id)
	if j.Phase != JobAccepted || j.Result != honest() || j.ClosedHeight == 0 {
		t.Fatalf("after the restart: %+v", j)
	}
	if a := f.account(addrOf(ws[2])); a.Credits != 1400 || a.CreditsEarned != 1400 {
		t.Fatalf("worker after the restart: %+v", a)
	}
	f.checkBooks()
}

func TestJobQuorumDefaultsToAMajority(t *testing.T) {
	f := newJobFixture(t, 5)
	for r, want := range map[uint32]uint32{1: 1, 2: 2, 4: 3, 5: 3} {
		b := f.basicJob()
		b.Replicas = r
		id := f.submit(b)
		if j := f.job(id); j.Quorum != want || len(j.Assignments) != int(r) {
			t.Fatalf("replicas %d: quorum %d, %d assigned; want quorum %d", r, j.Quorum, len(j.Assignments), want)
		}
	}
}

// A worker's bad compute record keeps it from new work: with the minimum
// score at 400, one missed assignment takes a new worker (500) to 333, and
// it is drawn no more; the jobs go to the others, and a job that needs it
// to reach its replicas is refused (ErrNoWorkers). Its storage standing
// (the node's status and audit score) is untouched.
func TestJobBadComputeScoreStopsAssignment(t *testing.T) {
	f := newJobFixture(t, 4, func(g *GenesisState) { g.Params.Jobs.MinScorePermille = 400 })
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.commitTx(ws[1], id, honest())))
	j := f.job(id)
	for f.height < j.CommitBy {
		f.block()
	}
	bad := addrOf(ws[2])
	if w := f.worker(bad); w.Missed != 1 || ComputeScore(&w) != 333 {
		t.Fatalf("the silent worker: %+v score %d", w, ComputeScore(&w))
	}
	if n := f.node(bad); n.Status != NodeActive || AuditScore(&n) != 1000 {
		t.Fatalf("its storage standing changed: %+v", n)
	}
	for range 4 {
		id := f.submit(f.basicJob())
		for _, a := range f.job(id).Assignments {
			if a.Worker == bad {
				t.Fatal("a worker below the minimum compute score was drawn")
			}
		}
	}
	b := f.basicJob()
	b.Replicas, b.Quorum = 4, 3
	tx, _ := f.submitTx(f.alice, b)
	if r := f.block(tx)[0]; Code(r.Code) != CodeNoWorkers {
		t.Fatalf("four replicas with three eligible workers: %d %s", r.Code, r.Log)
	}
	f.checkBooks()
}

func (f *jobFixture) node(a Address) Node {
	f.t.Helper()
	var n Node
	if err := f.query(QueryNode+a.String(), &n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestJobCostRoundsUpAndIsMonotone(t *testing.T) {
	for _, c := range []struct{ fuel, price, want uint64 }{
		{0, 5, 0}, {1, 1, 1}, {PriceUnitFuel, 1, 1}, {PriceUnitFuel + 1, 1, 2},
		{700_000_000, 2, 1400}, {999_999, 3, 3}, {1 << 40, 1000, 1_099_511_628},
	} {
		if got, ok := JobCost(c.fuel, c.price); !ok || got != c.want {
			t.Errorf("JobCost(%d, %d) = %d %v, want %d", c.fuel, c.price, got, ok, c.want)
		}
	}
	if _, ok := JobCost(1<<62, 1<<62); ok {
		t.Error("an overflowing cost was accepted")
	}
	if got, ok := JobCost(^uint64(0), PriceUnitFuel); !ok || got != ^uint64(0) {
		t.Errorf("the largest cost that fits: %d %v", got, ok)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10_000 {
		f, p := rng.Uint64N(1<<50), rng.Uint64N(1<<20)
		a, _ := JobCost(f, p)
		b, _ := JobCost(f+rng.Uint64N(1<<20), p)
		if b < a {
			t.Fatalf("JobCost not monotone at fuel %d price %d", f, p)
		}
	}
}

// A submitter that removes its module after submitting cannot ruin its
// workers' scores: at the next deadline the job fails, the escrow comes
// back, and nobody is judged missed.
func TestJobWhoseModuleWasRemovedFailsWithoutJudgingWorkers(t *testing.T) {
	f := newJobFixture(t, 5)
	id := f.submit(f.basicJob())
	ws := openWorkers(f.job(id))
	f.mustOK(f.block(f.commitTx(ws[0], id, honest()), f.sign(f.alice, &RemoveFile{FileID: f.module})))
	j := f.job(id)
	for f.height < j.CommitBy {
		f.block()
	}
	j = f.job(id)
	if j.Phase != JobFailed || j.Escrow != 0 {
		t.Fatalf("job without its module: %+v", j)
	}
	for _, k := range ws {
		if w := f.worker(addrOf(k)); w.Missed != 0 || w.Wrong != 0 || ComputeScore(&w) != 500 {
			t.Fatalf("worker judged for a job it could not run: %+v", w)
		}
	}
	if a := f.account(addrOf(f.alice)); a.CreditsEscrowed != 0 || a.CreditsSpent != 0 {
		t.Fatalf("submitter: %+v", a)
	}
	f.checkBooks()
}
