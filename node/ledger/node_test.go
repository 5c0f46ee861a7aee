package ledger

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
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

// TestNodesListOfMoreThanOnePage registers nodes with the largest records
// the chain allows (16 addresses of 256 bytes) until they pass what one list
// answer holds (chain.MaxQueryBytes), and reads the list whole: several
// pages at one height, every node once, in address order.
func TestNodesListOfMoreThanOnePage(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 2,100 nodes")
	}
	addrs := make([]string, 16)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("/dns4/%0244d/tcp/1", i) // 256 bytes
	}
	const n = 2_100 // × ≈ 4.2 KiB records > 8 MiB
	dc := TestNetConfig(t, 1)
	keys := fundAccounts(&dc, n, 1_000)
	tn := StartTestNet(t, dc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Signed first, then handed to the mempool as fast as it takes them.
	rpc := tn.Nodes[0].rpcLocal()
	var last chain.Hash
	for i, k := range keys {
		pid, err := chain.PeerIDOf(k.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		tx, err := chain.NewTx(dc.ChainID, &chain.RegisterNode{PeerID: pid, Addrs: addrs, Pledge: 1 << 30}, k, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := submit(ctx, rpc, tx.Bytes()); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		last = tx.Hash()
	}
	// One validator takes txs in mempool order: the last one committed
	// means all were (the list's length below checks it).
	c := tn.Client(0)
	if _, err := c.WaitTx(ctx, last); err != nil {
		t.Fatal(err)
	}
	first, h, err := QueryPage[chain.Node](ctx, c, chain.QueryNodes, nil, 0)
	if err != nil || len(first.Items) == n || len(first.Next) == 0 {
		t.Fatalf("first page: %d nodes, next %x: %v", len(first.Items), first.Next, err)
	}
	nodes, lh, err := QueryList[chain.Node](ctx, c, chain.QueryNodes)
	if err != nil || len(nodes) != n || lh < h {
		t.Fatalf("list: %d nodes at %d: %v", len(nodes), lh, err)
	}
	for i := 1; i < len(nodes); i++ {
		if bytes.Compare(nodes[i-1].Address[:], nodes[i].Address[:]) >= 0 {
			t.Fatalf("nodes %d and %d out of order: %s, %s", i-1, i, nodes[i-1].Address, nodes[i].Address)
		}
	}
	t.Logf("%d nodes; the first page holds %d", n, len(first.Items))
}
