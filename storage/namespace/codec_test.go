package namespace

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// sampleTree returns a small tree using every field.
func sampleTree(t testing.TB) *Tree {
	tr := New()
	mustPut(t, tr, "/docs/report.pdf", 1)
	mustPut(t, tr, "/docs/old/notes.txt", 2)
	f := fileN(3)
	f.Redundancy, f.Mode = Redundancy{Copies: 3}, 0o600
	if _, err := tr.PutFile("/photos/ünï 名.jpg", f, true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Mkdir("/empty", false); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetRedundancy("/photos", Redundancy{K: 4, M: 2}); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetRedundancy("/", Redundancy{M: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetMTime("/docs", 1_700_000_000_000_000_000); err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for name, tr := range map[string]*Tree{"empty": New(), "sample": sampleTree(t)} {
		b := encoded(t, tr)
		again := encoded(t, tr.Clone())
		if !bytes.Equal(b, again) {
			t.Fatalf("%s: two encodings of one tree differ", name)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(encoded(t, got), b) {
			t.Fatalf("%s: Encode(Decode(b)) != b", name)
		}
		if !slicesEqual(paths(got), paths(tr)) {
			t.Fatalf("%s: paths %v, want %v", name, paths(got), paths(tr))
		}
		e, _ := got.Lookup("/photos/ünï 名.jpg")
		if name == "sample" && (!e.File.Equal(func() File { x, _ := tr.Lookup("/photos/ünï 名.jpg"); return x.File }()) || e.MTime != e.File.MTime) {
			t.Fatalf("file %#v", e.File)
		}
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TestEncodingIsStable pins the bytes of a small tree: a change of format
// must change Version.
func TestEncodingIsStable(t *testing.T) {
	tr := New()
	f := File{Size: 5, MTime: 7, Mode: 0o644, Redundancy: Redundancy{K: 2, M: 1}}
	f.FileID[0], f.Key[0] = 0xaa, 0xbb
	if _, err := tr.PutFile("/d/f", f, true); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(encoded(t, tr))
	// {1: 1, 2: {1: "", 5: [{1: "d", 5: [{1: "f", 2: {1: h'aa00…', 2: h'bb00…', 3: 5, 4: 7, 5: 420, 6: {"k": 2, "m": 1}}}]}]}}
	want := "a2010102a2016005" + "81a20161640581a2016166" + "02a6015820aa" + strings.Repeat("00", 31) +
		"025820bb" + strings.Repeat("00", 31) + "030504070519" + "01a4" + "06a2616b02616d01"
	if got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encoded(t, sampleTree(t))
	raw := func(v any) []byte {
		b, err := encMode.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	dir := func(name string, kids ...*wireEntry) *wireEntry { return &wireEntry{Name: name, Children: kids} }
	file := func(name string) *wireEntry {
		return &wireEntry{Name: name, File: &wireFile{FileID: make([]byte, 32), Key: make([]byte, 32), Mode: 0o644, Size: 1}}
	}
	tree := func(root *wireEntry) []byte { return raw(wireTree{Version: 1, Root: root}) }
	type extraKey struct {
		Version uint64     `cbor:"1,keyasint"`
		Root    *wireEntry `cbor:"2,keyasint"`
		X       uint64     `cbor:"3,keyasint"`
	}
	type zeroRedundancy struct {
		Name       string     `cbor:"1,keyasint"`
		Redundancy Redundancy `cbor:"4,keyasint"`
	}
	type withEmptyKids struct {
		Name     string       `cbor:"1,keyasint"`
		Children []*wireEntry `cbor:"5,keyasint"`
	}
	deep := file("f")
	for i := 0; i < MaxDepth; i++ {
		deep = dir("d", deep)
	}
	deep.Name = "" // the file is at depth MaxDepth
	if _, err := Decode(tree(deep)); err != nil {
		t.Fatalf("a file at depth %d: %v", MaxDepth, err)
	}
	deep.Name = "d"
	deep = dir("", deep)
	nonCanonical, _ := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	type reordered struct {
		Root    *wireEntry `cbor:"2,keyasint"`
		Version uint64     `cbor:"1,keyasint"`
	}
	unsortedMap, _ := nonCanonical.Marshal(reordered{Root: dir(""), Version: 1})
	zero32 := make([]byte, 32)
	cases := []struct {
		name string
		b    []byte
		why  string
	}{
		{"empty", nil, "truncated"},
		{"trailing byte", append(append([]byte{}, good...), 0), "extraneous"},
		{"truncated", good[:len(good)-1], "truncated"},
		{"version 2 without parts", raw(wireTree{Version: 2, Root: dir("")}), "version 2 for a tree that is version 1"},
		{"version 3", raw(wireTree{Version: 3, Root: dir("")}), "version 3"},
		{"no root", raw(wireTree{Version: 1}), "no root"},
		{"unknown key", raw(extraKey{Version: 1, Root: dir(""), X: 1}), "unknown field"},
		{"named root", tree(dir("r")), "root is named"},
		{"file root", tree(file("")), "root is not a directory"},
		{"unsorted", tree(dir("", file("b"), file("a"))), `at /: entries not sorted: "a" after "b"`},
		{"duplicate", tree(dir("", dir("a", file("x")), dir("a"))), `at /: duplicate name "a"`},
		{"bad name", tree(dir("", dir("a", file("..")))), `at /a: entry 0: component ".."`},
		{"slash", tree(dir("", file("a/b"))), `holds '/'`},
		{"empty name", tree(dir("", file(""))), "empty component"},
		{"null entry", tree(dir("", nil)), "empty component"},
		{"too deep", tree(deep), "deeper than 64"},
		{"bad mode", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: zero32, Mode: 0o1644}})), "at /f: namespace: invalid argument: mode"},
		{"short file id", tree(dir("", dir("d", &wireEntry{Name: "f", File: &wireFile{FileID: zero32[:31], Key: zero32}}))), "at /d/f: file id of 31 bytes"},
		{"long key", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: make([]byte, 33)}})), "key of 33"},
		{"no file id", tree(dir("", &wireEntry{Name: "f", File: &wireFile{Key: zero32}})), "file id of 0 bytes"},
		{"bad redundancy", tree(&wireEntry{Redundancy: &Redundancy{K: 1, Copies: 2}}), "both copies"},
		{"file with entries", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: zero32}, Children: []*wireEntry{file("x")}})), "at /f: a file with directory fields"},
		{"file with dir redundancy", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: zero32}, Redundancy: &Redundancy{K: 1}})), "a file with directory fields"},
		{"file with dir mtime", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: zero32, MTime: 1}, MTime: 2})), "mtime 2 differs"},
		{"file mtime twice", tree(dir("", &wireEntry{Name: "f", File: &wireFile{FileID: zero32, Key: zero32, MTime: 1}, MTime: 1})), "canonical"},
		{"zero redundancy written", raw(wireTree{Version: 1, Root: &wireEntry{Children: []*wireEntry{{Name: "a"}}, Redundancy: &Redundancy{}}}), "canonical"},
		{"zero redundancy field", raw(struct {
			V uint64         `cbor:"1,keyasint"`
			R zeroRedundancy `cbor:"2,keyasint"`
		}{1, zeroRedundancy{}}), "canonical"},
		{"empty children written", raw(struct {
			V uint64        `cbor:"1,keyasint"`
			R withEmptyKids `cbor:"2,keyasint"`
		}{1, withEmptyKids{Children: []*wireEntry{}}}), "canonical"},
		{"children null", raw(struct {
			V uint64         `cbor:"1,keyasint"`
			R *withEmptyKids `cbor:"2,keyasint"`
		}{1, &withEmptyKids{}}), "canonical"},
		{"unsorted keys", unsortedMap, "canonical"},
		{"long int", []byte{0xa2, 0x18, 0x01, 0x01, 0x02, 0xa1, 0x01, 0x60}, "canonical"},
		{"indefinite", []byte{0xbf, 0x01, 0x01, 0xff}, "indefinite"},
		{"tag", []byte{0xc1, 0xa0}, "tag"},
		{"huge array head", []byte{0xa2, 0x01, 0x01, 0x02, 0xa1, 0x05, 0x9a, 0xff, 0xff, 0xff, 0xff}, "longer than the input"},
		{"over MaxEncoded", make([]byte, MaxEncoded+1), "more than"},
	}
	for _, c := range cases {
		_, err := Decode(c.b)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %v, want ErrFormat saying %q", c.name, err, c.why)
		}
	}
}

func TestEncodeRefusesBrokenTrees(t *testing.T) {
	tr := sampleTree(t)
	d, _ := tr.Lookup("/docs")
	d.Children[0], d.Children[1] = d.Children[1], d.Children[0]
	if _, err := Encode(tr); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "at /docs: entries not sorted") {
		t.Fatalf("unsorted: %v", err)
	}
	tr = sampleTree(t)
	f, _ := tr.Lookup("/docs/report.pdf")
	f.Name = "x/y"
	if _, err := Encode(tr); !errors.Is(err, ErrFormat) {
		t.Fatalf("bad name: %v", err)
	}
	if _, err := Encode(&Tree{}); !errors.Is(err, ErrFormat) {
		t.Fatalf("no root: %v", err)
	}
}

// TestDecodeEntryLimit builds MaxEntries+1 entries in two directories
// (each within the per-array limit) and checks Decode counts the whole
// tree.
func TestDecodeEntryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a tree of a million entries")
	}
	half := MaxEntries/2 - 1
	mk := func(prefix string, n int) *wireEntry {
		d := &wireEntry{Name: prefix, Children: make([]*wireEntry, n)}
		for i := range d.Children {
			d.Children[i] = &wireEntry{Name: fmt.Sprintf("%07d", i)}
		}
		return d
	}
	b, err := encMode.Marshal(wireTree{Version: 1, Root: &wireEntry{Children: []*wireEntry{mk("a", half), mk("b", half), mk("c", 2)}}})
	if err != nil {
		t.Fatal(err)
	}
	// 3 + 2·half + 2 = MaxEntries + 1
	if _, err := Decode(b); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d entries", MaxEntries)) {
		t.Fatalf("error %v", err)
	}
}

func TestCountMaps(t *testing.T) {
	n, err := countMaps(encoded(t, sampleTree(t)))
	// tree, root, docs, old, notes.txt + file, report.pdf + file, empty,
	// photos + redundancy, jpg + file + redundancy, root redundancy
	if err != nil || n != 15 {
		t.Fatalf("countMaps = %d, %v", n, err)
	}
	// 3·2^20+2 empty maps in the root's children, plus the tree and the
	// root: one more than MaxEntries entries could need. Refused by the
	// count, before the decoder allocates them.
	n = 3*MaxEntries + 2
	b := []byte{0xa2, 0x01, 0x01, 0x02, 0xa1, 0x05, 0x9a, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	b = append(b, bytes.Repeat([]byte{0xa0}, n)...)
	if _, err := Decode(b); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "more than 1048576 entries") {
		t.Fatalf("many maps: %v", err)
	}
	// A claimed map of 2^32 pairs in 6 bytes is refused before any work.
	if _, err := countMaps([]byte{0xba, 0xff, 0xff, 0xff, 0xff, 0x00}); err == nil {
		t.Fatal("accepted a huge map head")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encoded(f, New()))
	f.Add(encoded(f, sampleTree(f)))
	tr := sampleTree(f)
	mustPut(f, tr, "/docs/old/deeper/x", 9)
	f.Add(encoded(f, tr))
	parted := sampleTree(f)
	if _, err := parted.PutFile("/big/v.mkv", partedN(1, 2, 3), true); err != nil {
		f.Fatal(err)
	}
	f.Add(encoded(f, parted))
	one := New()
	if _, err := one.PutFile("/p", Parted([]Part{partN(7, 1)}), false); err != nil {
		f.Fatal(err)
	}
	f.Add(encoded(f, one))
	f.Add([]byte{0xa2, 0x01, 0x01, 0x02, 0xa1, 0x01, 0x60})
	f.Add([]byte{0xa2, 0x01, 0x01, 0x02, 0xa2, 0x01, 0x60, 0x05, 0x81, 0xa1, 0x01, 0x61, 0x61})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not ErrFormat", err)
			}
			return
		}
		again, err := Encode(tr)
		if err != nil {
			t.Fatalf("decoded tree does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("Encode(Decode(b)) != b")
		}
		tr.Walk(func(p string, e *Entry) error {
			if c, err := CleanPath(p); err != nil || c != p {
				t.Fatalf("decoded path %q is not clean: %v", p, err)
			}
			return nil
		})
	})
}
