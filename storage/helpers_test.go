package storage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

// corruptFile flips a byte of a block's file inside a store directory.
func corruptFile(t *testing.T, dir string, id blockstore.ID) {
	t.Helper()
	h := id.String()
	for _, area := range []string{"pinned", "cache"} {
		p := filepath.Join(dir, area, h[:2], h)
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("block %s not found under %s", id, dir)
}
