package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage/blockstore"
)

// TestRepairOnADevnet, on four CometBFT validators with 10-block epochs: a
// holder whose daemon stops is recorded missing once the epoch after its
// last proof ends (its validator keeps running); after
// repair_after_missed missed epochs its pieces are repaired to full
// redundancy within one epoch of that, its earned quota is gone and the
// file reads back bit-exact; restarted and given pieces again, it proves
// again.
func TestRepairOnADevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four CometBFT validators")
	}
	dc := ledger.TestNetConfig(t, 4)
	dc.Genesis.Params.EpochLength = 10
	net := StartTestNetworkWith(t, dc, func(i int, c *Config) {
		c.ProveInterval = 100 * time.Millisecond
		c.RepairInterval = 100 * time.Millisecond
		c.Storage.K, c.Storage.M = 2, 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner := net.Nodes[0]
	lc := owner.Ledger()
	E := dc.Genesis.Params.EpochLength
	epochOf := func(h int64) uint64 { return uint64(h-1) / E }
	poll := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	node := func(a chain.Address) chain.Node {
		t.Helper()
		n, err := lc.Node(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	epoch := func() uint64 {
		t.Helper()
		e, err := lc.Epoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return e.Number
	}
	outcome := func(e uint64, a chain.Address) (chain.EpochOutcome, bool) {
		var o chain.EpochOutcome
		err := lc.Query(ctx, fmt.Sprintf("%s%d/%s", chain.QueryOutcome, e, a), &o)
		return o, err == nil
	}
	put := func() ([]byte, *api.PutResult) {
		t.Helper()
		data := make([]byte, 300<<10)
		_, _ = rand.Read(data)
		res, err := owner.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitCredited(t, net.Nodes, res)
		return data, res
	}

	data, res := put()
	victim := -1
	for i, n := range net.Nodes {
		if i > 0 && n.addr.String() == res.Pieces[0].Holder {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("piece 0 is on the owner: %+v", res.Pieces)
	}
	gone := net.Nodes[victim].addr
	poll("every holder to prove", func() bool {
		for _, p := range res.Pieces {
			a, _ := chain.ParseAddress(p.Holder)
			if node(a).ProofsPassed == 0 {
				return false
			}
		}
		return true
	})
	before, err := lc.Account(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if before.QuotaEarned == 0 || before.QuotaLimit <= dc.Genesis.Params.Allowance {
		t.Fatalf("the holder earns nothing before it stops: %+v", before)
	}
	net.Stop(victim)
	stopped := epoch()

	// Recorded missing after the answer window: epoch stopped+1 is one it
	// cannot have answered.
	poll("the stopped holder's outcome of the next epoch", func() bool { _, ok := outcome(stopped+1, gone); return ok })
	if o, _ := outcome(stopped+1, gone); o.Outcome != chain.OutcomeMissing {
		t.Fatalf("stopped holder's epoch %d: %+v", stopped+1, o)
	}
	// Detection: the settlement that makes its missed_in_row reach
	// repair_after_missed.
	after := dc.Genesis.Params.RepairAfterMissed
	poll("repair_after_missed missed epochs", func() bool { return node(gone).MissedInRow >= after })
	var detected uint64
	var run uint64
	for e := stopped; run < after; e++ {
		o, ok := outcome(e, gone)
		if ok && o.Outcome == chain.OutcomeMissing {
			run++
			detected = epochOf(o.Height)
		} else {
			run = 0
		}
		if e > stopped+after+2 {
			t.Fatalf("no %d missing outcomes in a row after epoch %d", after, stopped)
		}
	}
	// Repaired to full redundancy: no piece names the stopped holder,
	// every holder runs and has its piece pinned.
	var repairedBy uint64
	poll("the repair", func() bool {
		e := epoch()
		f, err := lc.File(ctx, chain.Hash(mustID(t, res.FileID)))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Pieces {
			var h *Node
			for _, n := range net.Nodes {
				if n != nil && n.addr == p.Holder {
					h = n
				}
			}
			if h == nil {
				return false // the stopped holder, or a node not running
			}
			if a, ok := h.store.Has(blockstore.ID(p.ID)); !ok || a != blockstore.Pinned {
				return false
			}
		}
		repairedBy = e
		return true
	})
	if repairedBy > detected+1 {
		t.Fatalf("repaired by epoch %d, detected in epoch %d: more than one epoch later", repairedBy, detected)
	}
	t.Logf("stopped in epoch %d, detected in epoch %d, repaired by epoch %d", stopped, detected, repairedBy)
	acct, err := lc.Account(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}
	if acct.QuotaEarned != 0 || acct.QuotaLimit != dc.Genesis.Params.Allowance || acct.QuotaLimit >= before.QuotaLimit {
		t.Fatalf("stopped holder's quota after the repair: %+v, before %+v", acct, before)
	}
	reader := 1
	if reader == victim {
		reader = 2
	}
	dropCache(t, net.Nodes[reader])
	got, err := readAll(ctx, net.Nodes[reader], res.Capability)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("reading the repaired file: %v", err)
	}

	// Restarted, and given pieces again (it has the most room), it proves.
	net.Restart(victim)
	for _, n := range net.Nodes {
		n.connectKnown(ctx)
	}
	data2, res2 := put()
	holds := false
	for _, p := range res2.Pieces {
		holds = holds || p.Holder == gone.String()
	}
	if !holds {
		t.Fatalf("the restarted node got no piece of a new put: %+v", res2.Pieces)
	}
	passed := node(gone).ProofsPassed
	poll("the restarted node to prove", func() bool { n := node(gone); return n.ProofsPassed > passed && n.MissedInRow == 0 })

	// A holder that deletes the pieces it is credited with (its daemon
	// keeps running) fails every challenge of its next proof: each is a
	// failed audit, so it is disqualified; its pieces are marked lost and
	// repaired, and the file reads back bit-exact.
	cheat := -1
	for i, n := range net.Nodes {
		for _, p := range res2.Pieces {
			if i > 0 && n.addr.String() == p.Holder && n.addr != gone {
				cheat = i
			}
		}
	}
	if cheat < 0 {
		t.Fatalf("no holder of the second put besides the owner and the restarted node: %+v", res2.Pieces)
	}
	liar := net.Nodes[cheat]
	held, err := lc.Pieces(ctx, liar.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, hp := range held {
		if err := liar.hold.deleteBlock(ctx, blockstore.ID(hp.Piece.ID)); err != nil {
			t.Fatal(err)
		}
	}
	poll("the deleting holder to be disqualified", func() bool { return node(liar.addr).Status == chain.NodeDisqualified })
	if n := node(liar.addr); n.Used != 0 || n.HeldForOthers != 0 || n.PiecesLost < uint64(len(held)) {
		t.Fatalf("disqualified holder %+v, held %d pieces", n, len(held))
	}
	if acct, err := lc.Account(ctx, liar.addr); err != nil || acct.QuotaEarned != 0 || acct.QuotaLimit != dc.Genesis.Params.Allowance {
		t.Fatalf("disqualified holder's account %+v %v", acct, err)
	}
	for _, r := range []*api.PutResult{res, res2} {
		poll("the disqualified holder's pieces to be repaired", func() bool {
			f, err := lc.File(ctx, chain.Hash(mustID(t, r.FileID)))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range f.Pieces {
				if p.Holder == liar.addr {
					return false
				}
			}
			lost, err := lc.Lost(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lost {
				if l.File == f.ID {
					return false
				}
			}
			return true
		})
	}
	dropCache(t, net.Nodes[reader])
	for _, r := range []struct {
		res  *api.PutResult
		data []byte
	}{{res, data}, {res2, data2}} {
		got, err := readAll(ctx, net.Nodes[reader], r.res.Capability)
		if err != nil || !bytes.Equal(got, r.data) {
			t.Fatalf("reading %s after the disqualified holder's pieces were repaired: %v", r.res.FileID, err)
		}
	}
}
