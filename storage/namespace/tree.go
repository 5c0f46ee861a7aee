package namespace

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Redundancy is what was asked for a file or, on a directory, the default
// for what is put under it: K data and M parity pieces, or Copies whole
// copies (K = 1, M = Copies−1), as the node's put options. Copies excludes
// K and M. All fields zero means unset: inherit from the directory above
// (and, at the root, the node's own default). A value is inherited as a
// whole, never field by field: {M: 2} under a directory set to {K: 4, M: 2}
// means "the node's default K, 2 parity pieces".
type Redundancy struct {
	K      uint32 `cbor:"k,omitempty"`
	M      uint32 `cbor:"m,omitempty"`
	Copies uint32 `cbor:"copies,omitempty"`
}

// IsZero reports whether r is unset.
func (r Redundancy) IsZero() bool { return r == Redundancy{} }

// Validate returns ErrInvalid if r mixes Copies with K or M or exceeds
// MaxShards.
func (r Redundancy) Validate() error {
	switch {
	case r.Copies > 0 && (r.K > 0 || r.M > 0):
		return fmt.Errorf("%w: redundancy gives both copies (%d) and k, m (%d, %d)", ErrInvalid, r.Copies, r.K, r.M)
	case uint64(r.K)+uint64(r.M) > MaxShards:
		return fmt.Errorf("%w: redundancy k+m = %d, more than %d", ErrInvalid, uint64(r.K)+uint64(r.M), MaxShards)
	case r.Copies > MaxShards:
		return fmt.Errorf("%w: redundancy copies = %d, more than %d", ErrInvalid, r.Copies, MaxShards)
	}
	return nil
}

// File is what a path names when it is a file: the stored file's
// capability (FileID and Key, the parts of a storage.Capability) and its
// metadata. A parted file (Parts not empty) is stored as several coop
// files, its parts, read one after the other: its FileID is then the
// content id of the parts list (PartsID), not a stored file, and its Key
// is zero. Two Files are the same content when FileID and Key are equal.
type File struct {
	FileID     [32]byte   // the stored file's id (storage.Capability.FileID), or PartsID(Parts)
	Key        [32]byte   // its file key (storage.Capability.Key): secret; zero for a parted file
	Size       uint64     // plaintext bytes (of a parted file: the sum of its parts' sizes)
	MTime      int64      // modification time, Unix nanoseconds
	Mode       uint32     // permission bits (≤ 0o777); PutFile stores 0 as DefaultMode
	Redundancy Redundancy // what was asked when it was stored
	Parts      []Part     // a parted file's parts, in file order; nil for a file stored whole
}

// Part is one stored coop file of a parted File: the bytes [off, off+Size)
// of the file, off being the sum of the sizes of the parts before it. Hash
// lets a device that edits the file tell which parts changed without
// reading them; like the keys it is seen only by who can open the tree.
type Part struct {
	FileID [32]byte // the part's stored file id
	Key    [32]byte // its file key: secret, random per part
	Size   uint64   // plaintext bytes of the part, > 0
	Hash   [32]byte // SHA-256 of the part's plaintext
}

// partsDomain prefixes what PartsID hashes.
const partsDomain = "coop/v1 namespace parts\x00"

// PartsID is the content id of a parted file: SHA-256 of a domain tag and,
// per part, its file id, key, size (8 bytes big-endian) and hash. The same
// parts give the same id, and any change of a part changes it, so the
// mount's block cache and Merge can key a parted file's content by it as
// they key a stored file by its id.
func PartsID(parts []Part) [32]byte {
	h := sha256.New()
	h.Write([]byte(partsDomain))
	var n [8]byte
	for i := range parts {
		p := &parts[i]
		h.Write(p.FileID[:])
		h.Write(p.Key[:])
		binary.BigEndian.PutUint64(n[:], p.Size)
		h.Write(n[:])
		h.Write(p.Hash[:])
	}
	return [32]byte(h.Sum(nil))
}

// Parted returns a parted file of the given parts: its FileID is
// PartsID(parts), its Size their sum, its Key zero; the caller sets the
// rest. Parts is the slice given (not copied).
func Parted(parts []Part) File {
	f := File{FileID: PartsID(parts), Parts: parts}
	for _, p := range parts {
		f.Size += p.Size
	}
	return f
}

// Equal reports whether f and g are the same file, every field (a parted
// file's parts compared one by one).
func (f File) Equal(g File) bool {
	return f.FileID == g.FileID && f.Key == g.Key && f.Size == g.Size && f.MTime == g.MTime &&
		f.Mode == g.Mode && f.Redundancy == g.Redundancy && slices.Equal(f.Parts, g.Parts)
}

// isZero reports whether f is the zero File.
func (f File) isZero() bool { return f.Equal(File{}) && f.Parts == nil }

// GoString hides the keys from %#v.
func (f File) GoString() string {
	return fmt.Sprintf("namespace.File{FileID: %x, Key: <secret>, Size: %d, MTime: %d, Mode: %#o, Redundancy: %+v, Parts: %d}",
		f.FileID, f.Size, f.MTime, f.Mode, f.Redundancy, len(f.Parts))
}

// Entry is a file or a directory in a Tree. Entries returned by Lookup and
// List are the tree's own: changing them changes the tree (keep Children
// sorted and unique, or Encode refuses the tree).
type Entry struct {
	Name       string     // the path component; "" for the root
	Dir        bool       // a directory (else a file)
	File       File       // the file, when !Dir
	Redundancy Redundancy // a directory's default for what is put under it
	MTime      int64      // Unix nanoseconds; for a file it must equal File.MTime (PutFile, SetMTime and Decode keep them equal; Encode refuses a tree where they differ)
	Children   []*Entry   // a directory's entries, sorted by Name (bytewise), names unique
}

// Tree is one account's directory tree. The zero Tree is not usable: call
// New or Decode. A Tree is not safe for concurrent use. The operations
// keep every rule of the format but one: they do not count entries, so
// Encode refuses a tree grown beyond MaxEntries.
type Tree struct {
	Root *Entry // a directory named ""
}

// New returns an empty tree: a root directory with nothing in it.
func New() *Tree { return &Tree{Root: &Entry{Dir: true}} }

// child returns the index of name in d's children and whether it is there
// (else the index where it belongs).
func (d *Entry) child(name string) (int, bool) {
	return slices.BinarySearchFunc(d.Children, name, func(e *Entry, n string) int { return strings.Compare(e.Name, n) })
}

// find returns the entry at clean path p.
func (t *Tree) find(p string) (*Entry, error) {
	e := t.Root
	for _, name := range split(p) {
		if !e.Dir {
			return nil, ErrNotDir
		}
		i, ok := e.child(name)
		if !ok {
			return nil, ErrNotExist
		}
		e = e.Children[i]
	}
	return e, nil
}

// dirOf returns the directory that holds clean, non-root path p, creating
// missing directories on the way when parents is set.
func (t *Tree) dirOf(p string, parents bool) (*Entry, error) {
	names := split(p)
	d := t.Root
	for _, name := range names[:len(names)-1] {
		i, ok := d.child(name)
		if !ok {
			if !parents {
				return nil, ErrNotExist
			}
			n := &Entry{Name: name, Dir: true}
			d.Children = slices.Insert(d.Children, i, n)
			d = n
			continue
		}
		d = d.Children[i]
		if !d.Dir {
			return nil, ErrNotDir
		}
	}
	return d, nil
}

// clean runs CleanPath for op.
func clean(op, p string) (string, error) {
	c, err := cleanPath(p)
	if err != nil {
		return "", pathErr(op, p, fmt.Errorf("%w: %v", ErrBadPath, err))
	}
	return c, nil
}

// Lookup returns the entry at path: ErrNotExist if there is none, ErrNotDir
// if a file is on the way.
func (t *Tree) Lookup(path string) (*Entry, error) {
	p, err := clean("lookup", path)
	if err != nil {
		return nil, err
	}
	e, err := t.find(p)
	if err != nil {
		return nil, pathErr("lookup", p, err)
	}
	return e, nil
}

// List returns the entries of the directory at path, sorted by name (the
// tree's own slice: do not modify it). ErrNotDir on a file.
func (t *Tree) List(path string) ([]*Entry, error) {
	p, err := clean("list", path)
	if err != nil {
		return nil, err
	}
	e, err := t.find(p)
	if err == nil && !e.Dir {
		err = ErrNotDir
	}
	if err != nil {
		return nil, pathErr("list", p, err)
	}
	return e.Children, nil
}

// Mkdir makes a directory at path. Without parents its parent must exist
// and the path must be free (else ErrNotExist, ErrExist); with parents,
// missing directories on the way are made and an existing directory at
// path is no error (mkdir -p). ErrNotDir if a file is on the way.
func (t *Tree) Mkdir(path string, parents bool) error {
	p, err := clean("mkdir", path)
	if err != nil {
		return err
	}
	if err := t.mkdir(p, parents); err != nil {
		return pathErr("mkdir", p, err)
	}
	return nil
}

func (t *Tree) mkdir(p string, parents bool) error {
	if p == "/" {
		if parents {
			return nil
		}
		return ErrExist
	}
	if parents {
		if err := t.checkRoom(p); err != nil {
			return err
		}
	}
	d, err := t.dirOf(p, parents)
	if err != nil {
		return err
	}
	_, name := parentOf(p)
	i, ok := d.child(name)
	if ok {
		if parents && d.Children[i].Dir {
			return nil
		}
		return ErrExist
	}
	d.Children = slices.Insert(d.Children, i, &Entry{Name: name, Dir: true})
	return nil
}

// checkRoom returns ErrNotDir if a file is on the way to p, before dirOf
// creates anything, so a failed Mkdir or PutFile with parents changes
// nothing.
func (t *Tree) checkRoom(p string) error {
	names := split(p)
	d := t.Root
	for _, name := range names[:len(names)-1] {
		i, ok := d.child(name)
		if !ok {
			return nil
		}
		if d = d.Children[i]; !d.Dir {
			return ErrNotDir
		}
	}
	return nil
}

// PutFile puts f at path, creating the file or replacing the file there
// (returning a copy of the replaced one). A Mode of 0 is stored as
// DefaultMode; ErrInvalid for a Mode beyond 0o777 or an invalid
// Redundancy. ErrIsDir if a directory is at path; with parents, missing
// directories on the way are made, else they are ErrNotExist.
func (t *Tree) PutFile(path string, f File, parents bool) (replaced *File, err error) {
	p, err := clean("put", path)
	if err != nil {
		return nil, err
	}
	if f.Mode == 0 {
		f.Mode = DefaultMode
	}
	if err := checkFile(f); err != nil {
		return nil, pathErr("put", p, err)
	}
	if p == "/" {
		return nil, pathErr("put", p, ErrIsDir)
	}
	if err := t.checkRoom(p); err != nil {
		return nil, pathErr("put", p, err)
	}
	d, err := t.dirOf(p, parents)
	if err != nil {
		return nil, pathErr("put", p, err)
	}
	_, name := parentOf(p)
	i, ok := d.child(name)
	if !ok {
		d.Children = slices.Insert(d.Children, i, &Entry{Name: name, File: f, MTime: f.MTime})
		return nil, nil
	}
	e := d.Children[i]
	if e.Dir {
		return nil, pathErr("put", p, ErrIsDir)
	}
	old := e.File
	e.File, e.MTime = f, f.MTime
	return &old, nil
}

// checkFile returns ErrInvalid for a file's bad Mode or Redundancy, and
// for a parted file whose parts break the rules: more than MaxParts, a
// part of 0 bytes, a Size other than the parts' sum, a Key not zero or a
// FileID other than PartsID(Parts).
func checkFile(f File) error {
	if f.Mode&^0o777 != 0 {
		return fmt.Errorf("%w: mode %#o has bits beyond 0o777", ErrInvalid, f.Mode)
	}
	if f.Parts != nil {
		if err := checkParts(&f); err != nil {
			return err
		}
	}
	return f.Redundancy.Validate()
}

func checkParts(f *File) error {
	switch {
	case len(f.Parts) == 0:
		return fmt.Errorf("%w: a parted file with no parts", ErrInvalid)
	case len(f.Parts) > MaxParts:
		return fmt.Errorf("%w: %d parts, more than %d", ErrInvalid, len(f.Parts), MaxParts)
	case f.Key != [32]byte{}:
		return fmt.Errorf("%w: a parted file with a key of its own", ErrInvalid)
	}
	var sum uint64
	for i, p := range f.Parts {
		if p.Size == 0 {
			return fmt.Errorf("%w: part %d has 0 bytes", ErrInvalid, i)
		}
		if sum+p.Size < sum {
			return fmt.Errorf("%w: the parts' sizes overflow", ErrInvalid)
		}
		sum += p.Size
	}
	if sum != f.Size {
		return fmt.Errorf("%w: size %d, the parts add up to %d", ErrInvalid, f.Size, sum)
	}
	if f.FileID != PartsID(f.Parts) {
		return fmt.Errorf("%w: a parted file's id is not its parts' content id", ErrInvalid)
	}
	return nil
}

// Move renames or moves the file or directory at from to to, whose parent
// directory must exist. It never overwrites: ErrExist if anything is at to.
// Moving the root, or a directory into its own subtree, is ErrInvalid;
// moving a path onto itself does nothing.
func (t *Tree) Move(from, to string) error {
	f, err := clean("move", from)
	if err != nil {
		return err
	}
	d, err := clean("move", to)
	if err != nil {
		return err
	}
	if f == "/" {
		return pathErr("move", f, fmt.Errorf("%w: cannot move the root", ErrInvalid))
	}
	e, err := t.find(f)
	if err != nil {
		return pathErr("move", f, err)
	}
	if f == d {
		return nil
	}
	if within(d, f) {
		return pathErr("move", d, fmt.Errorf("%w: cannot move %s into itself", ErrInvalid, f))
	}
	if d == "/" {
		return pathErr("move", d, ErrExist)
	}
	if len(split(d))+height(e) > MaxDepth {
		return pathErr("move", d, fmt.Errorf("%w: the moved entries would be deeper than %d", ErrInvalid, MaxDepth))
	}
	dst, err := t.dirOf(d, false)
	if err != nil {
		return pathErr("move", d, err)
	}
	_, name := parentOf(d)
	if _, ok := dst.child(name); ok {
		return pathErr("move", d, ErrExist)
	}
	src, _ := t.dirOf(f, false)
	_, oldName := parentOf(f)
	i, _ := src.child(oldName)
	src.Children = slices.Delete(src.Children, i, i+1)
	e.Name = name
	j, _ := dst.child(name)
	dst.Children = slices.Insert(dst.Children, j, e)
	return nil
}

// height returns how many levels e's subtree adds below e (0 for a file or
// an empty directory).
func height(e *Entry) int {
	h := 0
	for _, c := range e.Children {
		h = max(h, 1+height(c))
	}
	return h
}

// Remove removes the file or directory at path. A directory with entries
// needs recursive (else ErrNotEmpty); removing the root is ErrInvalid.
func (t *Tree) Remove(path string, recursive bool) error {
	p, err := clean("remove", path)
	if err != nil {
		return err
	}
	if p == "/" {
		return pathErr("remove", p, fmt.Errorf("%w: cannot remove the root", ErrInvalid))
	}
	e, err := t.find(p)
	if err != nil {
		return pathErr("remove", p, err)
	}
	if e.Dir && len(e.Children) > 0 && !recursive {
		return pathErr("remove", p, ErrNotEmpty)
	}
	d, _ := t.dirOf(p, false)
	_, name := parentOf(p)
	i, _ := d.child(name)
	d.Children = slices.Delete(d.Children, i, i+1)
	return nil
}

// SetRedundancy sets the default redundancy of the directory at path for
// what is put under it (the zero Redundancy unsets it). On a file it is
// ErrNotDir: a file's redundancy is what it was stored at, so put it again
// to change it.
func (t *Tree) SetRedundancy(path string, r Redundancy) error {
	p, err := clean("set redundancy", path)
	if err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return pathErr("set redundancy", p, err)
	}
	e, err := t.find(p)
	if err == nil && !e.Dir {
		err = ErrNotDir
	}
	if err != nil {
		return pathErr("set redundancy", p, err)
	}
	e.Redundancy = r
	return nil
}

// SetMTime sets the modification time of the file or directory at path
// (Unix nanoseconds). The tree operations never read a clock: a
// directory's time is whatever its owner sets here.
func (t *Tree) SetMTime(path string, mtime int64) error {
	p, err := clean("set mtime", path)
	if err != nil {
		return err
	}
	e, err := t.find(p)
	if err != nil {
		return pathErr("set mtime", p, err)
	}
	e.MTime = mtime
	if !e.Dir {
		e.File.MTime = mtime
	}
	return nil
}

// Redundancy returns the effective redundancy at path: a file's own
// Redundancy if set, else the nearest directory's, walking up from path to
// the root, taken as a whole (see Redundancy). A path that does not exist
// yet inherits from its nearest existing ancestor. The zero value means
// the node's default; an invalid path also gives the zero value.
func (t *Tree) Redundancy(path string) Redundancy {
	p, err := CleanPath(path)
	if err != nil {
		return Redundancy{}
	}
	e := t.Root
	r := e.Redundancy
	names := split(p)
	for k, name := range names {
		i, ok := e.child(name)
		if !ok {
			break
		}
		e = e.Children[i]
		if !e.Dir {
			if k == len(names)-1 && !e.File.Redundancy.IsZero() {
				r = e.File.Redundancy
			}
			break
		}
		if !e.Redundancy.IsZero() {
			r = e.Redundancy
		}
	}
	return r
}

// Walk calls fn for every entry, the root ("/") first, depth-first with
// each directory's entries in name order, and stops at the first error fn
// returns (Walk returns it), except that fs.SkipDir returned for a
// directory skips what is under it. fn must not change the tree.
func (t *Tree) Walk(fn func(path string, e *Entry) error) error {
	err := walk("/", t.Root, fn)
	if err == fs.SkipDir {
		return nil
	}
	return err
}

func walk(p string, e *Entry, fn func(string, *Entry) error) error {
	if err := fn(p, e); err != nil {
		if err == fs.SkipDir && e.Dir {
			return nil
		}
		return err
	}
	for _, c := range e.Children {
		if err := walk(join(p, c.Name), c, fn); err != nil {
			return err
		}
	}
	return nil
}

// Files returns every stored file id the tree refers to, each with one
// path that names it (the first in Walk order): what a collector of old
// versions must keep. A parted file contributes each part's id (not its
// content id, which names no stored file).
func (t *Tree) Files() map[[32]byte]string {
	ids := make(map[[32]byte]string)
	add := func(id [32]byte, p string) {
		if _, ok := ids[id]; !ok {
			ids[id] = p
		}
	}
	t.Walk(func(p string, e *Entry) error {
		switch {
		case e.Dir:
		case e.File.Parts != nil:
			for _, part := range e.File.Parts {
				add(part.FileID, p)
			}
		default:
			add(e.File.FileID, p)
		}
		return nil
	})
	return ids
}

// Clone returns a deep copy of t.
func (t *Tree) Clone() *Tree { return &Tree{Root: cloneEntry(t.Root)} }

func cloneEntry(e *Entry) *Entry {
	c := *e
	if e.File.Parts != nil {
		c.File.Parts = slices.Clone(e.File.Parts)
	}
	if e.Children != nil {
		c.Children = make([]*Entry, len(e.Children))
		for i, ch := range e.Children {
			c.Children[i] = cloneEntry(ch)
		}
	}
	return &c
}

// Subtree returns a copy of the tree rooted at path, for sharing a
// directory: its root is a copy of that directory, named "", with the
// effective Redundancy at path (so what is put in the share inherits what
// it did). A file's path gives a tree whose root holds that one file,
// with the effective redundancy of its directory.
func (t *Tree) Subtree(path string) (*Tree, error) {
	p, err := clean("subtree", path)
	if err != nil {
		return nil, err
	}
	e, err := t.find(p)
	if err != nil {
		return nil, pathErr("subtree", p, err)
	}
	if !e.Dir {
		dir, _ := parentOf(p)
		return &Tree{Root: &Entry{Dir: true, Redundancy: t.Redundancy(dir), Children: []*Entry{cloneEntry(e)}}}, nil
	}
	root := cloneEntry(e)
	root.Name = ""
	root.Redundancy = t.Redundancy(p)
	return &Tree{Root: root}, nil
}
