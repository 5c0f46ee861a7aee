package node

import "github.com/coop-network/coop/node/api"

// Errors of the node's operations, for callers to test with errors.Is. Each
// also matches the api error class (api.ErrNotFound, …) the local API maps
// to an HTTP status; node code never picks status codes itself.
var (
	// ErrInvalidArgument: a malformed capability or file id, a capability
	// whose key does not open the manifest, or bad redundancy options.
	ErrInvalidArgument = kindError("invalid argument", api.ErrInvalid)
	// ErrNotFound: the file is not on the ledger (and, for a capability,
	// no peer has its manifest).
	ErrNotFound = kindError("file not found", api.ErrNotFound)
	// ErrNotOwner: the file belongs to another account.
	ErrNotOwner = kindError("not the file's owner", api.ErrForbidden)
	// ErrQuotaExceeded means a put would take the account over its quota.
	ErrQuotaExceeded = kindError("over quota", api.ErrForbidden)
	// ErrTooManyPieces means a put would give one holder more pieces of a
	// file than one receipt may name (exchange.MaxReceiptPieces).
	ErrTooManyPieces = kindError("too many pieces for one holder", api.ErrTooLarge)
	// ErrUnavailable: the network cannot serve the request now: too few
	// holders took a put's pieces, or too few pieces of a file are
	// reachable.
	ErrUnavailable = kindError("unavailable", api.ErrUnavailable)
	// ErrNoHolders means the network has too few nodes with free pledged
	// capacity for a put's redundancy.
	ErrNoHolders = kindError("not enough holders", api.ErrUnavailable)
	// ErrRange: a ranged get starts past the end of the file.
	ErrRange = kindError("range not satisfiable", api.ErrRange)
)

// classError is a node sentinel that also matches an api error class.
type classError struct {
	msg   string
	class error
}

func kindError(msg string, class error) error { return &classError{msg: msg, class: class} }

// Error is the sentinel's text.
func (e *classError) Error() string { return e.msg }

// Unwrap returns the api error class.
func (e *classError) Unwrap() error { return e.class }
