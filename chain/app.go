package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"sync"
	"sync/atomic"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
)

// AppVersion is reported to CometBFT in Info; it changes when the state
// transition rules change. History:
//
//	1: first ledger.
//	2: placements need holder receipts, quota is earned by holding for
//	   others (not by pledging), removed file ids are tombstoned, nodes
//	   record held_for_others, accounts drop quota_earned. State of
//	   version 1 cannot be read: re-initialise devnets.
//	3: debts: a removal keeps charged to the owner what a holder had
//	   spent of the quota the file earned it (debt/ records, accounts'
//	   quota_lent and quota_owed), repaid as the holder gets back under
//	   its limit. Version-2 state reads, but a holder already over its
//	   limit there owes nothing: re-initialise devnets.
//	4: proofs of storage: the ProveStorage rule records each holder's
//	   epoch outcome (proof/ records: proved, invalid), the first block
//	   of each epoch records holders of pieces that did not prove as
//	   missing and appends every measured node's uptime entry, so low
//	   uptime now withholds earned quota. Version-3 state is refused.
//	5: reputation and lost pieces: judged proofs are audits (nodes'
//	   rep_alpha/rep_beta, suspension, disqualification), a wrongly
//	   answered piece is marked lost (lost/ records, pieces_lost), the
//	   ReportLost rule, and four new params; containment (a holder
//	   settled missing is asked the same challenges until it answers:
//	   contain/ records); earned quota counts only proved bytes (nodes'
//	   proved_for_others); challenges_per_epoch is a param. Version-4
//	   state is refused.
//	6: compute jobs: the SubmitJob, CommitResult and RevealResult
//	   rules, job/, jobby/, jobdue/, asg/ and worker/ records, the
//	   jobDeadlines block rule (assignment, deadlines, rounds), accounts'
//	   credits_escrowed, credits_earned and credits_spent, and params'
//	   jobs. Version-5 state is refused.
//	7: a job is assigned at the end of the block that holds its SubmitJob
//	   (and a new round at the end of the block that voided the last one),
//	   from that block's hash, by the blockEndRules; it was the next
//	   block; the "unavailable" result (a worker could not get the job's
//	   files: a quorum of it fails the job and judges nobody); a reveal's
//	   optional output_key (kept in the assignment). Version-6
//	   state is refused.
//	8: an empty file (size 0) is placed with no pieces: PlaceFile takes
//	   zero pieces when the size is 0 (it needed at least one segment).
//	   Version-7 state is refused.
//	9: the validator set is on the ledger (val/, valvote/ records from
//	   InitChain's validators) and changes by the ValidatorVote rule:
//	   votes of more than 2/3 of the power, with the candidate's consent
//	   (validators.go). Version-8 state is refused.
//	10: raising: PlaceFile's asked_m (a file stored below the asked parity
//	   records it: File's asked_m) and the RaisePieces rule, by which the
//	   owner adds parity pieces up to it. Version-9 state is refused.
//	11: accounts across devices: the envelope's optional account (a
//	   device signs for its account: PlaceFile, RemoveFile, RaisePieces,
//	   SubmitJob, SetRoot, SetShare, Unshare, SetInbox), the AddDevice and
//	   RemoveDevice rules (devof/, devs/, devleft/ records), namespace
//	   roots by compare-and-swap (SetRoot; root/, roots/ records; params'
//	   kept_roots), the username registry (RegisterName, ReleaseName;
//	   name/, nameof/, namegone/ records; params' name_cooldown), shares
//	   (SetShare, Unshare; share/, sharesby/, sharesto/, sharecount/
//	   records), inbox keys (SetInbox; inbox/ records), codes 39 (stale version) and 40 (not a device). A job's
//	   id is JobID(signing key, its nonce). Version-10 state is refused.
const AppVersion = 11

// Config configures an App.
type Config struct {
	// Dir is the directory of the state database; empty keeps state in memory
	// (tests, replay).
	Dir string
	// CacheSize is the IAVL node cache size, in nodes.
	CacheSize int
	// KeepVersions is how many recent committed heights stay queryable;
	// older versions are pruned. 0 keeps all.
	KeepVersions int64
	// Logger receives the app's log lines; nil means slog.Default().
	Logger *slog.Logger

	// SnapshotInterval: the app snapshots its state for state sync every
	// this many heights (snapshot.go); 0 takes none.
	SnapshotInterval int64
	// SnapshotKeep is how many of the most recent snapshots are kept (at
	// least 1).
	SnapshotKeep int
	// SnapshotDir holds the snapshots; empty means Dir/snapshots, or memory
	// when Dir is empty.
	SnapshotDir string
	// OnSnapshot, if set, is called after each snapshot is stored (tests,
	// measurements).
	OnSnapshot func(SnapshotInfo)
	// MinRetainBlocks is how many of the latest blocks CometBFT keeps; older
	// ones are pruned (prune.go). 0 keeps every block.
	MinRetainBlocks int64
}

// DefaultConfig returns the configuration a node uses, storing state in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, CacheSize: 100_000, KeepVersions: DefaultKeepVersions,
		SnapshotInterval: DefaultSnapshotInterval, SnapshotKeep: DefaultSnapshotKeep,
		MinRetainBlocks: DefaultMinRetainBlocks}
}

// chainInfo is stored once at InitChain.
type chainInfo struct {
	ChainID       string `cbor:"chain_id"`
	InitialHeight int64  `cbor:"initial_height"`
	// RulesVersion is the AppVersion whose rules wrote the state (absent,
	// i.e. 0, before version 3). Open refuses state of other rules: the
	// records and their meaning changed, and replaying old blocks under new
	// rules would fork.
	RulesVersion uint64 `cbor:"rules_version,omitempty"`
}

// ErrIncompatibleState is returned by Open for ledger state written under
// other rules (another AppVersion).
var ErrIncompatibleState = errors.New("ledger state written by other rules")

const keyChainInfo = "chain"

// App is the coop ledger as a CometBFT ABCI 2.0 application. Its methods
// below are in the order CometBFT calls them. App is safe for concurrent use;
// CheckTx does not wait for FinalizeBlock, so run it with a per-connection
// client (proxy.NewConnSyncLocalClientCreator).
type App struct {
	abci.BaseApplication

	cfg  Config
	log  *slog.Logger
	db   iavldb.DB
	sigs verifiedCache

	mu      sync.Mutex
	tree    *iavl.MutableTree
	version int64 // last committed height
	info    chainInfo
	params  Params

	// checkMu guards the mempool's view, so CheckTx runs concurrently with
	// FinalizeBlock (CometBFT calls Commit with the mempool locked).
	checkMu sync.Mutex
	check   checkState

	// treeMu keeps readers of committed versions (Query, CheckTx) apart
	// from writes to the working tree (FinalizeBlock, Commit): IAVL shares
	// nodes between the two, and a write clones a shared node by clearing
	// its child pointers, which a concurrent reader may be following (the
	// race detector caught it). Readers share it. Order: mu, then treeMu;
	// checkMu, then treeMu; never treeMu then checkMu.
	treeMu sync.RWMutex

	// State sync (snapshot.go): the snapshots kept, the height of the one
	// being taken (0: none), the restore in progress (under mu).
	snaps        *snapshotStore
	snapshotting atomic.Int64
	snapWG       sync.WaitGroup
	snapCtx      context.Context
	snapCancel   context.CancelFunc
	restore      *restore
	// floor is the height a state sync restored (prune.go), 0 if none.
	floor int64
}

// checkState is the mempool's view: committed state plus the effects of the
// txs CheckTx accepted since the last Commit, and what CheckTx needs to know
// about the chain.
type checkState struct {
	st      *overlay
	chainID string
	params  Params
	height  int64 // the height the next block will have
}

var _ abci.Application = (*App)(nil)

// ErrClosed is returned by an App after Close.
var ErrClosed = errors.New("ledger app closed")

// Open opens (or creates) the ledger state in cfg.Dir and loads the last
// committed version.
func Open(cfg Config) (*App, error) {
	a := &App{cfg: cfg, log: cfg.Logger}
	if a.log == nil {
		a.log = slog.Default()
	}
	snapDir := cfg.SnapshotDir
	if snapDir == "" && cfg.Dir != "" {
		snapDir = filepath.Join(cfg.Dir, "snapshots")
	}
	a.snaps = newSnapshotStore(snapDir)
	a.snapCtx, a.snapCancel = context.WithCancel(context.Background())
	if cfg.Dir == "" {
		a.db = iavldb.NewMemDB()
	} else {
		db, err := iavldb.NewGoLevelDB("coop-state", cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("opening ledger state in %s: %w", cfg.Dir, err)
		}
		a.db = db
	}
	a.tree = iavl.NewMutableTree(a.db, cfg.CacheSize, false, iavl.NewNopLogger(), iavl.AsyncPruningOption(false))
	v, err := a.tree.Load()
	if err != nil {
		a.db.Close()
		return nil, fmt.Errorf("loading ledger state: %w", err)
	}
	a.version = v
	if err := a.loadFloor(); err != nil {
		a.db.Close()
		return nil, err
	}
	if v > 0 {
		if _, err := getValue(a.tree, []byte(keyChainInfo), &a.info); err != nil {
			a.db.Close()
			return nil, err
		}
		if a.info.RulesVersion != AppVersion {
			a.db.Close()
			return nil, fmt.Errorf("%w: the state in %s was written by ledger rules v%d (0: before v3), this coop speaks v%d; "+
				"there is no migration yet: move the home aside and create it again (coop init, or coop devnet init)",
				ErrIncompatibleState, cfg.Dir, a.info.RulesVersion, AppVersion)
		}
		if _, err := getValue(a.tree, []byte(keyParams), &a.params); err != nil {
			a.db.Close()
			return nil, err
		}
	}
	a.resetCheck(a.committed())
	return a, nil
}

// Close releases the state database.
func (a *App) Close() error {
	a.mu.Lock()
	a.snapCancel() // under mu: no Commit starts a snapshot after this
	a.mu.Unlock()
	a.snapWG.Wait() // a snapshot being taken reads the database
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil
	}
	a.abortRestore()
	a.checkMu.Lock()
	a.check = checkState{}
	a.checkMu.Unlock()
	a.treeMu.Lock() // wait for queries still reading
	defer a.treeMu.Unlock()
	a.tree = nil
	return a.db.Close()
}

// resetCheck points the mempool's view at base (callers hold a.mu).
func (a *App) resetCheck(base kvReader) {
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	a.check = checkState{st: newOverlay(base), chainID: a.info.ChainID, params: a.params, height: a.version + 1}
}

// committed returns read access to the last committed state.
func (a *App) committed() kvReader {
	if a.version == 0 {
		return emptyState{}
	}
	t, err := a.tree.GetImmutable(a.version)
	if err != nil {
		// The version was just loaded or saved, so this is disk corruption.
		panic(fmt.Sprintf("chain: committed version %d unreadable: %v", a.version, err))
	}
	return t
}

type emptyState struct{}

func (emptyState) Get([]byte) ([]byte, error) { return nil, nil }

// Info tells CometBFT the last committed height and app hash, so it replays
// only the blocks the app has not committed.
func (a *App) Info(context.Context, *abci.InfoRequest) (*abci.InfoResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	res := &abci.InfoResponse{Data: "coop", AppVersion: AppVersion, LastBlockHeight: a.version}
	if a.version > 0 {
		res.LastBlockAppHash = a.tree.Hash()
	}
	return res, nil
}

// InitChain writes the genesis state: chain id, parameters, funded accounts.
func (a *App) InitChain(_ context.Context, req *abci.InitChainRequest) (*abci.InitChainResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	g, err := ParseGenesisState(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	if req.InitialHeight > 1 {
		a.tree.SetInitialVersion(uint64(req.InitialHeight))
	}
	initial := max(req.InitialHeight, 1)
	a.info = chainInfo{ChainID: req.ChainId, InitialHeight: initial, RulesVersion: AppVersion}
	a.params = g.Params
	gen := newOverlay(emptyState{})
	if err := setValue(gen, []byte(keyChainInfo), &a.info); err != nil {
		return nil, err
	}
	if err := setValue(gen, []byte(keyParams), &a.params); err != nil {
		return nil, err
	}
	if err := genesisValidators(gen, req.Validators); err != nil {
		return nil, err
	}
	for _, ga := range g.Accounts {
		acct := Account{Address: ga.Address, Credits: ga.Credits}
		if err := setValue(gen, accountKey(ga.Address), &acct); err != nil {
			return nil, err
		}
	}
	// Until block 1 commits, the mempool sees a copy of the genesis state.
	genCopy := newOverlay(emptyState{})
	maps.Copy(genCopy.writes, gen.writes)
	if err := gen.flush(treeWriter{a.tree}); err != nil {
		return nil, err
	}
	a.resetCheck(genCopy)
	a.log.Info("ledger genesis", "chain_id", req.ChainId, "accounts", len(g.Accounts))
	return &abci.InitChainResponse{AppHash: a.tree.WorkingHash()}, nil
}

// CheckTx admits a tx to the mempool if it would succeed on top of the
// committed state and the txs already admitted (so one account can queue
// several nonces). It runs the same code as FinalizeBlock.
func (a *App) CheckTx(_ context.Context, req *abci.CheckTxRequest) (*abci.CheckTxResponse, error) {
	a.checkMu.Lock()
	defer a.checkMu.Unlock()
	c := &a.check
	if c.st == nil {
		return nil, ErrClosed
	}
	if c.chainID == "" {
		return &abci.CheckTxResponse{Code: uint32(CodeInternal), Codespace: Codespace, Log: "ledger not initialised"}, nil
	}
	ov := newOverlay(c.st)
	a.treeMu.RLock()
	_, err := execute(ov, c.chainID, c.params, c.height, &a.sigs, req.Tx)
	a.treeMu.RUnlock()
	if err != nil {
		code, space, log, data := resultOf(err)
		return &abci.CheckTxResponse{Code: code, Codespace: space, Log: log, Data: data}, nil
	}
	if err := ov.flush(c.st); err != nil {
		return nil, err
	}
	return &abci.CheckTxResponse{Code: uint32(CodeOK)}, nil
}

// FinalizeBlock applies a decided block: the block rules (the epoch change
// if this block starts an epoch, …), then each tx through the same path as
// CheckTx. The
// returned app hash is the working tree's root.
func (a *App) FinalizeBlock(_ context.Context, req *abci.FinalizeBlockRequest) (*abci.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	a.treeMu.Lock()
	defer a.treeMu.Unlock()
	bc := &blockCtx{st: &treeWriter{a.tree}, params: a.params, chainID: a.info.ChainID, initialHeight: a.info.InitialHeight, height: req.Height, blockHash: req.Hash}
	for _, rule := range blockRules {
		if err := rule(bc); err != nil {
			return nil, fmt.Errorf("height %d: %w", req.Height, err)
		}
	}
	results := make([]*abci.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		auth, err := execute(treeWriter{a.tree}, a.info.ChainID, a.params, req.Height, &a.sigs, raw)
		res := &abci.ExecTxResult{}
		res.Code, res.Codespace, res.Log, res.Data = resultOf(err)
		if err != nil {
			if res.Code == uint32(CodeInternal) {
				// Storage failures must halt the node, not fork it.
				return nil, fmt.Errorf("height %d tx %d: %w", req.Height, i, err)
			}
		}
		if auth != nil {
			res.Events = []abci.Event{{Type: "tx", Attributes: []abci.EventAttribute{
				{Key: "type", Value: auth.tx.Type, Index: true},
				{Key: "signer", Value: auth.tx.Signer().String(), Index: true},
			}}}
			if acting := auth.tx.Acting(); acting != auth.tx.Signer() {
				res.Events[0].Attributes = append(res.Events[0].Attributes, abci.EventAttribute{Key: "account", Value: acting.String(), Index: true})
			}
			if err == nil && auth.outcome != "" {
				res.Events[0].Attributes = append(res.Events[0].Attributes, abci.EventAttribute{Key: "outcome", Value: auth.outcome, Index: true})
			}
		}
		results[i] = res
	}
	for _, rule := range blockEndRules {
		if err := rule(bc); err != nil {
			return nil, fmt.Errorf("height %d, end of block: %w", req.Height, err)
		}
	}
	return &abci.FinalizeBlockResponse{TxResults: results, ValidatorUpdates: bc.validatorUpdates, AppHash: a.tree.WorkingHash()}, nil
}

// Commit persists the working tree as version = height and resets the
// mempool view; CometBFT then rechecks the remaining mempool txs.
func (a *App) Commit(context.Context, *abci.CommitRequest) (*abci.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tree == nil {
		return nil, ErrClosed
	}
	a.treeMu.Lock()
	_, v, err := a.tree.SaveVersion()
	if err == nil {
		a.version = v
		if k := a.cfg.KeepVersions; k > 0 && v > k && v%100 == 0 {
			to := v - k
			if s := a.snapshotting.Load(); s > 0 {
				to = min(to, s-1) // a snapshot is reading version s
			}
			if err := a.tree.DeleteVersionsTo(to); err != nil {
				a.log.Warn("pruning ledger versions", "to", to, "err", err)
			}
		}
		a.maybeSnapshot(v)
	}
	a.treeMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("saving ledger state: %w", err)
	}
	a.resetCheck(a.committed())
	return &abci.CommitResponse{RetainHeight: a.retainHeight(a.version)}, nil
}

// Query answers abci_query; see query.go for the paths.
func (a *App) Query(_ context.Context, req *abci.QueryRequest) (*abci.QueryResponse, error) {
	a.mu.Lock()
	if a.tree == nil {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	version := a.version
	if req.Height > 0 && req.Height < version {
		version = req.Height
	}
	var st kvIterReader
	var err error
	if version > 0 {
		st, err = a.tree.GetImmutable(version)
	}
	params, info := a.params, a.info
	a.mu.Unlock()
	if version == 0 {
		return &abci.QueryResponse{Code: uint32(CodeNotFound), Codespace: Codespace, Log: "no committed state yet"}, nil
	}
	if err != nil {
		return &abci.QueryResponse{Code: uint32(CodeNotFound), Codespace: Codespace, Log: fmt.Sprintf("height %d not available: %v", version, err), Height: version}, nil
	}
	if req.Prove {
		a.treeMu.RLock()
		res := queryProved(st.(*iavl.ImmutableTree), version, req) // query_proof.go
		a.treeMu.RUnlock()
		return res, nil
	}
	a.treeMu.RLock()
	value, qerr := query(st, params, info, req.Path, req.Data)
	a.treeMu.RUnlock()
	if qerr != nil {
		code, space, log, _ := resultOf(qerr)
		return &abci.QueryResponse{Code: code, Codespace: space, Log: log, Height: version}, nil
	}
	return &abci.QueryResponse{Code: uint32(CodeOK), Value: value, Height: version}, nil
}
