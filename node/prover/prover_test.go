package prover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
)

// fakeLedger is a Ledger in memory: an epoch, the challenges of it, the
// held pieces, and a script of verdicts for broadcasts.
type fakeLedger struct {
	mu       sync.Mutex
	epoch    uint64
	noEpoch  bool
	sets     []chain.ChallengeSet // Challenges returns sets[min(reads, len-1)]
	reads    int
	held     []chain.HeldPiece
	verdicts []error // BroadcastCommit returns verdicts[i] for call i (nil past the end)
	sent     []*chain.ProveStorage
}

func (l *fakeLedger) Epoch(ctx context.Context) (chain.Epoch, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.noEpoch {
		return chain.Epoch{}, fmt.Errorf("%w: no epoch yet", chain.ErrNotFound)
	}
	return chain.Epoch{Number: l.epoch}, nil
}

func (l *fakeLedger) Challenges(ctx context.Context, holder chain.Address) (chain.ChallengeSet, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	set := l.sets[min(l.reads, len(l.sets)-1)]
	l.reads++
	set.Epoch = l.epoch
	return set, nil
}

func (l *fakeLedger) Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held, nil
}

func (l *fakeLedger) Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error) {
	return chain.EpochOutcome{}, fmt.Errorf("%w: no outcome of epoch %d", chain.ErrNotFound, epoch)
}

func (l *fakeLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, body.(*chain.ProveStorage))
	if i := len(l.sent) - 1; i < len(l.verdicts) {
		return ledger.Result{}, l.verdicts[i]
	}
	return ledger.Result{}, nil
}

func (l *fakeLedger) sentTxs() []*chain.ProveStorage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*chain.ProveStorage(nil), l.sent...)
}

// countingPieces serves pieces from memory and counts the bytes read.
type countingPieces struct {
	mu    sync.Mutex
	data  map[chain.Hash][]byte
	read  int64
	opens int
}

type countingPiece struct {
	p *countingPieces
	r *bytes.Reader
}

func (c countingPiece) ReadAt(b []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(b, off)
	c.p.mu.Lock()
	c.p.read += int64(n)
	c.p.mu.Unlock()
	return n, err
}

func (c countingPiece) Close() error { return nil }

func (p *countingPieces) Open(ctx context.Context, id chain.Hash) (Piece, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.data[id]
	if !ok {
		return nil, fmt.Errorf("piece %s: %w", id, fs.ErrNotExist)
	}
	p.opens++
	return countingPiece{p, bytes.NewReader(b)}, nil
}

func (p *countingPieces) bytesRead() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.read
}

// fixture is a holder with pieces, their levels and the ledger's view.
type fixture struct {
	self   chain.Address
	lc     *fakeLedger
	pieces *countingPieces
	levels *LevelStore
	roots  map[chain.Hash]proofs.Hash
	ids    []chain.Hash
	sizes  map[chain.Hash]int64
}

// newFixture makes pieces of the given sizes, stores them with their levels,
// and an epoch-1 challenge set of 10 challenges over them.
func newFixture(t *testing.T, sizes ...int64) *fixture {
	t.Helper()
	ls, err := OpenLevelStore(filepath.Join(t.TempDir(), "levels"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		self: chain.Address{1}, lc: &fakeLedger{epoch: 1}, pieces: &countingPieces{data: map[chain.Hash][]byte{}},
		levels: ls, roots: map[chain.Hash]proofs.Hash{}, sizes: map[chain.Hash]int64{},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i, size := range sizes {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		b := proofs.NewLevelsBuilder()
		_, _ = b.Write(data)
		lv, err := b.Levels()
		if err != nil {
			t.Fatal(err)
		}
		id := chain.Hash(blockID(data))
		if err := ls.Put(id, lv); err != nil {
			t.Fatal(err)
		}
		f.pieces.data[id] = data
		f.roots[id] = b.Root()
		f.sizes[id] = size
		f.ids = append(f.ids, id)
		f.lc.held = append(f.lc.held, chain.HeldPiece{File: chain.Hash{9}, Piece: chain.Piece{
			Index: uint32(i), Holder: f.self, ID: id, Size: uint64(size), Root: chain.Hash(b.Root()), Leaves: proofs.LeafCount(size),
		}})
	}
	f.lc.sets = []chain.ChallengeSet{{Holder: f.self, Challenges: chain.Challenges(chain.Hash{7}, f.self, f.lc.held, chain.ChallengesPerEpoch)}}
	return f
}

func blockID(b []byte) [32]byte {
	return proofs.Root(b) // any distinct id will do
}

func (f *fixture) prover(levels Levels) *Prover {
	return New(f.self, f.lc, f.pieces, levels, Config{Logger: slog.New(slog.DiscardHandler)})
}

// checkTx checks that tx answers set with proofs that verify, except the
// challenges of pieces in empty, which must be answered empty.
func (f *fixture) checkTx(t *testing.T, tx *chain.ProveStorage, set chain.ChallengeSet, empty map[chain.Hash]bool) {
	t.Helper()
	if tx.Epoch != set.Epoch || tx.Challenges != chain.ChallengesHash(set.Challenges) || len(tx.Proofs) != len(set.Challenges) {
		t.Fatalf("tx epoch %d, challenges %s, %d proofs; want %d, %s, %d", tx.Epoch, tx.Challenges, len(tx.Proofs), set.Epoch, chain.ChallengesHash(set.Challenges), len(set.Challenges))
	}
	for i, c := range set.Challenges {
		if empty[c.Piece] {
			if len(tx.Proofs[i]) != 0 {
				t.Errorf("challenge %d (piece %s): want an empty answer", i, c.Piece)
			}
			continue
		}
		pr, err := proofs.DecodeProof(tx.Proofs[i])
		if err != nil {
			t.Fatalf("challenge %d: %v", i, err)
		}
		if pr.Index != c.Leaf {
			t.Errorf("challenge %d: proof of leaf %d, want %d", i, pr.Index, c.Leaf)
		}
		if err := proofs.Verify(f.roots[c.Piece], pr); err != nil {
			t.Errorf("challenge %d: %v", i, err)
		}
	}
}

func TestRoundProvesOncePerEpoch(t *testing.T) {
	f := newFixture(t, 300<<10+17, 1<<20, 5000)
	p := f.prover(f.levels)
	ctx := context.Background()
	for range 3 {
		if err := p.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sent := f.lc.sentTxs()
	if len(sent) != 1 {
		t.Fatalf("sent %d txs in epoch 1, want 1", len(sent))
	}
	f.checkTx(t, sent[0], chain.ChallengeSet{Epoch: 1, Challenges: f.lc.sets[0].Challenges}, nil)
	if e, ok := p.Answered(); !ok || e != 1 {
		t.Fatalf("Answered = %d, %v", e, ok)
	}
	f.lc.mu.Lock()
	f.lc.epoch = 2
	f.lc.mu.Unlock()
	for range 2 {
		if err := p.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if sent := f.lc.sentTxs(); len(sent) != 2 || sent[1].Epoch != 2 {
		t.Fatalf("after epoch 2: %d txs", len(sent))
	}
}

func TestRoundNoEpochNoChallenges(t *testing.T) {
	f := newFixture(t, 5000)
	f.lc.noEpoch = true
	p := f.prover(f.levels)
	if err := p.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.lc.noEpoch = false
	f.lc.sets = []chain.ChallengeSet{{Holder: f.self, Challenges: []chain.Challenge{}}}
	if err := p.Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(f.lc.sentTxs()); n != 0 {
		t.Fatalf("sent %d txs without challenges", n)
	}
	if e, ok := p.Answered(); !ok || e != 1 {
		t.Fatalf("Answered = %d, %v: an epoch without challenges is settled", e, ok)
	}
}

// With levels a challenge reads one 64 KiB chunk; without, whole pieces.
func TestRoundBytesRead(t *testing.T) {
	sizes := []int64{4 << 20, 1<<20 + 3}
	var total int64
	for _, s := range sizes {
		total += s
	}
	f := newFixture(t, sizes...)
	if err := f.prover(f.levels).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := int64(len(f.lc.sets[0].Challenges))
	if got, max := f.pieces.bytesRead(), n*proofs.SubtreeLeaves*proofs.LeafSize; got > max {
		t.Fatalf("with levels: read %d bytes for %d challenges, want ≤ %d (64 KiB each)", got, n, max)
	}
	t.Logf("with levels: %d bytes read for %d challenges over %d bytes held", f.pieces.bytesRead(), n, total)
	f.checkTx(t, f.lc.sentTxs()[0], chain.ChallengeSet{Epoch: 1, Challenges: f.lc.sets[0].Challenges}, nil)
}

func TestRoundFallsBackWithoutLevels(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fixture) Levels
	}{
		{"no level store", func(f *fixture) Levels { return nil }},
		{"levels missing", func(f *fixture) Levels {
			for _, id := range f.ids {
				_ = f.levels.Delete(id)
			}
			return f.levels
		}},
		{"levels of other pieces", func(f *fixture) Levels {
			a, _ := f.levels.Levels(f.ids[0])
			b, _ := f.levels.Levels(f.ids[1])
			_ = f.levels.Put(f.ids[0], b)
			_ = f.levels.Put(f.ids[1], a)
			return f.levels
		}},
		{"levels file corrupt", func(f *fixture) Levels {
			for _, id := range f.ids {
				_ = os.WriteFile(f.levels.path(id), []byte("garbage"), 0o600)
			}
			return f.levels
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 200<<10, 130<<10+1)
			lv := tc.setup(f)
			if err := f.prover(lv).Round(context.Background()); err != nil {
				t.Fatal(err)
			}
			sent := f.lc.sentTxs()
			if len(sent) != 1 {
				t.Fatalf("sent %d txs", len(sent))
			}
			f.checkTx(t, sent[0], chain.ChallengeSet{Epoch: 1, Challenges: f.lc.sets[0].Challenges}, nil)
			if n := int64(len(f.lc.sets[0].Challenges)); f.pieces.bytesRead() <= n*proofs.SubtreeLeaves*proofs.LeafSize {
				t.Fatalf("read %d bytes: expected whole pieces without levels", f.pieces.bytesRead())
			}
		})
	}
}

// A missing or corrupt piece is answered empty; the others are proved and
// the tx is sent.
func TestRoundAnswersWhatItCan(t *testing.T) {
	f := newFixture(t, 200<<10, 100<<10, 50<<10)
	delete(f.pieces.data, f.ids[0])    // lost
	f.pieces.data[f.ids[1]][5000] ^= 1 // corrupt
	_ = f.levels.Delete(f.ids[1])      // so the fallback reads the bad byte whatever leaf
	hit := map[chain.Hash]bool{}
	for _, c := range f.lc.sets[0].Challenges {
		hit[c.Piece] = true
	}
	if !hit[f.ids[0]] || !hit[f.ids[1]] || !hit[f.ids[2]] {
		t.Fatal("the challenges miss a piece: pick other sizes")
	}
	if err := f.prover(f.levels).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := f.lc.sentTxs()
	if len(sent) != 1 {
		t.Fatalf("sent %d txs", len(sent))
	}
	f.checkTx(t, sent[0], chain.ChallengeSet{Epoch: 1, Challenges: f.lc.sets[0].Challenges}, map[chain.Hash]bool{f.ids[0]: true, f.ids[1]: true})
}

func stale() error {
	return &ledger.RejectedError{Code: chain.CodeStaleChallenges, Log: "stale challenges", Height: 3}
}

func staleInCheckTx() error {
	return &ledger.RejectedError{Code: chain.CodeStaleChallenges, Log: "stale challenges"}
}

func TestRoundRetriesOnStale(t *testing.T) {
	t.Run("fresh challenges accepted", func(t *testing.T) {
		f := newFixture(t, 200<<10, 70<<10)
		fresh := chain.Challenges(chain.Hash{8}, f.self, f.lc.held[:1], chain.ChallengesPerEpoch)
		f.lc.sets = append(f.lc.sets, chain.ChallengeSet{Holder: f.self, Challenges: fresh})
		f.lc.verdicts = []error{stale()}
		p := f.prover(f.levels)
		if err := p.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent := f.lc.sentTxs()
		if len(sent) != 2 {
			t.Fatalf("sent %d txs, want 2", len(sent))
		}
		f.checkTx(t, sent[1], chain.ChallengeSet{Epoch: 1, Challenges: fresh}, nil)
		if err := p.Round(context.Background()); err != nil || len(f.lc.sentTxs()) != 2 {
			t.Fatalf("proved epoch 1 again: %v, %d txs", err, len(f.lc.sentTxs()))
		}
	})
	// Pieces placed on the holder in several blocks in a row: each proof
	// is stale, the one after them is accepted.
	t.Run("stale until the placements stop", func(t *testing.T) {
		f := newFixture(t, 70<<10)
		for range MaxStaleRetries {
			f.lc.verdicts = append(f.lc.verdicts, stale())
		}
		p := f.prover(f.levels)
		if err := p.Round(context.Background()); err != nil {
			t.Fatalf("Round = %v after %d stale refusals, want the next proof accepted", err, MaxStaleRetries)
		}
		if n := len(f.lc.sentTxs()); n != MaxStaleRetries+1 {
			t.Fatalf("sent %d txs, want %d", n, MaxStaleRetries+1)
		}
		if ep, ok := p.Answered(); !ok || ep != 1 {
			t.Fatalf("answered %d %v, want epoch 1", ep, ok)
		}
	})
	// Refused in CheckTx (no block height): the placement that made the
	// proof stale waits in the mempool, so the challenges read at once
	// are the same ones. The Round leaves the epoch open and the next one
	// proves fresh challenges.
	t.Run("stale in CheckTx retried at the next round", func(t *testing.T) {
		f := newFixture(t, 200<<10, 70<<10)
		fresh := chain.Challenges(chain.Hash{8}, f.self, f.lc.held[:1], chain.ChallengesPerEpoch)
		f.lc.sets = append(f.lc.sets, chain.ChallengeSet{Holder: f.self, Challenges: fresh})
		f.lc.verdicts = []error{staleInCheckTx()}
		p := f.prover(f.levels)
		if err := p.Round(context.Background()); err != nil {
			t.Fatalf("Round = %v, want the epoch left open for the next round", err)
		}
		if n := len(f.lc.sentTxs()); n != 1 {
			t.Fatalf("sent %d txs in the first round, want 1 (no retry against the same state)", n)
		}
		if _, ok := p.Answered(); ok {
			t.Fatal("a proof refused as stale in CheckTx settled the epoch")
		}
		if err := p.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		sent := f.lc.sentTxs()
		if len(sent) != 2 {
			t.Fatalf("sent %d txs, want 2", len(sent))
		}
		f.checkTx(t, sent[1], chain.ChallengeSet{Epoch: 1, Challenges: fresh}, nil)
		if ep, ok := p.Answered(); !ok || ep != 1 {
			t.Fatalf("answered %d %v, want epoch 1", ep, ok)
		}
	})
	t.Run("stale past the bound", func(t *testing.T) {
		f := newFixture(t, 70<<10)
		for range MaxStaleRetries + 1 {
			f.lc.verdicts = append(f.lc.verdicts, stale())
		}
		p := f.prover(f.levels)
		err := p.Round(context.Background())
		if !errors.Is(err, chain.ErrStaleChallenges) {
			t.Fatalf("Round = %v, want the stale rejection", err)
		}
		if n := len(f.lc.sentTxs()); n != MaxStaleRetries+1 {
			t.Fatalf("sent %d txs, want %d (%d retries)", n, MaxStaleRetries+1, MaxStaleRetries)
		}
		_ = p.Round(context.Background())
		if n := len(f.lc.sentTxs()); n != MaxStaleRetries+1 {
			t.Fatalf("sent %d txs after a settled epoch, want %d", n, MaxStaleRetries+1)
		}
	})
}

// A rejection settles the epoch; a failure to reach the ledger does not.
func TestRoundRejectedAndUnreachable(t *testing.T) {
	f := newFixture(t, 70<<10)
	f.lc.verdicts = []error{errors.New("connection refused"), &ledger.RejectedError{Code: chain.CodeUnknownType, Log: "unknown tx type"}}
	p := f.prover(f.levels)
	ctx := context.Background()
	if err := p.Round(ctx); err == nil {
		t.Fatal("Round succeeded on an unreachable ledger")
	}
	if _, ok := p.Answered(); ok {
		t.Fatal("an unreachable ledger settled the epoch")
	}
	if err := p.Round(ctx); !errors.Is(err, chain.ErrUnknownType) {
		t.Fatalf("Round = %v, want the unknown-type rejection", err)
	}
	_ = p.Round(ctx)
	if n := len(f.lc.sentTxs()); n != 2 {
		t.Fatalf("sent %d txs, want 2", n)
	}
}

func TestLoopTicksAndStops(t *testing.T) {
	f := newFixture(t, 70<<10)
	ticks := make(chan time.Time)
	stopped := make(chan struct{})
	p := New(f.self, f.lc, f.pieces, f.levels, Config{
		Interval: time.Hour,
		NewTicker: func(d time.Duration) (<-chan time.Time, func()) {
			if d != time.Hour {
				t.Errorf("ticker interval %v, want the configured hour", d)
			}
			return ticks, func() { close(stopped) }
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Loop(ctx)
	}()
	for range 3 {
		ticks <- time.Time{} // each send waits for the loop to take it
	}
	ticks <- time.Time{} // the third Round has finished once this is taken
	if n := len(f.lc.sentTxs()); n != 1 {
		t.Fatalf("sent %d txs over 4 ticks of one epoch, want 1", n)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Loop did not return after cancel")
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Loop did not stop its ticker")
	}
	for i := 0; runtime.NumGoroutine() > before; i++ {
		if i == 100 {
			t.Fatalf("%d goroutines after Loop returned, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLevelStore(t *testing.T) {
	ls, err := OpenLevelStore(filepath.Join(t.TempDir(), "levels"))
	if err != nil {
		t.Fatal(err)
	}
	b := proofs.NewLevelsBuilder()
	_, _ = b.Write(bytes.Repeat([]byte{3}, 1<<20))
	lv, _ := b.Levels()
	id := chain.Hash{4}
	if _, err := ls.Levels(id); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Levels of nothing = %v, want fs.ErrNotExist", err)
	}
	if err := ls.Put(id, lv); err != nil {
		t.Fatal(err)
	}
	got, err := ls.Levels(id)
	if err != nil || got.Check(b.Root()) != nil {
		t.Fatalf("Levels = %v, %v", got, err)
	}
	if fi, _ := os.Stat(ls.path(id)); fi.Size() != proofs.LevelsSize(1<<20) {
		t.Fatalf("levels file is %d bytes, want %d", fi.Size(), proofs.LevelsSize(1<<20))
	}
	if err := ls.Delete(id); err != nil {
		t.Fatal(err)
	}
	if err := ls.Delete(id); err != nil {
		t.Fatalf("deleting absent levels: %v", err)
	}
	if _, err := ls.Levels(id); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Levels after Delete = %v", err)
	}
	if left, _ := os.ReadDir(ls.dir); len(left) != 0 {
		t.Fatalf("files left: %v", left)
	}
}

// A challenge of a piece the held list no longer names (removed between
// the two reads) is answered empty: the ledger will find the set stale.
func TestRoundPieceNotInHeldList(t *testing.T) {
	f := newFixture(t, 200<<10, 100<<10)
	gone := f.lc.held[0].Piece.ID
	f.lc.held = f.lc.held[1:]
	if err := f.prover(f.levels).Round(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := f.lc.sentTxs()
	if len(sent) != 1 {
		t.Fatalf("sent %d txs", len(sent))
	}
	f.checkTx(t, sent[0], chain.ChallengeSet{Epoch: 1, Challenges: f.lc.sets[0].Challenges}, map[chain.Hash]bool{gone: true})
}
