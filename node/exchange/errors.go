package exchange

import (
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Errors a caller can test with errors.Is. A *RemoteError from a peer's
// Response matches the sentinel of its status.
var (
	ErrNotFound     = errors.New("exchange: piece not found")
	ErrRejected     = errors.New("exchange: refused") // a push or receipt request the peer declined
	ErrBusy         = errors.New("exchange: peer busy")
	ErrTooLarge     = errors.New("exchange: size over limit")
	ErrHashMismatch = errors.New("exchange: piece bytes do not match the piece id")
	ErrBadVersion   = errors.New("exchange: unsupported protocol version")
	ErrRemote       = errors.New("exchange: peer failed")
	ErrClosed       = errors.New("exchange: closed")
	ErrUnreachable  = errors.New("exchange: peer unreachable")
)

// UnreachableError is a failure to open a stream to a peer (dial or
// protocol negotiation). Its text is one line; Err keeps libp2p's details.
type UnreachableError struct {
	Peer peer.ID
	Err  error
}

// Error names the peer and the first line of the dial error.
func (e *UnreachableError) Error() string {
	msg := e.Err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return fmt.Sprintf("exchange: peer %s unreachable: %s", shortID(e.Peer), msg)
}

// Unwrap returns the libp2p error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes an UnreachableError match ErrUnreachable.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// RemoteError is a non-OK Response from a peer.
type RemoteError struct {
	Peer    peer.ID
	Status  Status
	Message string
}

// Error names the peer, the status and its reason.
func (e *RemoteError) Error() string {
	return fmt.Sprintf("exchange: peer %s: %s: %s", shortID(e.Peer), e.Status, e.Message)
}

// Is maps the status to this package's sentinel errors.
func (e *RemoteError) Is(target error) bool {
	switch e.Status {
	case StatusNotFound:
		return target == ErrNotFound
	case StatusRejected:
		return target == ErrRejected
	case StatusBusy:
		return target == ErrBusy
	case StatusTooLarge:
		return target == ErrTooLarge
	case StatusBadRequest:
		return target == ErrMalformed
	case StatusBadVersion:
		return target == ErrBadVersion
	case StatusInternal:
		return target == ErrRemote
	}
	return false
}

// statusOf is the Response status a server sends for a handler error.
func statusOf(err error, fallback Status) Status {
	switch {
	case errors.Is(err, ErrNotFound):
		return StatusNotFound
	case errors.Is(err, ErrTooLarge):
		return StatusTooLarge
	case errors.Is(err, ErrBadVersion):
		return StatusBadVersion
	case errors.Is(err, ErrMalformed):
		return StatusBadRequest
	case errors.Is(err, ErrRejected), errors.Is(err, ErrHashMismatch):
		return StatusRejected
	case errors.Is(err, ErrBusy):
		return StatusBusy
	}
	return fallback
}

// shortID abbreviates a peer id for messages: its last 8 characters.
func shortID(p peer.ID) string {
	s := p.String()
	if len(s) > 8 {
		return "…" + s[len(s)-8:]
	}
	return s
}
