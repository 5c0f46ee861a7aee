package node

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/storage"
)

// TestErrorsMapToStatuses: each node sentinel, wrapped the way node code
// wraps it, reaches the API as the status of its class.
func TestErrorsMapToStatuses(t *testing.T) {
	rejected := &ledger.RejectedError{Code: chain.CodeOf(chain.ErrQuotaExceeded), Log: "over"}
	cases := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: neither a capability nor a file id", ErrInvalidArgument), http.StatusBadRequest},
		{fmt.Errorf("%w: %w", ErrInvalidArgument, storage.ErrWrongKey), http.StatusBadRequest},
		{fmt.Errorf("%w: file x is not on the ledger", ErrNotFound), http.StatusNotFound},
		{fmt.Errorf("%w: file x belongs to y", ErrNotOwner), http.StatusForbidden},
		{fmt.Errorf("%w: the file needs 10 bytes", ErrQuotaExceeded), http.StatusForbidden},
		{fmt.Errorf("recording the placement: %w", fmt.Errorf("%w: %w", ErrQuotaExceeded, rejected)), http.StatusForbidden},
		{fmt.Errorf("%w: holder x would hold 2000 pieces", ErrTooManyPieces), http.StatusRequestEntityTooLarge},
		{fmt.Errorf("%w: segment 0 needs 4 nodes", ErrNoHolders), http.StatusServiceUnavailable},
		{fmt.Errorf("%w: %w", ErrUnavailable, &storage.SegmentError{}), http.StatusServiceUnavailable},
		{fmt.Errorf("reading own account: %w", ledger.ErrQuery), http.StatusInternalServerError},
		{rejected, http.StatusInternalServerError}, // not wrapped by node code: no class
	}
	for _, tc := range cases {
		if got := api.StatusOf(tc.err); got != tc.want {
			t.Errorf("%v: HTTP %d, want %d", tc.err, got, tc.want)
		}
	}
	if !errors.Is(fmt.Errorf("x: %w", ErrQuotaExceeded), ErrQuotaExceeded) || errors.Is(ErrQuotaExceeded, ErrNotOwner) {
		t.Error("node sentinels are not distinct")
	}
	if ErrQuotaExceeded.Error() != "over quota" {
		t.Errorf("sentinel text %q", ErrQuotaExceeded)
	}
}
