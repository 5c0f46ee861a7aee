package storage

import (
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

// NewTestStore opens a block store in a fresh temporary directory, closed
// when the test ends. Other packages' tests use it for a ready store.
func NewTestStore(tb testing.TB, cfg blockstore.Config) *blockstore.Store {
	tb.Helper()
	s, err := blockstore.Open(tb.TempDir(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
