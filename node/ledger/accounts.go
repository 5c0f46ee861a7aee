package ledger

import (
	"context"

	"github.com/coop-network/coop/chain"
)

// Devices lists an account's devices (/devices/<account>), every page read
// at one height (QueryList); empty for an account without devices.
func (c *Client) Devices(ctx context.Context, account chain.Address) ([]chain.Device, error) {
	v, _, err := QueryList[chain.Device](ctx, c, chain.QueryDevices+account.String())
	return v, err
}

// DeviceAccount returns the device record of key address dev, whose
// Account is the account it acts for (/device/<dev>); an error wrapping
// chain.ErrNotFound if dev is no account's device.
func (c *Client) DeviceAccount(ctx context.Context, dev chain.Address) (chain.Device, error) {
	var v chain.Device
	return v, c.Query(ctx, chain.QueryDevice+dev.String(), &v)
}

// Root returns an account's current namespace root (/root/<account>); an
// error wrapping chain.ErrNotFound before its first SetRoot.
func (c *Client) Root(ctx context.Context, account chain.Address) (chain.NamespaceRoot, error) {
	var v chain.NamespaceRoot
	return v, c.Query(ctx, chain.QueryRoot+account.String(), &v)
}

// Roots returns the roots the ledger keeps of an account (at most
// Params.KeptRoots, the current one included), newest first
// (/roots/<account>).
func (c *Client) Roots(ctx context.Context, account chain.Address) ([]chain.NamespaceRoot, error) {
	var p chain.Page[chain.NamespaceRoot]
	if err := c.Query(ctx, chain.QueryRoots+account.String(), &p); err != nil {
		return nil, err
	}
	return p.Items, nil
}

// NameOwner returns the record of a registered username (/name/<name>):
// its Account owns it. An error wrapping chain.ErrNotFound for a free name,
// chain.ErrInvalid for one that cannot be registered (chain.CheckName).
func (c *Client) NameOwner(ctx context.Context, name string) (chain.NameRecord, error) {
	var v chain.NameRecord
	return v, c.Query(ctx, chain.QueryName+name, &v)
}

// AccountName returns an account's username record (/nameof/<account>);
// an error wrapping chain.ErrNotFound if it has none.
func (c *Client) AccountName(ctx context.Context, account chain.Address) (chain.NameRecord, error) {
	var v chain.NameRecord
	return v, c.Query(ctx, chain.QueryNameOf+account.String(), &v)
}

// Share returns a share by id (/share/<id>); an error wrapping
// chain.ErrNotFound for none.
func (c *Client) Share(ctx context.Context, id chain.Hash) (chain.Share, error) {
	var v chain.Share
	return v, c.Query(ctx, chain.QueryShare+id.String(), &v)
}

// SharesTo lists the shares an account received (not public ones), every
// page read at one height (QueryList).
func (c *Client) SharesTo(ctx context.Context, account chain.Address) ([]chain.Share, error) {
	v, _, err := QueryList[chain.Share](ctx, c, chain.QuerySharesTo+account.String())
	return v, err
}

// SharesBy lists the shares an account owns, every page read at one height
// (QueryList).
func (c *Client) SharesBy(ctx context.Context, account chain.Address) ([]chain.Share, error) {
	v, _, err := QueryList[chain.Share](ctx, c, chain.QuerySharesBy+account.String())
	return v, err
}

// PublicShares lists an account's public shares, every page read at one
// height (QueryList).
func (c *Client) PublicShares(ctx context.Context, account chain.Address) ([]chain.Share, error) {
	v, _, err := QueryList[chain.Share](ctx, c, chain.QueryPublicShares+account.String())
	return v, err
}

// Inbox returns an account's inbox key record (/inbox/<account>): the
// X25519 key share keys are sealed to for it; an error wrapping
// chain.ErrNotFound before its first SetInbox.
func (c *Client) Inbox(ctx context.Context, account chain.Address) (chain.Inbox, error) {
	var v chain.Inbox
	return v, c.Query(ctx, chain.QueryInbox+account.String(), &v)
}
