package ledger

import (
	"context"

	"github.com/coop-network/coop/chain"
)

// Lost lists the pieces recorded lost and not yet repaired (/lost), by
// file, every page read at one height (QueryList).
func (c *Client) Lost(ctx context.Context) ([]chain.LostPiece, error) {
	v, _, err := QueryList[chain.LostPiece](ctx, c, chain.QueryLost)
	return v, err
}
