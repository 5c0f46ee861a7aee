package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// placeTxs lists the place_file and place_files txs signer's key got
// committed (code 0) in the blocks after height from whose results are
// stored, as their entry counts. A put returns once its tx's result is
// stored, and results are stored height by height, so every put that
// returned has its tx there.
func placeTxs(t testing.TB, net *TestNetwork, signer chain.Address, from int64) []int {
	t.Helper()
	ctx := context.Background()
	rpc := net.Ledger.Client(0).RPC()
	var out []int
	for h := from + 1; ; h++ {
		res, err := rpc.BlockResults(ctx, &h)
		if err != nil {
			break // not stored yet: none of the puts' txs is here or later
		}
		blk, err := rpc.Block(ctx, &h)
		if err != nil {
			t.Fatalf("block %d, whose results are stored: %v", h, err)
		}
		for i, raw := range blk.Block.Txs {
			tx, err := chain.DecodeTx(raw)
			if err != nil || tx.Signer() != signer || res.TxResults[i].Code != 0 {
				continue
			}
			body, err := chain.DecodeBody(tx)
			if err != nil {
				t.Fatal(err)
			}
			switch b := body.(type) {
			case *chain.PlaceFile:
				out = append(out, 1)
			case *chain.PlaceFiles:
				out = append(out, len(b.Files))
			}
		}
	}
	return out
}

// holdPlacements installs hooks that, once arm is called, make the
// batcher wait, before it next takes placements from its queue, until
// want placements are queued (so they share a tx whatever the timing).
// Call it before the network starts: the hooks are reset at cleanup, after
// the network stopped.
//
// A put that fails before its placement queues calls gaveUp, so the
// batcher does not wait for it.
func holdPlacements(t *testing.T, want int) (arm, gaveUp func()) {
	var (
		mu            sync.Mutex
		armed, taken  bool
		full          = make(chan struct{})
		closed        bool
		queued, given int
	)
	check := func() {
		if armed && queued+given >= want && !closed {
			closed = true
			close(full)
		}
	}
	testHookPlaceQueued = func(n int) {
		mu.Lock()
		defer mu.Unlock()
		queued = n
		check()
	}
	testHookPlaceTake = func() {
		mu.Lock()
		wait := armed && !taken
		taken = taken || armed
		mu.Unlock()
		if wait {
			select {
			case <-full:
			case <-t.Context().Done(): // the test failed before: let the node close
			}
		}
	}
	t.Cleanup(func() { testHookPlaceQueued, testHookPlaceTake = nil, nil })
	arm = func() {
		mu.Lock()
		armed = true
		mu.Unlock()
	}
	gaveUp = func() {
		mu.Lock()
		given++
		check()
		mu.Unlock()
	}
	return arm, gaveUp
}

// TestConcurrentSmallPutsShareATx: a lone put is placed at once in its own
// place_file; then 20 concurrent small puts from one node are recorded in
// one place_files tx (counted in the blocks), each file reads back
// bit-exact on another node, and the account's quota grows by exactly
// what 20 single placements charge (PieceBytes of each).
func TestConcurrentSmallPutsShareATx(t *testing.T) {
	const puts = 20
	arm, gaveUp := holdPlacements(t, puts)
	// 20 puts push to the same three holders at once, more than a
	// holder serves one peer at a time: the uploader's pushes wait for a
	// slot (exchange.Config.MaxOutboundPerPeer) instead of failing busy.
	net := StartTestNetwork(t, 4, nil)
	a, reader := net.Nodes[0], net.Nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	height := func() int64 {
		h, _, err := a.lc.Height(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	scfg := a.cfg.Storage
	quota := func() uint64 {
		v, err := a.lc.Account(ctx, a.addr)
		if err != nil {
			t.Fatal(err)
		}
		return v.QuotaUsed
	}

	h0, q0 := height(), quota()
	lone := make([]byte, 3000)
	_, _ = rand.Read(lone)
	if _, err := a.Put(ctx, bytes.NewReader(lone), int64(len(lone)), api.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := placeTxs(t, net, a.addr, h0); len(got) != 1 || got[0] != 1 {
		t.Fatalf("a lone put was placed in txs of %v entries, want one place_file", got)
	}

	arm()
	h1, q1 := height(), quota()
	if q1-q0 != PieceBytes(int64(len(lone)), scfg) {
		t.Fatalf("the lone put charged %d bytes, want %d", q1-q0, PieceBytes(int64(len(lone)), scfg))
	}
	data := make([][]byte, puts)
	caps := make([]string, puts)
	errs := make([]error, puts)
	var want uint64
	for i := range data {
		data[i] = make([]byte, 1000+200*i)
		_, _ = rand.Read(data[i])
		want += PieceBytes(int64(len(data[i])), scfg)
	}
	var wg sync.WaitGroup
	for i := range data {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.Put(ctx, bytes.NewReader(data[i]), int64(len(data[i])), api.PutOptions{})
			if err == nil {
				caps[i] = res.Capability
			} else {
				gaveUp()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	got := placeTxs(t, net, a.addr, h1)
	if len(got) != 1 || got[0] != puts {
		t.Fatalf("%d concurrent puts were placed in txs of %v entries, want one tx of %d", puts, got, puts)
	}
	if q := quota(); q-q1 != want {
		t.Fatalf("the batch charged %d bytes of quota, %d single placements charge %d", q-q1, puts, want)
	}
	for i, c := range caps {
		b, err := getAll(ctx, apiClient(t, reader), c)
		if err != nil {
			t.Fatalf("get of put %d on another node: %v", i, err)
		}
		if !bytes.Equal(b, data[i]) {
			t.Fatalf("put %d reads back different bytes", i)
		}
	}
}

// TestARefusedBatchIsPlacedFileByFile: three concurrent puts, each within
// quota alone, two of them together: their batch is refused (all or
// nothing), each is then sent alone, and exactly the two that fit are
// placed; the third put fails with ErrQuotaExceeded.
func TestARefusedBatchIsPlacedFileByFile(t *testing.T) {
	arm, gaveUp := holdPlacements(t, 3)
	arm()
	const size = 4 << 10
	scfg := TestConfig("").Storage
	per := PieceBytes(size, scfg)
	dc := ledger.TestNetConfig(t, 4)
	dc.Genesis.Params.Allowance = 2*per + per/2
	net := StartTestNetworkWith(t, dc, nil)
	a := net.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	h0, _, err := a.lc.Height(ctx)
	if err != nil {
		t.Fatal(err)
	}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, size)
			_, _ = rand.Read(b)
			if _, errs[i] = a.Put(ctx, bytes.NewReader(b), size, api.PutOptions{}); errs[i] != nil {
				gaveUp() // over quota: refused after queuing, or failed before it
			}
		}()
	}
	wg.Wait()
	placed, over := 0, 0
	for i, err := range errs {
		switch {
		case err == nil:
			placed++
		case errors.Is(err, ErrQuotaExceeded):
			over++
		default:
			t.Fatalf("put %d: %v", i, err)
		}
	}
	if placed != 2 || over != 1 {
		t.Fatalf("%d puts placed, %d over quota; want 2 and 1", placed, over)
	}
	if got := placeTxs(t, net, a.addr, h0); len(got) != 2 || got[0] != 1 || got[1] != 1 {
		t.Fatalf("committed placements %v, want two place_file txs", got)
	}
	m := scrape(t, a)
	if v := metricValue(m, "coop_txs_failed_total", map[string]string{"type": chain.TypePlaceFiles}); v != 1 {
		t.Errorf("%v place_files txs failed, want the one batch", v)
	}
	if v := metricValue(m, "coop_txs_sent_total", map[string]string{"type": chain.TypePlaceFile}); v != 2 {
		t.Errorf("%v place_file txs sent, want 2 (the batch's entries that fit, alone)", v)
	}
	if v, err := a.lc.Account(ctx, a.addr); err != nil || v.QuotaUsed != 2*per {
		t.Fatalf("quota used %d (%v), want %d", v.QuotaUsed, err, 2*per)
	}
}

// stallingLedger is a Ledger whose place_files waits fail as on a halted
// ledger (fault injection); it counts the place_file txs sent through it.
type stallingLedger struct {
	Ledger
	mu     sync.Mutex
	single int
}

func (l *stallingLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	switch body.(type) {
	case *chain.PlaceFiles:
		return ledger.Result{}, fmt.Errorf("waiting for the batch: %w", ledger.ErrStalled)
	case *chain.PlaceFile:
		l.mu.Lock()
		l.single++
		l.mu.Unlock()
	}
	return l.Ledger.BroadcastCommit(ctx, body)
}

// TestAStalledBatchFailsEveryPutInIt: a batch whose wait ends without a
// verdict (the ledger stalled) may still commit, whole, so its placements
// are not sent again alone: each put in it fails as unavailable, as a lone
// put would.
func TestAStalledBatchFailsEveryPutInIt(t *testing.T) {
	arm, gaveUp := holdPlacements(t, 3)
	arm()
	keys := make([]ed25519.PrivateKey, 3)
	for i := range keys {
		_, keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	l := newMemLedger(t, keys...)
	var stall *stallingLedger
	nodes := make([]*Node, len(keys))
	for i := range nodes {
		cfg := TestConfig(t.TempDir())
		cfg.API.Listen = ""
		cfg.Storage.K, cfg.Storage.M = 2, 1
		var lc Ledger = l.client(keys[i])
		if i == 0 {
			stall = &stallingLedger{Ledger: lc}
			lc = stall
		}
		nd, err := start(context.Background(), cfg, keys[i], lc, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes[i] = nd
	}
	for _, nd := range nodes {
		nd.connectKnown(context.Background())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 2000)
			_, _ = rand.Read(b)
			if _, errs[i] = nodes[0].Put(ctx, bytes.NewReader(b), int64(len(b)), api.PutOptions{}); errs[i] != nil {
				gaveUp()
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ledger.ErrStalled) {
			t.Errorf("put %d: %v, want unavailable: stalled", i, err)
		}
	}
	if stall.single != 0 {
		t.Fatalf("%d placements of the stalled batch were sent again alone", stall.single)
	}
	files, err := l.client(keys[0]).Files(ctx, nodes[0].addr)
	if err != nil || len(files) != 0 {
		t.Fatalf("files on the ledger: %d (%v), want none", len(files), err)
	}
}
