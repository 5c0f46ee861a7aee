package namespace

import (
	"io/fs"
)

// Errors of the tree operations, Decode and Open; test them with errors.Is.
// Operations on a path return them inside an *fs.PathError naming the
// operation and the path.
var (
	// ErrNotExist: nothing at the path (wraps fs.ErrNotExist).
	ErrNotExist error = &sentinel{"no such file or directory", fs.ErrNotExist}
	// ErrExist: something is already at the path (wraps fs.ErrExist).
	ErrExist error = &sentinel{"file exists", fs.ErrExist}
	// ErrNotDir: a file is where a directory is needed.
	ErrNotDir error = &sentinel{"not a directory", nil}
	// ErrIsDir: a directory is where a file is needed.
	ErrIsDir error = &sentinel{"is a directory", nil}
	// ErrNotEmpty: removing a directory that has entries, without recursive.
	ErrNotEmpty error = &sentinel{"directory not empty", nil}
	// ErrBadPath: the path is not a valid namespace path (wraps fs.ErrInvalid).
	ErrBadPath error = &sentinel{"bad path", fs.ErrInvalid}
	// ErrInvalid: an argument other than the path is invalid (a Redundancy,
	// a Mode), or the operation cannot apply (removing or moving the root,
	// moving a directory into itself). Wraps fs.ErrInvalid.
	ErrInvalid error = &sentinel{"invalid argument", fs.ErrInvalid}
	// ErrFormat: bytes given to Decode, or a tree given to Encode, are not a
	// valid namespace; the message names the entry's path and what is wrong.
	ErrFormat error = &sentinel{"invalid namespace encoding", nil}
	// ErrSealed: a sealed root pointer does not open (malformed, unknown
	// version, wrong key or associated data, or tampered with).
	ErrSealed error = &sentinel{"sealed root pointer does not open", nil}
)

// sentinel is an error with its own message that may also match an io/fs
// error under errors.Is.
type sentinel struct {
	msg  string
	base error
}

func (e *sentinel) Error() string { return "namespace: " + e.msg }

// Unwrap returns the io/fs error this one refines, or nil.
func (e *sentinel) Unwrap() error { return e.base }

var _ error = (*sentinel)(nil)

// pathErr reports err for op on path.
func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}
