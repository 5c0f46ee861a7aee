package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// fsys is one mounted namespace: the Backend, the caches and the table of
// inode numbers.
type fsys struct {
	b      Backend
	o      Options
	log    interface{ Warn(string, ...any) }
	blocks *blockCache
	dirs   *dirCache
	spool  string // spool files of open write handles
	unsent string // writes that could not be sent
	life   context.Context

	inoMu   sync.Mutex
	inos    map[string]uint64 // path → inode number, for the mount's lifetime
	nextIno uint64

	// readEnd is where the last read of each content ended: a read that
	// starts there (or at 0) is sequential and fetches ahead.
	readMu  sync.Mutex
	readEnd map[[32]byte]int64

	// st streams sequential reads when the Backend is a Streamer (nil
	// otherwise); streams are those of the open read handles.
	st       Streamer
	streamMu sync.Mutex
	streams  map[*seqStream]bool
}

// ReadAhead is how many blocks past a sequential read the mount fetches
// in the background, so the next reads find them cached.
const ReadAhead = 4

// sequential records a read of [off, end) of content id and reports
// whether it continued the previous one (or started the file).
func (f *fsys) sequential(id [32]byte, off, end int64) bool {
	f.readMu.Lock()
	defer f.readMu.Unlock()
	if f.readEnd == nil || len(f.readEnd) > 1024 {
		f.readEnd = map[[32]byte]int64{}
	}
	prev, ok := f.readEnd[id]
	f.readEnd[id] = end
	return off == 0 || ok && prev == off
}

// rootIno is the root's inode number (FUSE's).
const rootIno = 1

// ino is the stable inode number of path: the same for the mount's
// lifetime, carried along by renames.
func (f *fsys) ino(path string) uint64 {
	if path == "/" {
		return rootIno
	}
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	if n, ok := f.inos[path]; ok {
		return n
	}
	f.nextIno++
	f.inos[path] = f.nextIno
	return f.nextIno
}

// moveIno gives to (and everything below it) the numbers of from.
func (f *fsys) moveIno(from, to string) {
	f.inoMu.Lock()
	defer f.inoMu.Unlock()
	for p := range f.inos {
		if p == to || strings.HasPrefix(p, to+"/") {
			delete(f.inos, p)
		}
	}
	for p, n := range f.inos {
		if p == from || strings.HasPrefix(p, from+"/") {
			delete(f.inos, p)
			f.inos[to+strings.TrimPrefix(p, from)] = n
		}
	}
}

// forgetIno drops path's number: a new entry there gets a new one.
func (f *fsys) forgetIno(path string) {
	f.inoMu.Lock()
	delete(f.inos, path)
	f.inoMu.Unlock()
}

// stat asks the Backend, falling back to the last known listing of the
// parent when offline.
func (f *fsys) stat(ctx context.Context, path string) (Info, error) {
	if path != "/" {
		// A listing younger than the kernel's timeout answers without a
		// round trip (ls -l looks up every entry it lists).
		parent, name := splitPath(path)
		if l, ok := f.dirs.fresh(parent, f.o.Timeout); ok {
			for _, e := range l {
				if e.Name == name {
					e.Path = path
					return e, nil
				}
			}
			return Info{}, fmt.Errorf("%w: %s", fs.ErrNotExist, path)
		}
	}
	info, err := f.b.Stat(ctx, path)
	if err == nil {
		info.Path = path
		f.dirs.storeStat(info)
	}
	if err == nil || !offline(err) {
		return info, err
	}
	if path == "/" {
		return Info{Path: "/", Dir: true}, nil
	}
	parent, name := splitPath(path)
	l, ok := f.dirs.list(parent)
	if !ok {
		if info, ok := f.dirs.lastStat(path); ok {
			return info, nil
		}
		return Info{}, err
	}
	for _, e := range l {
		if e.Name == name {
			return e, nil
		}
	}
	return Info{}, fmt.Errorf("%w: %s (offline, not in the last known listing)", fs.ErrNotExist, path)
}

// list asks the Backend and remembers the answer; offline, it answers
// the last known listing.
func (f *fsys) list(ctx context.Context, path string) ([]Info, error) {
	l, err := f.b.List(ctx, path)
	if err == nil {
		f.dirs.listedNow(path, l)
		return l, nil
	}
	if offline(err) {
		if l, ok := f.dirs.list(path); ok {
			return l, nil
		}
	}
	return nil, err
}

// readAt reads file content id (size bytes) block by block through the
// cache. A sequential read fetches ahead: through the open file's stream
// if it has a usable one (nil: none), else with a ranged read per block.
func (f *fsys) readAt(ctx context.Context, path string, info Info, p []byte, off int64, st *seqStream) (int, error) {
	size := int64(info.Size)
	if off >= size || len(p) == 0 {
		return 0, nil
	}
	end := min(off+int64(len(p)), size)
	bs := int64(f.o.BlockSize)
	fetcher := func(start int64) func(context.Context, []byte) error {
		return func(ctx context.Context, b []byte) error {
			got, err := f.b.ReadAt(ctx, path, info.FileID, b, start)
			if got == len(b) {
				return nil
			}
			if err == nil || errors.Is(err, io.EOF) {
				err = fmt.Errorf("mount: %s: short read, %d of %d bytes at %d", path, got, len(b), start)
			}
			return err
		}
	}
	if f.sequential(info.FileID, off, end) {
		// Fetch the next blocks while this one is read and copied out.
		last := (end - 1) / bs
		if st != nil && st.usable() {
			st.ahead(off/bs, last+ReadAhead)
		}
		for blk := last + 1; blk <= last+ReadAhead && blk*bs < size; blk++ {
			f.blocks.prefetch(blockKey{info.FileID, blk}, int(min(bs, size-blk*bs)), fetcher(blk*bs))
		}
	}
	n := 0
	for blk := off / bs; blk*bs < end; blk++ {
		start := blk * bs
		want := int(min(bs, size-start))
		lo := max(off, start) - start
		hi := min(end, start+int64(want)) - start
		if err := f.blocks.get(ctx, blockKey{info.FileID, blk}, want, p[n:n+int(hi-lo)], int(lo), fetcher(start)); err != nil {
			return n, err
		}
		n += int(hi - lo)
	}
	return n, nil
}

// attr fills out from info.
func (f *fsys) attr(info Info, ino uint64, out *fuse.Attr) {
	out.Ino = ino
	perm := uint32(info.Mode.Perm())
	if info.Dir {
		if perm == 0 {
			perm = 0o755
		}
		out.Mode = syscall.S_IFDIR | perm
		out.Nlink = 2
	} else {
		if perm == 0 {
			perm = 0o644
		}
		out.Mode = syscall.S_IFREG | perm
		out.Nlink = 1
		out.Size = info.Size
		out.Blocks = (info.Size + 511) / 512
	}
	out.Blksize = uint32(f.o.BlockSize)
	t := info.MTime
	out.SetTimes(&t, &t, &t)
	out.Owner = fuse.Owner{Uid: f.o.UID, Gid: f.o.GID}
}

// newChild makes (or finds again) the inode of info under parent.
func (f *fsys) newChild(ctx context.Context, parent *gofs.Inode, info Info) *gofs.Inode {
	ino := f.ino(info.Path)
	if ch := parent.GetChild(info.Name); ch != nil && ch.StableAttr().Ino == ino {
		switch n := ch.Operations().(type) {
		case *fileNode:
			if !info.Dir {
				n.setInfo(info)
				return ch
			}
		case *dirNode:
			if info.Dir {
				n.setInfo(info)
				return ch
			}
		}
	}
	var ops gofs.InodeEmbedder
	mode := uint32(syscall.S_IFREG)
	if info.Dir {
		ops, mode = &dirNode{node: node{f: f, info: info}}, syscall.S_IFDIR
	} else {
		ops = &fileNode{node: node{f: f, info: info}}
	}
	ch := parent.NewInode(ctx, ops, gofs.StableAttr{Mode: mode, Ino: ino})
	// An inode the kernel still knows under this number wins; refresh it.
	switch n := ch.Operations().(type) {
	case *fileNode:
		n.setInfo(info)
	case *dirNode:
		n.setInfo(info)
	}
	return ch
}

// node is what files and directories share.
type node struct {
	gofs.Inode
	f *fsys

	mu   sync.Mutex
	info Info
}

func (n *node) setInfo(i Info) {
	n.mu.Lock()
	n.info = i
	n.mu.Unlock()
}

func (n *node) getInfo() Info {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.info
}

// path is the node's current path in the tree, or ok = false once it is
// no longer reachable (removed while open).
func (n *node) path() (string, bool) {
	var segs []string
	p := &n.Inode
	for !p.IsRoot() {
		name, parent := p.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		p = parent
	}
	if len(segs) == 0 {
		return "/", true
	}
	var b strings.Builder
	for i := len(segs) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(segs[i])
	}
	return b.String(), true
}

// Statfs reports a large, empty file system (the namespace has no fixed
// size: quota is the account's business).
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 40 / 4096
	*out = fuse.StatfsOut{Blocks: blocks, Bfree: blocks, Bavail: blocks, Files: 1 << 30, Ffree: 1 << 30, Bsize: 4096, Frsize: 4096, NameLen: 255}
	return 0
}

// dirNode is a directory of the namespace.
type dirNode struct{ node }

var (
	_ gofs.NodeLookuper  = (*dirNode)(nil)
	_ gofs.NodeReaddirer = (*dirNode)(nil)
	_ gofs.NodeGetattrer = (*dirNode)(nil)
	_ gofs.NodeSetattrer = (*dirNode)(nil)
	_ gofs.NodeMkdirer   = (*dirNode)(nil)
	_ gofs.NodeCreater   = (*dirNode)(nil)
	_ gofs.NodeUnlinker  = (*dirNode)(nil)
	_ gofs.NodeRmdirer   = (*dirNode)(nil)
	_ gofs.NodeRenamer   = (*dirNode)(nil)
	_ gofs.NodeStatfser  = (*dirNode)(nil)
)

// Lookup finds name in the directory (asking the Backend; a file being
// written and not yet sent is known only here).
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	dir, ok := d.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	p := joinPath(dir, name)
	if ch := d.GetChild(name); ch != nil {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.pending() {
			fn.fillAttr(out)
			return ch, 0
		}
	}
	info, err := d.f.stat(ctx, p)
	if err != nil {
		return nil, Errno(err)
	}
	info.Path, info.Name = p, name
	ch := d.f.newChild(ctx, &d.Inode, info)
	ch.Operations().(interface{ fillAttr(*fuse.EntryOut) }).fillAttr(out)
	return ch, 0
}

func (d *dirNode) fillAttr(out *fuse.EntryOut) {
	d.f.attr(d.getInfo(), d.StableAttr().Ino, &out.Attr)
}

// Readdir lists the directory.
func (d *dirNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	dir, ok := d.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	l, err := d.f.list(ctx, dir)
	if err != nil {
		return nil, Errno(err)
	}
	seen := map[string]bool{}
	out := make([]fuse.DirEntry, 0, len(l))
	for _, e := range l {
		mode := uint32(syscall.S_IFREG)
		if e.Dir {
			mode = syscall.S_IFDIR
		}
		seen[e.Name] = true
		out = append(out, fuse.DirEntry{Name: e.Name, Mode: mode, Ino: d.f.ino(joinPath(dir, e.Name))})
	}
	for name, ch := range d.Children() {
		if fn, ok := ch.Operations().(*fileNode); ok && fn.pending() && !seen[name] {
			out = append(out, fuse.DirEntry{Name: name, Mode: syscall.S_IFREG, Ino: ch.StableAttr().Ino})
		}
	}
	return gofs.NewListDirStream(out), 0
}

// Getattr refreshes the directory's attributes.
func (d *dirNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if p, ok := d.path(); ok {
		if info, err := d.f.stat(ctx, p); err == nil && info.Dir {
			info.Path, info.Name = p, d.info.Name
			d.setInfo(info)
		}
	}
	d.f.attr(d.getInfo(), d.StableAttr().Ino, &out.Attr)
	return 0
}

// Setattr accepts mode and time changes without storing them.
func (d *dirNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	d.f.attr(d.getInfo(), d.StableAttr().Ino, &out.Attr)
	return 0
}

// Mkdir makes a directory on the Backend.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	dir, ok := d.path()
	if !ok {
		return nil, syscall.ENOENT
	}
	p := joinPath(dir, name)
	if err := d.f.b.Mkdir(ctx, p); err != nil {
		return nil, Errno(err)
	}
	info := Info{Path: p, Name: name, Dir: true, MTime: time.Now()}
	d.f.dirs.update(dir, name, info, true)
	d.f.dirs.store(p, nil)
	ch := d.f.newChild(ctx, &d.Inode, info)
	d.f.attr(info, ch.StableAttr().Ino, &out.Attr)
	return ch, 0
}

// Create starts a new file; it reaches the Backend when the handle is
// flushed or released.
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	dir, ok := d.path()
	if !ok {
		return nil, nil, 0, syscall.ENOENT
	}
	p := joinPath(dir, name)
	d.f.forgetIno(p) // a new file, a new number
	fn := &fileNode{node: node{f: d.f, info: Info{Path: p, Name: name, MTime: time.Now(), Mode: fs.FileMode(mode).Perm()}}, local: true}
	ch := d.NewInode(ctx, fn, gofs.StableAttr{Mode: syscall.S_IFREG, Ino: d.f.ino(p)})
	fn = ch.Operations().(*fileNode)
	h, err := fn.openWriter(ctx, true)
	if err != nil {
		return nil, nil, 0, Errno(err)
	}
	fn.fillAttr(out)
	return ch, h, 0, 0
}

// Unlink removes a file.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.remove(ctx, name)
}

// Rmdir removes an empty directory.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.remove(ctx, name)
}

func (d *dirNode) remove(ctx context.Context, name string) syscall.Errno {
	dir, ok := d.path()
	if !ok {
		return syscall.ENOENT
	}
	p := joinPath(dir, name)
	var fn *fileNode
	if ch := d.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	err := d.f.b.Remove(ctx, p)
	if err != nil && !(fn != nil && fn.isLocal() && errors.Is(err, fs.ErrNotExist)) {
		return Errno(err)
	}
	if fn != nil {
		fn.markRemoved()
	}
	d.f.dirs.update(dir, name, Info{}, false)
	d.f.forgetIno(p)
	return 0
}

// Rename moves an entry. A file still being written and never sent moves
// only here; its upload goes to the new path.
func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if flags&gofs.RENAME_EXCHANGE != 0 {
		return syscall.EINVAL
	}
	dir, ok := d.path()
	nd, isDir := newParent.(*dirNode)
	if !ok || !isDir {
		return syscall.ENOENT
	}
	toDir, ok := nd.path()
	if !ok {
		return syscall.ENOENT
	}
	from, to := joinPath(dir, name), joinPath(toDir, newName)
	if flags&unixRenameNoReplace != 0 {
		if _, err := d.f.b.Stat(ctx, to); err == nil {
			return syscall.EEXIST
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Errno(err)
		}
	}
	var fn *fileNode
	if ch := d.GetChild(name); ch != nil {
		fn, _ = ch.Operations().(*fileNode)
	}
	if fn == nil || !fn.isLocal() {
		if err := d.f.b.Rename(ctx, from, to); err != nil {
			return Errno(err)
		}
	}
	var moved Info
	if ch := d.GetChild(name); ch != nil {
		switch n := ch.Operations().(type) {
		case *fileNode:
			moved = n.getInfo()
		case *dirNode:
			moved = n.getInfo()
		}
	}
	moved.Path, moved.Name = to, newName
	d.f.moveIno(from, to)
	d.f.dirs.update(dir, name, Info{}, false)
	if fn == nil || !fn.isLocal() {
		d.f.dirs.update(toDir, newName, moved, true)
	}
	return 0
}

// unixRenameNoReplace is renameat2's RENAME_NOREPLACE.
const unixRenameNoReplace = 0x1

// Statfs is node's.
func (d *dirNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return d.node.Statfs(ctx, out)
}

// fileNode is a file of the namespace.
type fileNode struct {
	node
	local   bool           // created here and not yet sent
	removed bool           // unlinked: writers send nothing
	writers []*writeHandle // open write handles, newest last
	lastID  [32]byte       // content id at the last open, for FOPEN_KEEP_CACHE
	opened  bool
}

var (
	_ gofs.NodeGetattrer = (*fileNode)(nil)
	_ gofs.NodeSetattrer = (*fileNode)(nil)
	_ gofs.NodeOpener    = (*fileNode)(nil)
	_ gofs.NodeStatfser  = (*fileNode)(nil)
)

// pending reports whether the file has content only here: created and
// not yet sent, or with open write handles.
func (fn *fileNode) pending() bool {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.local || len(fn.writers) > 0
}

func (fn *fileNode) isLocal() bool {
	fn.mu.Lock()
	defer fn.mu.Unlock()
	return fn.local
}

func (fn *fileNode) markRemoved() {
	fn.mu.Lock()
	fn.removed = true
	fn.mu.Unlock()
}

// current is the file's attributes as this mount sees them: the size of
// the newest writer whose descriptor is still open, if any.
func (fn *fileNode) current() Info {
	fn.mu.Lock()
	info := fn.info
	var w *writeHandle
	for _, h := range fn.writers {
		if !h.flushed.Load() {
			w = h
		}
	}
	fn.mu.Unlock()
	if w != nil {
		if size, err := w.size(); err == nil {
			info.Size = uint64(size)
		}
	}
	return info
}

func (fn *fileNode) fillAttr(out *fuse.EntryOut) {
	fn.f.attr(fn.current(), fn.StableAttr().Ino, &out.Attr)
}

// Getattr refreshes the file's attributes from the Backend unless it is
// being written here.
func (fn *fileNode) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if !fn.pending() {
		if p, ok := fn.path(); ok {
			if info, err := fn.f.stat(ctx, p); err == nil && !info.Dir {
				info.Path, info.Name = p, fn.getInfo().Name
				fn.setInfo(info)
			}
		}
	}
	fn.f.attr(fn.current(), fn.StableAttr().Ino, &out.Attr)
	return 0
}

// Setattr truncates (through the handle given, or a rewrite of the file
// sent at once); mode and time changes are accepted and not stored.
func (fn *fileNode) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		// ftruncate names its handle. truncate(2) by path, and open
		// with O_TRUNC, name none: they cut every writer still open
		// (sent on its close), or, with none, a rewrite sent at once.
		var ws []*writeHandle
		if w, ok := fh.(*writeHandle); ok {
			ws = append(ws, w)
		} else {
			fn.mu.Lock()
			for _, w := range fn.writers {
				if !w.flushed.Load() {
					ws = append(ws, w)
				}
			}
			fn.mu.Unlock()
		}
		cut := false
		for _, w := range ws {
			if errno := w.truncate(ctx, int64(size)); errno == 0 {
				cut = true
			} else if errno != syscall.EBADF {
				return errno
			}
		}
		if !cut {
			w, err := fn.openWriter(ctx, size == 0)
			if err != nil {
				return Errno(err)
			}
			errno := w.truncate(ctx, int64(size))
			if errno == 0 {
				errno = w.Flush(ctx)
			}
			w.Release(ctx)
			if errno != 0 {
				return errno
			}
		}
	}
	fn.f.attr(fn.current(), fn.StableAttr().Ino, &out.Attr)
	return 0
}

// Open opens the file: writers get a spool file, readers read the
// content the file had at open, block by block through the cache.
func (fn *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		h, err := fn.openWriter(ctx, flags&syscall.O_TRUNC != 0)
		if err != nil {
			return nil, 0, Errno(err)
		}
		return h, 0, 0
	}
	fn.mu.Lock()
	var open *writeHandle
	for _, h := range fn.writers {
		if !h.flushed.Load() {
			open = h
		}
	}
	fn.mu.Unlock()
	if open != nil {
		// Written here and not closed yet: read what the writer has.
		return &spoolReader{w: open}, fuse.FOPEN_DIRECT_IO, 0
	}
	info := fn.current()
	path, _ := fn.path()
	fn.mu.Lock()
	var fuseFlags uint32
	if fn.opened && fn.lastID == info.FileID && len(fn.writers) == 0 {
		fuseFlags = fuse.FOPEN_KEEP_CACHE // same content: keep the kernel's pages
	}
	fn.opened, fn.lastID = true, info.FileID
	fn.mu.Unlock()
	h := &readHandle{fn: fn, path: path, info: info}
	if fn.f.st != nil {
		h.stream = fn.f.newSeqStream(path, info)
	}
	return h, fuseFlags, 0
}

// Statfs is node's.
func (fn *fileNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return fn.node.Statfs(ctx, out)
}

// readHandle reads the version of a file that was current at open.
type readHandle struct {
	fn     *fileNode
	path   string
	info   Info
	stream *seqStream // nil when the Backend does not stream
}

var (
	_ gofs.FileReader   = (*readHandle)(nil)
	_ gofs.FileReleaser = (*readHandle)(nil)
)

// Read reads from the cache, fetching missing blocks from the Backend.
func (h *readHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := h.fn.f.readAt(ctx, h.path, h.info, dest, off, h.stream)
	if err != nil {
		h.fn.f.log.Warn("mount: read failed", "path", h.path, "off", off, "err", err)
		return nil, Errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Release stops the handle's stream (and waits for it).
func (h *readHandle) Release(ctx context.Context) syscall.Errno {
	if h.stream != nil {
		h.stream.close()
	}
	return 0
}

// spoolReader reads a file through a writer still open on it; once the
// writer is gone, the version it sent.
type spoolReader struct{ w *writeHandle }

var _ gofs.FileReader = (*spoolReader)(nil)

// Read reads the writer's spool, or the sent version after its release.
func (r *spoolReader) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	r.w.mu.Lock()
	released := r.w.released
	r.w.mu.Unlock()
	if !released {
		return r.w.Read(ctx, dest, off)
	}
	fn := r.w.fn
	path, _ := fn.path()
	n, err := fn.f.readAt(ctx, path, fn.getInfo(), dest, off, nil)
	if err != nil {
		return nil, Errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// writeHandle buffers a write in a spool file and sends it to the
// Backend on flush, fsync or release (once per change).
type writeHandle struct {
	fn *fileNode

	mu       sync.Mutex
	spool    *os.File
	base     Info // the sent content the spool starts as
	needFill bool // the spool does not hold base yet
	dirty    bool
	released bool
	flushed  atomic.Bool  // closed once: no longer an open descriptor's
	sz       atomic.Int64 // the file's size as written, read without mu (an upload holds mu)
}

var (
	_ gofs.FileReader   = (*writeHandle)(nil)
	_ gofs.FileWriter   = (*writeHandle)(nil)
	_ gofs.FileFlusher  = (*writeHandle)(nil)
	_ gofs.FileFsyncer  = (*writeHandle)(nil)
	_ gofs.FileReleaser = (*writeHandle)(nil)
)

// openWriter starts a write handle: an empty spool (truncate, or a new
// file) or one that takes the sent content when first used (fill).
func (fn *fileNode) openWriter(ctx context.Context, truncate bool) (*writeHandle, error) {
	sp, err := os.CreateTemp(fn.f.spool, "w-*")
	if err != nil {
		return nil, fmt.Errorf("mount: spool: %w", err)
	}
	fn.mu.Lock()
	h := &writeHandle{fn: fn, spool: sp, dirty: truncate, base: fn.info, needFill: !truncate && !fn.local}
	if h.needFill {
		h.sz.Store(int64(fn.info.Size))
	}
	fn.writers = append(fn.writers, h)
	fn.mu.Unlock()
	return h, nil
}

// fillLocked copies the sent content into the spool, once.
func (h *writeHandle) fillLocked(ctx context.Context) error {
	if !h.needFill {
		return nil
	}
	path, _ := h.fn.path()
	buf := make([]byte, h.fn.f.o.BlockSize)
	for off := int64(0); off < int64(h.base.Size); {
		n, err := h.fn.f.readAt(ctx, path, h.base, buf, off, nil)
		if err == nil {
			_, err = h.spool.WriteAt(buf[:n], off)
		}
		if err != nil {
			return err
		}
		off += int64(n)
	}
	h.needFill = false
	return nil
}

func (h *writeHandle) size() (int64, error) { return h.sz.Load(), nil }

func (h *writeHandle) sizeLocked() (int64, error) {
	if h.needFill {
		return int64(h.base.Size), nil
	}
	st, err := h.spool.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// Read reads what the handle has written.
func (h *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return nil, syscall.EBADF
	}
	if err := h.fillLocked(ctx); err != nil {
		return nil, Errno(err)
	}
	n, err := h.spool.ReadAt(dest, off)
	if err != nil && err != io.EOF {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write writes into the spool.
func (h *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return 0, syscall.EBADF
	}
	if err := h.fillLocked(ctx); err != nil {
		return 0, Errno(err)
	}
	n, err := h.spool.WriteAt(data, off)
	h.dirty = true
	if end := off + int64(n); end > h.sz.Load() {
		h.sz.Store(end)
	}
	if err != nil {
		h.fn.f.log.Warn("mount: spool write failed", "err", err)
		return uint32(n), syscall.EIO
	}
	return uint32(n), 0
}

func (h *writeHandle) truncate(ctx context.Context, size int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return syscall.EBADF
	}
	if size == 0 {
		h.needFill = false
	} else if err := h.fillLocked(ctx); err != nil {
		return Errno(err)
	}
	if err := h.spool.Truncate(size); err != nil {
		return syscall.EIO
	}
	h.sz.Store(size)
	h.dirty = true
	return 0
}

// Flush sends the file if it changed (close(2) returns the result).
func (h *writeHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return 0
	}
	h.flushed.Store(true)
	return h.sendLocked(ctx)
}

// Fsync sends the file if it changed.
func (h *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.Flush(ctx)
}

// Release sends what an interrupted flush left and drops the spool.
func (h *writeHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return 0
	}
	h.released = true
	errno := h.sendLocked(h.fn.f.life)
	h.spool.Close()
	os.Remove(h.spool.Name())
	fn := h.fn
	fn.mu.Lock()
	for i, w := range fn.writers {
		if w == h {
			fn.writers = append(fn.writers[:i], fn.writers[i+1:]...)
			break
		}
	}
	fn.mu.Unlock()
	return errno
}

// sendLocked uploads the spool if it changed. A failed upload keeps the
// bytes under unsent/ and logs where; an interrupted one stays dirty for
// Release to retry.
func (h *writeHandle) sendLocked(ctx context.Context) syscall.Errno {
	if !h.dirty {
		return 0
	}
	fn := h.fn
	path, ok := fn.path()
	fn.mu.Lock()
	removed := fn.removed
	fn.mu.Unlock()
	if !ok || removed {
		h.dirty = false // removed while open: nothing to send
		return 0
	}
	size, err := h.sizeLocked()
	if err == nil {
		_, err = h.spool.Seek(0, io.SeekStart)
	}
	if err != nil {
		return syscall.EIO
	}
	info, err := fn.f.b.WriteFile(ctx, path, h.spool, size)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return syscall.EINTR
		}
		h.dirty = false
		kept := fn.f.keepUnsent(path, h.spool)
		fn.f.log.Warn("mount: write not sent; its bytes are kept", "path", path, "kept", kept, "bytes", size, "err", err)
		return Errno(err)
	}
	h.dirty = false
	info.Path, info.Name = path, filepath.Base(path)
	fn.mu.Lock()
	fn.info, fn.local = info, false
	fn.mu.Unlock()
	parent, name := splitPath(path)
	fn.f.dirs.update(parent, name, info, true)
	fn.f.cacheContent(info, h.spool)
	return 0
}

// keepUnsent copies a spool that could not be sent to unsent/ and
// returns the copy's path.
func (f *fsys) keepUnsent(path string, sp *os.File) string {
	name := time.Now().UTC().Format("20060102T150405.000000000") + "-" + strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", "_")
	dst := filepath.Join(f.unsent, name)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err == nil {
		_, err = io.Copy(out, io.NewSectionReader(sp, 0, 1<<62))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Sprintf("(not kept: %v)", err)
	}
	return dst
}

// cacheContent puts a file just sent into the read cache (its content is
// known, under its new id), when it is small next to the cache.
func (f *fsys) cacheContent(info Info, sp *os.File) {
	if int64(info.Size) > f.blocks.max/4 {
		return
	}
	bs := int64(f.o.BlockSize)
	for blk := int64(0); blk*bs < int64(info.Size); blk++ {
		b := make([]byte, min(bs, int64(info.Size)-blk*bs))
		if _, err := sp.ReadAt(b, blk*bs); err != nil {
			return
		}
		f.blocks.put(blockKey{info.FileID, blk}, b)
	}
}
