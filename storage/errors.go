package storage

import (
	"errors"
	"fmt"
	"strings"
)

// Errors of Get; test them with errors.Is (and errors.As for *SegmentError).
var (
	// ErrWrongKey means the manifest did not decrypt: the capability's key
	// is not this file's.
	ErrWrongKey = errors.New("storage: wrong key: manifest does not decrypt")
	// ErrManifestMismatch means the manifest block's bytes do not hash to
	// the file id (truncated, corrupted or another block).
	ErrManifestMismatch = errors.New("storage: manifest block does not match the file id")
	// ErrPieceMismatch means a piece's bytes do not hash to the id the
	// manifest lists (corrupted, truncated or another file's piece).
	ErrPieceMismatch = errors.New("storage: piece does not match its id")
	// ErrDecrypt means a segment failed DARE authentication even though its
	// pieces matched their ids: the manifest and pieces are inconsistent.
	ErrDecrypt = errors.New("storage: segment does not decrypt")
	// ErrRange means WithRange asked for a negative offset or length, or an
	// offset past the end of the file.
	ErrRange = errors.New("storage: range not satisfiable")
)

// SegmentError reports a segment with fewer than Need good pieces. Errs holds
// why each piece tried was unusable.
type SegmentError struct {
	Index int // segment index
	Have  int // good pieces found
	Need  int // K
	Errs  []error
}

// Error says which segment failed, how many pieces were good, and why each
// other piece tried was not.
func (e *SegmentError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage: segment %d: %d of %d needed pieces readable", e.Index, e.Have, e.Need)
	for i, err := range e.Errs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

// Unwrap returns the per-piece errors, so errors.Is(err, ErrPieceMismatch) works.
func (e *SegmentError) Unwrap() []error { return e.Errs }
