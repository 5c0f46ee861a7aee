package chain

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
)

// BenchmarkPlaceFilesPerFile measures what placing small files costs the
// ledger per file: 20 files of one segment at k=4 m=2 (six 1 KiB pieces on
// six holders, six receipts each) as 20 place_file txs, against the same
// 20 as one place_files, alternating in each iteration. It reports CheckTx
// and the block (FinalizeBlock + Commit) per file for each and x-single:
// the single txs' CheckTx + block time per file over the batch's.
func BenchmarkPlaceFilesPerFile(b *testing.B) {
	const files = 20
	owner := testKey(0)
	keys := make([]ed25519.PrivateKey, 6)
	for i := range keys {
		keys[i] = testKey(100 + i)
	}
	g := testGenesis(owner)
	g.Params.Allowance = 1 << 50
	l := newTestLedgerGenesis(b, "", g)
	var reg [][]byte
	for _, k := range keys {
		reg = append(reg, l.sign(k, registerBody(b, k, 1<<40)))
	}
	if r := l.block(reg...); r[0].Code != 0 {
		b.Fatal(r[0].Log)
	}
	next := uint32(0)
	placement := func() *PlaceFile {
		next++
		pf := &PlaceFile{FileID: Hash{byte(next >> 24), byte(next >> 16), byte(next >> 8), byte(next), 2}, Size: 4 << 10, K: 4, M: 2}
		for j, k := range keys {
			pf.Pieces = append(pf.Pieces, piece(0, uint32(j), addrOf(k), 1<<10))
		}
		signReceipts(pf, addrOf(owner), l.height+50)
		return pf
	}
	ctx := context.Background()
	run := func(txs [][]byte) (check, block time.Duration) {
		start := time.Now()
		for _, tx := range txs {
			if res, err := l.app.CheckTx(ctx, &abci.CheckTxRequest{Tx: tx, Type: abci.CHECK_TX_TYPE_CHECK}); err != nil || res.Code != 0 {
				b.Fatalf("CheckTx: %v %s", err, res.Log)
			}
		}
		check = time.Since(start)
		start = time.Now()
		for _, r := range l.block(txs...) {
			if r.Code != 0 {
				b.Fatal(r.Log)
			}
		}
		return check, time.Since(start)
	}
	var sc, sb, bc, bb time.Duration
	var singleBytes, batchBytes int
	for b.Loop() {
		b.StopTimer()
		var singles [][]byte
		batch := &PlaceFiles{}
		for range files {
			singles = append(singles, l.sign(owner, placement()))
			batch.Files = append(batch.Files, *placement())
		}
		one := l.sign(owner, batch)
		singleBytes, batchBytes = 0, len(one)
		for _, tx := range singles {
			singleBytes += len(tx)
		}
		b.StartTimer()
		c, k := run(singles)
		sc, sb = sc+c, sb+k
		c, k = run([][]byte{one})
		bc, bb = bc+c, bb+k
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(b.N*files) }
	b.ReportMetric(per(sc), "single-check-µs/file")
	b.ReportMetric(per(sb), "single-block-µs/file")
	b.ReportMetric(per(bc), "batch-check-µs/file")
	b.ReportMetric(per(bb), "batch-block-µs/file")
	b.ReportMetric(float64(sc+sb)/float64(bc+bb), "x-single")
	b.ReportMetric(float64(singleBytes)/files, "single-bytes/file")
	b.ReportMetric(float64(batchBytes)/files, "batch-bytes/file")
}
