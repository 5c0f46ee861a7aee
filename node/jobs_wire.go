package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"
)

// ComputeConfig configures the node's compute worker (node/worker). The
// worker runs when Config.CPU > 0 and Runner.Command is set.
type ComputeConfig struct {
	// Runner configures the sandbox the jobs run in; its Command is the
	// compute child (`coop compute child`).
	Runner compute.Config
	// Interval is how often the worker polls its assignments besides each
	// new block (worker.DefaultInterval).
	Interval time.Duration
	// PollOnly keeps the worker from watching new blocks: it reads its
	// assignments every Interval only (tests that drive its rounds by
	// hand).
	PollOnly bool
	// Fault makes the worker lie (worker.FaultyRunner): for tests and
	// demos of cheating workers only.
	Fault worker.Fault
}

// jobLedger is what compute jobs read of the ledger beyond Ledger
// (*ledger.Client). A Ledger without it runs no jobs.
type jobLedger interface {
	Job(ctx context.Context, id chain.Hash) (chain.JobView, error)
	Jobs(ctx context.Context, submitter chain.Address) ([]chain.JobView, error)
	Assignments(ctx context.Context, worker chain.Address) ([]chain.JobView, error)
	Worker(ctx context.Context, a chain.Address) (chain.Worker, error)
}

var _ jobLedger = (*ledger.Client)(nil)

// The ledger client tells the worker of new blocks.
var _ worker.Blocks = (*ledger.Client)(nil)

// ErrJobs reports a node whose ledger client reads no jobs.
var ErrJobs = kindError("this ledger client reads no compute jobs", api.ErrUnavailable)

func (n *Node) jobLedger() (jobLedger, error) {
	jl, ok := n.lc.(jobLedger)
	if !ok {
		return nil, ErrJobs
	}
	return jl, nil
}

// newJobKeyServer is the node's job-key server: its own jobs' module and
// input keys for their assigned workers, its kept outputs for their
// submitters.
func (n *Node) newJobKeyServer() *jobKeyServer {
	s := &jobKeyServer{own: n.ownJobKeys}
	jl, err := n.jobLedger()
	if err != nil {
		return s
	}
	s.assigned = func(ctx context.Context, job [32]byte, w chain.Address) (bool, error) {
		v, err := jl.Job(ctx, chain.Hash(job))
		if err != nil {
			return false, err
		}
		return v.ClosedHeight == 0 && v.AssignmentOf(w) != nil, nil
	}
	s.submitter = func(ctx context.Context, job [32]byte) (chain.Address, error) {
		v, err := jl.Job(ctx, chain.Hash(job))
		return v.Submitter, err
	}
	s.output = func(job [32]byte) ([]byte, bool) {
		if n.workState == nil {
			return nil, false
		}
		k, err := n.workState.Load(job)
		if err != nil {
			return nil, false
		}
		return k.Output.Sealed, len(k.Output.Sealed) > 0
	}
	return s
}

// ownJobKeys returns the module and input keys of job if this node's
// account submitted it: the files' keys come from the ledger, sealed to
// the account (ownCapability).
func (n *Node) ownJobKeys(ctx context.Context, job [32]byte) ([]exchange.JobKey, bool, error) {
	if n.withholdJobKeys.Load() {
		return nil, false, nil
	}
	jl, err := n.jobLedger()
	if err != nil {
		return nil, false, nil
	}
	v, err := jl.Job(ctx, chain.Hash(job))
	if err != nil {
		return nil, false, err
	}
	if v.Submitter != n.addr {
		return nil, false, nil
	}
	keyOf := func(id chain.Hash) (storage.Capability, error) {
		f, err := n.lc.File(ctx, id)
		if err != nil {
			return storage.Capability{}, fmt.Errorf("file %s: %w", id, err)
		}
		return n.ownCapability(&f)
	}
	m, err := keyOf(v.Module)
	if err != nil {
		return nil, true, err
	}
	keys := []exchange.JobKey{{Role: capseal.RoleModule, Cap: m}}
	if !v.Input.IsZero() {
		in, err := keyOf(v.Input)
		if err != nil {
			return nil, true, err
		}
		keys = append(keys, exchange.JobKey{Role: capseal.RoleInput, Cap: in})
	}
	return keys, true, nil
}

// newWorker builds the node's compute worker, or nil when it offers no
// CPU, has no compute child or reads no jobs.
func (n *Node) newWorker() (*worker.Worker, error) {
	c := n.cfg.Compute
	if n.cfg.CPU == 0 || len(c.Runner.Command) == 0 {
		return nil, nil
	}
	jl, err := n.jobLedger()
	if err != nil {
		return nil, nil
	}
	r, err := compute.NewRunner(workerRunnerConfig(&n.cfg))
	if err != nil {
		return nil, err
	}
	n.runner = r
	var run worker.Runner = r
	if c.Fault != worker.FaultNone {
		run = &worker.FaultyRunner{Runner: r, Fault: c.Fault}
		n.log.Warn("compute worker runs with a fault injected: it lies", "fault", c.Fault)
	}
	d := worker.Deps{
		Ledger: workerLedger{n: n, jl: jl},
		Keys:   workerKeys{x: n.x, key: n.key, peer: n.nodePeer},
		Files:  workerFiles{n: n},
		Runner: run,
		State:  n.workState,
	}
	if b, ok := n.lc.(worker.Blocks); ok && !c.PollOnly {
		d.Blocks = b
	}
	return worker.New(n.pub, d, worker.Config{CPU: int(n.cfg.CPU), Interval: c.Interval, Logger: n.log, Metrics: n.metrics,
		MaxModuleBytes: int64(c.Runner.MaxModuleBytes), MaxInputBytes: int64(c.Runner.MaxInputBytes)})
}

func (n *Node) openWorkState() error {
	st, err := worker.OpenDirState(filepath.Join(n.cfg.Home, "jobs"))
	if err != nil {
		return err
	}
	n.workState = st
	return nil
}

// workerLedger is the worker's view of the ledger (worker.Ledger).
type workerLedger struct {
	n  *Node
	jl jobLedger
}

var _ worker.Ledger = workerLedger{}

func (l workerLedger) Height(ctx context.Context) (int64, error) {
	h, _, err := l.n.lc.Height(ctx)
	return h, err
}

func (l workerLedger) Assignments(ctx context.Context) ([]worker.Assignment, error) {
	vs, err := l.jl.Assignments(ctx, l.n.addr)
	if err != nil {
		return nil, err
	}
	var out []worker.Assignment
	for i := range vs {
		v := &vs[i]
		a := v.AssignmentOf(l.n.addr)
		if a == nil {
			continue
		}
		wa := worker.Assignment{Job: v.ID, CommitDeadline: a.CommitBy - 1, Committed: a.CommittedHeight != 0,
			Revealed: a.Revealed, RevealOpen: v.RevealOpen}
		if v.RevealBy > 0 {
			wa.RevealDeadline = v.RevealBy - 1
		}
		out = append(out, wa)
	}
	return out, nil
}

func (l workerLedger) Job(ctx context.Context, id [32]byte) (worker.Job, error) {
	v, err := l.jl.Job(ctx, chain.Hash(id))
	if err != nil {
		return worker.Job{}, err
	}
	acct, err := l.n.lc.Account(ctx, v.Submitter)
	if err != nil {
		return worker.Job{}, fmt.Errorf("the submitter's account: %w", err)
	}
	if len(acct.PubKey) != ed25519.PublicKeySize {
		return worker.Job{}, fmt.Errorf("the submitter %s has no key on the ledger", v.Submitter)
	}
	return worker.Job{ID: id, Submitter: ed25519.PublicKey(acct.PubKey), ModuleFile: v.Module, InputFile: v.Input,
		InlineInput: v.InlineInput, FuelLimit: v.FuelLimit, MemoryLimit: v.MemoryLimit, Replicas: v.Replicas}, nil
}

// jobResultOf is the chain.JobResult of a claim.
func jobResultOf(c worker.Claim) chain.JobResult {
	return chain.JobResult{CostTable: c.CostTable, Status: string(c.Status), ExitCode: c.ExitCode, Trap: string(c.Trap),
		FuelUsed: c.FuelUsed, OutputHash: chain.Hash(c.OutputHash)}
}

// claimOf is the worker.Claim of a chain.JobResult.
func claimOf(r chain.JobResult) worker.Claim {
	return worker.Claim{CostTable: r.CostTable, Status: compute.Status(r.Status), ExitCode: r.ExitCode, Trap: compute.TrapKind(r.Trap),
		FuelUsed: r.FuelUsed, OutputHash: compute.Hash(r.OutputHash)}
}

func (l workerLedger) Commit(ctx context.Context, job [32]byte, c worker.Claim, salt []byte) error {
	jr := jobResultOf(c)
	id := chain.Hash(job)
	_, err := l.n.broadcast(ctx, &chain.CommitResult{Job: id, Commitment: chain.Commitment(id, l.n.addr, chain.ResultHash(id, &jr), salt)})
	return err
}

func (l workerLedger) Reveal(ctx context.Context, job [32]byte, c worker.Claim, salt []byte, out worker.Output) error {
	_, err := l.n.broadcast(ctx, &chain.RevealResult{Job: chain.Hash(job), Result: jobResultOf(c), Salt: salt, OutputFile: out.File, OutputKey: out.Sealed})
	return err
}

// JobOptions are a submission's parameters (0: the ledger's defaults).
type JobOptions struct {
	Fuel     uint64
	Memory   uint64
	Replicas uint32
	Quorum   uint32
	Price    uint64
	// InlineInput puts the input in the transaction (on the ledger in the
	// clear) instead of in an encrypted file.
	InlineInput bool
	// InputFile, when not zero, is the input: an existing coop file of the
	// account (the ledger refuses a file it does not own). The input bytes
	// must be empty then.
	InputFile chain.Hash
	// ModuleFile, when not zero, is the module: an existing coop file of
	// the account (a module stored by an earlier job, or put), so a job
	// that reuses a module does not store it again. The module bytes must
	// be empty then.
	ModuleFile chain.Hash
	// Put is the redundancy of the module and input files (the node's
	// defaults when zero).
	Put api.PutOptions
}

// Default job limits of SubmitJob.
const (
	DefaultJobFuel   = 100_000_000
	DefaultJobMemory = 64 << 20
)

// SubmitJob stores module (and input, if not empty) as coop files of the
// account and submits a job running them; it returns the job id. The
// node hands the files' keys to the workers the ledger assigns.
func (n *Node) SubmitJob(ctx context.Context, module, input []byte, o JobOptions) (chain.Hash, error) {
	switch {
	case len(module) == 0 && o.ModuleFile.IsZero():
		return chain.Hash{}, fmt.Errorf("%w: an empty module", ErrInvalidArgument)
	case len(module) > 0 && !o.ModuleFile.IsZero():
		return chain.Hash{}, fmt.Errorf("%w: a module file id and module bytes: give one of them", ErrInvalidArgument)
	}
	if o.Fuel == 0 {
		o.Fuel = DefaultJobFuel
	}
	if o.Memory == 0 {
		o.Memory = DefaultJobMemory
	}
	if o.Price == 0 {
		o.Price = 1
	}
	put := func(ctx context.Context, b []byte, name string) (chain.Hash, error) {
		po := o.Put
		po.Name = name
		res, err := n.Put(ctx, bytes.NewReader(b), int64(len(b)), po)
		if err != nil {
			return chain.Hash{}, err
		}
		return chain.ParseHash(res.FileID)
	}
	tx := &chain.SubmitJob{Module: o.ModuleFile, FuelLimit: o.Fuel, MemoryLimit: o.Memory, Replicas: o.Replicas, Quorum: o.Quorum, Price: o.Price}
	if !o.InputFile.IsZero() {
		if len(input) > 0 || o.InlineInput {
			return chain.Hash{}, fmt.Errorf("%w: an input file id and input bytes: give one of them", ErrInvalidArgument)
		}
		tx.Input = o.InputFile
	}
	// The module's and the input's puts are independent: they run at once,
	// so their ledger txs share a block instead of taking one each.
	g, gctx := errgroup.WithContext(ctx)
	if len(module) > 0 {
		g.Go(func() error {
			id, err := put(gctx, module, "job module")
			if err != nil {
				return fmt.Errorf("storing the module: %w", err)
			}
			tx.Module = id
			return nil
		})
	}
	if len(input) > 0 { // an empty input is no input
		if o.InlineInput {
			tx.InlineInput = input
		} else {
			g.Go(func() error {
				id, err := put(gctx, input, "job input")
				if err != nil {
					return fmt.Errorf("storing the input: %w", err)
				}
				tx.Input = id
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return chain.Hash{}, err
	}
	res, err := n.broadcast(ctx, tx)
	if err != nil {
		return chain.Hash{}, err
	}
	id := chain.JobID(n.addr, res.Nonce)
	jl, err := n.jobLedger()
	if err != nil {
		return chain.Hash{}, err
	}
	if v, err := jl.Job(ctx, id); err != nil || v.Submitter != n.addr || v.Module != tx.Module {
		return chain.Hash{}, fmt.Errorf("node: the submitted job is not at %s (%v)", id, err)
	}
	return id, nil
}

// Job returns a job's ledger record.
func (n *Node) Job(ctx context.Context, id chain.Hash) (chain.JobView, error) {
	jl, err := n.jobLedger()
	if err != nil {
		return chain.JobView{}, err
	}
	return jl.Job(ctx, id)
}

// JobsSubmitted lists the jobs this node's account submitted.
func (n *Node) JobsSubmitted(ctx context.Context) ([]chain.JobView, error) {
	jl, err := n.jobLedger()
	if err != nil {
		return nil, err
	}
	return jl.Jobs(ctx, n.addr)
}

// ErrNoResult reports a job without an accepted result (yet).
var ErrNoResult = kindError("the job has no accepted result", api.ErrNotFound)

// JobResult reads the accepted result of one of the account's jobs: it
// asks the workers paid for it, in turn, for the key of the output file
// they revealed (the job-keys exchange; they kept it sealed to this
// account), reads the file and checks that it holds the accepted result.
func (n *Node) JobResult(ctx context.Context, id chain.Hash) (*compute.Result, error) {
	v, err := n.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if v.Phase != chain.JobAccepted {
		return nil, fmt.Errorf("%w: job %s is %s", ErrNoResult, id, v.Phase)
	}
	if v.Submitter != n.addr {
		return nil, fmt.Errorf("%w: job %s was submitted by %s", ErrNotOwner, id, v.Submitter)
	}
	accepted := claimOf(v.Result)
	var errs []error
	for _, a := range v.Assignments {
		if a.ResultHash != v.ResultHash || !a.Revealed || a.OutputFile.IsZero() || a.Outcome == chain.OutcomeWrong {
			continue
		}
		if len(a.OutputKey) > 0 {
			// The key the worker put on the ledger with its reveal: no
			// need for its node to be up.
			r, err := n.openOutput(ctx, id, worker.Output{File: a.OutputFile, Sealed: a.OutputKey}, accepted)
			if err == nil {
				return r, nil
			}
			errs = append(errs, fmt.Errorf("worker %s's output key on the ledger: %w", a.Worker, err))
		}
		r, err := n.outputFrom(ctx, id, a.Worker, a.OutputFile, accepted)
		if err == nil {
			return r, nil
		}
		errs = append(errs, fmt.Errorf("worker %s: %w", a.Worker, err))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: no worker revealed an output file", ErrNoResult)
	}
	return nil, errors.Join(errs...)
}

func (n *Node) outputFrom(ctx context.Context, job chain.Hash, w chain.Address, file chain.Hash, accepted worker.Claim) (*compute.Result, error) {
	p, err := n.holderPeer(ctx, w)
	if err != nil {
		return nil, err
	}
	sealed, err := n.x.RequestJobKeys(ctx, p, job)
	if err != nil {
		return nil, err
	}
	if len(sealed) != 1 || sealed[0].Role != capseal.RoleOutput {
		return nil, fmt.Errorf("%w: the worker answered no output key", exchange.ErrMalformed)
	}
	return n.openOutput(ctx, job, worker.Output{File: file, Sealed: sealed[0].Sealed}, accepted)
}

// openOutput opens a worker's sealed output capability with the account's
// key and reads the accepted result from its file.
func (n *Node) openOutput(ctx context.Context, job chain.Hash, out worker.Output, accepted worker.Claim) (*compute.Result, error) {
	return worker.OpenOutput(n.key, job, out, accepted, func(c storage.Capability) ([]byte, error) {
		return workerFiles{n: n}.ReadFile(ctx, c, worker.MaxOutput+compute.MaxStderr+1<<20)
	})
}

// nodePeer is the peer of the node whose account key is pub, its
// addresses from the ledger when it has a node record.
func (n *Node) nodePeer(ctx context.Context, pub ed25519.PublicKey) (peer.ID, error) {
	if p, err := n.holderPeer(ctx, chain.AddressOf(pub)); err == nil {
		return p, nil
	}
	return p2p.PeerIDFromPublicKey(pub)
}

var _ api.Jobber = (*Node)(nil)

func parseJobID(id string) (chain.Hash, error) {
	h, err := chain.ParseHash(id)
	if err != nil {
		return h, fmt.Errorf("%w: job id: %w", ErrInvalidArgument, err)
	}
	return h, nil
}

// jobErr maps a ledger refusal to the API's error classes.
func jobErr(err error) error {
	if errors.Is(err, chain.ErrNotFound) {
		return fmt.Errorf("%w: %w", kindError("job not found", api.ErrNotFound), err)
	}
	return err
}

// SubmitJobRequest implements api.Jobber.
func (n *Node) SubmitJobRequest(ctx context.Context, r *api.JobRequest) (*api.JobSubmitted, error) {
	o := JobOptions{Fuel: r.Fuel, Memory: r.Memory, Replicas: r.Replicas,
		Quorum: r.Quorum, Price: r.Price, InlineInput: r.InlineInput, Put: api.PutOptions{K: r.K, M: r.M, Copies: r.Copies}}
	if r.InputID != "" {
		in, err := chain.ParseHash(r.InputID)
		if err != nil {
			return nil, fmt.Errorf("%w: input file id %q: %v", ErrInvalidArgument, r.InputID, err)
		}
		o.InputFile = in
	}
	if r.ModuleID != "" {
		m, err := chain.ParseHash(r.ModuleID)
		if err != nil {
			return nil, fmt.Errorf("%w: module file id %q: %v", ErrInvalidArgument, r.ModuleID, err)
		}
		o.ModuleFile = m
	}
	id, err := n.SubmitJob(ctx, r.Module, r.Input, o)
	if err != nil {
		var rej *ledger.RejectedError
		if errors.As(err, &rej) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
		}
		return nil, err
	}
	return &api.JobSubmitted{Job: id.String()}, nil
}

// JobStatus implements api.Jobber.
func (n *Node) JobStatus(ctx context.Context, id string) (*chain.JobView, error) {
	h, err := parseJobID(id)
	if err != nil {
		return nil, err
	}
	v, err := n.Job(ctx, h)
	if err != nil {
		return nil, jobErr(err)
	}
	return &v, nil
}

// JobList implements api.Jobber.
func (n *Node) JobList(ctx context.Context) ([]chain.JobView, error) {
	return n.JobsSubmitted(ctx)
}

// JobOutput implements api.Jobber.
func (n *Node) JobOutput(ctx context.Context, id string) (*api.JobOutput, error) {
	h, err := parseJobID(id)
	if err != nil {
		return nil, err
	}
	r, err := n.JobResult(ctx, h)
	if err != nil {
		return nil, jobErr(err)
	}
	return &api.JobOutput{Job: id, Status: string(r.Status), ExitCode: r.ExitCode, Trap: string(r.Trap), FuelUsed: r.FuelUsed,
		Output: r.Output, Stderr: r.Stderr}, nil
}
