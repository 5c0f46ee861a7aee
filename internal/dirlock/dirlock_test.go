package dirlock

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

// childEnv names the directory the test binary locks when it runs as the
// holder child of TestKilledHolderLeavesNoStaleLock.
const childEnv = "COOP_DIRLOCK_CHILD_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		l, err := Acquire(dir, "test.lock")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(2)
		}
		fmt.Println("locked", l.Path())
		select {} // hold it until killed
	}
	os.Exit(m.Run())
}

func TestSecondAcquireIsRefusedUntilReleased(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir, "test.lock")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir, "test.lock")
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second Acquire: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	l2, err := Acquire(dir, "test.lock")
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// TestKilledHolderLeavesNoStaleLock locks a directory from another process,
// checks that this one is refused with the holder's pid, kills the holder
// with SIGKILL and takes the lock at once: the kernel released it.
func TestKilledHolderLeavesNoStaleLock(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		line <- sc.Text()
	}()
	select {
	case l := <-line:
		if len(l) < 6 || l[:6] != "locked" {
			t.Fatalf("child: %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the child did not take the lock within 30s")
	}

	_, err = Acquire(dir, "test.lock")
	var le *LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Fatalf("Acquire while the child holds the lock: %v, want ErrLocked naming pid %d", err, cmd.Process.Pid)
	}

	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	killed = true
	l, err := Acquire(dir, "test.lock")
	if err != nil {
		t.Fatalf("Acquire after the holder was killed: %v", err)
	}
	l.Release()
}
