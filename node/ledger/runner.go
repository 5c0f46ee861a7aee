package ledger

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	cmtdb "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtservice "github.com/cometbft/cometbft/libs/service"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	rpclocal "github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// Config configures an in-process ledger node.
type Config struct {
	// Home is the node home (account.key, chain/).
	Home string
	// Logger receives coop's and CometBFT's log lines (CometBFT's info lines
	// at debug level); nil means slog.Default().
	Logger *slog.Logger
	// App configures the ledger state; its Dir defaults to chain/data in Home.
	App chain.Config
}

// DefaultConfig runs the node in home.
func DefaultConfig(home string) Config {
	return Config{Home: home, App: chain.DefaultConfig(filepath.Join(ChainDir(home), "data"))}
}

// Node is a CometBFT node running the coop ledger app in this process.
type Node struct {
	cfg   Config
	comet *cmtnode.Node
	app   *chain.App
	key   ed25519.PrivateKey
	dbs   *dbTracker

	stopOnce sync.Once
	stopErr  error
}

// Start starts CometBFT with the ledger app in cfg.Home. It returns once the
// node is running (its RPC listening); blocks follow in the background.
// Stop it with Stop.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	c, err := LoadCometConfig(cfg.Home)
	if err != nil {
		return nil, err
	}
	key, err := LoadKey(KeyPath(cfg.Home))
	if err != nil {
		return nil, err
	}
	pv, err := loadPrivValidator(c, key)
	if err != nil {
		return nil, err
	}
	appCfg := cfg.App
	if appCfg.Dir == "" {
		appCfg.Dir = c.DBDir()
	}
	if appCfg.Logger == nil {
		appCfg.Logger = log
	}
	if appCfg.MinRetainBlocks > 0 {
		// Blocks stay while evidence from them can still be submitted.
		doc, err := types.GenesisDocFromFile(c.GenesisFile())
		if err != nil {
			return nil, fmt.Errorf("genesis: %w", err)
		}
		appCfg.MinRetainBlocks = max(appCfg.MinRetainBlocks, doc.ConsensusParams.Evidence.MaxAgeNumBlocks)
	}
	app, err := chain.Open(appCfg)
	if err != nil {
		return nil, err
	}
	if c.Instrumentation.Prometheus && !claimCometMetrics() {
		log.Warn("another ledger node in this process serves CometBFT's metrics; none for this one",
			"home", cfg.Home, "listen", c.Instrumentation.PrometheusListenAddr)
		c.Instrumentation.Prometheus = false
	}
	dbs := &dbTracker{}
	comet, err := cmtnode.NewNode(ctx, c, pv,
		&p2p.NodeKey{PrivKey: cmted25519.PrivKey(key)},
		proxy.NewConnSyncLocalClientCreator(app),
		cmtnode.DefaultGenesisDocProviderFunc(c),
		dbs.provide,
		cmtnode.DefaultMetricsProvider(c.Instrumentation),
		cometLogger{log.With("module", "cometbft")},
	)
	if err != nil {
		dbs.closeAll()
		app.Close()
		return nil, fmt.Errorf("creating cometbft node: %w", err)
	}
	if err := comet.Start(); err != nil {
		// CometBFT's OnStart returns on the first failure (a busy p2p port)
		// with what it started before (RPC listeners, event bus, indexer)
		// still running, and Stop refuses a node that did not start; so
		// undo it with OnStop, and stop the ABCI connections NewNode opened.
		comet.OnStop()
		_ = comet.ProxyApp().Stop()
		dbs.closeAll()
		app.Close()
		return nil, fmt.Errorf("starting cometbft node: %w", err)
	}
	log.Info("ledger node started", "home", cfg.Home, "chain_id", comet.GenesisDoc().ChainID,
		"address", AddressOf(key), "rpc", c.RPC.ListenAddress, "p2p", c.P2P.ListenAddress)
	return &Node{cfg: cfg, comet: comet, app: app, key: key, dbs: dbs}, nil
}

// Stop stops CometBFT, waits for it, and closes the ledger state. It is safe
// to call more than once.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() {
		if err := n.comet.Stop(); err != nil && !errors.Is(err, cmtservice.ErrAlreadyStopped) {
			n.stopErr = err
		}
		n.comet.Wait()
		// CometBFT's Node.OnStop leaves the ABCI connections running, and
		// with them a goroutine per node that waits for them to quit.
		if err := n.comet.ProxyApp().Stop(); err != nil && !errors.Is(err, cmtservice.ErrAlreadyStopped) && n.stopErr == nil {
			n.stopErr = fmt.Errorf("stopping abci connections: %w", err)
		}
		n.dbs.closeAll()
		if err := n.app.Close(); err != nil && n.stopErr == nil {
			n.stopErr = err
		}
	})
	return n.stopErr
}

// App is the ledger application.
func (n *Node) App() *chain.App { return n.app }

// Comet is the CometBFT node.
func (n *Node) Comet() *cmtnode.Node { return n.comet }

// Key is the node's account key.
func (n *Node) Key() ed25519.PrivateKey { return n.key }

// Address is the node's account address.
func (n *Node) Address() chain.Address { return AddressOf(n.key) }

// RPCAddress is the CometBFT RPC listen address.
func (n *Node) RPCAddress() string { return n.comet.Config().RPC.ListenAddress }

// Client returns a client for the node's own account over the in-process
// RPC (no network round trip). Close it when done.
func (n *Node) Client(ctx context.Context) (*Client, error) {
	return NewClient(ctx, rpclocal.New(n.comet), n.key)
}

// cometLogger adapts slog to CometBFT's logger. CometBFT's info level is
// very chatty, so it goes to debug.
type cometLogger struct{ l *slog.Logger }

func (c cometLogger) Debug(msg string, kv ...any) { c.l.Debug(msg, kv...) }
func (c cometLogger) Info(msg string, kv ...any)  { c.l.Debug(msg, kv...) }
func (c cometLogger) Error(msg string, kv ...any) { c.l.Warn(msg, kv...) }
func (c cometLogger) With(kv ...any) cmtlog.Logger {
	return cometLogger{c.l.With(kv...)}
}

// quietLogger discards everything below warnings.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

// rpcLocal is the in-process RPC client of the node.
func (n *Node) rpcLocal() *rpclocal.Local { return rpclocal.New(n.comet) }

// dbTracker opens CometBFT's databases and remembers them. CometBFT v1.0.1
// does not close all of them on Stop (the tx index stays open), which would
// make restarting a node in the same process fail on the database lock; and
// some of its goroutines still read the block store after Stop closed it,
// which panics ("leveldb: closed"), so reads after Close return nothing.
type dbTracker struct {
	mu  sync.Mutex
	dbs []*guardedDB
}

func (t *dbTracker) provide(ctx *cmtcfg.DBContext) (cmtdb.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	g := &guardedDB{DB: db}
	t.mu.Lock()
	t.dbs = append(t.dbs, g)
	t.mu.Unlock()
	return g, nil
}

// guardedDB is a database whose point reads after Close find nothing
// instead of failing.
type guardedDB struct {
	cmtdb.DB
	mu     sync.RWMutex
	closed bool
}

func (g *guardedDB) Get(key []byte) ([]byte, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil, nil
	}
	return g.DB.Get(key)
}

func (g *guardedDB) Has(key []byte) (bool, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false, nil
	}
	return g.DB.Has(key)
}

func (g *guardedDB) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.DB.Close()
}

// closeAll closes every database; ones CometBFT closed already just report
// an error, which is ignored.
func (t *dbTracker) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, db := range t.dbs {
		_ = db.Close()
	}
	t.dbs = nil
}
