package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// holderEnv is one holder on an in-memory ledger with a real block store
// and a hand-driven clock, and the owner that pushes to it.
type holderEnv struct {
	t        *testing.T
	l        *memLedger
	clock    *memClock
	h        *holder
	hkey     ed25519.PrivateKey
	owner    ed25519.PrivateKey
	ownerID  peer.ID
	ownerLed *memClient
}

const testPendingTimeout = time.Minute

func newHolderEnv(t *testing.T) *holderEnv {
	t.Helper()
	return newHolderEnvAt(t, t.TempDir())
}

// newHolderEnvAt is newHolderEnv with the holder's block store in dir.
func newHolderEnvAt(t *testing.T, dir string) *holderEnv {
	t.Helper()
	_, hkey, _ := ed25519.GenerateKey(rand.Reader)
	_, okey, _ := ed25519.GenerateKey(rand.Reader)
	l := newMemLedger(t, hkey, okey)
	hc := l.client(hkey)
	pid, err := chain.PeerIDOf(hkey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hc.BroadcastCommit(context.Background(), &chain.RegisterNode{PeerID: pid, Addrs: []string{"/ip4/127.0.0.1/tcp/1"}, Pledge: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	st, err := blockstore.Open(dir, blockstore.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	clock := newMemClock()
	h := newHolder(hc, st, hkey, testPendingTimeout, slog.New(slog.DiscardHandler))
	h.now = clock.now
	t.Cleanup(h.provides.Wait)
	t.Cleanup(h.commits.Wait)
	opid, err := chain.PeerIDOf(okey.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	oid, err := peer.Decode(opid)
	if err != nil {
		t.Fatal(err)
	}
	return &holderEnv{t: t, l: l, clock: clock, h: h, hkey: hkey, owner: okey, ownerID: oid, ownerLed: l.client(okey)}
}

// testPiece is a piece pushed in a test: its bytes and what the ledger
// records of it.
type testPiece struct {
	data []byte
	id   exchange.PieceID
	root proofs.Hash
}

func newTestPiece(n int) testPiece {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return testPiece{data: b, id: exchange.PieceID(proofs.IDOf(b)), root: proofs.Root(b)}
}

func (p testPiece) chainPiece(seg uint32, holder chain.Address) chain.Piece {
	return chain.Piece{Segment: seg, Holder: holder, ID: chain.Hash(p.id), Size: uint64(len(p.data)), Root: chain.Hash(p.root), Leaves: proofs.LeafCount(int64(len(p.data)))}
}

// push offers and sends p to the holder as the owner's node, in put put.
func (e *holderEnv) push(put [32]byte, p testPiece) {
	e.t.Helper()
	ps := exchange.Push{From: e.ownerID, Piece: p.id, Size: int64(len(p.data)), Owner: e.owner.Public().(ed25519.PublicKey), File: put}
	if err := e.h.AcceptPush(context.Background(), ps); err != nil {
		e.t.Fatal(err)
	}
	if err := e.h.ReceivePush(context.Background(), ps, bytes.NewReader(p.data)); err != nil {
		e.t.Fatal(err)
	}
	// The push is confirmed before the piece is durable; wait for that.
	if err := e.h.waitDurable(context.Background(), []exchange.ReceiptPiece{{Piece: p.id}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *holderEnv) receiptRequest(put, file [32]byte, pieces ...testPiece) exchange.ReceiptRequest {
	r := exchange.ReceiptRequest{From: e.ownerID, Put: put, File: file}
	for _, p := range pieces {
		r.Pieces = append(r.Pieces, exchange.ReceiptPiece{Piece: p.id, Root: p.root, Size: int64(len(p.data))})
	}
	return r
}

// place records file with pieces (one segment each, k=1 m=0) all held by
// the holder, with the holder's receipt.
func (e *holderEnv) place(put, file [32]byte, pieces ...testPiece) {
	e.t.Helper()
	tx := &chain.PlaceFile{FileID: chain.Hash(file), Size: 1, K: 1, M: 0}
	for i, p := range pieces {
		tx.Pieces = append(tx.Pieces, p.chainPiece(uint32(i), e.h.addr))
	}
	got, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, file, pieces...))
	if err != nil {
		e.t.Fatal(err)
	}
	tx.Receipts = []chain.Receipt{{PubKey: e.hkey.Public().(ed25519.PublicKey), Expires: got.Expires, Sig: got.Sig}}
	if _, err := e.ownerLed.BroadcastCommit(context.Background(), tx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *holderEnv) reconcile() error { return e.h.reconcile(context.Background()) }

func (e *holderEnv) area(p testPiece) (blockstore.Area, bool) {
	return e.h.store.Has(blockstore.ID(p.id))
}

func randomID() (id [32]byte) {
	_, _ = rand.Read(id[:])
	return id
}

// TestHolderDropsPendingPiecesAtTheirDeadline: a push no PlaceFile names is
// kept until its deadline on the holder's clock, then deleted; a receipted
// one is kept until the ledger passes the receipt's expiry.
func TestHolderDropsPendingPiecesAtTheirDeadline(t *testing.T) {
	e := newHolderEnv(t)
	put := randomID()
	p, q := newTestPiece(3000), newTestPiece(2000)
	e.push(put, p)
	e.push(put, q)
	if a, ok := e.area(p); !ok || a != blockstore.Pinned {
		t.Fatalf("pushed piece in %v (held %v), want pinned", a, ok)
	}
	got, err := e.h.SignReceipt(context.Background(), e.receiptRequest(put, randomID(), q))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(testPendingTimeout - time.Second)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.area(p); !ok {
		t.Fatal("pending piece dropped before its deadline")
	}
	e.clock.advance(2 * time.Second)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.area(p); ok {
		t.Fatal("pending piece kept past its deadline")
	}
	if _, ok := e.area(q); !ok {
		t.Fatal("a receipted piece was dropped while its receipt can still place it")
	}
	h, _, _ := e.ownerLed.Height(context.Background())
	e.l.advance(int(got.Expires - h + 1))
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.area(q); ok {
		t.Fatal("a receipted piece kept after its receipt expired unused")
	}
	if e.h.pendingBytes != 0 {
		t.Fatalf("%d bytes still reserved", e.h.pendingBytes)
	}
}

// TestHolderPinsCreditedPiecesAndDeletesRemovedOnes: a placed piece leaves
// pending and is pinned (even from the cache); once its file is removed it
// is deleted, unless another file credits the same piece.
func TestHolderPinsCreditedPiecesAndDeletesRemovedOnes(t *testing.T) {
	e := newHolderEnv(t)
	ctx := context.Background()
	putA, putB := randomID(), randomID()
	fileA, fileB := randomID(), randomID()
	p, shared := newTestPiece(3000), newTestPiece(1000)
	e.push(putA, p)
	e.push(putA, shared)
	e.place(putA, fileA, p, shared)
	e.push(putB, shared)
	e.place(putB, fileB, shared)
	if err := e.h.store.Unpin(ctx, blockstore.ID(p.id)); err != nil { // as a sweep would have
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if a, ok := e.area(p); !ok || a != blockstore.Pinned {
		t.Fatalf("credited piece in %v (held %v), want pinned", a, ok)
	}
	if e.h.isPending(blockstore.ID(p.id)) || !e.h.isCredited(blockstore.ID(p.id)) {
		t.Fatal("credited piece still pending")
	}
	e.clock.advance(2 * testPendingTimeout)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.area(p); !ok {
		t.Fatal("credited piece dropped at the pending deadline")
	}
	if _, err := e.ownerLed.BroadcastCommit(ctx, &chain.RemoveFile{FileID: chain.Hash(fileA)}); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if a, ok := e.area(p); ok {
		t.Fatalf("piece of a removed file still held (%v)", a)
	}
	if a, ok := e.area(shared); !ok || a != blockstore.Pinned {
		t.Fatalf("piece still credited for another file in %v (held %v), want pinned", a, ok)
	}
	if _, err := e.ownerLed.BroadcastCommit(ctx, &chain.RemoveFile{FileID: chain.Hash(fileB)}); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.area(shared); ok {
		t.Fatal("piece of the last removed file still held")
	}
}

// TestHolderChangesNothingOnAnIncompleteList: a holder credited with more
// pieces than one page of a list read keeps them all through reconcile and
// sweep; a read failing part way (at any page) changes nothing — no
// unpin, no delete, no pending drop — and the next complete read acts.
func TestHolderChangesNothingOnAnIncompleteList(t *testing.T) {
	e := newHolderEnv(t)
	ctx := context.Background()
	put, file := randomID(), randomID()
	var pieces []testPiece
	for range 7 {
		p := newTestPiece(500)
		pieces = append(pieces, p)
		e.push(put, p)
	}
	e.place(put, file, pieces...)
	e.l.setPageSize(3) // 7 pieces: three pages
	if err := e.h.sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	for i, p := range pieces {
		if a, ok := e.area(p); !ok || a != blockstore.Pinned {
			t.Fatalf("piece %d of a file over one page in %v (held %v), want pinned", i, a, ok)
		}
	}
	unplaced := newTestPiece(700)
	e.push(randomID(), unplaced)
	e.clock.advance(2 * testPendingTimeout)
	failAt := func(page int) {
		t.Helper()
		e.l.setFailPage(page)
		if err := e.reconcile(); !errors.Is(err, errPageFailed) {
			t.Fatalf("reconcile with page %d failing: %v", page, err)
		}
		if err := e.h.sweep(ctx); !errors.Is(err, errPageFailed) {
			t.Fatalf("sweep with page %d failing: %v", page, err)
		}
		for i, p := range append(pieces, unplaced) {
			if a, ok := e.area(p); !ok || a != blockstore.Pinned {
				t.Fatalf("page %d failing: piece %d in %v (held %v), want pinned", page, i, a, ok)
			}
		}
		if !e.h.isPending(blockstore.ID(unplaced.id)) {
			t.Fatalf("page %d failing: a pending piece was dropped", page)
		}
	}
	for page := 1; page <= 3; page++ {
		failAt(page)
	}
	// Removed: the (now empty) list fails at its first page.
	if _, err := e.ownerLed.BroadcastCommit(ctx, &chain.RemoveFile{FileID: chain.Hash(file)}); err != nil {
		t.Fatal(err)
	}
	failAt(1)
	e.l.setFailPage(0)
	if err := e.reconcile(); err != nil {
		t.Fatal(err)
	}
	for i, p := range append(pieces, unplaced) {
		if _, ok := e.area(p); ok {
			t.Fatalf("after a complete read, piece %d of the removed file (or the expired push) is still held", i)
		}
	}
}

// TestHolderRefusesReceipts: a receipt is signed only for the owner's
// node, only for pieces stored in that put, with the root and size the
// holder verified; the signature it gives verifies on the ledger's terms.
func TestHolderRefusesReceipts(t *testing.T) {
	e := newHolderEnv(t)
	ctx := context.Background()
	put, file := randomID(), randomID()
	p := newTestPiece(3000)
	e.push(put, p)
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	otherPID, _ := chain.PeerIDOf(otherKey.Public().(ed25519.PublicKey))
	other, _ := peer.Decode(otherPID)
	cases := []struct {
		name string
		mod  func(r *exchange.ReceiptRequest)
		want string
	}{
		{"a requester that is not the owner's node", func(r *exchange.ReceiptRequest) { r.From = other }, "not the node of the account"},
		{"a piece it never received", func(r *exchange.ReceiptRequest) { r.Pieces[0].Piece = newTestPiece(10).id }, "was not received"},
		{"another put", func(r *exchange.ReceiptRequest) { r.Put = randomID() }, "was not received"},
		{"a wrong root", func(r *exchange.ReceiptRequest) { r.Pieces[0].Root[0] ^= 1 }, "root"},
		{"a wrong size", func(r *exchange.ReceiptRequest) { r.Pieces[0].Size-- }, "bytes"},
	}
	for _, tc := range cases {
		r := e.receiptRequest(put, file, p)
		tc.mod(&r)
		_, err := e.h.SignReceipt(ctx, r)
		if !errors.Is(err, exchange.ErrRejected) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a rejection saying %q", tc.name, err, tc.want)
		}
	}
	// Accepted but not yet received: no receipt.
	q := newTestPiece(100)
	if err := e.h.AcceptPush(ctx, exchange.Push{From: e.ownerID, Piece: q.id, Size: 100, Owner: e.owner.Public().(ed25519.PublicKey), File: put}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.SignReceipt(ctx, e.receiptRequest(put, file, q)); !errors.Is(err, exchange.ErrRejected) {
		t.Errorf("a piece not received yet: %v, want ErrRejected", err)
	}

	got, err := e.h.SignReceipt(ctx, e.receiptRequest(put, file, p))
	if err != nil {
		t.Fatal(err)
	}
	height, _, _ := e.ownerLed.Height(ctx)
	if got.Expires <= height || got.Expires > height+defaultReceiptTTL {
		t.Fatalf("receipt expires at %d, height %d, ttl %d", got.Expires, height, defaultReceiptTTL)
	}
	rc := chain.Receipt{PubKey: e.hkey.Public().(ed25519.PublicKey), Expires: got.Expires, Sig: got.Sig}
	owner := chain.AddressOf(e.owner.Public().(ed25519.PublicKey))
	rp := []chain.ReceiptPiece{{ID: chain.Hash(p.id), Root: chain.Hash(p.root), Size: uint64(len(p.data)), Leaves: proofs.LeafCount(int64(len(p.data)))}}
	if err := rc.Verify(memChainID, chain.Hash(file), owner, e.h.addr, rp); err != nil {
		t.Fatalf("the holder's receipt does not verify: %v", err)
	}
}

// TestDialAddrsSkipsMalformedOnes: the ledger no longer checks a node
// record's addresses; one that does not parse or names another peer is
// skipped and the others still serve.
func TestDialAddrsSkipsMalformedOnes(t *testing.T) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	pid, _ := chain.PeerIDOf(k.Public().(ed25519.PublicKey))
	id, _ := peer.Decode(pid)
	_, k2, _ := ed25519.GenerateKey(rand.Reader)
	pid2, _ := chain.PeerIDOf(k2.Public().(ed25519.PublicKey))
	rec := &chain.Node{PeerID: pid, Addrs: []string{
		"not a multiaddr",
		"/ip4/127.0.0.1/tcp/4001",
		"/ip4/999.0.0.1/tcp/1",
		"/ip4/127.0.0.1/tcp/4002/p2p/" + pid2,
		"/ip4/127.0.0.1/udp/4003/quic-v1/p2p/" + pid,
		"",
	}}
	got := dialAddrs(slog.New(slog.DiscardHandler), rec, id)
	var s []string
	for _, a := range got {
		s = append(s, a.String())
	}
	want := []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4003/quic-v1"}
	if strings.Join(s, " ") != strings.Join(want, " ") {
		t.Fatalf("dial addresses %q, want %q", s, want)
	}
}
