package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name: coop_.
const Namespace = "coop"

// Outcome label values: a call succeeded, failed, or was given up by its
// caller (its context canceled: a hedged fetch that lost, a client that
// went away).
const (
	OutcomeOK       = "ok"
	OutcomeError    = "error"
	OutcomeCanceled = "canceled"
)

// Fetch kinds: the [Metrics.Fetched] kind label.
const (
	FetchPiece    = "piece"
	FetchManifest = "manifest"
)

// scrapeTimeout bounds a gauge's read at scrape time (the ledger height
// is an RPC to the local CometBFT).
const scrapeTimeout = 2 * time.Second

// Metrics is a node's coop_ metrics. Each field's comment is its help text.
type Metrics struct {
	// Bytes of files put from this node (the file's size, counted once the
	// placement is on the ledger).
	PutBytes prometheus.Counter
	// Puts by outcome.
	Puts *prometheus.CounterVec
	// Bytes of files read by gets from this node, as handed to the reader.
	GetBytes prometheus.Counter
	// Gets by outcome: ok once read to the end, error when the get failed,
	// canceled when the reader closed it before the end.
	Gets *prometheus.CounterVec
	// Pieces (whole or leaf ranges) opened from the block store to serve
	// another node's fetch.
	PiecesServed prometheus.Counter
	// Bytes of pieces sent to other nodes.
	PieceBytesServed prometheus.Counter
	// Seconds of one fetch from one peer, by kind (piece or manifest) and
	// outcome.
	FetchSeconds *prometheus.HistogramVec
	// Ledger transactions this node sent that committed, by type.
	TxsSent *prometheus.CounterVec
	// Ledger transactions this node sent that failed (refused by a rule,
	// or not committed in time), by type.
	TxsFailed *prometheus.CounterVec
	// Storage proofs this node sent for an epoch's challenges, by outcome
	// (error: refused by the ledger or not committed).
	Proofs *prometheus.CounterVec
	// Challenges answered in proofs the ledger took.
	ProofChallenges prometheus.Counter
	// Challenged leaves this node answered empty in proofs the ledger took:
	// the piece is missing or unreadable here (data loss the ledger records
	// as a failed challenge).
	ProofLeavesUnproved prometheus.Counter
	// Seconds building one epoch's proof (reading the challenged leaves).
	ProveSeconds prometheus.Histogram
	// Compute job runs, by status (exited, trapped, rejected; failed: no
	// result).
	JobRuns *prometheus.CounterVec
	// Seconds of one compute job run, child process start included.
	JobRunSeconds prometheus.Histogram

	reg *prometheus.Registry
}

// New returns the metrics on a fresh registry that also holds the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		PutBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "put_bytes_total",
			Help: "Bytes of files put from this node (the file's size, counted once the placement is on the ledger)."}),
		Puts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "puts_total",
			Help: "Puts by outcome."}, []string{"outcome"}),
		GetBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "get_bytes_total",
			Help: "Bytes of files read by gets from this node, as handed to the reader."}),
		Gets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "gets_total",
			Help: "Gets by outcome: ok once read to the end, error when the get failed, canceled when closed before the end."}, []string{"outcome"}),
		PiecesServed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "pieces_served_total",
			Help: "Pieces (whole or leaf ranges) opened from the block store to serve another node's fetch."}),
		PieceBytesServed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "piece_bytes_served_total",
			Help: "Bytes of pieces sent to other nodes."}),
		FetchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "fetch_seconds",
			Help:    "Seconds of one fetch from one peer, by kind (piece or manifest) and outcome.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}, []string{"kind", "outcome"}),
		TxsSent: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "txs_sent_total",
			Help: "Ledger transactions this node sent that committed, by type."}, []string{"type"}),
		TxsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "txs_failed_total",
			Help: "Ledger transactions this node sent that failed (refused by a rule, or not committed in time), by type."}, []string{"type"}),
		Proofs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "proofs_total",
			Help: "Storage proofs this node sent for an epoch's challenges, by outcome (error: refused by the ledger or not committed)."}, []string{"outcome"}),
		ProofChallenges: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "proof_challenges_total",
			Help: "Challenges answered in proofs the ledger took."}),
		ProofLeavesUnproved: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "proof_leaves_unproved_total",
			Help: "Challenged leaves this node answered empty in proofs the ledger took: the piece is missing or unreadable here."}),
		ProveSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "prove_seconds",
			Help:    "Seconds building one epoch's proof (reading the challenged leaves).",
			Buckets: []float64{.001, .005, .025, .1, .5, 1, 5, 30}}),
		JobRuns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "job_runs_total",
			Help: "Compute job runs, by status (exited, trapped, rejected; failed: no result)."}, []string{"status"}),
		JobRunSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "job_run_seconds",
			Help:    "Seconds of one compute job run, child process start included.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}}),
		reg: prometheus.NewRegistry(),
	}
	m.reg.MustRegister(m.PutBytes, m.Puts, m.GetBytes, m.Gets, m.PiecesServed, m.PieceBytesServed,
		m.FetchSeconds, m.TxsSent, m.TxsFailed,
		m.Proofs, m.ProofChallenges, m.ProofLeavesUnproved, m.ProveSeconds, m.JobRuns, m.JobRunSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry the metrics are on, for other collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4, Timeout: 10 * time.Second})
}

// outcome maps an error to an outcome label value: nil is ok, a canceled
// context canceled, anything else error.
func outcome(err error) string {
	switch {
	case err == nil:
		return OutcomeOK
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	default:
		return OutcomeError
	}
}

// PutDone counts a put of a file of size bytes that ended with err.
func (m *Metrics) PutDone(size int64, err error) {
	if m == nil {
		return
	}
	m.Puts.WithLabelValues(outcome(err)).Inc()
	if err == nil && size > 0 {
		m.PutBytes.Add(float64(size))
	}
}

// GotBytes counts n bytes of a get handed to its reader.
func (m *Metrics) GotBytes(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.GetBytes.Add(float64(n))
}

// GetDone counts a get that ended: err nil when read to the end,
// context.Canceled when closed before.
func (m *Metrics) GetDone(err error) {
	if m == nil {
		return
	}
	m.Gets.WithLabelValues(outcome(err)).Inc()
}

// PieceServed counts a piece opened to serve a fetch.
func (m *Metrics) PieceServed() {
	if m == nil {
		return
	}
	m.PiecesServed.Inc()
}

// ServedBytes counts n bytes of a piece read to be sent.
func (m *Metrics) ServedBytes(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.PieceBytesServed.Add(float64(n))
}

// Fetched records one fetch of kind (FetchPiece, FetchManifest) from one
// peer that took d and ended with err.
func (m *Metrics) Fetched(kind string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.FetchSeconds.WithLabelValues(kind, outcome(err)).Observe(d.Seconds())
}

// TxDone counts a ledger transaction of type typ (chain.Body.TxType) that
// committed (err nil) or failed.
func (m *Metrics) TxDone(typ string, err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.TxsSent.WithLabelValues(typ).Inc()
	} else {
		m.TxsFailed.WithLabelValues(typ).Inc()
	}
}

// Proved counts a storage proof sent (node/prover): challenges answered,
// empty of them answered empty, build its building time, err the
// ledger's answer.
func (m *Metrics) Proved(challenges, empty int, build time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.Proofs.WithLabelValues(OutcomeError).Inc()
	} else {
		m.Proofs.WithLabelValues(OutcomeOK).Inc()
		m.ProofChallenges.Add(float64(challenges))
		m.ProofLeavesUnproved.Add(float64(empty))
	}
	m.ProveSeconds.Observe(build.Seconds())
}

// JobRun counts a compute job run (node/worker) that ended with status
// and took wall.
func (m *Metrics) JobRun(status string, wall time.Duration) {
	if m == nil {
		return
	}
	m.JobRuns.WithLabelValues(status).Inc()
	m.JobRunSeconds.Observe(wall.Seconds())
}
