package ledger

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
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

// TestLoadCometConfigReadsWhatInitWrote writes a home and reads its
// config.toml back: every setting InitHome chose survives the file, and an
// edit in the file wins over the defaults.
func TestLoadCometConfigReadsWhatInitWrote(t *testing.T) {
	home := t.TempDir()
	hc := DefaultHomeConfig()
	hc.BlockTime = 250 * time.Millisecond
	hc.PersistentPeers = "a@127.0.0.1:1,b@127.0.0.1:2"
	if _, err := InitHome(home, hc); err != nil {
		t.Fatal(err)
	}
	got, err := LoadCometConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	want := cometConfig(home, hc)
	// An empty list in the file reads as an empty slice (as with viper).
	if len(got.StateSync.RPCServers) == 0 {
		got.StateSync.RPCServers = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("loaded config differs from the written one:\n got %+v\nwant %+v", got, want)
	}
	path := filepath.Join(ChainDir(home), "config", "config.toml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte(`timeout_commit = "250ms"`), []byte(`timeout_commit = "3s"`), 1)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err = LoadCometConfig(home); err != nil || got.Consensus.TimeoutCommit != 3*time.Second {
		t.Fatalf("edited timeout_commit: %v %v", got.Consensus.TimeoutCommit, err)
	}
	if err := os.WriteFile(path, []byte("[consensus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCometConfig(home); err == nil {
		t.Fatal("broken config.toml accepted")
	}
	if _, err := LoadCometConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a coop home") {
		t.Fatalf("empty dir: %v", err)
	}
}
