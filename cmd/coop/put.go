package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newPutCmd) }

func newPutCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put FILE [PATH]",
		Short: "Store a file on the network; prints its capability and file id",
		Long: "put encrypts FILE on this machine, erasure-codes it into k data and m parity pieces\n" +
			"per segment (or --copies whole copies) and spreads the pieces over other nodes.\n" +
			"It prints the file id and the capability: the capability alone reads the file back\n" +
			"from any node, so keep it secret. Needs a running `coop node` in --home.\n\n" +
			"On a network with fewer answering nodes than k+m, put stores the file at the largest\n" +
			"redundancy the network gives (the same k with fewer parity pieces, else whole copies on\n" +
			"the nodes there are, else this node's store alone) and says so in one line on stderr\n" +
			"(with --json, in the result's degraded, asked_k and asked_m fields).\n" +
			"The ledger records the asked parity, and the node's repairer raises the file to it as\n" +
			"nodes join, adding parity pieces (copies stay copies: a file stored as copies gains\n" +
			"copies until it survives as many losses as asked). --strict refuses instead.\n\n" +
			"With PATH (starting with /), the file goes into the account's namespace at PATH\n" +
			"(a PATH ending in / is a directory: the file keeps its name there), replacing what\n" +
			"is there, and every device of the account sees it once the change commits. Without\n" +
			"--k/--m/--copies it takes the redundancy its directory sets (coop redundancy).",
		Example: "  coop put photo.jpg\n  coop put --k 4 --m 2 backup.tar\n  coop put --copies 3 notes.txt\n  coop put report.pdf /docs/\n  coop put report.pdf /docs/2026/report.pdf",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := api.PutOptions{K: cfg.GetInt("k"), M: cfg.GetInt("m"), Copies: cfg.GetInt("copies"), Name: cfg.GetString("name"), Strict: cfg.GetBool("strict")}
			if opts.Copies > 0 && (cmd.Flags().Changed("k") || cmd.Flags().Changed("m")) {
				return fmt.Errorf("give either --copies or --k/--m, not both")
			}
			if opts.Name == "" {
				opts.Name = filepath.Base(args[0])
			}
			if err := api.CheckName(opts.Name); err != nil {
				return fmt.Errorf("%w; give the file another name with --name", err)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", args[0])
			}
			c, err := daemonClient()
			if err != nil {
				return err
			}
			start := time.Now()
			if len(args) == 2 {
				return putPath(cmd, c, f, st, args[1], opts)
			}
			bar := progress(st.Size(), "put")
			res, err := c.Put(cmd.Context(), io.TeeReader(f, bar), st.Size(), opts)
			if closer, ok := bar.(interface{ Finish() error }); ok {
				_ = closer.Finish()
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				// The result carries it: degraded, asked_k, asked_m.
				return json.NewEncoder(out).Encode(res)
			}
			if res.Degraded != "" {
				// One line, on stderr: stdout stays what a full put prints.
				fmt.Fprintln(cmd.ErrOrStderr(), res.Degraded)
			}
			holders := map[string]bool{}
			for _, p := range res.Pieces {
				holders[p.Holder] = true
			}
			secs := time.Since(start).Seconds()
			fmt.Fprintf(out, "stored %s (%s) as k=%d m=%d on %d holders in %.1fs (%s/s)\n", opts.Name, formatBytes(res.Size), res.K, res.M, len(holders), secs, formatBytes(int64(float64(res.Size)/max(secs, 1e-3))))
			fmt.Fprintf(out, "file id:    %s\n", res.FileID)
			fmt.Fprintf(out, "capability: %s\n", res.Capability)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int("k", 0, "data pieces per segment (default: the node's, 4)")
	f.Int("m", 0, "parity pieces per segment (default: the node's, 2)")
	f.Int("copies", 0, "store whole copies instead of erasure-coded pieces")
	f.Bool("strict", false, "fail rather than store below the asked redundancy on a small network")
	f.String("name", "", "name recorded in this node's file list (default: the file's base name)")
	return cmd
}
