package ledger

import (
	"context"
	"strconv"

	"github.com/coop-network/coop/chain"
)

// Outcome returns what the ledger recorded of holder's proof for epoch
// (/outcome/<epoch>/<holder>): proved, invalid or missing. While nothing
// is recorded the error wraps chain.ErrNotFound.
func (c *Client) Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error) {
	var v chain.EpochOutcome
	return v, c.Query(ctx, chain.QueryOutcome+strconv.FormatUint(epoch, 10)+"/"+holder.String(), &v)
}
