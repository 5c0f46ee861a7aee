package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/tree"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/namespace"
)

// The account's namespace (node/tree keeps it in step with the ledger): the
// API's path calls, api.NamespaceBackend.
var _ api.NamespaceBackend = (*Node)(nil)

// treeBlobName is the name a stored tree has in the node's own file list.
const treeBlobName = ".coop-namespace"

// nsErr turns a namespace error into the API's kind of it.
func nsErr(err error) error {
	for _, m := range []struct{ from, to error }{
		{namespace.ErrNotExist, api.ErrNoPath},
		{namespace.ErrExist, api.ErrExist},
		{namespace.ErrNotDir, api.ErrNotDir},
		{namespace.ErrIsDir, api.ErrIsDir},
		{namespace.ErrNotEmpty, api.ErrNotEmpty},
		{namespace.ErrBadPath, api.ErrInvalid},
	} {
		if errors.Is(err, m.from) {
			return fmt.Errorf("%w: %w", m.to, err)
		}
	}
	return err
}

// treeAt is the tree of version (0: the current one) and its version.
func (n *Node) treeAt(ctx context.Context, version uint64) (*namespace.Tree, uint64, error) {
	ns := n.namespace()
	if ns == nil {
		return nil, 0, fmt.Errorf("%w: this node keeps no namespace", api.ErrNotFound)
	}
	if version == 0 {
		return ns.Current(ctx)
	}
	t, err := ns.At(ctx, version)
	if errors.Is(err, tree.ErrNoVersion) {
		err = fmt.Errorf("%w: %w", api.ErrNotFound, err)
	}
	return t, version, err
}

func entryOf(p string, e *namespace.Entry) api.Entry {
	out := api.Entry{Path: p, Name: e.Name, Dir: e.Dir, MTime: time.Unix(0, e.MTime).UTC()}
	if p == "/" {
		out.Name = "/"
	}
	if e.Dir {
		out.Redundancy = redundancyOut(e.Redundancy)
		return out
	}
	f := e.File
	out.Size, out.Mode, out.FileID = f.Size, f.Mode, blockstore.ID(f.FileID).String()
	if f.Parts == nil {
		out.Capability = capabilityOf(f.FileID, f.Key)
	} else {
		out.Parts = make([]api.Part, len(f.Parts))
		for i, p := range f.Parts {
			out.Parts[i] = api.Part{Capability: capabilityOf(p.FileID, p.Key), Size: p.Size}
		}
	}
	out.MTime = time.Unix(0, f.MTime).UTC()
	out.Redundancy = redundancyOut(f.Redundancy)
	return out
}

func redundancyOut(r namespace.Redundancy) api.Redundancy {
	return api.Redundancy{K: int(r.K), M: int(r.M), Copies: int(r.Copies)}
}

// Stat is the entry at p in version (0: the current one).
func (n *Node) Stat(ctx context.Context, p string, version uint64) (*api.Entry, error) {
	if e, ok, err := n.statShared(ctx, p, version); ok {
		return e, err
	}
	p, err := namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	t, _, err := n.treeAt(ctx, version)
	if err != nil {
		return nil, err
	}
	e, err := t.Lookup(p)
	if err != nil {
		return nil, nsErr(err)
	}
	out := entryOf(p, e)
	return &out, nil
}

// List is the directory at p in version (0: the current one).
func (n *Node) List(ctx context.Context, p string, version uint64) (*api.Listing, error) {
	if l, ok, err := n.listShared(ctx, p, version); ok {
		return l, err
	}
	p, err := namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	t, v, err := n.treeAt(ctx, version)
	if err != nil {
		return nil, err
	}
	es, err := t.List(p)
	if err != nil {
		return nil, nsErr(err)
	}
	out := &api.Listing{Version: v, Entries: make([]api.Entry, 0, len(es))}
	for _, e := range es {
		out.Entries = append(out.Entries, entryOf(path.Join(p, e.Name), e))
	}
	return out, nil
}

// update runs change through the namespace service and describes the
// result for the API.
func (n *Node) update(ctx context.Context, change func(*namespace.Tree) error) (*api.Change, error) {
	return n.updateFrom(ctx, tree.Latest, change)
}

// updateFrom is update of a change made on version from (tree.UpdateFrom).
func (n *Node) updateFrom(ctx context.Context, from uint64, change func(*namespace.Tree) error) (*api.Change, error) {
	ns := n.namespace()
	if ns == nil {
		return nil, fmt.Errorf("%w: this node keeps no namespace", api.ErrNotFound)
	}
	if out, ok, err := n.updateShared(ctx, change); ok {
		return out, err
	}
	res, err := ns.UpdateFrom(ctx, from, func(t *namespace.Tree) error {
		if err := change(t); err != nil {
			return err
		}
		return checkOwnTree(t)
	})
	if err != nil {
		return nil, nsErr(err)
	}
	if res.Changed {
		n.afterCommit(ctx, res.Tree)
	}
	out := &api.Change{Version: res.Version, Changed: res.Changed}
	for _, c := range res.Conflicts {
		out.Conflicts = append(out.Conflicts, api.Conflict{Path: c.Path, CopyPath: c.CopyPath, Kind: c.Kind})
	}
	return out, nil
}

// PutPath stores r as the file at p: with opts' redundancy, else the one
// p's directory sets, else the node's default. The file is stored first,
// then the namespace change commits; if that fails the stored file is
// removed again.
func (n *Node) PutPath(ctx context.Context, r io.Reader, size int64, p string, opts api.PathPutOptions) (*api.Change, error) {
	p, err := namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	if p == "/" {
		return nil, fmt.Errorf("%w: cannot put a file at /", api.ErrIsDir)
	}
	cur, from, err := n.treeAt(ctx, 0)
	if err != nil {
		return nil, err
	}
	if testHookPutPathRead != nil {
		testHookPutPathRead(p)
	}
	var old *namespace.File // what p holds now: a parted file's unchanged parts are kept
	if e, err := cur.Lookup(p); err == nil && e.Dir {
		return nil, fmt.Errorf("%w: %s", api.ErrIsDir, p)
	} else if err == nil {
		old = &e.File
	}
	po := opts.PutOptions
	if po.K == 0 && po.M == 0 && po.Copies == 0 {
		r := cur.Redundancy(p)
		po.K, po.M, po.Copies = int(r.K), int(r.M), int(r.Copies)
	}
	if po.Name == "" {
		po.Name = path.Base(p)
	}
	// A file larger than one part is stored in parts, storing only those
	// that differ from the parts of the file p holds now.
	st, err := n.storeFile(ctx, r, size, po, old)
	if err != nil {
		return nil, err
	}
	mtime := opts.MTime
	if mtime.IsZero() {
		mtime = time.Now()
	}
	f := st.file
	f.MTime, f.Mode = mtime.UnixNano(), 0o644
	if err := n.checkReused(ctx, st, from); err != nil {
		n.removeStored(ctx, st)
		return nil, err
	}
	// The change is made on the tree this put started from: another
	// device's edit of p meanwhile is kept, and this one becomes a conflict
	// copy.
	out, err := n.updateFrom(ctx, from, func(t *namespace.Tree) error {
		_, err := t.PutFile(p, f, opts.Parents)
		return err
	})
	if err != nil {
		n.removeStored(ctx, st)
		return nil, err
	}
	out.Put = st.res
	e := entryOf(p, &namespace.Entry{Name: path.Base(p), File: f})
	out.Entry = &e
	return out, nil
}

// Mkdir makes the directory p (and its parents if parents).
func (n *Node) Mkdir(ctx context.Context, p string, parents bool) (*api.Change, error) {
	return n.update(ctx, func(t *namespace.Tree) error { return t.Mkdir(p, parents) })
}

// Move renames from to to in one namespace change. With replace, a file
// at to is replaced and an empty directory at to by a directory, as
// rename(2) does (a file over a directory, a directory over a file or over
// a non-empty directory are errors); without, anything at to is.
func (n *Node) Move(ctx context.Context, from, to string, replace bool) (*api.Change, error) {
	return n.update(ctx, func(t *namespace.Tree) error {
		if replace {
			src, err := t.Lookup(from)
			if err != nil {
				return err
			}
			if dst, err := t.Lookup(to); err == nil {
				switch {
				case src == dst:
					return nil
				case !src.Dir && dst.Dir:
					return fmt.Errorf("%w: %s", namespace.ErrIsDir, to)
				case src.Dir && !dst.Dir:
					return fmt.Errorf("%w: %s", namespace.ErrNotDir, to)
				}
				if err := t.Remove(to, false); err != nil {
					return err
				}
			}
		}
		return t.Move(from, to)
	})
}

// RemovePath removes p from the namespace. The file's pieces stay while a
// kept version refers to it (coop restore can bring it back).
func (n *Node) RemovePath(ctx context.Context, p string, recursive bool) (*api.Change, error) {
	return n.update(ctx, func(t *namespace.Tree) error { return t.Remove(p, recursive) })
}

// SetRedundancy sets p's redundancy (a directory's for what is put under
// it, or a file's), then stores each file under p whose redundancy differs
// again with the new one and points its path at the new copy.
func (n *Node) SetRedundancy(ctx context.Context, p string, r api.Redundancy) (*api.Change, error) {
	if r.Copies > 0 && (r.K > 0 || r.M > 0) {
		return nil, fmt.Errorf("%w: give either copies or k and m, not both", api.ErrInvalid)
	}
	want := namespace.Redundancy{K: uint32(r.K), M: uint32(r.M), Copies: uint32(r.Copies)}
	cp, err := namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	if err := want.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", api.ErrInvalid, err)
	}
	cur, _, err := n.treeAt(ctx, 0)
	if err != nil {
		return nil, err
	}
	target, err := cur.Lookup(cp)
	if err != nil {
		return nil, nsErr(err)
	}
	type job struct {
		path string
		f    namespace.File
		r    namespace.Redundancy
	}
	var jobs []job
	out := &api.Change{}
	if !target.Dir {
		// A file keeps the redundancy it was stored with: store it again.
		if target.File.Redundancy != want {
			jobs = append(jobs, job{cp, target.File, want})
		}
	} else {
		if out, err = n.update(ctx, func(t *namespace.Tree) error { return t.SetRedundancy(cp, want) }); err != nil {
			return nil, err
		}
		if cur, _, err = n.treeAt(ctx, 0); err != nil {
			return nil, err
		}
		err = cur.Walk(func(q string, e *namespace.Entry) error {
			if !e.Dir && (cp == "/" || strings.HasPrefix(q, cp+"/")) {
				if eff := cur.Redundancy(q); !eff.IsZero() && e.File.Redundancy != eff {
					jobs = append(jobs, job{q, e.File, eff})
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, j := range jobs {
		eff := j.r
		rc, size, err := n.openFile(ctx, &j.f, 0, -1)
		if err != nil {
			return out, fmt.Errorf("reading %s to store it again: %w", j.path, err)
		}
		st, err := n.storeFile(ctx, rc, size, api.PutOptions{K: int(eff.K), M: int(eff.M), Copies: int(eff.Copies), Name: path.Base(j.path)}, nil)
		rc.Close()
		if err != nil {
			return out, fmt.Errorf("storing %s again: %w", j.path, err)
		}
		nf := st.file
		nf.MTime, nf.Mode = j.f.MTime, j.f.Mode
		ch, err := n.update(ctx, func(t *namespace.Tree) error {
			e, err := t.Lookup(j.path)
			if err != nil || e.Dir || e.File.FileID != j.f.FileID {
				return errChangedMeanwhile
			}
			_, err = t.PutFile(j.path, nf, false)
			return err
		})
		if errors.Is(err, errChangedMeanwhile) {
			n.removeStored(ctx, st)
			continue
		}
		if err != nil {
			n.removeStored(ctx, st)
			return out, err
		}
		out.Version, out.Changed = ch.Version, true
		out.Conflicts = append(out.Conflicts, ch.Conflicts...)
		out.Replaced++
	}
	return out, nil
}

// askedRedundancy is the redundancy a put asked for (what the namespace
// records: a file stored lower on a small network is raised to it by the
// repairer as nodes join).
func askedRedundancy(res *api.PutResult) namespace.Redundancy {
	k, m := res.K, res.M
	if res.AskedK > 0 {
		k, m = res.AskedK, res.AskedM
	}
	if k == 1 {
		return namespace.Redundancy{Copies: uint32(m + 1)}
	}
	return namespace.Redundancy{K: uint32(k), M: uint32(m)}
}

// testHookPutPathRead, when set by tests, runs once a put at a path has
// read the tree it will change (before it stores the file).
var testHookPutPathRead func(path string)

// errChangedMeanwhile: a path changed while its file was stored again.
var errChangedMeanwhile = errors.New("the path changed meanwhile")

// Log is the kept namespace versions, newest first.
func (n *Node) Log(ctx context.Context) ([]api.Version, error) {
	ns := n.namespace()
	if ns == nil {
		return nil, fmt.Errorf("%w: this node keeps no namespace", api.ErrNotFound)
	}
	roots, err := ns.Log(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.Version, 0, len(roots))
	for _, r := range roots {
		out = append(out, api.Version{Version: r.Version, Height: r.Height, By: r.By})
	}
	return out, nil
}

// Restore puts what was at p in version back at to (p if empty), replacing
// what is there now.
func (n *Node) Restore(ctx context.Context, p string, version uint64, to string) (*api.Change, error) {
	if version == 0 {
		return nil, fmt.Errorf("%w: restore needs a version (see coop log)", api.ErrInvalid)
	}
	old, _, err := n.treeAt(ctx, version)
	if err != nil {
		return nil, err
	}
	p, err = namespace.CleanPath(p)
	if err != nil {
		return nil, nsErr(err)
	}
	if to == "" {
		to = p
	}
	if to, err = namespace.CleanPath(to); err != nil {
		return nil, nsErr(err)
	}
	sub, err := old.Subtree(p)
	if err != nil {
		return nil, nsErr(fmt.Errorf("in version %d: %w", version, err))
	}
	src, err := old.Lookup(p)
	if err != nil {
		return nil, nsErr(err)
	}
	return n.update(ctx, func(t *namespace.Tree) error {
		if e, err := t.Lookup(to); err == nil {
			if e.Dir != src.Dir && to != "/" {
				return fmt.Errorf("%w: %s is a %s now", namespace.ErrExist, to, kindName(e.Dir))
			}
			if !src.Dir {
				_ = t.Remove(to, false)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if !src.Dir {
			_, err := t.PutFile(to, src.File, true)
			return err
		}
		// A directory: its files and directories as they were, merged over
		// what is there now (a file there now is replaced).
		if err := t.Mkdir(to, true); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return sub.Walk(func(q string, e *namespace.Entry) error {
			dst := path.Join(to, q)
			if q == "/" {
				return nil
			}
			if e.Dir {
				if err := t.Mkdir(dst, true); err != nil && !errors.Is(err, fs.ErrExist) {
					return err
				}
				return nil
			}
			if cur, err := t.Lookup(dst); err == nil && cur.Dir {
				return fmt.Errorf("%w: %s is a directory now", namespace.ErrExist, dst)
			}
			_, err := t.PutFile(dst, e.File, true)
			return err
		})
	})
}

func kindName(dir bool) string {
	if dir {
		return "directory"
	}
	return "file"
}

// nsBlobs stores the trees of the node's account as its own files.
type nsBlobs struct{ n *Node }

func (b nsBlobs) PutBlob(ctx context.Context, data []byte) (namespace.Pointer, error) {
	res, err := b.n.put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{Name: treeBlobName})
	if err != nil {
		return namespace.Pointer{}, err
	}
	c, err := storage.ParseCapability(res.Capability)
	if err != nil {
		return namespace.Pointer{}, err
	}
	return namespace.Pointer{FileID: c.FileID, Key: c.Key, Size: uint64(res.Size)}, nil
}

func (b nsBlobs) GetBlob(ctx context.Context, p namespace.Pointer) ([]byte, error) {
	if p.Size > namespace.MaxEncoded {
		return nil, fmt.Errorf("a tree of %d bytes is over the limit of %d", p.Size, namespace.MaxEncoded)
	}
	c := storage.Capability{FileID: blockstore.ID(p.FileID), Key: p.Key}
	rc, size, err := b.n.open(ctx, c.String(), 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if uint64(size) != p.Size {
		return nil, fmt.Errorf("the tree file is %d bytes, its root says %d", size, p.Size)
	}
	buf := make([]byte, 0, size)
	w := bytes.NewBuffer(buf)
	if _, err := io.Copy(w, io.LimitReader(rc, size+1)); err != nil {
		return nil, err
	}
	return w.Bytes(), nil
}

func (b nsBlobs) ReleaseBlob(ctx context.Context, p namespace.Pointer) error {
	err := b.n.Remove(ctx, blockstore.ID(p.FileID).String())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
