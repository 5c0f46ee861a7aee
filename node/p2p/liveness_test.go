package p2p

import (
	"context"
	"testing"
	"time"
)

// TestPingAndLastSeen: a running peer answers a ping (dialed on demand)
// and is seen now; once it stops, a ping fails within its timeout and the
// peer keeps the time it was last seen.
func TestPingAndLastSeen(t *testing.T) {
	a, _ := NewTestHost(t, TestConfig())
	b, _ := NewTestHost(t, TestConfig())
	if !a.LastSeen(b.ID()).IsZero() {
		t.Fatal("a peer never contacted has a last-seen time")
	}
	a.Libp2p().Peerstore().AddAddrs(b.ID(), b.Addrs(), time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rtt, err := a.Ping(ctx, b.ID()); err != nil || rtt <= 0 {
		t.Fatalf("ping of a running peer: %v, %v", rtt, err)
	}
	if !a.Connected(b.ID()) || time.Since(a.LastSeen(b.ID())) > time.Second {
		t.Fatalf("after a ping: connected %v, last seen %v", a.Connected(b.ID()), a.LastSeen(b.ID()))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// Each connection's close is a contact too (there may be one per
	// transport), recorded by network notifications that come after the
	// swarm dropped the connection: wait until the peer is disconnected
	// and its record unchanged for ten polls.
	deadline := time.Now().Add(30 * time.Second)
	var seen time.Time
	for stable := 0; stable < 10; {
		if time.Now().After(deadline) {
			t.Fatalf("the stopped peer's connection never closed (connected %v, last seen %v)", a.Connected(b.ID()), a.LastSeen(b.ID()))
		}
		time.Sleep(20 * time.Millisecond)
		now := a.LastSeen(b.ID())
		switch {
		case a.Connected(b.ID()) || now.IsZero():
			stable = 0
		case now.Equal(seen):
			stable++
		default:
			seen, stable = now, 0
		}
	}
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer pcancel()
	t0 := time.Now()
	if _, err := a.Ping(pctx, b.ID()); err == nil {
		t.Fatal("a stopped peer answered a ping")
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Fatalf("a failed ping took %v", took)
	}
	if got := a.LastSeen(b.ID()); got.IsZero() || !got.Equal(seen) {
		t.Fatalf("last seen after a failed ping: %v, want %v", got, seen)
	}
}
