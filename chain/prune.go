package chain

import (
	"encoding/binary"
	"fmt"
)

// Pruning defaults (DefaultConfig). Blocks: CometBFT deletes blocks below
// the retain height the app returns from Commit; the app asks to keep the
// last MinRetainBlocks, never fewer than reach back to its oldest kept
// snapshot (peers that state sync from it fetch the blocks after it), and
// the node raises MinRetainBlocks to the genesis evidence age
// (consensus_params.evidence.max_age_num_blocks, CometBFT's default
// 100,000) so evidence can still be checked. Ledger state: the IAVL
// versions of the last KeepVersions heights stay queryable (abci_query
// with a height), older ones are deleted every 100 heights.
const (
	// DefaultMinRetainBlocks: about 11 hours of 0.4 s blocks.
	DefaultMinRetainBlocks = 100_000
	// DefaultKeepVersions: about 7 minutes of 0.4 s blocks.
	DefaultKeepVersions = 1000
)

// retainHeight is the lowest height whose block CometBFT must keep after
// committing v; 0 keeps every block (callers hold a.mu).
func (a *App) retainHeight(v int64) int64 {
	k := a.cfg.MinRetainBlocks
	if k <= 0 {
		return 0
	}
	r := v - k + 1
	if iv := a.cfg.SnapshotInterval; iv > 0 {
		// The oldest snapshot kept is at most this old.
		r = min(r, v-iv*int64(max(a.cfg.SnapshotKeep, 1)))
	}
	if r <= a.floor {
		// Below the first block this node has: a node restored from a
		// snapshot has nothing before it (CometBFT refuses such a height).
		return 0
	}
	return r
}

// keyRestored, outside the IAVL tree (whose keys all start with one of its
// own prefix letters), records the height a state sync restored, so that
// retainHeight knows there are no blocks below it.
var keyRestored = []byte("coop/restored-height")

// loadFloor reads the restored height (0 if the state was not restored).
func (a *App) loadFloor() error {
	b, err := a.db.Get(keyRestored)
	if err != nil {
		return fmt.Errorf("reading the restored height: %w", err)
	}
	if len(b) == 8 {
		a.floor = int64(binary.BigEndian.Uint64(b))
	}
	return nil
}

// saveFloor records that the state was restored at height h.
func (a *App) saveFloor(h int64) error {
	a.floor = h
	b := a.db.NewBatch()
	defer b.Close()
	if err := b.Set(keyRestored, binary.BigEndian.AppendUint64(nil, uint64(h))); err != nil {
		return err
	}
	return b.WriteSync()
}
