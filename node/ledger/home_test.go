package ledger

import (
	"os"
	"strings"
	"testing"
)

func TestInitDevnetRefusesPortsPast65535AndWritesNothing(t *testing.T) {
	dc := DefaultDevnetConfig()
	dc.Nodes, dc.BasePort = 4, 65500
	dir := t.TempDir()
	if _, err := InitDevnet(dir, dc); err == nil || !strings.Contains(err.Error(), "65535") {
		t.Fatalf("devnet from port 65500: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a refused devnet wrote %d entries", len(ents))
	}
	dc.BasePort = 0
	if _, err := InitDevnet(dir, dc); err == nil {
		t.Fatal("devnet from port 0 accepted")
	}
}
