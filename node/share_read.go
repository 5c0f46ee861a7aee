package node

import (
	"context"
	"crypto/ecdh"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/sharing"
	"github.com/coop-network/coop/storage/namespace"
)

// Reading shares: the received ones under SharedWithMe, on every device
// of the recipient, and an account's public folder by its name.

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
