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

// DefaultInterval is how often a Worker polls its assignments.
const DefaultInterval = 2 * time.Second

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
}

// Config configures a Worker.
type Config struct {
	// CPU is how many jobs run at once (at least 1).
	CPU int
	// MaxModuleBytes and MaxInputBytes bound the files read for a job
	// (compute.DefaultConfig's when 0).
	MaxModuleBytes, MaxInputBytes int64
	// Interval is how often assignments are polled (DefaultInterval).
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
	// Logger receives the worker's lines; nil means slog.Default().
	Logger *slog.Logger
}

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
	running map[[32]byte]bool
	retry   map[[32]byte]time.Time // failed runs: not before
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Worker{self: self, d: d, cfg: cfg, log: log, running: make(map[[32]byte]bool), retry: make(map[[32]byte]time.Time)}, nil
}

// Loop runs a Round at every tick until ctx ends, then waits for the runs
// it started. Errors are logged; the next tick tries again.
func (w *Worker) Loop(ctx context.Context) {
	defer w.Wait()
	c, stop := w.cfg.NewTicker(w.cfg.Interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c:
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
// hold (a restart between the two), and starts
// a run (in the background, at most CPU at once, until ctx ends) of each
// other assignment still before its commit deadline. Wait waits for them.
func (w *Worker) Round(ctx context.Context) error {
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
		switch {
		case a.Revealed:
			continue // its kept record stays: the output's key for the submitter
		case a.Committed:
			if !a.RevealOpen {
				continue
			}
			if a.RevealDeadline > 0 && h > a.RevealDeadline {
				errs = append(errs, fmt.Errorf("job %x: reveal: %w (height %d > %d)", a.Job[:8], ErrLate, h, a.RevealDeadline))
				continue
			}
			if err := w.reveal(ctx, a); err != nil {
				errs = append(errs, err)
			}
		default:
			if h > a.CommitDeadline {
				continue // the ledger reassigns it
			}
			if k, err := w.d.State.Load(a.Job); err == nil {
				if err := w.commit(ctx, k); err != nil {
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

// start runs a in the background unless it runs already, every CPU slot
// is taken (a later Round starts it) or its last run failed less than
// RetryAfter ago.
func (w *Worker) start(ctx context.Context, a Assignment) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[a.Job] || len(w.running) >= w.cfg.CPU || w.cfg.Now().Before(w.retry[a.Job]) {
		return
	}
	w.running[a.Job] = true
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() {
			w.mu.Lock()
			delete(w.running, a.Job)
			w.mu.Unlock()
		}()
		if err := w.Work(ctx, a.Job); err != nil && ctx.Err() == nil {
			w.log.Warn("compute job not committed", "job", fmt.Sprintf("%x", a.Job[:8]), "err", err, "retry", w.cfg.RetryAfter)
			w.mu.Lock()
			w.retry[a.Job] = w.cfg.Now().Add(w.cfg.RetryAfter)
			w.mu.Unlock()
		}
	}()
}

// Work runs job now and commits its claim: it reads the job's record,
// fetches its capabilities from the submitter's node and checks them
// against the record, reads the files, runs the job, stores the encoded
// result as a coop file whose capability it seals to the submitter, keeps
// claim, salt and output reference, then commits.
func (w *Worker) Work(ctx context.Context, id [32]byte) error {
	job, err := w.d.Ledger.Job(ctx, id)
	if err != nil {
		return fmt.Errorf("job %x: reading its record: %w", id[:8], err)
	}
	k, err := w.run(ctx, job)
	if err != nil {
		return fmt.Errorf("job %x: %w", id[:8], err)
	}
	if err := w.d.State.Save(k); err != nil {
		return err
	}
	return w.commit(ctx, k)
}

// run produces the Kept record of a job: everything but the commit.
func (w *Worker) run(ctx context.Context, job Job) (*Kept, error) {
	caps, err := w.d.Keys.JobKeys(ctx, job)
	if err != nil {
		return nil, fmt.Errorf("fetching its keys from the submitter: %w", err)
	}
	if caps.Module.FileID != job.ModuleFile {
		return nil, fmt.Errorf("%w: module file %s, the ledger records %x", ErrBadKeys, caps.Module.FileID, job.ModuleFile[:8])
	}
	hasInput := job.InputFile != [32]byte{}
	if caps.HasInput != hasInput || hasInput && caps.Input.FileID != job.InputFile {
		return nil, fmt.Errorf("%w: input file", ErrBadKeys)
	}
	cj := &compute.Job{}
	if cj.Module, err = w.d.Files.ReadFile(ctx, caps.Module, w.cfg.MaxModuleBytes); err != nil {
		return nil, fmt.Errorf("reading the module: %w", err)
	}
	if hasInput {
		if cj.Input, err = w.d.Files.ReadFile(ctx, caps.Input, w.cfg.MaxInputBytes); err != nil {
			return nil, fmt.Errorf("reading the input: %w", err)
		}
	}
	cj.Spec = job.Spec(cj.Module, cj.Input)
	rep, err := w.d.Runner.Run(ctx, cj)
	if err != nil {
		return nil, fmt.Errorf("running: %w", err)
	}
	enc := rep.Result.Encode()
	c, err := w.d.Files.PutFile(ctx, enc, fmt.Sprintf("job-%x.result", job.ID[:8]))
	if err != nil {
		return nil, fmt.Errorf("storing the output: %w", err)
	}
	sealed, err := capseal.Seal(job.Submitter, job.ID, capseal.RoleOutput, c)
	if err != nil {
		return nil, fmt.Errorf("sealing the output to the submitter: %w", err)
	}
	salt := make([]byte, SaltSize)
	if _, err := io.ReadFull(w.cfg.Rand, salt); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	claim := ClaimOf(rep.Result)
	w.log.Info("compute job run", "job", fmt.Sprintf("%x", job.ID[:8]), "status", claim.Status, "fuel", claim.FuelUsed,
		"output", claim.OutputHash.String()[:16], "wall", rep.Wall)
	return &Kept{Job: job.ID, Claim: claim, Salt: salt, Output: Output{File: c.FileID, Sealed: sealed, Size: int64(len(enc))}}, nil
}

func (w *Worker) commit(ctx context.Context, k *Kept) error {
	if err := w.d.Ledger.Commit(ctx, k.Job, k.Claim, k.Salt); err != nil {
		return fmt.Errorf("job %x: commit: %w", k.Job[:8], err)
	}
	return nil
}

func (w *Worker) reveal(ctx context.Context, a Assignment) error {
	k, err := w.d.State.Load(a.Job)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("job %x: %w", a.Job[:8], ErrNoState)
	}
	if err != nil {
		return err
	}
	if err := w.d.Ledger.Reveal(ctx, a.Job, k.Claim, k.Salt, k.Output); err != nil {
		return fmt.Errorf("job %x: reveal: %w", a.Job[:8], err)
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
