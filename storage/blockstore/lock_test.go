package blockstore

import (
	"errors"
	"testing"
)

// TestSecondOpenOfAStoreIsRefused: a store directory is open in one place
// at a time (a second opener would delete the first's unfinished writes);
// Close hands it on.
func TestSecondOpenOfAStoreIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{CacheBytes: 1 << 20, MaxBlockSize: 1 << 20}
	s, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, cfg); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open of an open store: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openTest(t, dir, cfg)
}
