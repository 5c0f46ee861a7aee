package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/proofs"
)

func TestFitRedundancy(t *testing.T) {
	for _, c := range []struct{ k, m, nodes, k2, m2 int }{
		{4, 2, 6, 4, 2}, // enough nodes: as asked
		{4, 2, 9, 4, 2}, // more than enough
		{4, 2, 5, 4, 1}, // same k, one parity piece
		{4, 2, 4, 1, 3}, // k+1 > nodes: whole copies on the 4
		{4, 2, 3, 1, 2}, // 3 copies
		{2, 2, 3, 2, 1}, // same k
		{1, 2, 2, 1, 1}, // asked 3 copies, 2 nodes: 2 copies
		{4, 2, 1, 1, 0}, // one node: one copy
		{4, 0, 3, 3, 0}, // no parity asked: none given
	} {
		k2, m2, ok := fitRedundancy(c.k, c.m, c.nodes)
		if !ok || k2 != c.k2 || m2 != c.m2 {
			t.Errorf("fitRedundancy(%d, %d, %d) = %d, %d, %v; want %d, %d, true", c.k, c.m, c.nodes, k2, m2, ok, c.k2, c.m2)
		}
	}
	if _, _, ok := fitRedundancy(4, 2, 0); ok {
		t.Error("fitRedundancy with no node: ok, want not ok")
	}
}

// The note says what was stored, what was asked, and what happens as
// nodes join.
func TestDegradedNote(t *testing.T) {
	for _, c := range []struct {
		askedK, askedM, k, m, nodes int
		selfOnly, raises            bool
		want                        string
	}{
		{2, 2, 2, 1, 3, false, true, "stored at k=2 m=1 on 3 nodes (asked k=2 m=2, which needs 4 nodes; the network has 3): it will be raised to k=2 m=2 as nodes join"},
		{4, 2, 1, 2, 3, false, true, "stored as 3 whole copies on 3 nodes (asked k=4 m=2, which needs 6 nodes; the network has 3): it survives 2 losses as asked, in more room, and stays so"},
		{4, 2, 1, 0, 1, true, true, "stored in this node's store only (1 copy) (asked k=4 m=2, which needs 6 nodes; the network has 1): it will be raised to 3 copies as nodes join (surviving 2 losses, as k=4 m=2 would, in more room)"},
		{2, 2, 1, 1, 2, false, false, "stored as 2 whole copies on 2 nodes (asked k=2 m=2, which needs 4 nodes; the network has 2): it will not be raised when nodes join (this node's repairer is off; put it again then)"},
		{4, 0, 3, 0, 3, false, true, "stored at k=3 m=0 on 3 nodes (asked k=4 m=0, which needs 4 nodes; the network has 3): no parity was asked, so there is nothing to raise"},
	} {
		if got := degradedNote(c.askedK, c.askedM, c.k, c.m, c.nodes, c.selfOnly, c.raises); got != c.want {
			t.Errorf("degradedNote(%+v)\n got %q\nwant %q", c, got, c.want)
		}
	}
}

// putHolders is the set of distinct holders of a put's pieces.
func putHolders(res *api.PutResult) map[string]bool {
	h := map[string]bool{}
	for _, p := range res.Pieces {
		h[p.Holder] = true
	}
	return h
}

// TestPutDegradesOnASmallNetwork: on 3 real nodes, a put whose k+m needs
// more nodes stores at what the network gives, says so in the result, and
// reads back from another node; a strict put refuses with ErrNoHolders.
func TestPutDegradesOnASmallNetwork(t *testing.T) {
	nodes, _ := startMemNetworkWith(t, 3, func(_ int, c *Config) { c.Storage.K, c.Storage.M = 4, 2 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 300<<10)
	_, _ = rand.Read(data)
	put := func(o api.PutOptions) (*api.PutResult, error) {
		return nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), o)
	}

	// The node's default 4+2 on 3 nodes: 3 whole copies.
	res, err := put(api.PutOptions{Name: "d"})
	if err != nil {
		t.Fatalf("default put on 3 nodes: %v", err)
	}
	if res.K != 1 || res.M != 2 || res.Copies != 3 || res.AskedK != 4 || res.AskedM != 2 {
		t.Errorf("default put: k=%d m=%d copies=%d asked k=%d m=%d; want 3 copies, asked 4+2", res.K, res.M, res.Copies, res.AskedK, res.AskedM)
	}
	if !strings.Contains(res.Degraded, "3 whole copies on 3 nodes") || !strings.Contains(res.Degraded, "survives 2 losses as asked") {
		t.Errorf("degraded note %q", res.Degraded)
	}
	if h := putHolders(res); len(h) != 3 {
		t.Errorf("%d holders, want 3", len(h))
	}
	got, err := readAll(ctx, nodes[2], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back the degraded put: %v", err)
	}

	// Explicit 2+2: keeps k, one parity piece.
	res, err = put(api.PutOptions{K: 2, M: 2, Name: "x"})
	if err != nil {
		t.Fatalf("put 2+2 on 3 nodes: %v", err)
	}
	if res.K != 2 || res.M != 1 || res.AskedK != 2 || res.AskedM != 2 || res.Degraded == "" {
		t.Errorf("put 2+2: k=%d m=%d asked k=%d m=%d note %q; want 2+1, asked 2+2", res.K, res.M, res.AskedK, res.AskedM, res.Degraded)
	}
	if got, err := readAll(ctx, nodes[1], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back the 2+1 put: %v", err)
	}

	// What fits is not degraded.
	res, err = put(api.PutOptions{K: 2, M: 1, Name: "fits"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Degraded != "" || res.AskedK != 0 || res.K != 2 || res.M != 1 {
		t.Errorf("put 2+1 on 3 nodes: k=%d m=%d asked k=%d note %q; want as asked, no note", res.K, res.M, res.AskedK, res.Degraded)
	}

	// The node's file list keeps what was asked.
	files, err := nodes[0].Files(ctx)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]string{}
	for _, f := range files {
		asked[f.Name] = fmt.Sprintf("%d+%d of %d+%d", f.K, f.M, f.AskedK, f.AskedM)
	}
	if asked["d"] != "1+2 of 4+2" || asked["x"] != "2+1 of 2+2" || asked["fits"] != "2+1 of 0+0" {
		t.Errorf("file list: %v, want d 1+2 of 4+2, x 2+1 of 2+2, fits 2+1 of 0+0", asked)
	}

	// Strict refuses.
	if _, err := put(api.PutOptions{Strict: true}); !errors.Is(err, ErrNoHolders) {
		t.Errorf("strict 4+2 put on 3 nodes: %v, want ErrNoHolders", err)
	}
}

// TestPutOnASingleNodeKeepsItLocally: a network of one node stores the
// file in its own store, recorded on the ledger, and reads it back.
func TestPutOnASingleNodeKeepsItLocally(t *testing.T) {
	nodes, _ := startMemNetwork(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 100<<10)
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatalf("put on a single node: %v", err)
	}
	if res.K != 1 || res.M != 0 || res.Copies != 1 || !strings.Contains(res.Degraded, "this node's store only") {
		t.Errorf("single node put: k=%d m=%d copies=%d note %q", res.K, res.M, res.Copies, res.Degraded)
	}
	if h := putHolders(res); len(h) != 1 || !h[nodes[0].addr.String()] {
		t.Errorf("holders %v, want this node only", h)
	}
	if _, err := nodes[0].lc.File(ctx, chain.Hash(mustID(t, res.FileID))); err != nil {
		t.Errorf("the ledger has no record of the file: %v", err)
	}
	if got, err := readAll(ctx, nodes[0], res.Capability); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	// The pieces it keeps got their Levels (from the pass that wrote them),
	// leading to the roots the ledger records.
	f, err := nodes[0].lc.File(ctx, chain.Hash(mustID(t, res.FileID)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Pieces {
		lv, err := nodes[0].hold.levels.Levels(p.ID)
		if err != nil {
			t.Fatalf("piece %d/%d: no Levels kept: %v", p.Segment, p.Index, err)
		}
		if err := lv.Check(proofs.Hash(p.Root)); err != nil {
			t.Fatalf("piece %d/%d: %v", p.Segment, p.Index, err)
		}
	}
}
