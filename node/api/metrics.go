package api

import "net/http"

// MetricsPath is where the API serves the node's Prometheus metrics.
const MetricsPath = "/metrics"

// MetricsBackend is a Backend that exports Prometheus metrics.
type MetricsBackend interface {
	// MetricsHandler serves the metrics in the Prometheus text format.
	MetricsHandler() http.Handler
}
