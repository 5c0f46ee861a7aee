package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newLsCmd) }

func newLsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the account's files (from the ledger)",
		Long: "ls lists the files this account placed, as the ledger records them, so any node\n" +
			"running the same account key sees them. -l adds full file ids and capabilities:\n" +
			"each file's key is sealed on the ledger for the account key, so every device of the\n" +
			"account can print them (and read the files with `coop get FILE_ID`). Names are only\n" +
			"known on the node that did the put.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			files, err := c.Files(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(files)
			}
			if len(files) == 0 {
				fmt.Fprintln(out, "no files")
				return nil
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			long := cfg.GetBool("long")
			fmt.Fprint(tw, "FILE ID\tSIZE\tK+M\tPIECES\tNAME")
			if long {
				fmt.Fprint(tw, "\tCAPABILITY")
			}
			fmt.Fprintln(tw)
			for _, f := range files {
				id := f.FileID
				if !long && len(id) > 16 {
					id = id[:16]
				}
				// Names and errors come from the node: printed escaped, so a
				// control character in one cannot rewrite the terminal.
				fmt.Fprintf(tw, "%s\t%s\t%d+%d\t%d\t%s", api.PrintableName(id), formatBytes(f.Size), f.K, f.M, f.Pieces, api.PrintableName(f.Name))
				if long {
					if f.Capability != "" {
						fmt.Fprintf(tw, "\t%s", api.PrintableName(f.Capability))
					} else {
						fmt.Fprintf(tw, "\t(no key: %s)", api.PrintableName(f.KeyError))
					}
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolP("long", "l", false, "show full file ids and capabilities")
	return cmd
}
