package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestNetworkCommandsAgainstRunningNodes drives put, ls, get, scrub,
// status, peers and rm through the CLI against real nodes on 127.0.0.1.
func TestNetworkCommandsAgainstRunningNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts CometBFT validators")
	}
	net := node.StartTestNetwork(t, 3, nil)
	homeA := ledger.DevnetHome(net.Ledger.Dir, 0)
	homeC := ledger.DevnetHome(net.Ledger.Dir, 2)
	data := make([]byte, 1<<20+12345)
	_, _ = rand.Read(data)
	in := filepath.Join(t.TempDir(), "in.bin")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := runCLI(t, "--home", homeA, "put", in, "--copies", "2", "--json")
	if err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	var res api.PutResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("put --json: %q: %v", out, err)
	}
	if res.K != 1 || res.M != 1 || !strings.HasPrefix(res.Capability, "coop1") {
		t.Fatalf("put result %+v", res)
	}

	if out, err = runCLI(t, "--home", homeA, "ls", "-l"); err != nil || !strings.Contains(out, res.FileID) || !strings.Contains(out, "in.bin") || !strings.Contains(out, res.Capability) {
		t.Fatalf("ls -l: %v\n%s", err, out)
	}

	dst := filepath.Join(t.TempDir(), "out.bin")
	if out, err = runCLI(t, "--home", homeC, "get", res.Capability, "-o", dst); err != nil {
		t.Fatalf("get: %v\n%s", err, out)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get wrote %d bytes (%v), want the %d put", len(got), err, len(data))
	}
	if _, err := runCLI(t, "--home", homeC, "get", "coop1notacapability", "-o", filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "capability") {
		t.Fatalf("get of a bad capability: %v", err)
	}

	// Another device of the account: the same key, no local record of the put.
	net.Stop(0)
	if err := os.Remove(filepath.Join(homeA, "files.json")); err != nil {
		t.Fatal(err)
	}
	net.Restart(0)
	if out, err = runCLI(t, "--home", homeA, "ls", "-l"); err != nil || !strings.Contains(out, res.FileID) || !strings.Contains(out, res.Capability) {
		t.Fatalf("ls -l without the local record: %v\n%s", err, out)
	}
	dst = filepath.Join(t.TempDir(), "byid.bin")
	if out, err = runCLI(t, "--home", homeA, "get", res.FileID, "-o", dst); err != nil {
		t.Fatalf("get FILE_ID: %v\n%s", err, out)
	}
	if got, err = os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get FILE_ID wrote %d bytes (%v), want the %d put", len(got), err, len(data))
	}
	if _, err := runCLI(t, "--home", homeC, "get", res.FileID, "-o", filepath.Join(t.TempDir(), "y")); err == nil || !strings.Contains(err.Error(), "needs its capability") {
		t.Fatalf("get FILE_ID on another account's node: %v", err)
	}

	if out, err = runCLI(t, "--home", homeA, "scrub", "--json"); err != nil {
		t.Fatalf("scrub: %v\n%s", err, out)
	}
	var sr api.ScrubReport
	if err := json.Unmarshal([]byte(out), &sr); err != nil || sr.Pieces != sr.TotalPieces || sr.OK != sr.Pieces || sr.Corrupt+sr.Missing+sr.Reported != 0 {
		t.Fatalf("scrub of sound pieces: %+v (%v)", sr, err)
	}
	if out, err = runCLI(t, "--home", homeA, "status"); err != nil || !strings.Contains(out, "quota:") || !strings.Contains(out, "pledge:") || !strings.Contains(out, "scrub:        last") ||
		!strings.Contains(out, ", last block ") || strings.Contains(out, "STALLED") {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "--home", homeA, "peers"); err != nil || strings.Count(out, "active") != 2 {
		t.Fatalf("peers: %v\n%s", err, out)
	}
	if !strings.Contains(out, "ANSWERS") || !strings.Contains(out, "SEEN") {
		t.Fatalf("peers without liveness columns:\n%s", out)
	}
	if out, err = runCLI(t, "--home", homeA, "peers", "--json"); err != nil {
		t.Fatalf("peers --json: %v\n%s", err, out)
	}
	var peers []api.PeerInfo
	if err := json.Unmarshal([]byte(out), &peers); err != nil || len(peers) != 2 {
		t.Fatalf("peers --json: %v\n%s", err, out)
	}
	for _, p := range peers {
		if !p.Answers || p.LastSeen == nil || p.PingError != "" {
			t.Fatalf("a running peer not answering now: %+v", p)
		}
	}
	if out, err = runCLI(t, "--home", homeA, "rm", res.FileID); err != nil || !strings.Contains(out, "removed") {
		t.Fatalf("rm: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "--home", homeA, "ls"); err != nil || !strings.Contains(out, "no files") {
		t.Fatalf("ls after rm: %v\n%s", err, out)
	}
	if _, err = runCLI(t, "--home", t.TempDir(), "status"); err == nil || !strings.Contains(err.Error(), "no running node") {
		t.Fatalf("status without a node: %v", err)
	}
}
