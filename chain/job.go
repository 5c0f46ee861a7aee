package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Compute jobs on the ledger (docs/compute.md, "Jobs on the ledger").
//
// A job's life: SubmitJob escrows Replicas × JobCost(FuelLimit, Price)
// credits and
// records the job "pending"; the jobDeadlines rule at the end of the same
// block assigns it to Replicas workers drawn from that block's hash
// ("assigned"). Each
// worker runs it and commits H(result ‖ salt) with CommitResult
// ("committing"). The commit phase closes when every open assignment has
// committed, or at the commit deadline: then non-committers are marked
// missed and, if fewer than Quorum committed, replaced by new workers (one
// more round); else the job goes "revealing". Workers open their
// commitments with RevealResult. Quorum matching reveals accept the result
// ("accepted"): each matching worker is paid JobCost(FuelUsed, Price) (Price
// is in credits per PriceUnitFuel fuel), each worker
// that revealed another result is judged wrong (no pay, a compute-score
// failure), each committed worker that does not reveal by the reveal
// deadline is marked missed (no pay, a failure). A reveal phase that ends
// without a quorum voids the round: its reveals are public now, so a fresh
// round of workers who have not taken part runs the job again. After
// JobParams.MaxRounds rounds without a quorum the job "failed". When no
// assignment is open any more the job closes and what is left of its
// escrow goes back to the submitter. Credits are never minted: pay moves
// from the submitter's escrow to workers, so Σ (Credits + CreditsEscrowed)
// over all accounts is constant.

// Job phases (Job.Phase).
const (
	// JobPending: waiting for the end of the block to assign workers (a
	// new job, or a new round after a reveal phase without quorum); a
	// committed job is never seen pending unless no worker could be drawn.
	JobPending = "pending"
	// JobAssigned: workers assigned, none of this round has committed.
	JobAssigned = "assigned"
	// JobCommitting: some open assignments committed, not all.
	JobCommitting = "committing"
	// JobRevealing: the commit phase closed; reveals are open.
	JobRevealing = "revealing"
	// JobAccepted: a quorum of reveals matched; Job.Result is the result.
	// Workers that committed may still reveal until the reveal deadline.
	JobAccepted = "accepted"
	// JobFailed: no quorum in JobParams.MaxRounds rounds; the escrow was
	// refunded.
	JobFailed = "failed"
)

// Assignment outcomes (Assignment.Outcome); "" while open.
const (
	// OutcomePaid: revealed the accepted result and was paid.
	OutcomePaid = "paid"
	// OutcomeWrong: revealed a result other than the accepted one.
	OutcomeWrong = "wrong"
	// OutcomeMissed: did not commit (or reveal) before its deadline.
	OutcomeMissed = "missed"
	// OutcomeVoid: revealed in a round that ended without a quorum; no
	// pay, no penalty.
	OutcomeVoid = "void"
	// OutcomeUnneeded: still open when the job closed without it (the
	// job failed while it was assigned); no pay, no penalty.
	OutcomeUnneeded = "unneeded"
)

// Result statuses a reveal may carry: compute.Status values.
const (
	ResultExited   = "exited"
	ResultTrapped  = "trapped"
	ResultRejected = "rejected"
	// ResultUnavailable is not a run: the worker could not get the job's
	// module or input (the submitter's node did not hand over their keys,
	// or handed over keys that do not open the recorded files). It carries
	// no fuel, exit code, trap, output or cost table. A quorum of it fails
	// the job, all refunded, and judges nobody; a worker that reveals it
	// for a job whose accepted result is a run is void (no pay, no
	// penalty). So a submitter that withholds its files, from all workers
	// or some, cannot make honest workers look like failures.
	ResultUnavailable = "unavailable"
)

// PriceUnitFuel is the fuel a job's Price is for: Price credits buy
// PriceUnitFuel (10^6) fuel. A credit per fuel unit would be far too coarse
// (the sieve benchmark burns 8·10^8 fuel in 46 ms, docs/compute.md).
const PriceUnitFuel = 1_000_000

// JobCost is what fuel units of fuel cost at price credits per
// PriceUnitFuel fuel, rounded up: ⌈fuel × price / PriceUnitFuel⌉. A worker
// is paid JobCost(agreed fuel used, price); a job escrows Replicas ×
// JobCost(fuel limit, price). ok is false if it does not fit in 64 bits.
// It is monotone in fuel, so no pay exceeds a worker's share of the escrow.
func JobCost(fuel, price uint64) (cost uint64, ok bool) {
	hi, lo := bits.Mul64(fuel, price)
	lo, carry := bits.Add64(lo, PriceUnitFuel-1, 0)
	hi += carry
	if hi >= PriceUnitFuel {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, PriceUnitFuel)
	return q, true
}

// Limits of job transactions.
const (
	// MaxJobReplicas bounds Replicas.
	MaxJobReplicas = 16
	// MinSaltBytes and MaxSaltBytes bound a reveal's salt: at least 128
	// bits, so a commitment cannot be opened by guessing the salt.
	MinSaltBytes = 16
	MaxSaltBytes = 64
	// MaxTrapKindBytes bounds a result's trap kind and status strings.
	MaxTrapKindBytes = 64
	// JobPageSize is the WebAssembly page size: memory limits are
	// multiples of it (compute.PageSize).
	JobPageSize = 64 << 10
	// MaxJobMemory is the largest memory limit (4 GiB, wasm32).
	MaxJobMemory = 1 << 32
	// DefaultReplicas is what a SubmitJob with replicas 0 gets; one with
	// quorum 0 gets a majority, replicas/2 + 1: DefaultQuorum for the
	// default replicas.
	DefaultReplicas = 3
	DefaultQuorum   = 2
)

// JobParams are the compute job parameters, part of Params. Deadlines are
// in blocks; the defaults suit a devnet with 400 ms blocks.
type JobParams struct {
	// CommitBlocks is how long an assigned worker has to commit: it must
	// commit before height assigned + CommitBlocks + FuelLimit /
	// FuelPerBlock. Default 150 (60 s of 400 ms blocks: fetching the
	// module and input, compiling and running a small job).
	CommitBlocks uint64 `cbor:"commit_blocks" json:"commit_blocks"`
	// FuelPerBlock lengthens the commit deadline of big jobs by one block
	// per FuelPerBlock fuel of their limit. Default 2,000,000,000: the
	// metered sieve benchmark runs about 18·10^9 fuel/s (docs/compute.md),
	// so a block of 400 ms per 2·10^9 fuel leaves a slow worker about 4×
	// the time of that benchmark's machine.
	FuelPerBlock uint64 `cbor:"fuel_per_block" json:"fuel_per_block"`
	// RevealBlocks is how long committed workers have to reveal once the
	// commit phase closed. Default 50 (20 s).
	RevealBlocks uint64 `cbor:"reveal_blocks" json:"reveal_blocks"`
	// MaxRounds bounds the rounds of a job (its first assignment, each
	// replacement of workers that missed the commit deadline, each fresh
	// round after a reveal phase without quorum). Default 3.
	MaxRounds uint64 `cbor:"max_rounds" json:"max_rounds"`
	// MaxFuel bounds a job's fuel limit. Default 2^40.
	MaxFuel uint64 `cbor:"max_fuel" json:"max_fuel"`
	// MinPrice is the least price (credits per PriceUnitFuel fuel) a job
	// may offer: with 0, anyone could have workers run jobs for nothing.
	// Default 1.
	MinPrice uint64 `cbor:"min_price" json:"min_price"`
	// MaxInlineInput bounds a job's inline input, in bytes: inline input
	// is on the ledger, in the clear, forever. Default 4096.
	MaxInlineInput uint64 `cbor:"max_inline_input" json:"max_inline_input"`
	// MinScorePermille: a node whose compute score is below it is not
	// assigned jobs (ComputeScore). Default 100: a new node scores 500
	// and falls below after about ten wrong or missed assignments in a
	// row; an established one (954) after about 55. A score moves
	// only when the node is judged, so a node below stays out.
	MinScorePermille uint64 `cbor:"min_score_permille" json:"min_score_permille"`
}

// DefaultJobParams are the job parameters of DefaultParams.
func DefaultJobParams() JobParams {
	return JobParams{
		CommitBlocks:     150,
		FuelPerBlock:     2_000_000_000,
		RevealBlocks:     50,
		MaxRounds:        3,
		MaxFuel:          1 << 40,
		MinPrice:         1,
		MaxInlineInput:   4096,
		MinScorePermille: 100,
	}
}

// enabled reports whether the chain runs jobs (its genesis set CommitBlocks).
func (j JobParams) enabled() bool { return j.CommitBlocks > 0 }

func (j JobParams) validate() error {
	if j == (JobParams{}) {
		return nil // jobs off
	}
	switch {
	case j.CommitBlocks < 1 || j.CommitBlocks > MaxReceiptTTL:
		return fmt.Errorf("%w: jobs.commit_blocks %d outside [1, %d]", ErrGenesis, j.CommitBlocks, uint64(MaxReceiptTTL))
	case j.RevealBlocks < 1 || j.RevealBlocks > MaxReceiptTTL:
		return fmt.Errorf("%w: jobs.reveal_blocks %d outside [1, %d]", ErrGenesis, j.RevealBlocks, uint64(MaxReceiptTTL))
	case j.FuelPerBlock < 1:
		return fmt.Errorf("%w: jobs.fuel_per_block must be ≥ 1", ErrGenesis)
	case j.MaxRounds < 1 || j.MaxRounds > 16:
		return fmt.Errorf("%w: jobs.max_rounds %d outside [1, 16]", ErrGenesis, j.MaxRounds)
	case j.MaxFuel < 1 || j.MaxFuel > 1<<62:
		return fmt.Errorf("%w: jobs.max_fuel %d outside [1, 2^62]", ErrGenesis, j.MaxFuel)
	case j.MaxFuel/j.FuelPerBlock > MaxReceiptTTL:
		return fmt.Errorf("%w: jobs.max_fuel / jobs.fuel_per_block exceeds %d blocks", ErrGenesis, uint64(MaxReceiptTTL))
	case j.MaxInlineInput > 64<<10:
		return fmt.Errorf("%w: jobs.max_inline_input %d > 64 KiB", ErrGenesis, j.MaxInlineInput)
	case j.MinScorePermille > 1000:
		return fmt.Errorf("%w: jobs.min_score_permille %d > 1000", ErrGenesis, j.MinScorePermille)
	}
	return nil
}

// commitBlocks is how many blocks a worker assigned to a job with fuel
// limit fuel has to commit.
func (j JobParams) commitBlocks(fuel uint64) int64 {
	return int64(j.CommitBlocks + fuel/j.FuelPerBlock)
}

// JobResult is what a worker reveals and what a quorum agrees on: the
// consensus fields of compute.Result (everything but the output and stderr
// bytes, which stay off the ledger). The daemon fills it from a
// compute.Result r field by field: CostTable = r.CostTable, Status =
// string(r.Status), ExitCode = r.ExitCode, Trap = string(r.Trap), FuelUsed
// = r.FuelUsed, OutputHash = r.OutputHash. An out-of-fuel, trapped or
// rejected run is a result like any other.
type JobResult struct {
	CostTable  uint32 `cbor:"cost_table" json:"cost_table"`
	Status     string `cbor:"status" json:"status"`
	ExitCode   uint32 `cbor:"exit_code" json:"exit_code"`
	Trap       string `cbor:"trap" json:"trap"`
	FuelUsed   uint64 `cbor:"fuel_used" json:"fuel_used"`
	OutputHash Hash   `cbor:"output_hash" json:"output_hash"`
}

// ResultHash is what matching means: SHA-256 of a domain tag, the job id
// and the canonical encoding of r. Two reveals match when their hashes are
// equal.
func ResultHash(job Hash, r *JobResult) Hash {
	h := sha256.New()
	h.Write([]byte("coop/job-result/v1\x00"))
	h.Write(job[:])
	h.Write(mustMarshal(r))
	var out Hash
	h.Sum(out[:0])
	return out
}

// Commitment is what a worker commits with CommitResult: SHA-256 of a
// domain tag, the job id, the worker's address, the result hash and the
// salt. The worker's address is in it so that a worker cannot commit to a
// copy of another's commitment and then open it with the other's reveal.
// The salt must be secret, random and MinSaltBytes to MaxSaltBytes long.
func Commitment(job Hash, worker Address, resultHash Hash, salt []byte) Hash {
	h := sha256.New()
	h.Write([]byte("coop/job-commit/v1\x00"))
	h.Write(job[:])
	h.Write(worker[:])
	h.Write(resultHash[:])
	h.Write(salt)
	var out Hash
	h.Sum(out[:0])
	return out
}

// JobID is the id of the job a SubmitJob signed by submitter with nonce
// (the envelope's Tx.Nonce) creates: SHA-256 of a domain tag, the address
// and the nonce. A client knows it before broadcasting. For a device
// signing for its account (Tx.Account), submitter is the device's address
// (the signing key's), though the job's Submitter is the account.
func JobID(submitter Address, nonce uint64) Hash {
	b := append([]byte("coop/job-id/v1\x00"), submitter[:]...)
	return sha256.Sum256(binary.BigEndian.AppendUint64(b, nonce))
}

// Assignment is one worker's part in a job.
type Assignment struct {
	Worker Address `cbor:"worker" json:"worker"`
	// Round is the job round it was assigned in (1 for the first).
	Round uint32 `cbor:"round" json:"round"`
	// AssignedHeight is the block that assigned it; CommitBy the first
	// height at which its commit is too late.
	AssignedHeight int64 `cbor:"assigned_height" json:"assigned_height"`
	CommitBy       int64 `cbor:"commit_by" json:"commit_by"`
	// Commitment is the worker's commitment, zero until it commits, at
	// CommittedHeight.
	Commitment      Hash  `cbor:"commitment" json:"commitment"`
	CommittedHeight int64 `cbor:"committed_height,omitempty" json:"committed_height,omitempty"`
	// Revealed is set by its reveal, with the result, its hash and the
	// output file the worker stored (zero if none).
	Revealed   bool      `cbor:"revealed,omitempty" json:"revealed,omitempty"`
	Result     JobResult `cbor:"result" json:"result"`
	ResultHash Hash      `cbor:"result_hash" json:"result_hash"`
	OutputFile Hash      `cbor:"output_file" json:"output_file"`
	// OutputKey is the reveal's sealed output capability (absent when the
	// worker gave none: the submitter asks the worker's node then).
	OutputKey []byte `cbor:"output_key,omitempty" json:"output_key,omitempty"`
	// Outcome is "" while open, then one of the Outcome constants.
	Outcome string `cbor:"outcome,omitempty" json:"outcome,omitempty"`
	// Paid is what the worker was paid (OutcomePaid).
	Paid uint64 `cbor:"paid,omitempty" json:"paid,omitempty"`
}

func (a *Assignment) open() bool      { return a.Outcome == "" }
func (a *Assignment) committed() bool { return a.CommittedHeight != 0 }

// Job is a compute job's ledger record, keyed by its id (JobID).
type Job struct {
	ID        Hash    `cbor:"id" json:"id"`
	Submitter Address `cbor:"submitter" json:"submitter"`
	// Module is the file id of the WebAssembly module; Input the file id
	// of the input (zero if none); InlineInput a small input carried in
	// the tx, on the ledger in the clear.
	Module      Hash   `cbor:"module" json:"module"`
	Input       Hash   `cbor:"input" json:"input"`
	InlineInput []byte `cbor:"inline_input" json:"inline_input"`
	FuelLimit   uint64 `cbor:"fuel_limit" json:"fuel_limit"`
	MemoryLimit uint64 `cbor:"memory_limit" json:"memory_limit"`
	Replicas    uint32 `cbor:"replicas" json:"replicas"`
	Quorum      uint32 `cbor:"quorum" json:"quorum"`
	Price       uint64 `cbor:"price" json:"price"`
	// Price is in credits per PriceUnitFuel fuel. Escrow is what is still
	// held of the submitter's Replicas × JobCost(FuelLimit, Price); Paid
	// what went to workers.
	Escrow          uint64 `cbor:"escrow" json:"escrow"`
	Paid            uint64 `cbor:"paid" json:"paid"`
	SubmittedHeight int64  `cbor:"submitted_height" json:"submitted_height"`
	Phase           string `cbor:"phase" json:"phase"`
	// Round counts rounds (0 while first pending).
	Round uint32 `cbor:"round" json:"round"`
	// CommitBy is the current round's commit deadline (the first height
	// too late); RevealBy the reveal deadline once the commit phase closed.
	CommitBy    int64        `cbor:"commit_by" json:"commit_by"`
	RevealBy    int64        `cbor:"reveal_by" json:"reveal_by"`
	Assignments []Assignment `cbor:"assignments" json:"assignments"`
	// Result, ResultHash and OutputFile are the accepted result, its hash
	// and the output file of the first worker that revealed it with one.
	Result     JobResult `cbor:"result" json:"result"`
	ResultHash Hash      `cbor:"result_hash" json:"result_hash"`
	OutputFile Hash      `cbor:"output_file" json:"output_file"`
	// AcceptedHeight is the height of acceptance; ClosedHeight of the
	// close (no open assignment left, the escrow left refunded).
	AcceptedHeight int64 `cbor:"accepted_height,omitempty" json:"accepted_height,omitempty"`
	ClosedHeight   int64 `cbor:"closed_height,omitempty" json:"closed_height,omitempty"`
	// Due is the height at which the jobDeadlines rule next acts on the
	// job (0: never).
	Due int64 `cbor:"due" json:"due"`
}

// JobView is the answer to /job/<id>, and the items of /jobs/<submitter>
// and /assignments/<worker>: the job record and what may be sent now.
type JobView struct {
	Job
	// CommitOpen: open assignments that have not committed may commit
	// (before their CommitBy). RevealOpen: committed open assignments may
	// reveal (before the job's RevealBy).
	CommitOpen bool `cbor:"commit_open" json:"commit_open"`
	RevealOpen bool `cbor:"reveal_open" json:"reveal_open"`
}

// ViewOf is the JobView of j.
func ViewOf(j *Job) JobView {
	return JobView{
		Job:        *j,
		CommitOpen: j.Phase == JobAssigned || j.Phase == JobCommitting,
		RevealOpen: (j.Phase == JobRevealing || j.Phase == JobAccepted) && j.ClosedHeight == 0,
	}
}

// AssignmentOf returns the open assignment of worker in j, or nil.
func (j *Job) AssignmentOf(worker Address) *Assignment {
	for i := range j.Assignments {
		if a := &j.Assignments[i]; a.Worker == worker && a.open() {
			return a
		}
	}
	return nil
}

// Worker is a node's compute record, keyed by its address: its compute
// score (apart from the storage audit score) and its counts.
type Worker struct {
	Address Address `cbor:"address" json:"address"`
	// Alpha and Beta are the score's counts with forgetting (λ =
	// Params.RepLambdaPermille), in RepScale units: +1 on a paid
	// assignment, +1 to Beta on a wrong or missed one.
	Alpha uint64 `cbor:"alpha" json:"alpha"`
	Beta  uint64 `cbor:"beta" json:"beta"`
	// Assigned, Paid, Wrong and Missed count assignments by outcome.
	Assigned uint64 `cbor:"assigned" json:"assigned"`
	Paid     uint64 `cbor:"paid" json:"paid"`
	Wrong    uint64 `cbor:"wrong" json:"wrong"`
	Missed   uint64 `cbor:"missed" json:"missed"`
}

// ComputeScore is a worker's compute score in permille: (α + 1) / (α + β
// + 2), the mean of a Beta(α+1, β+1) estimate with forgetting. A node that
// never ran a job scores 500; one always paid tends to 1000 − 1000/(1/(1−λ)
// + 2) (954 with λ = 0.95); each wrong or missed assignment lowers it. It
// weights assignment: a node is drawn with probability proportional to its
// score, and not at all below JobParams.MinScorePermille.
func ComputeScore(w *Worker) uint64 {
	num := w.Alpha + RepScale
	den := w.Alpha + w.Beta + 2*RepScale
	hi, lo := bits.Mul64(num, 1000)
	q, _ := bits.Div64(hi, lo, den) // num < den
	return q
}

// recordCompute counts one judged assignment in w's score.
func recordCompute(p Params, w *Worker, good bool) {
	w.Alpha, w.Beta = scaleLambda(p, w.Alpha), scaleLambda(p, w.Beta)
	if good {
		w.Alpha += RepScale
	} else {
		w.Beta += RepScale
	}
}

// State keys of jobs.
const (
	prefixJob       = "job/"    // job/<id:32> → Job
	prefixJobBy     = "jobby/"  // jobby/<submitter:20><id:32> → true
	prefixJobDue    = "jobdue/" // jobdue/<height:8><id:32> → true
	prefixAssigned  = "asg/"    // asg/<worker:20><job:32> → true, while the assignment is open
	prefixWorker    = "worker/" // worker/<addr:20> → Worker
	jobDueSuffixLen = 8 + HashSize
)

func jobKey(id Hash) []byte { return append([]byte(prefixJob), id[:]...) }
func jobByKey(s Address, id Hash) []byte {
	return append(append([]byte(prefixJobBy), s[:]...), id[:]...)
}
func jobByPrefix(s Address) []byte { return append([]byte(prefixJobBy), s[:]...) }
func jobDueKey(h int64, id Hash) []byte {
	return append(binary.BigEndian.AppendUint64([]byte(prefixJobDue), uint64(h)), id[:]...)
}
func assignedKey(w Address, job Hash) []byte {
	return append(append([]byte(prefixAssigned), w[:]...), job[:]...)
}
func assignedPrefix(w Address) []byte { return append([]byte(prefixAssigned), w[:]...) }
func workerKey(a Address) []byte      { return append([]byte(prefixWorker), a[:]...) }

// jobLedger is what the job rules need from either a transaction or a
// block: the state, the parameters, the height and account access that
// goes through the signer's copy in a transaction.
type jobLedger struct {
	st     kvWriter
	params Params
	height int64
	load   func(Address) (*Account, error)
	save   func(*Account) error
	// nodes caches computeNodes for the draws of one block rule run.
	nodes *[]candidate
}

func txJobLedger(x *execCtx) *jobLedger {
	return &jobLedger{st: x.st, params: x.params, height: x.height,
		load: func(a Address) (*Account, error) {
			acct, _, err := x.loadAccount(a)
			return acct, err
		},
		save: x.saveAccount,
	}
}

func blockJobLedger(b *blockCtx) *jobLedger {
	return &jobLedger{st: b.st, params: b.params, height: b.height,
		load: func(a Address) (*Account, error) {
			var acct Account
			found, err := getValue(b.st, accountKey(a), &acct)
			if !found {
				acct.Address = a
			}
			return &acct, err
		},
		save: func(acct *Account) error { return setValue(b.st, accountKey(acct.Address), acct) },
	}
}

func loadJob(st kvReader, id Hash) (*Job, error) {
	var j Job
	found, err := getValue(st, jobKey(id), &j)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: job %s", ErrNotFound, id)
	}
	return &j, nil
}

func loadWorker(st kvReader, a Address) (*Worker, error) {
	w := &Worker{Address: a}
	_, err := getValue(st, workerKey(a), w)
	return w, err
}

// setDue moves j's entry in the deadline index to height h (0: none).
func (l *jobLedger) setDue(j *Job, h int64) error {
	if j.Due != 0 {
		if err := l.st.Delete(jobDueKey(j.Due, j.ID)); err != nil {
			return err
		}
	}
	j.Due = h
	if h == 0 {
		return nil
	}
	return setValue(l.st, jobDueKey(h, j.ID), true)
}

// judge closes assignment a with outcome: counts it in the worker's
// record and score (paid: good; wrong, missed: bad; void, unneeded:
// neither) and drops it from the worker's open list. Pay is moved by pay.
func (l *jobLedger) judge(j *Job, a *Assignment, outcome string) error {
	a.Outcome = outcome
	if err := l.st.Delete(assignedKey(a.Worker, j.ID)); err != nil {
		return err
	}
	w, err := loadWorker(l.st, a.Worker)
	if err != nil {
		return err
	}
	switch outcome {
	case OutcomePaid:
		w.Paid++
		recordCompute(l.params, w, true)
	case OutcomeWrong:
		w.Wrong++
		recordCompute(l.params, w, false)
	case OutcomeMissed:
		w.Missed++
		recordCompute(l.params, w, false)
	default:
		return nil
	}
	return setValue(l.st, workerKey(a.Worker), w)
}

// pay moves JobCost(FuelUsed, Price) of j's escrow to a's worker and
// closes a as paid.
func (l *jobLedger) pay(j *Job, a *Assignment) error {
	amount, ok := JobCost(j.Result.FuelUsed, j.Price)
	if !ok || amount > j.Escrow {
		return fmt.Errorf("job %s: pay %d×%d exceeds its escrow %d", j.ID, j.Result.FuelUsed, j.Price, j.Escrow)
	}
	sub, err := l.load(j.Submitter)
	if err != nil {
		return err
	}
	if sub.CreditsEscrowed < amount {
		return fmt.Errorf("job %s: submitter's escrow %d below pay %d", j.ID, sub.CreditsEscrowed, amount)
	}
	sub.CreditsEscrowed -= amount
	sub.CreditsSpent += amount
	if err := l.save(sub); err != nil {
		return err
	}
	w, err := l.load(a.Worker)
	if err != nil {
		return err
	}
	credits, ok := addUint64(w.Credits, amount)
	if !ok {
		return fmt.Errorf("job %s: worker %s's credits overflow", j.ID, a.Worker)
	}
	w.Credits = credits
	w.CreditsEarned += amount // ≤ total supply
	if err := l.save(w); err != nil {
		return err
	}
	j.Escrow -= amount
	j.Paid += amount
	a.Paid = amount
	return l.judge(j, a, OutcomePaid)
}

// accept makes h the job's result (quorum reached, at least Quorum open
// reveals carry it): pays the workers that revealed it, judges the others
// that revealed wrong, and closes the job if nothing is left open.
func (l *jobLedger) accept(j *Job, h Hash) error {
	for i := range j.Assignments {
		if a := &j.Assignments[i]; a.open() && a.Revealed && a.ResultHash == h && a.Result.Status == ResultUnavailable {
			return l.unavailable(j, h, a.Result)
		}
	}
	j.Phase = JobAccepted
	j.ResultHash = h
	j.AcceptedHeight = l.height
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if a.open() && a.Revealed && a.ResultHash == h {
			j.Result = a.Result
			if j.OutputFile.IsZero() {
				j.OutputFile = a.OutputFile
			}
		}
	}
	for i := range j.Assignments {
		if err := l.judgeReveal(j, &j.Assignments[i]); err != nil {
			return err
		}
	}
	return l.closeIfDone(j)
}

// judgeReveal settles an open, revealed assignment of an accepted job.
func (l *jobLedger) judgeReveal(j *Job, a *Assignment) error {
	if !a.open() || !a.Revealed {
		return nil
	}
	if a.ResultHash == j.ResultHash {
		if j.OutputFile.IsZero() {
			j.OutputFile = a.OutputFile
		}
		return l.pay(j, a)
	}
	if a.Result.Status == ResultUnavailable {
		return l.judge(j, a, OutcomeVoid)
	}
	return l.judge(j, a, OutcomeWrong)
}

// unavailable ends j on a quorum of ResultUnavailable (h, r): its workers
// could not get its files from the submitter. Every reveal is void,
// whatever it says (a submitter may hand its files to some workers only);
// the job fails and its escrow goes back.
func (l *jobLedger) unavailable(j *Job, h Hash, r JobResult) error {
	j.Result, j.ResultHash = r, h
	for i := range j.Assignments {
		if a := &j.Assignments[i]; a.open() && a.Revealed {
			if err := l.judge(j, a, OutcomeVoid); err != nil {
				return err
			}
		}
	}
	return l.close(j)
}

// closeIfDone closes j when no assignment is open: refunds the escrow left.
func (l *jobLedger) closeIfDone(j *Job) error {
	for i := range j.Assignments {
		if j.Assignments[i].open() {
			return nil
		}
	}
	return l.close(j)
}

// close ends j: open assignments end unneeded, the escrow left goes back
// to the submitter, the deadline entry goes.
func (l *jobLedger) close(j *Job) error {
	for i := range j.Assignments {
		if a := &j.Assignments[i]; a.open() {
			if err := l.judge(j, a, OutcomeUnneeded); err != nil {
				return err
			}
		}
	}
	if j.Escrow > 0 {
		sub, err := l.load(j.Submitter)
		if err != nil {
			return err
		}
		if sub.CreditsEscrowed < j.Escrow {
			return fmt.Errorf("job %s: submitter's escrow %d below the job's %d", j.ID, sub.CreditsEscrowed, j.Escrow)
		}
		sub.CreditsEscrowed -= j.Escrow
		credits, ok := addUint64(sub.Credits, j.Escrow)
		if !ok {
			return fmt.Errorf("job %s: refund overflows", j.ID)
		}
		sub.Credits = credits
		if err := l.save(sub); err != nil {
			return err
		}
		j.Escrow = 0
	}
	if j.Phase != JobAccepted {
		j.Phase = JobFailed
	}
	j.ClosedHeight = l.height
	return l.setDue(j, 0)
}

// quorumHash returns the result hash that at least Quorum open reveals of
// j carry, if any (with 2·Quorum > Replicas at most one can).
func quorumHash(j *Job) (Hash, bool) {
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if !a.open() || !a.Revealed {
			continue
		}
		n := uint32(0)
		for k := range j.Assignments {
			b := &j.Assignments[k]
			if b.open() && b.Revealed && b.ResultHash == a.ResultHash {
				n++
			}
		}
		if n >= j.Quorum {
			return a.ResultHash, true
		}
	}
	return Hash{}, false
}

// endRevealPhase ends a reveal phase without a quorum (every committed
// worker revealed, or the reveal deadline came): committed workers that
// did not reveal are missed, those that did are void (their results are
// public now, so they cannot count in another round), and a fresh round is
// due next block, or the job fails after MaxRounds.
func (l *jobLedger) endRevealPhase(j *Job) error {
	for i := range j.Assignments {
		a := &j.Assignments[i]
		if !a.open() {
			continue
		}
		outcome := OutcomeVoid
		if !a.Revealed {
			outcome = OutcomeMissed
		}
		if err := l.judge(j, a, outcome); err != nil {
			return err
		}
	}
	if uint64(j.Round) >= l.params.Jobs.MaxRounds {
		return l.close(j)
	}
	j.Phase = JobPending
	j.RevealBy = 0
	return l.setDue(j, l.height) // the new round is drawn at this block's end
}

// openReveals starts j's reveal phase.
func (l *jobLedger) openReveals(j *Job) error {
	j.Phase = JobRevealing
	j.RevealBy = l.height + int64(l.params.Jobs.RevealBlocks)
	return l.setDue(j, j.RevealBy)
}

func (l *jobLedger) saveJob(j *Job) error { return setValue(l.st, jobKey(j.ID), j) }

func mulUint64(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0
}
