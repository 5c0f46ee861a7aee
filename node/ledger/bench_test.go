package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/mempool"

	"github.com/coop-network/coop/chain"
)

// BenchmarkCommittedTransfers measures sustained committed Transfer tx/s on
// a loopback devnet of in-process validators with 400 ms block time (blocks
// well under 1 s apart): pre-signed transfers from 128 accounts are
// submitted to all validators' mempools at once, and the clock stops when
// the last one is in a committed block. The baseline, measured in the same
// run, is the same txs applied to a bare chain.App (CheckTx, then
// FinalizeBlock+Commit in blocks of 1000) without consensus or networking.
func BenchmarkCommittedTransfers(b *testing.B) {
	for _, vals := range []int{1, 4} {
		b.Run(fmt.Sprintf("validators=%d", vals), func(b *testing.B) {
			benchCommitted(b, vals, 20000)
		})
	}
}

func benchCommitted(b *testing.B, vals, perOp int) {
	const accounts = 128
	dc := TestNetConfig(b, vals)
	dc.BlockTime = 400 * time.Millisecond
	keys := make([]ed25519.PrivateKey, accounts)
	for i := range keys {
		keys[i] = testAccountKey(i)
		dc.ExtraAccounts = append(dc.ExtraAccounts, chain.GenesisAccount{Address: AddressOf(keys[i]), Credits: 1 << 40})
	}
	total := perOp * b.N
	// txs[a] are account a's transfers in nonce order.
	txs := make([][][]byte, accounts)
	for n := range total {
		a := n % accounts
		tx, err := chain.NewTx(dc.ChainID, &chain.Transfer{To: AddressOf(keys[(a+1)%accounts]), Amount: 1}, keys[a], uint64(len(txs[a])))
		if err != nil {
			b.Fatal(err)
		}
		txs[a] = append(txs[a], tx.Bytes())
	}
	base := baselineTxPerSec(b, dc, txs)

	tn := StartTestNet(b, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	startHeight := tn.Height(0)
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, accounts)
	for a := range accounts {
		rpc := tn.Nodes[a%vals].rpcLocal()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, tx := range txs[a] {
				for {
					res, err := rpc.BroadcastTxSync(ctx, tx)
					if err == nil && res.Code == 0 {
						break
					}
					var full mempool.ErrMempoolIsFull
					if err != nil && (errors.As(err, &full) || errors.Is(err, mempool.ErrRecheckFull) || strings.Contains(err.Error(), "full")) {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					if err == nil {
						err = fmt.Errorf("code %d: %s", res.Code, res.Log)
					}
					errs <- err
					return
				}
			}
		}()
	}
	// Count committed txs block by block on node 0.
	committed, h := 0, startHeight
	bs := tn.Nodes[0].Comet().BlockStore()
	for committed < total {
		if bs.Height() > h {
			h++
			blk, _ := bs.LoadBlock(h)
			committed += len(blk.Data.Txs)
			continue
		}
		select {
		case err := <-errs:
			b.Fatal(err)
		case <-ctx.Done():
			b.Fatalf("only %d of %d txs committed", committed, total)
		case <-time.After(5 * time.Millisecond):
		}
	}
	b.StopTimer()
	wg.Wait()
	tps := float64(total) / b.Elapsed().Seconds()
	b.ReportMetric(tps, "tx/s")
	b.ReportMetric(tps/base, "x-baseline")
	b.ReportMetric(float64(h-startHeight), "blocks")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(h-startHeight), "ms/block")
}

// baselineTxPerSec applies the txs to a bare in-memory app: CheckTx each,
// then blocks of 1000.
func baselineTxPerSec(b *testing.B, dc DevnetConfig, txs [][][]byte) float64 {
	g := dc.Genesis
	g.Accounts = dc.ExtraAccounts
	st, err := jsonMarshal(g)
	if err != nil {
		b.Fatal(err)
	}
	app, err := chain.Open(chain.Config{CacheSize: 100_000, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	if _, err := app.InitChain(ctx, &abci.InitChainRequest{ChainId: dc.ChainID, AppStateBytes: st, InitialHeight: 1}); err != nil {
		b.Fatal(err)
	}
	var flat [][]byte
	for i := 0; ; i++ {
		added := false
		for a := range txs {
			if i < len(txs[a]) {
				flat = append(flat, txs[a][i])
				added = true
			}
		}
		if !added {
			break
		}
	}
	start := time.Now()
	h := int64(0)
	for len(flat) > 0 {
		n := min(1000, len(flat))
		blk := flat[:n]
		flat = flat[n:]
		for _, tx := range blk {
			if r, _ := app.CheckTx(ctx, &abci.CheckTxRequest{Tx: tx}); r.Code != 0 {
				b.Fatal(r.Log)
			}
		}
		h++
		if _, err := app.FinalizeBlock(ctx, &abci.FinalizeBlockRequest{Height: h, Hash: []byte{byte(h)}, Txs: blk}); err != nil {
			b.Fatal(err)
		}
		if _, err := app.Commit(ctx, &abci.CommitRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	total := 0
	for _, t := range txs {
		total += len(t)
	}
	return float64(total) / time.Since(start).Seconds()
}
