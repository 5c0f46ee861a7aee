package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Info describes one entry of the namespace.
type Info struct {
	// Path is the entry's full path: "/" for the root, "/docs/a.txt"
	// below it (slash-separated, no trailing slash).
	Path string
	// Name is the last element of Path ("" for the root).
	Name string
	// Dir is true for a directory.
	Dir bool
	// Size is a file's length in bytes (0 for directories).
	Size uint64
	// MTime is when the entry last changed (zero if unknown).
	MTime time.Time
	// Mode holds the permission bits (0 means 0644 for files, 0755 for
	// directories); type bits are ignored, Dir says the type.
	Mode fs.FileMode
	// FileID names a file's content (zero for directories). Content is
	// immutable per id, so the mount caches read blocks by it; a file
	// whose content changes gets a new id.
	FileID [32]byte
}

// Backend is the namespace the mount shows: the daemon's namespace
// endpoints in `coop mount`, an in-memory fake in tests.
//
// Paths are as in Info.Path. Methods are called from many goroutines at
// once (one per FUSE request) and must be safe for that. Errors wrap the
// io/fs sentinels fs.ErrNotExist, fs.ErrExist, fs.ErrInvalid and
// fs.ErrPermission, or this package's ErrNotDir, ErrIsDir, ErrNotEmpty and
// ErrOffline; anything else reaches the program using the mount as EIO.
// ErrOffline (or an error wrapping syscall.ECONNREFUSED) means the daemon
// or the network is unreachable: the mount then answers from its cache.
// A panicking Backend fails the one request (EIO), not the mount.
type Backend interface {
	// Stat describes the entry at path.
	Stat(ctx context.Context, path string) (Info, error)
	// List describes the entries of the directory at path, in any order.
	List(ctx context.Context, path string) ([]Info, error)
	// ReadAt reads len(p) bytes at off of the file content fileID (the
	// version the mount opened; path is where it was found, as a hint). It
	// returns fewer bytes only at the end of the content, with io.EOF or
	// nil, like io.ReaderAt. It should fetch no more of the file than the
	// range asks for.
	ReadAt(ctx context.Context, path string, fileID [32]byte, p []byte, off int64) (int, error)
	// WriteFile stores size bytes read from src (positioned at its start)
	// as the file at path, replacing the file there, and commits them: it
	// returns once every device sees the new content. The parent directory
	// must exist. It returns the new entry.
	WriteFile(ctx context.Context, path string, src *os.File, size int64) (Info, error)
	// Mkdir makes an empty directory at path; its parent must exist
	// (fs.ErrNotExist) and path must not (fs.ErrExist).
	Mkdir(ctx context.Context, path string) error
	// Rename moves the entry at from to to. An existing file at to is
	// replaced; an existing empty directory is replaced by a directory.
	// A file over a directory is ErrIsDir, a directory over a file
	// ErrNotDir, a directory over a non-empty one ErrNotEmpty, and moving
	// a directory into itself fs.ErrInvalid.
	Rename(ctx context.Context, from, to string) error
	// Remove deletes the file or empty directory at path (ErrNotEmpty for
	// a directory with entries).
	Remove(ctx context.Context, path string) error
}

// Streamer is a Backend that can also stream a file's content: the mount
// then serves a sequential read of an open file from one stream (the
// daemon's get, as `coop get` reads) rather than a ranged read per block,
// and falls back to ReadAt for the blocks of other reads.
type Streamer interface {
	// OpenStream reads the file content fileID (path as in ReadAt) from
	// off to its end. Closing the reader (or ending ctx) stops the read.
	// It may fetch ahead of what is read, as far as flow control lets it.
	OpenStream(ctx context.Context, path string, fileID [32]byte, off int64) (io.ReadCloser, error)
}

// Errors a Backend returns besides the io/fs sentinels.
var (
	// ErrNotDir: a path element that should be a directory is a file.
	ErrNotDir = errors.New("mount: not a directory")
	// ErrIsDir: a file operation named a directory.
	ErrIsDir = errors.New("mount: is a directory")
	// ErrNotEmpty: the directory has entries.
	ErrNotEmpty = errors.New("mount: directory not empty")
	// ErrOffline: the daemon or the network cannot be reached now.
	ErrOffline = errors.New("mount: offline")
)

// offline reports whether err means the backend cannot be reached.
func offline(err error) bool {
	return errors.Is(err, ErrOffline) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH)
}

// Errno is the errno the mount answers a Backend error with: ENOENT,
// EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL, EACCES, EINTR for a
// cancelled request, and EIO for ErrOffline and anything else.
func Errno(err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, fs.ErrInvalid):
		return syscall.EINVAL
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case offline(err):
		return syscall.EIO
	case errors.As(err, &errno) && errno != 0:
		return errno
	}
	return syscall.EIO
}

// safeBackend turns a Backend's panic into an error of the one call.
type safeBackend struct{ b Backend }

var _ Backend = safeBackend{}

func recovered(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("mount: backend %s panicked: %v", op, r)
	}
}

// Stat calls the Backend's, a panic turned into an error.
func (s safeBackend) Stat(ctx context.Context, path string) (i Info, err error) {
	defer recovered("Stat", &err)
	return s.b.Stat(ctx, path)
}

// List calls the Backend's, a panic turned into an error.
func (s safeBackend) List(ctx context.Context, path string) (l []Info, err error) {
	defer recovered("List", &err)
	return s.b.List(ctx, path)
}

// ReadAt calls the Backend's, a panic turned into an error.
func (s safeBackend) ReadAt(ctx context.Context, path string, id [32]byte, p []byte, off int64) (n int, err error) {
	defer recovered("ReadAt", &err)
	return s.b.ReadAt(ctx, path, id, p, off)
}

// WriteFile calls the Backend's, a panic turned into an error.
func (s safeBackend) WriteFile(ctx context.Context, path string, src *os.File, size int64) (i Info, err error) {
	defer recovered("WriteFile", &err)
	return s.b.WriteFile(ctx, path, src, size)
}

// Mkdir calls the Backend's, a panic turned into an error.
func (s safeBackend) Mkdir(ctx context.Context, path string) (err error) {
	defer recovered("Mkdir", &err)
	return s.b.Mkdir(ctx, path)
}

// Rename calls the Backend's, a panic turned into an error.
func (s safeBackend) Rename(ctx context.Context, from, to string) (err error) {
	defer recovered("Rename", &err)
	return s.b.Rename(ctx, from, to)
}

// Remove calls the Backend's, a panic turned into an error.
func (s safeBackend) Remove(ctx context.Context, path string) (err error) {
	defer recovered("Remove", &err)
	return s.b.Remove(ctx, path)
}

// safeStreamer turns a Streamer's panic into an error of the one call.
type safeStreamer struct{ s Streamer }

// OpenStream calls the Streamer's, a panic turned into an error.
func (s safeStreamer) OpenStream(ctx context.Context, path string, id [32]byte, off int64) (rc io.ReadCloser, err error) {
	defer recovered("OpenStream", &err)
	return s.s.OpenStream(ctx, path, id, off)
}
