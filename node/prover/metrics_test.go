package prover

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// recordingMetrics records what the prover tells its Metrics.
type recordingMetrics struct {
	mu    sync.Mutex
	calls []proved
}

type proved struct {
	challenges, empty int
	err               error
}

func (m *recordingMetrics) Proved(challenges, empty int, build time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if build < 0 {
		panic("negative build time")
	}
	m.calls = append(m.calls, proved{challenges, empty, err})
}

// TestRoundMetricsTellEachProof: every proof sent is told, with its
// challenges, the ones answered empty (a lost piece's) and the ledger's
// answer: a stale refusal, then the committed retry.
func TestRoundMetricsTellEachProof(t *testing.T) {
	f := newFixture(t, 200<<10, 100<<10, 50<<10)
	delete(f.pieces.data, f.ids[0]) // lost
	lost := 0
	for _, c := range f.lc.sets[0].Challenges {
		if c.Piece == f.ids[0] {
			lost++
		}
	}
	if lost == 0 {
		t.Fatal("no challenge of the lost piece: pick other sizes")
	}
	f.lc.verdicts = []error{stale()}
	m := &recordingMetrics{}
	p := New(f.self, f.lc, f.pieces, f.levels, Config{Logger: slog.New(slog.DiscardHandler), Metrics: m})
	if err := p.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(f.lc.sets[0].Challenges)
	if len(m.calls) != 2 {
		t.Fatalf("told %d proofs, want 2 (stale, then committed): %+v", len(m.calls), m.calls)
	}
	if c := m.calls[0]; c.challenges != n || c.empty != lost || !errors.Is(c.err, chain.ErrStaleChallenges) {
		t.Errorf("first proof told %+v, want %d challenges, %d empty, stale", c, n, lost)
	}
	if c := m.calls[1]; c.challenges != n || c.empty != lost || c.err != nil {
		t.Errorf("retry told %+v, want %d challenges, %d empty, committed", c, n, lost)
	}
}
