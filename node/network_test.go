package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

func apiClient(t testing.TB, n *Node) *api.Client {
	t.Helper()
	c, err := api.NewClientFromHome(n.cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func getAll(ctx context.Context, c *api.Client, capability string) ([]byte, error) {
	rc, _, err := c.Open(ctx, capability)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// dropCache empties a node's cache area, so its next get goes to the network.
func dropCache(t *testing.T, n *Node) {
	t.Helper()
	for _, id := range n.store.List(blockstore.Cache) {
		if err := n.store.Delete(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// corruptBlock flips a byte of a block in a node's store, on disk.
func corruptBlock(t *testing.T, n *Node, id blockstore.ID) {
	t.Helper()
	var path string
	_ = filepath.WalkDir(filepath.Join(n.cfg.Home, "blocks"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == id.String() {
			path = p
		}
		return nil
	})
	if path == "" {
		t.Fatalf("block %s not on disk", id)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, 100); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, 100); err != nil {
		t.Fatal(err)
	}
}

func indexOf(t *testing.T, net *TestNetwork, addr string) int {
	t.Helper()
	for i, n := range net.Nodes {
		if n != nil && n.addr.String() == addr {
			return i
		}
	}
	t.Fatalf("no running node has address %s", addr)
	return -1
}

// TestFiveNodeNetwork is the vertical slice: put on A, get on E bit-exact;
// a holder serving corrupt bytes is skipped; m holders stopped still reads;
// m+1 stopped fails naming the segment; over quota fails before any push;
// the API wants its token.
func TestFiveNodeNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five CometBFT validators")
	}
	net := StartTestNetwork(t, 5, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, e := net.Nodes[0], net.Nodes[4]
	data := make([]byte, 3<<20+512<<10) // four 1 MiB segments, the last one short
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}

	res, err := apiClient(t, a).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 2, Name: "data.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Pieces) != 4*4 {
		t.Fatalf("%d pieces placed, want 16", len(res.Pieces))
	}
	for s := range 4 {
		seen := map[string]bool{}
		for _, p := range res.Pieces[s*4 : s*4+4] {
			if seen[p.Holder] {
				t.Fatalf("segment %d: holder %s twice", s, p.Holder)
			}
			if p.Holder == a.addr.String() {
				t.Fatalf("segment %d: the uploader holds a piece although four other nodes have room", s)
			}
			seen[p.Holder] = true
		}
	}
	f, err := a.lc.File(ctx, chain.Hash(mustID(t, res.FileID)))
	if err != nil || f.Owner != a.addr || len(f.Pieces) != 16 {
		t.Fatalf("ledger file record %+v, %v", f, err)
	}

	t.Run("holders keep levels and prove", func(t *testing.T) {
		byAddr := map[chain.Address]*Node{}
		for _, n := range net.Nodes {
			byAddr[n.addr] = n
		}
		for _, p := range f.Pieces {
			h := byAddr[p.Holder]
			lv, err := h.hold.levels.Levels(p.ID)
			if err != nil {
				t.Fatalf("levels of piece %s on its holder: %v", p.ID, err)
			}
			if err := lv.Check(proofs.Hash(p.Root)); err != nil {
				t.Fatal(err)
			}
		}
		// Every holder's prover reads its challenges over the real query,
		// proves them from its store and the ledger counts them proved.
		deadline := time.Now().Add(time.Minute)
		for _, p := range f.Pieces {
			h := byAddr[p.Holder]
			for {
				rec, err := h.lc.Node(ctx, h.addr)
				if err != nil {
					t.Fatal(err)
				}
				if rec.ProofsFailed != 0 {
					t.Fatalf("holder %s failed %d proofs", h.addr, rec.ProofsFailed)
				}
				if rec.ProofsPassed > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("holder %s proved no epoch in a minute", h.addr)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})

	t.Run("get on another node is bit-exact", func(t *testing.T) {
		got, err := getAll(ctx, apiClient(t, e), res.Capability)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("the file read on E differs from the one put on A")
		}
	})

	t.Run("a capability with the wrong key is refused", func(t *testing.T) {
		c, err := storage.ParseCapability(res.Capability)
		if err != nil {
			t.Fatal(err)
		}
		c.Key[0] ^= 1
		for _, n := range []*Node{e, net.Nodes[1]} { // manifest cached, and not
			_, err = getAll(ctx, apiClient(t, n), c.String())
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || !strings.Contains(ae.Message, "wrong key") {
				t.Fatalf("error %v, want a 400 saying wrong key", err)
			}
		}
	})

	first := res.Pieces[0] // segment 0, data piece 0: tried first by every get
	corrupt := indexOf(t, net, first.Holder)
	t.Run("a holder serving corrupt bytes is skipped", func(t *testing.T) {
		waitPinned(t, net.Nodes[corrupt], mustID(t, first.Piece))
		corruptBlock(t, net.Nodes[corrupt], mustID(t, first.Piece))
		dropCache(t, a)
		got, err := getAll(ctx, apiClient(t, a), res.Capability)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("read with a corrupt holder differs")
		}
		if _, ok := a.store.Has(mustID(t, first.Piece)); ok {
			t.Fatal("the corrupt piece was cached")
		}
	})

	// Stop the corrupt holder and one more of segment 0's holders: m = 2.
	var stopped []int
	for _, p := range res.Pieces[:4] {
		if i := indexOf(t, net, p.Holder); i != corrupt && len(stopped) == 0 {
			stopped = append(stopped, i)
		}
	}
	stopped = append(stopped, corrupt)
	for _, i := range stopped {
		net.Stop(i)
	}
	t.Run("m holders stopped still reads bit-exact", func(t *testing.T) {
		dropCache(t, a)
		got, err := getAll(ctx, apiClient(t, a), res.Capability)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatal("read with m holders stopped differs")
		}
		// Fetched pieces went through spools, not the cache: at most the
		// manifest was cached.
		for _, id := range a.store.List(blockstore.Cache) {
			if id != mustID(t, res.FileID) {
				t.Fatalf("a get left block %s in the cache", id)
			}
		}
	})

	t.Run("m+1 holders stopped fails naming what is missing", func(t *testing.T) {
		for i := 1; i < 5; i++ {
			if net.Nodes[i] != nil && net.Nodes[i] != a {
				net.Stop(i)
				break
			}
		}
		dropCache(t, a)
		_, err := getAll(ctx, apiClient(t, a), res.Capability)
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != http.StatusServiceUnavailable {
			t.Fatalf("error %v, want a 503", err)
		}
		if !strings.Contains(ae.Message, "segment 0") || !strings.Contains(ae.Message, "of 2 needed pieces") {
			t.Fatalf("error %q does not name the segment and the pieces missing", ae.Message)
		}
	})

	t.Run("a put over quota fails before any push", func(t *testing.T) {
		before := pinnedBlocks(net)
		r := &countingReader{r: io.LimitReader(zeros{}, 4<<30)}
		_, err := a.Put(ctx, r, 4<<30, api.PutOptions{})
		if !errors.Is(err, ErrQuotaExceeded) {
			t.Fatalf("error %v, want ErrQuotaExceeded", err)
		}
		if !strings.Contains(err.Error(), "quota") {
			t.Fatalf("error %q does not say quota", err)
		}
		if r.n != 0 {
			t.Fatalf("%d bytes of the file read before refusing", r.n)
		}
		_, err = apiClient(t, a).Put(ctx, io.LimitReader(zeros{}, 4<<30), 4<<30, api.PutOptions{})
		var ae *api.Error
		if !errors.As(err, &ae) || ae.Code != http.StatusForbidden || !strings.Contains(ae.Message, "over quota") {
			t.Fatalf("API error %v, want a 403 saying over quota", err)
		}
		if after := pinnedBlocks(net); after != before {
			t.Fatalf("holders' pinned blocks went from %d to %d", before, after)
		}
	})

	t.Run("the API wants its token and listens on loopback", func(t *testing.T) {
		if !strings.HasPrefix(a.APIURL(), "http://127.0.0.1:") {
			t.Fatalf("API at %s", a.APIURL())
		}
		bad := api.NewClient(a.APIURL(), strings.Repeat("0", 64))
		if _, err := bad.Status(ctx); !errors.Is(err, api.ErrUnauthorized) {
			t.Fatalf("wrong token: %v", err)
		}
		if _, err := api.NewClient(a.APIURL(), "").Files(ctx); !errors.Is(err, api.ErrUnauthorized) {
			t.Fatalf("no token: %v", err)
		}
	})

	t.Run("ls lists the file with its capability", func(t *testing.T) {
		files, err := apiClient(t, a).Files(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].FileID != res.FileID || files[0].Capability != res.Capability || files[0].Name != "data.bin" {
			t.Fatalf("files %+v", files)
		}
	})
}

func mustID(t *testing.T, s string) blockstore.ID {
	t.Helper()
	id, err := blockstore.ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func waitPinned(t *testing.T, n *Node, id blockstore.ID) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if a, ok := n.store.Has(id); ok && a == blockstore.Pinned {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("piece %s not pinned in time", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pinnedBlocks(net *TestNetwork) int64 {
	var total int64
	for _, n := range net.Nodes {
		if n != nil {
			total += n.store.Stats().PinnedBlocks
		}
	}
	return total
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestHolderRules checks a holder's acceptance rules with real pushes: only
// the owner's node may push, the commitment must match, and a push no
// PlaceFile names is dropped after the pending timeout.
func TestHolderRules(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 2, func(i int, c *Config) {
		c.PendingTimeout = time.Second
		c.Blocks.CacheBytes = 1 << 20 // smaller than the file put below
	})
	a, b := net.Nodes[0], net.Nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 5000)
	_, _ = rand.Read(data)
	push := exchange.Push{
		Piece: exchange.PieceID(proofs.IDOf(data)), Size: int64(len(data)),
		Owner: a.pub, File: sha256.Sum256([]byte("some file")),
	}
	t.Run("a push from someone else's node is refused", func(t *testing.T) {
		p := push
		p.Owner = b.pub // a claims b's files
		if err := a.x.Push(ctx, b.host.ID(), p, bytes.NewReader(data)); !errors.Is(err, exchange.ErrRejected) {
			t.Fatalf("error %v, want ErrRejected", err)
		}
	})
	t.Run("bytes whose commitment is not the piece id are refused", func(t *testing.T) {
		bad := bytes.Clone(data)
		bad[len(bad)-1] ^= 1
		err := a.x.Push(ctx, b.host.ID(), push, bytes.NewReader(bad))
		if !errors.Is(err, exchange.ErrRejected) || !strings.Contains(err.Error(), "do not match the piece id") {
			t.Fatalf("error %v, want a rejection naming the piece id", err)
		}
		if _, ok := b.store.Has(blockstore.ID(push.Piece)); ok {
			t.Fatal("piece with wrong bytes stored")
		}
	})
	t.Run("a put larger than the cache keeps its pieces until pushed", func(t *testing.T) {
		big := make([]byte, 4<<20)
		_, _ = rand.Read(big)
		res, err := a.Put(ctx, bytes.NewReader(big), int64(len(big)), api.PutOptions{Copies: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := getAll(ctx, apiClient(t, b), res.Capability)
		if err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read back: %v", err)
		}
	})
	t.Run("a put of unknown size places after coding", func(t *testing.T) {
		small := make([]byte, 300<<10)
		_, _ = rand.Read(small)
		res, err := a.Put(ctx, bytes.NewReader(small), -1, api.PutOptions{Copies: 2})
		if err != nil {
			t.Fatal(err)
		}
		got, err := getAll(ctx, apiClient(t, b), res.Capability)
		if err != nil || !bytes.Equal(got, small) {
			t.Fatalf("read back: %v", err)
		}
	})
	t.Run("a restart unpins pushes nobody placed", func(t *testing.T) {
		other := make([]byte, 3000)
		_, _ = rand.Read(other)
		p := push
		p.Piece, p.Size = exchange.PieceID(proofs.IDOf(other)), int64(len(other))
		if err := a.x.Push(ctx, b.host.ID(), p, bytes.NewReader(other)); err != nil {
			t.Fatal(err)
		}
		b = net.Restart(1)
		if area, ok := b.store.Has(blockstore.ID(p.Piece)); !ok || area != blockstore.Cache {
			t.Fatalf("after a restart the unplaced piece is in %v (held %v), want the cache", area, ok)
		}
	})
	t.Run("an unplaced push is dropped after the timeout", func(t *testing.T) {
		if err := a.x.Push(ctx, b.host.ID(), push, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		// Confirmed once received and verified; pinned once durable.
		if err := b.hold.waitDurable(ctx, []exchange.ReceiptPiece{{Piece: push.Piece}}); err != nil {
			t.Fatal(err)
		}
		if area, ok := b.store.Has(blockstore.ID(push.Piece)); !ok || area != blockstore.Pinned {
			t.Fatal("accepted piece not pinned")
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			if _, ok := b.store.Has(blockstore.ID(push.Piece)); !ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("unplaced piece still held after the pending timeout")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// TestSlowHolderIsHedged stores two copies, makes the first holder a get
// tries crawl at 4 KB/s, and reads on a third node: the hedged request to
// the second holder must finish the read (at 4 KB/s alone it would take
// four minutes, past the test's deadline).
func TestSlowHolderIsHedged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := make([]byte, 1<<20)
	_, _ = rand.Read(data)
	res, err := net.Nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 2})
	if err != nil {
		t.Fatal(err)
	}
	first, second := indexOf(t, net, res.Pieces[0].Holder), indexOf(t, net, res.Pieces[1].Holder)
	reader := 6 - first - second // nodes 1..3 minus the two holders
	net.Stop(first)
	cfg := TestConfig(ledger.DevnetHome(net.Ledger.Dir, first))
	cfg.Exchange.UploadRate = 4000 // a 32 KiB chunk every 8 s: slow, yet within the idle timeout
	cfg.Exchange.UploadBurst = 64 << 10
	slow, err := Start(ctx, cfg, net.Ledger.Key(first), net.Ledger.Client(first))
	if err != nil {
		t.Fatal(err)
	}
	net.Nodes[first] = slow
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	got, err := getAll(rctx, apiClient(t, net.Nodes[reader]), res.Capability)
	if err != nil {
		t.Fatalf("read with a crawling first holder: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read differs")
	}
}

// TestGetFallsBackToDHTProviders removes a file from the ledger (its
// holders keep the blocks in their caches for a while) and reads it on the
// uploader with an empty cache: manifest and pieces can only be found
// through the DHT provider records the holders announced.
func TestGetFallsBackToDHTProviders(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 3, nil)
	a := net.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := make([]byte, 1<<20+777)
	_, _ = rand.Read(data)
	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Copies: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the holders announced what they hold.
	for _, p := range res.Pieces[:1] {
		waitPinned(t, net.Nodes[indexOf(t, net, p.Holder)], mustID(t, p.Piece))
	}
	// waitProviders waits until node r's DHT finds n providers of block id.
	waitProviders := func(r *Node, id blockstore.ID, n int, what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			provs, _ := r.host.FindProviders(ctx, id, n)
			if len(provs) >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d providers found, want %d", what, len(provs), n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitProviders(a, mustID(t, res.FileID), 2, "manifest announced")
	// Restart the reader on a ledger view that does not know the file (a
	// lagging or partial view; removing the file would now delete its
	// pieces): the read must go through the DHT's providers.
	net.Stop(0)
	hidden := hideFile{Ledger: net.Ledger.Client(0), id: chain.Hash(mustID(t, res.FileID))}
	a, err = start(context.Background(), net.Configs[0], net.Ledger.Key(0), hidden, net.Ledger.Client(0))
	if err != nil {
		t.Fatal(err)
	}
	net.Nodes[0] = a
	a.connectKnown(ctx)
	// The restarted reader's DHT routing table fills as it connects: wait
	// until it can find the holders, as a reader that has been up a while can.
	for _, p := range res.Pieces {
		waitProviders(a, mustID(t, p.Piece), 1, "the restarted reader's DHT")
	}
	if _, err := a.lc.File(ctx, chain.Hash(mustID(t, res.FileID))); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("the reader's ledger still shows the file: %v", err)
	}
	dropCache(t, a)
	got, err := getAll(ctx, apiClient(t, a), res.Capability)
	if err != nil {
		t.Fatalf("read through DHT providers: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read differs")
	}
}

// hideFile is a ledger view on which one file is not (yet) placed.
type hideFile struct {
	Ledger
	id chain.Hash
}

func (h hideFile) File(ctx context.Context, id chain.Hash) (chain.File, error) {
	if id == h.id {
		return chain.File{}, fmt.Errorf("file %s: %w", id, chain.ErrNotFound)
	}
	return h.Ledger.File(ctx, id)
}

// TestHolderRefusesOwnersOverQuota gives every account a 1 MiB allowance
// and node A no pledge: a holder refuses A's pushes that would take it over
// quota, and A's own put fails before pushing anything.
func TestHolderRefusesOwnersOverQuota(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	dc := ledger.TestNetConfig(t, 2)
	dc.Genesis.Params.Allowance = 1 << 20
	net := StartTestNetworkWith(t, dc, func(i int, c *Config) {
		if i == 0 {
			c.Pledge = 0
		}
	})
	a, b := net.Nodes[0], net.Nodes[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 1<<20+1)
	_, _ = rand.Read(data)
	push := exchange.Push{
		Piece: exchange.PieceID(proofs.IDOf(data)), Size: int64(len(data)),
		Owner: a.pub, File: sha256.Sum256([]byte("a put")),
	}
	err := a.x.Push(ctx, b.host.ID(), push, bytes.NewReader(data))
	if !errors.Is(err, exchange.ErrRejected) || !strings.Contains(err.Error(), "over quota") {
		t.Fatalf("push over the owner's quota: %v, want a rejection saying over quota", err)
	}
	if _, ok := b.store.Has(blockstore.ID(push.Piece)); ok {
		t.Fatal("the holder kept a piece over its owner's quota")
	}
	// Strict: with A unpledged, B is the only holder, and a put that may
	// degrade would store one copy, within quota.
	_, err = a.Put(ctx, bytes.NewReader(data[:600<<10]), 600<<10, api.PutOptions{Copies: 2, Strict: true})
	if !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("put of 2 × 600 KiB on a 1 MiB quota: %v, want ErrQuotaExceeded", err)
	}
	small := data[:100<<10]
	if _, err := a.Put(ctx, bytes.NewReader(small), int64(len(small)), api.PutOptions{Copies: 1}); err != nil {
		t.Fatalf("a put within quota: %v", err)
	}
}

// TestSlowDataHolderIsOvertakenByParity stores a file at k=2 m=2, makes the
// holder of every segment's first data piece crawl at 4 KB/s, and reads on
// the uploader: spare requests for parity pieces must finish the read (the
// slow pieces alone would take minutes, past the test's deadline).
func TestSlowDataHolderIsOvertakenByParity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 5, nil)
	a := net.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	data := make([]byte, 2<<20+100) // three segments
	_, _ = rand.Read(data)
	res, err := a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 2})
	if err != nil {
		t.Fatal(err)
	}
	slow := indexOf(t, net, res.Pieces[0].Holder)
	for _, p := range res.Pieces {
		if p.Index == 0 && p.Holder != res.Pieces[0].Holder {
			t.Skip("placement put the segments' first pieces on different nodes")
		}
	}
	net.Configs[slow].Exchange.UploadRate = 4000 // a 32 KiB chunk every 8 s: slow, yet within the idle timeout
	net.Configs[slow].Exchange.UploadBurst = 64 << 10
	net.Restart(slow)
	dropCache(t, a)
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	got, err := getAll(rctx, apiClient(t, a), res.Capability)
	if err != nil {
		t.Fatalf("read with a crawling data holder: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("read differs")
	}
}
