package node

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/metrics"
)

// The node's side of node/metrics: wrappers that count at the points where
// things happen (a put or get done, a piece served, a fetch, a ledger
// transaction) and the Sources its gauges read at scrape time.

var _ api.MetricsBackend = (*Node)(nil)

// MetricsHandler serves the node's coop_ metrics (node/metrics) for the
// API's /metrics.
func (n *Node) MetricsHandler() http.Handler { return n.metrics.Handler() }

// Metrics is the node's metrics, for tests and for other collectors.
func (n *Node) Metrics() *metrics.Metrics { return n.metrics }

// Put encodes the file read from r (size bytes, or -1 when unknown), pushes
// its pieces to their holders and records the placement on the ledger (see
// put), counting it in coop_puts_total and coop_put_bytes_total.
func (n *Node) Put(ctx context.Context, r io.Reader, size int64, o api.PutOptions) (*api.PutResult, error) {
	res, err := n.put(ctx, r, size, o)
	var bytes int64
	if err == nil {
		bytes = res.Size
	}
	n.metrics.PutDone(bytes, err)
	return res, err
}

// Open reads the file a capability names (see open), counting the bytes
// handed to the reader in coop_get_bytes_total and the get's outcome in
// coop_gets_total.
func (n *Node) Open(ctx context.Context, capability string) (io.ReadCloser, int64, error) {
	return n.OpenRange(ctx, capability, 0, -1)
}

// OpenRange is Open for the bytes [off, off+count) of the file (count < 0:
// to the end; cut at the end): only the segments holding them are fetched.
// It returns the whole file's size; off past the end is ErrRange. It
// implements api.RangeOpener.
func (n *Node) OpenRange(ctx context.Context, capability string, off, count int64) (io.ReadCloser, int64, error) {
	rc, size, err := n.open(ctx, capability, off, count)
	if err != nil {
		n.metrics.GetDone(err)
		return nil, 0, err
	}
	return &meteredGet{rc: rc, m: n.metrics}, size, nil
}

// meteredGet counts a get's bytes as they are read and its outcome once:
// ok at EOF, error at the first other read error, canceled when closed
// before either.
type meteredGet struct {
	rc   io.ReadCloser
	m    *metrics.Metrics
	once sync.Once
}

func (g *meteredGet) Read(p []byte) (int, error) {
	k, err := g.rc.Read(p)
	g.m.GotBytes(k)
	switch {
	case err == io.EOF:
		g.once.Do(func() { g.m.GetDone(nil) })
	case err != nil:
		g.once.Do(func() { g.m.GetDone(err) })
	}
	return k, err
}

func (g *meteredGet) Close() error {
	g.once.Do(func() { g.m.GetDone(context.Canceled) })
	return g.rc.Close()
}

// broadcast is n.lc.BroadcastCommit, counted in coop_txs_sent_total or
// coop_txs_failed_total by the body's type.
//
// On a device, the transactions a device sends for its account (files,
// namespace, jobs: chain.DeviceAllowed) name the account (Tx.Account).
func (n *Node) broadcast(ctx context.Context, body chain.Body) (ledger.Result, error) {
	if ak := n.account(); ak.Device && chain.DeviceAllowed(body.TxType()) {
		if fl, ok := n.lc.(forLedger); ok {
			res, err := fl.BroadcastCommitFor(ctx, ak.Address, body)
			n.metrics.TxDone(body.TxType(), err)
			return res, err
		}
	}
	return n.txLedger().BroadcastCommit(ctx, body)
}

// forLedger sends transactions for another account, as its device
// (*ledger.Client).
type forLedger interface {
	BroadcastCommitFor(ctx context.Context, account chain.Address, body chain.Body) (ledger.Result, error)
}

// txLedger is n.lc with its transactions counted, for the components
// (prover, repairer, scrubber, auditor) that send their own.
func (n *Node) txLedger() Ledger { return meteredLedger{Ledger: n.lc, m: n.metrics} }

// meteredLedger counts the transactions sent through it by type.
type meteredLedger struct {
	Ledger
	m *metrics.Metrics
}

func (l meteredLedger) BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error) {
	res, err := l.Ledger.BroadcastCommit(ctx, body)
	l.m.TxDone(body.TxType(), err)
	return res, err
}

// meteredExchange times each fetch from one peer into coop_fetch_seconds.
type meteredExchange struct {
	pieceExchange
	m *metrics.Metrics
}

func (x meteredExchange) Get(ctx context.Context, p peer.ID, id exchange.PieceID, w io.Writer) (int64, error) {
	t0 := time.Now()
	k, err := x.pieceExchange.Get(ctx, p, id, w)
	x.m.Fetched(metrics.FetchPiece, time.Since(t0), fetchErr(ctx, err))
	return k, err
}

func (x meteredExchange) GetBytes(ctx context.Context, p peer.ID, id exchange.PieceID) ([]byte, error) {
	t0 := time.Now()
	b, err := x.pieceExchange.GetBytes(ctx, p, id)
	x.m.Fetched(metrics.FetchManifest, time.Since(t0), fetchErr(ctx, err))
	return b, err
}

// fetchErr is err, or context.Canceled when the fetch failed because its
// caller gave up on it (a hedged fetch another peer won).
func fetchErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return context.Canceled
	}
	return err
}

// meteredSource counts the pieces and bytes the exchange serves from the
// block store.
type meteredSource struct {
	src exchange.Source
	m   *metrics.Metrics
}

func (s meteredSource) OpenPiece(ctx context.Context, id exchange.PieceID) (exchange.PieceReader, error) {
	r, err := s.src.OpenPiece(ctx, id)
	if err != nil {
		return nil, err
	}
	s.m.PieceServed()
	return meteredPiece{PieceReader: r, m: s.m}, nil
}

// meteredPiece counts the bytes read from a served piece.
type meteredPiece struct {
	exchange.PieceReader
	m *metrics.Metrics
}

func (p meteredPiece) ReadAt(b []byte, off int64) (int, error) {
	k, err := p.PieceReader.ReadAt(b, off)
	p.m.ServedBytes(k)
	return k, err
}

// metricSources are the node's gauges' sources.
type metricSources struct{ n *Node }

var _ metrics.Sources = metricSources{}

func (s metricSources) PeersConnected() int { return len(s.n.host.Peers()) }

func (s metricSources) LedgerHeight(ctx context.Context) (int64, error) {
	h, _, err := s.n.lc.Height(ctx)
	return h, err
}

func (s metricSources) PiecesHeld() int { return s.n.hold.creditedCount() }

func (s metricSources) StoreBytes() (pinned, cache int64) {
	st := s.n.store.Stats()
	return st.PinnedBytes, st.CacheBytes
}
