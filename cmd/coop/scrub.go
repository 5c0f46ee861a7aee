package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newScrubCmd) }

func newScrubCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scrub",
		Short: "Check the pieces this node holds now; drop and report the corrupt or missing ones",
		Long: "Re-reads every piece the ledger credits this node with and checks it against its\n" +
			"content id and the ledger's Merkle root. A corrupt or missing piece is dropped and\n" +
			"reported lost on the ledger (ReportLost), so repair starts before a challenge\n" +
			"finds it: reporting costs the quota earned for those bytes, not a failed audit.\n" +
			"The daemon also scrubs in the background, daily (--scrub-interval, --scrub-rate).\n" +
			"With --last, shows the last scrub's report instead of scrubbing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cfg.GetBool("last") {
				rep, err := c.LastScrub(cmd.Context())
				if err != nil {
					return err
				}
				return printScrub(out, rep)
			}
			rate, err := parseBytes("--rate", cfg.GetString("rate"))
			if err != nil {
				return err
			}
			if rate > 1<<62 {
				return fmt.Errorf("--rate: %s per second is too large", formatBytes(rate))
			}
			var bar io.Writer
			var shown int64
			rep, err := c.Scrub(cmd.Context(), api.ScrubOptions{Rate: int64(rate)}, func(p api.ScrubProgress) {
				if bar == nil {
					bar = progress(p.TotalBytes, "scrub")
				}
				if a, ok := bar.(interface{ Add64(int64) error }); ok && p.Bytes > shown {
					_ = a.Add64(p.Bytes - shown)
				}
				shown = p.Bytes
			})
			if f, ok := bar.(interface{ Finish() error }); ok {
				_ = f.Finish()
			}
			if rep != nil {
				if perr := printScrub(out, rep); perr != nil && err == nil {
					err = perr
				}
			}
			return err
		},
	}
	cmd.Flags().String("rate", "0", "cap on bytes read per second, e.g. 50MiB (0: the daemon's --scrub-rate)")
	cmd.Flags().Bool("last", false, "show the last scrub's report (background or on demand) instead of scrubbing")
	return cmd
}

// printScrub prints a scrub report: a table for people, JSON with --json.
func printScrub(out io.Writer, r *api.ScrubReport) error {
	if jsonOutput() {
		return json.NewEncoder(out).Encode(r)
	}
	kind := "on demand"
	if r.Background {
		kind = "in the background"
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "scrub\t%s, %s\n", r.Started.Local().Format("2006-01-02 15:04:05"), kind)
	fmt.Fprintf(tw, "checked\t%d of %d pieces\n", r.Pieces, r.TotalPieces)
	fmt.Fprintf(tw, "bytes\t%s read of %s\n", formatBytes(r.Bytes), formatBytes(r.TotalBytes))
	fmt.Fprintf(tw, "ok\t%d\n", r.OK)
	fmt.Fprintf(tw, "corrupt\t%d\n", r.Corrupt)
	fmt.Fprintf(tw, "missing\t%d\n", r.Missing)
	if r.Unreadable > 0 {
		fmt.Fprintf(tw, "unreadable\t%d (kept; tried again next scrub)\n", r.Unreadable)
	}
	fmt.Fprintf(tw, "reported\t%d lost on the ledger (%d tx)\n", r.Reported, r.ReportTxs)
	fmt.Fprintf(tw, "time\t%.1fs\n", r.Seconds)
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Lost) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PIECE\tPROBLEM\tFILE/SEGMENT/INDEX\tDETAIL")
	for _, f := range r.Lost {
		files := make([]string, len(f.Files))
		for i, s := range f.Files {
			files[i] = short(s[:min(len(s), 64)]) + s[min(len(s), 64):]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", short(f.Piece), f.Problem, strings.Join(files, " "), f.Detail)
	}
	if r.LostOmitted > 0 {
		fmt.Fprintf(tw, "… and %d more\t\t\t\n", r.LostOmitted)
	}
	return tw.Flush()
}
