package namespace

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sides returns base and two clones of it, after setup on base.
func sides(t *testing.T, setup func(b *Tree)) (base, winner, loser *Tree) {
	base = New()
	setup(base)
	return base, base.Clone(), base.Clone()
}

func fileAt(t *testing.T, tr *Tree, p string) File {
	t.Helper()
	e, err := tr.Lookup(p)
	if err != nil || e.Dir {
		t.Fatalf("%s: %v (dir %v), want a file", p, err, e != nil && e.Dir)
	}
	return e.File
}

func wantConflicts(t *testing.T, got []Conflict, want ...Conflict) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("conflicts\n got %+v\nwant %+v", got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestMergeOneSidedChanges(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {
		mustPut(t, b, "/keep", 1)
		mustPut(t, b, "/edit", 2)
		mustPut(t, b, "/gone", 3)
		mustPut(t, b, "/dir/x", 4)
	})
	mustPut(t, w, "/w-new", 10)
	mustPut(t, l, "/l-new/deep", 20)
	mustPut(t, l, "/edit", 21)
	must(t, l.Remove("/gone", false))
	must(t, l.Remove("/dir", true))
	r, cs := Merge(base, w, l, "laptop")
	wantConflicts(t, cs)
	want := []string{"/", "/edit", "/keep", "/l-new/", "/l-new/deep", "/w-new"}
	if got := paths(r); !slices.Equal(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	if !fileAt(t, r, "/edit").Equal(fileN(21)) {
		t.Fatal("loser's edit lost")
	}
	if _, err := w.Lookup("/dir/x"); err != nil {
		t.Fatal("Merge changed the winner")
	}
}

func TestMergeBothModified(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) { mustPut(t, b, "/docs/report.pdf", 1) })
	mustPut(t, w, "/docs/report.pdf", 2)
	mustPut(t, l, "/docs/report.pdf", 3)
	r, cs := Merge(base, w, l, "laptop")
	cp := "/docs/report (conflict laptop 00000000).pdf" // fileN ids start with 8 bytes of n
	wantConflicts(t, cs, Conflict{Path: "/docs/report.pdf", CopyPath: cp, Kind: ConflictBothModified})
	if !fileAt(t, r, "/docs/report.pdf").Equal(fileN(2)) || !fileAt(t, r, cp).Equal(fileN(3)) {
		t.Fatal("wrong files kept")
	}
}

func TestMergeBothAddedAndCopyNamesUnique(t *testing.T) {
	taken := "/notes (conflict phone 00000000)"
	base, w, l := sides(t, func(b *Tree) { mustPut(t, b, taken, 9) })
	mustPut(t, w, "/notes", 2)
	mustPut(t, l, "/notes", 3)
	mustPut(t, w, "/notes (conflict phone 00000000 2)", 4)
	r, cs := Merge(base, w, l, "phone")
	wantConflicts(t, cs, Conflict{Path: "/notes", CopyPath: "/notes (conflict phone 00000000 3)", Kind: ConflictBothAdded})
	if !fileAt(t, r, "/notes (conflict phone 00000000 3)").Equal(fileN(3)) || !fileAt(t, r, taken).Equal(fileN(9)) {
		t.Fatal("wrong files")
	}
}

func TestMergeIdenticalChangesAreNotConflicts(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {
		mustPut(t, b, "/a", 1)
		mustPut(t, b, "/b", 2)
	})
	for _, tr := range []*Tree{w, l} {
		mustPut(t, tr, "/a", 5)
		must(t, tr.Remove("/b", false))
		must(t, tr.Mkdir("/d/e", true))
		must(t, tr.SetRedundancy("/d", Redundancy{Copies: 2}))
	}
	// Same stored file, different metadata: the winner's metadata.
	f := fileN(7)
	mustPut(t, w, "/c", 7)
	f.Mode = 0o600
	_, err := l.PutFile("/c", f, false)
	must(t, err)
	r, cs := Merge(base, w, l, "x")
	wantConflicts(t, cs)
	if !bytes.Equal(encoded(t, r), encoded(t, w)) {
		t.Fatalf("identical changes: %v, want the winner %v", paths(r), paths(w))
	}
}

func TestMergeModifiedDeleted(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {
		mustPut(t, b, "/w-edits", 1)
		mustPut(t, b, "/l-edits", 2)
		mustPut(t, b, "/dir/old", 3)
		mustPut(t, b, "/dir2/sub/old", 4)
	})
	mustPut(t, w, "/w-edits", 11)
	must(t, l.Remove("/w-edits", false))
	mustPut(t, l, "/l-edits", 12)
	must(t, w.Remove("/l-edits", false))
	mustPut(t, w, "/dir/new", 13) // winner adds into a directory the loser removes
	must(t, l.Remove("/dir", true))
	mustPut(t, l, "/dir2/sub/new", 14) // loser adds into a directory the winner removed
	must(t, w.Remove("/dir2", true))
	r, cs := Merge(base, w, l, "x")
	wantConflicts(t, cs,
		Conflict{Path: "/w-edits", Kind: ConflictModifiedDeleted},
		Conflict{Path: "/dir", Kind: ConflictModifiedDeleted},
		Conflict{Path: "/l-edits", Kind: ConflictModifiedDeleted},
	)
	want := []string{"/", "/dir/", "/dir/new", "/dir2/", "/dir2/sub/", "/dir2/sub/new", "/l-edits", "/w-edits"}
	if got := paths(r); !slices.Equal(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
	if !fileAt(t, r, "/w-edits").Equal(fileN(11)) || !fileAt(t, r, "/l-edits").Equal(fileN(12)) {
		t.Fatal("the modified versions were not kept")
	}
}

func TestMergeDirFile(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {})
	mustPut(t, w, "/x/inner", 1) // winner: directory /x
	mustPut(t, l, "/x", 2)       // loser: file /x
	mustPut(t, w, "/y.txt", 3)   // winner: file /y.txt
	mustPut(t, l, "/y.txt/in", 4)
	r, cs := Merge(base, w, l, "pc")
	wantConflicts(t, cs,
		Conflict{Path: "/x", CopyPath: "/x (conflict pc 00000000)", Kind: ConflictDirFile},
		Conflict{Path: "/y.txt", CopyPath: "/y (conflict pc 00000000).txt", Kind: ConflictDirFile},
	)
	if !fileAt(t, r, "/x (conflict pc 00000000)").Equal(fileN(2)) || !fileAt(t, r, "/y (conflict pc 00000000).txt").Equal(fileN(3)) {
		t.Fatal("wrong copies")
	}
	want := []string{"/", "/x/", "/x/inner", "/x (conflict pc 00000000)", "/y (conflict pc 00000000).txt", "/y.txt/", "/y.txt/in"}
	if got := paths(r); !slices.Equal(got, want) {
		t.Fatalf("paths %v, want %v", got, want)
	}
}

func TestMergeLoserReplacesKinds(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {
		mustPut(t, b, "/f", 1)
		mustPut(t, b, "/d/x", 2)
	})
	must(t, l.Remove("/f", false))
	must(t, l.Mkdir("/f", false))
	must(t, l.Remove("/d", true))
	mustPut(t, l, "/d", 3)
	r, cs := Merge(base, w, l, "x")
	wantConflicts(t, cs)
	if !bytes.Equal(encoded(t, r), encoded(t, l)) {
		t.Fatalf("got %v, want the loser's %v", paths(r), paths(l))
	}
}

func TestMergeRenameAndEdit(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) { mustPut(t, b, "/a.txt", 1) })
	mustPut(t, w, "/a.txt", 2) // winner edits
	must(t, l.Move("/a.txt", "/b.txt"))
	r, cs := Merge(base, w, l, "x")
	wantConflicts(t, cs, Conflict{Path: "/a.txt", Kind: ConflictModifiedDeleted})
	if !fileAt(t, r, "/a.txt").Equal(fileN(2)) || !fileAt(t, r, "/b.txt").Equal(fileN(1)) {
		t.Fatalf("rename vs edit: %v", paths(r))
	}
	// The other way round: the winner renamed, the loser edited.
	r, cs = Merge(base, l, w, "x")
	wantConflicts(t, cs, Conflict{Path: "/a.txt", Kind: ConflictModifiedDeleted})
	if !fileAt(t, r, "/a.txt").Equal(fileN(2)) || !fileAt(t, r, "/b.txt").Equal(fileN(1)) {
		t.Fatalf("edit vs rename: %v", paths(r))
	}
}

func TestMergeDirectoryAttributes(t *testing.T) {
	base, w, l := sides(t, func(b *Tree) {
		must(t, b.Mkdir("/a", false))
		must(t, b.Mkdir("/b", false))
	})
	must(t, l.SetRedundancy("/a", Redundancy{K: 2, M: 2}))
	must(t, l.SetRedundancy("/b", Redundancy{Copies: 2}))
	must(t, w.SetRedundancy("/b", Redundancy{Copies: 3}))
	must(t, l.SetMTime("/", 5))
	must(t, l.Mkdir("/c", false))
	must(t, l.SetRedundancy("/c", Redundancy{M: 4}))
	r, cs := Merge(base, w, l, "x")
	wantConflicts(t, cs)
	for p, want := range map[string]Redundancy{"/a": {K: 2, M: 2}, "/b": {Copies: 3}, "/c": {M: 4}} {
		if e, _ := r.Lookup(p); e.Redundancy != want {
			t.Errorf("%s: %+v, want %+v", p, e.Redundancy, want)
		}
	}
	if r.Root.MTime != 5 {
		t.Error("loser's root mtime not applied")
	}
}

func TestConflictNames(t *testing.T) {
	for name, want := range map[string][2]string{
		"report.pdf": {"report", ".pdf"}, "a.tar.gz": {"a.tar", ".gz"}, ".profile": {".profile", ""},
		"noext": {"noext", ""}, "trail.": {"trail.", ""}, "x.averyveryverylongtail": {"x.averyveryverylongtail", ""},
	} {
		if s, e := splitExt(name); s != want[0] || e != want[1] {
			t.Errorf("splitExt(%q) = %q, %q", name, s, e)
		}
	}
	for in, want := range map[string]string{"": "merge", "  ": "merge", "my/phone\n": "my-phone-", "é\xff": "é-",
		strings.Repeat("é", 40): strings.Repeat("é", 32)} {
		if got := cleanLabel(in); got != want {
			t.Errorf("cleanLabel(%q) = %q, want %q", in, got, want)
		}
	}
	// A long name is cut (at a rune boundary) so the copy's name fits.
	long := "/" + strings.Repeat("名", 83) + ".txt" // 253 bytes
	base, w, l := sides(t, func(b *Tree) {})
	mustPut(t, w, long, 1)
	mustPut(t, l, long, 2)
	r, cs := Merge(base, w, l, strings.Repeat("L", 100))
	if len(cs) != 1 {
		t.Fatalf("conflicts %+v", cs)
	}
	if _, name := parentOf(cs[0].CopyPath); len(name) > MaxNameLen || !strings.HasSuffix(name, ").txt") {
		t.Fatalf("copy name %q (%d bytes)", name, len(name))
	}
	encoded(t, r)
}

// randomOps applies n random operations to tr, writing files with ids from
// *next, on a small set of names so that both sides touch the same paths.
func randomOps(tr *Tree, rng *rand.Rand, n int, next *uint64) {
	randomOpsOn(tr, rng, n, next, []string{"a", "b", "c.txt", "c (conflict dev 00000000).txt"}, 3)
}

// randomOpsOn is randomOps on the given names, in paths up to depth deep.
func randomOpsOn(tr *Tree, rng *rand.Rand, n int, next *uint64, names []string, depth int) {
	randPath := func() string {
		p := ""
		for d := 1 + rng.IntN(depth); d > 0; d-- {
			p += "/" + names[rng.IntN(len(names))]
		}
		return p
	}
	for range n {
		p := randPath()
		switch rng.IntN(11) {
		case 0, 1, 2:
			*next++
			tr.PutFile(p, fileN(*next), true)
		case 3:
			// A parted file: a part shared by every version, one new.
			*next++
			tr.PutFile(p, partedN(1, *next), true)
		case 4:
			tr.Mkdir(p, true)
		case 5, 6:
			tr.Move(p, randPath())
		case 7, 8:
			tr.Remove(p, true)
		case 9:
			tr.SetRedundancy(p, Redundancy{K: uint32(rng.IntN(3)), M: uint32(rng.IntN(3))})
		case 10:
			tr.SetMTime(p, int64(rng.IntN(3)))
		}
	}
}

// written returns the file ids tr holds at a path where base does not
// hold that same file.
func written(base, tr *Tree) map[[32]byte]string {
	b := flatten(base)
	out := make(map[[32]byte]string)
	tr.Walk(func(p string, e *Entry) error {
		if !e.Dir {
			if bf := b.file(p); bf == nil || !bf.Equal(e.File) {
				out[e.File.FileID] = p
			}
		}
		return nil
	})
	return out
}

// contents returns the content ids (File.FileID: a stored file's id, a
// parted file's PartsID) tr holds.
func contents(tr *Tree) map[[32]byte]bool {
	out := map[[32]byte]bool{}
	tr.Walk(func(p string, e *Entry) error {
		if !e.Dir {
			out[e.File.FileID] = true
		}
		return nil
	})
	return out
}

// checkMerge checks the merge properties on one base and two sides.
func checkMerge(t *testing.T, what string, base, w, l *Tree) {
	t.Helper()
	bb, wb, lb := encoded(t, base), encoded(t, w), encoded(t, l)
	r, cs := Merge(base, w, l, "dev")
	rb, err := Encode(r)
	if err != nil {
		t.Fatalf("%s: merged tree does not encode: %v", what, err)
	}
	if _, err := Decode(rb); err != nil {
		t.Fatalf("%s: merged tree does not decode: %v", what, err)
	}
	r2, cs2 := Merge(base, w, l, "dev")
	if !bytes.Equal(encoded(t, r2), rb) || !slices.Equal(cs, cs2) {
		t.Fatalf("%s: Merge is not deterministic", what)
	}
	if rr, rcs := mergeRef(base, w, l, "dev"); !bytes.Equal(encoded(t, rr), rb) || !slices.Equal(cs, rcs) {
		t.Fatalf("%s: Merge differs from the path-map reference\nmerged %v %+v\nreference %v %+v", what, paths(r), cs, paths(rr), rcs)
	}
	if !bytes.Equal(encoded(t, base), bb) || !bytes.Equal(encoded(t, w), wb) || !bytes.Equal(encoded(t, l), lb) {
		t.Fatalf("%s: Merge changed an input", what)
	}
	have := contents(r)
	for side, tr := range map[string]*Tree{"winner": w, "loser": l} {
		for id, p := range written(base, tr) {
			if _, ok := have[id]; !ok {
				t.Fatalf("%s: the %s's file at %s is lost\nbase %v\nwinner %v\nloser %v\nmerged %v",
					what, side, p, paths(base), paths(w), paths(l), paths(r))
			}
		}
	}
	for _, c := range cs {
		if _, err := r.Lookup(c.Path); err != nil {
			t.Fatalf("%s: conflict %+v: path not in the result", what, c)
		}
		if c.CopyPath != "" {
			if e, err := r.Lookup(c.CopyPath); err != nil || e.Dir {
				t.Fatalf("%s: conflict %+v: no copy in the result", what, c)
			}
		}
	}
	if r, cs := Merge(base, w, base, "dev"); !bytes.Equal(encoded(t, r), wb) || len(cs) > 0 {
		t.Fatalf("%s: loser = base did not give the winner (conflicts %+v)", what, cs)
	}
	if r, cs := Merge(base, base, l, "dev"); !bytes.Equal(encoded(t, r), lb) || len(cs) > 0 {
		t.Fatalf("%s: winner = base did not give the loser (conflicts %+v)\nbase %v\nloser %v\nmerged %v", what, cs, paths(base), paths(l), paths(r))
	}
	if r, cs := Merge(base, w, w.Clone(), "dev"); !bytes.Equal(encoded(t, r), wb) || len(cs) > 0 {
		t.Fatalf("%s: identical sides did not give that side (conflicts %+v)", what, cs)
	}
}

// TestMergeProperties checks, for random edits on two devices from one
// base, that nothing written is lost, the one-sided merges give the other
// side, and Merge is deterministic and leaves its inputs alone.
func TestMergeProperties(t *testing.T) {
	iterations := 3000
	if testing.Short() {
		iterations = 300
	}
	for seed := range uint64(iterations) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var next uint64
		base := New()
		randomOps(base, rng, 12, &next)
		w, l := base.Clone(), base.Clone()
		randomOps(w, rng, 1+rng.IntN(8), &next)
		randomOps(l, rng, 1+rng.IntN(8), &next)
		checkMerge(t, fmt.Sprintf("seed %d", seed), base, w, l)
	}
}

// TestMergeWideTrees runs the merge properties on larger trees (more
// names, deeper, more edits), where most subtrees are unchanged.
func TestMergeWideTrees(t *testing.T) {
	names := []string{"a", "b", "c", "d.txt", "e.pdf", "f", "g h", "ü"}
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 2))
		var next uint64
		base := New()
		randomOpsOn(base, rng, 400, &next, names, 4)
		w, l := base.Clone(), base.Clone()
		randomOpsOn(w, rng, rng.IntN(40), &next, names, 4)
		randomOpsOn(l, rng, rng.IntN(40), &next, names, 4)
		checkMerge(t, fmt.Sprintf("wide seed %d (%d entries)", seed, count(base.Root)), base, w, l)
	}
}

// FuzzMerge runs the merge properties on edits drawn from the fuzzer's
// seeds and lengths.
func FuzzMerge(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint8(12), uint8(5), uint8(5))
	f.Add(uint64(7), uint64(7), uint8(30), uint8(20), uint8(1))
	f.Fuzz(func(t *testing.T, s1, s2 uint64, nb, nw, nl uint8) {
		rng := rand.New(rand.NewPCG(s1, s2))
		var next uint64
		base := New()
		randomOps(base, rng, int(nb%40), &next)
		w, l := base.Clone(), base.Clone()
		randomOps(w, rng, int(nw%20), &next)
		randomOps(l, rng, int(nl%20), &next)
		checkMerge(t, "fuzz", base, w, l)
	})
}

func TestMergeNilIsEmpty(t *testing.T) {
	l := New()
	mustPut(t, l, "/a", 1)
	r, cs := Merge(nil, nil, l, "x")
	if !bytes.Equal(encoded(t, r), encoded(t, l)) || len(cs) > 0 {
		t.Fatalf("merge into nothing: %v %v", paths(r), cs)
	}
}
