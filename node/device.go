package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base32"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/capseal"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/tree"
	"github.com/coop-network/coop/storage"
)

// account is the account the node acts for now.
func (n *Node) account() AccountKeys {
	n.acctMu.RLock()
	defer n.acctMu.RUnlock()
	return n.acct
}

// namespace is the service keeping the account's namespace, or nil.
func (n *Node) namespace() *tree.Service {
	n.acctMu.RLock()
	defer n.acctMu.RUnlock()
	return n.ns
}

// setAccount makes the node act for ak, with a namespace service for it.
func (n *Node) setAccount(ak AccountKeys) {
	n.acctMu.Lock()
	defer n.acctMu.Unlock()
	n.acct = ak
	n.ns = n.newNamespace(ak)
}

// accountLedger is the part of the ledger client that reads accounts'
// devices and namespace roots (*ledger.Client); a node whose Ledger lacks
// it (a test fake) keeps no namespace.
type accountLedger interface {
	Root(ctx context.Context, account chain.Address) (chain.NamespaceRoot, error)
	Roots(ctx context.Context, account chain.Address) ([]chain.NamespaceRoot, error)
	DeviceAccount(ctx context.Context, device chain.Address) (chain.Device, error)
	Devices(ctx context.Context, account chain.Address) ([]chain.Device, error)
}

var _ accountLedger = (*ledger.Client)(nil)

// newNamespace makes the namespace service of ak's account, or nil if the
// node's ledger cannot read roots.
func (n *Node) newNamespace(ak AccountKeys) *tree.Service {
	al, ok := n.lc.(accountLedger)
	if !ok {
		return nil
	}
	cfg := tree.Config{Account: ak.Address[:], Key: ak.RootKey, Label: ak.Label, Logger: n.log}
	return tree.New(cfg, nsLedger{n: n, al: al, account: ak.Address}, nsBlobs{n})
}

// nsLedger is the account's root records on the ledger, for node/tree.
type nsLedger struct {
	n       *Node
	al      accountLedger
	account chain.Address
}

func rootOf(r chain.NamespaceRoot) tree.Root {
	return tree.Root{Version: r.Version, Sealed: r.Root, Height: r.Height, By: r.By.String()}
}

func (l nsLedger) Root(ctx context.Context) (tree.Root, error) {
	r, err := l.al.Root(ctx, l.account)
	if errors.Is(err, chain.ErrNotFound) {
		return tree.Root{}, fmt.Errorf("%w: %w", tree.ErrNoRoot, err)
	}
	if err != nil {
		return tree.Root{}, err
	}
	return rootOf(r), nil
}

func (l nsLedger) Roots(ctx context.Context) ([]tree.Root, error) {
	rs, err := l.al.Roots(ctx, l.account)
	if err != nil {
		return nil, err
	}
	out := make([]tree.Root, 0, len(rs))
	for _, r := range rs {
		out = append(out, rootOf(r))
	}
	return out, nil
}

func (l nsLedger) SetRoot(ctx context.Context, version uint64, sealed []byte) error {
	ctx, cancel := context.WithTimeout(ctx, l.n.cfg.LedgerTimeout)
	defer cancel()
	_, err := l.n.broadcast(ctx, &chain.SetRoot{Version: version, Root: sealed})
	if errors.Is(err, chain.ErrStaleVersion) {
		return fmt.Errorf("%w: %w", tree.ErrStale, err)
	}
	if errors.Is(err, ledger.ErrTxDropped) {
		// The mempool's recheck drops a SetRoot another device's commit
		// made stale: if the root is not this one, it lost the race.
		if r, rerr := l.al.Root(ctx, l.account); rerr == nil && r.Version >= version {
			if r.Version == version && bytes.Equal(r.Root, sealed) {
				return nil
			}
			return fmt.Errorf("%w: %w", tree.ErrStale, err)
		}
	}
	return err
}

// deviceCodePrefix starts a device code: a node's request to become a
// device of an account (DeviceRequest), given to a node of that account.
const deviceCodePrefix = "coopdev1"

var deviceCodeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// DeviceRequest is the code with which this node asks to become a device
// of account: its public key and its signed consent (chain.AddDevice's
// DeviceSig). The code holds nothing secret; the account's node turns it
// into an AddDevice (AddDevice).
func (n *Node) DeviceRequest(ctx context.Context, account string) (string, error) {
	a, err := chain.ParseAddress(account)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if a == n.addr {
		return "", fmt.Errorf("%w: %s is this node's own account", ErrInvalidArgument, a)
	}
	sig := chain.SignDeviceConsent(n.key, n.lc.ChainID(), a)
	b := append(append([]byte{}, n.pub...), sig...)
	return deviceCodePrefix + strings.ToLower(deviceCodeEncoding.EncodeToString(b)), nil
}

// parseDeviceCode splits a device code into the device key and its consent.
func parseDeviceCode(code string) (ed25519.PublicKey, []byte, error) {
	code = strings.TrimSpace(code)
	if !strings.HasPrefix(code, deviceCodePrefix) {
		return nil, nil, fmt.Errorf("%w: a device code starts with %q (from `coop device request` on the new device)", ErrInvalidArgument, deviceCodePrefix)
	}
	b, err := deviceCodeEncoding.DecodeString(strings.ToUpper(code[len(deviceCodePrefix):]))
	if err != nil || len(b) != ed25519.PublicKeySize+ed25519.SignatureSize {
		return nil, nil, fmt.Errorf("%w: the device code is damaged (copy it whole)", ErrInvalidArgument)
	}
	return ed25519.PublicKey(b[:ed25519.PublicKeySize]), b[ed25519.PublicKeySize:], nil
}

// AddDevice makes the node that gave code (DeviceRequest) a device of this
// node's account, named label, and seals the account's keys to it on the
// ledger so it can read and write the account's files and namespace. Only
// the account's own key adds devices: a device cannot.
func (n *Node) AddDevice(ctx context.Context, code, label string) (*api.DeviceInfo, error) {
	pub, sig, err := parseDeviceCode(code)
	if err != nil {
		return nil, err
	}
	if n.account().Device {
		return nil, fmt.Errorf("%w: this node is a device of account %s; add devices on the node that has the account key", ErrNotOwner, n.account().Address)
	}
	if !ed25519.Verify(pub, chain.DeviceConsentBytes(n.lc.ChainID(), n.addr, pub), sig) {
		return nil, fmt.Errorf("%w: the device code was made for another account or chain (run `coop device request %s` on the new device)", ErrInvalidArgument, n.addr)
	}
	ak, err := DeriveAccountKeys(n.key)
	if err != nil {
		return nil, err
	}
	sealed, err := capseal.Seal(pub, capseal.DeviceJob(n.addr), capseal.RoleDeviceKeys, storage.Capability{FileID: ak.SealKey, Key: ak.RootKey})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	res, err := n.broadcast(ctx, &chain.AddDevice{Device: pub, Label: label, DeviceSig: sig, Keys: sealed})
	if err != nil {
		return nil, err
	}
	return &api.DeviceInfo{Address: chain.AddressOf(pub).String(), Label: label, AddedHeight: res.Height}, nil
}

// Devices lists the devices of the node's account.
func (n *Node) Devices(ctx context.Context) (*api.Devices, error) {
	al, ok := n.lc.(accountLedger)
	if !ok {
		return nil, fmt.Errorf("%w: this node's ledger lists no devices", api.ErrNotFound)
	}
	ak := n.account()
	ds, err := al.Devices(ctx, ak.Address)
	if err != nil {
		return nil, err
	}
	out := &api.Devices{Account: ak.Address.String(), Self: n.addr.String(), Devices: []api.DeviceInfo{}}
	for _, d := range ds {
		out.Devices = append(out.Devices, api.DeviceInfo{Address: d.Address.String(), Label: d.Label, AddedHeight: d.AddedHeight})
	}
	return out, nil
}

// RemoveDevice removes a device from the node's account: from the node with
// the account key any device, from a device only itself. From the next
// block on, the ledger refuses the device's transactions for the account.
func (n *Node) RemoveDevice(ctx context.Context, device string) error {
	d, err := chain.ParseAddress(device)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	_, err = n.broadcast(ctx, &chain.RemoveDevice{Device: d})
	return err
}

// watchAccount keeps the node's account in step with the ledger: a node
// added as a device (AddDevice) opens the account's keys sealed to it,
// saves them (AccountFile) and acts for the account from then on; a
// device removed from its account acts for itself again.
func (n *Node) watchAccount(ctx context.Context, every time.Duration) {
	al, ok := n.lc.(accountLedger)
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := n.checkAccount(ctx, al); err != nil && ctx.Err() == nil {
			n.log.Debug("checking the node's account", "err", err)
		}
		if err := n.checkShares(ctx); err != nil && ctx.Err() == nil {
			n.log.Debug("checking the account's shares", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) checkAccount(ctx context.Context, al accountLedger) error {
	cur := n.account()
	d, err := al.DeviceAccount(ctx, n.addr)
	switch {
	case errors.Is(err, chain.ErrNotFound):
		if !cur.Device {
			return nil
		}
		n.log.Warn("this node is no longer a device of its account: it acts for its own again", "account", cur.Address)
		if err := os.Remove(filepath.Join(n.cfg.Home, AccountFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		own, err := DeriveAccountKeys(n.key)
		if err != nil {
			return err
		}
		own.Label = cur.Label
		n.setAccount(own)
		return nil
	case err != nil:
		return err
	case cur.Device && cur.Address == d.Account:
		return nil
	}
	keys, err := capseal.Open(n.key, capseal.DeviceJob(d.Account), capseal.RoleDeviceKeys, d.Keys)
	if err != nil {
		return fmt.Errorf("the account keys on this device's record do not open: %w", err)
	}
	ak := AccountKeys{Address: d.Account, SealKey: keys.FileID, RootKey: keys.Key, Device: true, Label: d.Label}
	if err := SaveAccountKeys(n.cfg.Home, ak); err != nil {
		return err
	}
	n.setAccount(ak)
	n.log.Info("this node is now a device of account "+d.Account.String(), "label", d.Label)
	return nil
}
