package scrub

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// fakeClock is a Clock tests drive. In auto mode After moves the clock by
// d at once (and counts it as slept); otherwise each After is announced on
// asked and fires when the test advances the clock past it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	auto    bool
	slept   time.Duration
	waiters []waiter
	asked   chan time.Duration
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(auto bool) *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), auto: auto, asked: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.auto {
		c.now = c.now.Add(d)
		c.slept += d
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), ch: ch})
	c.asked <- d
	return ch
}

// advance moves the clock by d and fires the waits that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

func (c *fakeClock) sleptTotal() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slept
}

// fakeLedger lists credited pieces and keeps the ReportLost txs sent.
// Pieces returns lists[min(reads, len-1)]; a ReportLost naming an entry
// the current list does not credit is refused as not found, like the rule.
type fakeLedger struct {
	mu    sync.Mutex
	lists [][]chain.HeldPiece
	reads int
	fails int // the next fails reads of Pieces fail
	// the next sendFails broadcasts fail as if the ledger were unreachable
	sendFails int
	sent      []*chain.ReportLost
}

func (l *fakeLedger) current() []chain.HeldPiece { return l.lists[min(l.reads, len(l.lists)-1)] }

func (l *fakeLedger) Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails > 0 {
		l.fails--
		return nil, errors.New("ledger unreachable")
	}
	list := l.current()
	l.reads++
	return append([]chain.HeldPiece(nil), list...), nil
}

func (l *fakeLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rl := body.(*chain.ReportLost)
	if l.sendFails > 0 {
		l.sendFails--
		return ledger.Result{}, errors.New("ledger unreachable")
	}
	l.sent = append(l.sent, rl)
	credited := map[chain.PieceRef]bool{}
	for _, hp := range l.current() {
		credited[chain.PieceRef{File: hp.File, Segment: hp.Piece.Segment, Index: hp.Piece.Index}] = true
	}
	if len(rl.Pieces) == 0 || len(rl.Pieces) > chain.MaxReportLostPieces {
		return ledger.Result{}, &ledger.RejectedError{Code: chain.CodeInvalid, Log: "bad count"}
	}
	for _, r := range rl.Pieces {
		if !credited[r] {
			return ledger.Result{}, &ledger.RejectedError{Code: chain.CodeNotFound, Log: "not credited"}
		}
	}
	return ledger.Result{}, nil
}

func (l *fakeLedger) reported() []chain.PieceRef {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []chain.PieceRef
	for _, tx := range l.sent {
		out = append(out, tx.Pieces...)
	}
	return out
}

// diskStore is a real block store on disk as the Store. If block is set,
// Open of that piece waits for ctx to end (a pass stuck on it), once.
type diskStore struct {
	s *blockstore.Store

	mu      sync.Mutex
	block   chain.Hash
	opened  chan struct{}
	dropped []chain.Hash
}

func (d *diskStore) Open(ctx context.Context, id chain.Hash) (Piece, error) {
	d.mu.Lock()
	stuck := !d.block.IsZero() && id == d.block
	if stuck {
		d.block = chain.Hash{}
	}
	d.mu.Unlock()
	if stuck {
		close(d.opened)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r, err := d.s.Open(ctx, blockstore.ID(id))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (d *diskStore) Drop(ctx context.Context, id chain.Hash) error {
	d.mu.Lock()
	d.dropped = append(d.dropped, id)
	d.mu.Unlock()
	if err := d.s.Delete(ctx, blockstore.ID(id)); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
		return err
	}
	return nil
}

// env is a store on disk with pieces the ledger credits to self.
type env struct {
	t     *testing.T
	self  chain.Address
	store *diskStore
	lc    *fakeLedger
	held  []chain.HeldPiece
}

func newEnv(t *testing.T) *env {
	st, err := blockstore.Open(t.TempDir(), blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{t: t, self: chain.Address{7}, store: &diskStore{s: st}}
	e.lc = &fakeLedger{lists: [][]chain.HeldPiece{nil}}
	return e
}

// add stores n random bytes as a piece of a new file and credits it.
func (e *env) add(n int) chain.HeldPiece {
	e.t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	id, err := e.store.s.PutBytes(context.Background(), blockstore.Pinned, b)
	if err != nil {
		e.t.Fatal(err)
	}
	var file chain.Hash
	_, _ = rand.Read(file[:])
	hp := chain.HeldPiece{File: file, Piece: chain.Piece{Holder: e.self, ID: chain.Hash(id), Size: uint64(n), Root: chain.Hash(proofs.Root(b)), Leaves: proofs.LeafCount(int64(n))}}
	e.held = append(e.held, hp)
	e.lc.lists = [][]chain.HeldPiece{e.held}
	return hp
}

func (e *env) path(hp chain.HeldPiece) string {
	e.t.Helper()
	p, ok := e.store.s.Path(blockstore.ID(hp.Piece.ID))
	if !ok {
		e.t.Fatalf("piece %s not stored", hp.Piece.ID)
	}
	return p
}

func (e *env) scrubber(cfg Config) *Scrubber {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return New(e.self, e.lc, e.store, cfg)
}

func refOf(hp chain.HeldPiece) chain.PieceRef {
	return chain.PieceRef{File: hp.File, Segment: hp.Piece.Segment, Index: hp.Piece.Index}
}

// TestScrubFindsDropsAndReportsLostPieces: on a real block store, a piece
// with a flipped byte, a deleted one, a truncated one and one whose
// recorded root is not its bytes' are found, dropped and reported in one
// ReportLost; the sound ones are read whole and kept.
func TestScrubFindsDropsAndReportsLostPieces(t *testing.T) {
	e := newEnv(t)
	good1, good2 := e.add(300<<10+7), e.add(5000)
	flipped, deleted, short := e.add(200<<10), e.add(70<<10), e.add(3000)
	badRoot := e.add(2048)
	e.held[len(e.held)-1].Piece.Root = chain.Hash{1} // the ledger records another root
	e.lc.lists = [][]chain.HeldPiece{e.held}
	badRoot = e.held[len(e.held)-1]

	b, err := os.ReadFile(e.path(flipped))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x40
	if err := os.WriteFile(e.path(flipped), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(e.path(deleted)); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(e.path(short), 1000); err != nil {
		t.Fatal(err)
	}

	var progress []Progress
	rep, err := e.scrubber(Config{Rate: 0}).Run(context.Background(), Options{Progress: func(p Progress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pieces != 6 || rep.TotalPieces != 6 || rep.OK != 2 || rep.Corrupt != 3 || rep.Missing != 1 || rep.Unreadable != 0 {
		t.Fatalf("report %+v; want 6 pieces: 2 ok, 3 corrupt, 1 missing", rep)
	}
	if rep.Reported != 4 || rep.ReportTxs != 1 || len(e.lc.sent) != 1 {
		t.Fatalf("reported %d entries in %d txs (%d sent); want 4 in 1", rep.Reported, rep.ReportTxs, len(e.lc.sent))
	}
	want := map[chain.PieceRef]bool{refOf(flipped): true, refOf(deleted): true, refOf(short): true, refOf(badRoot): true}
	for _, r := range e.lc.reported() {
		if !want[r] {
			t.Errorf("reported %v, which is sound", r)
		}
		delete(want, r)
	}
	if len(want) != 0 {
		t.Errorf("not reported: %v", want)
	}
	for _, hp := range []chain.HeldPiece{flipped, deleted, short, badRoot} {
		if _, ok := e.store.s.Has(blockstore.ID(hp.Piece.ID)); ok {
			t.Errorf("lost piece %s still in the store", hp.Piece.ID)
		}
	}
	for _, hp := range []chain.HeldPiece{good1, good2} {
		if err := e.store.s.Verify(context.Background(), blockstore.ID(hp.Piece.ID)); err != nil {
			t.Errorf("sound piece %s: %v", hp.Piece.ID, err)
		}
	}
	// Read: every byte of the sound and flipped pieces, the 2048 of the
	// bad root, the 1000 left of the truncated one; nothing of the
	// deleted one.
	if wantBytes := int64(300<<10+7) + 5000 + 200<<10 + 2048 + 1000; rep.Bytes != wantBytes {
		t.Errorf("read %d bytes, want %d", rep.Bytes, wantBytes)
	}
	if len(progress) != 6 || progress[5].Pieces != 6 || progress[5].Bytes != rep.Bytes || progress[5].TotalBytes != rep.TotalBytes {
		t.Errorf("progress %+v", progress)
	}
	var problems []string
	for _, f := range rep.Findings {
		problems = append(problems, f.Problem+": "+f.Detail)
	}
	sort.Strings(problems)
	t.Log(problems)
	if last, ok := e.scrubber(Config{}).Last(); ok {
		t.Fatalf("a scrubber without a state file has a last report %+v", last)
	}
}

// TestScrubReportsInBatchesOnlyWhatIsStillCredited: entries over
// chain.MaxReportLostPieces go in several txs; an entry the ledger stopped
// crediting during the pass (its file removed) is not reported; a piece
// removed between that check and the tx is filtered out on the refusal
// and the rest reported.
func TestScrubReportsInBatchesOnlyWhatIsStillCredited(t *testing.T) {
	e := newEnv(t)
	var list []chain.HeldPiece
	for i := range chain.MaxReportLostPieces + 10 {
		var file chain.Hash
		file[0], file[1] = byte(i>>8), byte(i)
		id := sha256.Sum256(file[:])
		list = append(list, chain.HeldPiece{File: file, Piece: chain.Piece{Holder: e.self, ID: id, Size: 100, Leaves: 1}}) // none stored
	}
	removed := list[3]
	e.lc.lists = [][]chain.HeldPiece{list, append(append([]chain.HeldPiece(nil), list[:3]...), list[4:]...)}
	s := e.scrubber(Config{})
	rep, err := s.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if last, _ := s.Last(); len(rep.Findings) != len(list) || len(last.Findings) != MaxKeptFindings || last.FindingsOmitted != len(list)-MaxKeptFindings || last.Missing != len(list) {
		t.Fatalf("findings: %d in the pass, %d kept + %d omitted in the last report; want %d, %d + %d",
			len(rep.Findings), len(last.Findings), last.FindingsOmitted, len(list), MaxKeptFindings, len(list)-MaxKeptFindings)
	}
	if rep.Missing != len(list) || rep.Reported != len(list)-1 || rep.ReportTxs != 2 {
		t.Fatalf("missing %d, reported %d in %d txs; want %d, %d in 2", rep.Missing, rep.Reported, rep.ReportTxs, len(list), len(list)-1)
	}
	for _, tx := range e.lc.sent {
		if len(tx.Pieces) > chain.MaxReportLostPieces {
			t.Fatalf("a tx of %d pieces", len(tx.Pieces))
		}
		for _, r := range tx.Pieces {
			if r == refOf(removed) {
				t.Fatal("reported the piece of a file removed during the pass")
			}
		}
	}

	// Removed between the re-read and the tx: refused as not found, then
	// sent without it.
	e2 := newEnv(t)
	a, b := list[0], list[1]
	e2.lc.lists = [][]chain.HeldPiece{{a, b}, {a, b}, {a}}
	rep, err = e2.scrubber(Config{}).Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reported != 1 || len(e2.lc.sent) != 2 || len(e2.lc.sent[1].Pieces) != 1 || e2.lc.sent[1].Pieces[0] != refOf(a) {
		t.Fatalf("reported %d; txs %+v; want the refused batch retried with only %v", rep.Reported, e2.lc.sent, refOf(a))
	}
}

// TestScrubRateIsPacedOnTheClock: a pass of B bytes at rate R waits,
// on the injected clock, (B − one chunk of burst)/R in all, within one
// chunk's time; with no rate it never waits.
func TestScrubRateIsPacedOnTheClock(t *testing.T) {
	e := newEnv(t)
	for range 3 {
		e.add(1<<20 + 12345)
	}
	clk := newFakeClock(true)
	const rate = 512 << 10
	rep, err := e.scrubber(Config{Clock: clk}).Run(context.Background(), Options{Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	total := rep.Bytes
	if total != 3*(1<<20+12345) || rep.OK != 3 {
		t.Fatalf("report %+v", rep)
	}
	lo := durationFor(total-2*chunk, rate)
	hi := durationFor(total-chunk, rate)
	if got := clk.sleptTotal(); got < lo || got > hi {
		t.Fatalf("waited %v on the clock for %d bytes at %d B/s; want %v to %v", got, total, rate, lo, hi)
	}
	if rep.Duration != clk.sleptTotal() {
		t.Fatalf("report duration %v, the clock moved %v", rep.Duration, clk.sleptTotal())
	}

	clk = newFakeClock(true)
	if _, err := e.scrubber(Config{Clock: clk, Rate: 0}).Run(context.Background(), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := clk.sleptTotal(); got != 0 {
		t.Fatalf("an unlimited pass waited %v", got)
	}

	// Background passes read what they hold over half the interval,
	// between minPassRate and Rate.
	s := e.scrubber(Config{Interval: 24 * time.Hour, Rate: 8 << 20})
	for _, c := range []struct{ total, want int64 }{
		{0, minPassRate},
		{10 << 30, minPassRate},                // 10 GiB in 12 h is 243 KiB/s
		{200 << 30, (200 << 30) / (12 * 3600)}, // 4.7 MiB/s
		{2 << 40, 8 << 20},                     // capped
	} {
		if got := s.passRate(c.total); got != c.want {
			t.Errorf("passRate(%d) = %d, want %d", c.total, got, c.want)
		}
	}
}

// TestLoopSchedulesPassesAndGivesWayToRun: the first background pass waits
// FirstDelay, the next Interval after it started (also after a restart,
// from the state file); a pass on demand cancels a background pass in
// progress and counts as the pass, moving the next one Interval on.
func TestLoopSchedulesPassesAndGivesWayToRun(t *testing.T) {
	e := newEnv(t)
	stuck := e.add(4000)
	e.add(3000)
	clk := newFakeClock(false)
	state := filepath.Join(t.TempDir(), "scrub.json")
	cfg := Config{Interval: time.Hour, FirstDelay: time.Minute, Rate: 1 << 20, StateFile: state, Clock: clk}
	s := e.scrubber(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Loop(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	if d := <-clk.asked; d != time.Minute {
		t.Fatalf("first wait %v, want FirstDelay", d)
	}
	clk.advance(time.Minute)
	if d := <-clk.asked; d != time.Hour {
		t.Fatalf("wait after the first pass %v, want the interval", d)
	}
	first, ok := s.Last()
	if !ok || !first.Background || first.OK != 2 {
		t.Fatalf("after the first background pass: %+v, %v", first, ok)
	}

	// The next background pass gets stuck on a piece; a pass on demand
	// cancels it and runs.
	e.store.mu.Lock()
	e.store.block, e.store.opened = stuck.Piece.ID, make(chan struct{})
	opened := e.store.opened
	e.store.mu.Unlock()
	clk.advance(time.Hour)
	<-opened
	rep, err := s.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Background || rep.OK != 2 {
		t.Fatalf("pass on demand: %+v", rep)
	}
	if d := <-clk.asked; d != time.Hour {
		t.Fatalf("wait after the pass on demand %v, want the interval from it", d)
	}
	if last, _ := s.Last(); last.Background || !last.Started.Equal(rep.Started) {
		t.Fatalf("last report %+v, want the pass on demand", last)
	}
	cancel()
	<-done

	// A restart reads the last report: the next pass is due an interval
	// after it, not FirstDelay after the start.
	clk.advance(10 * time.Minute)
	s2 := e.scrubber(cfg)
	if last, ok := s2.Last(); !ok || !last.Started.Equal(rep.Started) || last.OK != 2 {
		t.Fatalf("restored report %+v, %v", last, ok)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan struct{})
	go func() { defer close(done2); s2.Loop(ctx2) }()
	if d := <-clk.asked; d != 50*time.Minute {
		t.Fatalf("first wait after a restart %v, want the rest of the interval (50m)", d)
	}
	cancel2()
	<-done2
}

// TestLoopRetriesSoonWhenTheLedgerIsDown: a background pass that cannot
// read the credited list checks nothing and is tried again FirstDelay
// later, not an interval later; the pass after it runs and counts.
func TestLoopRetriesSoonWhenTheLedgerIsDown(t *testing.T) {
	e := newEnv(t)
	e.add(1000)
	e.lc.fails = 1
	clk := newFakeClock(false)
	s := e.scrubber(Config{Interval: time.Hour, FirstDelay: time.Minute, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Loop(ctx) }()
	defer func() { cancel(); <-done }()
	for i, want := range []time.Duration{time.Minute, time.Minute, time.Hour} {
		if d := <-clk.asked; d != want {
			t.Fatalf("wait %d: %v, want %v", i, d, want)
		}
		if i == 1 {
			if last, ok := s.Last(); ok {
				t.Fatalf("a pass that checked nothing became the last report: %+v", last)
			}
		}
		if i < 2 {
			clk.advance(want)
		}
	}
	if last, ok := s.Last(); !ok || last.OK != 1 || !last.Background {
		t.Fatalf("last report %+v, %v; want the retried pass", last, ok)
	}
}

// TestLoopRetriesAFailedReportSoon: a pass drops a missing piece but
// cannot report it (ledger unreachable); the loop reports it again
// FirstDelay later, without another pass, then waits out the interval.
func TestLoopRetriesAFailedReportSoon(t *testing.T) {
	e := newEnv(t)
	lost := e.add(1000)
	e.add(2000)
	if err := os.Remove(e.path(lost)); err != nil {
		t.Fatal(err)
	}
	e.lc.sendFails = 1
	clk := newFakeClock(false)
	s := e.scrubber(Config{Interval: time.Hour, FirstDelay: time.Minute, Clock: clk})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Loop(ctx) }()
	defer func() { cancel(); <-done }()
	if d := <-clk.asked; d != time.Minute {
		t.Fatalf("first wait %v", d)
	}
	clk.advance(time.Minute)
	if d := <-clk.asked; d != time.Minute {
		t.Fatalf("wait after a failed report %v, want FirstDelay", d)
	}
	last, ok := s.Last()
	if !ok || last.Missing != 1 || last.Reported != 0 || last.Error == "" || len(e.lc.reported()) != 0 {
		t.Fatalf("after the failed report: %+v, %v, sent %v", last, ok, e.lc.reported())
	}
	reads := e.lc.reads
	clk.advance(time.Minute)
	if d := <-clk.asked; d != time.Hour-time.Minute {
		t.Fatalf("wait after the retried report %v, want the rest of the interval", d)
	}
	if got := e.lc.reported(); len(got) != 1 || got[0] != refOf(lost) {
		t.Fatalf("reported %v, want %v", got, refOf(lost))
	}
	if e.lc.reads != reads+1 {
		t.Fatalf("the retry read the credited list %d times, want once (no new pass)", e.lc.reads-reads)
	}
}
