package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeSources are fixed gauge sources; a ledger height error leaves the
// height out.
type fakeSources struct{ heightErr error }

func (fakeSources) PeersConnected() int { return 3 }
func (s fakeSources) LedgerHeight(context.Context) (int64, error) {
	return 42, s.heightErr
}
func (fakeSources) PiecesHeld() int                   { return 7 }
func (fakeSources) StoreBytes() (pinned, cache int64) { return 100, 20 }

// TestMetricsCountWhatTheyAreTold: each method moves its series by the
// amount it is given, outcomes come from the error, and a nil *Metrics
// takes every call.
func TestMetricsCountWhatTheyAreTold(t *testing.T) {
	m := New()
	m.PutDone(1000, nil)
	m.PutDone(5, errors.New("refused"))
	m.GotBytes(300)
	m.GetDone(nil)
	m.GetDone(context.Canceled)
	m.PieceServed()
	m.ServedBytes(64)
	m.Fetched(FetchPiece, 10*time.Millisecond, nil)
	m.Fetched(FetchPiece, time.Second, context.Canceled)
	m.TxDone("place_file", nil)
	m.TxDone("place_file", errors.New("late"))
	m.Proved(12, 2, time.Millisecond, nil)
	m.Proved(12, 12, time.Millisecond, errors.New("stale"))
	m.JobRun("exited", time.Second)
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"put bytes", testutil.ToFloat64(m.PutBytes), 1000},
		{"puts ok", testutil.ToFloat64(m.Puts.WithLabelValues(OutcomeOK)), 1},
		{"puts error", testutil.ToFloat64(m.Puts.WithLabelValues(OutcomeError)), 1},
		{"get bytes", testutil.ToFloat64(m.GetBytes), 300},
		{"gets canceled", testutil.ToFloat64(m.Gets.WithLabelValues(OutcomeCanceled)), 1},
		{"pieces served", testutil.ToFloat64(m.PiecesServed), 1},
		{"bytes served", testutil.ToFloat64(m.PieceBytesServed), 64},
		{"txs sent", testutil.ToFloat64(m.TxsSent.WithLabelValues("place_file")), 1},
		{"txs failed", testutil.ToFloat64(m.TxsFailed.WithLabelValues("place_file")), 1},
		{"proofs ok", testutil.ToFloat64(m.Proofs.WithLabelValues(OutcomeOK)), 1},
		{"proofs error", testutil.ToFloat64(m.Proofs.WithLabelValues(OutcomeError)), 1},
		{"challenges", testutil.ToFloat64(m.ProofChallenges), 12},
		{"unproved leaves", testutil.ToFloat64(m.ProofLeavesUnproved), 2},
		{"job runs", testutil.ToFloat64(m.JobRuns.WithLabelValues("exited")), 1},
		{"fetches", float64(testutil.CollectAndCount(m.FetchSeconds)), 2},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	var nilM *Metrics
	nilM.PutDone(1, nil)
	nilM.GotBytes(1)
	nilM.GetDone(nil)
	nilM.PieceServed()
	nilM.ServedBytes(1)
	nilM.Fetched(FetchManifest, 0, nil)
	nilM.TxDone("x", nil)
	nilM.Proved(1, 0, 0, nil)
	nilM.JobRun("exited", 0)
	nilM.Watch(fakeSources{})
}

// TestMetricsGaugesReadAtScrape: the gauges read their sources when
// scraped, and a ledger that does not answer leaves the height out.
func TestMetricsGaugesReadAtScrape(t *testing.T) {
	m := New()
	m.Watch(fakeSources{})
	want := `
# HELP coop_ledger_height Latest committed ledger height, as the node's ledger client reads it.
# TYPE coop_ledger_height gauge
coop_ledger_height 42
# HELP coop_peers_connected libp2p peers connected now.
# TYPE coop_peers_connected gauge
coop_peers_connected 3
# HELP coop_pieces_held Pieces and manifests the ledger credits this node for, as of its last reconcile.
# TYPE coop_pieces_held gauge
coop_pieces_held 7
# HELP coop_store_bytes Bytes in the block store, by area (pinned: held and own pieces; cache: fetched copies).
# TYPE coop_store_bytes gauge
coop_store_bytes{area="cache"} 20
coop_store_bytes{area="pinned"} 100
`
	names := []string{"coop_ledger_height", "coop_peers_connected", "coop_pieces_held", "coop_store_bytes"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	down := New()
	down.Watch(fakeSources{heightErr: errors.New("connection refused")})
	if n, err := testutil.GatherAndCount(down.Registry(), "coop_ledger_height"); err != nil || n != 0 {
		t.Fatalf("height series with the ledger down: %d (%v)", n, err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "coop_peers_connected 3") {
		t.Fatalf("handler: %d\n%s", rec.Code, rec.Body.String())
	}
}

// TestRepairCountersReadAtScrape: the repair counters read the repairer's
// totals when scraped.
func TestRepairCountersReadAtScrape(t *testing.T) {
	m := New()
	repaired, raised := uint64(3), uint64(0)
	m.WatchRepair(func() uint64 { return repaired }, func() uint64 { return raised })
	raised = 5
	want := `
# HELP coop_pieces_raised_total Parity pieces this node added to its own files stored below the asked redundancy (RaisePieces it sent that committed).
# TYPE coop_pieces_raised_total counter
coop_pieces_raised_total 5
# HELP coop_pieces_repaired_total Lost pieces this node rebuilt and moved to new holders (ReplacePieces it sent that committed).
# TYPE coop_pieces_repaired_total counter
coop_pieces_repaired_total 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "coop_pieces_raised_total", "coop_pieces_repaired_total"); err != nil {
		t.Fatal(err)
	}
	var nilM *Metrics
	nilM.WatchRepair(nil, nil)
}
