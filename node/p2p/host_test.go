package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

func TestHostIdentityIsTheAccountKey(t *testing.T) {
	h, key := NewTestHost(t, TestConfig())
	want, err := PeerIDFromPublicKey(key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if h.ID() != want {
		t.Fatalf("peer id %s, want %s", h.ID(), want)
	}
	pub, err := PublicKeyFromPeerID(h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(key.Public()) {
		t.Fatal("public key recovered from peer id differs from the account key")
	}
}

func TestHostListensOnTCPAndQUICOnLoopback(t *testing.T) {
	h, _ := NewTestHost(t, TestConfig())
	var tcp, quic bool
	for _, a := range h.Addrs() {
		s := a.String()
		if !strings.HasPrefix(s, "/ip4/127.0.0.1/") {
			t.Errorf("address %s is not on loopback", s)
		}
		tcp = tcp || strings.Contains(s, "/tcp/")
		quic = quic || strings.Contains(s, "/quic-v1")
		if !strings.HasSuffix(s, "/p2p/"+h.ID().String()) {
			t.Errorf("address %s does not end in the peer id", s)
		}
	}
	if !tcp || !quic {
		t.Fatalf("addresses %v: tcp=%v quic=%v", h.Addrs(), tcp, quic)
	}
}

func TestHostsConnectOverEachTransport(t *testing.T) {
	for _, transport := range []string{"/tcp/", "/quic-v1"} {
		t.Run(strings.Trim(transport, "/"), func(t *testing.T) {
			a, _ := NewTestHost(t, TestConfig())
			b, _ := NewTestHost(t, TestConfig())
			var addrs []ma.Multiaddr
			for _, x := range b.Libp2p().Addrs() {
				if strings.Contains(x.String(), transport) {
					addrs = append(addrs, x)
				}
			}
			if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID(), Addrs: addrs}); err != nil {
				t.Fatal(err)
			}
			conns := a.Libp2p().Network().ConnsToPeer(b.ID())
			if len(conns) == 0 || !strings.Contains(conns[0].RemoteMultiaddr().String(), transport) {
				t.Fatalf("connections %v, want one over %s", conns, transport)
			}
		})
	}
}

func TestProvidersAreFoundThroughTheDHT(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boot, _ := NewTestHost(t, TestConfig())
	bootAddr := boot.Addrs()[0].String()
	cfg := TestConfig()
	cfg.Bootstrap = []string{bootAddr}
	var hosts []*Host
	for range 4 {
		h, _ := NewTestHost(t, cfg)
		hosts = append(hosts, h)
	}
	// Routing tables fill once identify has run on the new connections.
	for _, h := range append(hosts, boot) {
		for h.RoutingTableSize() == 0 {
			if ctx.Err() != nil {
				t.Fatal("routing table still empty")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	piece := sha256.Sum256([]byte("a piece"))
	if err := hosts[0].Provide(ctx, piece); err != nil {
		t.Fatal(err)
	}
	// The last host never talked to hosts[0] directly; it learns of it
	// through the DHT.
	found, err := hosts[3].FindProviders(ctx, piece, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].ID != hosts[0].ID() {
		t.Fatalf("providers %v, want [%s]", found, hosts[0].ID())
	}
	if err := hosts[3].Connect(ctx, found[0]); err != nil {
		t.Fatalf("provider record has no dialable address: %v", err)
	}
}

func TestBootstrapReportsUnreachablePeersWithoutFailing(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	gone, err := New(context.Background(), other, TestConfig())
	if err != nil {
		t.Fatal(err)
	}
	addr := gone.Addrs()[0].String()
	_ = gone.Close()
	cfg := TestConfig()
	cfg.Bootstrap = []string{addr}
	cfg.DialTimeout = 2 * time.Second
	h, _ := NewTestHost(t, cfg) // must start anyway
	infos, _ := ParseAddrInfos([]string{addr})
	if err := h.Bootstrap(context.Background(), infos); err == nil {
		t.Fatal("bootstrapping from a stopped peer reported no error")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		name string
		mod  func(*Config)
		key  ed25519.PrivateKey
	}{
		{"a truncated key", func(*Config) {}, key[:10]},
		{"the public IPFS DHT prefix", func(c *Config) { c.DHTPrefix = "/ipfs" }, key},
		{"an empty DHT prefix", func(c *Config) { c.DHTPrefix = "" }, key},
		{"high water below low water", func(c *Config) { c.ConnHigh = 1; c.ConnLow = 5 }, key},
		{"a bootstrap address without peer id", func(c *Config) { c.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"} }, key},
		{"a garbage bootstrap address", func(c *Config) { c.Bootstrap = []string{"not an addr"} }, key},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := TestConfig()
			tc.mod(&cfg)
			h, err := New(context.Background(), tc.key, cfg)
			if err == nil {
				_ = h.Close()
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v is not ErrConfig", err)
			}
		})
	}
}

func TestPieceCIDRoundTrips(t *testing.T) {
	id := sha256.Sum256([]byte("x"))
	c := PieceCID(id)
	if !strings.HasPrefix(c.String(), "bafkrei") {
		t.Fatalf("cid %s is not a CIDv1 raw sha2-256", c)
	}
	got, err := PieceIDFromCID(c)
	if err != nil || got != id {
		t.Fatalf("round trip: %x, %v", got, err)
	}
}

func TestHostsPreferTCPWhenBothTransportsWork(t *testing.T) {
	a, _ := NewTestHost(t, TestConfig())
	b, _ := NewTestHost(t, TestConfig())
	if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	conns := a.Libp2p().Network().ConnsToPeer(b.ID())
	if len(conns) == 0 || !strings.Contains(conns[0].RemoteMultiaddr().String(), "/tcp/") {
		t.Fatalf("connections %v, want TCP", conns)
	}
}
