package p2p

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/internal/testbed"
)

// TestMDNSOnTestbed: hosts on one LAN (the testbed's bridge), started with
// no bootstrap address, find each other by mDNS, connect directly, fill
// each other's DHT routing tables, and a piece one of them provides is
// found by another through the DHT. A host of another network (another
// chain id, so another mDNS service name) on the same LAN is neither found
// nor finds anyone.
func TestMDNSOnTestbed(t *testing.T) {
	if err := testbed.Available(false); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testbed unavailable in CI: %v", err)
		}
		t.Skipf("no testbed here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testbed.Create(ctx, testbed.Config{Prefix: "cooptb-mdns", Public: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("removing the testbed: %v", err)
		}
	})
	conf := func(h *testbed.Host, network string) Config {
		c := DefaultConfig()
		c.ListenIP, c.TCPPort, c.DisableQUIC = h.Addr, 4101, true
		c.Reachability = ReachabilityPublic
		c.MDNS, c.MDNSNetwork = true, network
		return c
	}
	// The other network's host first: by the time the others have found
	// each other, its announcements had every chance to be heard.
	other := startHelper(t, tb.Hosts[3], conf(tb.Hosts[3], "coop-tb-b"))
	var lan []*helper
	for _, h := range tb.Hosts[:3] {
		lan = append(lan, startHelper(t, h, conf(h, "coop-tb-a")))
	}
	has := func(list, id string) bool { return slices.Contains(strings.Fields(list), id) }
	for i, a := range lan {
		for j, b := range lan {
			if i == j {
				continue
			}
			var found, peers, rt string
			if !poll(ctx, func() bool {
				found, peers, rt = a.do("mdns"), a.do("peers"), a.do("rt")
				return has(found, b.id) && has(peers, b.id) && has(rt, b.id)
			}) {
				t.Fatalf("h%d never found, connected to and routed to h%d (%s): found %q, connected %q, routing table %q", i, j, b.id, found, peers, rt)
			}
			if conns := a.do("conns " + b.id); !strings.Contains(conns, "direct=/ip4/"+tb.Hosts[j].Addr+"/") {
				t.Fatalf("h%d's connections to h%d: %q, want a direct one to %s", i, j, conns, tb.Hosts[j].Addr)
			}
		}
	}
	t.Logf("h0, h1, h2 found each other by mDNS and are connected directly")
	for i, a := range lan {
		if found, peers := a.do("mdns"), a.do("peers"); has(found, other.id) || has(peers, other.id) {
			t.Fatalf("h%d found or connected to the other network's host: found %q, connected %q", i, found, peers)
		}
	}
	if found, peers := other.do("mdns"), other.do("peers"); found != "" || peers != "" {
		t.Fatalf("the other network's host found %q, connected to %q", found, peers)
	}

	// The DHT works without a bootstrap peer: h2 finds h0's piece.
	piece := make([]byte, 32)
	_, _ = rand.Read(piece)
	if got := lan[0].do("provide " + hex.EncodeToString(piece)); got != "ok" {
		t.Fatalf("h0 providing a piece: %s", got)
	}
	var provs string
	if !poll(ctx, func() bool { provs = lan[2].do("providers " + hex.EncodeToString(piece)); return has(provs, lan[0].id) }) {
		t.Fatalf("h2 never found h0 as the piece's provider: %q", provs)
	}
}
