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
	// Quota is earned by holding pieces for others, not by pledging: a
	// node that holds nothing has the allowance.
	params, err := c.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if me.QuotaEarned != 0 || me.QuotaLimit != params.Allowance || me.Nonce != 5 {
		t.Fatalf("account %+v", me)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].PeerID != pid {
		t.Fatalf("nodes %+v %v", nodes, err)
	}
}

// TestNodesListIsReadAtOneHeight registers nodes, reads the node list page
// by page at one height while another node registers, and checks that the
// pages hold the list of that height and QueryList the newer one. (With
// the chain's page size the list may fit one page; the paging itself is
// tested against a fake node in client_test.go.)
func TestNodesListIsReadAtOneHeight(t *testing.T) {
	dc := TestNetConfig(t, 1)
	keys := fundAccounts(&dc, 6, 1_000_000)
	tn := StartTestNet(t, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	register := func(k ed25519.PrivateKey) {
		t.Helper()
		c, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), k)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		pid, err := chain.PeerIDOf(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.BroadcastCommit(ctx, &chain.RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/4001"}, Pledge: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range keys[:5] {
		register(k)
	}
	c := tn.Client(0)
	first, h, err := QueryPage[chain.Node](ctx, c, chain.QueryNodes, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	register(keys[5])
	got, pages := first.Items, 1
	for next := first.Next; len(next) > 0; pages++ {
		p, ph, err := QueryPage[chain.Node](ctx, c, chain.QueryNodes, next, h)
		if err != nil || ph != h {
			t.Fatalf("page %d at height %d: answered at %d: %v", pages+1, h, ph, err)
		}
		got, next = append(got, p.Items...), p.Next
	}
	if len(got) != 5 {
		t.Fatalf("%d nodes in %d pages at height %d, want 5", len(got), pages, h)
	}
	all, h2, err := QueryList[chain.Node](ctx, c, chain.QueryNodes)
	if err != nil || len(all) != 6 || h2 <= h {
		t.Fatalf("QueryList: %d nodes at height %d (pages were at %d): %v", len(all), h2, h, err)
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].PeerID == all[i].PeerID {
			t.Fatalf("node %s listed twice", all[i].PeerID)
		}
	}
	t.Logf("5 nodes in %d pages at height %d", pages, h)
}
