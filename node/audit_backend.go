package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/audit"
)

var _ api.Auditor = (*Node)(nil)

// Audit reports on the node opts.Target names (or every node): its ledger
// record and a spot check over the exchange; with opts.Submit, the
// evidence of wrong signed answers goes on the ledger from this node's
// account (node/audit).
func (n *Node) Audit(ctx context.Context, opts audit.Options) (*audit.Report, error) {
	r, err := audit.New(n.lc, n.x, n.txLedger(), audit.Config{Self: n.addr, Logger: n.log}).Audit(ctx, opts)
	switch {
	case errors.Is(err, audit.ErrUnknownNode):
		return nil, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, audit.ErrInvalid):
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	return r, err
}
