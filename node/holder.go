package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/prover"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage/blockstore"
)

// holderLedger is what a holder reads from the ledger. List methods return
// the whole list or an error, never a partial list (the ledger client
// reads every page at one height): a holder deletes what a complete list
// no longer credits, so a partial one would lose pieces.
type holderLedger interface {
	ChainID() string
	Height(ctx context.Context) (int64, []byte, error)
	Params(ctx context.Context) (chain.Params, error)
	Account(ctx context.Context, a chain.Address) (chain.AccountView, error)
	Node(ctx context.Context, a chain.Address) (chain.Node, error)
	Files(ctx context.Context, owner chain.Address) ([]chain.File, error)
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
	// File fails with an error wrapping chain.ErrNotFound for an unknown
	// file (repair pushes name a placed file: holder_repair.go).
	File(ctx context.Context, id chain.Hash) (chain.File, error)
}

// holder is the node's side of placement: it decides on pushed pieces
// (exchange.Sink), receipts the ones it took, and reconciles what it
// stores with what the ledger credits it for.
type holder struct {
	lc      holderLedger
	store   *blockstore.Store
	key     ed25519.PrivateKey
	addr    chain.Address
	pending time.Duration // Config.PendingTimeout
	now     func() time.Time
	provide func(ctx context.Context, id blockstore.ID) error // announces a held block (DHT)
	levels  *prover.LevelStore                                // the Levels of received pieces; nil: none kept
	log     *slog.Logger

	mu           sync.Mutex
	pieces       map[blockstore.ID]pendingPiece // pushed, not yet credited
	pendingBytes int64
	credited     map[blockstore.ID]bool // pieces and manifests the ledger credits, as of the last complete read
	complete     bool                   // credited is from a complete read (not just the empty start)
	announced    time.Time              // when every credited block was last announced

	provides sync.WaitGroup
	sem      chan struct{} // bounds concurrent DHT announcements

	// commits are the received pieces being made durable (fsync, rename,
	// directory fsync) after their push was confirmed; commitSlots bounds
	// them, so a fast sender waits for the disk rather than pile up
	// unsynced pieces.
	commits     sync.WaitGroup
	commitSlots chan struct{}
	// beforeDurable, if set (tests: fault injection), runs in the
	// background commit of a received piece before it is made durable; an
	// error fails that commit.
	beforeDurable func(id blockstore.ID) error
	// beforeConfirm, if set (tests: a slow holder), runs when a received
	// piece is verified, before ReceivePush returns and the push is
	// confirmed.
	beforeConfirm func(id blockstore.ID)
}

// maxPendingCommits bounds the received pieces being made durable at once
// (each holds an open temporary file and its dirty pages).
const maxPendingCommits = 16

// reannounceInterval is how often every held block is announced again:
// DHT provider records expire after 48 hours.
const reannounceInterval = 12 * time.Hour

// defaultReceiptTTL is the receipt lifetime in blocks assumed when the
// ledger's parameters give none (chain.Params.ReceiptTTL, default 100): a
// receipt's Expires may be at most height + ReceiptTTL.
const defaultReceiptTTL = 100

// receiptMargin is how many blocks below height + ReceiptTTL a receipt
// expires (at most a quarter of ReceiptTTL), so that a ledger node a few
// blocks behind the signer still accepts it.
const receiptMargin = 10

// pendingPiece is a pushed piece no committed PlaceFile credits yet.
type pendingPiece struct {
	put      [32]byte          // the put id its push carried
	owner    ed25519.PublicKey // the account that pushed it
	size     int64
	root     proofs.Hash // the Merkle root verified when it arrived
	deadline time.Time
	// stored: the piece is durable in the pinned area (fsynced and renamed
	// into place), so a receipt may be signed for it.
	stored bool
	// durable, while not nil, is closed when the background commit of the
	// received piece ends (stored set or the piece dropped).
	durable chan struct{}
	// receipted is the expiry height of the last receipt signed for it:
	// until the ledger passes it, a PlaceFile may still credit the piece,
	// so it is kept whatever the deadline.
	receipted int64
	// repair marks a repair push (holder_repair.go): a piece of placed
	// file put whose receipt names the file's owner, fileOwner.
	repair    bool
	fileOwner chain.Address
}

func newHolder(lc holderLedger, store *blockstore.Store, key ed25519.PrivateKey, pendingTimeout time.Duration, log *slog.Logger) *holder {
	return &holder{
		lc: lc, store: store, key: key, addr: chain.AddressOf(key.Public().(ed25519.PublicKey)), pending: pendingTimeout,
		now: time.Now, provide: func(context.Context, blockstore.ID) error { return nil }, log: log,
		pieces: make(map[blockstore.ID]pendingPiece), credited: make(map[blockstore.ID]bool), sem: make(chan struct{}, 8),
		commitSlots: make(chan struct{}, maxPendingCommits),
	}
}

var _ exchange.Sink = (*holder)(nil)

func rejected(format string, args ...any) error {
	return fmt.Errorf("%w: %s", exchange.ErrRejected, fmt.Sprintf(format, args...))
}

// AcceptPush implements exchange.Sink: only the owner's own node may push,
// the push must name its file, the owner must be within quota and this node
// must have the pledged capacity free. A repair push (holder_repair.go), by
// any node, of a piece of a placed file, is not charged to anyone's quota.
func (h *holder) AcceptPush(ctx context.Context, p exchange.Push) error {
	from, err := p2p.PublicKeyFromPeerID(p.From)
	if err != nil || !from.Equal(p.Owner) {
		return rejected("pusher %s is not the owner's node", p.From.ShortString())
	}
	if p.File == ([32]byte{}) {
		return rejected("push names no put")
	}
	fileOwner, repair, err := h.repairPush(ctx, p)
	if err != nil {
		return err
	}
	if !repair {
		owner := chain.AddressOf(ed25519.PublicKey(p.Owner))
		if al, ok := h.lc.(accountLedger); ok {
			// A device puts for its account, charged to the account.
			if d, err := al.DeviceAccount(ctx, owner); err == nil {
				owner = d.Account
			} else if !errors.Is(err, chain.ErrNotFound) {
				return fmt.Errorf("looking up owner %s: %w", owner, err)
			}
		}
		acct, err := h.lc.Account(ctx, owner)
		if err != nil {
			return fmt.Errorf("looking up owner %s: %w", owner, err)
		}
		if !acct.Exists || acct.QuotaUsed > acct.QuotaLimit || uint64(p.Size) > acct.QuotaLimit-acct.QuotaUsed {
			return rejected("owner %s is over quota: uses %d of %d bytes, piece needs %d", owner, acct.QuotaUsed, acct.QuotaLimit, p.Size)
		}
	}
	self, err := h.lc.Node(ctx, h.addr)
	if err != nil {
		return fmt.Errorf("looking up own node record: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// The put is still pushing: its PlaceFile comes after the last push, so
	// the file's pending pieces wait from now on.
	deadline := h.now().Add(h.pending)
	for id, pp := range h.pieces {
		if pp.put == p.File {
			pp.deadline = deadline
			h.pieces[id] = pp
		}
	}
	if pp, dup := h.pieces[blockstore.ID(p.Piece)]; dup {
		// A retried push (the reservation is already made), or the same
		// bytes in another put, which now owns the piece's receipt.
		pp.put, pp.owner = p.File, ed25519.PublicKey(p.Owner)
		pp.repair, pp.fileOwner = repair, fileOwner
		h.pieces[blockstore.ID(p.Piece)] = pp
		return nil
	}
	free := int64(self.Free()) - h.pendingBytes
	if p.Size > free {
		return rejected("holder has %d bytes of pledged capacity free, piece needs %d", max(free, 0), p.Size)
	}
	h.pendingBytes += p.Size
	h.pieces[blockstore.ID(p.Piece)] = pendingPiece{put: p.File, owner: ed25519.PublicKey(p.Owner), size: p.Size, deadline: deadline, repair: repair, fileOwner: fileOwner}
	return nil
}

// ReceivePush implements exchange.Sink: it writes the piece to a temporary
// block, computing in the one pass its id, its Merkle commitment and the
// Levels the prover keeps, and returns once the id matches: the push is
// confirmed with the bytes received and verified, not yet durable. Making
// it durable (fsync, rename into the pinned area, directory fsync) goes on
// in the background, off the sender's path; SignReceipt waits for it, so a
// piece whose holder crashed before that is never receipted.
func (h *holder) ReceivePush(ctx context.Context, p exchange.Push, r io.Reader) error {
	id := blockstore.ID(p.Piece)
	w, err := h.receive(ctx, p, r)
	h.mu.Lock()
	pp, ok := h.pieces[id]
	switch {
	case !ok || err != nil:
		if ok && !pp.stored && pp.durable == nil {
			delete(h.pieces, id)
			h.pendingBytes -= pp.size
		}
		h.mu.Unlock()
		if w != nil {
			w.Abort()
		}
		if err == nil {
			err = rejected("piece %s was dropped while it was received", id)
		}
		return err
	case pp.stored || pp.durable != nil:
		// A retried push of bytes already kept (or being made durable):
		// the same id, so the same bytes.
		h.mu.Unlock()
		w.Abort()
		return nil
	}
	done := make(chan struct{})
	pp.root, pp.size, pp.durable = w.Root(), p.Size, done
	h.pieces[id] = pp
	h.mu.Unlock()
	lv, lerr := w.Levels()
	select {
	case h.commitSlots <- struct{}{}:
	case <-ctx.Done():
		h.mu.Lock()
		if cur, ok := h.pieces[id]; ok && cur.durable == done {
			delete(h.pieces, id)
			h.pendingBytes -= cur.size
		}
		h.mu.Unlock()
		close(done)
		w.Abort()
		return ctx.Err()
	}
	h.commits.Add(1)
	go func() {
		defer h.commits.Done()
		defer func() { <-h.commitSlots }()
		h.makeDurable(id, w, done, lv, lerr)
	}()
	if h.beforeConfirm != nil {
		h.beforeConfirm(id)
	}
	return nil
}

// makeDurable commits a received, verified piece to the pinned area and
// marks it stored, or drops it if the commit fails (its receipt is then
// refused). A piece whose record went meanwhile (reconcile dropped it) is
// deleted again.
func (h *holder) makeDurable(id blockstore.ID, w *blockstore.Writer, done chan struct{}, lv *proofs.Levels, lerr error) {
	defer close(done)
	var err error
	if h.beforeDurable != nil {
		err = h.beforeDurable(id)
	}
	if err == nil {
		err = w.CommitAs(id)
	} else {
		w.Abort()
	}
	h.mu.Lock()
	pp, ok := h.pieces[id]
	mine := ok && pp.durable == done
	credited := h.credited[id]
	if mine {
		pp.durable = nil
		if err == nil {
			pp.stored = true
			h.pieces[id] = pp
		} else {
			delete(h.pieces, id)
			h.pendingBytes -= pp.size
		}
	}
	h.mu.Unlock()
	switch {
	case err != nil:
		h.log.Warn("making a received piece durable; its receipt will be refused", "piece", id, "err", err)
	case !mine && !credited:
		if err := h.store.Delete(context.Background(), id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			h.log.Warn("deleting a piece dropped while it was made durable", "piece", id, "err", err)
		}
	case mine:
		h.putLevels(chain.Hash(id), lv, lerr)
	}
}

// receive writes the pushed bytes to a new pinned-area block and checks
// their id; it returns the writer, not yet committed.
func (h *holder) receive(ctx context.Context, p exchange.Push, r io.Reader) (*blockstore.Writer, error) {
	w, err := h.store.Create(ctx, blockstore.Pinned)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyBuffer(w, r, make([]byte, 256<<10)); err != nil {
		w.Abort()
		return nil, err
	}
	if got := w.Sum(); got != blockstore.ID(p.Piece) {
		w.Abort()
		return nil, fmt.Errorf("%w: %w: piece %s: received %d bytes with id %s", exchange.ErrRejected, exchange.ErrHashMismatch, p.Piece, w.Size(), got)
	}
	return w, nil
}

// levelser is a block writer that computed a piece's proofs.Levels in the
// pass that wrote it (a *blockstore.Writer).
type levelser interface {
	Levels() (*proofs.Levels, error)
}

// putLevels stores lv, the Levels of piece id, for the prover (err: why
// there are none). A failure is only logged: without them the prover reads
// the whole piece.
func (h *holder) putLevels(id chain.Hash, lv *proofs.Levels, err error) {
	if h.levels == nil {
		return
	}
	if err == nil {
		err = h.levels.Put(id, lv)
	}
	if err != nil {
		h.log.Warn("storing the levels of a piece; its proofs will read it whole", "piece", id, "err", err)
	}
}

// levelsFromStore stores the Levels of a piece this node holds for its own
// put or repair when the pass that wrote it kept none, reading it once from
// the store (about 20 ms per 16 MiB), if they lead to its id. A failure is
// only logged: the prover falls back to reading the whole piece.
func (h *holder) levelsFromStore(ctx context.Context, id blockstore.ID) {
	if h.levels == nil {
		return
	}
	r, err := h.store.Open(ctx, id)
	if err != nil {
		h.log.Warn("reading a self-held piece for its levels", "piece", id, "err", err)
		return
	}
	defer r.Close()
	tree := proofs.NewLevelsBuilder()
	if _, err := io.CopyBuffer(tree, io.NewSectionReader(r, 0, r.Size()), make([]byte, 256<<10)); err != nil {
		h.log.Warn("reading a self-held piece for its levels", "piece", id, "err", err)
		return
	}
	if got := tree.ID(); got != proofs.Hash(id) {
		h.log.Warn("a self-held piece does not match its id; keeping no levels", "piece", id, "got", got)
		return
	}
	lv, err := tree.Levels()
	h.putLevels(chain.Hash(id), lv, err)
}

// deleteBlock deletes a block and the Levels kept beside it.
func (h *holder) deleteBlock(ctx context.Context, id blockstore.ID) error {
	if h.levels != nil {
		if err := h.levels.Delete(chain.Hash(id)); err != nil {
			h.log.Warn("deleting the levels of a piece", "piece", id, "err", err)
		}
	}
	return h.store.Delete(ctx, id)
}

// SignReceipt implements exchange.Sink: it signs the ledger receipt for
// pieces this node received in put r.Put, only for the node of the account
// that pushed them, only for pieces it stored durably for that put with the
// root and size it verified: it first waits for pieces still being made
// durable after their push, and refuses those whose commit failed. The receipt expires ReceiptTTL − receiptMargin blocks
// above the ledger height this node sees. A receipt of repair-pushed pieces
// names the file's recorded owner (for chain.ReplacePieces).
func (h *holder) SignReceipt(ctx context.Context, r exchange.ReceiptRequest) (exchange.Receipt, error) {
	from, err := p2p.PublicKeyFromPeerID(r.From)
	if err != nil {
		return exchange.Receipt{}, rejected("requester %s has no account key", r.From.ShortString())
	}
	if err := h.waitDurable(ctx, r.Pieces); err != nil {
		return exchange.Receipt{}, err
	}
	pieces := make([]chain.ReceiptPiece, len(r.Pieces))
	owner, repairs := chain.AddressOf(from), 0
	h.mu.Lock()
	for i, rp := range r.Pieces {
		id := blockstore.ID(rp.Piece)
		pp, ok := h.pieces[id]
		switch {
		case !ok || pp.put != r.Put || !pp.stored:
			h.mu.Unlock()
			return exchange.Receipt{}, rejected("piece %s was not received in put %x", id, r.Put[:4])
		case !bytes.Equal(pp.owner, from):
			h.mu.Unlock()
			return exchange.Receipt{}, rejected("requester %s is not the node of the account that pushed piece %s", r.From.ShortString(), id)
		case pp.size != rp.Size || pp.root != proofs.Hash(rp.Root):
			h.mu.Unlock()
			return exchange.Receipt{}, rejected("piece %s: received %d bytes with root %s, the request names %d bytes with root %s",
				id, pp.size, pp.root, rp.Size, proofs.Hash(rp.Root))
		}
		pieces[i] = chain.ReceiptPiece{ID: chain.Hash(id), Root: chain.Hash(pp.root), Size: uint64(pp.size), Leaves: proofs.LeafCount(pp.size)}
		if pp.repair {
			repairs++
			owner = pp.fileOwner
		}
	}
	h.mu.Unlock()
	if err := checkRepairReceipt(r, repairs); err != nil {
		return exchange.Receipt{}, err
	}
	expires, err := receiptExpiry(ctx, h.lc)
	if err != nil {
		return exchange.Receipt{}, err
	}
	rc := chain.SignReceipt(h.key, h.lc.ChainID(), chain.Hash(r.File), owner, expires, pieces)
	h.mu.Lock()
	for _, rp := range r.Pieces {
		if pp, ok := h.pieces[blockstore.ID(rp.Piece)]; ok {
			pp.receipted = max(pp.receipted, expires)
			h.pieces[blockstore.ID(rp.Piece)] = pp
		}
	}
	h.mu.Unlock()
	return exchange.Receipt{Expires: rc.Expires, Sig: rc.Sig}, nil
}

// waitDurable waits until none of pieces is still being made durable
// after its push (each ends stored or dropped), or ctx ends.
func (h *holder) waitDurable(ctx context.Context, pieces []exchange.ReceiptPiece) error {
	for _, rp := range pieces {
		h.mu.Lock()
		done := h.pieces[blockstore.ID(rp.Piece)].durable
		h.mu.Unlock()
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// receiptExpiry is the Expires of a receipt signed now: the latest height
// plus the ledger's receipt lifetime, less receiptMargin, at least one
// block above the height.
func receiptExpiry(ctx context.Context, lc interface {
	Height(ctx context.Context) (int64, []byte, error)
	Params(ctx context.Context) (chain.Params, error)
}) (int64, error) {
	height, _, err := lc.Height(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the ledger height for a receipt: %w", err)
	}
	params, err := lc.Params(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the ledger parameters for a receipt: %w", err)
	}
	ttl := receiptTTL(params)
	return height + max(ttl-min(receiptMargin, ttl/4), 1), nil
}

// receiptTTL is the ledger's receipt lifetime in blocks.
func receiptTTL(p chain.Params) int64 {
	if p.ReceiptTTL == 0 || p.ReceiptTTL > 1<<32 {
		return defaultReceiptTTL
	}
	return int64(p.ReceiptTTL)
}

// loop reconciles with the ledger every interval until ctx ends, calling
// after (if not nil) after each round.
func (h *holder) loop(ctx context.Context, interval time.Duration, after func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	defer h.provides.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := h.reconcile(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("reconciling with the ledger", "err", err)
		}
		if after != nil {
			after(ctx)
		}
	}
}

// creditedNow returns the blocks the ledger credits to this node: the
// pieces it holds, the manifests of their files and of its own files. It
// fails rather than return a partial set.
func (h *holder) creditedNow(ctx context.Context) (map[blockstore.ID]bool, error) {
	held, err := h.lc.Pieces(ctx, h.addr)
	if err != nil {
		return nil, fmt.Errorf("listing the pieces the ledger credits: %w", err)
	}
	files, err := h.lc.Files(ctx, h.addr)
	if err != nil {
		return nil, fmt.Errorf("listing own files: %w", err)
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
// cache, where they age out: with no earlier complete list to compare
// with, it cannot tell a removed file from a push still to be placed, so
// it does not delete. Start runs it before serving anything. If the credit
// list cannot be read completely it changes nothing.
func (h *holder) sweep(ctx context.Context) error {
	now, err := h.creditedNow(ctx)
	if err != nil {
		return err
	}
	moved := 0
	for _, id := range h.store.List(blockstore.Pinned) {
		h.mu.Lock()
		_, pending := h.pieces[id]
		h.mu.Unlock()
		if now[id] || pending {
			continue
		}
		if err := h.store.Unpin(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			return err
		}
		moved++
	}
	if moved > 0 {
		h.log.Info("unpinned blocks the ledger does not credit", "blocks", moved)
	}
	return nil
}

// reconcile pins and announces what the ledger credits to this node (pieces
// and the manifests of their files), drops expired pushes nobody placed, and
// deletes the blocks of files that were removed: those the last complete
// list credited and this complete list does not (a block credited for
// another file too is still credited, so it stays). If the credit list
// cannot be read completely it changes nothing.
//
// A file placed and removed between two reconciles is never seen credited:
// its pieces stay pending until their receipts expire (at most ReceiptTTL
// blocks; the ledger's tombstone keeps the file id from being placed again
// meanwhile) and past their deadline, then are deleted like any unplaced
// push.
func (h *holder) reconcile(ctx context.Context) error {
	now, err := h.creditedNow(ctx)
	if err != nil {
		return err
	}
	height, _, herr := h.lc.Height(ctx)
	if herr != nil {
		height = -1 // unknown: keep every receipted piece
	}
	clock := h.now()
	h.mu.Lock()
	var drop, fresh, gone []blockstore.ID
	for id, pp := range h.pieces {
		switch {
		case now[id]:
			delete(h.pieces, id)
			h.pendingBytes -= pp.size
		case clock.After(pp.deadline) && (pp.receipted == 0 || height > pp.receipted):
			delete(h.pieces, id)
			h.pendingBytes -= pp.size
			if pp.stored {
				drop = append(drop, id)
			}
		}
	}
	all := clock.Sub(h.announced) > reannounceInterval
	if all {
		h.announced = clock
	}
	for id := range now {
		if all || !h.credited[id] {
			fresh = append(fresh, id)
		}
	}
	if h.complete {
		for id := range h.credited {
			if !now[id] {
				gone = append(gone, id)
			}
		}
	}
	h.credited, h.complete = now, true
	h.mu.Unlock()

	for _, id := range drop {
		h.log.Info("dropping a pushed piece no PlaceFile named in time", "piece", id)
		if err := h.deleteBlock(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			h.log.Warn("dropping piece", "piece", id, "err", err)
		}
	}
	if len(gone) > 0 {
		h.log.Info("deleting blocks of removed files", "blocks", len(gone))
	}
	for _, id := range gone {
		if h.isPending(id) {
			continue // pushed again for a new put meanwhile
		}
		if err := h.deleteBlock(ctx, id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
			h.log.Warn("deleting a block of a removed file", "block", id, "err", err)
		}
	}
	for _, id := range fresh {
		if _, ok := h.store.Has(id); !ok {
			continue // credited but not here: the repairer's business
		}
		if err := h.store.Pin(ctx, id); err != nil {
			h.log.Warn("pinning credited piece", "piece", id, "err", err)
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
			if err := h.provide(pctx, id); err != nil {
				h.log.Debug("announcing piece", "piece", id, "err", err)
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

// isPending reports whether id was pushed to this node and is not credited yet.
func (h *holder) isPending(id blockstore.ID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.pieces[id]
	return ok
}

// creditedCount is how many pieces and manifests the ledger credited to
// this node at the last complete reconcile.
func (h *holder) creditedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.credited)
}
