package p2p

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/internal/testbed"
)

// TestNATToNATHolePunchOnTestbed: two hosts, each behind its own NAT
// router, hold slots on a public relay; one dials the other through the
// relay as soon as it has its relay address, before the other knows the
// address its NAT gives it (go-libp2p's DCUtR then gives up at once), and
// the dialer's retrier (punch.go) dials the relay again until DCUtR punches
// a direct connection between the two NATs.
func TestNATToNATHolePunchOnTestbed(t *testing.T) {
	if err := testbed.Available(true); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testbed unavailable in CI: %v", err)
		}
		t.Skipf("no testbed here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testbed.Create(ctx, testbed.Config{Prefix: "cooptb-punch", Public: 1, NATed: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("removing the testbed: %v", err)
		}
	})
	h0, n0, n1 := tb.Host("h0"), tb.Host("n0"), tb.Host("n1")
	conf := func(ip, reach string) Config {
		c := DefaultConfig()
		c.ListenIP, c.TCPPort, c.QUICPort = ip, 4101, 4101
		c.DisableQUIC = true
		c.Reachability = reach
		return c
	}
	relay := startHelper(t, h0, conf(h0.Addr, ReachabilityPublic))
	relayAddr := fmt.Sprintf("/ip4/%s/tcp/4101/p2p/%s", h0.Addr, relay.id)
	var nat []*helper
	for _, h := range []*testbed.Host{n0, n1} {
		c := conf(h.Addr, ReachabilityPrivate)
		c.Bootstrap = []string{relayAddr}
		nat = append(nat, startHelper(t, h, c))
	}
	for i, hp := range nat {
		if !poll(ctx, func() bool { return strings.Contains(hp.do("addrs"), "/p2p-circuit") }) {
			t.Fatalf("n%d got no relay address", i)
		}
	}
	circuit := relayAddr + "/p2p-circuit/p2p/" + nat[0].id
	t0 := time.Now()
	if got := nat[1].do("connect " + circuit); got != "ok" {
		t.Fatalf("n1 dialing n0 through the relay: %s", got)
	}
	var conns string
	if !poll(ctx, func() bool {
		conns = nat[1].do("conns " + nat[0].id)
		return strings.Contains(conns, "direct=/ip4/"+n0.PublicAddr)
	}) {
		t.Fatalf("no hole punched between the NATs: n1's connections to n0: %s", conns)
	}
	t.Logf("n1 → n0 punched in %.1f s: %s", time.Since(t0).Seconds(), conns)
}
