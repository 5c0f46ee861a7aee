package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// holder is the node's side of placement: it decides on pushed pieces
// (exchange.Sink), and reconciles what it stores with what the ledger
// credits it for.
type holder struct {
	n *Node

	mu           sync.Mutex
	pending      map[blockstore.ID]pendingPiece
	pendingBytes int64
	credited     map[blockstore.ID]bool // pieces and manifests the ledger credits, as of the last reconcile
	announced    time.Time              // when every credited block was last announced

	provides sync.WaitGroup
	sem      chan struct{} // bounds concurrent DHT announcements
}

// reannounceInterval is how often every held block is announced again:
// DHT provider records expire after 48 hours.
const reannounceInterval = 12 * time.Hour

type pendingPiece struct {
	file     [32]byte
	size     int64
	deadline time.Time
	stored   bool
}

func newHolder(n *Node) *holder {
	return &holder{n: n, pending: make(map[blockstore.ID]pendingPiece), credited: make(map[blockstore.ID]bool), sem: make(chan struct{}, 8)}
}

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", exchange.ErrRejected, fmt.Sprintf(format, args...))
}

// AcceptPush implements exchange.Sink: only the owner's own node may push,
// the push must name its file, the owner must be within quota and this node
// must have the pledged capacity free.
func (h *holder) AcceptPush(ctx context.Context, p exchange.Push) error {
	from, err := p2p.PublicKeyFromPeerID(p.From)
	if err != nil || !from.Equal(p.Owner) {
		return rejected("pusher %s is not the owner's node", p.From.ShortString())
	}
	if p.File == ([32]byte{}) {
		return rejected("push names no put")
	}
	owner := chain.AddressOf(ed25519.PublicKey(p.Owner))
	acct, err := h.n.lc.Account(ctx, owner)
	if err != nil {
		return fmt.Errorf("looking up owner %s: %w", owner, err)
	}
	if !acct.Exists || acct.QuotaUsed > acct.QuotaLimit || uint64(p.Size) > acct.QuotaLimit-acct.QuotaUsed {
		return rejected("owner %s is over quota: uses %d of %d bytes, piece needs %d", owner, acct.QuotaUsed, acct.QuotaLimit, p.Size)
	}
	self, err := h.n.lc.Node(ctx, h.n.addr)
	if err != nil {
		return fmt.Errorf("looking up own node record: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The put is still pushing: its PlaceFile comes after the last push, so
	// the file's pending pieces wait from now on.
	deadline := time.Now().Add(h.n.cfg.PendingTimeout)
	for id, pp := range h.pending {
		if pp.file == p.File {
			pp.deadline = deadline
			h.pending[id] = pp
		}
	}
	if _, dup := h.pending[blockstore.ID(p.Piece)]; dup {
		return nil // a retried push; the reservation is already made
	}
	free := int64(self.Free()) - h.pendingBytes
	if p.Size > free {
		return rejected("holder has %d bytes of pledged capacity free, piece needs %d", max(free, 0), p.Size)
	}
	h.pendingBytes += p.Size
	h.pending[blockstore.ID(p.Piece)] = pendingPiece{file: p.File, size: p.Size, deadline: deadline}
	return nil
}

// ReceivePush implements exchange.Sink: it stores the piece pinned if its
// bytes match both the id (checked by r) and the commitment.
func (h *holder) ReceivePush(ctx context.Context, p exchange.Push, r io.Reader) error {
	id := blockstore.ID(p.Piece)
	err := h.receive(ctx, p, r)
	h.mu.Lock()
	defer h.mu.Unlock()
	pp, ok := h.pending[id]
	if !ok {
		return err
	}
	if err != nil {
		if !pp.stored {
			delete(h.pending, id)
			h.pendingBytes -= pp.size
		}
		return err
	}
	pp.stored = true
	h.pending[id] = pp
	return nil
}

func (h *holder) receive(ctx context.Context, p exchange.Push, r io.Reader) error {
	w, err := h.n.store.Create(ctx, blockstore.Pinned)
	if err != nil {
		return err
	}
	tree := proofs.NewBuilder()
	if _, err := io.CopyBuffer(io.MultiWriter(w, tree), r, make([]byte, 256<<10)); err != nil {
		w.Abort()
		if errors.Is(err, exchange.ErrHashMismatch) {
			return rejected("piece %s: bytes do not match the piece id", p.Piece)
		}
		return err
	}
	if root := tree.Root(); root != proofs.Hash(p.Commitment) {
		w.Abort()
		return rejected("piece %s: commitment %s does not match the bytes (root %s)", p.Piece, proofs.Hash(p.Commitment), root)
	}
	return w.CommitAs(blockstore.ID(p.Piece))
}

// loop reconciles with the ledger every ReconcileInterval until ctx ends.
func (h *holder) loop(ctx context.Context) {
	t := time.NewTicker(h.n.cfg.ReconcileInterval)
	defer t.Stop()
	defer h.provides.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.reconcile(ctx); err != nil && ctx.Err() == nil {
			h.n.log.Warn("reconciling with the ledger", "err", err)
		}
		if len(h.n.host.Peers()) == 0 {
			h.n.connectKnown(ctx)
		}
	}
}

// creditedNow returns the blocks the ledger credits to this node: the
// pieces it holds, the manifests of their files and of its own files.
func (h *holder) creditedNow(ctx context.Context) (map[blockstore.ID]bool, error) {
	held, err := h.n.lc.Pieces(ctx, h.n.addr)
	if err != nil {
		return nil, err
	}
	files, err := h.n.lc.Files(ctx, h.n.addr)
	if err != nil {
		return nil, err
	}
	now := make(map[blockstore.ID]bool, len(held)*2+len(files))
	for _, hp := range held {
		now[blockstore.ID(hp.Piece.ID)] = true
		now[blockstore.ID(hp.File)] = true // the file's manifest
	}
	for _, f := range files {
		now[blockstore.ID(f.ID)] = true
	}
	return now, nil
}

// sweep moves pinned blocks the ledger does not credit (pushes that were
// pending when the node stopped, pieces of files removed meanwhile) to the
// cache, where they age out. Start runs it before serving anything.
func (h *holder) sweep(ctx context.Context) error {
	now, err := h.creditedNow(ctx)
	if err != nil {
		return err
	}
	moved := 0
	for _, id := range h.n.store.List(blockstore.Pinned) {
		h.mu.Lock()
		_, pending := h.pending[id]
		h.mu.Unlock()
		if now[id] || pending {
			continue
		}
		if err := h.n.store.Unpin(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			return err
		}
		moved++
	}
	if moved > 0 {
		h.n.log.Info("unpinned blocks the ledger does not credit", "blocks", moved)
	}
	return nil
}

// reconcile pins and announces what the ledger credits to this node (pieces
// and the manifests of their files), drops expired pushes nobody placed, and
// unpins pieces of files that were removed.
func (h *holder) reconcile(ctx context.Context) error {
	now, err := h.creditedNow(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	var drop, fresh, gone []blockstore.ID
	for id, pp := range h.pending {
		switch {
		case now[id]:
			delete(h.pending, id)
			h.pendingBytes -= pp.size
		case time.Now().After(pp.deadline):
			delete(h.pending, id)
			h.pendingBytes -= pp.size
			if pp.stored {
				drop = append(drop, id)
			}
		}
	}
	all := time.Since(h.announced) > reannounceInterval
	if all {
		h.announced = time.Now()
	}
	for id := range now {
		if all || !h.credited[id] {
			fresh = append(fresh, id)
		}
	}
	for id := range h.credited {
		if !now[id] {
			gone = append(gone, id)
		}
	}
	h.credited = now
	h.mu.Unlock()

	for _, id := range drop {
		h.n.log.Info("dropping a pushed piece no PlaceFile named in time", "piece", id)
		if err := h.n.store.Delete(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			h.n.log.Warn("dropping piece", "piece", id, "err", err)
		}
	}
	for _, id := range gone {
		if err := h.n.store.Unpin(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			h.n.log.Warn("unpinning piece of a removed file", "piece", id, "err", err)
		}
	}
	for _, id := range fresh {
		if _, ok := h.n.store.Has(id); !ok {
			continue // credited but not here: the repairer's business
		}
		if err := h.n.store.Pin(ctx, id); err != nil {
			h.n.log.Warn("pinning credited piece", "piece", id, "err", err)
		}
		h.provides.Add(1)
		go func() {
			defer h.provides.Done()
			select {
			case h.sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-h.sem }()
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if err := h.n.host.Provide(pctx, id); err != nil {
				h.n.log.Debug("announcing piece", "piece", id, "err", err)
			}
		}()
	}
	return nil
}

// isCredited reports whether the ledger credited id to this node at the
// last reconcile.
func (h *holder) isCredited(id blockstore.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.credited[id]
}
