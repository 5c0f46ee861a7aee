package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage/blockstore"
)

// TestRaiseOnADevnet, on four CometBFT validators of which three run coop
// daemons: a put asking k=2 m=2 is stored at k=2 m=1 (three nodes) and
// says it will be raised; when the fourth daemon starts (the node joins)
// the owner's repairer adds a parity piece to every segment on it, the
// ledger records the file at k=2 m=2 with four distinct holders per
// segment, and with two of the original holders stopped the file reads
// back bit-exact, from the owner and from the new node.
func TestRaiseOnADevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four CometBFT validators")
	}
	dc := ledger.TestNetConfig(t, 4)
	net := StartTestNetworkPartly(t, dc, 3, func(i int, c *Config) {
		c.RepairInterval = 100 * time.Millisecond
		c.Storage.K, c.Storage.M = 2, 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	owner := net.Nodes[0]
	lc := owner.Ledger()

	data := make([]byte, 2<<20+12345) // three segments of 1 MiB
	_, _ = rand.Read(data)
	res, err := owner.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Name: "raised"})
	if err != nil {
		t.Fatal(err)
	}
	if res.K != 2 || res.M != 1 || !strings.Contains(res.Degraded, "it will be raised to k=2 m=2 as nodes join") {
		t.Fatalf("put on 3 nodes: k=%d m=%d, note %q", res.K, res.M, res.Degraded)
	}
	id := chain.Hash(mustID(t, res.FileID))
	f, err := lc.File(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if f.M != 1 || f.AskedM != 2 || len(f.Pieces) != 9 {
		t.Fatalf("ledger record: m=%d asked m=%d, %d pieces", f.M, f.AskedM, len(f.Pieces))
	}
	waitCredited(t, net.Nodes[:3], res)

	// The fourth node joins.
	joined := net.Restart(3)
	t0 := time.Now()
	for {
		if f, err = lc.File(ctx, id); err != nil {
			t.Fatal(err)
		}
		if f.M == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the file was not raised in time (m=%d)", f.M)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("raised to k=2 m=2 %v after the fourth node started", time.Since(t0).Round(time.Millisecond))
	if len(f.Pieces) != 12 || f.Raising() {
		t.Fatalf("raised record: %d pieces, m=%d asked %d", len(f.Pieces), f.M, f.AskedM)
	}
	for s := range 3 {
		seen := map[chain.Address]bool{}
		for _, p := range f.Pieces[s*4 : s*4+4] {
			if seen[p.Holder] {
				t.Fatalf("segment %d: holder %s named twice", s, p.Holder)
			}
			seen[p.Holder] = true
		}
		if p := f.Pieces[s*4+3]; p.Index != 3 || p.Holder != joined.addr {
			t.Fatalf("segment %d: added piece %+v, want index 3 on the new node", s, p)
		}
		// The added parity is no copy of what was there.
		for _, q := range f.Pieces[s*4 : s*4+3] {
			if q.ID == f.Pieces[s*4+3].ID {
				t.Fatalf("segment %d: the added piece repeats piece %d", s, q.Index)
			}
		}
	}
	// The new holder credits what it took.
	for deadline := time.Now().Add(30 * time.Second); ; {
		all := true
		for s := range 3 {
			all = all && joined.hold.isCredited(blockstore.ID(f.Pieces[s*4+3].ID))
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new node did not credit its added pieces in time")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The owner's /metrics counts the pieces it added: one per segment.
	if v := metricValue(scrape(t, owner), "coop_pieces_raised_total", nil); v != 3 {
		t.Fatalf("coop_pieces_raised_total = %v, want 3 (one added piece per segment)", v)
	}

	// Two of the original holders go: two pieces per segment are left, the
	// owner's and the added one.
	net.Stop(1)
	net.Stop(2)
	for _, n := range []*Node{owner, joined} {
		got, err := readAll(ctx, n, res.Capability)
		if err != nil {
			t.Fatalf("read from %s with two holders gone: %v", n.addr, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read from %s: different bytes", n.addr)
		}
	}
}
