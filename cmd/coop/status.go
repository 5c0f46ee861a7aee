package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newStatusCmd) }

func newStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show this node's ledger height, pledge, quota, pieces held and cache use",
		Long: `Show this node's state. The chain height line gives the time of the
ledger's latest block and says STALLED when no block came for longer than
the stall bound (30 s by default): then transactions (put, rm, register)
fail after that bound, and a quorum of validators is likely down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(st)
			}
			fmt.Fprintf(out, "account:      %s\n", st.Account)
			fmt.Fprintf(out, "peer:         %s (%d connected)\n", st.PeerID, st.Peers)
			if st.MDNS {
				fmt.Fprintf(out, "local net:    mDNS on, %d nodes of this network found\n", st.MDNSPeers)
			}
			fmt.Fprintf(out, "chain height: %s\n", ledgerText(st, time.Now()))
			fmt.Fprintf(out, "pledge:       %s (%s used), cpu %d\n", formatBytes(st.PledgedBytes), formatBytes(st.PledgeUsed), st.CPUUnits)
			fmt.Fprintf(out, "quota:        %s used of %s (earned %s)\n", formatBytes(st.QuotaUsed), formatBytes(st.QuotaLimit), formatBytes(st.QuotaEarned))
			fmt.Fprintf(out, "held:         %d pieces credited, %s pinned\n", st.PiecesHeld, formatBytes(st.BytesHeld))
			fmt.Fprintf(out, "cache:        %s of %s\n", formatBytes(st.CacheBytes), formatBytes(st.CacheCapacity))
			fmt.Fprintf(out, "proofs:       %d passed, %d failed; %s\n", st.ProofsPassed, st.ProofsFailed, uptimeText(st.Uptime))
			if st.NodeStatus != "" {
				fmt.Fprintf(out, "standing:     %s, audit score %s, %d pieces lost\n", st.NodeStatus, permille(st.AuditScore), st.PiecesLost)
			}
			fmt.Fprintf(out, "scrub:        %s\n", scrubText(st.LastScrub))
			fmt.Fprintf(out, "repairs:      %d pieces moved to new holders since start\n", st.PiecesRepaired)
			return nil
		},
	}
}

// uptimeText describes a node's uptime window: proved epochs of the recent
// ones the ledger measured.
func uptimeText(w []bool) string {
	if len(w) == 0 {
		return "uptime not measured yet (no epoch with pieces to prove)"
	}
	return fmt.Sprintf("proved %d of the last %d epochs", provedEpochs(w), len(w))
}

// permille prints a permille score as a decimal fraction: 950 → "0.950".
func permille(v uint64) string { return fmt.Sprintf("%d.%03d", v/1000, v%1000) }

// scrubText sums up the last scrub for `coop status`.
func scrubText(r *api.ScrubReport) string {
	if r == nil {
		return "none yet (coop scrub runs one)"
	}
	return fmt.Sprintf("last %s: %d of %d pieces checked, %d ok, %d corrupt, %d missing, %d reported lost",
		r.Started.Local().Format("2006-01-02 15:04"), r.Pieces, r.TotalPieces, r.OK, r.Corrupt, r.Missing, r.Reported)
}

// ledgerText is the chain height line of `coop status`: the height, the
// age of the latest block, and STALLED past the stall bound.
func ledgerText(st *api.Status, now time.Time) string {
	if st.LastBlockTime == nil {
		return fmt.Sprintf("%d", st.ChainHeight)
	}
	age := max(now.Sub(*st.LastBlockTime), 0)
	s := fmt.Sprintf("%d, last block %s (%s)", st.ChainHeight, agoText(age), st.LastBlockTime.Local().Format("15:04:05"))
	if st.LedgerStalled {
		s += fmt.Sprintf(": STALLED, no block for over %v: is a quorum of validators up? (transactions fail meanwhile)", time.Duration(st.StallAfterSeconds*float64(time.Second)))
	}
	return s
}
