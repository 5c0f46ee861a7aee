package namespace

import (
	"bytes"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestPartedFileRoundTrip(t *testing.T) {
	tr := sampleTree(t)
	if b := encoded(t, tr); b[2] != 1 {
		t.Fatalf("a tree without parts is version %d, want 1", b[2])
	}
	f := partedN(1, 2, 3)
	if f.Size != 2500 || f.Key != ([32]byte{}) || f.FileID != PartsID(f.Parts) {
		t.Fatalf("Parted: size %d, key %x, id %x", f.Size, f.Key, f.FileID)
	}
	if _, err := tr.PutFile("/big/video.mkv", f, true); err != nil {
		t.Fatal(err)
	}
	b := encoded(t, tr)
	if b[2] != 2 {
		t.Fatalf("a tree with a parted file is version %d, want 2", b[2])
	}
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encoded(t, got), b) {
		t.Fatal("Encode(Decode(b)) != b")
	}
	e, err := got.Lookup("/big/video.mkv")
	if err != nil || !e.File.Equal(f) {
		t.Fatalf("decoded %#v, %v; want %#v", e.File, err, f)
	}
	// Clone copies the parts: changing the copy leaves the original.
	c := got.Clone()
	ce, _ := c.Lookup("/big/video.mkv")
	ce.File.Parts[0].Size++
	if e.File.Parts[0].Size != 1000 {
		t.Fatal("Clone shares the parts")
	}
	// Dropping the parted file makes the tree version 1 again.
	if err := got.Remove("/big/video.mkv", false); err != nil {
		t.Fatal(err)
	}
	if b := encoded(t, got); b[2] != 1 {
		t.Fatalf("version %d after removing the parted file, want 1", b[2])
	}
}

// TestPartedEncodingIsStable pins the bytes of a parted file: a change of
// format must change Version.
func TestPartedEncodingIsStable(t *testing.T) {
	tr := New()
	var p Part
	p.FileID[0], p.Key[0], p.Hash[0], p.Size = 0xaa, 0xbb, 0xcc, 7
	f := Parted([]Part{p})
	f.Mode = 0o600
	if _, err := tr.PutFile("/f", f, false); err != nil {
		t.Fatal(err)
	}
	got := hex.EncodeToString(encoded(t, tr))
	// {1: 2, 2: {1: "", 5: [{1: "f", 2: {3: 7, 5: 384, 7: [[h'aa00…', h'bb00…', 7, h'cc00…']]}}]}}
	z := strings.Repeat("00", 31)
	want := "a2010202a2016005" + "81a2016166" + "02a3" + "0307" + "051901" + "80" + "0781" + "84" +
		"5820aa" + z + "5820bb" + z + "07" + "5820cc" + z
	if got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
}

func TestPartsID(t *testing.T) {
	a := []Part{partN(1, 10), partN(2, 20)}
	id := PartsID(a)
	for i, change := range []func(p []Part){
		func(p []Part) { p[0].FileID[0] ^= 1 },
		func(p []Part) { p[1].Key[0] ^= 1 },
		func(p []Part) { p[1].Size++ },
		func(p []Part) { p[0].Hash[5] ^= 1 },
		func(p []Part) { p[0], p[1] = p[1], p[0] },
	} {
		b := slices.Clone(a)
		change(b)
		if PartsID(b) == id {
			t.Errorf("change %d keeps the content id", i)
		}
	}
	if PartsID(a[:1]) == id || PartsID(slices.Clone(a)) != id {
		t.Error("content id not a function of the whole list")
	}
}

func TestPutFileRefusesBadParts(t *testing.T) {
	good := partedN(1, 2)
	for name, f := range map[string]File{
		"wrong id":    func() File { f := good; f.FileID[0] ^= 1; return f }(),
		"own key":     func() File { f := good; f.Key[0] = 1; return f }(),
		"wrong size":  func() File { f := good; f.Size++; return f }(),
		"empty part":  Parted([]Part{partN(1, 10), partN(2, 0)}),
		"no parts":    func() File { f := Parted(nil); f.Parts = []Part{}; return f }(),
		"overflowing": Parted([]Part{partN(1, 1<<63), partN(2, 1<<63)}),
	} {
		_, err := New().PutFile("/f", f, false)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

func TestDecodeRejectsBadParts(t *testing.T) {
	z := make([]byte, 32)
	part := wirePart{FileID: z, Key: z, Size: 5, Hash: z}
	one := Parted([]Part{{Size: 5}}) // the good file's parts
	tree := func(version uint64, f *wireFile) []byte {
		b, err := encMode.Marshal(wireTree{Version: version, Root: &wireEntry{Children: []*wireEntry{{Name: "f", File: f}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := &wireFile{Size: 5, Mode: 0o644, Parts: []wirePart{part}}
	if tr, err := Decode(tree(2, good)); err != nil {
		t.Fatalf("good parted file: %v", err)
	} else if e, _ := tr.Lookup("/f"); e.File.FileID != one.FileID {
		t.Fatalf("decoded id %x, want PartsID %x", e.File.FileID, one.FileID)
	}
	with := func(change func(f *wireFile)) *wireFile {
		f := *good
		f.Parts = slices.Clone(good.Parts)
		change(&f)
		return &f
	}
	cases := []struct {
		name string
		b    []byte
		why  string
	}{
		{"version 1", tree(1, good), "version 1 for a tree that is version 2"},
		{"own id", tree(2, with(func(f *wireFile) { f.FileID = z })), "at /f: a parted file with an id or key of its own"},
		{"own key", tree(2, with(func(f *wireFile) { f.Key = z })), "an id or key of its own"},
		{"short part id", tree(2, with(func(f *wireFile) { f.Parts[0].FileID = z[:31] })), "at /f: part 0: file id of 31 bytes"},
		{"long hash", tree(2, with(func(f *wireFile) { f.Parts[0].Hash = make([]byte, 33) })), "hash of 33"},
		{"no hash", tree(2, with(func(f *wireFile) { f.Parts[0].Hash = nil })), "hash of 0"},
		{"empty part", tree(2, with(func(f *wireFile) { f.Parts = append(f.Parts, wirePart{FileID: z, Key: z, Hash: z}); f.Size = 5 })), "part 1 has 0 bytes"},
		{"size off", tree(2, with(func(f *wireFile) { f.Size = 6 })), "size 6, the parts add up to 5"},
		{"empty parts", tree(2, with(func(f *wireFile) { f.Parts = []wirePart{} })), "file id of 0 bytes"},
		{"part as a map", func() []byte {
			type mapPart struct {
				FileID []byte `cbor:"1,keyasint"`
				Size   uint64 `cbor:"3,keyasint"`
			}
			type mapFile struct {
				Size  uint64    `cbor:"3,keyasint"`
				Parts []mapPart `cbor:"7,keyasint"`
			}
			type mapEntry struct {
				Name string   `cbor:"1,keyasint"`
				File *mapFile `cbor:"2,keyasint"`
			}
			b, err := encMode.Marshal(struct {
				V uint64 `cbor:"1,keyasint"`
				R struct {
					Kids []mapEntry `cbor:"5,keyasint"`
				} `cbor:"2,keyasint"`
			}{V: 2, R: struct {
				Kids []mapEntry `cbor:"5,keyasint"`
			}{[]mapEntry{{Name: "f", File: &mapFile{Size: 5, Parts: []mapPart{{FileID: z, Size: 5}}}}}}})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(), "cannot unmarshal map"},
	}
	for _, c := range cases {
		_, err := Decode(c.b)
		if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.why) {
			t.Errorf("%s: error %v, want ErrFormat saying %q", c.name, err, c.why)
		}
	}
}

func TestFilesNamesEveryPart(t *testing.T) {
	v1 := New()
	f1 := partedN(1, 2, 3)
	if _, err := v1.PutFile("/a/big", f1, true); err != nil {
		t.Fatal(err)
	}
	mustPut(t, v1, "/a/small", 9)
	ids := v1.Files()
	if len(ids) != 4 {
		t.Fatalf("Files: %d ids, want 4 (three parts and a file)", len(ids))
	}
	for _, p := range f1.Parts {
		if ids[p.FileID] != "/a/big" {
			t.Fatalf("part %x: path %q", p.FileID[:4], ids[p.FileID])
		}
	}
	if _, ok := ids[f1.FileID]; ok {
		t.Fatal("Files names a parted file's content id, which is no stored file")
	}
	// An edit keeps parts 1 and 3: a collector keeping v2 releases only
	// part 2 of v1.
	v2 := v1.Clone()
	f2 := partedN(1, 4, 3)
	if _, err := v2.PutFile("/a/big", f2, false); err != nil {
		t.Fatal(err)
	}
	keep := v2.Files()
	var gone [][32]byte
	for id := range v1.Files() {
		if _, ok := keep[id]; !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) != 1 || gone[0] != partN(2, 0).FileID {
		t.Fatalf("released %x, want part 2 only", gone)
	}
}

func TestMergeParted(t *testing.T) {
	base := New()
	if _, err := base.PutFile("/v", partedN(1, 2), false); err != nil {
		t.Fatal(err)
	}
	// Same parts, different metadata: no conflict, the winner's.
	w, l := base.Clone(), base.Clone()
	if err := w.SetMTime("/v", 7e9); err != nil {
		t.Fatal(err)
	}
	if err := l.SetMTime("/v", 8e9); err != nil {
		t.Fatal(err)
	}
	r, cs := Merge(base, w, l, "pc")
	if len(cs) != 0 || fileAt(t, r, "/v").MTime != 7e9 {
		t.Fatalf("metadata only: conflicts %v, mtime %d", cs, fileAt(t, r, "/v").MTime)
	}
	// Both edit one part to different contents: a conflict copy with the
	// loser's parts, named by its content id.
	w, l = base.Clone(), base.Clone()
	if _, err := w.PutFile("/v", partedN(1, 3), false); err != nil {
		t.Fatal(err)
	}
	lf := partedN(4, 2)
	if _, err := l.PutFile("/v", lf, false); err != nil {
		t.Fatal(err)
	}
	r, cs = Merge(base, w, l, "pc")
	if len(cs) != 1 || cs[0].Kind != ConflictBothModified || !fileAt(t, r, "/v").Equal(partedN(1, 3)) ||
		!fileAt(t, r, cs[0].CopyPath).Equal(lf) || !strings.Contains(cs[0].CopyPath, hex.EncodeToString(lf.FileID[:4])) {
		t.Fatalf("both modified: %v", cs)
	}
	if _, err := Encode(r); err != nil {
		t.Fatal(err)
	}
	// Both make the same edit (the same parts): no conflict.
	w, l = base.Clone(), base.Clone()
	for _, tr := range []*Tree{w, l} {
		if _, err := tr.PutFile("/v", partedN(1, 5), false); err != nil {
			t.Fatal(err)
		}
	}
	if r, cs = Merge(base, w, l, "pc"); len(cs) != 0 || !fileAt(t, r, "/v").Equal(partedN(1, 5)) {
		t.Fatalf("same edit: %v", cs)
	}
	// The loser edits, the winner leaves the file: the loser's parts.
	w, l = base.Clone(), base.Clone()
	if _, err := l.PutFile("/v", partedN(1, 6), false); err != nil {
		t.Fatal(err)
	}
	if r, cs = Merge(base, w, l, "pc"); len(cs) != 0 || !fileAt(t, r, "/v").Equal(partedN(1, 6)) {
		t.Fatalf("loser's edit: %v", cs)
	}
	// A parted file replaced by a whole one on one side, edited on the
	// other: different contents, a conflict.
	w, l = base.Clone(), base.Clone()
	mustPut(t, w, "/v", 3)
	if _, err := l.PutFile("/v", partedN(1, 7), false); err != nil {
		t.Fatal(err)
	}
	if _, cs = Merge(base, w, l, "pc"); len(cs) != 1 {
		t.Fatalf("whole against parted: %v", cs)
	}
}
