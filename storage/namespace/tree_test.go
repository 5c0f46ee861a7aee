package namespace

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func TestPutLookupList(t *testing.T) {
	tr := New()
	if _, err := tr.PutFile("/docs/a.pdf", fileN(1), false); !errors.Is(err, ErrNotExist) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("put without parents: %v", err)
	}
	mustPut(t, tr, "/docs/b.pdf", 2)
	mustPut(t, tr, "/docs/a.pdf", 1)
	mustPut(t, tr, "/z", 3)
	old, err := tr.PutFile("/docs/a.pdf", fileN(4), false)
	if err != nil || old == nil || old.FileID != fileN(1).FileID {
		t.Fatalf("overwrite: replaced %v, %v", old, err)
	}
	e, err := tr.Lookup("/docs/a.pdf")
	if err != nil || e.Dir || !e.File.Equal(fileN(4)) || e.MTime != fileN(4).MTime {
		t.Fatalf("lookup: %+v, %v", e, err)
	}
	list, err := tr.List("/docs/")
	if err != nil || len(list) != 2 || list[0].Name != "a.pdf" || list[1].Name != "b.pdf" {
		t.Fatalf("list: %v, %v", list, err)
	}
	_, err = tr.List("/z")
	wantErr(t, "list a file", err, ErrNotDir)
	_, err = tr.Lookup("/z/x")
	wantErr(t, "lookup under a file", err, ErrNotDir)
	_, err = tr.Lookup("/nope")
	wantErr(t, "lookup missing", err, ErrNotExist)
	_, err = tr.PutFile("/docs", fileN(5), false)
	wantErr(t, "put over a dir", err, ErrIsDir)
	_, err = tr.PutFile("/", fileN(5), false)
	wantErr(t, "put at root", err, ErrIsDir)
	_, err = tr.PutFile("/z/x", fileN(5), true)
	wantErr(t, "put under a file", err, ErrNotDir)
	_, err = tr.PutFile("/../x", fileN(5), true)
	wantErr(t, "bad path", err, ErrBadPath)
	f := fileN(6)
	f.Mode = 0o1777
	_, err = tr.PutFile("/m", f, true)
	wantErr(t, "bad mode", err, ErrInvalid)
	f.Mode, f.Redundancy = 0, Redundancy{K: 2, Copies: 3}
	_, err = tr.PutFile("/m", f, true)
	wantErr(t, "bad redundancy", err, ErrInvalid)
	f.Redundancy = Redundancy{}
	if _, err := tr.PutFile("/m", f, true); err != nil {
		t.Fatal(err)
	}
	if e, _ := tr.Lookup("/m"); e.File.Mode != DefaultMode {
		t.Fatalf("mode 0 stored as %#o, want %#o", e.File.Mode, DefaultMode)
	}
	want := []string{"/", "/docs/", "/docs/a.pdf", "/docs/b.pdf", "/m", "/z"}
	if got := paths(tr); !slices.Equal(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
}

func TestFailedPutWithParentsChangesNothing(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/f", 1)
	before := encoded(t, tr)
	if _, err := tr.PutFile("/f/a/b", fileN(2), true); !errors.Is(err, ErrNotDir) {
		t.Fatal(err)
	}
	if err := tr.Mkdir("/f/a/b", true); !errors.Is(err, ErrNotDir) {
		t.Fatal(err)
	}
	if string(encoded(t, tr)) != string(before) {
		t.Fatal("failed operations changed the tree")
	}
}

func TestMkdir(t *testing.T) {
	tr := New()
	wantErr(t, "mkdir missing parent", tr.Mkdir("/a/b", false), ErrNotExist)
	if err := tr.Mkdir("/a/b", true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Mkdir("/a/b", true); err != nil {
		t.Fatalf("mkdir -p existing: %v", err)
	}
	wantErr(t, "mkdir existing", tr.Mkdir("/a/b", false), ErrExist)
	wantErr(t, "mkdir root", tr.Mkdir("/", false), ErrExist)
	mustPut(t, tr, "/a/f", 1)
	wantErr(t, "mkdir over file", tr.Mkdir("/a/f", true), ErrExist)
	wantErr(t, "mkdir under file", tr.Mkdir("/a/f/x", false), ErrNotDir)
	if err := tr.Mkdir("/a/c", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/a/", "/a/b/", "/a/c/", "/a/f"}
	if got := paths(tr); !slices.Equal(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
	deep := strings.Repeat("/d", MaxDepth)
	if err := tr.Mkdir(deep, true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "mkdir too deep", tr.Mkdir(deep+"/e", false), ErrBadPath)
	encoded(t, tr)
}

func TestMove(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/a/x/f1", 1)
	mustPut(t, tr, "/a/x/f2", 2)
	mustPut(t, tr, "/b/g", 3)
	if err := tr.Move("/a/x", "/b/y"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Move("/b/g", "/a/g2"); err != nil {
		t.Fatal(err)
	}
	want := []string{"/", "/a/", "/a/g2", "/b/", "/b/y/", "/b/y/f1", "/b/y/f2"}
	if got := paths(tr); !slices.Equal(got, want) {
		t.Fatalf("walk %v, want %v", got, want)
	}
	if e, _ := tr.Lookup("/b/y/f2"); !e.File.Equal(fileN(2)) {
		t.Fatal("moved file changed")
	}
	wantErr(t, "move onto existing", tr.Move("/a/g2", "/b/y/f1"), ErrExist)
	wantErr(t, "move onto dir", tr.Move("/a/g2", "/b/y"), ErrExist)
	wantErr(t, "move into itself", tr.Move("/b", "/b/y/z"), ErrInvalid)
	wantErr(t, "move root", tr.Move("/", "/q"), ErrInvalid)
	wantErr(t, "move missing", tr.Move("/nope", "/q"), ErrNotExist)
	wantErr(t, "move to missing dir", tr.Move("/a/g2", "/nope/q"), ErrNotExist)
	wantErr(t, "move under a file", tr.Move("/b", "/a/g2/q"), ErrNotDir)
	if err := tr.Move("/b/y", "/b/y"); err != nil {
		t.Fatalf("move onto itself: %v", err)
	}
	if err := tr.Move("/b", "/bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Lookup("/bb/y/f1"); err != nil {
		t.Fatal(err)
	}
	if err := tr.Mkdir(strings.Repeat("/d", MaxDepth-1), true); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "move too deep", tr.Move("/bb", strings.Repeat("/d", MaxDepth-1)+"/bb"), ErrInvalid)
	encoded(t, tr)
}

func TestRemove(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/a/b/f", 1)
	mustPut(t, tr, "/g", 2)
	wantErr(t, "remove non-empty", tr.Remove("/a", false), ErrNotEmpty)
	wantErr(t, "remove root", tr.Remove("/", true), ErrInvalid)
	wantErr(t, "remove missing", tr.Remove("/x", true), ErrNotExist)
	if err := tr.Remove("/g", false); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove("/a", true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Mkdir("/e", false); err != nil {
		t.Fatal(err)
	}
	if err := tr.Remove("/e", false); err != nil {
		t.Fatalf("remove empty dir: %v", err)
	}
	if got := paths(tr); !slices.Equal(got, []string{"/"}) {
		t.Fatalf("left %v", got)
	}
}

func TestRedundancyInheritance(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/a/b/f", 1)
	f := fileN(2)
	f.Redundancy = Redundancy{Copies: 3}
	if _, err := tr.PutFile("/a/b/own", f, false); err != nil {
		t.Fatal(err)
	}
	if r := tr.Redundancy("/a/b/f"); !r.IsZero() {
		t.Fatalf("nothing set: %+v", r)
	}
	root, a := Redundancy{K: 4, M: 2}, Redundancy{M: 3}
	if err := tr.SetRedundancy("/", root); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetRedundancy("/a", a); err != nil {
		t.Fatal(err)
	}
	cases := map[string]Redundancy{
		"/":            root,
		"/x/y":         root, // not there yet: from the root
		"/a":           a,
		"/a/b/f":       a, // whole value, not K from the root
		"/a/b/new/x":   a,
		"/a/b/own":     f.Redundancy,
		"/a/b/own/sub": a, // under a file: from its directory
		"bad":          {},
	}
	for p, want := range cases {
		if got := tr.Redundancy(p); got != want {
			t.Errorf("Redundancy(%q) = %+v, want %+v", p, got, want)
		}
	}
	wantErr(t, "on a file", tr.SetRedundancy("/a/b/f", a), ErrNotDir)
	wantErr(t, "missing", tr.SetRedundancy("/q", a), ErrNotExist)
	for _, r := range []Redundancy{{K: 1, Copies: 2}, {K: 60, M: 5}, {Copies: 65}} {
		wantErr(t, "invalid", tr.SetRedundancy("/a", r), ErrInvalid)
	}
	if err := tr.SetRedundancy("/a", Redundancy{}); err != nil {
		t.Fatal(err)
	}
	if got := tr.Redundancy("/a/b/f"); got != root {
		t.Fatalf("after unset: %+v", got)
	}
}

func TestSetMTime(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/d/f", 1)
	if err := tr.SetMTime("/d", 77); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetMTime("/d/f", 88); err != nil {
		t.Fatal(err)
	}
	d, _ := tr.Lookup("/d")
	f, _ := tr.Lookup("/d/f")
	if d.MTime != 77 || f.MTime != 88 || f.File.MTime != 88 {
		t.Fatalf("mtimes %d %d %d", d.MTime, f.MTime, f.File.MTime)
	}
	encoded(t, tr)
}

func TestWalkSkipDirAndStop(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/a/1", 1)
	mustPut(t, tr, "/b/2", 2)
	mustPut(t, tr, "/c", 3)
	var seen []string
	err := tr.Walk(func(p string, e *Entry) error {
		seen = append(seen, p)
		if p == "/a" {
			return fs.SkipDir
		}
		return nil
	})
	if err != nil || !slices.Equal(seen, []string{"/", "/a", "/b", "/b/2", "/c"}) {
		t.Fatalf("walk %v, %v", seen, err)
	}
	stop := errors.New("stop")
	seen = nil
	err = tr.Walk(func(p string, e *Entry) error {
		seen = append(seen, p)
		if p == "/b/2" {
			return stop
		}
		return nil
	})
	if err != stop || len(seen) != 5 {
		t.Fatalf("walk %v, %v", seen, err)
	}
}

func TestFilesCloneSubtree(t *testing.T) {
	tr := New()
	mustPut(t, tr, "/a/x", 1)
	mustPut(t, tr, "/a/y", 1) // the same stored file twice
	mustPut(t, tr, "/b/z", 2)
	if err := tr.SetRedundancy("/", Redundancy{Copies: 2}); err != nil {
		t.Fatal(err)
	}
	files := tr.Files()
	if len(files) != 2 || files[fileN(1).FileID] != "/a/x" || files[fileN(2).FileID] != "/b/z" {
		t.Fatalf("files %v", files)
	}
	c := tr.Clone()
	if err := c.Remove("/a", true); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Lookup("/a/x"); err != nil {
		t.Fatal("removing from a clone changed the original")
	}
	s, err := tr.Subtree("/a")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(s); !slices.Equal(got, []string{"/", "/x", "/y"}) || s.Root.Redundancy != (Redundancy{Copies: 2}) {
		t.Fatalf("subtree %v %+v", got, s.Root.Redundancy)
	}
	s.Root.Children[0].File.Size = 1
	if e, _ := tr.Lookup("/a/x"); e.File.Size != fileN(1).Size {
		t.Fatal("subtree shares entries with the tree")
	}
	s, err = tr.Subtree("/b/z")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(s); !slices.Equal(got, []string{"/", "/z"}) {
		t.Fatalf("file subtree %v", got)
	}
	encoded(t, s)
	_, err = tr.Subtree("/nope")
	wantErr(t, "subtree missing", err, ErrNotExist)
}
