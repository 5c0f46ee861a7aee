package api

import (
	"errors"
	"fmt"
	"net/http"
)

// Error classes. A Backend wraps one of these (directly or through its own
// sentinels) to say what kind of failure an error is; StatusOf turns the
// kind into the HTTP status, so the backend never picks status codes. Any
// other error is a 500.
var (
	// ErrInvalid: the request is malformed or names something impossible
	// (a bad capability or file id, wrong key, bad redundancy options).
	ErrInvalid = errors.New("invalid request")
	// ErrForbidden: the account may not do this (not its file, over quota).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the named file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrTooLarge: the request exceeds a size limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnavailable: the network cannot serve the request now (too few
	// holders or pieces reachable); retrying later may work.
	ErrUnavailable = errors.New("unavailable")
	// ErrRange: a get's byte range starts past the end of the file (or is
	// not one range of the form bytes=a-b or bytes=a-).
	ErrRange = errors.New("range not satisfiable")
	// ErrConflict: the request clashes with what is there (a path that
	// exists, a directory that is not empty).
	ErrConflict = errors.New("conflict")
)

// Path error kinds of the namespace calls. Each is one of the classes above
// and travels in an error answer's "kind" field, so a client (the mount)
// can tell them apart: Client errors match them with errors.Is.
var (
	// ErrExist: something is already at the path.
	ErrExist = fmt.Errorf("%w: the path exists", ErrConflict)
	// ErrNotDir: a path component, or the path, is a file, not a directory.
	ErrNotDir = fmt.Errorf("%w: not a directory", ErrConflict)
	// ErrIsDir: the path is a directory where a file was expected.
	ErrIsDir = fmt.Errorf("%w: is a directory", ErrConflict)
	// ErrNotEmpty: a directory to remove is not empty.
	ErrNotEmpty = fmt.Errorf("%w: directory not empty", ErrConflict)
	// ErrNoPath: nothing is at the path.
	ErrNoPath = fmt.Errorf("%w: no such file or directory", ErrNotFound)
)

// kinds names the path error kinds on the wire.
var kinds = []struct {
	name string
	err  error
}{{"exist", ErrExist}, {"not_dir", ErrNotDir}, {"is_dir", ErrIsDir}, {"not_empty", ErrNotEmpty}, {"no_path", ErrNoPath}}

// kindOf is the wire name of err's path error kind, or "".
func kindOf(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return ""
}

// StatusOf is the HTTP status the API answers a Backend error with.
func StatusOf(err error) int {
	var mbe *http.MaxBytesError
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTooLarge), errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrRange):
		return http.StatusRequestedRangeNotSatisfiable
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}
