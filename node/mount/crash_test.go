package mount

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Environment of the helper process: a mount of the namespace saved in
// the state file, at the dir, until it is killed.
const (
	helperState = "COOP_MOUNT_TEST_STATE"
	helperDir   = "COOP_MOUNT_TEST_DIR"
	helperCache = "COOP_MOUNT_TEST_CACHE"
)

func TestMain(m *testing.M) {
	if state := os.Getenv(helperState); state != "" {
		os.Exit(runHelper(state, os.Getenv(helperDir), os.Getenv(helperCache)))
	}
	os.Exit(m.Run())
}

// runHelper mounts, says "ready" on stdout, and serves until killed.
func runHelper(state, dir, cache string) int {
	b, err := loadMemBackend(state)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: cache})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	m.Wait()
	return 0
}

// startHelper runs the test binary as a mount process and waits for it
// to be ready.
func startHelper(t *testing.T, state, dir, cache string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperState+"="+state, helperDir+"="+dir, helperCache+"="+cache)
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
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("mount process: %q, %v; stderr: %s", line, err, stderr.String())
	}
	return cmd
}

// crashDuringWrite opens the file for writing through the helper's mount,
// writes without closing, and kills the helper with SIGKILL.
func crashDuringWrite(t *testing.T, cmd *exec.Cmd, file string) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("version 2, never closed"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	f.Close() // fails: the server is gone
}

// TestKill9DuringAWriteLeavesThePreviousVersionAndRecovers: a mount
// process killed with SIGKILL in the middle of a write leaves a stale
// mount point ("transport endpoint is not connected"); Recover clears it,
// Mount clears it by itself, the namespace still has the previous
// version, and the uncommitted bytes are kept under unsent/.
func TestKill9DuringAWriteLeavesThePreviousVersionAndRecovers(t *testing.T) {
	requireFUSE(t)
	state := filepath.Join(t.TempDir(), "namespace.json")
	b := newMemBackend()
	b.statePath = state
	b.put("/doc.txt", []byte("version 1"))
	dir, cache := t.TempDir(), t.TempDir()

	cmd := startHelper(t, state, dir, cache)
	if got, err := os.ReadFile(filepath.Join(dir, "doc.txt")); err != nil || string(got) != "version 1" {
		t.Fatalf("through the mount process: %q, %v", got, err)
	}
	crashDuringWrite(t, cmd, filepath.Join(dir, "doc.txt"))
	if _, err := os.Stat(dir); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}
	if ok, err := Recover(dir); !ok || err != nil {
		t.Fatalf("Recover = %v, %v; want a stale mount cleared", ok, err)
	}
	if ok, err := Recover(dir); ok || err != nil {
		t.Fatalf("Recover of a clean directory = %v, %v", ok, err)
	}
	if mounted(t, dir) {
		t.Fatal("still a mount point after Recover")
	}

	// Again, and this time Mount itself clears the stale mount.
	cmd = startHelper(t, state, dir, cache)
	crashDuringWrite(t, cmd, filepath.Join(dir, "doc.txt"))
	b2, err := loadMemBackend(state)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b2.get("/doc.txt"); string(got) != "version 1" {
		t.Fatalf("the namespace after the crash has %q", got)
	}
	mountAt(t, dir, b2, cache)
	if got, err := os.ReadFile(filepath.Join(dir, "doc.txt")); err != nil || string(got) != "version 1" {
		t.Fatalf("after recovery: %q, %v", got, err)
	}
	kept, _ := filepath.Glob(filepath.Join(cache, "unsent", "crashed-*"))
	found := false
	for _, k := range kept {
		if b, _ := os.ReadFile(k); string(b) == "version 2, never closed" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the uncommitted write is not kept under unsent/: %v", kept)
	}
}
