package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newPeersCmd) }

func newPeersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the network's nodes and whether this node is connected to them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			peers, err := c.Peers(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(peers)
			}
			if len(peers) == 0 {
				fmt.Fprintln(out, "no other nodes on the ledger")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tPEER\tCONNECTED\tPLEDGED\tUSED\tSTATUS\tSCORE\tUPTIME\tLOST")
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\t%s\t%s\t%s\t%d\n", short(p.Account), short(p.PeerID), p.Connected, formatBytes(p.Pledged), formatBytes(p.Used), p.Status, permille(p.AuditScore), uptimeShort(p.Uptime), p.PiecesLost)
			}
			return tw.Flush()
		},
	}
}

// short abbreviates a long id for tables.
func short(s string) string {
	if len(s) > 12 {
		return s[:6] + "…" + s[len(s)-4:]
	}
	return s
}

// uptimeShort is a node's uptime window as "proved/measured", "-" if empty.
func uptimeShort(w []bool) string {
	if len(w) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", provedEpochs(w), len(w))
}

// provedEpochs counts the proved epochs (true entries) of an uptime window.
func provedEpochs(w []bool) int {
	up := 0
	for _, ok := range w {
		if ok {
			up++
		}
	}
	return up
}
