package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// Sources are what the gauges read at scrape time. Each method is called
// from the scraping request's goroutine, possibly concurrently with
// everything else the node does, and must not block for long (ctx carries
// a short deadline).
type Sources interface {
	// PeersConnected is the number of libp2p peers connected now.
	PeersConnected() int
	// LedgerHeight is the latest committed ledger height.
	LedgerHeight(ctx context.Context) (int64, error)
	// PiecesHeld is the number of pieces and manifests the ledger credits
	// this node for, as of its last reconcile.
	PiecesHeld() int
	// StoreBytes is the bytes in the block store's pinned area and cache.
	StoreBytes() (pinned, cache int64)
}

// Watch registers the gauges read from s: coop_peers_connected,
// coop_ledger_height, coop_pieces_held and coop_store_bytes{area}. Call it
// once. A ledger height that cannot be read is left out of the scrape
// (the series goes missing rather than reporting a false 0).
func (m *Metrics) Watch(s Sources) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "peers_connected",
			Help: "libp2p peers connected now."}, func() float64 { return float64(s.PeersConnected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: "pieces_held",
			Help: "Pieces and manifests the ledger credits this node for, as of its last reconcile."},
			func() float64 { return float64(s.PiecesHeld()) }),
		&heightCollector{s: s, desc: prometheus.NewDesc(Namespace+"_ledger_height",
			"Latest committed ledger height, as the node's ledger client reads it.", nil, nil)},
		&storeCollector{s: s, desc: prometheus.NewDesc(Namespace+"_store_bytes",
			"Bytes in the block store, by area (pinned: held and own pieces; cache: fetched copies).", []string{"area"}, nil)},
	)
}

// heightCollector reads the ledger height at scrape time, leaving it out
// when the read fails.
type heightCollector struct {
	s    Sources
	desc *prometheus.Desc
}

func (c *heightCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *heightCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	h, err := c.s.LedgerHeight(ctx)
	if err != nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(h))
}

// storeCollector reads the block store's byte counts at scrape time.
type storeCollector struct {
	s    Sources
	desc *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	pinned, cache := c.s.StoreBytes()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(pinned), "pinned")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(cache), "cache")
}

// WatchRepair registers the repair loop's counters, read at scrape time:
// coop_pieces_repaired_total (lost pieces this node rebuilt and moved to
// new holders) and coop_pieces_raised_total (parity pieces it added to its
// own files stored below the asked redundancy). Call it once, with the
// node's repairer.
func (m *Metrics) WatchRepair(repaired, raised func() uint64) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "pieces_repaired_total",
			Help: "Lost pieces this node rebuilt and moved to new holders (ReplacePieces it sent that committed)."},
			func() float64 { return float64(repaired()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "pieces_raised_total",
			Help: "Parity pieces this node added to its own files stored below the asked redundancy (RaisePieces it sent that committed)."},
			func() float64 { return float64(raised()) }),
	)
}
