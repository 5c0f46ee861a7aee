package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
)

// TestPlacementSkipsAStoppedNode: with one of four real libp2p nodes
// stopped (still active on the ledger, with its addresses), a put still
// succeeds and none of its pieces goes to the stopped node, which needs
// all three other nodes' slots were it not skipped; `coop peers` (Peers)
// reports it as not answering and the others as answering.
func TestPlacementSkipsAStoppedNode(t *testing.T) {
	nodes, _ := startMemNetwork(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, gone := nodes[0], nodes[3]
	goneID := gone.host.ID()
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for a.host.Connected(goneID) {
		if time.Now().After(deadline) {
			t.Fatal("the stopped node's connection never closed")
		}
		time.Sleep(20 * time.Millisecond)
	}

	data := make([]byte, 200<<10)
	_, _ = rand.Read(data)
	t0 := time.Now()
	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatalf("put with one node stopped: %v", err)
	}
	took := time.Since(t0)
	for _, p := range res.Pieces {
		if p.Holder == gone.addr.String() {
			t.Fatalf("piece %d/%d was placed on the stopped node", p.Segment, p.Index)
		}
	}
	if err := a.dead.check(goneID); err == nil {
		t.Fatal("the stopped node was not remembered as unreachable")
	}
	t.Logf("put of %d bytes with a stopped node took %v", len(data), took)
	if got, err := readAll(ctx, nodes[1], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}

	peers, err := a.Peers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(peers) != 3 {
		t.Fatalf("%d peers listed, want 3", len(peers))
	}
	for _, p := range peers {
		stopped := p.Account == gone.addr.String()
		switch {
		case stopped && (p.Answers || p.Connected || p.PingError == ""):
			t.Fatalf("stopped node listed as answering: %+v", p)
		case stopped && p.LastSeen == nil:
			t.Fatalf("stopped node, connected before, has no last-seen time: %+v", p)
		case !stopped && (!p.Answers || !p.Connected || p.LastSeen == nil || time.Since(*p.LastSeen) > 5*time.Second):
			t.Fatalf("running node not listed as answering now: %+v", p)
		}
	}
}
