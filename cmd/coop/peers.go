package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newPeersCmd) }

func newPeersCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the network's nodes, whether they answer a ping now and when they were last seen",
		Long: `List the nodes the ledger records, other than this one: whether this
node has a connection to each (CONN), whether it answered a ping just now
(ANSWERS, with the round trip; pings are made when you ask, at most 2 s
each), when this daemon was last in contact with it (SEEN: now while
connected; "-" if never since the daemon started), and its ledger record.`,
		Args: cobra.NoArgs,
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
			fmt.Fprintln(tw, "ACCOUNT\tPEER\tCONN\tANSWERS\tSEEN\tPLEDGED\tUSED\tSTATUS\tSCORE\tUPTIME\tLOST")
			now := time.Now()
			for _, p := range peers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", short(p.Account), short(p.PeerID), yesNo(p.Connected), answersShort(p), seenShort(p.LastSeen, now), formatBytes(p.Pledged), formatBytes(p.Used), p.Status, permille(p.AuditScore), uptimeShort(p.Uptime), p.PiecesLost)
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

// yesNo prints a flag for tables.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// answersShort is a peer's ping now: "yes 3ms" or "no".
func answersShort(p api.PeerInfo) string {
	if !p.Answers {
		return "no"
	}
	return fmt.Sprintf("yes %s", (time.Duration(p.PingMillis * float64(time.Millisecond))).Round(100*time.Microsecond))
}

// seenShort is how long ago a peer was last in contact: "now", "42s ago",
// "-" for never.
func seenShort(at *time.Time, now time.Time) string {
	if at == nil {
		return "-"
	}
	d := now.Sub(*at)
	if d < time.Second {
		return "now"
	}
	return agoText(d)
}

// agoText is a duration in the past, rounded for people: "42s ago",
// "5m ago", "3h ago", "2d ago".
func agoText(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
