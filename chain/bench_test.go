package chain

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
)

// BenchmarkCheckTx measures the whole CheckTx path for Transfers from many
// accounts (decode, signature, nonce, rule, mempool-view write), reporting
// µs/tx and the ratio to a bare ed25519 verification of the same sign bytes
// measured in the same run.
func BenchmarkCheckTx(b *testing.B) {
	b.Run("transfer", func(b *testing.B) {
		const accounts = 256
		keys := make([]ed25519.PrivateKey, accounts)
		for i := range keys {
			keys[i] = testKey(i)
		}
		l := newTestLedgerGenesis(b, "", testGenesis(keys...))
		txs := make([][]byte, b.N)
		for i := range txs {
			txs[i] = l.sign(keys[i%accounts], &Transfer{To: addrOf(keys[(i+1)%accounts]), Amount: 1})
		}
		// Baseline: ed25519 verification alone.
		one, _ := DecodeTx(txs[0])
		msg := one.SignBytes()
		// Measured before and after the run and averaged, so a burst of
		// load from elsewhere skews both sides alike.
		const baseN = 2000
		verifyTime := func() time.Duration {
			start := time.Now()
			for range baseN {
				ed25519.Verify(one.PubKey, msg, one.Sig)
			}
			return time.Since(start) / baseN
		}
		base := verifyTime()

		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			res, err := l.app.CheckTx(ctx, &abci.CheckTxRequest{Tx: txs[i], Type: abci.CHECK_TX_TYPE_CHECK})
			if err != nil || res.Code != 0 {
				b.Fatalf("tx %d: %v %s", i, err, res.Log)
			}
		}
		b.StopTimer()
		base = (base + verifyTime()) / 2
		per := b.Elapsed() / time.Duration(b.N)
		b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/tx")
		b.ReportMetric(float64(per)/float64(base), "x-baseline")
	})
}

// BenchmarkFinalizeBlock measures applying blocks of 1000 Transfers whose
// signatures CheckTx already verified (the usual case), with Commit.
func BenchmarkFinalizeBlock(b *testing.B) {
	b.Run("transfer/1000tx", func(b *testing.B) {
		const accounts, perBlock = 256, 1000
		keys := make([]ed25519.PrivateKey, accounts)
		for i := range keys {
			keys[i] = testKey(i)
		}
		l := newTestLedgerGenesis(b, "", testGenesis(keys...))
		blocks := make([][][]byte, b.N)
		n := 0
		for i := range blocks {
			for range perBlock {
				tx := l.sign(keys[n%accounts], &Transfer{To: addrOf(keys[(n+1)%accounts]), Amount: 1})
				n++
				if r := l.check(tx); r.Code != 0 {
					b.Fatal(r.Log)
				}
				blocks[i] = append(blocks[i], tx)
			}
		}
		b.ResetTimer()
		for i := range b.N {
			res := l.block(blocks[i]...)
			if res[perBlock-1].Code != 0 {
				b.Fatal(res[perBlock-1].Log)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*perBlock)/b.Elapsed().Seconds(), "tx/s")
	})
}

// BenchmarkPlaceFileReceipts measures CheckTx of PlaceFile txs of 30
// pieces of 64 KiB (k=10, m=5, two segments; k=1 with one holder) on n
// distinct holders, each with its receipt. It reports µs/tx, the same in
// units of one crypto/ed25519 verification measured in the same run
// (x-verify: a tx with n receipts needs n+1 verifications), the tx size,
// and the cost of the same txs in blocks of 200 with Commit, after CheckTx
// verified their signatures (FinalizeBlock skips them).
func BenchmarkPlaceFileReceipts(b *testing.B) {
	for _, holders := range []int{1, 15} {
		b.Run(fmt.Sprintf("holders=%d/pieces=30", holders), func(b *testing.B) {
			owner := testKey(0)
			keys := make([]ed25519.PrivateKey, holders)
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
			txs := make([][]byte, b.N)
			for i := range txs {
				pf := &PlaceFile{FileID: Hash{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 1}, Size: 1 << 20, K: 10, M: 5}
				for j := range 30 {
					h := addrOf(keys[j%holders])
					if holders == 1 {
						pf.K, pf.M = 1, 0
					}
					n := uint32(pf.K + pf.M)
					pf.Pieces = append(pf.Pieces, piece(uint32(j)/n, uint32(j)%n, h, 1<<16))
				}
				signReceipts(pf, addrOf(owner), l.height+50)
				txs[i] = l.sign(owner, pf)
			}
			one, _ := DecodeTx(txs[0])
			msg := one.SignBytes()
			verifyTime := func() time.Duration {
				start := time.Now()
				for range 500 {
					ed25519.Verify(one.PubKey, msg, one.Sig)
				}
				return time.Since(start) / 500
			}
			base := verifyTime()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				res, err := l.app.CheckTx(ctx, &abci.CheckTxRequest{Tx: txs[i], Type: abci.CHECK_TX_TYPE_CHECK})
				if err != nil || res.Code != 0 {
					b.Fatalf("tx %d: %v %s", i, err, res.Log)
				}
			}
			b.StopTimer()
			base = (base + verifyTime()) / 2
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/tx")
			b.ReportMetric(float64(per)/float64(base), "x-verify")
			b.ReportMetric(float64(len(txs[0])), "tx-bytes")
			start := time.Now()
			for i := 0; i < b.N; i += 200 {
				if r := l.block(txs[i:min(i+200, b.N)]...); r[0].Code != 0 {
					b.Fatal(r[0].Log)
				}
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/1e3/float64(b.N), "µs/tx-in-block")
		})
	}
}
