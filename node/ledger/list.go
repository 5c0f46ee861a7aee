package ledger

import (
	"bytes"
	"context"
	"fmt"

	"github.com/coop-network/coop/chain"
)

// listEntryLimit is MaxListEntries; tests lower it.
var listEntryLimit = MaxListEntries

// QueryPage reads one page of a list query (chain.QueryNodes,
// chain.QueryFiles+owner, chain.QueryPieces+holder) after cursor (nil for
// the first page) at height (0 for the latest). It returns the page and the
// height it was read at; pass that height for the following pages so they
// are of the same state. An empty page.Next means the last page.
func QueryPage[T any](ctx context.Context, c *Client, path string, cursor []byte, height int64) (chain.Page[T], int64, error) {
	var p chain.Page[T]
	if len(cursor) > chain.MaxCursorBytes {
		return p, 0, fmt.Errorf("%w: %s: cursor of %d bytes (max %d)", ErrQuery, path, len(cursor), chain.MaxCursorBytes)
	}
	h, err := c.query(ctx, path, cursor, height, &p)
	if err != nil {
		return chain.Page[T]{}, 0, err
	}
	if height > 0 && h != height {
		return chain.Page[T]{}, 0, fmt.Errorf("%w: %s: asked for height %d, answered at %d", ErrQuery, path, height, h)
	}
	return p, h, nil
}

// QueryList reads a whole list: the first page at the latest height, the
// following ones at that height, and returns every entry with the height.
// It returns the whole list or an error, never a part: any page that fails,
// is answered at another height, is empty but not the last, or repeats a
// cursor, and a list past MaxListEntries entries, fail it (wrapping
// ErrQuery).
func QueryList[T any](ctx context.Context, c *Client, path string) ([]T, int64, error) {
	p, h, err := QueryPage[T](ctx, c, path, nil, 0)
	if err != nil {
		return nil, 0, err
	}
	items := p.Items
	seen := map[string]bool{}
	for pages := 1; len(p.Next) > 0; pages++ {
		switch {
		case len(items) > listEntryLimit:
			return nil, 0, fmt.Errorf("%w: %s: more than %d entries", ErrQuery, path, listEntryLimit)
		case len(p.Items) == 0:
			return nil, 0, fmt.Errorf("%w: %s: page %d is empty but not the last", ErrQuery, path, pages)
		case h <= 0:
			return nil, 0, fmt.Errorf("%w: %s: a paged answer without a height", ErrQuery, path)
		case seen[string(p.Next)]:
			return nil, 0, fmt.Errorf("%w: %s: page %d repeats cursor %x", ErrQuery, path, pages, p.Next)
		}
		seen[string(p.Next)] = true
		cursor := bytes.Clone(p.Next)
		if p, _, err = QueryPage[T](ctx, c, path, cursor, h); err != nil {
			return nil, 0, fmt.Errorf("page %d: %w", pages+1, err)
		}
		items = append(items, p.Items...)
	}
	if len(items) > listEntryLimit {
		return nil, 0, fmt.Errorf("%w: %s: more than %d entries", ErrQuery, path, listEntryLimit)
	}
	return items, h, nil
}
