package worker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/compute"
)

// recordingMetrics records the runs a worker tells.
type recordingMetrics struct {
	mu       sync.Mutex
	statuses []string
}

func (m *recordingMetrics) JobRun(status string, wall time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if wall < 0 {
		panic("negative wall time")
	}
	m.statuses = append(m.statuses, status)
}

func (m *recordingMetrics) got() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.statuses)
}

// failingRunner fails every run.
type failingRunner struct{}

func (failingRunner) Run(context.Context, *compute.Job) (*compute.Report, error) {
	return nil, errors.New("child process crashed")
}

// TestWorkerMetricsTellEachRun: a run that gives no result is told as
// failed; a real run as its claim's status.
func TestWorkerMetricsTellEachRun(t *testing.T) {
	for _, c := range []struct {
		name   string
		runner func(t *testing.T) Runner
		want   string
	}{
		{"failed", func(*testing.T) Runner { return failingRunner{} }, RunFailed},
		{"exited", func(t *testing.T) Runner { return realRunner(t) }, string(compute.StatusExited)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			st, err := OpenDirState(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			m := &recordingMetrics{}
			pub, _, _ := ed25519.GenerateKey(rand.Reader)
			w, err := New(pub, Deps{Ledger: e.ledger, Keys: e.keys, Files: e.files, Runner: c.runner(t), State: st}, Config{CPU: 1, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			round(t, w)
			if got := m.got(); !slices.Equal(got, []string{c.want}) {
				t.Fatalf("told runs %q, want [%q]", got, c.want)
			}
		})
	}
}
