package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/metrics"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/prover"
	"github.com/coop-network/coop/node/repair"
	"github.com/coop-network/coop/node/scrub"
	"github.com/coop-network/coop/node/tree"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage/blockstore"
)

// Ledger is what the node reads from and writes to the ledger: the methods
// of *ledger.Client it uses (tests put an in-memory ledger behind it). List
// methods (Nodes, Files, Pieces) return the whole list at one height or an
// error, never a partial list.
type Ledger interface {
	// ChainID is the chain the client signs for.
	ChainID() string
	// Height is the latest committed height and its app hash.
	Height(ctx context.Context) (int64, []byte, error)
	Params(ctx context.Context) (chain.Params, error)
	Account(ctx context.Context, a chain.Address) (chain.AccountView, error)
	// Node and File fail with an error wrapping chain.ErrNotFound for an
	// unknown record.
	Node(ctx context.Context, a chain.Address) (chain.Node, error)
	Nodes(ctx context.Context) ([]chain.Node, error)
	File(ctx context.Context, id chain.Hash) (chain.File, error)
	Files(ctx context.Context, owner chain.Address) ([]chain.File, error)
	Pieces(ctx context.Context, holder chain.Address) ([]chain.HeldPiece, error)
	// Epoch is the current epoch (an error wrapping chain.ErrNotFound
	// before the first); Challenges a holder's challenges of it.
	Epoch(ctx context.Context) (chain.Epoch, error)
	Challenges(ctx context.Context, holder chain.Address) (chain.ChallengeSet, error)
	// Outcome is what the ledger recorded of holder's proof for epoch (an
	// error wrapping chain.ErrNotFound while nothing is).
	Outcome(ctx context.Context, epoch uint64, holder chain.Address) (chain.EpochOutcome, error)
	// Lost lists the pieces recorded lost (/lost), for repair.
	Lost(ctx context.Context) ([]chain.LostPiece, error)
	// BroadcastCommit signs body with the node's account key, submits it
	// and waits until it is committed; a tx the ledger rejected is a
	// *ledger.RejectedError wrapping the rule's chain error.
	BroadcastCommit(ctx context.Context, body chain.Body) (ledger.Result, error)
}

var _ Ledger = (*ledger.Client)(nil)

// pieceExchange is the piece exchange as put and get use it: pushes,
// receipt requests and fetches (*exchange.Exchange; see its methods for
// the errors).
type pieceExchange interface {
	Push(ctx context.Context, p peer.ID, push exchange.Push, r io.Reader) error
	RequestReceipt(ctx context.Context, p peer.ID, req exchange.ReceiptRequest) (exchange.Receipt, error)
	Get(ctx context.Context, p peer.ID, id exchange.PieceID, w io.Writer) (int64, error)
	GetBytes(ctx context.Context, p peer.ID, id exchange.PieceID) ([]byte, error)
}

var _ pieceExchange = (*exchange.Exchange)(nil)

// Node is a running coop daemon. Close stops it.
type Node struct {
	// withholdJobKeys (tests: fault injection) makes the node refuse the
	// job-keys requests for the jobs its account submitted, as a
	// submitter withholding its files would.
	withholdJobKeys atomic.Bool

	cfg   Config
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	addr  chain.Address
	lc    Ledger
	lcc   *ledger.Client
	host  *p2p.Host
	x     *exchange.Exchange
	px    pieceExchange // x, as put and get use it (fetches timed)
	store *blockstore.Store
	api   *api.Server
	hold  *holder
	prove *prover.Prover // nil if Config.ProveInterval is 0
	scrub *scrub.Scrubber
	fix   *repair.Repairer // nil if Config.RepairInterval is 0
	keys  *keyring
	// acct is the account the node acts for: its own key's, or the one
	// its key is a device of (AccountFile); ns keeps that account's
	// namespace (nil: the node keeps none). A node becomes a device while
	// it runs (device.go): acctMu guards both.
	acctMu sync.RWMutex
	acct   AccountKeys
	ns     *tree.Service
	// shareSt is the node's sharing state (share.go).
	shareSt shareState
	dead    deadPeers
	// workState keeps the compute worker's runs; work is the worker (nil
	// when the node offers no CPU).
	workState *worker.DirState
	work      *worker.Worker
	runner    *compute.Runner // the worker's, closed with the node
	metrics   *metrics.Metrics
	log       *slog.Logger
	// batch sends the placements of concurrent puts, several to a tx
	// (putbatch.go).
	batch placeBatcher

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// Start opens the block store, starts the libp2p host, the exchange and the
// API, registers the node on the ledger (or updates its record) with its
// pledge, CPU offer and addresses, and connects to the nodes the ledger
// lists. lc is a client of the node's own account.
func Start(ctx context.Context, cfg Config, key ed25519.PrivateKey, lc *ledger.Client) (n *Node, err error) {
	return start(ctx, cfg, key, lc, lc)
}

// start is Start with the ledger behind an interface; lcc, if not nil, is
// the client Ledger returns.
func start(ctx context.Context, cfg Config, key ed25519.PrivateKey, lc Ledger, lcc *ledger.Client) (n *Node, err error) {
	if cfg.Home == "" {
		return nil, errors.New("node: no home directory")
	}
	if cfg.PushConcurrency <= 0 || cfg.PendingTimeout <= 0 || cfg.ReconcileInterval <= 0 || cfg.HedgeDelay <= 0 {
		return nil, fmt.Errorf("node: invalid config: %+v", cfg)
	}
	if err := cfg.Storage.Validate(); err != nil {
		return nil, err
	}
	if cfg.P2P.MDNS && cfg.P2P.MDNSNetwork == "" {
		// LAN discovery stays within this ledger's network.
		cfg.P2P.MDNSNetwork = lc.ChainID()
	}
	pub := key.Public().(ed25519.PublicKey)
	n = &Node{cfg: cfg, key: key, pub: pub, addr: chain.AddressOf(pub), lc: lc, lcc: lcc, metrics: metrics.New()}
	if lcc != nil && cfg.LedgerStallTimeout > 0 {
		lcc.StallTimeout = cfg.LedgerStallTimeout // before any wait uses it
	}
	n.log = slog.Default().With("node", n.addr.String()[:8])
	var closers []func() error
	defer func() {
		if err != nil {
			for i := len(closers) - 1; i >= 0; i-- {
				_ = closers[i]()
			}
		}
	}()
	if n.store, err = blockstore.Open(filepath.Join(cfg.Home, "blocks"), cfg.Blocks); err != nil {
		return nil, err
	}
	closers = append(closers, n.store.Close)
	if n.keys, err = openKeyring(cfg.Home); err != nil {
		return nil, err
	}
	ak, err := LoadAccountKeys(cfg.Home, key)
	if err != nil {
		return nil, err
	}
	n.setAccount(ak)
	if n.host, err = p2p.New(ctx, key, cfg.P2P); err != nil {
		return nil, err
	}
	closers = append(closers, n.host.Close)
	n.hold = newHolder(lc, n.store, key, cfg.PendingTimeout, n.log)
	if n.hold.levels, err = prover.OpenLevelStore(filepath.Join(cfg.Home, "levels")); err != nil {
		return nil, err
	}
	if cfg.ProveInterval > 0 {
		n.prove = prover.New(n.addr, n.txLedger(), storePieces{n.store}, n.hold.levels, prover.Config{Interval: cfg.ProveInterval, Logger: n.log, Metrics: n.metrics})
	}
	n.scrub = n.newScrubber()
	if cfg.RepairInterval > 0 {
		n.fix = repair.New(n.addr, n.txLedger(), repairNet{n}, repair.Config{Interval: cfg.RepairInterval, Margin: cfg.RepairMargin,
			Others: cfg.RepairOthers, OthersWait: repair.DefaultOthersWait, Logger: n.log})
	}
	n.hold.provide = func(ctx context.Context, id blockstore.ID) error { return n.host.Provide(ctx, id) }
	if err := n.openWorkState(); err != nil {
		return nil, err
	}
	if n.x, err = exchange.New(n.host.Libp2p(), cfg.Exchange, meteredSource{storeSource{n.store}, n.metrics}, jobSink{n.hold, n.newJobKeyServer()}); err != nil {
		return nil, err
	}
	closers = append(closers, n.x.Close)
	// A new connection to a peer marked unreachable (it restarted, or its
	// link came back) proves it is there: placement and gets take it again
	// at once instead of after deadPeerTTL. Only a new connection clears
	// it; one that lingers from before the failure does not.
	n.host.Libp2p().Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		n.dead.clear(c.RemotePeer())
	}})
	n.px = meteredExchange{n.x, n.metrics}
	n.metrics.Watch(metricSources{n})
	if n.fix != nil {
		n.metrics.WatchRepair(n.fix.Repaired, n.fix.Raised)
	}
	if n.work, err = n.newWorker(); err != nil {
		return nil, err
	}
	if err := n.register(ctx); err != nil {
		return nil, err
	}
	if err := n.hold.sweep(ctx); err != nil {
		n.log.Warn("sweeping pinned blocks", "err", err)
	}
	n.connectKnown(ctx)
	if cfg.API.Listen != "" {
		tok, err := api.EnsureToken(cfg.Home)
		if err != nil {
			return nil, err
		}
		if n.api, err = api.Start(cfg.API, cfg.Home, tok, n); err != nil {
			return nil, err
		}
		closers = append(closers, n.api.Close)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.hold.loop(loopCtx, cfg.ReconcileInterval, func(ctx context.Context) {
			if len(n.host.Peers()) == 0 {
				n.connectKnown(ctx)
			}
		})
	}()
	if n.prove != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.prove.Loop(loopCtx)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.scrub.Loop(loopCtx)
	}()
	if n.fix != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.fix.Loop(loopCtx)
		}()
	}
	if n.work != nil {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.work.Loop(loopCtx)
		}()
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchAddrs(loopCtx)
	}()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.watchAccount(loopCtx, min(cfg.ReconcileInterval, 2*time.Second))
	}()
	n.log.Info("node started", "peer", n.host.ID(), "addrs", n.host.Addrs(), "pledge", cfg.Pledge)
	return n, nil
}

// Close stops the API, the reconcile, prover, scrub and repair loops,
// the exchange, the host and the block store, in that order.
func (n *Node) Close() error {
	var errs []error
	n.once.Do(func() {
		if n.api != nil {
			errs = append(errs, n.api.Close())
		}
		n.batch.close()
		n.cancel()
		n.wg.Wait()
		if n.runner != nil {
			errs = append(errs, n.runner.Close())
		}
		errs = append(errs, n.x.Close())
		n.hold.commits.Wait() // pushes received and confirmed, still being made durable
		errs = append(errs, n.host.Close(), n.store.Close())
	})
	return errors.Join(errs...)
}

// Address is the node's account address.
func (n *Node) Address() chain.Address { return n.addr }

// Host is the node's libp2p host.
func (n *Node) Host() *p2p.Host { return n.host }

// Exchange is the node's block exchange, for other protocols that fetch
// pieces or leaf ranges (audits, repair).
func (n *Node) Exchange() *exchange.Exchange { return n.x }

// Ledger is the node's ledger client (its own account); nil for a node
// started on another Ledger (tests).
func (n *Node) Ledger() *ledger.Client { return n.lcc }

// Store is the node's block store.
func (n *Node) Store() *blockstore.Store { return n.store }

// APIURL is the base URL of the node's API ("" if disabled).
func (n *Node) APIURL() string {
	if n.api == nil {
		return ""
	}
	return n.api.URL()
}

// register records the node on the ledger, or updates its record with the
// configured pledge and CPU and the current addresses. A ledger that has
// not committed its first blocks yet (a devnet starting) is retried until
// LedgerTimeout; a rejected transaction is not.
func (n *Node) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.LedgerTimeout)
	defer cancel()
	for {
		err := n.registerOnce(ctx)
		var rej *ledger.RejectedError
		if err == nil || errors.As(err, &rej) {
			return err
		}
		n.log.Debug("ledger not ready; retrying registration", "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (n *Node) registerOnce(ctx context.Context) error {
	addrs := n.ledgerAddrs()
	if h, _, err := n.lc.Height(ctx); err != nil || h < 1 {
		return fmt.Errorf("ledger has committed no block yet (height %d): %v", h, err)
	}
	rec, err := n.lc.Node(ctx, n.addr)
	if errors.Is(err, chain.ErrNotFound) {
		_, err = n.broadcast(ctx, &chain.RegisterNode{PeerID: n.host.ID().String(), Addrs: addrs, Pledge: n.cfg.Pledge, CPU: n.cfg.CPU})
		return err
	}
	if err != nil {
		return err
	}
	up := &chain.UpdateNode{Addrs: &addrs}
	if n.cfg.UpdatePledge && rec.Pledge != n.cfg.Pledge {
		if n.cfg.Pledge < rec.Used {
			n.log.Warn("configured pledge is below what the node holds; keeping the recorded pledge", "pledge", n.cfg.Pledge, "used", rec.Used)
		} else {
			pledge := n.cfg.Pledge
			up.Pledge = &pledge
		}
	}
	if n.cfg.UpdateCPU && rec.CPU != n.cfg.CPU {
		cpu := n.cfg.CPU
		up.CPU = &cpu
	}
	_, err = n.broadcast(ctx, up)
	return err
}

// peerOf returns the peer id of a ledger node record and remembers its
// addresses in the peerstore. The ledger only bounds the count and length
// of a record's addresses: one that does not parse as a multiaddr, or names
// another peer, is skipped with a debug log and the others are used.
func (n *Node) peerOf(rec *chain.Node) (peer.ID, error) {
	id, err := peer.Decode(rec.PeerID)
	if err != nil {
		return "", fmt.Errorf("node %s: peer id %q: %w", rec.Address, rec.PeerID, err)
	}
	addrs := dialAddrs(n.log, rec, id)
	if len(addrs) > 0 && id != n.host.ID() {
		n.host.Libp2p().Peerstore().AddAddrs(id, addrs, peerstore.AddressTTL)
	}
	return id, nil
}

// dialAddrs parses a node record's addresses for peer id, skipping (with a
// debug log) any that is not a multiaddr or carries another peer's id.
func dialAddrs(log *slog.Logger, rec *chain.Node, id peer.ID) []ma.Multiaddr {
	var addrs []ma.Multiaddr
	for _, s := range rec.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			log.Debug("skipping a malformed address in a ledger node record", "node", rec.Address, "addr", s, "err", err)
			continue
		}
		tr, p := peer.SplitAddr(a)
		if tr == nil || (p != "" && p != id) {
			log.Debug("skipping an address of another peer in a ledger node record", "node", rec.Address, "addr", s)
			continue
		}
		addrs = append(addrs, tr)
	}
	return addrs
}

// connectKnown connects to up to 16 nodes the ledger lists, in parallel,
// so the DHT has peers to start from.
func (n *Node) connectKnown(ctx context.Context) {
	nodes, err := n.lc.Nodes(ctx)
	if err != nil {
		n.log.Warn("listing ledger nodes", "err", err)
		return
	}
	var infos []peer.AddrInfo
	for i := range nodes {
		if nodes[i].Address == n.addr || nodes[i].Status != chain.NodeActive {
			continue
		}
		id, err := n.peerOf(&nodes[i])
		if err != nil {
			continue
		}
		infos = append(infos, peer.AddrInfo{ID: id, Addrs: n.host.Libp2p().Peerstore().Addrs(id)})
		if len(infos) == 16 {
			break
		}
	}
	if len(infos) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.host.Bootstrap(ctx, infos); err != nil {
		n.log.Debug("bootstrap from ledger nodes incomplete", "err", err)
	}
}

// storeSource serves the exchange from the block store.
type storeSource struct{ s *blockstore.Store }

func (s storeSource) OpenPiece(ctx context.Context, id exchange.PieceID) (exchange.PieceReader, error) {
	r, err := s.s.Open(ctx, blockstore.ID(id))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", exchange.ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// storePieces opens pieces for the prover from the block store.
type storePieces struct{ s *blockstore.Store }

func (s storePieces) Open(ctx context.Context, id chain.Hash) (prover.Piece, error) {
	r, err := s.s.Open(ctx, blockstore.ID(id))
	if errors.Is(err, blockstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}
