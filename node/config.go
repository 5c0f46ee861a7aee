package node

import (
	"time"

	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/exchange"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/prover"
	"github.com/coop-network/coop/node/repair"
	"github.com/coop-network/coop/node/scrub"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// Config configures a Node. Start from DefaultConfig.
type Config struct {
	// Home is the node's data directory: blocks/, levels/ (the proofs.Levels
	// of received pieces, node/prover), api.token, api.addr,
	// files.json (the capabilities of files put from this node),
	// scrub.json (the last scrub's report).
	Home     string
	P2P      p2p.Config
	Exchange exchange.Config
	// API configures the local HTTP API; an empty Listen disables it.
	API    api.Config
	Blocks blockstore.Config
	// Storage is the default redundancy and layout of puts.
	Storage storage.Config
	// Pledge is the disk space offered to others, in bytes; CPU the
	// compute units offered. Both are written to the ledger when the node
	// first registers.
	Pledge uint64
	CPU    uint32
	// UpdatePledge and UpdateCPU make a node that is already registered
	// overwrite its recorded pledge and CPU offer with Pledge and CPU;
	// otherwise a restart only publishes its new addresses (so a pledge set
	// with `coop node register` survives restarts).
	UpdatePledge bool
	UpdateCPU    bool
	// PendingTimeout is how long a pushed piece is kept without a
	// committed PlaceFile naming this node as its holder, counted from the
	// put's last push; a piece this node signed a receipt for is kept at
	// least until the ledger passes the receipt's expiry height.
	PendingTimeout time.Duration
	// ReconcileInterval is how often the node compares what it holds with
	// what the ledger credits it for.
	ReconcileInterval time.Duration
	// ProveInterval is how often the prover polls the ledger's epoch to
	// answer this node's storage challenges, once per epoch (node/prover);
	// 0 disables the prover. It must be shorter than an epoch; the default,
	// prover.DefaultInterval (500 ms), suits a devnet (epochs of 10 blocks
	// of 0.4 s or more). A ledger without the ProveStorage rule refuses the
	// proofs, which is logged at debug.
	ProveInterval time.Duration
	// ScrubInterval is the time between the starts of two background
	// scrubs of the held pieces (node/scrub; scrub.DefaultInterval, a
	// day); 0 disables them (`coop scrub` still runs one). ScrubRate
	// bounds a scrub's reads in bytes per second (scrub.DefaultRate,
	// 4 MiB/s; 0: no bound); a background scrub reads slower when it can.
	ScrubInterval time.Duration
	ScrubRate     int64
	// RepairInterval is how often the repairer polls the ledger's height;
	// it looks for segments to repair once per new block (node/repair).
	// 0 disables it. The default, repair.DefaultInterval (2 s), suits a
	// devnet.
	RepairInterval time.Duration
	// RepairMargin: a segment is repaired when fewer than K + RepairMargin
	// of its pieces are live. Negative (the default, repair.MarginAll)
	// means the file's M: any lost piece is repaired, so a small devnet
	// keeps full redundancy.
	RepairMargin int
	// RepairOthers makes the node repair other owners' files too, in turns
	// after the owner had an epoch to do it (node/repair); its own files
	// are always repaired. Default true: the repairer may place the pieces
	// it rebuilds on itself, and holding them earns it quota.
	RepairOthers bool
	// HedgeDelay is how long a get waits on a segment still short of K
	// pieces before asking for one more piece of it (another holder).
	HedgeDelay time.Duration
	// GetWindow is how many segments a get fetches ahead of the one it is
	// decoding (each segment in flight spools up to its size beside the
	// block store, never in memory).
	GetWindow int
	// GetSpares is how many pieces beyond K a get asks for at the start of
	// each segment; the first K to arrive win and the rest are cancelled.
	GetSpares int
	// PushConcurrency bounds parallel pushes of one put.
	PushConcurrency int
	// PutBatch is the most placements of concurrent puts one ledger tx
	// carries (a place_files; putbatch.go): 0 is
	// chain.MaxPlaceFilesEntries, 1 sends each put's own place_file.
	PutBatch int
	// LedgerTimeout bounds waiting for a transaction to commit, and for the
	// ledger to become ready at start.
	LedgerTimeout time.Duration
	// LedgerStallTimeout, if not 0, sets the ledger client's StallTimeout
	// at Start: a tx wait (a put's placement, a removal, registration)
	// fails after this long without a new block, well before
	// LedgerTimeout. 0 keeps the client's (ledger.DefaultStallTimeout,
	// 30 s, unless the caller set it).
	LedgerStallTimeout time.Duration
	// Compute configures the compute worker, which runs when CPU > 0 and
	// Compute.Runner.Command is set (jobs/ in Home keeps its runs). Its
	// runner keeps Compute.Runner.WarmChildren warm child processes:
	// WarmAuto by default, one per CPU offered, at most MaxWarmChildren.
	Compute ComputeConfig
}

// DefaultConfig returns the configuration of a node in home.
func DefaultConfig(home string) Config {
	return Config{
		Home:              home,
		P2P:               p2p.DefaultConfig(),
		Exchange:          exchange.DefaultConfig(),
		API:               api.DefaultConfig(),
		Blocks:            blockstore.DefaultConfig(),
		Storage:           storage.DefaultConfig(),
		Pledge:            10 << 30,
		PendingTimeout:    2 * time.Minute,
		ReconcileInterval: 5 * time.Second,
		ProveInterval:     prover.DefaultInterval,
		ScrubInterval:     scrub.DefaultInterval,
		ScrubRate:         scrub.DefaultRate,
		RepairInterval:    repair.DefaultInterval,
		RepairMargin:      repair.MarginAll,
		RepairOthers:      true,
		HedgeDelay:        3 * time.Second,
		GetWindow:         storage.DefaultGetWindow,
		PushConcurrency:   8,
		LedgerTimeout:     2 * time.Minute,
		Compute:           ComputeConfig{Runner: defaultRunnerConfig(), Interval: worker.DefaultInterval},
	}
}

// defaultRunnerConfig is compute.DefaultConfig with WarmAuto warm children:
// one per CPU offered, at most MaxWarmChildren (a job of a module run
// before then starts without a process start or module load).
func defaultRunnerConfig() compute.Config {
	rc := compute.DefaultConfig()
	rc.WarmChildren = WarmAuto
	return rc
}
