// Package dirlock keeps two processes from using one directory at once: a
// process takes an exclusive advisory lock (flock) on a lock file in the
// directory and holds it while it runs. The kernel drops the lock when the
// process exits in any way, kill -9 included, so a crash never leaves a
// stale lock behind; the pid written into the file only serves the error
// message of the process that is refused.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrLocked reports a directory whose lock another process holds.
var ErrLocked = errors.New("in use by another process")

// LockedError is the error of Acquire on a directory another process holds.
// It matches ErrLocked.
type LockedError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's process id as it wrote it into the lock file (0
	// if unknown).
	PID int
}

func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s: %v (pid %d holds the lock)", e.Path, ErrLocked, e.PID)
	}
	return fmt.Sprintf("%s: %v", e.Path, ErrLocked)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held directory lock.
type Lock struct {
	f    *os.File
	path string
}

// Acquire takes the lock file name in dir (creating the file if needed; dir
// must exist) without waiting: if another process holds it, it fails at once with a
// *LockedError. A lock taken twice in one process is refused too. Release
// the lock when done; it is released anyway when the process exits.
func Acquire(dir, name string) (*Lock, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dirlock: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errWouldBlock) {
			return nil, &LockedError{Path: path, PID: readPID(path)}
		}
		return nil, fmt.Errorf("dirlock: locking %s: %w", path, err)
	}
	// The pid is for the message of a process that is refused; failing to
	// write it does not weaken the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: path}, nil
}

// Path is the lock file.
func (l *Lock) Path() string { return l.path }

// Release drops the lock. The file stays (removing it could race another
// process that has just opened it); a second Release is a no-op.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the only descriptor drops the flock
	l.f = nil
	return err
}

// readPID is the pid written in a lock file, or 0.
func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
