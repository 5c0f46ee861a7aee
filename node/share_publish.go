package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/sharing"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/namespace"
)

// Publishing shares: the shared tree stored and set as a share's next
// version, after each namespace change of the owner (afterCommit).

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

// checkOwnTree refuses a change of the account's own tree that would
// store something at SharedWithMe: that path shows the shares received
// (a write to a writable share goes through updateShared instead).
func checkOwnTree(t *namespace.Tree) error {
	if _, err := t.Lookup(SharedWithMe); err == nil {
		return fmt.Errorf("%w: %s shows the shares this account received; only inside a writable one can be written", api.ErrInvalid, SharedWithMe)
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
