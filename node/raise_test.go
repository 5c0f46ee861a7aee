package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

// TestRaiseCopiesAsNodesJoin, on real libp2p hosts and the real ledger
// rules: a put asking k=2 m=2 on a network of one node is kept in that
// node's store (one copy) and says it will be raised to 3 copies; as a
// second and then a third node join, the owner's repairer adds a copy on
// each, and with the owner and the second node gone the third reads the
// file back bit-exact.
func TestRaiseCopiesAsNodesJoin(t *testing.T) {
	keys := make([]ed25519.PrivateKey, 3)
	for i := range keys {
		_, keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	l := newMemLedger(t, keys...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodes := make([]*Node, 3)
	join := func(i int) *Node {
		t.Helper()
		cfg := TestConfig(t.TempDir())
		cfg.API.Listen = ""
		cfg.Storage.K, cfg.Storage.M = 2, 2
		cfg.PendingTimeout = 10 * time.Second
		cfg.RepairInterval = 50 * time.Millisecond
		nd, err := start(ctx, cfg, keys[i], l.client(keys[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes[i] = nd
		for _, o := range nodes[:i+1] {
			o.connectKnown(ctx)
		}
		return nd
	}
	owner := join(0)
	data := make([]byte, 1<<20+4321) // two segments
	_, _ = rand.Read(data)
	res, err := owner.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Name: "alone"})
	if err != nil {
		t.Fatal(err)
	}
	if res.K != 1 || res.M != 0 || !strings.Contains(res.Degraded, "it will be raised to 3 copies as nodes join") {
		t.Fatalf("put on one node: k=%d m=%d, note %q", res.K, res.M, res.Degraded)
	}
	id := chain.Hash(mustID(t, res.FileID))
	waitM := func(m uint32) chain.File {
		t.Helper()
		for {
			f, err := owner.lc.File(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if f.M >= m {
				return f
			}
			if ctx.Err() != nil {
				t.Fatalf("the file was not raised to m=%d in time (m=%d)", m, f.M)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for i := 1; i <= 2; i++ {
		nd := join(i)
		f := waitM(uint32(i))
		if f.M != uint32(i) || f.AskedM != 2 || len(f.Pieces) != 2*(i+1) {
			t.Fatalf("after node %d joined: m=%d asked %d, %d pieces", i, f.M, f.AskedM, len(f.Pieces))
		}
		for s := range 2 {
			p := f.Pieces[s*(i+1)+i]
			if p.Holder != nd.addr || p.ID != f.Pieces[s*(i+1)].ID {
				t.Fatalf("after node %d joined: segment %d's added piece %+v is not a copy on it", i, s, p)
			}
		}
	}
	infos, err := owner.Files(ctx)
	if err != nil || len(infos) != 1 || infos[0].RaiseTo != 0 || infos[0].M != 2 {
		t.Fatalf("file list after the raise: %+v %v", infos, err)
	}

	// The new holders hold their copies; then the owner and node 1 go.
	for _, nd := range nodes[1:] {
		for deadline := time.Now().Add(30 * time.Second); ; {
			if held, _ := owner.lc.Pieces(ctx, nd.addr); len(held) == 2 && nd.hold.isCredited(mustID(t, held[0].Piece.ID.String())) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s did not credit its copies in time", nd.addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = owner.Close()
	_ = nodes[1].Close()
	got, err := readAll(ctx, nodes[2], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read from the last node to join with the other two gone: %v", err)
	}
}
