package node

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/event"

	"github.com/coop-network/coop/chain"
)

// watchAddrs keeps the node's ledger record's addresses equal to its
// host's: when they change (a relay reservation behind a NAT adds a
// /p2p-circuit address, an interface comes or goes), it sends an
// UpdateNode, after a second of quiet so a burst of changes is one tx. It
// returns when ctx ends.
func (n *Node) watchAddrs(ctx context.Context) {
	sub, err := n.host.Libp2p().EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
	if err != nil {
		n.log.Warn("cannot watch this host's addresses; the ledger keeps those of the start", "err", err)
		return
	}
	defer sub.Close()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-sub.Out():
			if !ok {
				return
			}
			settle = time.After(time.Second)
		case <-settle:
			settle = nil
			if err := n.updateAddrs(ctx); err != nil && ctx.Err() == nil {
				n.log.Warn("recording this node's new addresses on the ledger", "err", err)
				settle = time.After(10 * time.Second) // try again
			}
		}
	}
}

// updateAddrs sends an UpdateNode if the host's addresses differ from the
// ledger record's.
func (n *Node) updateAddrs(ctx context.Context) error {
	addrs := n.ledgerAddrs()
	rec, err := n.lc.Node(ctx, n.addr)
	if err != nil {
		return err
	}
	have, want := slices.Clone(rec.Addrs), slices.Clone(addrs)
	slices.Sort(have)
	slices.Sort(want)
	if slices.Equal(have, want) {
		return nil
	}
	n.log.Info("recording new addresses on the ledger", "addrs", addrs)
	_, err = n.broadcast(ctx, &chain.UpdateNode{Addrs: &addrs})
	return err
}

// ledgerAddrs are the host's addresses as the ledger records them: at most
// 16, as strings.
func (n *Node) ledgerAddrs() []string {
	addrs := make([]string, 0, len(n.host.Addrs()))
	for _, a := range n.host.Addrs() {
		if len(addrs) < 16 {
			addrs = append(addrs, a.String())
		}
	}
	return addrs
}
