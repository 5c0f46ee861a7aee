package api

import (
	"errors"
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
)

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
	}
	return http.StatusInternalServerError
}
