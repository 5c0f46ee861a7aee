package chain

import (
	corestore "cosmossdk.io/core/store"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
)

// blockCtx is what a block rule sees: the working state, the parameters and
// the block being finalized.
type blockCtx struct {
	st            *treeWriter
	params        Params
	chainID       string
	initialHeight int64
	height        int64
	blockHash     []byte
	// newEpoch is set by beginEpoch when this block starts an epoch, so the
	// rules after it (challenges, uptime) can act on epoch boundaries.
	newEpoch *Epoch
	// validatorUpdates are the validator set changes this block applied,
	// for CometBFT (validators.go).
	validatorUpdates []abci.ValidatorUpdate
}

// blockRules run at the start of every block, before its transactions, in
// this order. A rule for a new concern (proof settlement, job deadlines) is
// one more line here and its own file.
var blockRules = []func(b *blockCtx) error{
	beginEpoch,
	settleEpoch, // after beginEpoch: it closes the epoch before b.newEpoch
	pruneTombstones,
	jobDeadlines, // job.go: assignments and deadlines of compute jobs
}

// blockEndRules run at the end of every block, after its transactions, in
// this order. They act on what the block's transactions asked for this
// very block: a job submitted in it is assigned from its own hash (the
// same randomness a rule at the start of the next block would have, known
// to nobody before the block is decided but its proposer), which takes a
// block off every job's latency.
var blockEndRules = []func(b *blockCtx) error{
	jobDeadlines,     // the jobs this block's SubmitJob txs made due now
	validatorUpdates, // validators.go: the set changes the block's votes applied
}

// treeWriter adapts the working IAVL tree to kvWriter, with prefix scans
// for block rules.
type treeWriter struct{ t *iavl.MutableTree }

func (w treeWriter) Get(key []byte) ([]byte, error) { return w.t.Get(key) }

func (w treeWriter) Set(key, value []byte) error {
	_, err := w.t.Set(key, value)
	return err
}

func (w treeWriter) Delete(key []byte) error {
	_, _, err := w.t.Remove(key)
	return err
}

// Iterator scans the working tree (including this block's writes).
func (w treeWriter) Iterator(start, end []byte, ascending bool) (corestore.Iterator, error) {
	return w.t.Iterator(start, end, ascending)
}

// scanAll calls fn for every entry under prefix in the working tree, in key
// order. fn must not write to the tree; collect and write afterwards.
func (b *blockCtx) scanAll(prefix []byte, fn func(k, v []byte) error) error {
	return scanN(b.st, prefix, -1, fn)
}
