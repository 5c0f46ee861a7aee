package node

import (
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// deadPeerTTL is how long a peer that could not be dialed is skipped by
// gets, so that a segment whose holder is down does not wait for the same
// failed dial again and again.
const deadPeerTTL = 30 * time.Second

// deadPeers remembers peers that were unreachable recently.
type deadPeers struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

func (d *deadPeers) mark(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.until == nil {
		d.until = make(map[peer.ID]time.Time)
	}
	d.until[p] = time.Now().Add(deadPeerTTL)
}

func (d *deadPeers) clear(p peer.ID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.until, p)
}

// check returns an error if p was unreachable within deadPeerTTL.
func (d *deadPeers) check(p peer.ID) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.until[p]
	if !ok {
		return nil
	}
	if time.Now().After(t) {
		delete(d.until, p)
		return nil
	}
	s := p.String()
	return fmt.Errorf("peer …%s unreachable in the last %v", s[max(0, len(s)-8):], deadPeerTTL)
}
