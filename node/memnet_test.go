package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/storage/blockstore"
)

// startMemNetwork starts n real nodes (libp2p hosts on 127.0.0.1, real
// exchanges and block stores) on one in-memory ledger (memLedger: the real
// chain rules without CometBFT), so put, get and rm run in a second or two
// under -short. The API is off; tests call the Node methods.
func startMemNetwork(t *testing.T, n int) ([]*Node, *memLedger) {
	t.Helper()
	return startMemNetworkWith(t, n, nil)
}

// startMemNetworkWith is startMemNetwork with tweak (if not nil) applied to
// node i's config before it starts.
func startMemNetworkWith(t *testing.T, n int, tweak func(i int, c *Config)) ([]*Node, *memLedger) {
	t.Helper()
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		_, keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	l := newMemLedger(t, keys...)
	nodes := make([]*Node, n)
	for i := range n {
		cfg := TestConfig(t.TempDir())
		cfg.API.Listen = ""
		cfg.Storage.K, cfg.Storage.M = 2, 1
		cfg.PendingTimeout = time.Second
		if tweak != nil {
			tweak(i, &cfg)
		}
		nd, err := start(context.Background(), cfg, keys[i], l.client(keys[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes[i] = nd
	}
	for _, nd := range nodes {
		nd.connectKnown(context.Background())
	}
	return nodes, l
}

func readAll(ctx context.Context, n *Node, capability string) ([]byte, error) {
	rc, _, err := n.Open(ctx, capability)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestPutGetRemoveOnAMemoryLedger: a put carries receipts the real ledger
// rules accept, another node reads it bit-exact, and after rm every block
// of the file is gone from every node and reads fail as not found.
func TestPutGetRemoveOnAMemoryLedger(t *testing.T) {
	nodes, l := startMemNetwork(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 2<<20+5000)
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(ctx, nodes[2], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	ids := []blockstore.ID{mustID(t, res.FileID)}
	for _, p := range res.Pieces {
		ids = append(ids, mustID(t, p.Piece))
	}
	waitCredited(t, nodes, res)
	if err := nodes[0].Remove(ctx, res.FileID); err != nil {
		t.Fatal(err)
	}
	held := func(ids []blockstore.ID) []string {
		var out []string
		for i, n := range nodes {
			for _, id := range ids {
				if a, ok := n.store.Has(id); ok && (i != 2 || a == blockstore.Pinned) {
					out = append(out, fmt.Sprintf("node %d: %s in %v", i, id.String()[:8], a))
				}
			}
		}
		return out
	}
	waitGone := func(ids []blockstore.ID) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for left := held(ids); len(left) > 0; left = held(ids) {
			if time.Now().After(deadline) {
				t.Fatalf("blocks of the removed file still held: %v", left)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitGone(ids)
	dropCache(t, nodes[2]) // the reader's cached copies are the reader's business
	for i, n := range nodes {
		if _, err := readAll(ctx, n, res.Capability); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnavailable) {
			t.Errorf("node %d reads the removed file: %v", i, err)
		}
	}
	if _, err := readAll(ctx, nodes[0], res.FileID); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading the removed file by id: %v, want ErrNotFound", err)
	}
	if err := nodes[0].Remove(ctx, res.FileID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing it again: %v, want ErrNotFound", err)
	}
	if err := nodes[1].Remove(ctx, "zz"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("removing a malformed id: %v, want ErrInvalidArgument", err)
	}

	// Placed and removed before the holders reconciled: they never see the
	// credit, so the pieces stay pending until the receipts expire, and
	// are deleted then.
	res, err = nodes[0].Put(ctx, bytes.NewReader(data[:300<<10]), 300<<10, api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].Remove(ctx, res.FileID); err != nil {
		t.Fatal(err)
	}
	ids = []blockstore.ID{mustID(t, res.FileID)}
	for _, p := range res.Pieces {
		ids = append(ids, mustID(t, p.Piece))
	}
	params, err := nodes[0].lc.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l.advance(int(params.ReceiptTTL) + 1)
	waitGone(ids)
}

// waitCredited waits until every holder of a put's pieces has reconciled
// with the ledger's record of them.
func waitCredited(t *testing.T, nodes []*Node, res *api.PutResult) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, p := range res.Pieces {
		for _, n := range nodes {
			if n.addr.String() != p.Holder {
				continue
			}
			for !n.hold.isCredited(mustID(t, p.Piece)) {
				if time.Now().After(deadline) {
					t.Fatalf("piece %s not credited at its holder in time", p.Piece)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// TestPutFailsWhenAHolderRefusesItsReceiptAndNoneIsLeft: with two nodes
// and two copies, the one other holder refusing its receipt leaves no
// replacement, so the put fails clearly and records nothing.
func TestPutFailsWhenAHolderRefusesItsReceiptAndNoneIsLeft(t *testing.T) {
	nodes, _ := startMemNetwork(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := nodes[1]
	_ = b.x.Close()
	x, err := exchange.New(b.host.Libp2p(), b.cfg.Exchange, storeSource{b.store}, refusingSink{b.hold})
	if err != nil {
		t.Fatal(err)
	}
	b.x = x
	data := make([]byte, 100<<10)
	_, _ = rand.Read(data)
	_, err = nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 2})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, exchange.ErrRejected) {
		t.Fatalf("put: %v, want ErrUnavailable naming the refusal", err)
	}
	t.Log(err)
	if files, err := nodes[0].lc.Files(ctx, nodes[0].addr); err != nil || len(files) != 0 {
		t.Fatalf("files on the ledger after the failed put: %d, %v", len(files), err)
	}
}

// TestMalformedLedgerAddressesAreSkipped: the ledger bounds a node record's
// addresses but does not parse them; a node whose record also lists
// garbage is still reached through its good addresses, and puts still
// place on it.
func TestMalformedLedgerAddressesAreSkipped(t *testing.T) {
	nodes, _ := startMemNetwork(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a, c := nodes[0], nodes[2]
	addrs := []string{"not-a-multiaddr", "/ip4/127.0.0.1/tcp/1/p2p/" + a.host.ID().String()}
	for _, m := range c.host.Addrs() {
		addrs = append(addrs, m.String())
	}
	addrs = append(addrs, "/dns4/")
	if _, err := c.lc.BroadcastCommit(ctx, &chain.UpdateNode{Addrs: &addrs}); err != nil {
		t.Fatal(err)
	}
	// a forgets c entirely, then finds it again from the ledger alone.
	a.host.Libp2p().Peerstore().ClearAddrs(c.host.ID())
	if err := a.host.Libp2p().Network().ClosePeer(c.host.ID()); err != nil {
		t.Fatal(err)
	}
	a.connectKnown(ctx)
	if a.host.Libp2p().Network().Connectedness(c.host.ID()) != network.Connected {
		t.Fatal("a node listing a malformed address alongside good ones was not reached")
	}
	cands, err := a.candidates(ctx, [32]byte{})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cd := range cands {
		found = found || cd.rec.Address == c.addr
	}
	if !found {
		t.Fatal("the node is no longer a placement candidate")
	}
	data := make([]byte, 100<<10)
	_, _ = rand.Read(data)
	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(ctx, c, res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
}

// TestGetOfPiecesLargerThanTheCache: a reader whose whole cache budget is
// smaller than one piece (a small --cache, or large segments) still reads
// the file, through temporary files, and leaves nothing behind.
func TestGetOfPiecesLargerThanTheCache(t *testing.T) {
	const reader = 3
	nodes, _ := startMemNetworkWith(t, 4, func(i int, c *Config) {
		if i == reader {
			c.Blocks.CacheBytes = 256 << 10
			c.Pledge = 0 // holds nothing: every piece comes from the network
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3<<20+777) // 1 MiB segments at k=2: pieces of ~512 KiB
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Pieces {
		if p.Holder == nodes[reader].addr.String() {
			t.Fatalf("piece %s placed on the reader, which pledged nothing", p.Piece)
		}
	}
	got, err := readAll(ctx, nodes[reader], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back with a cache smaller than a piece: %v", err)
	}
	ents, err := os.ReadDir(nodes[reader].cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".get-") {
			t.Errorf("temporary piece file %s left behind", e.Name())
		}
	}
}
