package mount

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// writeTree makes a small tree of files of assorted sizes under root.
func writeTree(t *testing.T, root string) {
	t.Helper()
	sizes := []int{0, 1, 4095, 4096, 1 << 20, 1<<20 + 1, 3<<20 + 333}
	for i, n := range sizes {
		sub := filepath.Join(root, fmt.Sprintf("d%d", i%3), fmt.Sprintf("e%d", i%2))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%d.bin", i)), randomData(n, byte(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCpAndDiffOfATree: cp -r into the mount, diff -r against the source,
// then the other way, and rm -r.
func TestCpAndDiffOfATree(t *testing.T) {
	for _, tool := range []string{"cp", "diff", "rm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	b := newMemBackend()
	dir, _ := mountTest(t, b, "")
	src := t.TempDir()
	writeTree(t, filepath.Join(src, "tree"))
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("cp", "-r", filepath.Join(src, "tree"), dir)
	run("diff", "-r", filepath.Join(src, "tree"), filepath.Join(dir, "tree"))
	back := t.TempDir()
	run("cp", "-r", filepath.Join(dir, "tree"), back)
	run("diff", "-r", filepath.Join(src, "tree"), filepath.Join(back, "tree"))
	if got, ok := b.get("/tree/d0/e0/f6.bin"); !ok || !bytes.Equal(got, randomData(3<<20+333, 6)) {
		t.Fatal("the backend lacks a copied file")
	}
	run("rm", "-r", filepath.Join(dir, "tree"))
	if l, err := b.List(t.Context(), "/"); err != nil || len(l) != 0 {
		t.Fatalf("after rm -r the root lists %v, %v", l, err)
	}
}

// TestConcurrentReadersAndWriters: many files written and read at once
// through the mount.
func TestConcurrentReadersAndWriters(t *testing.T) {
	b := newMemBackend()
	shared := randomData(4<<20, 9)
	b.put("/shared", shared)
	dir, _ := mountTest(t, b, "")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			data := randomData(200<<10+i, byte(i))
			p := filepath.Join(dir, fmt.Sprintf("w%d", i))
			if err := os.WriteFile(p, data, 0o644); err != nil {
				errs <- err
				return
			}
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, data) {
				errs <- fmt.Errorf("w%d read back: %d bytes, %v", i, len(got), err)
			}
		}()
		go func() {
			defer wg.Done()
			if got, err := os.ReadFile(filepath.Join(dir, "shared")); err != nil || !bytes.Equal(got, shared) {
				errs <- fmt.Errorf("shared: %d bytes, %v", len(got), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := b.readBytes.Load(); n != int64(len(shared)) {
		t.Errorf("8 concurrent readers fetched %d bytes of a %d-byte file, want each block once", n, len(shared))
	}
}

// TestFsyncSendsOnceAndReadsSeeTheHandlesWrites: a read-write handle
// reads what it wrote; fsync sends the file, and close after it sends
// nothing more.
func TestFsyncSendsOnceAndReadsSeeTheHandlesWrites(t *testing.T) {
	b := newMemBackend()
	b.put("/f", []byte("0123456789"))
	dir, _ := mountTest(t, b, "")
	f, err := os.OpenFile(filepath.Join(dir, "f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("AB"), 3); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 10)
	if _, err := f.ReadAt(p, 0); err != nil || string(p) != "012AB56789" {
		t.Fatalf("read through the writing handle: %q, %v", p, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "f")); err != nil || st.Size() != 10 {
		t.Fatalf("stat while writing: %v, %v", st, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get("/f"); string(got) != "012AB56789" || b.writeCalls.Load() != 1 {
		t.Fatalf("after fsync the backend has %q after %d writes", got, b.writeCalls.Load())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := b.writeCalls.Load(); n != 1 {
		t.Fatalf("close after fsync sent the file again (%d writes)", n)
	}
	// Opened for writing and closed unchanged: nothing sent.
	f2, err := os.OpenFile(filepath.Join(dir, "f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	if n := b.writeCalls.Load(); n != 1 {
		t.Fatalf("an unchanged writer sent the file (%d writes)", n)
	}
}

// TestOpenFilesKeepTheirVersionAndWritesFollowRenames covers what happens
// to open files: a reader keeps reading the version it opened while
// another device replaces the file; a file being written is readable by
// another descriptor before its close; renamed before its close, it is
// sent under its new name; removed before its close, it is not sent.
func TestOpenFilesKeepTheirVersionAndWritesFollowRenames(t *testing.T) {
	b := newMemBackend()
	old := randomData(3<<20, 4)
	b.put("/f", old)
	dir, _ := mountTest(t, b, "")
	r, err := os.Open(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b.put("/f", randomData(3<<20, 5)) // another device
	got := make([]byte, len(old))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, old) {
		t.Fatalf("the open reader lost its version: %v", err)
	}

	w, err := os.Create(filepath.Join(dir, "draft"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString("draft text"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "draft")); err != nil || string(got) != "draft text" {
		t.Fatalf("reading a file being written: %q, %v", got, err)
	}
	if err := os.Rename(filepath.Join(dir, "draft"), filepath.Join(dir, "final")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.get("/final"); !ok || string(got) != "draft text" {
		t.Fatalf("the renamed write reached the backend as %q, %v", got, ok)
	}
	if _, ok := b.get("/draft"); ok {
		t.Fatal("the write was sent under its first name")
	}

	w, err = os.Create(filepath.Join(dir, "scratch"))
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString("gone")
	if err := os.Remove(filepath.Join(dir, "scratch")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.get("/scratch"); ok {
		t.Fatal("a file removed before its close was sent")
	}

	// ftruncate through the handle, chmod and touch accepted.
	w, err = os.OpenFile(filepath.Join(dir, "final"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(5); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get("/final"); string(got) != "draft" {
		t.Fatalf("after ftruncate the backend has %q", got)
	}
	if err := os.Chmod(filepath.Join(dir, "final"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := os.Chtimes(filepath.Join(dir, "final"), now, now); err != nil {
		t.Fatal(err)
	}
}

// TestListingAnswersLookups: ls -l of a directory asks the backend for
// the listing, not for each entry.
func TestListingAnswersLookups(t *testing.T) {
	b := newMemBackend()
	b.Mkdir(t.Context(), "/d")
	for i := range 50 {
		b.put(fmt.Sprintf("/d/f%02d", i), []byte{byte(i)})
	}
	dir, _ := mountTest(t, b, "")
	before := b.statCalls.Load()
	ents, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil || len(ents) != 50 {
		t.Fatalf("%d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if _, err := e.Info(); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.statCalls.Load() - before; n > 5 {
		t.Fatalf("listing and stat of 50 entries made %d Stat calls", n)
	}
}
