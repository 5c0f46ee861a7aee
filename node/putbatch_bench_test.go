package node

import (
	"context"
	"io"
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
// files), 12 at a time ($COOP_BENCH_SMALL_INFLIGHT: more than 16 at once
// exceed a holder's per-peer stream limit, exchange.Config.
// MaxStreamsPerPeer, and pushes come back busy), from one node of a
// 6-node devnet at k=4 m=2, with
// the devnet's 0.4 s pause after each block ($COOP_BENCH_BLOCK_MS to
// change), once with every put sending its own place_file (PutBatch 1:
// the baseline, as before batching) and once batched, alternating in
// each iteration of the same run. It reports each round's wall time and
// committed placement txs, and x-single: the batched round's put rate
// over the single one's.
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
	round := func(batch int) (time.Duration, int) {
		a.cfg.PutBatch = batch // no put runs between rounds
		h0 := height()
		start := time.Now()
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
		d := time.Since(start)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		txs := placeTxs(b, net, a.addr, h0, height())
		n := 0
		for _, e := range txs {
			n += e
		}
		if n != puts {
			b.Fatalf("%d placements committed for %d puts", n, puts)
		}
		return d, len(txs)
	}
	var single, batched []time.Duration
	var singleTxs, batchedTxs []int
	for b.Loop() {
		d, n := round(1)
		single, singleTxs = append(single, d), append(singleTxs, n)
		d, n = round(0)
		batched, batchedTxs = append(batched, d), append(batchedTxs, n)
	}
	for i := range single {
		b.Logf("iteration %d: single %v in %d txs, batched %v in %d txs (%.2f×)", i, single[i].Round(time.Millisecond), singleTxs[i],
			batched[i].Round(time.Millisecond), batchedTxs[i], single[i].Seconds()/batched[i].Seconds())
	}
	best := func(ds []time.Duration) time.Duration { return slices.Min(ds) }
	b.ReportMetric(best(single).Seconds(), "single-s")
	b.ReportMetric(best(batched).Seconds(), "batched-s")
	b.ReportMetric(best(single).Seconds()/best(batched).Seconds(), "x-single")
	b.ReportMetric(float64(slices.Min(singleTxs)), "single-txs")
	b.ReportMetric(float64(slices.Max(batchedTxs)), "batched-txs")
}
