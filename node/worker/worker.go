package worker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/coop-network/coop/node/ticker"

	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/storage"
)

// DefaultInterval is how often a Worker polls its assignments besides
// the new blocks it is told of (Deps.Blocks), and the only cadence of
// one told of none.
const DefaultInterval = 2 * time.Second

// StatusUnavailable is the claim of a worker that could not get a job's
// module or input (chain.ResultUnavailable): not a run, and carrying
// nothing but itself.
const StatusUnavailable compute.Status = "unavailable"

// DefaultUnavailableAfter is Config.UnavailableAfter's default: two runs
// RetryAfter apart, each of which asked the submitter's node several
// times, well within the default commit window.
const DefaultUnavailableAfter = 2

// SaltSize is the size of a commit's salt: random, so the claim cannot be
// guessed from the commit (the ledger's commitment binds the worker's
// address itself, so another worker cannot copy it).
const SaltSize = 32

// MaxOutput is the output cap of every job run by a worker (stdout beyond
// it traps with compute.TrapOutputLimit). It is part of the result, so it
// is the same for every worker: changing it is a protocol change.
const MaxOutput = 4 << 20

// Assignment is one job the ledger assigns to this node, and where this
// node stands in it.
type Assignment struct {
	Job [32]byte
	// CommitDeadline is the last block height at which the ledger takes
	// this node's commit.
	CommitDeadline int64
	// RevealDeadline is the last height at which it takes the reveal; 0
	// when the ledger has not set it yet (the commit phase is open).
	RevealDeadline int64
	// Committed, Revealed: the ledger holds this node's commit, reveal.
	Committed, Revealed bool
	// RevealOpen: the commit phase has closed and reveals are taken.
	RevealOpen bool
}

// Job is what a worker needs of a job's ledger record.
type Job struct {
	ID [32]byte
	// Submitter is the submitter's account key: its node's peer id, and
	// the key the output's capability is sealed to.
	Submitter ed25519.PublicKey
	// ModuleFile is the coop file id of the module.
	ModuleFile [32]byte
	// InputFile is the coop file id of the input, zero when there is none
	// (InlineInput, possibly empty, is the input then).
	InputFile   [32]byte
	InlineInput []byte
	FuelLimit   uint64
	MemoryLimit uint64
	Replicas    uint32
}

// Spec is the compute.JobSpec a worker runs job with, given the module
// and input bytes: every honest worker builds the same one.
func (j *Job) Spec(module, input []byte) compute.JobSpec {
	s := compute.JobSpec{
		Module:      compute.Sum(module),
		FuelLimit:   j.FuelLimit,
		MemoryLimit: j.MemoryLimit,
		MaxOutput:   MaxOutput,
		Replicas:    uint8(min(max(j.Replicas, 1), compute.MaxReplicas)),
	}
	if j.InputFile != ([32]byte{}) {
		s.InputID = compute.Sum(input)
	} else {
		s.Input = j.InlineInput
	}
	return s
}

// Claim is what a worker commits to and reveals: the consensus fields of
// its run's compute.Result, without the output and stderr bytes, which
// stay off the ledger (chain.JobResult).
type Claim struct {
	CostTable  uint32           `json:"cost_table"`
	Status     compute.Status   `json:"status"`
	ExitCode   uint32           `json:"exit_code"`
	Trap       compute.TrapKind `json:"trap,omitempty"`
	FuelUsed   uint64           `json:"fuel_used"`
	OutputHash compute.Hash     `json:"output_hash"`
}

// ClaimOf is the claim of a result.
func ClaimOf(r *compute.Result) Claim {
	return Claim{CostTable: r.CostTable, Status: r.Status, ExitCode: r.ExitCode, Trap: r.Trap, FuelUsed: r.FuelUsed, OutputHash: r.OutputHash}
}

// Output is where a worker stored its run's encoded compute.Result.
type Output struct {
	// File is the coop file id.
	File [32]byte `json:"file"`
	// Sealed is the file's capability sealed to the submitter
	// (capseal.Seal, role capseal.RoleOutput, bound to the job).
	Sealed []byte `json:"sealed"`
	// Size is the file's size in bytes.
	Size int64 `json:"size"`
}

// Capabilities are a job's file capabilities as the submitter's node
// handed them over.
type Capabilities struct {
	Module storage.Capability
	// Input is set when the job's input is a file.
	Input    storage.Capability
	HasInput bool
}

// Ledger is what a Worker reads from and sends to the ledger, for the
// node's own account.
type Ledger interface {
	// Height is the ledger's last block height.
	Height(ctx context.Context) (int64, error)
	// Assignments are this node's open assignments.
	Assignments(ctx context.Context) ([]Assignment, error)
	// Job is a job's record.
	Job(ctx context.Context, id [32]byte) (Job, error)
	// Commit sends this node's commitment to claim with salt (the ledger
	// defines the hash) and waits for it to commit.
	Commit(ctx context.Context, job [32]byte, claim Claim, salt []byte) error
	// Reveal sends claim, salt and the output's reference and waits for
	// it to commit.
	Reveal(ctx context.Context, job [32]byte, claim Claim, salt []byte, out Output) error
}

// Blocks tells of new committed blocks (*ledger.Client): a Worker reads
// its assignments again at each one.
type Blocks interface {
	// NewBlocks returns a channel that receives the height of each new
	// block (the latest one, to a reader that fell behind), closed when
	// ctx ends.
	NewBlocks(ctx context.Context) (<-chan int64, error)
}

// Keys fetches a job's capabilities from its submitter's node (the
// job-keys exchange, opened with this node's key).
type Keys interface {
	JobKeys(ctx context.Context, job Job) (Capabilities, error)
}

// Files reads and stores coop files.
type Files interface {
	// ReadFile reads a whole file by capability; more than max bytes is
	// an error.
	ReadFile(ctx context.Context, c storage.Capability, max int64) ([]byte, error)
	// PutFile stores data as a new coop file and returns its capability.
	PutFile(ctx context.Context, data []byte, name string) (storage.Capability, error)
}

// Runner runs a job (*compute.Runner, *FaultyRunner).
type Runner interface {
	Run(ctx context.Context, job *compute.Job) (*compute.Report, error)
}

var _ Runner = (*compute.Runner)(nil)

// Deps are what a Worker works with.
type Deps struct {
	Ledger Ledger
	Keys   Keys
	Files  Files
	Runner Runner
	State  State
	// Blocks, if set, wakes the Loop at each new block; without it the
	// Loop polls every Interval only.
	Blocks Blocks
}

// Config configures a Worker.
type Config struct {
	// CPU is how many jobs run at once (at least 1).
	CPU int
	// MaxModuleBytes and MaxInputBytes bound the files read for a job
	// (compute.DefaultConfig's when 0).
	MaxModuleBytes, MaxInputBytes int64
	// Interval is how often assignments are polled besides each new block
	// (DefaultInterval): the fallback while no block is told.
	Interval time.Duration
	// NewTicker makes the loop's ticker; nil means time.NewTicker.
	NewTicker func(d time.Duration) (<-chan time.Time, func())
	// Rand is the salts' randomness; nil means crypto/rand.
	Rand io.Reader
	// RetryAfter is how long a job whose run failed (no result: the
	// submitter's node unreachable, a crashed child…) waits before it is
	// tried again (10 × Interval when 0); Now is the clock it is measured
	// with (time.Now when nil).
	RetryAfter time.Duration
	Now        func() time.Time
	// UnavailableAfter is how many runs of a job that could not get its
	// files (see StatusUnavailable) make the worker commit
	// StatusUnavailable instead of trying again (DefaultUnavailableAfter
	// when 0).
	UnavailableAfter int
	// Logger receives the worker's lines; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, if not nil, is told of each run (node/metrics).
	Metrics Metrics
}

// Metrics is what the worker reports to monitoring, from a run's
// goroutine.
type Metrics interface {
	// JobRun is told of each run of a job: the claim's compute.Status, or
	// RunFailed when the run gave no result, and its wall time.
	JobRun(status string, wall time.Duration)
}

// RunFailed is the JobRun status of a run that gave no result (the
// runner failed, or the node is stopping).
const RunFailed = "failed"

// Errors of a job's run that are not results: nothing is committed.
var (
	// ErrBadKeys reports capabilities that do not name the files the
	// ledger records for the job.
	ErrBadKeys = errors.New("worker: the job's capabilities do not match its ledger record")
	// ErrNoState reports a committed job whose kept state is gone: its
	// reveal cannot be made.
	ErrNoState = errors.New("worker: committed job has no kept state")
	// ErrLate reports an assignment past its deadline.
	ErrLate = errors.New("worker: past the assignment's deadline")
)

// Worker runs the jobs assigned to the account self.
type Worker struct {
	self ed25519.PublicKey
	d    Deps
	cfg  Config
	log  *slog.Logger

	mu      sync.Mutex
	running map[[32]byte]bool      // jobs running now: each takes a CPU slot
	busy    map[[32]byte]bool      // jobs a goroutine of start takes to their reveal (running ones too)
	retry   map[[32]byte]time.Time // failed runs: not before
	nofiles map[[32]byte]int       // runs that could not get the job's files, by job
	wg      sync.WaitGroup
}

// New returns a Worker for the account whose key is self.
func New(self ed25519.PublicKey, d Deps, cfg Config) (*Worker, error) {
	if len(self) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("worker: account key of %d bytes", len(self))
	}
	if d.Ledger == nil || d.Keys == nil || d.Files == nil || d.Runner == nil || d.State == nil {
		return nil, errors.New("worker: Deps needs a ledger, keys, files, a runner and a state")
	}
	def := compute.DefaultConfig()
	if cfg.CPU < 1 {
		cfg.CPU = 1
	}
	if cfg.MaxModuleBytes <= 0 {
		cfg.MaxModuleBytes = int64(def.MaxModuleBytes)
	}
	if cfg.MaxInputBytes <= 0 {
		cfg.MaxInputBytes = int64(def.MaxInputBytes)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = ticker.System
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 10 * cfg.Interval
	}
	if cfg.UnavailableAfter <= 0 {
		cfg.UnavailableAfter = DefaultUnavailableAfter
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{self: self, d: d, cfg: cfg, log: log, running: make(map[[32]byte]bool), busy: make(map[[32]byte]bool), retry: make(map[[32]byte]time.Time), nofiles: make(map[[32]byte]int)}, nil
}

// Loop runs a Round at each new block (Deps.Blocks) and at every tick of
// Interval until ctx ends, then waits for the runs it started. Errors are
// logged; the next block or tick tries again. Blocks told while a Round
// runs make one Round after it.
func (w *Worker) Loop(ctx context.Context) {
	defer w.Wait()
	c, stop := w.cfg.NewTicker(w.cfg.Interval)
	defer stop()
	var blocks <-chan int64
	if w.d.Blocks != nil {
		bctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		if blocks, err = w.d.Blocks.NewBlocks(bctx); err != nil {
			w.log.Warn("compute worker: not told of new blocks; polling only", "err", err, "interval", w.cfg.Interval)
			blocks = nil
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
		case _, ok := <-blocks:
			if !ok {
				if ctx.Err() == nil {
					w.log.Warn("compute worker: no longer told of new blocks; polling only", "interval", w.cfg.Interval)
				}
				blocks = nil
				continue
			}
		}
		if err := w.Round(ctx); err != nil && ctx.Err() == nil {
			w.log.Warn("compute worker round", "err", err)
		}
	}
}

// Wait waits for every run a Round started.
func (w *Worker) Wait() { w.wg.Wait() }

// Running is the number of jobs running now.
func (w *Worker) Running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// Round reads the assignments once: it reveals what it committed once the
// ledger takes reveals, commits again what it kept but the ledger does not
// hold (a restart between the two), stores a kept output whose put had
// not finished, and starts a run (in the background, at most CPU at once,
// until ctx ends) of each other assignment still before its commit
// deadline; a started run goes on to its commit and, if that closes the
// commit phase, its reveal. Jobs such a run holds are left to it. Wait
// waits for them. Rounds are not to run at once.
func (w *Worker) Round(ctx context.Context) error {
	// The jobs held before the assignments are read: one whose goroutine
	// ends after the read may have committed since, which the read
	// does not show.
	busy := w.busyJobs()
	h, err := w.d.Ledger.Height(ctx)
	if err != nil {
		return fmt.Errorf("reading the ledger height: %w", err)
	}
	as, err := w.d.Ledger.Assignments(ctx)
	if err != nil {
		return fmt.Errorf("reading assignments: %w", err)
	}
	var errs []error
	for _, a := range as {
		if busy[a.Job] {
			continue // its run's goroutine takes it to its reveal
		}
		switch {
		case a.Revealed:
			continue // its kept record stays: the output's key for the submitter
		case a.Committed:
			if err := w.committed(ctx, a, h); err != nil {
				errs = append(errs, err)
			}
		default:
			if h > a.CommitDeadline {
				continue // the ledger reassigns it
			}
			if k, err := w.d.State.Load(a.Job); err == nil {
				if err := w.finish(ctx, k, nil); err != nil {
					errs = append(errs, err)
				}
				continue
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			w.start(ctx, a)
		}
	}
	return errors.Join(errs...)
}

// busyJobs are the jobs goroutines of start hold now.
func (w *Worker) busyJobs() map[[32]byte]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[[32]byte]bool, len(w.busy))
	for j := range w.busy {
		out[j] = true
	}
	return out
}

// start runs a in the background unless it runs already, every CPU slot
// is taken (a later Round starts it) or its last run failed less than
// RetryAfter ago. The run's CPU slot is free once the run ended, while
// its goroutine goes on to the commit, the output's put and the reveal.
func (w *Worker) start(ctx context.Context, a Assignment) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.busy[a.Job] || len(w.running) >= w.cfg.CPU || w.cfg.Now().Before(w.retry[a.Job]) {
		return
	}
	w.running[a.Job], w.busy[a.Job] = true, true
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		ran := func() {
			w.mu.Lock()
			delete(w.running, a.Job)
			w.mu.Unlock()
		}
		defer func() {
			ran()
			w.mu.Lock()
			delete(w.busy, a.Job)
			w.mu.Unlock()
		}()
		err := w.work(ctx, a.Job, ran) // calls ran once the run ended
		if err == nil {
			w.forget(a.Job)
			return
		}
		if ctx.Err() != nil {
			return
		}
		var nf *noFilesError
		if errors.As(err, &nf) {
			w.mu.Lock()
			w.nofiles[a.Job]++
			n := w.nofiles[a.Job]
			w.mu.Unlock()
			if n >= w.cfg.UnavailableAfter {
				w.log.Warn("compute job: its files are unavailable; committing that", "job", fmt.Sprintf("%x", a.Job[:8]), "tries", n, "err", err)
				if err = w.unavailable(ctx, a.Job); err == nil {
					w.forget(a.Job)
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}
		w.log.Warn("compute job not done", "job", fmt.Sprintf("%x", a.Job[:8]), "err", err, "retry", w.cfg.RetryAfter)
		w.mu.Lock()
		w.retry[a.Job] = w.cfg.Now().Add(w.cfg.RetryAfter)
		w.mu.Unlock()
	}()
}

// forget drops the retry bookkeeping of a job whose claim was committed
// (a later round reveals it from the kept record), so a long-running
// worker does not keep an entry for every job it ever failed once.
func (w *Worker) forget(job [32]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.retry, job)
	delete(w.nofiles, job)
}

// Work runs job now and commits its claim: it reads the job's record,
// fetches its capabilities from the submitter's node and checks them
// against the record, reads the files, runs the job, keeps claim, salt
// and the encoded result, then at once commits and stores the result as
// a coop file whose capability it seals to the submitter (keeping the
// output's reference instead of the result). If the ledger then takes
// reveals for the job (this commit closed the commit phase), it reveals.
func (w *Worker) Work(ctx context.Context, id [32]byte) error {
	return w.work(ctx, id, nil)
}

// work is Work; ran, if not nil, is called once the run ended.
func (w *Worker) work(ctx context.Context, id [32]byte, ran func()) error {
	job, err := w.d.Ledger.Job(ctx, id)
	if err != nil {
		return fmt.Errorf("job %x: reading its record: %w", id[:8], err)
	}
	k, err := w.run(ctx, job)
	if ran != nil {
		ran()
	}
	if err != nil {
		return fmt.Errorf("job %x: %w", id[:8], err)
	}
	if err := w.d.State.Save(k); err != nil {
		return err
	}
	return w.finish(ctx, k, job.Submitter)
}

// finish takes a kept run on from its saved record: it commits k and, at
// the same time, stores its output file unless k holds it already (the
// commit needs the claim and salt only; the reveal needs the output file
// on the ledger). Once both are done it reveals if the ledger takes
// reveals for the job. submitter is the job's submitter's key (read from
// the ledger when nil).
func (w *Worker) finish(ctx context.Context, k *Kept, submitter ed25519.PublicKey) error {
	var (
		out    Output
		putErr error
		wg     sync.WaitGroup
	)
	stored := !k.needsOutput()
	if !stored {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, putErr = w.storeOutput(ctx, k, submitter)
		}()
	}
	err := w.commit(ctx, k)
	wg.Wait()
	if !stored && putErr == nil {
		k.Output, k.Result = out, nil
	}
	if err := errors.Join(err, putErr); err != nil {
		return err
	}
	return w.revealIfOpen(ctx, k)
}

// storeOutput stores k's kept result as a coop file, seals the file's
// capability to the job's submitter (read from the ledger when submitter
// is nil) and saves k with the output's reference instead of the result.
// It returns the output; k itself is not changed.
func (w *Worker) storeOutput(ctx context.Context, k *Kept, submitter ed25519.PublicKey) (Output, error) {
	if len(k.Result) == 0 {
		return Output{}, fmt.Errorf("job %x: %w: neither an output file nor the result is kept", k.Job[:8], ErrNoState)
	}
	if submitter == nil {
		job, err := w.d.Ledger.Job(ctx, k.Job)
		if err != nil {
			return Output{}, fmt.Errorf("job %x: reading its record: %w", k.Job[:8], err)
		}
		submitter = job.Submitter
	}
	c, err := w.d.Files.PutFile(ctx, k.Result, fmt.Sprintf("job-%x.result", k.Job[:8]))
	if err != nil {
		return Output{}, fmt.Errorf("job %x: storing the output: %w", k.Job[:8], err)
	}
	sealed, err := capseal.Seal(submitter, k.Job, capseal.RoleOutput, c)
	if err != nil {
		return Output{}, fmt.Errorf("job %x: sealing the output to the submitter: %w", k.Job[:8], err)
	}
	out := Output{File: c.FileID, Sealed: sealed, Size: int64(len(k.Result))}
	saved := *k
	saved.Output, saved.Result = out, nil
	if err := w.d.State.Save(&saved); err != nil {
		return Output{}, err
	}
	return out, nil
}

// run produces the Kept record of a job (its output not yet stored):
// everything but the commit.
func (w *Worker) run(ctx context.Context, job Job) (*Kept, error) {
	caps, err := w.d.Keys.JobKeys(ctx, job)
	if err != nil {
		return nil, noFiles(ctx, fmt.Errorf("fetching its keys from the submitter: %w", err))
	}
	if caps.Module.FileID != job.ModuleFile {
		return nil, noFiles(ctx, fmt.Errorf("%w: module file %s, the ledger records %x", ErrBadKeys, caps.Module.FileID, job.ModuleFile[:8]))
	}
	hasInput := job.InputFile != [32]byte{}
	if caps.HasInput != hasInput || hasInput && caps.Input.FileID != job.InputFile {
		return nil, noFiles(ctx, fmt.Errorf("%w: input file", ErrBadKeys))
	}
	cj := &compute.Job{}
	if cj.Module, err = w.d.Files.ReadFile(ctx, caps.Module, w.cfg.MaxModuleBytes); err != nil {
		return nil, noFiles(ctx, fmt.Errorf("reading the module: %w", err))
	}
	if hasInput {
		if cj.Input, err = w.d.Files.ReadFile(ctx, caps.Input, w.cfg.MaxInputBytes); err != nil {
			return nil, noFiles(ctx, fmt.Errorf("reading the input: %w", err))
		}
	}
	cj.Spec = job.Spec(cj.Module, cj.Input)
	t0 := time.Now()
	rep, err := w.d.Runner.Run(ctx, cj)
	if err != nil {
		if w.cfg.Metrics != nil {
			w.cfg.Metrics.JobRun(RunFailed, time.Since(t0))
		}
		return nil, fmt.Errorf("running: %w", err)
	}
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(w.cfg.Rand, salt); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	claim := ClaimOf(rep.Result)
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.JobRun(string(claim.Status), rep.Wall)
	}
	w.log.Info("compute job run", "job", fmt.Sprintf("%x", job.ID[:8]), "status", claim.Status, "fuel", claim.FuelUsed,
		"output", claim.OutputHash.String()[:16], "wall", rep.Wall)
	return &Kept{Job: job.ID, Claim: claim, Salt: salt, Result: rep.Result.Encode()}, nil
}

func (w *Worker) commit(ctx context.Context, k *Kept) error {
	if err := w.d.Ledger.Commit(ctx, k.Job, k.Claim, k.Salt); err != nil {
		return fmt.Errorf("job %x: commit: %w", k.Job[:8], err)
	}
	return nil
}

// noFilesError is a run that could not get its job's module or input:
// the submitter's node did not hand over their keys (refused, or was not
// reachable), handed over keys that do not name the recorded files, or
// the files did not read.
type noFilesError struct{ err error }

func (e *noFilesError) Error() string { return e.err.Error() }
func (e *noFilesError) Unwrap() error { return e.err }

// noFiles marks err as a noFilesError unless ctx ended (the node is
// stopping: not the submitter's doing).
func noFiles(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	return &noFilesError{err}
}

// unavailable commits the claim StatusUnavailable for job: its files could
// not be had UnavailableAfter times. The claim carries nothing else, so
// every worker the submitter withheld its files from makes the same one;
// the ledger judges nobody for it (chain.ResultUnavailable).
func (w *Worker) unavailable(ctx context.Context, id [32]byte) error {
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(w.cfg.Rand, salt); err != nil {
		return fmt.Errorf("salt: %w", err)
	}
	k := &Kept{Job: id, Claim: Claim{Status: StatusUnavailable}, Salt: salt}
	if err := w.d.State.Save(k); err != nil {
		return err
	}
	return w.finish(ctx, k, nil)
}

// committed handles an assignment the ledger holds the commit of, at
// height h: while the commit phase is open it stores a kept output whose
// put had not finished; once reveals are taken it reveals.
func (w *Worker) committed(ctx context.Context, a Assignment, h int64) error {
	k, err := w.d.State.Load(a.Job)
	if !a.RevealOpen {
		if err == nil && k.needsOutput() {
			_, err = w.storeOutput(ctx, k, nil)
			return err
		}
		return nil // nothing to do before the reveal
	}
	if a.RevealDeadline > 0 && h > a.RevealDeadline {
		return fmt.Errorf("job %x: reveal: %w (height %d > %d)", a.Job[:8], ErrLate, h, a.RevealDeadline)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("job %x: %w", a.Job[:8], ErrNoState)
	}
	if err != nil {
		return err
	}
	return w.reveal(ctx, k)
}

// revealIfOpen reveals k if the ledger takes its reveal now.
func (w *Worker) revealIfOpen(ctx context.Context, k *Kept) error {
	as, err := w.d.Ledger.Assignments(ctx)
	if err != nil {
		return fmt.Errorf("job %x: reading assignments after the commit: %w", k.Job[:8], err)
	}
	for _, a := range as {
		if a.Job == k.Job && a.Committed && a.RevealOpen && !a.Revealed {
			return w.reveal(ctx, k)
		}
	}
	return nil // a later Round reveals
}

// reveal reveals k, storing its output file first if its put had not
// finished.
func (w *Worker) reveal(ctx context.Context, k *Kept) error {
	if k.needsOutput() {
		out, err := w.storeOutput(ctx, k, nil)
		if err != nil {
			return err
		}
		k.Output, k.Result = out, nil
	}
	if err := w.d.Ledger.Reveal(ctx, k.Job, k.Claim, k.Salt, k.Output); err != nil {
		return fmt.Errorf("job %x: reveal: %w", k.Job[:8], err)
	}
	return nil
}

// ErrOutput reports an output that does not open or does not match the
// accepted result.
var ErrOutput = errors.New("worker: job output does not match the accepted result")

// OpenOutput is the submitter's side: it opens a worker's sealed output
// capability with the submitter's key, checks that it names out.File,
// reads the file with read, decodes the compute.Result in it and checks
// that its claim is the accepted one (so its output hashes to the
// accepted output hash).
func OpenOutput(key ed25519.PrivateKey, job [32]byte, out Output, accepted Claim,
	read func(storage.Capability) ([]byte, error)) (*compute.Result, error) {
	c, err := capseal.Open(key, job, capseal.RoleOutput, out.Sealed)
	if err != nil {
		return nil, err
	}
	if c.FileID != out.File {
		return nil, fmt.Errorf("%w: the sealed capability names file %s, the reveal %x", ErrOutput, c.FileID, out.File[:8])
	}
	b, err := read(c)
	if err != nil {
		return nil, fmt.Errorf("reading the output file: %w", err)
	}
	r, err := compute.DecodeResult(b, MaxOutput)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOutput, err)
	}
	if got := ClaimOf(r); got != accepted {
		return nil, fmt.Errorf("%w: the file holds %+v, the accepted result is %+v", ErrOutput, got, accepted)
	}
	return r, nil
}
