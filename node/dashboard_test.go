package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

// The dashboard's file health and account routes report the ledger's
// records: pieces live per segment (and reachable now), and the quota with
// what it comes from, as chain computes it.
func TestDashboardHealthAndAccountFromLedger(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	net := StartTestNetwork(t, 2, nil)
	a, b := net.Nodes[0], net.Nodes[1]
	ca := apiClient(t, a)
	data := bytes.Repeat([]byte("dashboard "), 150_000) // 1.4 MiB: two 1 MiB segments
	res, err := ca.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 2, Name: "d.bin"})
	if err != nil {
		t.Fatal(err)
	}

	all, err := ca.FilesHealth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].FileID != res.FileID || all[0].K != 1 || all[0].M != 1 {
		t.Fatalf("health of the account's files: %+v", all)
	}
	if len(all[0].Segments) != 2 {
		t.Fatalf("%d segments, want 2: %+v", len(all[0].Segments), all[0])
	}
	for _, s := range all[0].Segments {
		if s.Pieces != 2 || s.Live != 2 || s.Reachable != 2 || len(s.Down) != 0 {
			t.Fatalf("segment %+v, want 2 pieces live and reachable", s)
		}
	}
	if _, err := ca.FileHealth(ctx, "nope"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("health of a malformed id: %v", err)
	}
	if _, err := ca.FileHealth(ctx, "00"+res.FileID[2:]); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("health of an unknown file: %v", err)
	}

	// The account: what the ledger says, and the limit chain.QuotaLimit
	// gives for it.
	lc := net.Ledger.Client(0)
	params, err := lc.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acctA, err := lc.Account(ctx, a.addr)
	if err != nil {
		t.Fatal(err)
	}
	infoA, err := ca.Account(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := lc.File(ctx, chain.Hash(mustID(t, res.FileID)))
	if err != nil {
		t.Fatal(err)
	}
	q := infoA.Quota
	if infoA.Address != a.addr.String() || infoA.Credits != acctA.Credits || q.Used != acctA.QuotaUsed || q.Used != f.Bytes ||
		q.Limit != acctA.QuotaLimit || q.Allowance != params.Allowance || !q.HasNode || q.Pledge != net.Configs[0].Pledge {
		t.Fatalf("account %+v\nledger %+v (file bytes %d)", infoA, acctA, f.Bytes)
	}
	// B holds a copy of A's file: the bytes it holds for others, and what
	// they earn, are the ledger's.
	// B's ledger may be a block behind the one the file was placed on.
	var infoB *api.AccountInfo
	waitFor(t, "B's node to see its credit", func() error {
		var err error
		if infoB, err = apiClient(t, b).Account(ctx); err == nil && infoB.Quota.HeldForOthers != f.Bytes/2 {
			err = fmt.Errorf("B's node shows %d held for others, not yet %d", infoB.Quota.HeldForOthers, f.Bytes/2)
		}
		return err
	})
	recB, err := lc.Node(ctx, b.addr)
	if err != nil {
		t.Fatal(err)
	}
	if infoB.Quota.HeldForOthers != f.Bytes/2 || infoB.Quota.HeldForOthers != recB.HeldForOthers ||
		infoB.Quota.ProvedForOthers != recB.ProvedForOthers || infoB.Quota.Earned != chain.EarnedQuota(params, &recB) ||
		infoB.Quota.EarningUsable != chain.EarningUsable(params, &recB) {
		t.Fatalf("holder's quota %+v, ledger record %+v", infoB.Quota, recB)
	}
	want := params.Allowance
	if infoB.Quota.EarningUsable {
		want += infoB.Quota.Earned
	}
	if infoB.Quota.Limit != want {
		t.Fatalf("holder's limit %d, want allowance + usable earnings = %d", infoB.Quota.Limit, want)
	}

	// With B stopped its pieces stay live on the ledger (it has not
	// missed epochs yet) but are no longer reachable.
	net.Stop(1)
	for {
		h, err := ca.FileHealth(ctx, res.FileID)
		if err != nil {
			t.Fatal(err)
		}
		if h.Segments[0].Reachable == 1 && h.Segments[1].Reachable == 1 {
			for _, s := range h.Segments {
				if s.Live != 2 {
					t.Fatalf("segment %+v: live %d right after the holder stopped, want 2", s, s.Live)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("pieces still reachable after the holder stopped: %+v", h)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fileHealth marks a piece down for each of chain.Repairable's reasons,
// and counts reachable only live pieces of reachable holders.
func TestFileHealthReasons(t *testing.T) {
	params := chain.DefaultParams()
	addr := func(b byte) chain.Address { var a chain.Address; a[0] = b; return a }
	up, gone, offline, far := addr(1), addr(2), addr(3), addr(4)
	v := &healthView{
		params: params,
		nodes: map[chain.Address]*chain.Node{
			up:      {Address: up, Status: chain.NodeActive},
			gone:    {Address: gone, Status: chain.NodeDisqualified},
			offline: {Address: offline, Status: chain.NodeActive, MissedInRow: params.RepairAfterMissed},
			far:     {Address: far, Status: chain.NodeActive},
		},
		lost:      map[chain.PieceRef]bool{},
		reachable: map[chain.Address]bool{up: true, gone: true, offline: true},
	}
	f := &chain.File{K: 2, M: 2}
	f.ID[0] = 9
	// Segment 0: up, gone, offline, far. Segment 1: up (lost), up, up, far.
	for s, holders := range [][]chain.Address{{up, gone, offline, far}, {up, up, up, far}} {
		for i, h := range holders {
			f.Pieces = append(f.Pieces, chain.Piece{Segment: uint32(s), Index: uint32(i), Holder: h})
		}
	}
	v.lost[chain.PieceRef{File: f.ID, Segment: 1, Index: 0}] = true
	h := v.fileHealth(f)
	if len(h.Segments) != 2 {
		t.Fatalf("%d segments", len(h.Segments))
	}
	s0, s1 := h.Segments[0], h.Segments[1]
	if s0.Pieces != 4 || s0.Live != 2 || s0.Reachable != 1 || len(s0.Down) != 2 ||
		s0.Down[0] != (api.PieceDown{Index: 1, Holder: gone.String(), Why: chain.LostDisqualified}) ||
		s0.Down[1] != (api.PieceDown{Index: 2, Holder: offline.String(), Why: chain.LostOffline}) {
		t.Fatalf("segment 0: %+v", s0)
	}
	if s1.Live != 3 || s1.Reachable != 2 || len(s1.Down) != 1 || s1.Down[0].Why != "lost" || s1.Down[0].Index != 0 {
		t.Fatalf("segment 1: %+v", s1)
	}
	if e := v.fileHealth(&chain.File{}); len(e.Segments) != 0 {
		t.Fatalf("empty file: %+v", e)
	}
}
