package node

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/sha256"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/sharing"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/namespace"
)

// Sharing (docs/protocol.md#sharing): usernames, shares of parts of the
// account's namespace with other accounts, /shared-with-me, and the
// account's /public folder. api.ShareBackend.
var _ api.ShareBackend = (*Node)(nil)

// Paths of sharing.
const (
	// SharedWithMe is the read-only directory under which a node shows the
	// shares its account received: /shared-with-me/<owner>/<name>.
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

// publishedTree is one version of an owned share's tree.
type publishedTree struct {
	version uint64
	tree    *namespace.Tree
}

// notePublished records that version v of owned share id has tree t.
func (n *Node) notePublished(id chain.Hash, v uint64, t *namespace.Tree) {
	n.shareSt.cacheMu.Lock()
	defer n.shareSt.cacheMu.Unlock()
	if n.shareSt.published == nil || len(n.shareSt.published) >= maxShareBlobs {
		n.shareSt.published = map[chain.Hash]publishedTree{}
	}
	n.shareSt.published[id] = publishedTree{v, t}
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

// sharedTree is the tree stored for a share of p in t: a root holding one
// entry, the file or directory at p under its name.
func sharedTree(t *namespace.Tree, p string) (*namespace.Tree, error) {
	sub, err := t.Subtree(p)
	if err != nil {
		return nil, err
	}
	e, err := t.Lookup(p)
	if err != nil {
		return nil, err
	}
	if !e.Dir {
		return sub, nil
	}
	sub.Root.Name = path.Base(p)
	return &namespace.Tree{Root: &namespace.Entry{Dir: true, Children: []*namespace.Entry{sub.Root}}}, nil
}

// putTree stores t as a file of the account and returns its pointer.
func (n *Node) putTree(ctx context.Context, t *namespace.Tree) (namespace.Pointer, error) {
	b, err := namespace.Encode(t)
	if err != nil {
		return namespace.Pointer{}, err
	}
	res, err := n.put(ctx, bytes.NewReader(b), int64(len(b)), api.PutOptions{Name: shareBlobName})
	if err != nil {
		return namespace.Pointer{}, err
	}
	c, err := storage.ParseCapability(res.Capability)
	if err != nil {
		return namespace.Pointer{}, err
	}
	return namespace.Pointer{FileID: c.FileID, Key: c.Key, Size: uint64(res.Size)}, nil
}

// getTree fetches and decodes a stored shared tree (cached by file id).
func (n *Node) getTree(ctx context.Context, p namespace.Pointer) (*namespace.Tree, error) {
	n.shareSt.cacheMu.Lock()
	t, ok := n.shareSt.trees[p.FileID]
	n.shareSt.cacheMu.Unlock()
	if ok {
		return t, nil
	}
	b, err := nsBlobs{n}.GetBlob(ctx, p)
	if err != nil {
		return nil, err
	}
	if t, err = namespace.Decode(b); err != nil {
		return nil, err
	}
	if len(t.Root.Children) != 1 {
		return nil, fmt.Errorf("a shared tree holds %d entries at its root, want 1", len(t.Root.Children))
	}
	n.shareSt.cacheMu.Lock()
	if n.shareSt.trees == nil || len(n.shareSt.trees) >= maxShareBlobs {
		n.shareSt.trees = make(map[[32]byte]*namespace.Tree)
	}
	n.shareSt.trees[p.FileID] = t
	n.shareSt.cacheMu.Unlock()
	return t, nil
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

// publish stores st and sets it as share s's next version (s.Version + 1;
// 1 creates it with s.Recipient and s.Key). The tree stored for the version
// it replaces is removed.
func (n *Node) publish(ctx context.Context, s *chain.Share, seed [sharing.SeedSize]byte, p string, st *namespace.Tree) error {
	rk := n.account().RootKey
	sk, err := sharing.ShareKey(rk, seed)
	if err != nil {
		return err
	}
	pk, err := sharing.PathKey(rk)
	if err != nil {
		return err
	}
	tp, err := n.putTree(ctx, st)
	if err != nil {
		return fmt.Errorf("storing the shared tree: %w", err)
	}
	ptr, err := sharing.Seal(sk, pk, s.Owner, s.ID, sharing.Pointer{Seed: seed, Tree: tp, Path: p})
	if err != nil {
		return err
	}
	tx := &chain.SetShare{ShareID: s.ID, Version: s.Version + 1, Pointer: ptr}
	if s.Version == 0 {
		tx.Recipient, tx.Key, tx.Write = s.Recipient, s.Key, s.Write
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	if _, err := n.broadcast(lctx, tx); err != nil {
		_ = nsBlobs{n}.ReleaseBlob(context.WithoutCancel(ctx), tp)
		return err
	}
	n.notePublished(s.ID, s.Version+1, st)
	if s.Version > 0 {
		n.releaseShareTree(ctx, s, sk)
	}
	return nil
}

// releaseShareTree removes the tree an owned share's record names.
func (n *Node) releaseShareTree(ctx context.Context, s *chain.Share, sk [32]byte) {
	old, err := sharing.Open(sk, s.Owner, s.ID, s.Pointer)
	if err != nil {
		return
	}
	// A tree a writable share's recipient stored is its file, not ours.
	if err := (nsBlobs{n}).ReleaseBlob(context.WithoutCancel(ctx), old.Tree); err != nil && !errors.Is(err, ErrNotOwner) {
		n.log.Warn("could not remove a shared tree's old version", "share", s.ID, "err", err)
	}
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

// receivedShare is a share the account received, opened.
type receivedShare struct {
	share chain.Share
	entry *namespace.Entry // the shared file or directory (nil if err)
	at    string           // its path under SharedWithMe
	err   error
}

// openReceived opens a received share: its key with the account's inbox,
// its pointer with that key, and its tree.
func (n *Node) openReceived(ctx context.Context, inbox *ecdh.PrivateKey, s *chain.Share) (*namespace.Entry, error) {
	key, err := sharing.OpenKey(inbox, s.Owner, s.Recipient, s.Key)
	if err != nil {
		return nil, err
	}
	p, err := sharing.Open(key, s.Owner, s.ID, s.Pointer)
	if err != nil {
		return nil, err
	}
	t, err := n.getTree(ctx, p.Tree)
	if err != nil {
		return nil, fmt.Errorf("fetching the shared tree: %w", err)
	}
	return t.Root.Children[0], nil
}

// received lists and opens the shares the account received, each placed
// at SharedWithMe/<owner>/<name> (a second share of one name from one
// owner gets the share id's first 8 hex digits after its name).
func (n *Node) received(ctx context.Context, sl shareLedger) ([]receivedShare, error) {
	me := n.account().Address
	list, err := sl.SharesTo(ctx, me)
	if err != nil {
		return nil, err
	}
	inbox, err := n.inbox()
	if err != nil {
		return nil, err
	}
	out := make([]receivedShare, 0, len(list))
	taken := map[string]bool{}
	for _, s := range list {
		r := receivedShare{share: s}
		r.entry, r.err = n.openReceived(ctx, inbox, &s)
		if r.err == nil {
			at := path.Join(SharedWithMe, label(ctx, sl, s.Owner), r.entry.Name)
			if taken[at] {
				at += " " + s.ID.String()[:8]
			}
			taken[at] = true
			r.at = at
		}
		out = append(out, r)
	}
	return out, nil
}

// sharedView is a read-only tree holding SharedWithMe: every received
// share that opens, at its place.
func (n *Node) sharedView(ctx context.Context) (*namespace.Tree, error) {
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	recv, err := n.received(ctx, sl)
	if err != nil {
		return nil, err
	}
	return n.viewOf(recv), nil
}

// viewOf is the tree holding SharedWithMe with the received shares recv
// (their entries shared with recv, not copied).
func (n *Node) viewOf(recv []receivedShare) *namespace.Tree {
	top := &namespace.Entry{Name: path.Base(SharedWithMe), Dir: true}
	owners := map[string]*namespace.Entry{}
	for _, r := range recv {
		if r.err != nil {
			n.log.Debug("a received share does not open", "share", r.share.ID, "err", r.err)
			continue
		}
		owner := path.Base(path.Dir(r.at))
		d := owners[owner]
		if d == nil {
			d = &namespace.Entry{Name: owner, Dir: true}
			owners[owner] = d
			top.Children = append(top.Children, d)
		}
		e := *r.entry
		e.Name = path.Base(r.at)
		d.Children = append(d.Children, &e)
	}
	byName := func(a, b *namespace.Entry) int { return strings.Compare(a.Name, b.Name) }
	slices.SortFunc(top.Children, byName)
	for _, d := range top.Children {
		slices.SortFunc(d.Children, byName)
	}
	return &namespace.Tree{Root: &namespace.Entry{Dir: true, Children: []*namespace.Entry{top}}}
}

// virtualTree is the read-only tree a path outside the account's own
// namespace is read in: SharedWithMe, or an account's public folder
// (coop://NAME/...), and p as a path of that tree and as shown (prefix).
// ok is false for a path of the account's own namespace.
func (n *Node) virtualTree(ctx context.Context, p string) (t *namespace.Tree, tp string, show func(string) string, ok bool, err error) {
	if rest, isPublic := strings.CutPrefix(p, PublicPrefix); isPublic {
		who, sub, _ := strings.Cut(rest, "/")
		t, err := n.publicTree(ctx, who)
		if err != nil {
			return nil, "", nil, true, err
		}
		tp, err := namespace.CleanPath(path.Join(PublicDir, "/"+sub))
		if err != nil {
			return nil, "", nil, true, nsErr(err)
		}
		return t, tp, func(q string) string {
			return PublicPrefix + who + strings.TrimPrefix(q, PublicDir)
		}, true, nil
	}
	cp, err := namespace.CleanPath(p)
	if err != nil || (cp != SharedWithMe && !strings.HasPrefix(cp, SharedWithMe+"/")) {
		return nil, "", nil, false, nil
	}
	t, err = n.sharedView(ctx)
	return t, cp, func(q string) string { return q }, true, err
}

// publicTree is the tree of the public share of who (a username or an
// address): its root holds the account's public folder.
func (n *Node) publicTree(ctx context.Context, who string) (*namespace.Tree, error) {
	sl, err := n.shareLedger()
	if err != nil {
		return nil, err
	}
	a, err := n.resolve(ctx, sl, who)
	if err != nil {
		return nil, err
	}
	pubs, err := sl.PublicShares(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(pubs) == 0 {
		return nil, fmt.Errorf("%w: %s publishes no public folder", api.ErrNoPath, who)
	}
	s := slices.MaxFunc(pubs, func(x, y chain.Share) int { return int(x.CreatedHeight - y.CreatedHeight) })
	p, err := sharing.Open([32]byte(s.Key), s.Owner, s.ID, s.Pointer)
	if err != nil {
		return nil, fmt.Errorf("the public share of %s does not open: %w", who, err)
	}
	t, err := n.getTree(ctx, p.Tree)
	if err != nil {
		return nil, fmt.Errorf("fetching the public folder of %s: %w", who, err)
	}
	if t.Root.Children[0].Name != path.Base(PublicDir) || !t.Root.Children[0].Dir {
		return nil, fmt.Errorf("the public share of %s is not a folder named %s", who, path.Base(PublicDir))
	}
	return t, nil
}

// statShared is Stat of a path outside the account's own namespace
// (virtualTree); ok is false for others.
func (n *Node) statShared(ctx context.Context, p string, version uint64) (*api.Entry, bool, error) {
	t, tp, show, ok, err := n.virtualTree(ctx, p)
	if !ok || err != nil {
		return nil, ok, err
	}
	if version != 0 {
		return nil, true, fmt.Errorf("%w: shared paths have no versions", api.ErrInvalid)
	}
	e, err := t.Lookup(tp)
	if err != nil {
		return nil, true, nsErr(err)
	}
	out := entryOf(show(tp), e)
	return &out, true, nil
}

// listShared is List of a directory outside the account's own namespace
// (virtualTree); ok is false for others.
func (n *Node) listShared(ctx context.Context, p string, version uint64) (*api.Listing, bool, error) {
	t, tp, show, ok, err := n.virtualTree(ctx, p)
	if !ok || err != nil {
		return nil, ok, err
	}
	if version != 0 {
		return nil, true, fmt.Errorf("%w: shared paths have no versions", api.ErrInvalid)
	}
	es, err := t.List(tp)
	if err != nil {
		return nil, true, nsErr(err)
	}
	out := &api.Listing{Entries: make([]api.Entry, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, entryOf(show(path.Join(tp, e.Name)), e))
	}
	return out, true, nil
}

// checkOwnTree refuses a namespace change that writes under SharedWithMe
// (it is read-only: writable shares are not yet built).
func checkOwnTree(t *namespace.Tree) error {
	if _, err := t.Lookup(SharedWithMe); err == nil {
		return fmt.Errorf("%w: %s is read-only (shares received; writing to them is not yet built)", api.ErrInvalid, SharedWithMe)
	}
	return nil
}

// afterCommit brings the account's shares up to date with a committed
// tree t: each share whose shared path changed is published again, and
// the public folder is published as the account's public share (created
// when /public first appears, withdrawn when it goes). Failures are
// logged: the namespace change itself stands.
func (n *Node) afterCommit(ctx context.Context, t *namespace.Tree) {
	if err := n.syncShares(ctx, t); err != nil && ctx.Err() == nil {
		n.log.Warn("could not bring the account's shares up to date", "err", err)
	}
}

func (n *Node) syncShares(ctx context.Context, t *namespace.Tree) error {
	sl, err := n.shareLedger()
	if err != nil {
		return nil
	}
	n.shareSt.mu.Lock()
	defer n.shareSt.mu.Unlock()
	owner := n.account().Address
	given, err := sl.SharesBy(ctx, owner)
	if err != nil {
		return err
	}
	var errs []error
	hasPublic := false
	for i := range given {
		s := &given[i]
		p := n.ownedPath(s)
		if p == "" {
			continue
		}
		if s.Public() && p == PublicDir {
			hasPublic = true
		}
		if n.pendingWrite(ctx, s) {
			// The recipient's version is merged first (mergeWrites), then
			// published with the owner's changes.
			continue
		}
		sk, _, err := n.ownKeys(s)
		if err != nil {
			continue
		}
		st, err := sharedTree(t, p)
		if errors.Is(err, namespace.ErrNotExist) {
			if s.Public() && p == PublicDir {
				lctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
				_, err := n.broadcast(lctx, &chain.Unshare{ShareID: s.ID})
				cancel()
				if err == nil {
					n.releaseShareTree(ctx, s, sk)
				}
				errs = append(errs, err)
			}
			// A private share of a path that is gone keeps its last
			// version until it is unshared.
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		same, err := n.sameShared(ctx, s, sk, st)
		if err != nil || same {
			errs = append(errs, err)
			continue
		}
		seed, _ := sharing.SeedOf(s.Pointer)
		errs = append(errs, n.publish(ctx, s, seed, p, st))
	}
	if !hasPublic {
		if st, err := sharedTree(t, PublicDir); err == nil && st.Root.Children[0].Dir {
			seed := sharing.NewSeed()
			key, err := sharing.ShareKey(n.account().RootKey, seed)
			if err != nil {
				return err
			}
			s := chain.Share{ID: chain.ShareIDOf(owner, key[:]), Owner: owner, Key: key[:]}
			errs = append(errs, n.publish(ctx, &s, seed, PublicDir, st))
		}
	}
	return errors.Join(errs...)
}

// sameShared reports whether st is what share s publishes now.
func (n *Node) sameShared(ctx context.Context, s *chain.Share, sk [32]byte, st *namespace.Tree) (bool, error) {
	p, err := sharing.Open(sk, s.Owner, s.ID, s.Pointer)
	if err != nil {
		return false, nil
	}
	cur, err := n.getTree(ctx, p.Tree)
	if err != nil {
		return false, nil
	}
	n.notePublished(s.ID, s.Version, cur)
	a, err := namespace.Encode(cur)
	if err != nil {
		return false, nil
	}
	b, err := namespace.Encode(st)
	if err != nil {
		return false, err
	}
	return sha256.Sum256(a) == sha256.Sum256(b), nil
}
