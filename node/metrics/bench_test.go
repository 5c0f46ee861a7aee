package metrics

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkMetricsScrape times one /metrics answer with every series
// populated (a few tx types, both fetch kinds), Go and process collectors
// included.
func BenchmarkMetricsScrape(b *testing.B) {
	m := New()
	m.Watch(fakeSources{})
	for _, typ := range []string{"place_file", "prove_storage", "commit_result", "reveal_result"} {
		m.TxDone(typ, nil)
	}
	m.Fetched(FetchPiece, time.Millisecond, nil)
	m.Fetched(FetchManifest, time.Millisecond, nil)
	m.Proved(12, 0, time.Millisecond, nil)
	m.JobRun("exited", time.Second)
	h := m.Handler()
	b.ReportAllocs()
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkMetricsCount times the hot-path calls: a get's bytes and a
// served piece's bytes.
func BenchmarkMetricsCount(b *testing.B) {
	m := New()
	b.ReportAllocs()
	for b.Loop() {
		m.GotBytes(32 << 10)
		m.ServedBytes(32 << 10)
	}
}
