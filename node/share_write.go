package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/sharing"
	"github.com/coop-network/coop/storage/namespace"
)

// Writable shares (docs/protocol.md#sharing): the recipient of a share
// with Write changes it through /shared-with-me (updateShared), which
// stores the changed tree and sets it as the share's next version; the
// owner's nodes merge that version into the owner's namespace on their
// next look (mergeWrites).

// errSpans: one change touched both shared and own paths.
var errSpans = fmt.Errorf("%w: a change cannot span %s and the account's own paths (copy with get and put)", api.ErrInvalid, SharedWithMe)

// oneEntry is a tree whose root holds e (under name).
func oneEntry(e *namespace.Entry, name string) *namespace.Tree {
	c := (&namespace.Tree{Root: &namespace.Entry{Dir: true, Children: []*namespace.Entry{e}}}).Clone()
	c.Root.Children[0].Name = name
	return c
}

func encodesEqual(a, b *namespace.Tree) (bool, error) {
	ea, err := namespace.Encode(a)
	if err != nil {
		return false, err
	}
	eb, err := namespace.Encode(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ea, eb), nil
}

// updateShared runs change on a tree of the account's received shares at
// SharedWithMe. If the change touches only shared paths, each share it
// changed is written back (writable shares; a read-only one is
// ErrForbidden) and ok is true. ok is false when the change is one of the
// account's own namespace (or fails here: the normal path reports it).
//
// When the owner published a version meanwhile (the share's
// compare-and-swap fails), the change is made again on that version, up
// to maxShareWriteAttempts times: what the change writes wins at its
// paths, the owner's other changes stay.
func (n *Node) updateShared(ctx context.Context, change func(*namespace.Tree) error) (*api.Change, bool, error) {
	for attempt := 1; ; attempt++ {
		out, ok, err := n.updateSharedOnce(ctx, change)
		if !errors.Is(err, errShareStale) || attempt >= maxShareWriteAttempts {
			return out, ok, err
		}
		n.log.Info("a share changed while this node wrote to it; writing again on its new version", "attempt", attempt)
		// The ledger this node reads may not show the new version yet.
		select {
		case <-ctx.Done():
			return out, ok, err
		case <-time.After(time.Duration(attempt) * 300 * time.Millisecond):
		}
	}
}

// maxShareWriteAttempts bounds updateShared's compare-and-swap retries.
const maxShareWriteAttempts = 4

// errShareStale: another version of the share committed first.
var errShareStale = fmt.Errorf("%w: the share changed meanwhile (its owner published a new version): read it again and retry", api.ErrConflict)

func (n *Node) updateSharedOnce(ctx context.Context, change func(*namespace.Tree) error) (*api.Change, bool, error) {
	sl, err := n.shareLedger()
	ns := n.namespace()
	if err != nil || ns == nil {
		return nil, false, nil
	}
	recv, err := n.received(ctx, sl)
	if err != nil || len(recv) == 0 {
		return nil, false, nil
	}
	// The change runs on a tree holding only SharedWithMe: one of the
	// account's own paths fails there (or leaves SharedWithMe as it was)
	// and goes the normal way, without copying the account's tree.
	probe := n.viewOf(recv).Clone()
	if err := change(probe); err != nil {
		return nil, false, nil
	}
	// Each share as the change left it.
	type written struct {
		r     *receivedShare
		after *namespace.Tree
	}
	var changed []written
	var expect []receivedShare
	for i := range recv {
		r := &recv[i]
		if r.err != nil {
			continue
		}
		e, err := probe.Lookup(r.at)
		if err != nil {
			if _, derr := probe.Lookup(SharedWithMe); derr != nil {
				return nil, true, fmt.Errorf("%w: %s is where shares received are shown; it cannot be removed or renamed", api.ErrInvalid, SharedWithMe)
			}
			return nil, true, fmt.Errorf("%w: %s is the top of a share: it cannot be removed or renamed (coop unshare %s drops the share)", api.ErrInvalid, r.at, r.share.ID)
		}
		before, after := oneEntry(r.entry, r.entry.Name), oneEntry(e, r.entry.Name)
		same, err := encodesEqual(before, after)
		if err != nil {
			return nil, true, fmt.Errorf("%w: %w", api.ErrInvalid, err)
		}
		r2 := *r
		r2.entry = after.Root.Children[0]
		expect = append(expect, r2)
		if !same {
			changed = append(changed, written{r, after})
		}
	}
	// Nothing may change in SharedWithMe outside the shares themselves.
	got, err := probe.Subtree(SharedWithMe)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %s cannot be removed", api.ErrInvalid, SharedWithMe)
	}
	want, _ := n.viewOf(expect).Subtree(SharedWithMe)
	if same, err := encodesEqual(got, want); err != nil || !same {
		return nil, true, fmt.Errorf("%w: only inside a share can %s be written", api.ErrInvalid, SharedWithMe)
	}
	if len(changed) == 0 {
		return nil, false, nil
	}
	if err := probe.Remove(SharedWithMe, true); err != nil {
		return nil, true, err
	}
	if same, err := encodesEqual(probe, namespace.New()); err != nil || !same {
		return nil, true, errSpans
	}
	out := &api.Change{}
	for _, w := range changed {
		if !w.r.share.Write {
			return out, true, fmt.Errorf("%w: %s is shared read-only with this account", api.ErrForbidden, w.r.at)
		}
		v, err := n.writeBack(ctx, w.r, w.after)
		if err != nil {
			return out, true, err
		}
		out.Version, out.Changed = v, true
	}
	return out, true, nil
}

// writeBack stores after and sets it as received share r's next version;
// it returns that version. The tree this account stored for the version
// it replaces, if any, is removed.
func (n *Node) writeBack(ctx context.Context, r *receivedShare, after *namespace.Tree) (uint64, error) {
	inbox, err := n.inbox()
	if err != nil {
		return 0, err
	}
	s := &r.share
	key, err := sharing.OpenKey(inbox, s.Owner, s.Recipient, s.Key)
	if err != nil {
		return 0, err
	}
	tp, err := n.putTree(ctx, after)
	if err != nil {
		return 0, fmt.Errorf("storing the shared tree: %w", err)
	}
	ptr, err := sharing.Reseal(key, s.Owner, s.ID, s.Pointer, tp)
	if err != nil {
		return 0, err
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	if _, err := n.broadcast(lctx, &chain.SetShare{ShareID: s.ID, Version: s.Version + 1, Pointer: ptr}); err != nil {
		_ = nsBlobs{n}.ReleaseBlob(context.WithoutCancel(ctx), tp)
		if errors.Is(err, chain.ErrStaleVersion) {
			return 0, fmt.Errorf("%w: %w", errShareStale, err)
		}
		return 0, err
	}
	if old, err := sharing.Open(key, s.Owner, s.ID, s.Pointer); err == nil {
		_ = nsBlobs{n}.ReleaseBlob(context.WithoutCancel(ctx), old.Tree) // ours only (else ErrNotOwner)
	}
	return s.Version + 1, nil
}

// isAccountKey reports whether key is account's own key or one of its
// devices.
func isAccountKey(ctx context.Context, al accountLedger, account, key chain.Address) bool {
	if key == account {
		return true
	}
	d, err := al.DeviceAccount(ctx, key)
	return err == nil && d.Account == account
}

// mergeWrites merges into the account's namespace each writable share's
// version that its recipient wrote (signed by a key not the account's):
// namespace.Merge with the share's tree the winner, the owner's subtree at
// the shared path the loser, and as base the version the recipient wrote
// on (baseOf), so owner changes not yet published (its publish lost the
// race to the recipient's) are kept.
func (n *Node) mergeWrites(ctx context.Context) error {
	sl, err := n.shareLedger()
	ns := n.namespace()
	if err != nil || ns == nil {
		return nil
	}
	ak := n.account()
	given, err := sl.SharesBy(ctx, ak.Address)
	if err != nil {
		return err
	}
	var errs []error
	for i := range given {
		s := &given[i]
		if !n.pendingWrite(ctx, s) {
			continue
		}
		p := n.ownedPath(s)
		sk, _, err := n.ownKeys(s)
		if p == "" || err != nil {
			continue
		}
		ptr, err := sharing.Open(sk, s.Owner, s.ID, s.Pointer)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		theirs, err := n.getTree(ctx, ptr.Tree)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Marked merged first, so that the commit's afterCommit publishes
		// the merged tree if the owner's changes made it differ.
		n.setMerged(s.ID, s.Version)
		res, err := n.updateFrom(ctx, ^uint64(0), func(t *namespace.Tree) error {
			mine, err := sharedTree(t, p)
			if err != nil {
				return err
			}
			merged, _ := namespace.Merge(n.baseOf(s), theirs, mine, ak.Label)
			return graft(t, p, merged)
		})
		if err != nil {
			if !errors.Is(err, api.ErrNoPath) {
				n.setMerged(s.ID, 0) // try again at the next look
			} // else the shared path is gone: this version is not merged
			n.log.Warn("could not merge a recipient's change of a shared path", "path", p, "share", s.ID, "err", err)
			continue
		}
		if res.Changed {
			n.log.Info("merged a recipient's change of a shared path", "path", p, "share", s.ID, "version", s.Version)
		}
	}
	return errors.Join(errs...)
}

// pendingWrite reports whether owned share s's current version was
// written by its recipient and not yet merged by this node.
func (n *Node) pendingWrite(ctx context.Context, s *chain.Share) bool {
	al, ok := n.lc.(accountLedger)
	if !s.Write || !ok || isAccountKey(ctx, al, s.Owner, s.By) {
		return false
	}
	n.shareSt.cacheMu.Lock()
	defer n.shareSt.cacheMu.Unlock()
	return n.shareSt.merged[s.ID] != s.Version
}

// baseOf is the tree owned share s's current version was written on: the
// previous version's, if this node saw or published it. Else (another
// device published it, this node restarted, or the recipient wrote twice
// since) the base is unknown, and the empty tree stands for it: both
// sides' files are all kept (an edit of one path by both becomes a
// conflict copy) and nothing either side wrote is lost; what the recipient
// removed comes back.
func (n *Node) baseOf(s *chain.Share) *namespace.Tree {
	n.shareSt.cacheMu.Lock()
	defer n.shareSt.cacheMu.Unlock()
	if b, ok := n.shareSt.published[s.ID]; ok && b.version+1 == s.Version {
		return b.tree
	}
	return namespace.New()
}

// setMerged records that this node merged version v of share id (0:
// not merged).
func (n *Node) setMerged(id chain.Hash, v uint64) {
	n.shareSt.cacheMu.Lock()
	defer n.shareSt.cacheMu.Unlock()
	if n.shareSt.merged == nil {
		n.shareSt.merged = map[chain.Hash]uint64{}
	}
	n.shareSt.merged[id] = v
}

// graft puts the one entry of shared tree st at p in t, replacing what is
// there.
func graft(t *namespace.Tree, p string, st *namespace.Tree) error {
	if len(st.Root.Children) != 1 {
		return fmt.Errorf("a shared tree holds %d entries at its root, want 1", len(st.Root.Children))
	}
	parent, err := t.Lookup(path.Dir(p))
	if err != nil {
		return err
	}
	e := st.Clone().Root.Children[0]
	e.Name = path.Base(p)
	for i, c := range parent.Children {
		if c.Name == e.Name {
			parent.Children[i] = e
			return nil
		}
	}
	return fmt.Errorf("%w: %s", namespace.ErrNotExist, p)
}
