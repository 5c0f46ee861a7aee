package node

import (
	"context"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// Liveness tunables.
const (
	// pingTimeout bounds one liveness ping (with the dial it may need):
	// `coop peers` pings every peer with it, and placement pings the
	// candidates it is not connected to.
	pingTimeout = 2 * time.Second
	// pingConcurrency bounds the pings in flight at once.
	pingConcurrency = 8
)

// pingResult is what one liveness ping found.
type pingResult struct {
	rtt time.Duration
	err error
}

// pingAll pings every peer in ids, pingConcurrency at a time, each within
// pingTimeout, and returns the results by peer.
func (n *Node) pingAll(ctx context.Context, ids []peer.ID) map[peer.ID]pingResult {
	out := make(map[peer.ID]pingResult, len(ids))
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, pingConcurrency)
	)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			defer cancel()
			rtt, err := n.host.Ping(pctx, id)
			mu.Lock()
			out[id] = pingResult{rtt: rtt, err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// answering filters placement candidates down to the nodes that answer
// now: this node stays; a node that was unreachable within deadPeerTTL (a
// ping, a get or a push to it failed) is skipped, connected or not, since
// a connection to a host that vanished lingers until keep-alives give up;
// those connected stay; any other is pinged (all at once, within
// pingTimeout) and skipped if it does not answer. A failed ping marks the
// peer dead for deadPeerTTL, so the next put (and gets) skip it without
// waiting again.
func (n *Node) answering(ctx context.Context, cands []*candidate) []*candidate {
	var probe []peer.ID
	skip := make(map[peer.ID]bool)
	for _, c := range cands {
		switch {
		case c.Self:
		case n.dead.check(c.peer) != nil:
			skip[c.peer] = true
		case n.host.Connected(c.peer):
		default:
			probe = append(probe, c.peer)
		}
	}
	if len(probe) > 0 {
		for id, r := range n.pingAll(ctx, probe) {
			if r.err != nil {
				n.log.Info("skipping a node that does not answer for placement", "peer", id, "err", r.err)
				n.dead.mark(id)
				skip[id] = true
			} else {
				n.dead.clear(id)
			}
		}
	}
	if len(skip) == 0 {
		return cands
	}
	out := cands[:0:0]
	for _, c := range cands {
		if !skip[c.peer] {
			out = append(out, c)
		}
	}
	return out
}

// livePeers fills in each peer's last contact and pings it now (ids[i] is
// out[i]'s peer, "" if its ledger record has no usable peer id).
func (n *Node) livePeers(ctx context.Context, out []api.PeerInfo, ids []peer.ID) {
	var probe []peer.ID
	for _, id := range ids {
		if id != "" {
			probe = append(probe, id)
		}
	}
	res := n.pingAll(ctx, probe)
	for i, id := range ids {
		if id == "" {
			out[i].PingError = "no usable peer id on the ledger"
			continue
		}
		if r := res[id]; r.err != nil {
			out[i].PingError = r.err.Error()
		} else {
			out[i].Answers = true
			out[i].PingMillis = float64(r.rtt.Microseconds()) / 1000
		}
		if at := n.host.LastSeen(id); !at.IsZero() {
			out[i].LastSeen = &at
		}
	}
}

// ledgerTipper is the ledger client's view of its latest block
// (*ledger.Client); a ledger without it reports only the height.
type ledgerTipper interface {
	Tip(ctx context.Context) (ledger.Tip, error)
	Stalled(t ledger.Tip, now time.Time) bool
	StallBound() time.Duration
}

// ledgerTip fills in the status's chain height, last block time and
// whether the ledger is stalled.
func (n *Node) ledgerTip(ctx context.Context, st *api.Status) {
	lt, ok := n.lc.(ledgerTipper)
	if !ok {
		if h, _, err := n.lc.Height(ctx); err == nil {
			st.ChainHeight = h
		}
		return
	}
	st.StallAfterSeconds = lt.StallBound().Seconds()
	tip, err := lt.Tip(ctx)
	if err != nil {
		return
	}
	st.ChainHeight = tip.Height
	if tip.Height > 0 {
		at := tip.Time
		st.LastBlockTime = &at
		st.LedgerStalled = lt.Stalled(tip, time.Now())
	}
}
