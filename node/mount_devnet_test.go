package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/mount"
)

// requireFUSE skips a test that needs FUSE where it is missing, and fails
// it instead when CI=1 is set (node/mount's rule).
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

// mountNode mounts node n's namespace through its API, as `coop mount`
// does, until the test ends.
func mountNode(t testing.TB, ctx context.Context, n *Node) string {
	t.Helper()
	return mountBackend(t, ctx, mount.NewAPIBackend(apiClient(t, n)))
}

// mountBackend mounts b until the test ends.
func mountBackend(t testing.TB, ctx context.Context, b mount.Backend) string {
	t.Helper()
	dir := t.TempDir()
	m, err := mount.Mount(ctx, dir, b, mount.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// TestMountOnTwoDevices: a directory of mixed files copied with cp -r into
// the mount of one device of an account reads back identical (diff -r)
// through the mount of its other device, and a file changed through one
// mount shows its new contents through the other.
func TestMountOnTwoDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	requireFUSE(t)
	for _, tool := range []string{"cp", "diff"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	net := StartTestNetwork(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	a, d := net.Nodes[0], net.Nodes[1]
	addDevice(t, ctx, a, d, "laptop")
	ma, md := mountNode(t, ctx, a), mountNode(t, ctx, d)

	src := filepath.Join(t.TempDir(), "photos")
	files := map[string]int{"a.txt": 13, "empty": 0, "sub/big.bin": 2<<20 + 4321, "sub/deeper/c.json": 700}
	for name, size := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		_, _ = rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.CommandContext(ctx, "cp", "-r", src, ma).CombinedOutput(); err != nil {
		t.Fatalf("cp -r into the mount: %v\n%s", err, out)
	}
	// Each close committed before cp went on: the other device sees it
	// once its kernel's entry cache (1 s) lapses.
	waitFor(t, "diff -r through the other device's mount", func() error {
		out, err := exec.CommandContext(ctx, "diff", "-r", src, filepath.Join(md, "photos")).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})

	// An edit through the device's mount reaches the first device's.
	edited := []byte("changed on the laptop\n")
	if err := os.WriteFile(filepath.Join(md, "photos", "a.txt"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the edit through the other mount", func() error {
		got, err := os.ReadFile(filepath.Join(ma, "photos", "a.txt"))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, edited) {
			return errors.New("old contents")
		}
		return nil
	})
	// The namespace has the tree too, for the CLI.
	l, err := apiClient(t, a).List(ctx, "/photos/sub", 0)
	if err != nil || len(l.Entries) != 2 {
		t.Fatalf("ls /photos/sub: %+v, %v", l, err)
	}
}

// The environment that makes the test binary a mount process of the node
// whose home mountProcessEnv names, at mountDirEnv, with its cache at
// mountCacheEnv: what `coop mount` does.
const (
	mountProcessEnv = "COOP_TEST_MOUNT_HOME"
	mountDirEnv     = "COOP_TEST_MOUNT_DIR"
	mountCacheEnv   = "COOP_TEST_MOUNT_CACHE"
)

// runMountProcess mounts the namespace of the node in home at dir, says
// "ready" and serves until killed.
func runMountProcess(home, dir, cache string) int {
	c, err := api.NewClientFromHome(home)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := mount.Mount(context.Background(), dir, mount.NewAPIBackend(c), mount.Options{CacheDir: cache})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	m.Wait()
	return 0
}

// TestKill9OfTheMountProcessDuringAWrite: a mount process of a real node,
// killed with SIGKILL halfway through writing a new version of a file,
// leaves the previous version on the ledger and readable, through the API
// and through a new mount at the same directory (which clears the dead
// one).
func TestKill9OfTheMountProcessDuringAWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	requireFUSE(t)
	net := StartTestNetwork(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := net.Nodes[0]
	c := apiClient(t, a)
	v1 := make([]byte, 3<<20)
	_, _ = rand.Read(v1)
	put, err := c.PutPath(ctx, bytes.NewReader(v1), int64(len(v1)), "/doc.bin", api.PathPutOptions{PutOptions: api.PutOptions{Copies: 2}})
	if err != nil {
		t.Fatal(err)
	}
	dir, cache := t.TempDir(), t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), mountProcessEnv+"="+a.cfg.Home, mountDirEnv+"="+dir, mountCacheEnv+"="+cache)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("mount process: %q, %v; stderr: %s", line, err, stderr.String())
	}
	if got, err := os.ReadFile(filepath.Join(dir, "doc.bin")); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("version 1 through the mount process: %v, bit-exact %v", err, bytes.Equal(got, v1))
	}
	f, err := os.OpenFile(filepath.Join(dir, "doc.bin"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte("version 2 "), 200_000)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	_ = f.Close() // the server is gone

	l, err := c.List(ctx, "/", 0)
	if err != nil || l.Version != put.Version {
		t.Fatalf("namespace after the crash: %+v, %v; want version %d unchanged", l, err, put.Version)
	}
	if got, err := readPath(ctx, c, "/doc.bin", 0); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("version 1 through the API after the crash: %v, bit-exact %v", err, bytes.Equal(got, v1))
	}
	m, err := mount.Mount(ctx, dir, mount.NewAPIBackend(c), mount.Options{CacheDir: cache})
	if err != nil {
		t.Fatalf("mounting again over the dead mount: %v", err)
	}
	defer m.Unmount()
	if got, err := os.ReadFile(filepath.Join(dir, "doc.bin")); err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("version 1 through the new mount: %v, bit-exact %v", err, bytes.Equal(got, v1))
	}
}
