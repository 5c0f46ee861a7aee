package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/placement"
	"github.com/coop-network/coop/proofs"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/manifest"
)

// putConfig applies a put's redundancy options to the node's defaults.
func (n *Node) putConfig(o api.PutOptions) (storage.Config, error) {
	c := n.cfg.Storage
	switch {
	case o.Copies > 0 && (o.K > 0 || o.M > 0):
		return c, fmt.Errorf("%w: give either copies or k and m, not both", ErrInvalidArgument)
	case o.Copies > 0:
		c.K, c.M = 1, o.Copies-1
	case o.K > 0:
		c.K, c.M = o.K, o.M
	case o.M > 0:
		c.M = o.M
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	return c, nil
}

// PieceBytes is the sum of piece sizes a file of size bytes takes under c:
// what PlaceFile charges to the owner's quota.
func PieceBytes(size int64, c storage.Config) uint64 {
	var total uint64
	n := uint64(c.K + c.M)
	for left := uint64(size); left > 0; {
		seg := min(left, uint64(c.SegmentSize))
		total += n * manifest.PieceSize(manifest.EncryptedSize(seg), uint64(c.K), uint64(c.StripeUnit))
		left -= seg
	}
	return total
}

// checkQuota fails with ErrQuotaExceeded if placing need more bytes would
// take the account over its limit.
func (n *Node) checkQuota(ctx context.Context, need uint64) error {
	acct, err := n.lc.Account(ctx, n.account().Address)
	if err != nil {
		return fmt.Errorf("reading own account: %w", err)
	}
	if acct.QuotaUsed > acct.QuotaLimit || need > acct.QuotaLimit-acct.QuotaUsed {
		return fmt.Errorf("%w: the file needs %d bytes of pieces, account %s uses %d of %d bytes of quota (pledge more disk to earn quota)",
			ErrQuotaExceeded, need, n.account().Address, acct.QuotaUsed, acct.QuotaLimit)
	}
	return nil
}

// put stores a file on the network: encrypt and code it into the local
// cache, check quota, choose holders, push every piece and the manifest,
// collect every holder's receipt, then record the placement on the ledger.
// Nothing is pushed when the account is over quota or too few holders
// exist. Errors match ErrInvalidArgument, ErrQuotaExceeded, ErrNoHolders,
// ErrTooManyPieces or ErrUnavailable where one of those is the cause.
func (n *Node) put(ctx context.Context, r io.Reader, size int64, o api.PutOptions) (*api.PutResult, error) {
	if err := api.CheckName(o.Name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	scfg, err := n.putConfig(o)
	if err != nil {
		return nil, err
	}
	// The put id groups this put's pushes at the holders (the file id is
	// known only once the whole file is encoded).
	var putID [32]byte
	if _, err := rand.Read(putID[:]); err != nil {
		return nil, err
	}
	// On a network with fewer nodes than k+m, store at the largest
	// redundancy it can give (fitRedundancy) unless the put is strict. An
	// empty file has no piece to place and keeps what it asked.
	cands, err := n.candidates(ctx, putID)
	if err != nil {
		return nil, err
	}
	askedK, askedM := scfg.K, scfg.M
	var note string
	var raiseTo int // the parity the ledger records as asked (PlaceFile.AskedM)
	if size != 0 {
		scfg.K, scfg.M, raiseTo, note = degrade(scfg.K, scfg.M, cands, o, n.fix != nil)
	}
	if note != "" {
		n.log.Warn("storing below the asked redundancy", "asked_k", askedK, "asked_m", askedM, "k", scfg.K, "m", scfg.M, "nodes", len(cands))
	}
	if size >= 0 {
		// Fail before reading the body when the size is known.
		if err := n.checkQuota(ctx, PieceBytes(size, scfg)); err != nil {
			return nil, err
		}
	}
	// Pieces stay pinned while the put runs (a file larger than the cache
	// must not evict its own first pieces before they are pushed); then
	// only the manifest and the pieces this node holds stay pinned.
	sink := &trackingSink{s: storage.StoreSink(n.store, blockstore.Pinned), spoolDir: n.cfg.Home}
	defer sink.closeSpool()
	keep := map[blockstore.ID]bool{}
	defer func() {
		for _, id := range sink.committed() {
			if keep[id] || n.hold.isCredited(id) {
				continue
			}
			if err := n.store.Unpin(context.WithoutCancel(ctx), id); err != nil && !errors.Is(err, blockstore.ErrNotFound) {
				n.log.Warn("unpinning a pushed piece", "piece", id, "err", err)
			}
		}
	}()
	width := scfg.K + scfg.M
	var (
		holders []*candidate
		early   *earlyPusher
	)
	if size >= 0 {
		// Size known: place now, and push each piece as soon as it is
		// written, while the rest of the file is still being coded.
		planned := plannedPieces(size, scfg)
		if holders, err = place(cands, planned, width); err != nil {
			return nil, err
		}
		early = newEarlyPusher(ctx, n, planned, holders, scfg.K, width, putID)
		early.blocks = sink
		sink.keepLevels = early.selfHeld
		// Pieces planned for other nodes are spooled, not stored: this
		// node does not keep them, so they need no fsync and no place in
		// its store.
		sink.spool = early.othersOnly
		defer early.abort()
		sink.onCommit = early.committed
	}
	t0 := time.Now()
	res, err := storage.Put(ctx, r, sink, scfg)
	if err != nil {
		return nil, fmt.Errorf("encoding the file: %w", err)
	}
	tEncoded := time.Now()
	var need uint64
	for _, p := range res.Pieces {
		need += uint64(p.Size)
	}
	if err := n.checkQuota(ctx, need); err != nil {
		return nil, err
	}
	sealed, err := sealFileKey(n.account().SealKey, res.FileID, res.Capability.Key)
	if err != nil {
		return nil, fmt.Errorf("sealing the file key: %w", err)
	}
	tx := &chain.PlaceFile{FileID: chain.Hash(res.FileID), Size: res.Manifest.Size, K: uint32(scfg.K), M: uint32(scfg.M), SealedKey: sealed, AskedM: uint32(raiseTo)}
	done := make([]bool, len(res.Pieces))
	gotMan := make(map[*candidate]bool)
	var asPushed map[*candidate]pushedReceipt
	if early != nil {
		if !early.matches(res.Pieces) {
			early.stop()
			n.log.Warn("the file was not laid out as planned; placing it again")
			holders = nil
		} else {
			// The manifest goes out and each holder is asked for its
			// receipt as soon as its own pieces are in, while the last
			// segment's pieces still travel to the others.
			tx.Pieces = placedPieces(res, holders)
			asPushed = n.receiptsAsPushed(ctx, early, res, holders, tx, putID, gotMan)
			done = early.done(res.Pieces)
		}
	}
	if holders == nil {
		if cands, err = n.candidates(ctx, putID); err != nil {
			return nil, err
		}
		if holders, err = place(cands, res.Pieces, width); err != nil {
			return nil, err
		}
	}
	whileCoding := 0
	for _, d := range done {
		if d {
			whileCoding++
		}
	}
	excluded := make(map[*candidate]bool)
	if err := n.pushAll(ctx, res, sink, cands, holders, width, done, putID, gotMan, excluded); err != nil {
		return nil, err
	}
	// Each holder signs a receipt for its pieces; one that refuses is
	// replaced like a holder whose push failed, and the new holder is
	// pushed to and asked in turn.
	for round := 1; ; round++ {
		tx.Pieces = placedPieces(res, holders)
		var failed map[*candidate]error
		tx.Receipts, failed, err = n.receipts(ctx, tx, holders, putID, asPushed)
		asPushed = nil
		if err != nil {
			return nil, err
		}
		if len(failed) == 0 {
			break
		}
		if err := n.replaceRefusers(res, cands, holders, width, done, failed, excluded, round); err != nil {
			return nil, err
		}
		if err := n.pushAll(ctx, res, sink, cands, holders, width, done, putID, gotMan, excluded); err != nil {
			return nil, err
		}
	}
	tPushed := time.Now()
	out := &api.PutResult{Capability: res.Capability.String(), FileID: res.FileID.String(), Size: int64(res.Manifest.Size), K: scfg.K, M: scfg.M}
	if scfg.K == 1 {
		out.Copies = scfg.M + 1
	}
	if note != "" {
		out.AskedK, out.AskedM, out.Degraded = askedK, askedM, note
	}
	for i, p := range res.Pieces {
		out.Pieces = append(out.Pieces, api.Placement{Segment: p.Segment, Index: p.Index, Piece: p.ID.String(), Holder: holders[i].rec.Address.String()})
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	if err := n.placeFile(lctx, tx); err != nil {
		if errors.Is(err, chain.ErrQuotaExceeded) {
			err = fmt.Errorf("%w: %w", ErrQuotaExceeded, err)
		}
		if errors.Is(err, ledger.ErrStalled) {
			// Nothing is recorded; the tx may still commit whole if the
			// ledger comes back before the receipts expire (the holders
			// keep receipted pieces until then), or never.
			err = fmt.Errorf("%w: %w; nothing is recorded now, but the placement may still commit, whole, if the ledger makes blocks again soon (coop ls lists the file then)", ErrUnavailable, err)
		}
		return nil, fmt.Errorf("recording the placement on the ledger: %w", err)
	}
	n.log.Info("file placed", "file", res.FileID, "bytes", res.Manifest.Size, "pieces", len(res.Pieces), "pushed_while_coding", whileCoding,
		"encode", tEncoded.Sub(t0).Round(time.Millisecond), "push_and_receipts", tPushed.Sub(tEncoded).Round(time.Millisecond),
		"ledger", time.Since(tPushed).Round(time.Millisecond))
	keep[res.FileID] = true
	for i, p := range res.Pieces {
		if holders[i].Self {
			keep[p.ID] = true
		}
	}
	if err := n.keys.set(out.FileID, &keyEntry{Capability: out.Capability, Name: o.Name, AskedK: out.AskedK, AskedM: out.AskedM}); err != nil {
		n.log.Warn("saving the capability", "err", err)
	}
	return out, nil
}

// pushAll pushes every piece not done to its holder (pinning those
// assigned to this node, with the Levels blocks kept for them; reading
// spooled pieces from blocks) and the manifest to every holder not in gotMan,
// PushConcurrency at a time. A holder that fails is replaced by the next
// best candidate for that slot that is not excluded. It records in gotMan
// the holders that took the manifest.
func (n *Node) pushAll(ctx context.Context, res *storage.PutResult, blocks *trackingSink, cands []*candidate, holders []*candidate, width int, done []bool, putID [32]byte, gotMan, excluded map[*candidate]bool) error {
	manifestBytes, err := n.store.Get(ctx, res.FileID, n.cfg.Exchange.MaxPieceSize)
	if err != nil {
		return fmt.Errorf("reading the manifest: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex // guards holders and the candidates' accounting
		wg      sync.WaitGroup
		sem     = make(chan struct{}, n.cfg.PushConcurrency)
		errOnce sync.Once
		first   error
	)
	fail := func(err error) {
		errOnce.Do(func() { first = err; cancel() })
	}
	pushOne := func(i int) {
		defer wg.Done()
		p := res.Pieces[i]
		mu.Lock()
		tried := maps.Clone(excluded)
		mu.Unlock()
		for attempt := 0; ; attempt++ {
			mu.Lock()
			c := holders[i]
			mu.Unlock()
			tried[c] = true
			sem <- struct{}{}
			var err error
			if attempt > 0 || !done[i] {
				err = n.pushPiece(ctx, c, p.ID, p.Size, putID, blocks)
			}
			if err == nil {
				done[i] = true
				mu.Lock()
				needMan := !gotMan[c] && !c.Self
				gotMan[c] = true
				mu.Unlock()
				if needMan {
					err = n.pushPiece(ctx, c, res.FileID, int64(len(manifestBytes)), putID, nil)
					if err != nil {
						mu.Lock()
						gotMan[c] = false
						mu.Unlock()
					}
				}
			}
			<-sem
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				return
			}
			n.log.Warn("push failed; trying another holder", "piece", p.ID, "holder", c.rec.Address, "err", err)
			mu.Lock()
			alt := replacement(cands, holders, i, width, uint64(p.Size), tried)
			if alt != nil {
				moveSlot(c, alt, uint64(p.Size))
				holders[i] = alt
			}
			mu.Unlock()
			if alt == nil {
				fail(fmt.Errorf("%w: segment %d piece %d: no holder took it (last: %s: %w)", ErrUnavailable, p.Segment, p.Index, c.rec.Address, err))
				return
			}
		}
	}
	for i := range res.Pieces {
		wg.Add(1)
		go pushOne(i)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}

// placedPieces lists a put's pieces with their holders, as PlaceFile
// records them.
func placedPieces(res *storage.PutResult, holders []*candidate) []chain.Piece {
	out := make([]chain.Piece, 0, len(res.Pieces))
	for i, p := range res.Pieces {
		out = append(out, chain.Piece{
			Segment: uint32(p.Segment), Index: uint32(p.Index), Holder: holders[i].rec.Address,
			ID: chain.Hash(p.ID), Size: uint64(p.Size), Root: chain.Hash(p.Root), Leaves: p.Leaves,
		})
	}
	return out
}

// pushedReceipt is a receipt a holder signed as soon as its pieces were
// pushed, with the pieces it covers.
type pushedReceipt struct {
	rc     chain.Receipt
	pieces []chain.ReceiptPiece
}

// receiptsAsPushed overlaps the end of a put's pushes with its receipts:
// for each other holder of tx.Pieces (as planned, early pushing them), it
// pushes the manifest at once, waits for that holder's early pushes only,
// and asks it for its receipt, PushConcurrency manifest pushes and
// receipt requests at a time. It returns the receipts it got (a holder
// whose push or receipt failed is left to the put's usual rounds) and
// records in gotMan the holders that took the manifest; it returns once
// every early push has ended.
func (n *Node) receiptsAsPushed(ctx context.Context, e *earlyPusher, res *storage.PutResult, holders []*candidate, tx *chain.PlaceFile, putID [32]byte, gotMan map[*candidate]bool) map[*candidate]pushedReceipt {
	defer e.stop()
	manifestSize := res.ManifestSize
	slots := make(map[*candidate][]int)
	pieces := make(map[*candidate][]chain.ReceiptPiece)
	for i, p := range tx.Pieces {
		c := holders[i]
		if c.Self {
			continue
		}
		slots[c] = append(slots[c], i)
		pieces[c] = append(pieces[c], chain.ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
	}
	var (
		mu  sync.Mutex
		out = make(map[*candidate]pushedReceipt)
		wg  sync.WaitGroup
		sem = make(chan struct{}, n.cfg.PushConcurrency) // manifest pushes and receipt requests at once
	)
	limited := func(f func() error) error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		defer func() { <-sem }()
		return f()
	}
	for c := range slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := limited(func() error { return n.pushPiece(ctx, c, res.FileID, manifestSize, putID, nil) }); err != nil {
				n.log.Debug("pushing the manifest with the last pieces failed; the put will retry", "holder", c.rec.Address, "err", err)
				return
			}
			mu.Lock()
			gotMan[c] = true
			mu.Unlock()
			for _, i := range slots[c] {
				if !e.wait(ctx, i, res.Pieces[i].ID) {
					return
				}
			}
			var rc chain.Receipt
			err := limited(func() (err error) {
				rc, err = n.receiptFrom(ctx, c, tx, pieces[c], putID)
				return err
			})
			if err != nil {
				n.log.Debug("a receipt as soon as pushed failed; the put will ask again", "holder", c.rec.Address, "err", err)
				return
			}
			mu.Lock()
			out[c] = pushedReceipt{rc: rc, pieces: pieces[c]}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// receipts collects one receipt per distinct holder of tx's pieces, in the
// order holders first appear in tx.Pieces: this node signs its own, the
// others are asked PushConcurrency at a time and their signatures checked
// against tx, but for those have holds a receipt of the same pieces. It
// returns the holders that refused or failed with their errors (and no
// receipts) if any did; an error only if this node cannot sign its own.
func (n *Node) receipts(ctx context.Context, tx *chain.PlaceFile, holders []*candidate, putID [32]byte, have map[*candidate]pushedReceipt) ([]chain.Receipt, map[*candidate]error, error) {
	var order []*candidate
	pieces := make(map[*candidate][]chain.ReceiptPiece)
	for i, p := range tx.Pieces {
		c := holders[i]
		if _, ok := pieces[c]; !ok {
			order = append(order, c)
		}
		pieces[c] = append(pieces[c], chain.ReceiptPiece{ID: p.ID, Root: p.Root, Size: p.Size, Leaves: p.Leaves})
	}
	out := make([]chain.Receipt, len(order))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	sem := make(chan struct{}, n.cfg.PushConcurrency)
	for j, c := range order {
		if c.Self {
			expires, err := receiptExpiry(ctx, n.lc)
			if err != nil {
				return nil, nil, err
			}
			out[j] = chain.SignReceipt(n.key, n.lc.ChainID(), tx.FileID, n.addr, expires, pieces[c])
			continue
		}
		if h, ok := have[c]; ok && slices.Equal(h.pieces, pieces[c]) {
			out[j] = h.rc
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[j] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			out[j], errs[j] = n.receiptFrom(ctx, c, tx, pieces[c], putID)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var failed map[*candidate]error
	for j, err := range errs {
		if err != nil {
			if failed == nil {
				failed = make(map[*candidate]error)
			}
			failed[order[j]] = err
		}
	}
	if failed != nil {
		return nil, failed, nil
	}
	return out, nil, nil
}

// receiptFrom asks holder c for its receipt of pieces and checks it.
func (n *Node) receiptFrom(ctx context.Context, c *candidate, tx *chain.PlaceFile, pieces []chain.ReceiptPiece, putID [32]byte) (chain.Receipt, error) {
	if len(pieces) > exchange.MaxReceiptPieces {
		return chain.Receipt{}, fmt.Errorf("%w: holder %s would hold %d pieces of the file, at most %d", ErrTooManyPieces, c.rec.Address, len(pieces), exchange.MaxReceiptPieces)
	}
	pub, err := p2p.PublicKeyFromPeerID(c.peer)
	if err != nil {
		return chain.Receipt{}, fmt.Errorf("holder %s: %w", c.rec.Address, err)
	}
	req := exchange.ReceiptRequest{Put: putID, File: [32]byte(tx.FileID), Pieces: make([]exchange.ReceiptPiece, len(pieces))}
	for i, p := range pieces {
		req.Pieces[i] = exchange.ReceiptPiece{Piece: exchange.PieceID(p.ID), Root: [32]byte(p.Root), Size: int64(p.Size)}
	}
	got, err := n.px.RequestReceipt(ctx, c.peer, req)
	if err != nil {
		return chain.Receipt{}, err
	}
	rc := chain.Receipt{PubKey: []byte(pub), Expires: got.Expires, Sig: got.Sig}
	if err := rc.Verify(n.lc.ChainID(), tx.FileID, n.addr, c.rec.Address, pieces); err != nil {
		return chain.Receipt{}, err
	}
	return rc, nil
}

// maxReceiptRounds bounds how often a put replaces holders that refused
// their receipts before it fails.
const maxReceiptRounds = 3

// replaceRefusers gives every piece of a holder in failed (which refused or
// failed its receipt) the best candidate not excluded, marks those pieces
// not done, and excludes the refusers from the rest of the put.
func (n *Node) replaceRefusers(res *storage.PutResult, cands, holders []*candidate, width int, done []bool, failed map[*candidate]error, excluded map[*candidate]bool, round int) error {
	for c, err := range failed {
		n.log.Warn("holder refused a receipt; replacing it", "holder", c.rec.Address, "round", round, "err", err)
		excluded[c] = true
	}
	for i, c := range holders {
		err, ok := failed[c]
		if !ok {
			continue
		}
		p := res.Pieces[i]
		if errors.Is(err, ErrTooManyPieces) {
			return err
		}
		var alt *candidate
		if round < maxReceiptRounds {
			alt = replacement(cands, holders, i, width, uint64(p.Size), excluded)
		}
		if alt == nil {
			return fmt.Errorf("%w: segment %d piece %d: holder %s gave no receipt and no other holder is left: %w", ErrUnavailable, p.Segment, p.Index, c.rec.Address, err)
		}
		moveSlot(c, alt, uint64(p.Size))
		holders[i] = alt
		done[i] = false
	}
	return nil
}

// moveSlot moves one piece of size bytes from candidate from to candidate
// to in the put's accounting (free space, bytes and pieces assigned). The
// caller holds the lock over the candidates.
func moveSlot(from, to *candidate, size uint64) {
	from.Return(size)
	to.Take(size)
}

// replacement picks the best untried candidate not already holding a piece
// of piece i's segment. The caller holds the lock over holders.
func replacement(cands, holders []*candidate, i, width int, size uint64, tried map[*candidate]bool) *candidate {
	start := i / width * width
	inSeg := map[*candidate]bool{}
	for _, h := range holders[start : start+width] {
		inSeg[h] = true
	}
	var best *candidate
	for _, c := range cands {
		if tried[c] || inSeg[c] || !c.Fits(size) {
			continue
		}
		if best == nil || better(c, best) < 0 {
			best = c
		}
	}
	return best
}

// pushPiece sends one block to a holder, or keeps it if the holder is this
// node: pins it (or, spooled, stores it pinned) and keeps its Levels for
// the prover, those blocks (if not nil) kept from the pass that wrote it,
// else read from the store. A block blocks spooled is read from its spool
// file, any other from the store.
func (n *Node) pushPiece(ctx context.Context, c *candidate, id blockstore.ID, size int64, putID [32]byte, blocks *trackingSink) error {
	spooled := blocks.spooled(id)
	if c.Self {
		if spooled != nil {
			return n.keepSpooled(ctx, id, size, spooled)
		}
		if err := n.store.Pin(ctx, id); err != nil {
			return err
		}
		lv := blocks.takeLevels(id)
		if lv != nil && proofs.ID(lv.Root(), uint64(size)) == proofs.Hash(id) {
			n.hold.putLevels(chain.Hash(id), lv, nil)
		} else {
			n.hold.levelsFromStore(ctx, id)
		}
		return nil
	}
	var src io.ReaderAt = spooled
	if spooled == nil {
		r, err := n.store.Open(ctx, id)
		if err != nil {
			return err
		}
		defer r.Close()
		src = r
	}
	err := n.px.Push(ctx, c.peer, exchange.Push{
		Piece: exchange.PieceID(id), Size: size, Owner: n.pub, File: putID,
	}, io.NewSectionReader(src, 0, size))
	// A holder that did not answer is remembered as unreachable, as a get
	// does, so the next put leaves it out even while a connection to it
	// lingers (a host whose link was cut keeps its TCP connection until
	// keep-alives give up); a refusal is an answer.
	if err != nil && ctx.Err() == nil && errors.Is(err, exchange.ErrUnreachable) {
		n.dead.mark(c.peer)
	}
	return err
}

// keepSpooled stores a spooled piece pinned on this node (a piece planned
// for another node that came to this one), checking its id in the pass
// that writes it and keeping its Levels.
func (n *Node) keepSpooled(ctx context.Context, id blockstore.ID, size int64, f io.ReaderAt) error {
	w, err := n.store.Create(ctx, blockstore.Pinned)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(w, io.NewSectionReader(f, 0, size), make([]byte, 256<<10)); err != nil {
		w.Abort()
		return err
	}
	if err := w.CommitAs(id); err != nil {
		return err
	}
	lv, err := w.Levels()
	n.hold.putLevels(chain.Hash(id), lv, err)
	return nil
}

// trackingSink records the blocks a put committed, so the put can release
// them whatever happens, and tells onCommit (if set) about each block as
// soon as it is written, numbered in the order the put created them. For
// the blocks keepLevels (if set) names, the pieces planned for this node,
// it keeps the Levels the block store computed in the pass that wrote them
// (32 bytes per 64 KiB) until pushing them to this node takes them; the
// others' are dropped, so what it holds stays bounded by the pieces this
// node keeps that are not yet pushed.
//
// The blocks spool (if set) names, pieces planned for other nodes, are not
// written to the store: each goes to a temporary file in spoolDir that is
// unlinked as soon as it is created (nothing is left behind whatever
// happens to the process) and never fsynced, read back by the pushes, and
// closed by closeSpool when the put ends.
type trackingSink struct {
	s          storage.BlockSink
	onCommit   func(ordinal int, id blockstore.ID, size int64)
	keepLevels func(ordinal int) bool
	spool      func(ordinal int) bool
	spoolDir   string

	mu           sync.Mutex
	ids          []blockstore.ID
	levels       map[blockstore.ID]*proofs.Levels
	spooledFiles map[blockstore.ID]*os.File
	created      int
}

func (t *trackingSink) CreateBlock(ctx context.Context) (storage.BlockWriter, error) {
	t.mu.Lock()
	ord := t.created
	t.created++
	t.mu.Unlock()
	var (
		w   storage.BlockWriter
		err error
	)
	if t.spool != nil && t.spool(ord) {
		w, err = newSpoolWriter(t)
	} else {
		w, err = t.s.CreateBlock(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &trackingWriter{BlockWriter: w, t: t, ordinal: ord}, nil
}

// spooled returns the spool file of block id, or nil if it is not spooled
// (or t is nil).
func (t *trackingSink) spooled(id blockstore.ID) *os.File {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spooledFiles[id]
}

// closeSpool closes (and so frees) every spool file; call it once nothing
// reads them any more.
func (t *trackingSink) closeSpool() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, f := range t.spooledFiles {
		_ = f.Close()
		delete(t.spooledFiles, id)
	}
}

// spoolWriter is a storage.BlockWriter for a piece this node does not keep:
// an unlinked temporary file, hashed as it is written, never fsynced.
type spoolWriter struct {
	t    *trackingSink
	f    *os.File
	h    *proofs.Builder
	err  error
	done bool
}

func newSpoolWriter(t *trackingSink) (*spoolWriter, error) {
	f, err := os.CreateTemp(t.spoolDir, "coop-put-*")
	if err != nil {
		return nil, fmt.Errorf("spooling a piece: %w", err)
	}
	if err := os.Remove(f.Name()); err != nil { // the open file stays usable and vanishes on close or crash
		f.Close()
		return nil, fmt.Errorf("spooling a piece: %w", err)
	}
	return &spoolWriter{t: t, f: f, h: proofs.NewBuilder()}, nil
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	if err != nil {
		w.err = fmt.Errorf("spooling a piece: %w", err)
	}
	return n, w.err
}

func (w *spoolWriter) Sum() blockstore.ID { return blockstore.ID(w.h.ID()) }
func (w *spoolWriter) Root() proofs.Hash  { return w.h.Root() }

func (w *spoolWriter) Abort() {
	if !w.done {
		w.done = true
		_ = w.f.Close()
	}
}

// Commit keeps the spool file for the put's pushes (not durable: the put
// fails as a whole if this node stops).
func (w *spoolWriter) Commit() (blockstore.ID, error) {
	if w.done {
		return blockstore.ID{}, errors.New("spooling a piece: commit after commit or abort")
	}
	if w.err != nil {
		w.Abort()
		return blockstore.ID{}, w.err
	}
	w.done = true
	id := w.Sum()
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	if _, dup := w.t.spooledFiles[id]; dup {
		_ = w.f.Close()
		return id, nil
	}
	if w.t.spooledFiles == nil {
		w.t.spooledFiles = make(map[blockstore.ID]*os.File)
	}
	w.t.spooledFiles[id] = w.f
	return id, nil
}

func (t *trackingSink) committed() []blockstore.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]blockstore.ID(nil), t.ids...)
}

// takeLevels returns the Levels kept for block id, or nil (always for a
// nil t), and forgets them.
func (t *trackingSink) takeLevels(id blockstore.ID) *proofs.Levels {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lv := t.levels[id]
	delete(t.levels, id)
	return lv
}

type trackingWriter struct {
	storage.BlockWriter
	t       *trackingSink
	ordinal int
	size    int64
}

func (w *trackingWriter) Write(p []byte) (int, error) {
	n, err := w.BlockWriter.Write(p)
	w.size += int64(n)
	return n, err
}

func (w *trackingWriter) Commit() (blockstore.ID, error) {
	id, err := w.BlockWriter.Commit()
	if err == nil {
		var lv *proofs.Levels
		if l, ok := w.BlockWriter.(levelser); ok && w.t.keepLevels != nil && w.t.keepLevels(w.ordinal) {
			lv, _ = l.Levels() // none: the piece is read again for them
		}
		_, spooled := w.BlockWriter.(*spoolWriter)
		w.t.mu.Lock()
		if !spooled {
			w.t.ids = append(w.t.ids, id)
		}
		if lv != nil {
			if w.t.levels == nil {
				w.t.levels = make(map[blockstore.ID]*proofs.Levels)
			}
			w.t.levels[id] = lv
		}
		w.t.mu.Unlock()
		if w.t.onCommit != nil {
			w.t.onCommit(w.ordinal, id, w.size)
		}
	}
	return id, err
}

// plannedPieces lists the pieces a file of size bytes will have under c
// (placement.Plan).
func plannedPieces(size int64, c storage.Config) []storage.PieceInfo { return placement.Plan(size, c) }

// earlyPusher pushes each piece to its planned holder as soon as the put
// has written it. It relies on the put creating a segment's pieces in index
// order, one segment after another (one block per segment for copies);
// Put checks the outcome against the put's result and pushes again
// whatever does not match, so a different order costs time, not
// correctness.
type earlyPusher struct {
	n       *Node
	blocks  *trackingSink // the put's kept Levels and spooled pieces
	planned []storage.PieceInfo
	holders []*candidate
	k       int
	width   int
	putID   [32]byte
	ctx     context.Context
	cancel  context.CancelFunc
	sem     chan struct{}
	wg      sync.WaitGroup

	mu     sync.Mutex
	pushed map[int]blockstore.ID // slot → id pushed there successfully
	ended  map[int]chan struct{} // slot → closed when its push ended
}

func newEarlyPusher(ctx context.Context, n *Node, planned []storage.PieceInfo, holders []*candidate, k, width int, putID [32]byte) *earlyPusher {
	ctx, cancel := context.WithCancel(ctx)
	return &earlyPusher{n: n, planned: planned, holders: holders, k: k, width: width, putID: putID,
		ctx: ctx, cancel: cancel, sem: make(chan struct{}, n.cfg.PushConcurrency), pushed: make(map[int]blockstore.ID), ended: make(map[int]chan struct{})}
}

// committed starts pushing block number ordinal of the put.
func (e *earlyPusher) committed(ordinal int, id blockstore.ID, size int64) {
	var slots []int
	if e.k == 1 {
		for i := range e.width {
			slots = append(slots, ordinal*e.width+i)
		}
	} else {
		slots = []int{ordinal}
	}
	for _, slot := range slots {
		if slot >= len(e.planned) || e.planned[slot].Size != size {
			return // the manifest, or not the planned layout
		}
		end := make(chan struct{})
		e.mu.Lock()
		e.ended[slot] = end
		e.mu.Unlock()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer close(end)
			select {
			case e.sem <- struct{}{}:
			case <-e.ctx.Done():
				return
			}
			defer func() { <-e.sem }()
			if err := e.n.pushPiece(e.ctx, e.holders[slot], id, size, e.putID, e.blocks); err != nil {
				e.n.log.Debug("early push failed; the put will retry", "piece", id, "err", err)
				return
			}
			e.mu.Lock()
			e.pushed[slot] = id
			e.mu.Unlock()
		}()
	}
}

// slots are the planned slots of block number ordinal of the put (for
// copies, all of its segment's); none past the planned pieces (the
// manifest).
func (e *earlyPusher) slots(ordinal int) []int {
	slots := []int{ordinal}
	if e.k == 1 {
		slots = slots[:0]
		for i := range e.width {
			slots = append(slots, ordinal*e.width+i)
		}
	}
	for i, s := range slots {
		if s >= len(e.holders) {
			return slots[:i]
		}
	}
	return slots
}

// selfHeld reports whether block number ordinal of the put is planned to
// stay on this node (for copies, any of its slots).
func (e *earlyPusher) selfHeld(ordinal int) bool {
	for _, s := range e.slots(ordinal) {
		if e.holders[s].Self {
			return true
		}
	}
	return false
}

// othersOnly reports whether block number ordinal of the put is a piece
// planned only for other nodes.
func (e *earlyPusher) othersOnly(ordinal int) bool {
	return len(e.slots(ordinal)) > 0 && !e.selfHeld(ordinal)
}

// wait waits for the early push of slot to end and reports whether it
// pushed block id there; false at once if no push of slot was started.
func (e *earlyPusher) wait(ctx context.Context, slot int, id blockstore.ID) bool {
	e.mu.Lock()
	end := e.ended[slot]
	e.mu.Unlock()
	if end == nil {
		return false
	}
	select {
	case <-end:
	case <-ctx.Done():
		return false
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pushed[slot] == id
}

// stop waits for the pushes started so far.
func (e *earlyPusher) stop() { e.wg.Wait() }

// abort cancels the pushes still running and waits for them.
func (e *earlyPusher) abort() {
	e.cancel()
	e.wg.Wait()
}

// matches reports whether the put produced the planned layout.
func (e *earlyPusher) matches(pieces []storage.PieceInfo) bool {
	if len(pieces) != len(e.planned) {
		return false
	}
	for i, p := range pieces {
		if p.Segment != e.planned[i].Segment || p.Index != e.planned[i].Index || p.Size != e.planned[i].Size {
			return false
		}
	}
	return true
}

// done marks the pieces already stored at their planned holder.
func (e *earlyPusher) done(pieces []storage.PieceInfo) []bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]bool, len(pieces))
	for i, p := range pieces {
		out[i] = e.pushed[i] == p.ID
	}
	return out
}
