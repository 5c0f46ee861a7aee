package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/coop-network/coop/node/audit"
	"github.com/spf13/cobra"
)

func init() { registerCommand(newAuditCmd) }

func newAuditCmd() *cobra.Command {
	var all, submit bool
	var leaves int
	cmd := &cobra.Command{
		Use:   "audit PEER | --all",
		Short: "Audit storage nodes: their ledger record and a live spot check of random leaves",
		Long: `Audit shows, for one node (PEER: its account address or peer id) or every
registered node (--all), what the ledger records — status, uptime over the
window, audit score, proofs passed/failed/missed, faults, pieces lost,
stored and pledged bytes — and spot-checks it live: the local node asks it
for random leaves of random pieces the ledger credits to it, over the piece
exchange, and checks each signed answer against the ledger's Merkle root,
with the latency.

A signed wrong answer is evidence; --submit puts it on the ledger as a
report_fault transaction from this node's account, which the ledger
verifies and counts against the holder (a failed audit, the piece lost).`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case all && len(args) > 0:
				return errors.New("give either PEER or --all, not both")
			case !all && len(args) != 1:
				return errors.New("give one PEER (account address or peer id), or --all")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			opts := audit.Options{Leaves: leaves, Submit: submit}
			if !all {
				opts.Target = args[0]
			}
			rep, err := c.Audit(cmd.Context(), opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(rep)
			}
			return writeAuditTable(out, rep)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "audit every registered node")
	cmd.Flags().BoolVar(&submit, "submit", false, "put the evidence of wrong signed answers on the ledger (report_fault)")
	cmd.Flags().IntVar(&leaves, "leaves", audit.DefaultLeaves, fmt.Sprintf("leaves to spot-check per node (1 to %d)", audit.MaxLeaves))
	return cmd
}

// writeAuditTable writes an audit report for people: one row per node,
// then the failed checks, the evidence and its submissions.
func writeAuditTable(w io.Writer, rep *audit.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tSTATUS\tUPTIME\tSCORE\tPROOFS P/F/M\tFAULTS\tLOST\tSTORED\tPLEDGED\tCHECK\tLATENCY\n")
	for _, n := range rep.Nodes {
		check := "-"
		if len(n.Checks) > 0 {
			check = fmt.Sprintf("%d/%d ok", n.Passed, len(n.Checks))
		} else if n.Error != "" {
			check = "error"
		}
		latency := "-"
		if n.LatencyMaxMicros > 0 {
			latency = fmt.Sprintf("%s/%s", formatMicros(n.LatencyMedianMicros), formatMicros(n.LatencyMaxMicros))
		}
		uptime := fmt.Sprintf("%d%% of %d", n.UptimePercent, n.UptimeEpochs)
		if n.UptimeEpochs == 0 {
			uptime = "unmeasured"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d.%d%%\t%d/%d/%d\t%d\t%d\t%s\t%s\t%s\t%s\n",
			n.Address, n.Status, uptime, n.Score/10, n.Score%10, n.ProofsPassed, n.ProofsFailed, n.ProofsMissed,
			n.Faults, n.PiecesLost, formatBytes(n.Stored), formatBytes(n.Pledged), check, latency)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(uptime over the last %d epochs; score: audit score, suspended below %d.%d%%, disqualified below %d.%d%%; latency: median/max; %d leaves per node)\n",
		rep.UptimeWindow, rep.SuspendBelowPermille/10, rep.SuspendBelowPermille%10, rep.DisqualifyBelowPermille/10, rep.DisqualifyBelowPermille%10, rep.Leaves)
	for _, n := range rep.Nodes {
		if n.Error != "" {
			fmt.Fprintf(w, "%s: not spot-checked: %s\n", n.Address, n.Error)
		}
		for _, c := range n.Checks {
			if c.Result != audit.ResultOK {
				fmt.Fprintf(w, "%s: leaf %d of piece %s (file %s segment %d index %d): %s: %s\n",
					n.Address, c.Leaf, c.Piece, c.File, c.Segment, c.Index, c.Result, c.Error)
			}
		}
		for _, ev := range n.Evidence {
			fmt.Fprintf(w, "%s: EVIDENCE: signed wrong answer for leaf %d of piece %s\n", n.Address, ev.Leaf, ev.Piece)
		}
		for _, s := range n.Submitted {
			if s.Error != "" {
				fmt.Fprintf(w, "%s: report_fault for evidence %s refused: %s\n", n.Address, s.Evidence, s.Error)
			} else {
				fmt.Fprintf(w, "%s: report_fault for evidence %s committed in tx %s at height %d\n", n.Address, s.Evidence, s.Tx, s.Height)
			}
		}
		if len(n.Evidence) > 0 && len(n.Submitted) == 0 {
			fmt.Fprintf(w, "%s: run with --submit to report the evidence to the ledger\n", n.Address)
		}
	}
	return nil
}

// formatMicros writes a latency in µs as milliseconds.
func formatMicros(us int64) string {
	if us < 1000 {
		return fmt.Sprintf("%.2fms", float64(us)/1000)
	}
	return fmt.Sprintf("%.1fms", float64(us)/1000)
}
