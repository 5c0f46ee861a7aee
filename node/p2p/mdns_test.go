package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Unit tests on loopback never start mDNS itself (it would multicast on the
// machine's interfaces): they drive the finder's HandlePeerFound directly.
// TestMDNSOnTestbed runs the real thing inside network namespaces.

func TestMDNSServiceName(t *testing.T) {
	a, b := MDNSServiceName("coop-devnet"), MDNSServiceName("coop-local")
	if a != MDNSServiceName("coop-devnet") {
		t.Fatal("not deterministic")
	}
	if a == b {
		t.Fatalf("two chain ids share the service name %s", a)
	}
	re := regexp.MustCompile(`^_(coop-[0-9a-f]{8})\._udp$`)
	for _, s := range []string{a, b, MDNSServiceName(""), MDNSServiceName(string(make([]byte, 300)))} {
		m := re.FindStringSubmatch(s)
		if m == nil || len(m[1]) > 15 {
			t.Fatalf("service name %q: want _coop-<8 hex>._udp, a label of at most 15 characters", s)
		}
	}
}

// TestMDNSConfig: mDNS needs the network's name, and is never started on a
// host that listens on loopback only.
func TestMDNSConfig(t *testing.T) {
	if TestConfig().MDNS || DefaultConfig().MDNS {
		t.Fatal("mDNS is on in DefaultConfig or TestConfig")
	}
	c := TestConfig()
	c.MDNS = true
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := New(context.Background(), key, c); !errors.Is(err, ErrConfig) {
		t.Fatalf("mDNS without a network name: %v, want ErrConfig", err)
	}
	for ip, off := range map[string]bool{"127.0.0.1": true, "127.3.0.9": true, "0.0.0.0": false, "11.201.0.10": false, "192.168.1.4": false} {
		c.ListenIP = ip
		if got := mdnsOff(c) != ""; got != off {
			t.Errorf("listening on %s: mDNS off = %v, want %v", ip, got, off)
		}
	}
}

// TestMDNSHandlePeerFound: sightings of a host connect to it once, whatever
// their number and concurrency; the host lands in the routing table;
// sightings of itself or of a host without a usable address are ignored,
// and after close none is acted on.
func TestMDNSHandlePeerFound(t *testing.T) {
	a, _ := NewTestHost(t, TestConfig())
	b, _ := NewTestHost(t, TestConfig())
	c, _ := NewTestHost(t, TestConfig())
	f := newMDNSFinder(a)
	f.usable = func(ma.Multiaddr) bool { return true } // the test hosts are on loopback

	f.HandlePeerFound(a.AddrInfo())              // itself
	f.HandlePeerFound(peer.AddrInfo{ID: c.ID()}) // no address
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() { defer wg.Done(); f.HandlePeerFound(b.AddrInfo()) }()
	}
	wg.Wait()
	if !a.Connected(b.ID()) {
		t.Fatal("not connected to the host found")
	}
	if n := len(a.Libp2p().Network().ConnsToPeer(b.ID())); n != 1 {
		t.Fatalf("%d connections to the host found, want 1", n)
	}
	if a.Connected(c.ID()) {
		t.Fatal("connected to a host sighted without an address")
	}
	found := f.peers()
	if _, ok := found[b.ID()]; !ok || len(found) != 1 {
		t.Fatalf("found %v, want only %s", found, b.ID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !poll(ctx, func() bool { return a.dht.RoutingTable().Find(b.ID()) != "" }) {
		t.Fatal("the host found never entered the routing table")
	}
	if err := f.close(); err != nil {
		t.Fatal(err)
	}
	f.HandlePeerFound(c.AddrInfo())
	if a.Connected(c.ID()) || len(f.peers()) != 1 {
		t.Fatal("a sighting after close was acted on")
	}
}
