package mount

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireFUSE skips a test that needs FUSE where it is missing (no
// /dev/fuse, or neither root nor fusermount3), and fails it instead when
// CI=1 is set.
func requireFUSE(t testing.TB) {
	t.Helper()
	why := ""
	if _, err := os.Stat("/dev/fuse"); err != nil {
		why = "no /dev/fuse"
	} else if os.Getuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			why = "not root and no fusermount3 (Debian's fuse3)"
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "1" {
		t.Fatalf("FUSE is unavailable (%s); CI=1 requires it", why)
	}
	t.Skipf("FUSE is unavailable: %s", why)
}

// testLog sends the mount's log lines to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// mountTest mounts b in a fresh directory with cache dir cache (a fresh
// one if empty) and unmounts it when the test ends.
func mountTest(t testing.TB, b Backend, cache string) (string, *Mounted) {
	t.Helper()
	requireFUSE(t)
	dir := t.TempDir()
	return dir, mountAt(t, dir, b, cache)
}

func mountAt(t testing.TB, dir string, b Backend, cache string) *Mounted {
	t.Helper()
	if cache == "" {
		cache = t.TempDir()
	}
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: cache, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return m
}

// eventually waits up to 10 s for cond to hold.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomData(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func TestListReadWriteRenameRemoveThroughTheOS(t *testing.T) {
	b := newMemBackend()
	b.Mkdir(context.Background(), "/docs")
	b.put("/docs/a.txt", []byte("hello"))
	b.put("/top.bin", randomData(3<<20+17, 1))
	dir, _ := mountTest(t, b, "")

	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "docs,top.bin" || !ents[0].IsDir() || ents[1].IsDir() {
		t.Fatalf("root lists %v", names)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "docs/a.txt")); err != nil || string(got) != "hello" {
		t.Fatalf("read docs/a.txt: %q, %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "top.bin")); err != nil || !bytes.Equal(got, randomData(3<<20+17, 1)) {
		t.Fatalf("read top.bin: %d bytes, %v", len(got), err)
	}
	st, err := os.Stat(filepath.Join(dir, "top.bin"))
	if err != nil || st.Size() != 3<<20+17 || st.Mode().Perm() != 0o644 {
		t.Fatalf("stat top.bin: %v, %v", st, err)
	}

	// Write: the content reaches the backend when the file is closed.
	p := filepath.Join(dir, "docs/new.txt")
	if err := os.WriteFile(p, []byte("fresh bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.get("/docs/new.txt"); !ok || string(got) != "fresh bytes" {
		t.Fatalf("backend has %q, %v after close", got, ok)
	}
	// Overwrite and append.
	if err := os.WriteFile(p, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("+more"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get("/docs/new.txt"); string(got) != "v2+more" {
		t.Fatalf("after append the backend has %q", got)
	}
	if got, err := os.ReadFile(p); err != nil || string(got) != "v2+more" {
		t.Fatalf("read back %q, %v", got, err)
	}
	// Truncate by path.
	if err := os.Truncate(p, 2); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.get("/docs/new.txt"); string(got) != "v2" {
		t.Fatalf("after truncate the backend has %q", got)
	}

	// Mkdir, rename (a file, then a directory), remove.
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("mkdir again: %v, want EEXIST", err)
	}
	if err := os.Rename(p, filepath.Join(dir, "sub/moved.txt")); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.get("/docs/new.txt"); ok {
		t.Fatal("the old name is still on the backend")
	}
	if err := os.Rename(filepath.Join(dir, "sub"), filepath.Join(dir, "docs/sub2")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "docs/sub2/moved.txt")); err != nil || string(got) != "v2" {
		t.Fatalf("read after two renames: %q, %v", got, err)
	}
	if got, _ := b.get("/docs/sub2/moved.txt"); string(got) != "v2" {
		t.Fatalf("backend after two renames: %q", got)
	}
	if err := os.Remove(filepath.Join(dir, "docs/sub2")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir of a full directory: %v, want ENOTEMPTY", err)
	}
	if err := os.Remove(filepath.Join(dir, "docs/sub2/moved.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "docs/sub2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "docs/sub2")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat after rmdir: %v", err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("read of a missing file: %v", err)
	}
	if _, err := b.Stat(context.Background(), "/sub"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("backend still has /sub: %v", err)
	}
}

func TestRangeReadsFetchOnlyTheBlocksNeeded(t *testing.T) {
	b := newMemBackend()
	data := randomData(16<<20, 2)
	b.put("/big", data)
	dir, _ := mountTest(t, b, "")
	f, err := os.Open(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := make([]byte, 100)
	if _, err := f.ReadAt(p, 5<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, data[5<<20:5<<20+100]) {
		t.Fatal("range read differs")
	}
	if calls, n := b.readCalls.Load(), b.readBytes.Load(); calls != 1 || n != DefaultBlockSize {
		t.Fatalf("100 bytes at 5 MiB fetched %d bytes in %d calls, want one block of %d", n, calls, DefaultBlockSize)
	}
	// A range across a block boundary: two blocks, the one before cached.
	p = make([]byte, 4096)
	if _, err := f.ReadAt(p, 6<<20-2048); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, data[6<<20-2048:6<<20+2048]) {
		t.Fatal("read across blocks differs")
	}
	if calls, n := b.readCalls.Load(), b.readBytes.Load(); calls != 2 || n != 2*DefaultBlockSize {
		t.Fatalf("after a read across blocks 5 and 6: %d bytes in %d calls, want 2 blocks", n, calls)
	}
	// The whole file, read twice: each block fetched once.
	for range 2 {
		got, err := os.ReadFile(filepath.Join(dir, "big"))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("whole read: %d bytes, %v", len(got), err)
		}
	}
	if calls, n := b.readCalls.Load(), b.readBytes.Load(); calls != 16 || n != int64(len(data)) {
		t.Fatalf("reading all twice fetched %d bytes in %d calls, want each of 16 blocks once", n, calls)
	}
}

func TestAnotherDevicesChangeShowsUp(t *testing.T) {
	b := newMemBackend()
	b.put("/f", []byte("one"))
	dir, _ := mountTest(t, b, "")
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "one" {
		t.Fatalf("%q, %v", got, err)
	}
	b.put("/f", []byte("second version"))
	b.put("/g", []byte("new file"))
	eventually(t, "the other device's write", func() bool {
		got, err := os.ReadFile(filepath.Join(dir, "f"))
		return err == nil && string(got) == "second version"
	})
	eventually(t, "the other device's new file", func() bool {
		got, err := os.ReadFile(filepath.Join(dir, "g"))
		return err == nil && string(got) == "new file"
	})
}

// TestOfflineReadsFromTheCache: what one mount read stays readable by the
// next mount on the same cache while the backend is offline; what was
// never read fails with EIO, and a write fails at close with its bytes
// kept under unsent/.
func TestOfflineReadsFromTheCache(t *testing.T) {
	b := newMemBackend()
	b.Mkdir(context.Background(), "/d")
	cached := randomData(2<<20+5, 3)
	b.put("/d/cached", cached)
	b.put("/d/never-read", []byte("not cached"))
	cache := t.TempDir()
	requireFUSE(t)
	dir := t.TempDir()
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: cache, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadDir(filepath.Join(dir, "d")); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "d/cached")); err != nil || !bytes.Equal(got, cached) {
		t.Fatalf("online read: %v", err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}

	b.offline.Store(true)
	mountAt(t, dir, b, cache)
	ents, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("offline listing: %v, %v", ents, err)
	}
	calls := b.readCalls.Load()
	if got, err := os.ReadFile(filepath.Join(dir, "d/cached")); err != nil || !bytes.Equal(got, cached) {
		t.Fatalf("offline read of a cached file: %d bytes, %v", len(got), err)
	}
	if b.readCalls.Load() != calls {
		t.Fatal("the offline read reached the backend")
	}
	if _, err := os.ReadFile(filepath.Join(dir, "d/never-read")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("offline read of an uncached file: %v, want EIO", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "d/missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("offline stat of a name the listing lacks: %v, want ENOENT", err)
	}
	f, err := os.Create(filepath.Join(dir, "d/offline.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("written offline"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close of an offline write: %v, want EIO", err)
	}
	kept, _ := filepath.Glob(filepath.Join(cache, "unsent", "*-d_offline.txt"))
	if len(kept) != 1 {
		t.Fatalf("unsent/ holds %v", kept)
	}
	if got, _ := os.ReadFile(kept[0]); string(got) != "written offline" {
		t.Fatalf("kept bytes %q", got)
	}
	if err := os.Mkdir(filepath.Join(dir, "d/x"), 0o755); !errors.Is(err, syscall.EIO) {
		t.Fatalf("offline mkdir: %v, want EIO", err)
	}
}

func TestBackendPanicsAndErrorsDoNotStopTheMount(t *testing.T) {
	b := newMemBackend()
	b.put("/ok", []byte("fine"))
	b.put("/boom", []byte("x"))
	b.panicPath.Store("/boom")
	dir, _ := mountTest(t, b, "")
	if _, err := os.Stat(filepath.Join(dir, "boom")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("stat of a path whose Stat panics: %v, want EIO", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "ok")); err != nil || string(got) != "fine" {
		t.Fatalf("the mount after a panic: %q, %v", got, err)
	}
}

func TestUnmountWhenTheContextEnds(t *testing.T) {
	requireFUSE(t)
	b := newMemBackend()
	b.put("/f", []byte("x"))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := Mount(ctx, dir, b, Options{CacheDir: t.TempDir(), Log: testLog(t)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	cancel() // as on SIGINT
	m.Wait()
	if mounted(t, dir) {
		t.Fatal("still mounted after the context ended")
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the mount point still shows the namespace: %v", err)
	}
}

// mounted reports whether dir is a mount point (from /proc/self/mountinfo).
func mounted(t testing.TB, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func TestBadOptionsAreRejected(t *testing.T) {
	b := newMemBackend()
	for _, o := range []Options{{}, {CacheDir: "x", BlockSize: 1000}, {CacheDir: "x", CacheBytes: -1}, {CacheDir: "x", Timeout: -time.Second}} {
		if _, err := Mount(context.Background(), t.TempDir(), b, o); err == nil {
			t.Errorf("Mount with %+v succeeded", o)
		}
	}
	if _, err := Mount(context.Background(), t.TempDir(), nil, Options{CacheDir: t.TempDir()}); err == nil {
		t.Error("Mount with a nil Backend succeeded")
	}
	if _, err := Mount(context.Background(), filepath.Join(t.TempDir(), "missing"), b, Options{CacheDir: t.TempDir()}); err == nil {
		t.Error("Mount on a missing directory succeeded")
	}
}

func TestErrno(t *testing.T) {
	for _, c := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fs.ErrNotExist, syscall.ENOENT},
		{fs.ErrExist, syscall.EEXIST},
		{ErrNotDir, syscall.ENOTDIR},
		{ErrIsDir, syscall.EISDIR},
		{ErrNotEmpty, syscall.ENOTEMPTY},
		{fs.ErrInvalid, syscall.EINVAL},
		{fs.ErrPermission, syscall.EACCES},
		{ErrOffline, syscall.EIO},
		{syscall.ECONNREFUSED, syscall.EIO},
		{context.Canceled, syscall.EINTR},
		{errors.New("other"), syscall.EIO},
	} {
		if got := Errno(c.err); got != c.want {
			t.Errorf("Errno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	// A daemon that is not running: the dial error counts as offline.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := net.Dial("tcp", addr); err == nil || !offline(fmt.Errorf("api: no node answers: %w", err)) {
		t.Fatalf("a refused connection (%v) is not offline", err)
	}
}

func TestMountingTwiceAtOneDirectoryFails(t *testing.T) {
	dir, _ := mountTest(t, newMemBackend(), "")
	_, err := Mount(context.Background(), dir, newMemBackend(), Options{CacheDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "already a mount point") {
		t.Fatalf("second mount: %v", err)
	}
	if got := unescapeMountinfo(`/tmp/a\040b\134c`); got != `/tmp/a b\c` {
		t.Fatalf("unescape: %q", got)
	}
}

// TestUnmountLeavesNoGoroutines: after a mount is used and unmounted, the
// goroutines go back to what they were.
func TestUnmountLeavesNoGoroutines(t *testing.T) {
	requireFUSE(t)
	before := runtime.NumGoroutine()
	b := newMemBackend()
	b.put("/f", randomData(3<<20, 7))
	dir := t.TempDir()
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: t.TempDir(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the mount's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
