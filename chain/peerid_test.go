package chain

import (
	"crypto/ed25519"
	"math/rand/v2"
	"strings"
	"testing"

	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestPeerIDOfMatchesLibp2p compares the standard-library peer id with
// go-libp2p's peer.IDFromPublicKey for many random keys (and the all-zero
// and all-ones keys).
func TestPeerIDOfMatchesLibp2p(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	keys := [][]byte{make([]byte, 32), []byte(strings.Repeat("\xff", 32))}
	for range 2000 {
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(rng.Uint32())
		}
		keys = append(keys, ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
	}
	for _, pub := range keys {
		got, err := PeerIDOf(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, err := p2pcrypto.UnmarshalEd25519PublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if got != id.String() {
			t.Fatalf("key %x: PeerIDOf %s, libp2p %s", pub, got, id)
		}
	}
	if _, err := PeerIDOf(make([]byte, 31)); err == nil {
		t.Fatal("a 31-byte key has a peer id")
	}
}

func TestBase58Encode(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"\x00", "1"},
		{"\x00\x00\x01", "112"},
		{"\x39", "z"},
		{"\x3a", "21"},
		{"Hello World!", "2NEpo7TZRRrLZSi2U"},
		{"\x00\x00\x28\x7f\xb4\xcd", "11233QC4"},
	} {
		if got := base58Encode([]byte(c.in)); got != c.want {
			t.Errorf("base58(%x) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestNodeAddrsAreOnlyBounded: the ledger takes any short printable
// address list (node/ parses the multiaddrs) and refuses what is not.
func TestNodeAddrsAreOnlyBounded(t *testing.T) {
	ok := [][]string{nil, {"/ip4/127.0.0.1/tcp/4001"}, {"not-a-multiaddr-but-printable"}, {strings.Repeat("a", maxNodeAddrLen)}, make16("/dns/x")}
	for _, a := range ok {
		if err := checkAddrs(a); err != nil {
			t.Errorf("%q: %v", a, err)
		}
	}
	bad := []struct {
		addrs []string
		msg   string
	}{
		{append(make16("/dns/x"), "/dns/y"), "17 addrs, at most 16"},
		{[]string{""}, "addr 0 is 0 bytes"},
		{[]string{"/ip4/1.2.3.4", strings.Repeat("a", maxNodeAddrLen+1)}, "addr 1 is 257 bytes"},
		{[]string{"/dns/a b"}, "byte 0x20 at 6"},
		{[]string{"/dns/\x00"}, "byte 0x00"},
		{[]string{"/dns/é"}, "byte 0xc3"},
		{[]string{"/dns/\x7f"}, "byte 0x7f"},
	}
	for _, c := range bad {
		err := checkAddrs(c.addrs)
		if CodeOf(err) != CodeInvalid || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: %v, want CodeInvalid with %q", c.addrs, err, c.msg)
		}
	}
}

func make16(a string) []string {
	out := make([]string, maxNodeAddrs)
	for i := range out {
		out[i] = a
	}
	return out
}
