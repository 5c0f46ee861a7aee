package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

// placeBatcher records the placements of a node's concurrent puts on the
// ledger, several in one place_files tx (group commit). A put whose
// placement arrives while no tx of the batcher is in flight is sent at
// once, alone, as a place_file: a lone put waits for nothing. Placements
// that arrive while a tx is in flight queue, and when it is committed (or
// failed) the queue goes as the next tx, up to the batch bounds (Config.
// PutBatch entries, the ledger's max_tx_bytes). So under load one tx per
// block carries everything that arrived during the block before, and
// each put waits at most for the tx in flight and then its own.
//
// A batch is all or nothing on the ledger. If the ledger refuses it (in
// CheckTx or in its block) or drops it, nothing of it is recorded, and
// each of its placements is sent again alone: one put's bad placement
// (its quota, a holder's receipt) fails that put only. If the wait ends
// otherwise (a stalled ledger, a lost connection), the batch may still
// commit, so every put in it gets that error, as a lone put would.
type placeBatcher struct {
	mu      sync.Mutex
	queue   []*placeReq
	running bool // a goroutine is sending the queue
	closed  bool
	ctx     context.Context // ends at close; the batcher's txs run under it
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// placeReq is one put's placement waiting to be sent.
type placeReq struct {
	ctx   context.Context // the put's: once it ends, nobody waits for the result
	pf    *chain.PlaceFile
	bytes int        // its encoding, for the batch's byte bound
	done  chan error // the outcome, once (buffered)
}

// testHookPlaceQueued, if set, is told the queue's length after each
// placement joins it; testHookPlaceTake, if set, is called each time
// before the sender takes the next tx's placements from the queue (tests).
var (
	testHookPlaceQueued func(queued int)
	testHookPlaceTake   func()
)

// batchTxOverhead is what a place_files tx takes besides its entries'
// encodings: the envelope (chain id, type, key, nonce, signature, the
// account a device names) and the CBOR headers, with room to spare.
const batchTxOverhead = 1024

// placeFile records pf on the ledger and waits until it is committed:
// alone, or in a batch with other puts' placements. A refusal is a
// *ledger.RejectedError for pf itself (a batch that failed is retried
// entry by entry).
func (n *Node) placeFile(ctx context.Context, pf *chain.PlaceFile) error {
	if n.putBatchMax() < 2 || pf.Size == 0 {
		_, err := n.broadcast(ctx, pf)
		return err
	}
	raw, err := chain.Marshal(pf)
	if err != nil {
		return err
	}
	req := &placeReq{ctx: ctx, pf: pf, bytes: len(raw), done: make(chan error, 1)}
	b := &n.batch
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("%w: the node is closing", ErrUnavailable)
	}
	b.queue = append(b.queue, req)
	queued := len(b.queue)
	if !b.running {
		b.running = true
		if b.ctx == nil {
			b.ctx, b.cancel = context.WithCancel(context.Background())
		}
		b.wg.Add(1)
		go n.sendPlacements()
	}
	b.mu.Unlock()
	if h := testHookPlaceQueued; h != nil {
		h(queued)
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// putBatchMax is the most placements one tx carries.
func (n *Node) putBatchMax() int {
	if n.cfg.PutBatch == 0 {
		return chain.MaxPlaceFilesEntries
	}
	return min(n.cfg.PutBatch, chain.MaxPlaceFilesEntries)
}

// sendPlacements sends the queue, one tx at a time, until it is empty.
func (n *Node) sendPlacements() {
	b := &n.batch
	defer b.wg.Done()
	maxBytes := -1 // read from the ledger's params before the first batch
	for {
		if h := testHookPlaceTake; h != nil {
			h()
		}
		b.mu.Lock()
		live := b.queue[:0]
		for _, r := range b.queue {
			if r.ctx.Err() == nil {
				live = append(live, r)
			}
		}
		b.queue = live
		if len(b.queue) == 0 || b.closed {
			for _, r := range b.queue {
				r.done <- fmt.Errorf("%w: the node is closing", ErrUnavailable)
			}
			b.queue = nil
			b.running = false
			b.mu.Unlock()
			return
		}
		if maxBytes < 0 && len(b.queue) > 1 {
			b.mu.Unlock()
			maxBytes = n.batchBytes(b.ctx)
			continue
		}
		take := 1
		for used := b.queue[0].bytes; take < len(b.queue) && take < n.putBatchMax(); take++ {
			if used += b.queue[take].bytes; used > maxBytes {
				break
			}
		}
		batch := append([]*placeReq(nil), b.queue[:take]...)
		b.queue = b.queue[take:]
		b.mu.Unlock()
		n.sendBatch(b.ctx, batch)
	}
}

// batchBytes is the most bytes of entries a place_files may carry: the
// ledger's max_tx_bytes less the envelope, or 0 (no batches) if the params
// cannot be read.
func (n *Node) batchBytes(ctx context.Context) int {
	p, err := n.lc.Params(ctx)
	if err != nil {
		n.log.Warn("reading the ledger's params; placing files one by one", "err", err)
		return 0
	}
	return max(int(p.MaxTxBytes)-batchTxOverhead, 0)
}

// sendBatch records batch (one placement: a place_file; more: a
// place_files) and tells each put the outcome.
func (n *Node) sendBatch(ctx context.Context, batch []*placeReq) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	if len(batch) == 1 {
		_, err := n.broadcast(ctx, batch[0].pf)
		batch[0].done <- err
		return
	}
	body := &chain.PlaceFiles{Files: make([]chain.PlaceFile, len(batch))}
	for i, r := range batch {
		body.Files[i] = *r.pf
	}
	_, err := n.broadcast(ctx, body)
	var rejected *ledger.RejectedError
	if err == nil || !(errors.As(err, &rejected) || errors.Is(err, ledger.ErrTxDropped)) {
		// Committed, or an outcome the batch shares (it may still commit).
		for _, r := range batch {
			r.done <- err
		}
		if err == nil {
			n.log.Debug("placements recorded in one tx", "files", len(batch))
		}
		return
	}
	// Nothing of it is recorded: each goes alone, so one bad placement
	// fails only its own put.
	n.log.Info("a batch of placements was refused; sending each alone", "files", len(batch), "err", err)
	var wg sync.WaitGroup
	for _, r := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := n.broadcast(ctx, r.pf)
			r.done <- err
		}()
	}
	wg.Wait()
}

// close refuses new placements, cancels the txs in flight and waits for
// the sender to end.
func (b *placeBatcher) close() {
	b.mu.Lock()
	b.closed = true
	if b.cancel != nil {
		b.cancel()
	}
	b.mu.Unlock()
	b.wg.Wait()
}
