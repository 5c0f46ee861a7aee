package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// BenchmarkCommittedTransfers measures committed Transfer tx/s on a
// loopback devnet of in-process validators configured as `coop devnet`
// configures them (400 ms block time), with pre-signed transfers from 128
// accounts spread over the validators' mempools through their in-process
// RPC. Two loads:
//
//   - rate=N: a steady N tx/s, which is what "sustained" means: the chain has
//     to keep up with an offered load without its blocks drifting apart;
//   - burst: everything submitted at once, the saturated capacity.
//
// The clock stops when the last tx is in a committed block. Besides tx/s it
// reports the block interval (consensus header times) of the blocks made
// under load: mean, p95 and max in seconds. The baseline, measured in the
// same run, is the same txs applied to a bare chain.App (CheckTx, then
// FinalizeBlock+Commit in blocks of 1000) without consensus or networking.
func BenchmarkCommittedTransfers(b *testing.B) {
	for _, vals := range []int{1, 4} {
		b.Run(fmt.Sprintf("validators=%d/rate=1200", vals), func(b *testing.B) {
			benchCommitted(b, vals, 1200, 18000)
		})
		b.Run(fmt.Sprintf("validators=%d/burst", vals), func(b *testing.B) {
			benchCommitted(b, vals, 0, 20000)
		})
	}
}

// benchCommitted submits perOp×b.N transfers at rate tx/s (0: all at once)
// and waits for all of them to commit.
func benchCommitted(b *testing.B, vals, rate, perOp int) {
	const accounts = 128
	dc := TestNetConfig(b, vals)
	dc.BlockTime = DefaultDevnetConfig().BlockTime
	keys := make([]ed25519.PrivateKey, accounts)
	for i := range keys {
		keys[i] = testAccountKey(i)
		dc.ExtraAccounts = append(dc.ExtraAccounts, chain.GenesisAccount{Address: AddressOf(keys[i]), Credits: 1 << 40})
	}
	total := perOp * b.N
	// Signed before the clock starts, so signing does not compete with the
	// validators for the cores. txs[a] are account a's transfers in nonce
	// order; byNode[v] is what validator v gets, in submission order
	// (round-robin over accounts, so each account's nonces stay in order).
	txs := make([][][]byte, accounts)
	byNode := make([][][]byte, vals)
	for n := range total {
		a := n % accounts
		tx, err := chain.NewTx(dc.ChainID, &chain.Transfer{To: AddressOf(keys[(a+1)%accounts]), Amount: 1}, keys[a], uint64(len(txs[a])))
		if err != nil {
			b.Fatal(err)
		}
		txs[a] = append(txs[a], tx.Bytes())
		byNode[a%vals] = append(byNode[a%vals], tx.Bytes())
	}
	base := baselineTxPerSec(b, dc, txs)

	tn := StartTestNet(b, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	startHeight := tn.Height(0)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, vals)
	for v := range vals {
		rpc := tn.Nodes[v].rpcLocal()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Node v's k-th tx is due at start + k·vals/rate: the nodes
			// together take rate tx/s. A sender that falls behind catches
			// up without sleeping.
			var gap time.Duration
			if rate > 0 {
				gap = time.Duration(vals) * time.Second / time.Duration(rate)
			}
			for k, tx := range byNode[v] {
				if d := time.Until(start.Add(time.Duration(k) * gap)); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				if err := submit(ctx, rpc, tx); err != nil {
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
	cancel()
	wg.Wait()
	// Intervals between blocks that both came after the load started.
	var gaps []float64
	prev := bs.LoadBlockMeta(startHeight + 1).Header.Time
	for hh := startHeight + 2; hh <= h; hh++ {
		t := bs.LoadBlockMeta(hh).Header.Time
		gaps = append(gaps, t.Sub(prev).Seconds())
		prev = t
	}
	tps := float64(total) / b.Elapsed().Seconds()
	b.ReportMetric(tps, "tx/s")
	b.ReportMetric(tps/base, "x-baseline")
	b.ReportMetric(float64(h-startHeight), "blocks")
	mean, p95, most := intervalStats(gaps)
	b.ReportMetric(mean, "s/block-mean")
	b.ReportMetric(p95, "s/block-p95")
	b.ReportMetric(most, "s/block-max")
}

// submit hands tx to a node's mempool, waiting while the mempool is full.
func submit(ctx context.Context, rpc *rpclocal.Local, tx cmttypes.Tx) error {
	for {
		res, err := rpc.BroadcastTxSync(ctx, tx)
		if err == nil && res.Code == 0 {
			return nil
		}
		if _, verr := broadcastVerdict(err, tx.Hash()); err != nil && errors.Is(verr, errMempoolFull) {
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err == nil {
			err = fmt.Errorf("code %d: %s", res.Code, res.Log)
		}
		return err
	}
}

// intervalStats returns the mean, 95th percentile (nearest rank) and
// maximum of xs, zeros for none.
func intervalStats(xs []float64) (mean, p95, most float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	for _, x := range s {
		mean += x
	}
	mean /= float64(len(s))
	rank := int(math.Ceil(0.95*float64(len(s)))) - 1
	return mean, s[rank], s[len(s)-1]
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

// BenchmarkBroadcastCommit measures the latency of one account's
// BroadcastCommit, one tx at a time, on a single in-process validator with
// 100 ms (TestNetConfig) and 400 ms (`coop init`) blocks: from signing to
// knowing the tx committed, over the in-process client and over HTTP.
//
// On a shared 2-core machine (40 commits, 2 runs each) the former 100 ms
// poll of the tx index and the block events measured the same within the
// noise: 115–146 vs 127–135 ms at 100 ms blocks, 414–419 vs 417–424 ms at
// 400 ms. The block interval is the latency; a client that sends its next
// tx right after learning of a commit keeps in step with the blocks, and a
// 100 ms poll then hits them as well as an event. What the events save is
// the polling: a waiter made 10 index look-ups a second; now a Client
// reads each block once for all its waiters, and a waiter looks in the
// index once every 2 s.
func BenchmarkBroadcastCommit(b *testing.B) {
	for _, block := range []time.Duration{100 * time.Millisecond, 400 * time.Millisecond} {
		b.Run(fmt.Sprintf("block=%v", block), func(b *testing.B) {
			dc := TestNetConfig(b, 1)
			dc.BlockTime = block
			tn := StartTestNet(b, dc)
			for _, transport := range []string{"local", "http"} {
				b.Run(transport, func(b *testing.B) { benchBroadcastCommit(b, tn, transport) })
			}
		})
	}
}

func benchBroadcastCommit(b *testing.B, tn *TestNet, transport string) {
	ctx := context.Background()
	var c *Client
	var err error
	if transport == "local" {
		c, err = tn.Nodes[0].Client(ctx)
	} else {
		c, err = Dial(ctx, tn.Nodes[0].RPCAddress(), tn.Key(0))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	send := func() {
		if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
			b.Fatal(err)
		}
	}
	send() // warm up: nonce, subscription
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		send()
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/commit")
}
