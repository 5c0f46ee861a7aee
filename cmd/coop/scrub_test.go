package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
)

// scrubBackend is a daemon API backend that only scrubs: it answers a
// scripted report after some progress, and keeps it as the last one.
type scrubBackend struct {
	mu     sync.Mutex
	report api.ScrubReport
	err    error
	opts   []api.ScrubOptions
	last   *api.ScrubReport
}

var errNotHere = errors.New("not in this test")

func (*scrubBackend) Put(context.Context, io.Reader, int64, api.PutOptions) (*api.PutResult, error) {
	return nil, errNotHere
}
func (*scrubBackend) Open(context.Context, string) (io.ReadCloser, int64, error) {
	return nil, 0, errNotHere
}
func (*scrubBackend) Files(context.Context) ([]api.FileInfo, error) { return nil, errNotHere }
func (*scrubBackend) Remove(context.Context, string) error          { return errNotHere }
func (*scrubBackend) Peers(context.Context) ([]api.PeerInfo, error) { return nil, errNotHere }
func (b *scrubBackend) Status(context.Context) (*api.Status, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return &api.Status{Account: "acct", LastScrub: b.last}, nil
}

func (b *scrubBackend) Scrub(ctx context.Context, opts api.ScrubOptions, progress func(api.ScrubProgress)) (*api.ScrubReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opts = append(b.opts, opts)
	r := b.report
	for i := 1; i <= r.Pieces; i++ {
		progress(api.ScrubProgress{Pieces: i, TotalPieces: r.TotalPieces, Bytes: r.Bytes * int64(i) / int64(r.Pieces), TotalBytes: r.TotalBytes})
	}
	b.last = &r
	return &r, b.err
}

func (b *scrubBackend) LastScrub(context.Context) (*api.ScrubReport, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last == nil {
		return nil, fmt.Errorf("%w: no scrub yet", api.ErrNotFound)
	}
	return b.last, nil
}

// TestScrubCommandPrintsTheReport: `coop scrub` runs a scrub through the
// daemon's API and prints the report as a table (with the lost pieces) or
// as JSON; --rate reaches the daemon; --last shows the last report; a
// report whose ledger report failed is printed and the command fails.
func TestScrubCommandPrintsTheReport(t *testing.T) {
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	file := strings.Repeat("ab", 32)
	b := &scrubBackend{report: api.ScrubReport{
		Started: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), Seconds: 2.5,
		Pieces: 12, TotalPieces: 12, Bytes: 6 << 20, TotalBytes: 7 << 20,
		OK: 10, Corrupt: 1, Missing: 1, Reported: 2, ReportTxs: 1,
		Lost: []api.ScrubFinding{
			{Piece: strings.Repeat("c", 64), Problem: "corrupt", Detail: "bytes hash to 0102, not the piece id", Files: []string{file + "/0/1"}},
			{Piece: strings.Repeat("d", 64), Problem: "missing", Detail: "not in the store", Files: []string{file + "/2/0"}},
		},
	}}
	srv, err := api.Start(api.Config{Listen: "127.0.0.1:0"}, home, tok, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	if _, err := runCLI(t, "--home", home, "scrub", "--last"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("scrub --last before any: %v, want not found", err)
	}
	out, err := runCLI(t, "--home", home, "scrub")
	if err != nil {
		t.Fatalf("scrub: %v\n%s", err, out)
	}
	for _, want := range []string{
		"checked 12 of 12 pieces", "bytes 6.0 MiB read of 7.0 MiB", "ok 10", "corrupt 1", "missing 1",
		"reported 2 lost on the ledger (1 tx)", "time 2.5s",
		"PIECE PROBLEM FILE/SEGMENT/INDEX DETAIL", "cccccc…cccc corrupt ababab…abab/0/1 bytes hash", "dddddd…dddd missing ababab…abab/2/0 not in the store",
	} {
		if !strings.Contains(squash(out), want) {
			t.Errorf("scrub output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unreadable") {
		t.Errorf("no unreadable pieces, yet a line for them:\n%s", out)
	}

	out, err = runCLI(t, "--home", home, "scrub", "--json", "--rate", "2MiB")
	if err != nil {
		t.Fatal(err)
	}
	var got api.ScrubReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("scrub --json is not one JSON report: %v\n%s", err, out)
	}
	if got.Corrupt != 1 || got.Missing != 1 || got.Reported != 2 || len(got.Lost) != 2 || got.Lost[1].Files[0] != file+"/2/0" {
		t.Fatalf("scrub --json: %+v", got)
	}
	if len(b.opts) != 2 || b.opts[0].Rate != 0 || b.opts[1].Rate != 2<<20 {
		t.Fatalf("options reaching the daemon: %+v; want the default, then 2 MiB/s", b.opts)
	}
	if _, err := runCLI(t, "--home", home, "scrub", "--rate", "fast"); err == nil || !strings.Contains(err.Error(), "--rate") {
		t.Fatalf("scrub --rate fast: %v, want an error naming --rate", err)
	}

	if out, err = runCLI(t, "--home", home, "scrub", "--last"); err != nil || !strings.Contains(squash(out), "corrupt 1") {
		t.Fatalf("scrub --last: %v\n%s", err, out)
	}
	if out, err = runCLI(t, "--home", home, "status"); err != nil || !strings.Contains(out, "scrub:        last 2026-03-01") || !strings.Contains(out, "12 of 12 pieces checked, 10 ok, 1 corrupt, 1 missing, 2 reported lost") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	b.mu.Lock()
	b.err, b.report.Reported, b.report.ReportTxs = errors.New("reporting 2 lost pieces: ledger unreachable"), 0, 0
	b.report.Error = b.err.Error()
	b.mu.Unlock()
	out, err = runCLI(t, "--home", home, "scrub")
	if err == nil || !strings.Contains(err.Error(), "ledger unreachable") {
		t.Fatalf("scrub whose report failed: %v", err)
	}
	if !strings.Contains(squash(out), "reported 0 lost") || !strings.Contains(squash(out), "error reporting 2 lost pieces") {
		t.Fatalf("the report of a failed scrub is not printed:\n%s", out)
	}
}

// squash collapses runs of spaces, so table checks do not depend on
// column widths.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
