package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// testAccountKey is a deterministic key for funded test accounts.
func testAccountKey(i int) ed25519.PrivateKey {
	var seed [32]byte
	copy(seed[:], "coop-ledger-test")
	binary.BigEndian.PutUint64(seed[24:], uint64(i))
	return ed25519.NewKeyFromSeed(seed[:])
}

// fundAccounts adds n funded accounts to a devnet config and returns their keys.
func fundAccounts(dc *DevnetConfig, n int, credits uint64) []ed25519.PrivateKey {
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		keys[i] = testAccountKey(i)
		dc.ExtraAccounts = append(dc.ExtraAccounts, chain.GenesisAccount{Address: AddressOf(keys[i]), Credits: credits})
	}
	return keys
}

// appHashAt is the app hash node i computed for height h (from its own
// stored FinalizeBlock result), once it has executed h (up to 60 s).
func appHashAt(t *testing.T, tn *TestNet, i int, h int64) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for tn.Height(i) < h {
		select {
		case <-ctx.Done():
			t.Fatalf("node %d did not execute height %d (at %d)", i, h, tn.Height(i))
		case <-tick.C:
		}
	}
	res, err := tn.Nodes[i].rpcLocal().BlockResults(ctx, &h)
	if err != nil {
		t.Fatalf("node %d block results at %d: %v", i, h, err)
	}
	return res.AppHash
}

func TestFourValidatorsAgreeSurviveAKillAndCatchUp(t *testing.T) {
	dc := TestNetConfig(t, 4)
	keys := fundAccounts(&dc, 4, 1_000_000)
	tn := StartTestNet(t, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// Several accounts, each talking to a different validator.
	send := func(round int, nodes []int) {
		var wg sync.WaitGroup
		for j, k := range keys {
			node := nodes[j%len(nodes)]
			c, err := NewClient(ctx, tn.Nodes[node].rpcLocal(), k)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := AddressOf(keys[(j+1)%len(keys)])
				for n := range 5 {
					if _, err := c.Broadcast(ctx, &chain.Transfer{To: to, Amount: uint64(1 + n)}); err != nil {
						t.Errorf("round %d account %d: %v", round, j, err)
						return
					}
				}
				if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: to, Amount: 100}); err != nil {
					t.Errorf("round %d account %d: %v", round, j, err)
				}
			}()
		}
		wg.Wait()
	}
	send(0, []int{0, 1, 2, 3})
	if t.Failed() {
		t.FailNow()
	}
	h := tn.Height(0)
	tn.WaitHeight(h+1, 60*time.Second)
	for height := int64(1); height <= h; height++ {
		want := appHashAt(t, tn, 0, height)
		for i := 1; i < 4; i++ {
			if got := appHashAt(t, tn, i, height); !bytes.Equal(got, want) {
				t.Fatalf("height %d: node %d app hash %X, node 0 %X", height, i, got, want)
			}
		}
	}

	// One validator down: 3 of 4 still make blocks and commit txs.
	tn.StopNode(3)
	before := tn.Height(0)
	send(1, []int{0, 1, 2})
	tn.WaitHeight(before+5, 60*time.Second)

	// Back up: it catches up and agrees.
	tn.StartNode(3)
	target := tn.Height(0)
	tn.WaitHeight(target, 60*time.Second)
	for _, height := range []int64{before, target} {
		want := appHashAt(t, tn, 0, height)
		if got := appHashAt(t, tn, 3, height); !bytes.Equal(got, want) {
			t.Fatalf("restarted node at height %d: app hash %X, want %X", height, got, want)
		}
	}
	// The restarted node serves the same state.
	c3, c0 := tn.Client(3), tn.Client(0)
	for _, k := range keys {
		a3, err := c3.Account(ctx, AddressOf(k))
		if err != nil {
			t.Fatal(err)
		}
		a0, err := c0.Account(ctx, AddressOf(k))
		if err != nil {
			t.Fatal(err)
		}
		if a3.Nonce != 12 || a0.Nonce != 12 || a3.Credits != a0.Credits {
			t.Fatalf("account %s: node 3 %+v, node 0 %+v", AddressOf(k), a3.Account, a0.Account)
		}
	}
}

// TestClientRejectionsMatchChainErrors runs the same rejections and nonce
// recoveries over HTTP (as the CLI talks to a node: CheckTx rejections
// arrive as JSON-RPC error text) and over the in-process client (they
// arrive as CometBFT's error values).
func TestClientRejectionsMatchChainErrors(t *testing.T) {
	dc := TestNetConfig(t, 1)
	keys := fundAccounts(&dc, 2, 1_000_000)
	tn := StartTestNet(t, dc)
	for i, transport := range []string{"http", "local"} {
		t.Run(transport, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			key := keys[i]
			var c *Client
			var err error
			if transport == "http" {
				c, err = Dial(ctx, tn.Nodes[0].RPCAddress(), key)
			} else {
				c, err = NewClient(ctx, tn.Nodes[0].rpcLocal(), key)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A rejection is a *RejectedError that errors.Is the chain's sentinel.
			_, err = c.Broadcast(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1 << 62})
			var rej *RejectedError
			if !errors.As(err, &rej) || rej.Code != chain.CodeInsufficientFunds || rej.Height != 0 ||
				!errors.Is(err, chain.ErrInsufficientFunds) || errors.Is(err, ErrForeignResult) {
				t.Fatalf("overdraft: %v", err)
			}
			// The nonce was not spent: the next tx goes through.
			if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
				t.Fatal(err)
			}
			// Another client on the same key makes this one's nonce stale; it recovers.
			other, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), key)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 2}); err != nil {
				t.Fatalf("stale nonce not recovered: %v", err)
			}
			// Queued txs of another client of the key are counted too: the
			// committed nonce is behind them, so only the expected nonce in
			// the bad-nonce result's Data gets the next tx in.
			for range 3 {
				if _, err := other.Broadcast(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 3})
			if err != nil || r.Nonce != 6 {
				t.Fatalf("stale nonce behind queued txs not recovered: %+v %v", r, err)
			}
			if a, err := c.Account(ctx, c.Address()); err != nil || a.Nonce != 7 {
				t.Fatalf("account after 7 txs: %+v %v", a, err)
			}
			if _, err := c.File(ctx, chain.Hash{7}); !errors.Is(err, chain.ErrNotFound) {
				t.Fatalf("missing file: %v", err)
			}
		})
	}
	ctx := t.Context()
	ro, err := Dial(ctx, tn.Nodes[0].RPCAddress(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Broadcast(ctx, &chain.Transfer{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("read-only client signed: %v", err)
	}
}

func TestWaitingOnATxThatCanNeverCommitEnds(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := tn.Nodes[0].Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.PollInterval = 10 * time.Millisecond
	key := tn.Key(0)
	// A tx the mempool no longer holds and that now fails its rule (as after
	// a failed recheck): the wait ends with the reason.
	over, err := chain.NewTx(c.ChainID(), &chain.Transfer{To: chain.Address{9}, Amount: 1 << 62}, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.waitTx(ctx, Result{Hash: over.Hash(), Nonce: 0, raw: over.Bytes()}, true)
	if !errors.Is(err, ErrTxDropped) || !errors.Is(err, chain.ErrInsufficientFunds) {
		t.Fatalf("overdraft never broadcast: %v", err)
	}
	// A tx whose nonce another tx took: the wait ends too.
	lost, err := chain.NewTx(c.ChainID(), &chain.Transfer{To: chain.Address{9}, Amount: 1}, key, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{9}, Amount: 2}); err != nil {
		t.Fatal(err)
	}
	_, err = c.waitTx(ctx, Result{Hash: lost.Hash(), Nonce: 0, raw: lost.Bytes()}, true)
	if !errors.Is(err, ErrTxDropped) || !strings.Contains(err.Error(), "nonce is now 1") {
		t.Fatalf("tx with a taken nonce: %v", err)
	}
	// And a committed tx is found, not reported dropped.
	r, err := c.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{9}, Amount: 3})
	if err != nil || r.Height == 0 || r.Nonce != 1 {
		t.Fatalf("%+v %v", r, err)
	}
}
