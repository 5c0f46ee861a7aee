package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// TestFullNodeBecomesValidator: on a real 3-validator network, a node that
// joined as a full node (InitJoin) asks to become a validator; two approvals
// (20 of 30) change nothing, the third applies it, CometBFT's set follows,
// the new validator signs blocks, and the chain keeps making blocks with one
// original validator stopped, which it could not do without the newcomer
// (20 of 30 is not more than 2/3; 30 of 40 is).
func TestFullNodeBecomesValidator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three CometBFT validators and a full node")
	}
	tn := StartTestNet(t, TestNetConfig(t, 3))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	v0 := DevnetHome(tn.Dir, 0)
	peer, err := PeerAddress(v0)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(t.TempDir(), "joiner")
	hc := DefaultHomeConfig()
	ports := FreePorts(t, 2)
	hc.P2PListen = "tcp://127.0.0.1:" + strconv.Itoa(ports[0])
	hc.RPCListen = "tcp://127.0.0.1:" + strconv.Itoa(ports[1])
	hc.PrometheusListen = ""
	hc.BlockTime = tn.Config.BlockTime
	if _, err := InitJoin(home, filepath.Join(ChainDir(v0), "config", "genesis.json"), peer, hc); err != nil {
		t.Fatal(err)
	}
	// Its one peer is validator 0, which relays its votes to the others.
	jn, err := Start(ctx, testNodeConfig(home))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := jn.Stop(); err != nil {
			t.Errorf("stopping the joined node: %v", err)
		}
	})
	target := tn.Height(0)
	waitUntil(ctx, t, "the joined node catching up", func() bool {
		info, err := jn.App().Info(ctx, &abci.InfoRequest{})
		return err == nil && info.LastBlockHeight >= target
	})
	jc, err := jn.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jc.Close() })
	jpub := jn.Key().Public().(ed25519.PublicKey)

	// A full node cannot vote on anyone but itself.
	other := tn.Key(1).Public().(ed25519.PublicKey)
	if _, err := jc.BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: other, Power: 0}); !errors.Is(err, chain.ErrUnauthorized) {
		t.Fatalf("a full node's vote to remove a validator: %v, want ErrUnauthorized", err)
	}
	if _, err := jc.BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: jpub, Power: 10}); err != nil {
		t.Fatalf("request: %v", err)
	}
	for i := range 2 {
		if _, err := tn.Client(i).BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: jpub, Power: 10}); err != nil {
			t.Fatalf("approval %d: %v", i, err)
		}
	}
	vs, err := tn.Client(1).Validators(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs.Validators) != 3 || vs.Version != 0 {
		t.Fatalf("applied with 20 of 30: %+v", vs)
	}
	res, err := tn.Client(2).BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: jpub, Power: 10})
	if err != nil {
		t.Fatalf("third approval: %v", err)
	}
	if vs, err = tn.Client(2).Validators(ctx); err != nil || len(vs.Validators) != 4 || vs.Version != 1 || vs.TotalPower != 40 {
		t.Fatalf("after three approvals: %+v, %v", vs, err)
	}

	// CometBFT's set includes it from block res.Height+2, and it signs.
	ja := AddressOf(jn.Key())
	jaddr := types.Address(ja[:])
	rpc := tn.Nodes[0].rpcLocal()
	signed := func(h int64) bool {
		c, err := rpc.Commit(ctx, &h)
		if err != nil {
			return false
		}
		for _, s := range c.Commit.Signatures {
			if bytes.Equal(s.ValidatorAddress, jaddr) && s.BlockIDFlag == types.BlockIDFlagCommit {
				return true
			}
		}
		return false
	}
	waitUntil(ctx, t, "the new validator signing a block", func() bool {
		h := tn.Height(0)
		vals, err := rpc.Validators(ctx, &h, nil, nil)
		if err != nil {
			return false
		}
		in := false
		for _, v := range vals.Validators {
			in = in || bytes.Equal(v.Address, jaddr)
		}
		return in && h > res.Height+2 && signed(h-1)
	})

	// A verified read now needs headers signed by the new set: the
	// Verifier follows the change from block 1 with the light client.
	doc, err := ReadGenesis(filepath.Join(ChainDir(v0), "config", "genesis.json"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(rpc, doc)
	if err != nil {
		t.Fatal(err)
	}
	// An answer of height res.Height+1 or later is proved by a header of
	// res.Height+2 or later: signed by the new set.
	acct, vh, err := v.Account(ctx, AddressOf(jn.Key()))
	if err != nil || !acct.Exists || vh < res.Height+1 {
		t.Fatalf("verified account of the new validator after the set changed: %+v at %d, %v", acct, vh, err)
	}

	// With validator 2 stopped, 30 of 40 is online: blocks go on.
	tn.StopNode(2)
	h0 := tn.Height(0)
	waitUntil(ctx, t, "blocks after stopping validator 2", func() bool { return tn.Height(0) >= h0+5 })
	if !signed(tn.Height(0) - 1) {
		t.Fatal("the new validator does not sign with validator 2 stopped")
	}
}

// waitUntil polls cond every 50 ms until it holds, failing the test with what
// when ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
