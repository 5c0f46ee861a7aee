// Package metrics is the node's Prometheus instrumentation: the coop_
// counters, histograms and gauges a node exports at /metrics on its local
// API (docs/operations.md lists them).
//
// A [Metrics] owns its own [prometheus.Registry], not the process-wide
// default one: tests run several nodes in one process, and CometBFT
// registers its own metrics on the default registry (served on its own
// port). The node calls the small methods ([Metrics.PutDone],
// [Metrics.Fetched], [Metrics.TxDone]…) where things happen; gauges
// ([Metrics.Watch]) are read from a [Sources] at scrape time. Every method
// is a no-op on a nil *Metrics, so components built without metrics need
// no checks.
//
// Usage:
//
//	m := metrics.New()
//	m.Watch(src)
//	http.Handle("GET /metrics", m.Handler())
//	m.PutDone(size, err)
package metrics
