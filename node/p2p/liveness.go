package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"
)

// seenBook remembers when each peer was last in contact: a connection
// opened or closed, or a ping answered. It is fed by the network's
// notifications and by Ping.
type seenBook struct {
	mu   sync.Mutex
	last map[peer.ID]time.Time
}

func (s *seenBook) mark(p peer.ID, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = make(map[peer.ID]time.Time)
	}
	if at.After(s.last[p]) {
		s.last[p] = at
	}
}

func (s *seenBook) get(p peer.ID) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[p]
}

// watchContact registers the notifications that feed the host's seen book.
func (h *Host) watchContact() {
	touch := func(_ network.Network, c network.Conn) { h.seen.mark(c.RemotePeer(), time.Now()) }
	h.host.Network().Notify(&network.NotifyBundle{ConnectedF: touch, DisconnectedF: touch})
}

// Connected reports whether the host has a live connection to p.
func (h *Host) Connected(p peer.ID) bool {
	return h.host.Network().Connectedness(p) == network.Connected
}

// LastSeen is when p was last in contact with the host: now while it is
// connected, else when its last connection opened or closed or it last
// answered a ping. It is zero for a peer never reached since the host
// started.
func (h *Host) LastSeen(p peer.ID) time.Time {
	if h.Connected(p) {
		return time.Now()
	}
	return h.seen.get(p)
}

// Ping asks p to echo a ping (libp2p's /ipfs/ping/1.0.0), dialing it if
// needed, and returns the round trip. It gives up when ctx ends: callers
// bound it with a short timeout.
func (h *Host) Ping(ctx context.Context, p peer.ID) (time.Duration, error) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the ping stream
	select {
	case r := <-ping.Ping(pctx, h.host, p):
		if r.Error != nil {
			return 0, fmt.Errorf("ping %s: %w", shortPeer(p), r.Error)
		}
		h.seen.mark(p, time.Now())
		return r.RTT, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("ping %s: no answer: %w", shortPeer(p), ctx.Err())
	}
}

// shortPeer is the end of a peer id, for messages.
func shortPeer(p peer.ID) string {
	s := p.String()
	return "peer …" + s[max(0, len(s)-8):]
}
