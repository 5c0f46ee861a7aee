package worker

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/storage"
	"github.com/wasmerio/wasmer-go/wasmer"
)

func TestMain(m *testing.M) {
	compute.ServeChildIfRequested()
	dir, err := os.MkdirTemp("", "coop-worker-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var cacheDir string

// echoWat copies stdin (up to 4 KiB) to stdout and appends "!".
const echoWat = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.add (i32.const 64) (i32.load (i32.const 8))) (i32.const 33))
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))`

func echoModule(t testing.TB) []byte {
	t.Helper()
	b, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realRunner is a compute.Runner whose children are this test binary.
func realRunner(t testing.TB) *compute.Runner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := compute.DefaultConfig()
	cfg.Command = []string{exe}
	cfg.Env = []string{compute.ChildEnv + "=1"}
	cfg.CacheDir = cacheDir
	cfg.Timeout = 120 * time.Second
	r, err := compute.NewRunner(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fakeLedger holds assignments, job records, commits and reveals. Its
// commitment is SHA-256(JSON(claim) ‖ salt); a reveal must open it.
type fakeLedger struct {
	mu         sync.Mutex
	height     int64
	assigned   map[[32]byte]*Assignment
	jobs       map[[32]byte]Job
	commits    map[[32]byte][32]byte
	reveals    map[[32]byte]revealed
	failCommit error
	// closeOnCommit: a commit closes the commit phase in its block (the
	// last assigned worker's commit).
	closeOnCommit bool
	// committed, if set, is closed at the first commit.
	committed chan struct{}
}

type revealed struct {
	claim Claim
	salt  []byte
	out   Output
}

func newFakeLedger() *fakeLedger {
	return &fakeLedger{height: 10, assigned: map[[32]byte]*Assignment{}, jobs: map[[32]byte]Job{},
		commits: map[[32]byte][32]byte{}, reveals: map[[32]byte]revealed{}}
}

func commitment(c Claim, salt []byte) [32]byte {
	b, _ := json.Marshal(c)
	return sha256.Sum256(append(b, salt...))
}

func (l *fakeLedger) assign(job Job, deadline int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.jobs[job.ID] = job
	l.assigned[job.ID] = &Assignment{Job: job.ID, CommitDeadline: deadline}
}

func (l *fakeLedger) openReveals(job [32]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.assigned[job].RevealOpen = true
}

func (l *fakeLedger) Height(context.Context) (int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.height, nil
}

func (l *fakeLedger) Assignments(context.Context) ([]Assignment, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Assignment
	for _, a := range l.assigned {
		out = append(out, *a)
	}
	return out, nil
}

func (l *fakeLedger) Job(_ context.Context, id [32]byte) (Job, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	j, ok := l.jobs[id]
	if !ok {
		return Job{}, fmt.Errorf("job %x not found", id[:4])
	}
	return j, nil
}

func (l *fakeLedger) Commit(_ context.Context, job [32]byte, c Claim, salt []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failCommit != nil {
		return l.failCommit
	}
	a := l.assigned[job]
	if a == nil || a.Committed {
		return fmt.Errorf("job %x: not assigned or committed already", job[:4])
	}
	l.commits[job] = commitment(c, salt)
	a.Committed = true
	a.RevealOpen = a.RevealOpen || l.closeOnCommit
	if l.committed != nil {
		close(l.committed)
		l.committed = nil
	}
	return nil
}

func (l *fakeLedger) Reveal(_ context.Context, job [32]byte, c Claim, salt []byte, out Output) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.assigned[job]
	if a == nil || !a.Committed || !a.RevealOpen || a.Revealed {
		return fmt.Errorf("job %x: reveal not open", job[:4])
	}
	if commitment(c, salt) != l.commits[job] {
		return fmt.Errorf("job %x: reveal does not open the commit", job[:4])
	}
	l.reveals[job] = revealed{c, salt, out}
	a.Revealed = true
	return nil
}

// memFiles is a file store keyed by capability.
type memFiles struct {
	mu    sync.Mutex
	files map[storage.Capability][]byte
	// beforePut, if set, runs before each PutFile; its error fails it.
	beforePut func(ctx context.Context) error
}

func newMemFiles() *memFiles { return &memFiles{files: map[storage.Capability][]byte{}} }

func (f *memFiles) ReadFile(_ context.Context, c storage.Capability, max int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[c]
	if !ok {
		return nil, fmt.Errorf("file %s: %w", c.FileID, fs.ErrNotExist)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("file of %d bytes over %d", len(b), max)
	}
	return bytes.Clone(b), nil
}

func (f *memFiles) PutFile(ctx context.Context, data []byte, _ string) (storage.Capability, error) {
	f.mu.Lock()
	before := f.beforePut
	f.mu.Unlock()
	if before != nil {
		if err := before(ctx); err != nil {
			return storage.Capability{}, err
		}
	}
	var c storage.Capability
	_, _ = rand.Read(c.FileID[:])
	_, _ = rand.Read(c.Key[:])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[c] = bytes.Clone(data)
	return c, nil
}

// memKeys hands out the capabilities the test set for each job.
type memKeys struct {
	mu      sync.Mutex
	caps    map[[32]byte]Capabilities
	refusal error
}

func (k *memKeys) JobKeys(_ context.Context, j Job) (Capabilities, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.caps[j.ID]
	if !ok {
		return Capabilities{}, fmt.Errorf("job %x: %w", j.ID[:4], k.refusal)
	}
	return c, nil
}

// countingRunner counts runs and may block each until released.
type countingRunner struct {
	Runner
	mu      sync.Mutex
	runs    int
	started chan struct{}
	release chan struct{}
}

func (c *countingRunner) Run(ctx context.Context, j *compute.Job) (*compute.Report, error) {
	c.mu.Lock()
	c.runs++
	c.mu.Unlock()
	if c.started != nil {
		c.started <- struct{}{}
	}
	if c.release != nil {
		<-c.release
	}
	return c.Runner.Run(ctx, j)
}

func (c *countingRunner) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs
}

// env is one submitter with a job whose module and input are files, and a
// ledger assigning it.
type env struct {
	submitter ed25519.PrivateKey
	ledger    *fakeLedger
	files     *memFiles
	keys      *memKeys
	job       Job
	input     []byte
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	e := &env{submitter: sk, ledger: newFakeLedger(), files: newMemFiles(), keys: &memKeys{caps: map[[32]byte]Capabilities{}}, input: []byte("hello worker")}
	mod := echoModule(t)
	mc, _ := e.files.PutFile(context.Background(), mod, "module")
	ic, _ := e.files.PutFile(context.Background(), e.input, "input")
	e.job = Job{
		ID:          [32]byte{0x10, 0xb},
		Submitter:   sk.Public().(ed25519.PublicKey),
		FuelLimit:   10_000_000,
		MemoryLimit: 1 << 20,
		Replicas:    3,
		ModuleFile:  mc.FileID,
		InputFile:   ic.FileID,
	}
	e.keys.caps[e.job.ID] = Capabilities{Module: mc, Input: ic, HasInput: true}
	e.ledger.assign(e.job, 20)
	return e
}

func (e *env) worker(t *testing.T, r Runner, st State, cpu int) (*Worker, ed25519.PublicKey) {
	t.Helper()
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if st == nil {
		var err error
		if st, err = OpenDirState(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	w, err := New(pub, Deps{Ledger: e.ledger, Keys: e.keys, Files: e.files, Runner: r, State: st}, Config{CPU: cpu})
	if err != nil {
		t.Fatal(err)
	}
	return w, pub
}

func round(t *testing.T, w *Worker) {
	t.Helper()
	if err := w.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.Wait()
}

// An honest worker fetches the job's files with the keys the submitter
// handed over, runs the job with the real runner, commits (and does not
// reveal while the commit phase is open), reveals a claim that opens its
// commit once reveals are open, and the submitter — and no one else —
// reads the output it stored, checked against the claim's result hash.
// The kept state stays after the reveal (the output's key for the
// submitter).
func TestWorkerCommitsRevealsAndSubmitterReadsOutput(t *testing.T) {
	e := newEnv(t)
	st, err := OpenDirState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := e.worker(t, realRunner(t), st, 1)
	round(t, w)
	if _, ok := e.ledger.commits[e.job.ID]; !ok {
		t.Fatal("no commit after a round")
	}
	round(t, w) // reveals are not open
	if len(e.ledger.reveals) != 0 {
		t.Fatal("revealed before the commit phase closed")
	}
	e.ledger.openReveals(e.job.ID)
	round(t, w)
	rv, ok := e.ledger.reveals[e.job.ID]
	if !ok {
		t.Fatal("no reveal once reveals are open")
	}
	if len(rv.salt) != SaltSize || bytes.Equal(rv.salt, make([]byte, SaltSize)) {
		t.Fatalf("salt %x", rv.salt)
	}
	// The claim is what a direct run of the job gives.
	mod, _ := e.files.ReadFile(context.Background(), e.keys.caps[e.job.ID].Module, 1<<20)
	spec := e.job.Spec(mod, e.input)
	rep, err := realRunner(t).Run(context.Background(), &compute.Job{Spec: spec, Module: mod, Input: e.input})
	if err != nil {
		t.Fatal(err)
	}
	if rv.claim != ClaimOf(rep.Result) || rv.claim.Status != compute.StatusExited {
		t.Fatalf("revealed %+v, a direct run claims %+v", rv.claim, ClaimOf(rep.Result))
	}
	read := func(c storage.Capability) ([]byte, error) { return e.files.ReadFile(context.Background(), c, 1<<20) }
	res, err := OpenOutput(e.submitter, e.job.ID, rv.out, rv.claim, read)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != "hello worker!" {
		t.Fatalf("the submitter reads %q", res.Output)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := OpenOutput(other, e.job.ID, rv.out, rv.claim, read); !errors.Is(err, capseal.ErrOpen) {
		t.Fatalf("another account opened the output: %v", err)
	}
	if _, err := st.Load(e.job.ID); err != nil {
		t.Fatalf("kept state before the reveal is recorded: %v", err)
	}
	round(t, w) // the ledger holds the reveal
	if k, err := st.Load(e.job.ID); err != nil || !bytes.Equal(k.Output.Sealed, rv.out.Sealed) {
		t.Fatalf("kept state of a revealed job: %v", err)
	}
}

// The fault switch: a lying worker's claim differs from the honest one
// (output or fuel), its output file is self-consistent, and the submitter
// refuses the liar's output against the honest result hash.
func TestFaultyRunnerLies(t *testing.T) {
	e := newEnv(t)
	mod, _ := e.files.ReadFile(context.Background(), e.keys.caps[e.job.ID].Module, 1<<20)
	cj := &compute.Job{Spec: e.job.Spec(mod, e.input), Module: mod, Input: e.input}
	honest, err := realRunner(t).Run(context.Background(), cj)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []Fault{FaultOutput, FaultFuel} {
		lie, err := (&FaultyRunner{Runner: realRunner(t), Fault: f}).Run(context.Background(), cj)
		if err != nil {
			t.Fatal(err)
		}
		if ClaimOf(lie.Result) == ClaimOf(honest.Result) {
			t.Fatalf("%s: the lie is the truth", f)
		}
		if _, err := compute.DecodeResult(lie.Result.Encode(), MaxOutput); err != nil {
			t.Fatalf("%s: the lie is not self-consistent: %v", f, err)
		}
		switch f {
		case FaultOutput:
			if lie.Result.FuelUsed != honest.Result.FuelUsed || bytes.Equal(lie.Result.Output, honest.Result.Output) {
				t.Fatalf("output lie: fuel %d/%d, output %q", lie.Result.FuelUsed, honest.Result.FuelUsed, lie.Result.Output)
			}
		case FaultFuel:
			if lie.Result.FuelUsed != honest.Result.FuelUsed+1 || !bytes.Equal(lie.Result.Output, honest.Result.Output) {
				t.Fatalf("fuel lie: fuel %d/%d", lie.Result.FuelUsed, honest.Result.FuelUsed)
			}
		}
	}
	if honest.Result.FuelUsed == 0 {
		t.Fatal("the honest run used no fuel")
	}

	// A lying worker in the loop: its stored output does not pass as the
	// honest result.
	w, _ := e.worker(t, &FaultyRunner{Runner: realRunner(t), Fault: FaultOutput}, nil, 1)
	round(t, w)
	e.ledger.openReveals(e.job.ID)
	round(t, w)
	rv := e.ledger.reveals[e.job.ID]
	if rv.claim == ClaimOf(honest.Result) {
		t.Fatal("the liar revealed the honest result")
	}
	read := func(c storage.Capability) ([]byte, error) { return e.files.ReadFile(context.Background(), c, 1<<20) }
	if _, err := OpenOutput(e.submitter, e.job.ID, rv.out, ClaimOf(honest.Result), read); !errors.Is(err, ErrOutput) {
		t.Fatalf("the liar's output passed as the honest result: %v", err)
	}
	for _, s := range []string{"", "none", "output", "fuel"} {
		if _, err := ParseFault(s); err != nil {
			t.Errorf("ParseFault(%q): %v", s, err)
		}
	}
	if _, err := ParseFault("lie"); err == nil {
		t.Error("ParseFault accepted an unknown fault")
	}
}

// A worker restarted after its commit reveals the kept claim and salt
// without running the job again; one restarted after keeping its result
// but before the commit went through commits it, again without a run.
func TestWorkerRestart(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	st, _ := OpenDirState(dir)
	e.ledger.failCommit = errors.New("the ledger is unreachable")
	r1 := &countingRunner{Runner: realRunner(t)}
	w1, _ := e.worker(t, r1, st, 1)
	_ = w1.Round(context.Background())
	w1.Wait()
	if r1.count() != 1 || len(e.ledger.commits) != 0 {
		t.Fatalf("%d runs, %d commits", r1.count(), len(e.ledger.commits))
	}
	kept, err := st.Load(e.job.ID)
	if err != nil {
		t.Fatalf("no kept state after a failed commit: %v", err)
	}

	// A new process: the same state directory, a runner that must not run.
	e.ledger.failCommit = nil
	st2, _ := OpenDirState(dir)
	r2 := &countingRunner{Runner: realRunner(t)}
	w2, _ := e.worker(t, r2, st2, 1)
	round(t, w2)
	if e.ledger.commits[e.job.ID] != commitment(kept.Claim, kept.Salt) {
		t.Fatal("the restarted worker did not commit its kept claim")
	}
	st3, _ := OpenDirState(dir)
	w3, _ := e.worker(t, r2, st3, 1)
	e.ledger.openReveals(e.job.ID)
	round(t, w3)
	if rv, ok := e.ledger.reveals[e.job.ID]; !ok || !bytes.Equal(rv.salt, kept.Salt) {
		t.Fatal("the restarted worker did not reveal its kept claim")
	}
	if r2.count() != 0 {
		t.Fatalf("a restarted worker ran a kept job %d times", r2.count())
	}

	// Kept state lost after a commit: the reveal cannot be made, and says so.
	e2 := newEnv(t)
	w4, _ := e2.worker(t, realRunner(t), nil, 1)
	round(t, w4)
	w5, _ := e2.worker(t, realRunner(t), nil, 1)
	e2.ledger.openReveals(e2.job.ID)
	if err := w5.Round(context.Background()); !errors.Is(err, ErrNoState) {
		t.Fatalf("reveal without kept state: %v, want ErrNoState", err)
	}
}

// Nothing is committed when the submitter's keys name other files than
// the ledger records, when the module's bytes do not match the spec, when
// the submitter refuses its keys, or past the commit deadline; Work says
// why.
func TestWorkerCommitsNothingWrong(t *testing.T) {
	errRefused := errors.New("the submitter refuses")
	cases := []struct {
		name  string
		spoil func(e *env)
		want  error
	}{
		{"a module key for another file", func(e *env) {
			c := e.keys.caps[e.job.ID]
			c.Module.FileID[0] ^= 1
			e.keys.caps[e.job.ID] = c
		}, ErrBadKeys},
		{"an input key missing", func(e *env) {
			c := e.keys.caps[e.job.ID]
			c.HasInput = false
			e.keys.caps[e.job.ID] = c
		}, ErrBadKeys},
		{"a module file that cannot be read", func(e *env) {
			delete(e.files.files, e.keys.caps[e.job.ID].Module)
		}, fs.ErrNotExist},
		{"a refusing submitter", func(e *env) { delete(e.keys.caps, e.job.ID) }, errRefused},
		{"past the deadline", func(e *env) { e.ledger.height = 21 }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.keys.refusal = errRefused
			tc.spoil(e)
			w, _ := e.worker(t, realRunner(t), nil, 1)
			if err := w.Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			w.Wait()
			if len(e.ledger.commits) != 0 {
				t.Fatal("committed")
			}
			if tc.want != nil {
				if err := w.Work(context.Background(), e.job.ID); !errors.Is(err, tc.want) {
					t.Fatalf("Work: %v, want %v", err, tc.want)
				}
			}
		})
	}
}

// At most CPU jobs run at once; the others start in a later round.
func TestWorkerCPUSlots(t *testing.T) {
	e := newEnv(t)
	second := e.job
	second.ID = [32]byte{0x20, 0xb}
	e.ledger.assign(second, 20)
	e.keys.caps[second.ID] = e.keys.caps[e.job.ID]
	r := &countingRunner{Runner: realRunner(t), started: make(chan struct{}), release: make(chan struct{})}
	w, _ := e.worker(t, r, nil, 1)
	if err := w.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-r.started
	if err := w.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.Running() != 1 || r.count() != 1 {
		t.Fatalf("%d running, %d runs with one CPU", w.Running(), r.count())
	}
	r.release <- struct{}{}
	w.Wait()
	go func() { <-r.started; r.release <- struct{}{} }()
	round(t, w)
	if len(e.ledger.commits) != 2 || r.count() != 2 {
		t.Fatalf("%d commits, %d runs", len(e.ledger.commits), r.count())
	}
}

// A corrupt or misplaced state file is an error, not a silent new run.
func TestDirStateRejectsCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	st, _ := OpenDirState(dir)
	k := &Kept{Job: [32]byte{1}, Salt: []byte{1, 2}}
	if err := st.Save(k); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Load(k.Job); err != nil || !bytes.Equal(got.Salt, k.Salt) {
		t.Fatalf("load: %v", err)
	}
	if jobs, _ := st.Jobs(); len(jobs) != 1 || jobs[0] != k.Job {
		t.Fatalf("jobs %x", jobs)
	}
	_ = os.WriteFile(st.path(k.Job), []byte("{"), 0o600)
	if _, err := st.Load(k.Job); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("corrupt file: %v", err)
	}
	b, _ := json.Marshal(&Kept{Job: [32]byte{2}})
	_ = os.WriteFile(st.path(k.Job), b, 0o600)
	if _, err := st.Load(k.Job); err == nil {
		t.Fatal("a file naming another job loaded")
	}
}

// A job with an inline input (no input file) runs on it: the worker asks
// for the module's key only.
func TestWorkerInlineInput(t *testing.T) {
	e := newEnv(t)
	j := e.job
	j.ID, j.InputFile, j.InlineInput = [32]byte{0x30}, [32]byte{}, []byte("inline")
	e.ledger.assign(j, 20)
	e.keys.caps[j.ID] = Capabilities{Module: e.keys.caps[e.job.ID].Module}
	w, _ := e.worker(t, realRunner(t), nil, 2)
	round(t, w)
	e.ledger.openReveals(j.ID)
	round(t, w)
	rv, ok := e.ledger.reveals[j.ID]
	if !ok {
		t.Fatal("no reveal")
	}
	read := func(c storage.Capability) ([]byte, error) { return e.files.ReadFile(context.Background(), c, 1<<20) }
	res, err := OpenOutput(e.submitter, j.ID, rv.out, rv.claim, read)
	if err != nil || string(res.Output) != "inline!" {
		t.Fatalf("output %q, %v", res.Output, err)
	}
}

// A job whose run failed is not tried again before RetryAfter, then is.
func TestWorkerRetriesAFailedRunLater(t *testing.T) {
	e := newEnv(t)
	keys := e.keys.caps[e.job.ID]
	delete(e.keys.caps, e.job.ID) // the submitter's node refuses, for now
	e.keys.refusal = errors.New("unreachable")
	now := time.Unix(1000, 0)
	st, _ := OpenDirState(t.TempDir())
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	r := &countingRunner{Runner: realRunner(t)}
	w, err := New(pub, Deps{Ledger: e.ledger, Keys: e.keys, Files: e.files, Runner: r, State: st},
		Config{RetryAfter: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	round(t, w)
	e.keys.mu.Lock()
	e.keys.caps[e.job.ID] = keys // reachable again
	e.keys.mu.Unlock()
	round(t, w)
	if len(e.ledger.commits) != 0 {
		t.Fatal("retried before RetryAfter")
	}
	now = now.Add(time.Minute)
	round(t, w)
	if len(e.ledger.commits) != 1 || r.count() != 1 {
		t.Fatalf("after RetryAfter: %d commits, %d runs", len(e.ledger.commits), r.count())
	}
}
