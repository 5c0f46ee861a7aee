package api

import "net/http"

// MetricsPath is where the API serves the node's Prometheus metrics.
const MetricsPath = "/metrics"

// MetricsBackend is a Backend that exports Prometheus metrics.
type MetricsBackend interface {
	// MetricsHandler serves the metrics in the Prometheus text format.
	MetricsHandler() http.Handler
}

// withMetrics serves GET /metrics from a MetricsBackend without the API
// token (Prometheus scrapes a local port without credentials, and the
// counts carry no secrets; the API listens on loopback unless AllowRemote
// says otherwise) and passes every other request to authed.
func (s *Server) withMetrics(authed http.Handler) http.Handler {
	mb, ok := s.backend.(MetricsBackend)
	if !ok {
		return authed
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, mb.MetricsHandler())
	mux.Handle("/", authed)
	return mux
}
