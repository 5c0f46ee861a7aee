package worker

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

// A submitter's node that never hands over a job's keys: after
// UnavailableAfter tries the worker commits the unavailable claim (no
// run, nothing stored) and reveals it, with no output, once reveals open.
// A worker whose keys came late is not affected: a try that got them runs
// the job (TestWorkerRetriesAFailedRunLater).
func TestWorkerCommitsUnavailableWhenTheFilesNeverCome(t *testing.T) {
	e := newEnv(t)
	delete(e.keys.caps, e.job.ID)
	e.keys.refusal = errors.New("refused")
	now := time.Unix(1000, 0)
	st, _ := OpenDirState(t.TempDir())
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	r := &countingRunner{Runner: realRunner(t)}
	puts := len(e.files.files)
	w, err := New(pub, Deps{Ledger: e.ledger, Keys: e.keys, Files: e.files, Runner: r, State: st},
		Config{RetryAfter: time.Minute, UnavailableAfter: 3, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	for try := 1; try <= 3; try++ {
		if n := len(e.ledger.commits); n != 0 {
			t.Fatalf("committed after %d tries", try-1)
		}
		round(t, w)
		now = now.Add(time.Minute)
	}
	c, ok := e.ledger.commits[e.job.ID]
	if !ok {
		t.Fatal("no commit after UnavailableAfter tries")
	}
	k, err := st.Load(e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if k.Claim != (Claim{Status: StatusUnavailable}) || commitment(k.Claim, k.Salt) != c || len(k.Result) != 0 {
		t.Fatalf("kept %+v", k)
	}
	e.ledger.openReveals(e.job.ID)
	round(t, w)
	rv, ok := e.ledger.reveals[e.job.ID]
	if !ok || rv.claim != k.Claim || rv.out.File != [32]byte{} || len(rv.out.Sealed) != 0 {
		t.Fatalf("reveal %+v (%v)", rv, ok)
	}
	if r.count() != 0 || len(e.files.files) != puts {
		t.Fatalf("%d runs, %d files stored", r.count(), len(e.files.files)-puts)
	}
}
