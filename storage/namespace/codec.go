package namespace

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
)

// The encoded tree is deterministic CBOR (RFC 8949 core deterministic
// encoding), maps with small integer keys (text keys in a redundancy):
//
//	tree  = {1: version, 2: entry}                        ; the root entry
//	entry = {1: name, ? 2: file, ? 3: mtime, ? 4: redundancy, ? 5: [+ entry]}
//	file  = {1: file id (32-byte bstr), 2: key (32-byte bstr), ? 3: size, ? 4: mtime, ? 5: mode, ? 6: redundancy}
//	      / {3: size, ? 4: mtime, ? 5: mode, ? 6: redundancy, 7: [+ part]}   ; a parted file (version 2)
//	part  = [file id (32-byte bstr), key (32-byte bstr), size (> 0), hash (32-byte bstr)]
//	redundancy = {? "k": uint, ? "m": uint, ? "copies": uint}   ; at least one
//
// An entry with a file (key 2) is a file; one without is a directory. A
// file's mtime is in its file map (key 3 of the entry is for directories).
// Absent keys are zero; a zero value is never written (canonical form). A
// parted file has no id or key of its own: its File.FileID is PartsID of
// its parts, computed on decoding. The tree's version is 2 if it holds a
// parted file, else 1.

type wireTree struct {
	Version uint64     `cbor:"1,keyasint"`
	Root    *wireEntry `cbor:"2,keyasint"`
}

type wireEntry struct {
	Name       string       `cbor:"1,keyasint"`
	File       *wireFile    `cbor:"2,keyasint,omitempty"`
	MTime      int64        `cbor:"3,keyasint,omitempty"`
	Redundancy *Redundancy  `cbor:"4,keyasint,omitempty"`
	Children   []*wireEntry `cbor:"5,keyasint,omitempty"`
}

// wireFile holds the id and key as slices: the CBOR library encodes a
// []byte with one copy but a [32]byte element by element. fromWire checks
// their length.
type wireFile struct {
	FileID     []byte      `cbor:"1,keyasint,omitempty"`
	Key        []byte      `cbor:"2,keyasint,omitempty"`
	Size       uint64      `cbor:"3,keyasint,omitempty"`
	MTime      int64       `cbor:"4,keyasint,omitempty"`
	Mode       uint32      `cbor:"5,keyasint,omitempty"`
	Redundancy *Redundancy `cbor:"6,keyasint,omitempty"`
	Parts      []wirePart  `cbor:"7,keyasint,omitempty"`
}

// wirePart is a Part as a CBOR array (arrays are not counted as maps by
// countMaps, so parts do not eat into the entry bound).
type wirePart struct {
	_      struct{} `cbor:",toarray"`
	FileID []byte
	Key    []byte
	Size   uint64
	Hash   []byte
}

// maxNesting bounds CBOR nesting: per directory level an entry map and a
// children array, plus the tree map and a file's maps at the bottom.
const maxNesting = 2*MaxDepth + 8

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   maxNesting,
		MaxArrayElements:  MaxEntries,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode checks t (as Decode would) and returns its canonical encoding,
// with the format Version: the same tree always gives the same bytes.
// A tree that breaks the format (a bad or duplicate name, unsorted
// children, a file with children, too deep, too many entries, a bad Mode
// or Redundancy) is ErrFormat naming the entry's path.
func Encode(t *Tree) ([]byte, error) {
	if t == nil || t.Root == nil {
		return nil, fmt.Errorf("%w: no root", ErrFormat)
	}
	if err := check(t.Root); err != nil {
		return nil, err
	}
	w := wireTree{Version: versionOf(t.Root), Root: toWire(t.Root)}
	b, err := encMode.Marshal(&w)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(b) > MaxEncoded {
		return nil, fmt.Errorf("%w: %d bytes encoded, more than %d", ErrFormat, len(b), MaxEncoded)
	}
	return b, nil
}

// Decode parses an encoded tree strictly: ErrFormat, naming what is wrong
// and where, for more than MaxEncoded bytes, anything but the canonical
// encoding of a valid tree (re-encoding must give b back), an unknown
// version or key, a bad, duplicate or unsorted name, a file with children,
// a bad Mode or Redundancy, depth beyond MaxDepth, or more than MaxEntries
// entries.
func Decode(b []byte) (*Tree, error) {
	if len(b) > MaxEncoded {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(b), MaxEncoded)
	}
	if n, err := countMaps(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	} else if n > 3*MaxEntries+3 {
		// The tree map, the root and its redundancy, and at most 3 maps
		// per entry (itself, a file, the file's redundancy).
		return nil, fmt.Errorf("%w: more than %d entries", ErrFormat, MaxEntries)
	}
	var w wireTree
	if err := decMode.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if w.Version != 1 && w.Version != Version {
		return nil, fmt.Errorf("%w: version %d, want 1 or %d", ErrFormat, w.Version, Version)
	}
	if w.Root == nil {
		return nil, fmt.Errorf("%w: no root", ErrFormat)
	}
	root, err := fromWire(w.Root, new([]string))
	if err != nil {
		return nil, err
	}
	t := &Tree{Root: root}
	if err := check(t.Root); err != nil {
		return nil, err
	}
	if v := versionOf(t.Root); w.Version != v {
		return nil, fmt.Errorf("%w: version %d for a tree that is version %d (2 if and only if it holds a parted file)", ErrFormat, w.Version, v)
	}
	again, err := encMode.Marshal(&wireTree{Version: w.Version, Root: toWire(t.Root)})
	if err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: not in canonical encoding (a zero value written, a key or length not in shortest form, or keys out of order)", ErrFormat)
	}
	return t, nil
}

// versionOf is the format version of the tree from root: 2 if it holds a
// parted file, else 1.
func versionOf(root *Entry) uint64 {
	if hasParts(root) {
		return 2
	}
	return 1
}

func hasParts(e *Entry) bool {
	if !e.Dir {
		return e.File.Parts != nil
	}
	for _, c := range e.Children {
		if c != nil && hasParts(c) {
			return true
		}
	}
	return false
}

func toWire(e *Entry) *wireEntry {
	w := &wireEntry{Name: e.Name}
	if !e.Dir {
		f := &e.File
		w.File = &wireFile{Size: f.Size, MTime: f.MTime, Mode: f.Mode}
		if f.Parts == nil {
			w.File.FileID, w.File.Key = f.FileID[:], f.Key[:]
		} else {
			w.File.Parts = make([]wirePart, len(f.Parts))
			for i := range f.Parts {
				p := &f.Parts[i]
				w.File.Parts[i] = wirePart{FileID: p.FileID[:], Key: p.Key[:], Size: p.Size, Hash: p.Hash[:]}
			}
		}
		if !f.Redundancy.IsZero() {
			r := f.Redundancy
			w.File.Redundancy = &r
		}
		return w
	}
	w.MTime = e.MTime
	if !e.Redundancy.IsZero() {
		r := e.Redundancy
		w.Redundancy = &r
	}
	if len(e.Children) > 0 {
		w.Children = make([]*wireEntry, len(e.Children))
		for i, c := range e.Children {
			w.Children[i] = toWire(c)
		}
	}
	return w
}

// fromWire converts a decoded entry as it is; check then refuses what a
// tree may not hold (a file with entries or a default redundancy), and
// re-encoding refuses what the conversion drops (zero values written out).
// Only a file id or key of the wrong length is refused here, naming the
// entry's path.
func fromWire(w *wireEntry, path *[]string) (*Entry, error) {
	e := &Entry{Name: w.Name, MTime: w.MTime}
	if w.Redundancy != nil {
		e.Redundancy = *w.Redundancy
	}
	if w.Children != nil {
		e.Children = make([]*Entry, len(w.Children))
		for i, c := range w.Children {
			if c == nil { // CBOR null: refused by check as a bad name
				c = &wireEntry{}
			}
			*path = append(*path, c.Name)
			var err error
			e.Children[i], err = fromWire(c, path)
			*path = (*path)[:len(*path)-1]
			if err != nil {
				return nil, err
			}
		}
	}
	if f := w.File; f != nil {
		at := func() string { return "/" + strings.Join(*path, "/") }
		if f.Parts != nil {
			if f.FileID != nil || f.Key != nil {
				return nil, fmt.Errorf("%w: at %s: a parted file with an id or key of its own", ErrFormat, at())
			}
			parts := make([]Part, len(f.Parts))
			for i, p := range f.Parts {
				if len(p.FileID) != 32 || len(p.Key) != 32 || len(p.Hash) != 32 {
					return nil, fmt.Errorf("%w: at %s: part %d: file id of %d bytes, key of %d and hash of %d, want 32 each",
						ErrFormat, at(), i, len(p.FileID), len(p.Key), len(p.Hash))
				}
				parts[i] = Part{FileID: [32]byte(p.FileID), Key: [32]byte(p.Key), Size: p.Size, Hash: [32]byte(p.Hash)}
			}
			e.File = File{FileID: PartsID(parts), Size: f.Size, MTime: f.MTime, Mode: f.Mode, Parts: parts}
		} else {
			if len(f.FileID) != 32 || len(f.Key) != 32 {
				return nil, fmt.Errorf("%w: at %s: file id of %d bytes and key of %d, want 32 each",
					ErrFormat, at(), len(f.FileID), len(f.Key))
			}
			e.File = File{FileID: [32]byte(f.FileID), Key: [32]byte(f.Key), Size: f.Size, MTime: f.MTime, Mode: f.Mode}
		}
		if f.Redundancy != nil {
			e.File.Redundancy = *f.Redundancy
		}
		if e.MTime == 0 {
			e.MTime = f.MTime
		}
		return e, nil
	}
	e.Dir = true
	return e, nil
}

// countMaps returns the number of CBOR maps in b, reading only item heads,
// so Decode can refuse a tree with too many entries before allocating
// them. It stops at the end of the first data item; a malformed head is an
// error (the decoder names anything else).
func countMaps(b []byte) (int, error) {
	maps, pending, i := 0, 1, 0
	for pending > 0 {
		if i >= len(b) {
			return 0, fmt.Errorf("truncated at byte %d", i)
		}
		major, ai := b[i]>>5, b[i]&31
		i++
		var arg uint64
		switch {
		case ai < 24:
			arg = uint64(ai)
		case ai <= 27:
			n := 1 << (ai - 24)
			if len(b)-i < n {
				return 0, fmt.Errorf("truncated at byte %d", i)
			}
			for _, c := range b[i : i+n] {
				arg = arg<<8 | uint64(c)
			}
			i += n
		case ai == 31 && major >= 2 && major <= 5:
			return 0, fmt.Errorf("indefinite length at byte %d", i-1)
		default:
			return 0, fmt.Errorf("malformed item head at byte %d", i-1)
		}
		pending--
		rest := uint64(len(b) - i)
		switch major {
		case 2, 3:
			if arg > rest {
				return 0, fmt.Errorf("string longer than the input at byte %d", i)
			}
			i += int(arg)
		case 4:
			if arg > rest {
				return 0, fmt.Errorf("array longer than the input at byte %d", i)
			}
			pending += int(arg)
		case 5:
			if arg > rest/2 {
				return 0, fmt.Errorf("map longer than the input at byte %d", i)
			}
			maps++
			pending += 2 * int(arg)
		case 6:
			pending++
		}
	}
	return maps, nil
}

// check validates a tree from its root: names, order, kinds, limits.
func check(root *Entry) error {
	if !root.Dir {
		return fmt.Errorf("%w: at /: the root is not a directory", ErrFormat)
	}
	if root.Name != "" {
		return fmt.Errorf("%w: at /: the root is named %q", ErrFormat, root.Name)
	}
	n := 0
	var path []string
	return checkEntry(root, &path, &n)
}

func checkEntry(e *Entry, path *[]string, n *int) error {
	at := func() string { return "/" + strings.Join(*path, "/") }
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: at %s: "+format, append([]any{ErrFormat, at()}, args...)...)
	}
	if !e.Dir {
		if len(e.Children) > 0 || !e.Redundancy.IsZero() {
			return bad("a file with directory fields (entries or a default redundancy)")
		}
		if e.MTime != e.File.MTime {
			return bad("entry mtime %d differs from the file's %d", e.MTime, e.File.MTime)
		}
		if err := checkFile(e.File); err != nil {
			return bad("%v", err)
		}
		return nil
	}
	if !e.File.isZero() {
		return bad("a directory with a file")
	}
	if err := e.Redundancy.Validate(); err != nil {
		return bad("%v", err)
	}
	if len(e.Children) > 0 && len(*path) >= MaxDepth {
		return bad("entries deeper than %d levels", MaxDepth)
	}
	prev := ""
	for i, c := range e.Children {
		if c == nil {
			return bad("entry %d is nil", i)
		}
		if err := checkName(c.Name); err != nil {
			return bad("entry %d: %v", i, err)
		}
		if i > 0 && c.Name <= prev {
			if c.Name == prev {
				return bad("duplicate name %q", c.Name)
			}
			return bad("entries not sorted: %q after %q", c.Name, prev)
		}
		prev = c.Name
		if *n++; *n > MaxEntries {
			return bad("more than %d entries in the tree", MaxEntries)
		}
		*path = append(*path, c.Name)
		err := checkEntry(c, path, n)
		*path = (*path)[:len(*path)-1]
		if err != nil {
			return err
		}
	}
	return nil
}
