package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// TestStatusOf is the one mapping from error classes to HTTP statuses.
func TestStatusOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, http.StatusOK},
		{errors.New("disk on fire"), http.StatusInternalServerError},
		{context.Canceled, http.StatusInternalServerError},
		{ErrInvalid, http.StatusBadRequest},
		{fmt.Errorf("parsing capability: %w", ErrInvalid), http.StatusBadRequest},
		{fmt.Errorf("file x: %w", ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: not the owner", ErrForbidden), http.StatusForbidden},
		{fmt.Errorf("%w: 2000 pieces", ErrTooLarge), http.StatusRequestEntityTooLarge},
		{fmt.Errorf("reading body: %w", &http.MaxBytesError{Limit: 10}), http.StatusRequestEntityTooLarge},
		{fmt.Errorf("%w: 1 of 2 holders", ErrUnavailable), http.StatusServiceUnavailable},
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", ErrNotFound)), http.StatusNotFound},
	}
	for _, tc := range cases {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestClientErrorMatchesItsClass: a client error of a mapped status
// matches the class the server mapped.
func TestClientErrorMatchesItsClass(t *testing.T) {
	for _, class := range []error{ErrInvalid, ErrForbidden, ErrNotFound, ErrTooLarge, ErrUnavailable} {
		e := &Error{Code: StatusOf(class), Message: "x"}
		if !errors.Is(e, class) {
			t.Errorf("HTTP %d does not match %v", e.Code, class)
		}
		if errors.Is(e, ErrUnauthorized) {
			t.Errorf("HTTP %d matches ErrUnauthorized", e.Code)
		}
	}
	if !errors.Is(&Error{Code: http.StatusUnauthorized}, ErrUnauthorized) {
		t.Error("401 does not match ErrUnauthorized")
	}
}
