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
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// fileBlocks lists the ids of a file's manifest and pieces from a put's result.
func fileBlocks(t *testing.T, res *api.PutResult) []blockstore.ID {
	ids := []blockstore.ID{mustID(t, res.FileID)}
	for _, p := range res.Pieces {
		ids = append(ids, mustID(t, p.Piece))
	}
	return ids
}

// holdersOf lists, per node, the blocks of ids it still has in any area.
func holdersOf(net *TestNetwork, ids []blockstore.ID) []string {
	var out []string
	for i, n := range net.Nodes {
		if n == nil {
			continue
		}
		for _, id := range ids {
			if a, ok := n.store.Has(id); ok {
				out = append(out, fmt.Sprintf("node %d has %s in %v", i, id.String()[:8], a))
			}
		}
	}
	return out
}

// refusingSink is a holder that takes pushes but signs no receipt.
type refusingSink struct{ *holder }

func (refusingSink) SignReceipt(context.Context, exchange.ReceiptRequest) (exchange.Receipt, error) {
	return exchange.Receipt{}, fmt.Errorf("%w: this test holder signs nothing", exchange.ErrRejected)
}

// TestRemoveAndReceiptsOnTheNetwork runs four real nodes: a put carries
// every holder's receipt; after rm no node keeps any block of the file
// (the remover's cache included) and no node can read it; over the wire a
// holder signs receipts only for the owner's node and the pieces, roots and
// sizes it took, and its signature verifies; a holder that refuses its
// receipt is replaced.
func TestRemoveAndReceiptsOnTheNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := StartTestNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := net.Nodes[0]
	data := make([]byte, 2<<20+100<<10) // three segments
	_, _ = rand.Read(data)

	t.Run("rm deletes the file's blocks from every node", func(t *testing.T) {
		res, err := apiClient(t, a).Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{K: 2, M: 2})
		if err != nil {
			t.Fatal(err)
		}
		ids := fileBlocks(t, res)
		if len(holdersOf(net, ids)) == 0 {
			t.Fatal("the put left no blocks anywhere")
		}
		waitCredited(t, net.Nodes, res) // else holders learn of the rm only when the receipts expire
		if err := apiClient(t, a).Remove(ctx, res.FileID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.lc.File(ctx, chain.Hash(mustID(t, res.FileID))); !errors.Is(err, chain.ErrNotFound) {
			t.Fatalf("file still on the ledger: %v", err)
		}
		// The remover deleted its own copies (pinned and cached) at once.
		for _, id := range ids {
			if ar, ok := a.store.Has(id); ok {
				t.Fatalf("the removing node still has %s in %v", id, ar)
			}
		}
		// Holders delete theirs when they next reconcile.
		deadline := time.Now().Add(30 * time.Second)
		for left := holdersOf(net, ids); len(left) > 0; left = holdersOf(net, ids) {
			if time.Now().After(deadline) {
				t.Fatalf("blocks of the removed file still held: %v", left)
			}
			time.Sleep(50 * time.Millisecond)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(net.Nodes))
		for i, n := range net.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = getAll(ctx, apiClient(t, n), res.Capability)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, api.ErrNotFound) && !errors.Is(err, api.ErrUnavailable) {
				t.Errorf("node %d reads the removed file: %v, want not found or unavailable", i, err)
			}
		}
		if _, err := getAll(ctx, apiClient(t, a), res.FileID); !errors.Is(err, api.ErrNotFound) {
			t.Errorf("reading the removed file by id: %v, want not found", err)
		}
		if left := holdersOf(net, ids); len(left) > 0 {
			t.Fatalf("the gets brought blocks of the removed file back: %v", left)
		}
		if err := apiClient(t, a).Remove(ctx, res.FileID); !errors.Is(err, api.ErrNotFound) {
			t.Fatalf("removing it again: %v, want not found", err)
		}
	})

	t.Run("receipts over the wire only for the owner's node and what it pushed", func(t *testing.T) {
		b, c := net.Nodes[1], net.Nodes[2]
		piece := make([]byte, 5000)
		_, _ = rand.Read(piece)
		put, file := [32]byte{7, 7}, [32]byte{8, 8}
		root := proofs.Root(piece)
		id := exchange.PieceID(proofs.IDOf(piece))
		if err := a.x.Push(ctx, c.host.ID(), exchange.Push{Piece: id, Size: int64(len(piece)), Owner: a.pub, File: put}, bytes.NewReader(piece)); err != nil {
			t.Fatal(err)
		}
		req := exchange.ReceiptRequest{Put: put, File: file, Pieces: []exchange.ReceiptPiece{{Piece: id, Root: root, Size: int64(len(piece))}}}
		if _, err := b.x.RequestReceipt(ctx, c.host.ID(), req); !errors.Is(err, exchange.ErrRejected) {
			t.Fatalf("another node asking for the owner's receipt: %v, want ErrRejected", err)
		}
		bad := req
		bad.Pieces = []exchange.ReceiptPiece{{Piece: id, Root: [32]byte{1}, Size: int64(len(piece))}}
		if _, err := a.x.RequestReceipt(ctx, c.host.ID(), bad); !errors.Is(err, exchange.ErrRejected) {
			t.Fatalf("a receipt for another root: %v, want ErrRejected", err)
		}
		bad.Pieces = []exchange.ReceiptPiece{{Piece: exchange.PieceID{9}, Root: root, Size: int64(len(piece))}}
		if _, err := a.x.RequestReceipt(ctx, c.host.ID(), bad); !errors.Is(err, exchange.ErrRejected) {
			t.Fatalf("a receipt for a piece never pushed: %v, want ErrRejected", err)
		}
		got, err := a.x.RequestReceipt(ctx, c.host.ID(), req)
		if err != nil {
			t.Fatal(err)
		}
		rc := chain.Receipt{PubKey: net.Ledger.Key(2).Public().(ed25519.PublicKey), Expires: got.Expires, Sig: got.Sig}
		rp := []chain.ReceiptPiece{{ID: chain.Hash(id), Root: chain.Hash(root), Size: uint64(len(piece)), Leaves: proofs.LeafCount(int64(len(piece)))}}
		if err := rc.Verify(a.lc.ChainID(), chain.Hash(file), a.addr, c.addr, rp); err != nil {
			t.Fatalf("the holder's receipt does not verify: %v", err)
		}
	})

	t.Run("a holder that refuses its receipt is replaced", func(t *testing.T) {
		d := net.Nodes[3]
		_ = d.x.Close()
		x, err := exchange.New(d.host.Libp2p(), d.cfg.Exchange, storeSource{d.store}, refusingSink{d.hold})
		if err != nil {
			t.Fatal(err)
		}
		d.x = x
		res, err := a.Put(ctx, bytes.NewReader(data[:300<<10]), 300<<10, api.PutOptions{Copies: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range res.Pieces {
			if p.Holder == d.addr.String() {
				t.Fatalf("piece placed on the holder that refused its receipt: %+v", res.Pieces)
			}
		}
		got, err := getAll(ctx, apiClient(t, net.Nodes[1]), res.Capability)
		if err != nil || !bytes.Equal(got, data[:300<<10]) {
			t.Fatalf("read back: %v", err)
		}
	})
}
