package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/prover"
)

// Outcome reads /outcome/<epoch>/<holder> of the in-memory ledger.
func (c *memClient) Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error) {
	var v chain.EpochOutcome
	return v, c.l.query(ctx, chain.QueryOutcome+strconv.FormatUint(epoch, 10)+"/"+holder.String(), &v)
}

// proverLedger is a memClient whose reads and broadcasts tests can bend:
// outcomes hidden (as a read racing the proof's commit would see), a hook
// before each broadcast, and the bodies sent and refusals kept.
type proverLedger struct {
	*memClient
	hideOutcomes bool
	beforeSend   func() // called before each broadcast, if set
	sent         []chain.Body
	refused      []chain.Code
}

func (p *proverLedger) Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error) {
	if p.hideOutcomes {
		return chain.EpochOutcome{}, fmt.Errorf("%w: hidden by the test", chain.ErrNotFound)
	}
	return p.memClient.Outcome(ctx, epoch, holder)
}

func (p *proverLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	if p.beforeSend != nil {
		p.beforeSend()
	}
	p.sent = append(p.sent, body)
	r, err := p.memClient.BroadcastCommit(ctx, body)
	var rej *ledger.RejectedError
	if errors.As(err, &rej) {
		p.refused = append(p.refused, rej.Code)
	}
	return r, err
}

// proverEnv is a holder of two placed pieces on the in-memory ledger, in
// an epoch with challenges, and a prover maker.
type proverEnv struct {
	*holderEnv
	levels *prover.LevelStore
}

func newProverEnv(t *testing.T) *proverEnv {
	t.Helper()
	e, ls := newHolderEnvWithLevels(t)
	put, file := randomID(), randomID()
	a, b := newTestPiece(200<<10+3), newTestPiece(90<<10)
	e.push(put, a)
	e.push(put, b)
	e.place(put, file, a, b)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	params, err := e.h.lc.Params(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.l.advance(int(params.EpochLength) + 1) // into an epoch the holder owes a proof of
	return &proverEnv{holderEnv: e, levels: ls}
}

func (e *proverEnv) ledger() *proverLedger {
	return &proverLedger{memClient: e.h.lc.(*memClient)}
}

func (e *proverEnv) prover(lc prover.Ledger) *prover.Prover {
	return prover.New(e.h.addr, lc, storePieces{e.h.store}, e.levels, prover.Config{Logger: slog.New(slog.DiscardHandler)})
}

func (e *proverEnv) epoch() uint64 {
	e.t.Helper()
	ep, err := e.h.lc.(*memClient).Epoch(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return ep.Number
}

func (e *proverEnv) outcome(epoch uint64) string {
	e.t.Helper()
	o, err := e.h.lc.(*memClient).Outcome(context.Background(), epoch, e.h.addr)
	if errors.Is(err, chain.ErrNotFound) {
		return ""
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return o.Outcome
}

// TestRestartedProverDoesNotAnswerTwice: a prover started after another
// answered the epoch (a restarted node) finds the recorded outcome and
// sends nothing; one whose outcome read misses it (a race with the first
// proof's commit) has its proof refused as already answered (code 9), and
// takes that as done, not as an error.
func TestRestartedProverDoesNotAnswerTwice(t *testing.T) {
	e := newProverEnv(t)
	ctx := context.Background()
	epoch := e.epoch()
	first := e.ledger()
	if err := e.prover(first).Round(ctx); err != nil {
		t.Fatal(err)
	}
	if len(first.sent) != 1 || len(first.refused) != 0 || e.outcome(epoch) != chain.OutcomeProved {
		t.Fatalf("first prover: %d sent, refusals %v, outcome %q", len(first.sent), first.refused, e.outcome(epoch))
	}

	restarted := e.ledger()
	p := e.prover(restarted)
	if err := p.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if len(restarted.sent) != 0 {
		t.Fatalf("the restarted prover sent %d txs for an answered epoch", len(restarted.sent))
	}
	if got, ok := p.Answered(); !ok || got != epoch {
		t.Fatalf("restarted prover's answered epoch = %d, %v; want %d", got, ok, epoch)
	}

	blind := e.ledger()
	blind.hideOutcomes = true
	p = e.prover(blind)
	if err := p.Round(ctx); err != nil {
		t.Fatalf("a proof refused as already answered is an error: %v", err)
	}
	if len(blind.sent) != 1 || len(blind.refused) != 1 || blind.refused[0] != chain.CodeExists {
		t.Fatalf("blind prover: %d sent, refusals %v; want one refused with code %d", len(blind.sent), blind.refused, chain.CodeExists)
	}
	if got, ok := p.Answered(); !ok || got != epoch {
		t.Fatalf("answered epoch after code 9 = %d, %v; want %d", got, ok, epoch)
	}
	if err := p.Round(ctx); err != nil || len(blind.sent) != 1 {
		t.Fatalf("second round of a settled epoch: %v, %d sent", err, len(blind.sent))
	}
	if n, err := e.h.lc.Node(ctx, e.h.addr); err != nil || n.ProofsPassed != 1 || n.ProofsFailed != 0 {
		t.Fatalf("node record: passed %d failed %d (%v); want the one proof", n.ProofsPassed, n.ProofsFailed, err)
	}
}

// TestProverMovesOnFromALateProof: the ledger passes an epoch's edge while
// the proof waits (the real rule refuses it as late, code 20); the round
// takes it as the end of that epoch and proves the new one, without an
// error.
func TestProverMovesOnFromALateProof(t *testing.T) {
	e := newProverEnv(t)
	ctx := context.Background()
	epoch := e.epoch()
	lc := e.ledger()
	lc.beforeSend = func() {
		if len(lc.sent) > 0 {
			return
		}
		for e.epoch() == epoch { // the epoch ends before the first proof lands
			e.l.block()
		}
	}
	p := e.prover(lc)
	if err := p.Round(ctx); err != nil {
		t.Fatalf("a proof refused as late at an epoch's edge is an error: %v", err)
	}
	if len(lc.refused) != 1 || lc.refused[0] != chain.CodeProofLate {
		t.Fatalf("refusals %v; want one late (code %d)", lc.refused, chain.CodeProofLate)
	}
	if len(lc.sent) != 2 {
		t.Fatalf("sent %d txs; want the late one and the new epoch's", len(lc.sent))
	}
	if got := lc.sent[1].(*chain.ProveStorage).Epoch; got != epoch+1 {
		t.Fatalf("second proof for epoch %d; want %d", got, epoch+1)
	}
	if got, ok := p.Answered(); !ok || got != epoch+1 {
		t.Fatalf("answered epoch = %d, %v; want %d", got, ok, epoch+1)
	}
	if o := e.outcome(epoch + 1); o != chain.OutcomeProved {
		t.Fatalf("outcome of the new epoch %q; want %q", o, chain.OutcomeProved)
	}
}
