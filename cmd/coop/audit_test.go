package main

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/audit"
)

// auditBackend is an API backend that only audits: it records the options
// it was asked with and answers a fixed report.
type auditBackend struct {
	api.Backend
	rep  *audit.Report
	got  []audit.Options
	fail error
}

func (b *auditBackend) Audit(_ context.Context, opts audit.Options) (*audit.Report, error) {
	b.got = append(b.got, opts)
	if b.fail != nil {
		return nil, b.fail
	}
	return b.rep, nil
}

// sampleReport is one honest node and one caught serving a wrong leaf,
// its evidence submitted.
func sampleReport() *audit.Report {
	honest, liar := chain.Address{0x11}, chain.Address{0x22}
	ev := chain.LeafAnswer{Holder: liar, File: chain.Hash{0xf1}, Segment: 2, Index: 1, Piece: chain.Hash{0xaa}, Leaf: 7, Proof: []byte{1}, PubKey: make([]byte, 32), Sig: make([]byte, 64)}
	return &audit.Report{
		ChainID: "test", UptimeWindow: 10, SuspendBelowPermille: 800, DisqualifyBelowPermille: 600, Leaves: 2,
		Nodes: []audit.NodeReport{
			{Address: honest, PeerID: "12D3KooWHonest", Status: chain.NodeActive, UptimePercent: 90, UptimeEpochs: 10, Score: 1000,
				ProofsPassed: 9, ProofsMissed: 1, Stored: 3 << 20, Pledged: 1 << 30, Pieces: 3, Passed: 2,
				Checks:              []audit.Check{{Result: audit.ResultOK, LatencyMicros: 800}, {Result: audit.ResultOK, LatencyMicros: 1500}},
				LatencyMedianMicros: 1500, LatencyMaxMicros: 1500},
			{Address: liar, PeerID: "12D3KooWLiar", Status: chain.NodeActive, Score: 950, Faults: 1, PiecesLost: 1, Stored: 1 << 20, Pledged: 1 << 30, Pieces: 1,
				Failed: 1, Checks: []audit.Check{{File: ev.File, Segment: 2, Index: 1, Piece: ev.Piece, Leaf: 7, Result: audit.ResultWrong, Error: "the proof does not lead to the recorded root", LatencyMicros: 2000}},
				LatencyMedianMicros: 2000, LatencyMaxMicros: 2000, Evidence: []chain.LeafAnswer{ev},
				Submitted: []audit.Submission{{Evidence: ev.EvidenceID("test"), Tx: chain.Hash{0x77}, Height: 42}}},
		},
	}
}

func startAuditAPI(t *testing.T, b *auditBackend) string {
	t.Helper()
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	s, err := api.Start(cfg, home, tok, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return home
}

// coop audit: the options reach the daemon as given (PEER or --all,
// --leaves, --submit); the table shows each node's row, the failed check,
// the evidence and its submission; --json is the report itself; bad
// argument combinations are refused before asking the daemon.
func TestAuditCommandTableAndJSON(t *testing.T) {
	b := &auditBackend{rep: sampleReport()}
	home := startAuditAPI(t, b)

	out, err := runCLI(t, "--home", home, "audit", "--all", "--leaves", "2", "--submit")
	if err != nil {
		t.Fatalf("audit --all: %v\n%s", err, out)
	}
	if want := (audit.Options{Leaves: 2, Submit: true}); len(b.got) != 1 || b.got[0] != want {
		t.Fatalf("daemon asked with %+v, want %+v", b.got, want)
	}
	rep := b.rep
	for _, want := range []string{
		"NODE", "STATUS", "UPTIME", "SCORE", "PROOFS P/F/M", "LATENCY",
		rep.Nodes[0].Address.String(), "90% of 10", "100.0%", "9/0/1", "3.0 MiB", "2/2 ok", "1.5ms/1.5ms",
		rep.Nodes[1].Address.String(), "unmeasured", "95.0%", "0/1 ok",
		"leaf 7 of piece " + chain.Hash{0xaa}.String(), "wrong: the proof does not lead to the recorded root",
		"EVIDENCE", "committed in tx " + chain.Hash{0x77}.String() + " at height 42",
		"suspended below 80.0%", "disqualified below 60.0%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	out, err = runCLI(t, "--home", home, "audit", rep.Nodes[1].PeerID, "--json")
	if err != nil {
		t.Fatalf("audit PEER --json: %v\n%s", err, out)
	}
	if want := (audit.Options{Target: "12D3KooWLiar", Leaves: audit.DefaultLeaves}); b.got[1] != want {
		t.Fatalf("daemon asked with %+v, want %+v", b.got[1], want)
	}
	var got audit.Report
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	if !reflect.DeepEqual(&got, rep) {
		t.Fatalf("--json round trip:\n%+v\nwant\n%+v", got, *rep)
	}

	for _, args := range [][]string{{"audit"}, {"audit", "--all", "x"}, {"audit", "a", "b"}} {
		if _, err := runCLI(t, append([]string{"--home", home}, args...)...); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
	if len(b.got) != 2 {
		t.Fatalf("refused invocations reached the daemon: %+v", b.got)
	}

	// A daemon error reaches the user with its class.
	b.fail = audit.ErrUnknownNode
	if _, err := runCLI(t, "--home", home, "audit", "nobody"); err == nil || !strings.Contains(err.Error(), "no such node") {
		t.Fatalf("unknown node: %v", err)
	}
}
