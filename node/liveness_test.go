package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
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

// TestPlacementSkipsAHolderWhosePushTimedOut: a holder that stays connected
// but answers nothing on the piece exchange (fault injection: its handler
// swallows every stream, as a host whose link was cut looks while its TCP
// connection lingers) fails the first put's push, which places that piece
// elsewhere and remembers the holder as unreachable; the next put, with
// the holder still connected, leaves it out without pushing to it again.
func TestPlacementSkipsAHolderWhosePushTimedOut(t *testing.T) {
	nodes, _ := startMemNetworkWith(t, 4, func(i int, c *Config) {
		if i == 0 {
			c.Exchange.HeaderTimeout = 500 * time.Millisecond
			c.Exchange.IdleTimeout = 500 * time.Millisecond
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, mute := nodes[0], nodes[3]
	muteID := mute.host.ID()
	var streams atomic.Int32
	release := make(chan struct{})
	var handlers sync.WaitGroup
	mute.host.Libp2p().SetStreamHandler(exchange.ProtocolID, func(s network.Stream) {
		handlers.Add(1)
		defer handlers.Done()
		streams.Add(1)
		<-release
		_ = s.Reset()
	})
	t.Cleanup(func() { close(release); handlers.Wait() })

	// Three copies: placement prefers the three other nodes, the mute one
	// too, and this node takes the copy the mute one does not.
	data := make([]byte, 100<<10)
	_, _ = rand.Read(data)
	put := func() *api.PutResult {
		t.Helper()
		res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 3})
		if err != nil {
			t.Fatalf("put with a mute holder: %v", err)
		}
		for _, p := range res.Pieces {
			if p.Holder == mute.addr.String() {
				t.Fatalf("piece %d/%d was placed on the mute node", p.Segment, p.Index)
			}
		}
		return res
	}
	res := put()
	if n := streams.Load(); n == 0 {
		t.Fatal("the first put never tried the mute node: the test shows nothing")
	}
	if err := a.dead.check(muteID); err == nil {
		t.Fatal("the mute node was not remembered as unreachable")
	}
	if !a.host.Connected(muteID) {
		t.Fatal("the mute node is no longer connected: the test shows nothing")
	}
	before := streams.Load()
	put()
	if n := streams.Load(); n != before {
		t.Fatalf("the second put opened %d streams to the mute node, remembered as unreachable", n-before)
	}
	if got, err := readAll(ctx, nodes[1], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}
