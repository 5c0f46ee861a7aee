package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestPutOnASmallNetworkSaysItDegraded: on 2 nodes, a put at the nodes'
// k=2 m=2 stores 2 whole copies and prints one line saying so and that it
// will be raised; --json carries it in fields; ls shows it; --strict
// refuses.
func TestPutOnASmallNetworkSaysItDegraded(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := node.StartTestNetwork(t, 2, func(_ int, c *node.Config) { c.RepairInterval = time.Second })
	home := ledger.DevnetHome(net.Ledger.Dir, 0)
	data := make([]byte, 50_000)
	_, _ = rand.Read(data)
	in := filepath.Join(t.TempDir(), "a.bin")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--home", home, "put", in)
	if err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	line := "stored as 2 whole copies on 2 nodes (asked k=2 m=2, which needs 4 nodes; the network has 2): it will be raised to 3 copies as nodes join (surviving 2 losses, as k=2 m=2 would, in more room)"
	if strings.Count(out, line) != 1 {
		t.Errorf("put output lacks the one degraded line %q:\n%s", line, out)
	}
	out, err = runCLI(t, "--home", home, "put", in, "--json", "--name", "b")
	var res api.PutResult
	if err != nil || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("put --json: %v\n%s", err, out)
	}
	if res.K != 1 || res.M != 1 || res.Copies != 2 || res.AskedK != 2 || res.AskedM != 2 || !strings.HasPrefix(res.Degraded, "stored as 2 whole copies") {
		t.Errorf("put --json: %+v", res)
	}
	if out, err := runCLI(t, "--home", home, "ls"); err != nil || strings.Count(out, "1+1 (asked 2+2, raising to 1+2)") != 2 {
		t.Errorf("ls: %v, want both files as 1+1 (asked 2+2, raising to 1+2):\n%s", err, out)
	}
	if out, err := runCLI(t, "--home", home, "put", in, "--strict", "--name", "c"); err == nil || !strings.Contains(err.Error(), "not enough holders") {
		t.Errorf("put --strict on 2 nodes: %v, want not enough holders\n%s", err, out)
	}
}
