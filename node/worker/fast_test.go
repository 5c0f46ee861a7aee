package worker

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/storage"
)

// fakeBlocks is a block source the test feeds by hand.
type fakeBlocks struct {
	ch    chan int64
	ended chan struct{} // closed when the reader's ctx ends
}

func newFakeBlocks() *fakeBlocks {
	return &fakeBlocks{ch: make(chan int64), ended: make(chan struct{})}
}

func (b *fakeBlocks) NewBlocks(ctx context.Context) (<-chan int64, error) {
	context.AfterFunc(ctx, func() { close(b.ended) })
	return b.ch, nil
}

// never is a ticker that never ticks.
func never(time.Duration) (<-chan time.Time, func()) { return nil, func() {} }

// waitUntil waits up to 30 s for cond, which observes state other
// goroutines change.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not in 30 s", what)
		case <-tick.C:
		}
	}
}

// isBusy reports whether a goroutine of start holds job.
func (w *Worker) isBusy(job [32]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.busy[job]
}

func (l *fakeLedger) hasCommit(job [32]byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.commits[job]
	return ok
}

func (l *fakeLedger) hasReveal(job [32]byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.reveals[job]
	return ok
}

// The Loop reads its assignments at each new block its ledger tells of
// (its ticker never ticks here): a block starts the run that commits,
// another one, once reveals are open, reveals; the subscription ends with
// the Loop's ctx.
func TestWorkerLoopRunsARoundAtEachBlock(t *testing.T) {
	e := newEnv(t)
	st, _ := OpenDirState(t.TempDir())
	blocks := newFakeBlocks()
	w, err := New(make([]byte, 32), Deps{Ledger: e.ledger, Keys: e.keys, Files: e.files, Runner: realRunner(t), State: st, Blocks: blocks},
		Config{Interval: time.Hour, NewTicker: never})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Loop(ctx)
	}()
	blocks.ch <- 11
	waitUntil(t, "a commit after a block", func() bool { return e.ledger.hasCommit(e.job.ID) })
	waitUntil(t, "the run's goroutine ends", func() bool { return !w.isBusy(e.job.ID) })
	if e.ledger.hasReveal(e.job.ID) {
		t.Fatal("revealed while the commit phase is open")
	}
	e.ledger.openReveals(e.job.ID)
	blocks.ch <- 12
	waitUntil(t, "a reveal after the next block", func() bool { return e.ledger.hasReveal(e.job.ID) })
	cancel()
	<-done
	<-blocks.ended
}

// A commit that closes the commit phase (the last assigned worker's) is
// followed by the reveal in the same run: one Round commits and reveals,
// and the revealed output is the submitter's to read.
func TestWorkerRevealsRightAfterTheClosingCommit(t *testing.T) {
	e := newEnv(t)
	e.ledger.closeOnCommit = true
	w, _ := e.worker(t, realRunner(t), nil, 1)
	round(t, w)
	rv, ok := e.ledger.reveals[e.job.ID]
	if !ok {
		t.Fatal("no reveal after the closing commit")
	}
	read := func(c storage.Capability) ([]byte, error) { return e.files.ReadFile(context.Background(), c, 1<<20) }
	res, err := OpenOutput(e.submitter, e.job.ID, rv.out, rv.claim, read)
	if err != nil || string(res.Output) != "hello worker!" {
		t.Fatalf("the submitter reads %q, %v", res.Output, err)
	}
}

// The commit does not wait for the output's put: here the put waits for
// the commit, and both complete.
func TestWorkerCommitsWhileTheOutputIsStored(t *testing.T) {
	e := newEnv(t)
	committed := make(chan struct{})
	e.ledger.committed = committed
	e.files.beforePut = func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		select {
		case <-committed:
			return nil
		case <-ctx.Done():
			return errors.New("the commit waited for the output's put")
		}
	}
	st, _ := OpenDirState(t.TempDir())
	w, _ := e.worker(t, realRunner(t), st, 1)
	round(t, w)
	k, err := st.Load(e.job.ID)
	if err != nil || !e.ledger.hasCommit(e.job.ID) {
		t.Fatalf("commit %v, kept %v", e.ledger.hasCommit(e.job.ID), err)
	}
	if k.Output.File == ([32]byte{}) || len(k.Result) != 0 {
		t.Fatalf("kept output %x with %d result bytes after the put", k.Output.File[:4], len(k.Result))
	}
}

// A worker whose output put had not finished when it stopped (its commit
// on the ledger, its kept record holding the encoded result and no output
// reference) stores the output when restarted — before the reveal phase
// opens or as part of its reveal — reveals it, and runs nothing again;
// the submitter reads the output.
func TestWorkerRestartedBeforeTheOutputPutFinished(t *testing.T) {
	for _, tc := range []struct {
		name string
		// closing: the commit closes the commit phase (the reveal is due
		// at the restart); otherwise the phase opens later.
		closing bool
	}{{"reveals open later", false}, {"reveals open at the restart", true}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.ledger.closeOnCommit = tc.closing
			e.files.beforePut = func(context.Context) error { return errors.New("the holders are unreachable") }
			dir := t.TempDir()
			st, _ := OpenDirState(dir)
			w1, _ := e.worker(t, realRunner(t), st, 1)
			if err := w1.Work(context.Background(), e.job.ID); err == nil {
				t.Fatal("Work with a failing output put: no error")
			}
			k, err := st.Load(e.job.ID)
			if err != nil || !e.ledger.hasCommit(e.job.ID) || e.ledger.hasReveal(e.job.ID) {
				t.Fatalf("commit %v, reveal %v, kept %v", e.ledger.hasCommit(e.job.ID), e.ledger.hasReveal(e.job.ID), err)
			}
			if k.Output.File != ([32]byte{}) || len(k.Result) == 0 {
				t.Fatalf("kept output %x with %d result bytes, want none and the result", k.Output.File[:4], len(k.Result))
			}

			// A new process on the same state, the holders reachable.
			e.files.mu.Lock()
			e.files.beforePut = nil
			e.files.mu.Unlock()
			st2, _ := OpenDirState(dir)
			r := &countingRunner{Runner: realRunner(t)}
			w2, _ := e.worker(t, r, st2, 1)
			round(t, w2)
			if !tc.closing {
				if e.ledger.hasReveal(e.job.ID) {
					t.Fatal("revealed while the commit phase is open")
				}
				if k, err := st2.Load(e.job.ID); err != nil || k.Output.File == ([32]byte{}) || len(k.Result) != 0 {
					t.Fatalf("the output is not stored before the reveal phase: %v", err)
				}
				e.ledger.openReveals(e.job.ID)
				round(t, w2)
			}
			rv, ok := e.ledger.reveals[e.job.ID]
			if !ok {
				t.Fatal("no reveal after the restart")
			}
			if commitment(rv.claim, rv.salt) != commitment(k.Claim, k.Salt) {
				t.Fatal("the reveal is not the kept claim")
			}
			if r.count() != 0 {
				t.Fatalf("the restarted worker ran the job %d times", r.count())
			}
			read := func(c storage.Capability) ([]byte, error) { return e.files.ReadFile(context.Background(), c, 1<<20) }
			res, err := OpenOutput(e.submitter, e.job.ID, rv.out, rv.claim, read)
			if err != nil || string(res.Output) != "hello worker!" {
				t.Fatalf("the submitter reads %q, %v", res.Output, err)
			}
			if k, err := st2.Load(e.job.ID); err != nil || k.Output.File != rv.out.File || !bytes.Equal(k.Output.Sealed, rv.out.Sealed) {
				t.Fatalf("kept output after the reveal is not the revealed one: %v", err)
			}
		})
	}
}
