package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// Errors of Runner.Run. None of them is a Result: a run that ends with one
// of them says nothing about the job and must not be committed.
var (
	// ErrMismatch reports module or input bytes that do not match the spec.
	ErrMismatch = errors.New("bytes do not match the job spec")
	// ErrOverLimit reports a job asking for more than this runner allows.
	ErrOverLimit = errors.New("job exceeds the runner's limits")
	// ErrTimeout reports a job killed at the wall-clock limit.
	ErrTimeout = errors.New("job exceeded the wall-clock limit")
	// ErrChildFailed reports a child process that crashed, was killed or
	// broke the protocol.
	ErrChildFailed = errors.New("compute child process failed")
)

// Config configures a Runner.
type Config struct {
	// Command is the child's argv: an executable that calls ServeChild,
	// e.g. {"/usr/local/bin/coop", "compute", "child"}.
	Command []string
	// Env is added to the child's environment (which is otherwise empty
	// but for PATH-free essentials).
	Env []string
	// CacheDir holds compiled modules; empty disables the cache.
	CacheDir string
	// Timeout is the wall-clock limit of one job, compile included.
	Timeout time.Duration
	// MaxFuel, MaxMemory (bytes) and MaxOutput (bytes) bound what a spec
	// may ask for.
	MaxFuel   uint64
	MaxMemory uint64
	MaxOutput uint32
	// MaxModuleBytes and MaxInputBytes bound the job's payloads.
	MaxModuleBytes int
	MaxInputBytes  int
	// WarmChildren is how many child processes wait started for a job
	// (0: every job starts its own). Each still runs one job only; the
	// one taken is replaced in the background by a child that has loaded
	// the same compiled module from the cache, so a job of a module seen
	// before starts without a process start or a module load. A Runner
	// with warm children must be closed (Close).
	WarmChildren int
}

// DefaultConfig returns the defaults: 30 s, 256 MiB of memory, 10^11 fuel,
// 16 MiB of output, 64 MiB modules and 256 MiB inputs. Command must be set.
func DefaultConfig() Config {
	return Config{
		Timeout:        30 * time.Second,
		MaxFuel:        100_000_000_000,
		MaxMemory:      256 << 20,
		MaxOutput:      16 << 20,
		MaxModuleBytes: 64 << 20,
		MaxInputBytes:  256 << 20,
	}
}

// Job is a spec with the bytes it names.
type Job struct {
	Spec   JobSpec
	Module []byte
	// Input is the input when Spec.InputID is set; ignored otherwise.
	Input []byte
}

// Report is a Result with how it was obtained (not part of the Result).
type Report struct {
	Result *Result
	// Detail explains a rejection (the instrumenter's or runtime's words).
	Detail string
	// CacheHit reports that the compiled module came from the cache.
	CacheHit bool
	// Warm reports that the job went to a child of the pool, started
	// before the job came.
	Warm bool
	// Preloaded reports that that child had already loaded the compiled
	// module from the cache (then Prepare is about zero).
	Preloaded bool
	// Prepare is instrumentation plus compilation, or loading from cache.
	Prepare time.Duration
	// Execute is instantiation plus running (running only when Preloaded:
	// the child instantiated the module before the job came).
	Execute time.Duration
	// Wall is the whole run seen from the parent, process start included.
	Wall time.Duration
}

// Runner runs jobs in child processes. It is safe for concurrent use.
type Runner struct {
	cfg  Config
	pool pool
}

// NewRunner checks cfg and returns a Runner.
func NewRunner(cfg Config) (*Runner, error) {
	if len(cfg.Command) == 0 {
		return nil, errors.New("compute: Config.Command is empty")
	}
	if cfg.Timeout <= 0 {
		return nil, errors.New("compute: Config.Timeout must be positive")
	}
	if cfg.WarmChildren < 0 {
		return nil, errors.New("compute: Config.WarmChildren is negative")
	}
	r := &Runner{cfg: cfg}
	for range cfg.WarmChildren {
		r.refill(poolKey{})
	}
	return r, nil
}

// Run executes job in a child process that serves no other job (a warm
// one from the pool when there is one, else a new one) and returns its
// Report. A Report always carries a Result; every failure to get one is
// an error (ErrMismatch, ErrOverLimit, ErrTimeout, ErrChildFailed or
// ctx's error). The wall-clock limit counts from the call.
func (r *Runner) Run(ctx context.Context, job *Job) (*Report, error) {
	start := time.Now()
	s := &job.Spec
	if err := checkJob(s, job.Module, job.Input, false); err != nil {
		return nil, err
	}
	switch {
	case s.FuelLimit > r.cfg.MaxFuel:
		return nil, fmt.Errorf("%w: fuel %d > %d", ErrOverLimit, s.FuelLimit, r.cfg.MaxFuel)
	case s.MemoryLimit > r.cfg.MaxMemory:
		return nil, fmt.Errorf("%w: memory %d > %d bytes", ErrOverLimit, s.MemoryLimit, r.cfg.MaxMemory)
	case s.MaxOutput > r.cfg.MaxOutput:
		return nil, fmt.Errorf("%w: output %d > %d bytes", ErrOverLimit, s.MaxOutput, r.cfg.MaxOutput)
	case len(job.Module) > r.cfg.MaxModuleBytes:
		return nil, fmt.Errorf("%w: module %d > %d bytes", ErrOverLimit, len(job.Module), r.cfg.MaxModuleBytes)
	case len(job.Input) > r.cfg.MaxInputBytes:
		return nil, fmt.Errorf("%w: input %d > %d bytes", ErrOverLimit, len(job.Input), r.cfg.MaxInputBytes)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	key := keyOf(s)
	p := r.take(key)
	warm := p != nil
	var err error
	if !warm {
		if p, err = r.startProc(hello{CacheDir: r.cfg.CacheDir}, key); err != nil {
			return nil, fmt.Errorf("%w: starting the child: %v", ErrChildFailed, err)
		}
	} else {
		defer r.refill(key)
	}
	req := request{Spec: *s, Module: job.Module}
	if !s.InputID.IsZero() {
		req.Input = job.Input
	}
	if warm && p.key == key {
		// A child that has this module ready (it says so in its ready
		// byte) does not need its bytes: they would cost more than the
		// job's start (a Go module is megabytes through a pipe).
		select {
		case <-p.out.ready:
		case <-p.done:
		case <-ctx.Done():
		}
		if p.out.preloaded() {
			req.Module = nil
		}
	}
	reqBytes, err := encMode.Marshal(&req)
	if err != nil {
		p.kill()
		<-p.done
		return nil, fmt.Errorf("compute: encoding the job: %w", err)
	}
	// The response holds at most the output, the stderr prefix and framing.
	p.out.mu.Lock()
	p.out.max = int(s.MaxOutput) + MaxStderr + 64<<10
	p.out.mu.Unlock()
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = p.stdin.Write(reqBytes) // fails only if the child died
		_ = p.stdin.Close()
	}()
	select {
	case <-p.eof:
	case <-ctx.Done():
		p.kill()
		<-p.eof
	}
	p.out.mu.Lock()
	over, bad, out := p.out.over, p.out.bad, p.out.buf.Bytes()
	p.out.mu.Unlock()
	var resp response
	if !over && !bad && ctx.Err() == nil && decMode.Unmarshal(out, &resp) == nil &&
		resp.Error == "" && resp.Result != nil && resp.Stats != nil {
		// The child answered and closed its stdout: its exit (tearing down
		// a runtime, milliseconds) is no part of the job. Kill it to be
		// sure it ends, and reap it in the background.
		p.kill()
		r.reap(p, wrote)
	} else {
		select {
		case <-p.done:
		case <-ctx.Done():
			p.kill()
			<-p.done
		}
		<-wrote
		if err := classifyExit(ctx, r.cfg.Timeout, p, over, bad); err != nil {
			return nil, err
		}
		resp = response{}
		if err := decMode.Unmarshal(out, &resp); err != nil {
			return nil, fmt.Errorf("%w: undecodable response: %v", ErrChildFailed, err)
		}
	}
	wall := time.Since(start)
	if resp.Error != "" {
		return nil, fmt.Errorf("%w: %s", ErrChildFailed, resp.Error)
	}
	if resp.Result == nil || resp.Stats == nil {
		return nil, fmt.Errorf("%w: response without a result", ErrChildFailed)
	}
	// Re-check the result as if it came from a stranger.
	res, err := DecodeResult(resp.Result.Encode(), int(s.MaxOutput))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrChildFailed, err)
	}
	if res.Job != s.ID() {
		return nil, fmt.Errorf("%w: result for another job", ErrChildFailed)
	}
	return &Report{
		Result:    res,
		Detail:    resp.Stats.Detail,
		CacheHit:  resp.Stats.CacheHit,
		Warm:      warm,
		Preloaded: resp.Stats.Preloaded,
		Prepare:   resp.Stats.Prepare,
		Execute:   resp.Stats.Execute,
		Wall:      wall,
	}, nil
}

// classifyExit is the error of a child that ended without a usable
// response, or nil if it exited cleanly.
func classifyExit(ctx context.Context, timeout time.Duration, p *proc, over, bad bool) error {
	switch {
	case over:
		return fmt.Errorf("%w: child wrote more than %d bytes", ErrChildFailed, p.out.max)
	case bad:
		return fmt.Errorf("%w: child did not signal readiness", ErrChildFailed)
	case errors.Is(ctx.Err(), context.DeadlineExceeded) && p.err != nil:
		return fmt.Errorf("%w (%s)", ErrTimeout, timeout)
	case ctx.Err() != nil && p.err != nil:
		return ctx.Err()
	case p.err != nil:
		return fmt.Errorf("%w: %v: %s", ErrChildFailed, p.err, lastLine(p.stderr.bytes()))
	}
	return nil
}

// cappedBuffer collects a child's output up to max bytes. Past that it
// either drops the rest (truncate) or marks itself full and calls onFull.
type cappedBuffer struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	max      int
	truncate bool
	over     bool
	onFull   func()
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	room := c.max - c.buf.Len()
	if len(p) <= room {
		return c.buf.Write(p)
	}
	c.buf.Write(p[:max(room, 0)])
	if c.truncate {
		return len(p), nil
	}
	if !c.over {
		c.over = true
		if c.onFull != nil {
			c.onFull()
		}
	}
	return 0, errors.New("output cap reached")
}

func (c *cappedBuffer) full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.over
}

func (c *cappedBuffer) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes()
}

// lastLine is the last non-empty line of a child's stderr, for errors.
func lastLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// ChildEnv is the environment variable that tells a test binary to act as
// a compute child (see ServeChildIfRequested).
const ChildEnv = "COOP_COMPUTE_CHILD"

// ServeChildIfRequested runs ServeChild on stdin/stdout and exits when
// ChildEnv is set to 1; it returns otherwise. Call it first in TestMain of
// packages whose tests use a Runner with Command = the test binary.
func ServeChildIfRequested() {
	if os.Getenv(ChildEnv) != "1" {
		return
	}
	if err := ServeChild(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}
