package node

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/sharing"
	"github.com/coop-network/coop/storage/namespace"
)

// Sharing (docs/protocol.md#sharing): usernames, shares of parts of the
// account's namespace with other accounts, /shared-with-me, and the
// account's /public folder. api.ShareBackend.
var _ api.ShareBackend = (*Node)(nil)

// Paths of sharing.
const (
	// SharedWithMe is the directory under which a node shows the
	// shares its account received: /shared-with-me/<owner>/<name> (only
	// writable ones can be written to, share_write.go).
	SharedWithMe = "/shared-with-me"
	// PublicDir is the directory an account publishes as its public share.
	PublicDir = "/public"
	// PublicPrefix starts a path of another account's public folder:
	// coop://NAME/path (NAME a username or an address).
	PublicPrefix = "coop://"
	// shareBlobName is a stored shared tree's name in the node's file list.
	shareBlobName = ".coop-share"
	// maxShareBlobs bounds the cache of fetched shared trees.
	maxShareBlobs = 256
)

// shareLedger is the part of the ledger client sharing reads
// (*ledger.Client).
type shareLedger interface {
	Inbox(ctx context.Context, account chain.Address) (chain.Inbox, error)
	NameOwner(ctx context.Context, name string) (chain.NameRecord, error)
	AccountName(ctx context.Context, account chain.Address) (chain.NameRecord, error)
	Share(ctx context.Context, id chain.Hash) (chain.Share, error)
	SharesTo(ctx context.Context, account chain.Address) ([]chain.Share, error)
	SharesBy(ctx context.Context, account chain.Address) ([]chain.Share, error)
	PublicShares(ctx context.Context, account chain.Address) ([]chain.Share, error)
}

var _ shareLedger = (*ledger.Client)(nil)

// shareState is the node's sharing state: the account whose inbox key it
// published, the shared trees it fetched (by file id: immutable), and the
// lock that serialises its updates of shares.
type shareState struct {
	mu      sync.Mutex // one share update at a time
	cacheMu sync.Mutex
	inboxOf chain.Address
	trees   map[[32]byte]*namespace.Tree
	// merged is the version of each writable share whose recipient's
	// change this node merged into the account's namespace.
	merged map[chain.Hash]uint64
	// published is, for each owned share, the last version this node saw
	// or set and its tree: the base a recipient's next version was
	// written on (mergeWrites).
	published map[chain.Hash]publishedTree
}

func (n *Node) shareLedger() (shareLedger, error) {
	sl, ok := n.lc.(shareLedger)
	if !ok {
		return nil, fmt.Errorf("%w: this node's ledger has no shares", api.ErrNotFound)
	}
	return sl, nil
}

// inbox is the account's inbox key pair.
func (n *Node) inbox() (*ecdh.PrivateKey, error) { return sharing.InboxKey(n.account().RootKey) }

// checkShares is the account watch's look at sharing: the inbox key
// published (checkInbox), recipients' writes merged (mergeWrites).
func (n *Node) checkShares(ctx context.Context) error {
	return errors.Join(n.checkInbox(ctx), n.mergeWrites(ctx))
}

// checkInbox publishes the account's inbox key (chain.SetInbox) if the
// ledger does not have it, once per account the node acts for.
func (n *Node) checkInbox(ctx context.Context) error {
	sl, err := n.shareLedger()
	if err != nil {
		return nil
	}
	ak := n.account()
	n.shareSt.cacheMu.Lock()
	done := n.shareSt.inboxOf == ak.Address
	n.shareSt.cacheMu.Unlock()
	if done {
		return nil
	}
	priv, err := n.inbox()
	if err != nil {
		return err
	}
	pub := priv.PublicKey().Bytes()
	cur, err := sl.Inbox(ctx, ak.Address)
	switch {
	case errors.Is(err, chain.ErrNotFound):
	case err != nil:
		return err
	case bytes.Equal(cur.Key, pub):
		n.shareSt.cacheMu.Lock()
		n.shareSt.inboxOf = ak.Address
		n.shareSt.cacheMu.Unlock()
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	if _, err := n.broadcast(ctx, &chain.SetInbox{Key: pub}); err != nil && !errors.Is(err, chain.ErrExists) {
		return fmt.Errorf("publishing the account's inbox key: %w", err)
	}
	n.log.Info("published the account's inbox key", "account", ak.Address)
	return nil
}

// resolve turns a username or an address into an account. The address of
// a device is taken as its account's (a device keeps no namespace of its
// own while it acts for one).
func (n *Node) resolve(ctx context.Context, sl shareLedger, who string) (chain.Address, error) {
	who = strings.TrimSpace(who)
	if a, err := chain.ParseAddress(who); err == nil {
		if al, ok := n.lc.(accountLedger); ok {
			if d, err := al.DeviceAccount(ctx, a); err == nil {
				return d.Account, nil
			}
		}
		return a, nil
	}
	if err := chain.CheckName(who); err != nil {
		return chain.Address{}, fmt.Errorf("%w: %q is neither an address (40 hex digits) nor a username: %w", api.ErrInvalid, who, err)
	}
	r, err := sl.NameOwner(ctx, who)
	if errors.Is(err, chain.ErrNotFound) {
		return chain.Address{}, fmt.Errorf("%w: no account has the name %q", api.ErrNotFound, who)
	}
	return r.Account, err
}

// label is how an account is shown: its username, else its address.
func label(ctx context.Context, sl shareLedger, a chain.Address) string {
	if r, err := sl.AccountName(ctx, a); err == nil {
		return r.Name
	}
	return a.String()
}

// RegisterName registers name for the node's account. Only the account's
// own key registers names: a device is refused (ErrNotOwner).
func (n *Node) RegisterName(ctx context.Context, name string) (*api.NameInfo, error) {
	if ak := n.account(); ak.Device {
		return nil, fmt.Errorf("%w: this node is a device of account %s; register names on the node that has the account key", ErrNotOwner, ak.Address)
	}
	if err := chain.CheckName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	res, err := n.broadcast(ctx, &chain.RegisterName{Name: name})
	if err != nil {
		return nil, err
	}
	return &api.NameInfo{Name: name, Account: n.addr.String(), Height: res.Height}, nil
}

// ReleaseName gives up the account's name (the account key only).
func (n *Node) ReleaseName(ctx context.Context) error {
	if ak := n.account(); ak.Device {
		return fmt.Errorf("%w: this node is a device of account %s; release the name on the node that has the account key", ErrNotOwner, ak.Address)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	_, err := n.broadcast(ctx, &chain.ReleaseName{})
	return err
}

// LookupName resolves who, a username or an address; empty is the node's
// account.
func (n *Node) LookupName(ctx context.Context, who string) (*api.NameInfo, error) {
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	a := n.account().Address
	if who != "" {
		if a, err = n.resolve(ctx, sl, who); err != nil {
			return nil, err
		}
	}
	out := &api.NameInfo{Account: a.String()}
	r, err := sl.AccountName(ctx, a)
	if err == nil {
		out.Name, out.Height = r.Name, r.Height
	} else if !errors.Is(err, chain.ErrNotFound) {
		return nil, err
	}
	return out, nil
}

// ownKeys are the share key and path key of an owned share, from the
// account's root key and the share's seed.
func (n *Node) ownKeys(s *chain.Share) (shareKey, pathKey [32]byte, err error) {
	seed, err := sharing.SeedOf(s.Pointer)
	if err != nil {
		return shareKey, pathKey, err
	}
	rk := n.account().RootKey
	if shareKey, err = sharing.ShareKey(rk, seed); err != nil {
		return
	}
	pathKey, err = sharing.PathKey(rk)
	return
}

// ownedPath is the shared path of an owned share ("" if it does not open).
func (n *Node) ownedPath(s *chain.Share) string {
	_, pk, err := n.ownKeys(s)
	if err != nil {
		return ""
	}
	p, err := sharing.OpenPath(pk, s.Owner, s.Pointer)
	if err != nil {
		return ""
	}
	return p
}

// Share shares the file or directory at p with to (a username or an
// address): its tree is stored, the share key sealed to the recipient's
// inbox key, and a SetShare records both. The recipient reads the files
// as they are now and as they change (each change under p publishes a
// new version), until Unshare.
func (n *Node) Share(ctx context.Context, p, to string, write bool) (*api.ShareInfo, error) {
	// write: the recipient may change the share (share_write.go).
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	p, err = namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	if p == "/" || p == SharedWithMe || strings.HasPrefix(p, SharedWithMe+"/") {
		return nil, fmt.Errorf("%w: %s cannot be shared (share a directory or file of your own)", api.ErrInvalid, p)
	}
	if len(p) > sharing.MaxPathBytes {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, sharing.ErrPathTooLong)
	}
	owner := n.account().Address
	recipient, err := n.resolve(ctx, sl, to)
	if err != nil {
		return nil, err
	}
	if recipient == owner {
		return nil, fmt.Errorf("%w: %s is this account", api.ErrInvalid, to)
	}
	inbox, err := sl.Inbox(ctx, recipient)
	if errors.Is(err, chain.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no inbox key on the ledger yet (its node publishes one when it runs)", api.ErrNotFound, to)
	} else if err != nil {
		return nil, err
	}
	n.shareSt.mu.Lock()
	defer n.shareSt.mu.Unlock()
	given, err := sl.SharesBy(ctx, owner)
	if err != nil {
		return nil, err
	}
	for i := range given {
		if s := &given[i]; s.Recipient == recipient && n.ownedPath(s) == p {
			return nil, fmt.Errorf("%w: %s is already shared with %s (share %s)", api.ErrConflict, p, to, s.ID)
		}
	}
	cur, _, err := n.treeAt(ctx, 0)
	if err != nil {
		return nil, err
	}
	st, err := sharedTree(cur, p)
	if err != nil {
		return nil, nsErr(err)
	}
	seed := sharing.NewSeed()
	key, err := sharing.ShareKey(n.account().RootKey, seed)
	if err != nil {
		return nil, err
	}
	sealed, err := sharing.SealKey(inbox.Key, owner, recipient, key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	s := chain.Share{ID: chain.ShareIDOf(owner, sealed), Owner: owner, Recipient: recipient, Key: sealed, Write: write}
	if err := n.publish(ctx, &s, seed, p, st); err != nil {
		return nil, err
	}
	s.Version = 1
	info := n.shareInfo(ctx, sl, &s)
	info.Path = p
	return &info, nil
}

// Unshare removes shares: target is a share id (given or received: the
// recipient drops a share), or a shared path (every share of it given, or
// with user only the one to that username or address). Unsharing stops
// what the owner changes later from reaching the recipient; what the
// recipient already read (and the capabilities of the files it saw) it
// keeps.
func (n *Node) Unshare(ctx context.Context, target, user string) ([]api.ShareInfo, error) {
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	me := n.account().Address
	var todo []chain.Share
	if id, err := chain.ParseHash(target); err == nil && len(target) == 64 {
		s, err := sl.Share(ctx, id)
		if errors.Is(err, chain.ErrNotFound) {
			return nil, fmt.Errorf("%w: no share %s", api.ErrNotFound, id)
		} else if err != nil {
			return nil, err
		}
		if s.Owner != me && s.Recipient != me {
			return nil, fmt.Errorf("%w: share %s is neither this account's nor shared with it", api.ErrForbidden, id)
		}
		todo = append(todo, s)
	} else {
		p, err := namespace.CleanPath(target)
		if err != nil {
			return nil, fmt.Errorf("%w: %q is neither a share id (64 hex digits) nor a path: %w", api.ErrInvalid, target, err)
		}
		var to chain.Address
		if user != "" {
			if to, err = n.resolve(ctx, sl, user); err != nil {
				return nil, err
			}
		}
		given, err := sl.SharesBy(ctx, me)
		if err != nil {
			return nil, err
		}
		for i := range given {
			if s := &given[i]; n.ownedPath(s) == p && (user == "" || s.Recipient == to) {
				todo = append(todo, *s)
			}
		}
		if len(todo) == 0 {
			return nil, fmt.Errorf("%w: %s is not shared%s", api.ErrNotFound, p, map[bool]string{true: " with " + user}[user != ""])
		}
	}
	for i := range todo {
		if s := &todo[i]; s.Public() && s.Owner == me && n.ownedPath(s) == PublicDir {
			return nil, fmt.Errorf("%w: %s is published while it exists: remove or rename it to stop (coop rm -r %s)", api.ErrInvalid, PublicDir, PublicDir)
		}
	}
	n.shareSt.mu.Lock()
	defer n.shareSt.mu.Unlock()
	out := make([]api.ShareInfo, 0, len(todo))
	for i := range todo {
		s := &todo[i]
		lctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
		_, err := n.broadcast(lctx, &chain.Unshare{ShareID: s.ID})
		cancel()
		if err != nil {
			return out, err
		}
		if s.Owner == me {
			if sk, _, err := n.ownKeys(s); err == nil {
				n.releaseShareTree(ctx, s, sk)
			}
		}
		out = append(out, n.shareInfo(ctx, sl, s))
	}
	return out, nil
}

// shareInfo describes s for the API.
func (n *Node) shareInfo(ctx context.Context, sl shareLedger, s *chain.Share) api.ShareInfo {
	out := api.ShareInfo{ID: s.ID.String(), Owner: s.Owner.String(), OwnerName: nameOrEmpty(ctx, sl, s.Owner),
		Public: s.Public(), Write: s.Write, Version: s.Version, Height: s.Height}
	if !s.Public() {
		out.Recipient, out.RecipientName = s.Recipient.String(), nameOrEmpty(ctx, sl, s.Recipient)
	}
	return out
}

func nameOrEmpty(ctx context.Context, sl shareLedger, a chain.Address) string {
	if r, err := sl.AccountName(ctx, a); err == nil {
		return r.Name
	}
	return ""
}

// Shares lists the shares the account gave (with their paths) and
// received (with where they are under /shared-with-me, or why they do not
// open).
func (n *Node) Shares(ctx context.Context) (*api.Shares, error) {
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	me := n.account().Address
	given, err := sl.SharesBy(ctx, me)
	if err != nil {
		return nil, err
	}
	out := &api.Shares{Account: me.String(), Given: []api.ShareInfo{}, Received: []api.ShareInfo{}}
	for i := range given {
		info := n.shareInfo(ctx, sl, &given[i])
		info.Path = n.ownedPath(&given[i])
		out.Given = append(out.Given, info)
	}
	recv, err := n.received(ctx, sl)
	if err != nil {
		return nil, err
	}
	for _, r := range recv {
		info := n.shareInfo(ctx, sl, &r.share)
		info.At = r.at
		if r.entry != nil {
			info.Name = r.entry.Name
		}
		if r.err != nil {
			info.Error = r.err.Error()
		}
		out.Received = append(out.Received, info)
	}
	return out, nil
}
