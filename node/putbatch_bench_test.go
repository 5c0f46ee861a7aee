package node

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// BenchmarkSmallPuts puts 100 files of 4 KiB ($COOP_BENCH_SMALL_PUTS
// files), 12 at a time ($COOP_BENCH_SMALL_INFLIGHT), from one node of a
// 6-node devnet at k=4 m=2, with
// the devnet's 0.4 s pause after each block ($COOP_BENCH_BLOCK_MS to
// change), once with every put sending its own place_file (PutBatch 1:
// the baseline, as before batching) and once batched, alternating in
// each iteration of the same run. It reports each round's wall time and
// committed placement txs (mean over iterations), the mean ledger wait of a
// put (batch queue included) and x-single: the batched round's put rate
// over the single one's (best rounds), cpu-x-single: the single round's
// CPU time (the whole process: the uploader, the holders and the six
// validators) over the batched one's (least of each).
func BenchmarkSmallPuts(b *testing.B) {
	const size = 4 << 10
	puts, inflight := 100, 12
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_SMALL_PUTS")); err == nil && v > 0 {
		puts = v
	}
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_SMALL_INFLIGHT")); err == nil && v > 0 {
		inflight = v
	}
	dc := ledger.TestNetConfig(b, 6)
	dc.BlockTime = 400 * time.Millisecond
	if v, err := strconv.Atoi(os.Getenv("COOP_BENCH_BLOCK_MS")); err == nil && v > 0 {
		dc.BlockTime = time.Duration(v) * time.Millisecond
	}
	dc.Genesis.Params.Allowance = 1 << 40
	waits := &ledgerWaits{}
	prev := slog.Default()
	slog.SetDefault(slog.New(waits))
	defer slog.SetDefault(prev)
	net := StartTestNetworkWith(b, dc, benchConfig)
	a := net.Nodes[0]
	ctx := context.Background()
	height := func() int64 {
		h, _, err := a.lc.Height(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	seed := byte(0)
	round := func(batch int) (time.Duration, int, time.Duration, time.Duration) {
		a.cfg.PutBatch = batch // no put runs between rounds
		h0 := height()
		waits.reset()
		start, cpu := time.Now(), cpuTime(b)
		var wg sync.WaitGroup
		errs := make([]error, puts)
		sem := make(chan struct{}, inflight)
		for i := range puts {
			seed++
			r := io.LimitReader(newData(seed), size)
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				_, errs[i] = a.Put(ctx, r, size, api.PutOptions{K: 4, M: 2})
			}()
		}
		wg.Wait()
		d, cpu := time.Since(start), cpuTime(b)-cpu
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		txs := placeTxs(b, net, a.addr, h0)
		n := 0
		for _, e := range txs {
			n += e
		}
		if n != puts {
			b.Fatalf("%d placements committed for %d puts", n, puts)
		}
		return d, len(txs), cpu, waits.mean()
	}
	type result struct {
		wall, cpu, wait time.Duration
		txs             int
	}
	var single, batched []result
	for b.Loop() {
		d, n, cpu, w := round(1)
		single = append(single, result{d, cpu, w, n})
		d, n, cpu, w = round(0)
		batched = append(batched, result{d, cpu, w, n})
	}
	for i := range single {
		s, t := single[i], batched[i]
		b.Logf("iteration %d: single %v (CPU %v, ledger wait %v a put) in %d txs; batched %v (CPU %v, ledger wait %v a put) in %d txs; wall %.2f×, CPU %.2f×",
			i, s.wall.Round(time.Millisecond), s.cpu.Round(time.Millisecond), s.wait.Round(time.Millisecond), s.txs,
			t.wall.Round(time.Millisecond), t.cpu.Round(time.Millisecond), t.wait.Round(time.Millisecond), t.txs,
			s.wall.Seconds()/t.wall.Seconds(), s.cpu.Seconds()/t.cpu.Seconds())
	}
	pick := func(rs []result, f func(result) time.Duration) (out []time.Duration) {
		for _, r := range rs {
			out = append(out, f(r))
		}
		return out
	}
	wall := func(r result) time.Duration { return r.wall }
	cpus := func(r result) time.Duration { return r.cpu }
	b.ReportMetric(slices.Min(pick(single, cpus)).Seconds()/slices.Min(pick(batched, cpus)).Seconds(), "cpu-x-single")
	b.ReportMetric(float64(slices.Max(pick(batched, func(r result) time.Duration { return r.wait }))/time.Millisecond), "batched-wait-ms")
	b.ReportMetric(float64(slices.Max(pick(single, func(r result) time.Duration { return r.wait }))/time.Millisecond), "single-wait-ms")
	singleTxs, batchedTxs := 0, 0
	for i := range single {
		singleTxs += single[i].txs
		batchedTxs += batched[i].txs
	}
	bs, bb := slices.Min(pick(single, wall)), slices.Min(pick(batched, wall))
	b.ReportMetric(bs.Seconds(), "single-s")
	b.ReportMetric(bb.Seconds(), "batched-s")
	b.ReportMetric(bs.Seconds()/bb.Seconds(), "x-single")
	b.ReportMetric(float64(singleTxs)/float64(len(single)), "single-txs")
	b.ReportMetric(float64(batchedTxs)/float64(len(batched)), "batched-txs")
}

// ledgerWaits sums the ledger stage of each put the nodes log ("file
// placed": ledger, the wait for the placement's tx to commit, batch queue
// included).
type ledgerWaits struct {
	mu  sync.Mutex
	sum time.Duration
	n   int
}

func (h *ledgerWaits) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *ledgerWaits) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "file placed" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "ledger" && a.Value.Kind() == slog.KindDuration {
			h.mu.Lock()
			h.sum += a.Value.Duration()
			h.n++
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *ledgerWaits) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *ledgerWaits) WithGroup(string) slog.Handler      { return h }

func (h *ledgerWaits) reset() {
	h.mu.Lock()
	h.sum, h.n = 0, 0
	h.mu.Unlock()
}

// mean is the mean ledger wait of the puts since reset.
func (h *ledgerWaits) mean() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}
