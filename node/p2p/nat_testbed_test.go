package p2p

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coop-network/coop/internal/testbed"
)

// The test binary doubles as a libp2p host run inside a testbed namespace
// (P2P_HELPER_CONFIG set: a Config in JSON). It prints its peer id, then
// answers one line per command on stdin:
//
//	addrs            its addresses, space-separated
//	protocols        the protocols it serves, space-separated
//	connect MADDR    dial MADDR (ending in /p2p/<id>): "ok" or "error: …"
//	conns PEER       its connections to PEER: "direct ADDR" or "relayed ADDR", space-separated
//	peers            the peers it is connected to, space-separated
//	mdns             the peers mDNS found, space-separated
//	rt               the peers in its DHT routing table, space-separated
//	provide HEX      announce the 32-byte piece HEX in the DHT: "ok" or "error: …"
//	providers HEX    the providers of piece HEX the DHT finds, space-separated
//
// and exits when stdin closes.
func TestMain(m *testing.M) {
	if c := os.Getenv("P2P_HELPER_CONFIG"); c != "" {
		os.Exit(helperHost(c))
	}
	os.Exit(m.Run())
}

func helperHost(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	h, err := New(ctx, key, cfg)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer h.Close()
	fmt.Println(h.ID())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "protocols":
			var s []string
			for _, p := range h.Libp2p().Mux().Protocols() {
				s = append(s, string(p))
			}
			fmt.Println(strings.Join(s, " "))
		case "addrs":
			var s []string
			for _, a := range h.Libp2p().Addrs() {
				s = append(s, a.String())
			}
			fmt.Println(strings.Join(s, " "))
		case "connect":
			ai, err := peer.AddrInfoFromString(arg)
			if err == nil {
				dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
				err = h.Libp2p().Connect(dctx, *ai)
				dcancel()
			}
			if err != nil {
				fmt.Println("error:", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Println("ok")
			}
		case "conns":
			id, err := peer.Decode(arg)
			if err != nil {
				fmt.Println("error:", err)
				continue
			}
			var s []string
			for _, c := range h.Libp2p().Network().ConnsToPeer(id) {
				kind := "direct"
				if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
					kind = "relayed"
				}
				s = append(s, kind+"="+c.RemoteMultiaddr().String())
			}
			fmt.Println(strings.Join(s, " "))
		case "peers":
			fmt.Println(joinIDs(h.Peers()))
		case "mdns":
			var ids []peer.ID
			for id := range h.MDNSPeers() {
				ids = append(ids, id)
			}
			fmt.Println(joinIDs(ids))
		case "rt":
			fmt.Println(joinIDs(h.dht.RoutingTable().ListPeers()))
		case "provide", "providers":
			b, err := hex.DecodeString(arg)
			if err != nil || len(b) != 32 {
				fmt.Println("error: want 32 bytes in hex")
				continue
			}
			var piece [32]byte
			copy(piece[:], b)
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			if cmd == "provide" {
				if err := h.Provide(pctx, piece); err != nil {
					fmt.Println("error:", strings.ReplaceAll(err.Error(), "\n", " "))
				} else {
					fmt.Println("ok")
				}
			} else {
				ais, _ := h.FindProviders(pctx, piece, 8)
				var ids []peer.ID
				for _, ai := range ais {
					ids = append(ids, ai.ID)
				}
				fmt.Println(joinIDs(ids))
			}
			pcancel()
		default:
			fmt.Println("error: unknown command", cmd)
		}
	}
	return 0
}

func joinIDs(ids []peer.ID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = id.String()
	}
	return strings.Join(s, " ")
}

// helper is a host process in a testbed namespace.
type helper struct {
	t   *testing.T
	id  string
	in  io.WriteCloser
	out *bufio.Reader
}

func startHelper(t *testing.T, h *testbed.Host, cfg Config) *helper {
	t.Helper()
	b, _ := json.Marshal(cfg)
	cmd := h.Command(context.Background(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "P2P_HELPER_CONFIG="+string(b))
	cmd.Stderr = io.Discard
	// P2P_HELPER_LOGDIR=DIR keeps each host's log in DIR/<host>.log
	// (with GOLOG_LOG_LEVEL=p2p-holepunch=debug, say, for go-libp2p's).
	if d := os.Getenv("P2P_HELPER_LOGDIR"); d != "" {
		f, err := os.Create(filepath.Join(d, h.Name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		cmd.Stderr = f
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	hp := &helper{t: t, in: in, out: bufio.NewReader(out)}
	line, err := hp.out.ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("host in %s: %q %v", h.Name, line, err)
	}
	hp.id = strings.TrimSpace(line)
	return hp
}

func (hp *helper) do(cmd string) string {
	hp.t.Helper()
	if _, err := fmt.Fprintln(hp.in, cmd); err != nil {
		hp.t.Fatal(err)
	}
	line, err := hp.out.ReadString('\n')
	if err != nil {
		hp.t.Fatalf("%s: %v", cmd, err)
	}
	return strings.TrimSpace(line)
}

// poll runs cond every 200 ms until it holds or ctx ends.
func poll(ctx context.Context, cond func() bool) bool {
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
	return true
}

// TestNATTraversalOnTestbed: on real hosts in network namespaces, a node
// behind a NAT router reserves a slot on a public relay; a public node that
// cannot route to it reaches it through the relay's p2p-circuit address, and
// DCUtR upgrades that relayed connection to a direct one (a hole punched
// through the NAT).
func TestNATTraversalOnTestbed(t *testing.T) {
	if err := testbed.Available(true); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("testbed unavailable in CI: %v", err)
		}
		t.Skipf("no testbed here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tb, err := testbed.Create(ctx, testbed.Config{Prefix: "cooptb-p2p", Public: 2, NATed: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("removing the testbed: %v", err)
		}
	})
	h0, h1, n0 := tb.Host("h0"), tb.Host("h1"), tb.Host("n0")
	conf := func(ip, reach string) Config {
		c := DefaultConfig()
		c.ListenIP, c.TCPPort, c.DisableQUIC = ip, 4101, true
		c.Reachability = reach
		return c
	}
	relay := startHelper(t, h0, conf(h0.Addr, ReachabilityPublic))
	relayAddr := fmt.Sprintf("/ip4/%s/tcp/4101/p2p/%s", h0.Addr, relay.id)
	public := startHelper(t, h1, conf(h1.Addr, ReachabilityPublic))
	nc := conf(n0.Addr, ReachabilityPrivate)
	nc.Bootstrap = []string{relayAddr}
	natted := startHelper(t, n0, nc)

	// The NAT'd node's LAN address is not reachable from outside.
	if got := public.do(fmt.Sprintf("connect /ip4/%s/tcp/4101/p2p/%s", n0.Addr, natted.id)); got == "ok" {
		t.Fatal("a public host dialed the NAT'd host's LAN address directly")
	}
	// It gets a relay address through h0.
	if !poll(ctx, func() bool { return strings.Contains(natted.do("addrs"), "/p2p-circuit") }) {
		t.Fatalf("the NAT'd host got no relay address: %s", natted.do("addrs"))
	}
	// Its hole-punching service starts once it knows an address others see
	// (identify's observed address through its NAT): only then does an
	// inbound relayed connection start DCUtR.
	if !poll(ctx, func() bool { return strings.Contains(natted.do("protocols"), "/libp2p/dcutr") }) {
		t.Fatalf("the NAT'd host's hole punching never started: %s", natted.do("protocols"))
	}
	circuit := relayAddr + "/p2p-circuit/p2p/" + natted.id
	if got := public.do("connect " + circuit); got != "ok" {
		t.Fatalf("dialing the NAT'd host through the relay: %s", got)
	}
	// DCUtR: a direct connection appears beside (or instead of) the relayed one.
	var conns string
	if !poll(ctx, func() bool {
		conns = public.do("conns " + natted.id)
		return strings.Contains(conns, "direct=/ip4/"+n0.PublicAddr)
	}) {
		t.Fatalf("no hole punched: h1's connections to n0: %s", conns)
	}
	t.Logf("h1 → n0 (behind NAT, seen as %s): %s", n0.PublicAddr, conns)
}
