package ledger

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

func TestSingleNodeRegistersAndTransfers(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := tn.Client(0)
	pid, err := chain.PeerIDOf(c.key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.BroadcastCommit(ctx, &chain.RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Pledge: 3 << 30, CPU: 2}); err != nil {
		t.Fatal(err)
	}
	var to chain.Address
	to[0] = 7
	for range 3 {
		if _, err := c.Broadcast(ctx, &chain.Transfer{To: to, Amount: 5}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.BroadcastCommit(ctx, &chain.Transfer{To: to, Amount: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Height == 0 {
		t.Fatal("no height")
	}
	acct, err := c.Account(ctx, to)
	if err != nil {
		t.Fatal(err)
	}
	if acct.Credits != 20 {
		t.Fatalf("recipient has %d credits, want 20", acct.Credits)
	}
	me, err := c.Account(ctx, c.Address())
	if err != nil {
		t.Fatal(err)
	}
	if me.QuotaEarned != 1<<30 || me.QuotaLimit != 2<<30 || me.Nonce != 5 {
		t.Fatalf("account %+v", me)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].PeerID != pid {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
}
