package p2p

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Hole punching again. go-libp2p's DCUtR runs on the host that receives a
// relayed connection, once, when that connection opens: it needs an
// address others see it at (identify's observed address through its NAT),
// and a host that has none yet — it has just started — gives up at once
// ("no public address"); a punch that fails is not tried again while the
// relayed connection lives. The dialer then holds a relayed connection
// only (1 MiB, 2 minutes; the block exchange does not use it, and a stream
// waits for a direct connection that never comes).
//
// So the host that dialed through a relay punches again: when it has had
// only relayed connections to a peer for punchRetryAfter, it closes them
// and dials the peer's relay address anew, and that new relayed connection
// starts DCUtR on the other side again; after punchMaxRetries, with the
// wait doubling each time, it leaves the peer be (until the peer has had
// no relayed-only connection for punchForget). Closing a relayed
// connection resets the streams on it; coop opens none there (the block
// exchange waits for the direct connection), only go-libp2p's own
// protocols (identify, DCUtR) use it.

const (
	// punchRetryAfter is how long an outbound relayed-only connection
	// waits for DCUtR before the first new try; each later try waits
	// twice as long as the one before (go-libp2p's own punch dials time
	// out after 10 s).
	punchRetryAfter = 5 * time.Second
	// punchMaxRetries bounds the new tries per peer while it stays
	// connected through relays only.
	punchMaxRetries = 3
	// punchCheckInterval is how often the host looks for relayed-only
	// connections.
	punchCheckInterval = time.Second
	// punchForget is how long the retrier remembers a peer's tries after
	// its last relayed-only connection (a redial closes them for a
	// moment): a peer that keeps coming back through relays gets
	// punchMaxRetries tries, not more, until it stays away this long.
	punchForget = time.Minute
)

// punchState is the retrier's record of one peer reached through relays
// only.
type punchState struct {
	tries   int
	next    time.Time // when to try again
	seen    time.Time // when last connected through relays only
	dialing bool      // a redial is under way (guarded by the retrier's mu)
}

// retryPunches runs the hole-punch retrier until ctx ends, waiting for the
// dials it started.
func (h *Host) retryPunches(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	var mu sync.Mutex // guards the states' dialing flags
	states := make(map[peer.ID]*punchState)
	tick := time.NewTicker(punchCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		for _, p := range h.host.Network().Peers() {
			circuits, opened, ok := relayedOnly(h.host.Network().ConnsToPeer(p))
			if !ok {
				continue
			}
			st := states[p]
			if st == nil {
				st = &punchState{next: opened.Add(punchRetryAfter)}
				states[p] = st
			}
			st.seen = now
			mu.Lock()
			busy := st.dialing
			mu.Unlock()
			if busy || st.tries >= punchMaxRetries || now.Before(st.next) {
				continue
			}
			st.tries++
			st.next = now.Add(punchRetryAfter << st.tries)
			try := st.tries
			mu.Lock()
			st.dialing = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.redialRelayed(ctx, p, circuits, try)
				mu.Lock()
				st.dialing = false
				mu.Unlock()
			}()
		}
		mu.Lock()
		for p, st := range states {
			if !st.dialing && now.Sub(st.seen) > punchForget {
				delete(states, p)
			}
		}
		mu.Unlock()
	}
}

// relayedOnly reports whether conns are all relayed with at least one
// this host dialed, and then their relay addresses and when the oldest
// opened.
func relayedOnly(conns []network.Conn) (circuits []ma.Multiaddr, opened time.Time, ok bool) {
	outbound := false
	for _, c := range conns {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
			return nil, time.Time{}, false // a direct connection
		}
		st := c.Stat()
		outbound = outbound || st.Direction == network.DirOutbound
		if opened.IsZero() || st.Opened.Before(opened) {
			opened = st.Opened
		}
		circuits = append(circuits, c.RemoteMultiaddr())
	}
	return circuits, opened, outbound && len(circuits) > 0
}

// redialRelayed closes the relayed connections to p and dials it through
// its relays again, within the host's dial timeout.
func (h *Host) redialRelayed(ctx context.Context, p peer.ID, circuits []ma.Multiaddr, try int) {
	for _, c := range h.host.Network().ConnsToPeer(p) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
			_ = c.Close()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DialTimeout)
	defer cancel()
	err := h.host.Connect(ctx, peer.AddrInfo{ID: p, Addrs: circuits})
	h.log.Debug("no direct connection through the relay: dialed it again to punch a hole", "to", p.ShortString(), "try", try, "err", err)
}
