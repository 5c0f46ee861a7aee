package ledger

import "context"

// NewBlocks returns a channel that receives the height of each new
// committed block, from the client's one block subscription (the one its
// tx waits use). The channel holds one height: a reader slower than the
// blocks gets the latest height, not every one. While the subscription is
// down (the node restarting) no heights come; callers that must not stall
// keep a slow ticker besides. The channel is closed when ctx ends or the
// client is closed; after Close, NewBlocks returns ErrClosed.
func (c *Client) NewBlocks(ctx context.Context) (<-chan int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &c.blocks
	ch := make(chan int64, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	b.heights[ch] = struct{}{}
	c.startWatchLocked()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if _, ok := b.heights[ch]; ok { // Close did not close it first
			delete(b.heights, ch)
			close(ch)
		}
	})
	return ch, nil
}

// sendLatest puts h on ch (capacity 1) without blocking, replacing a
// height the reader has not taken yet. The caller is ch's only sender.
func sendLatest(ch chan int64, h int64) {
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- h:
	default:
	}
}
