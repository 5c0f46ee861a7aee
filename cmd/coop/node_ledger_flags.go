package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

// addLedgerAppFlags adds `coop node`'s flags for the ledger's snapshots
// and pruning (also COOP_* env vars and the home's config file).
func addLedgerAppFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.Int64("snapshot-interval", chain.DefaultSnapshotInterval, "snapshot the ledger state for nodes joining by state sync every this many blocks (0: none)")
	f.Int("snapshot-keep", chain.DefaultSnapshotKeep, "how many of the latest ledger snapshots to keep")
	f.Int64("min-retain-blocks", chain.DefaultMinRetainBlocks, "keep at least this many of the latest blocks, older ones are pruned (0: keep all; never fewer than back to the oldest snapshot, nor than the genesis evidence age)")
	f.Int64("keep-versions", chain.DefaultKeepVersions, "how many recent heights of ledger state stay queryable (0: all)")
}

// ledgerNodeConfig is the ledger node's configuration for home from cfg.
func ledgerNodeConfig(home string) (ledger.Config, error) {
	c := ledger.DefaultConfig(home)
	c.App.SnapshotInterval = cfg.GetInt64("snapshot-interval")
	c.App.SnapshotKeep = cfg.GetInt("snapshot-keep")
	c.App.MinRetainBlocks = cfg.GetInt64("min-retain-blocks")
	c.App.KeepVersions = cfg.GetInt64("keep-versions")
	for _, v := range []struct {
		name string
		n    int64
	}{{"snapshot-interval", c.App.SnapshotInterval}, {"snapshot-keep", int64(c.App.SnapshotKeep)}, {"min-retain-blocks", c.App.MinRetainBlocks}, {"keep-versions", c.App.KeepVersions}} {
		if v.n < 0 {
			return c, fmt.Errorf("--%s %d: want 0 or more", v.name, v.n)
		}
	}
	if c.App.SnapshotInterval > 0 && c.App.SnapshotKeep < 1 {
		return c, fmt.Errorf("--snapshot-keep 0 with --snapshot-interval %d: keep at least one snapshot", c.App.SnapshotInterval)
	}
	return c, nil
}
