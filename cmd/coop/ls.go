package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newLsCmd) }

func newLsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ls [PATH]",
		Short: "List the account's files (from the ledger), or a namespace directory",
		Long: "ls lists the files this account placed, as the ledger records them, so any node\n" +
			"running the same account key sees them. -l adds full file ids and capabilities:\n" +
			"each file's key is sealed on the ledger for the account key, so every device of the\n" +
			"account can print them (and read the files with `coop get FILE_ID`). Names are only\n" +
			"known on the node that did the put. With no node running in --home, ls reads the\n" +
			"home's copy of the ledger itself: the files as of the last block that node saw.\n\n" +
			"With a PATH (starting with /), ls lists that directory of the account's namespace\n" +
			"(size, modification time, redundancy, name; -l adds capabilities), as it is now or,\n" +
			"with --at, in a kept version (coop log). Shares received are under /shared-with-me;\n" +
			"coop://NAME/PATH lists another account's public folder (what it put under /public).",
		Example: "  coop ls\n  coop ls /\n  coop ls -l /docs\n  coop ls /docs --at 7\n  coop ls /shared-with-me\n  coop ls coop://alice/",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if !strings.HasPrefix(args[0], "/") && !strings.HasPrefix(args[0], "coop://") {
					return fmt.Errorf("PATH %q must start with / (the root of the account's namespace) or coop://NAME/ (an account's public folder)", args[0])
				}
				c, err := daemonClient()
				if err != nil {
					return err
				}
				return lsPath(cmd, c, args[0])
			}
			files, offline, err := lsFiles(cmd.Context())
			if err != nil {
				return err
			}
			if offline && !jsonOutput() {
				fmt.Fprintf(cmd.ErrOrStderr(), "no node running in %s: read from its ledger state as of the last block it saw\n", homeDir())
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
				km := fmt.Sprintf("%d+%d", f.K, f.M)
				switch {
				case f.AskedK > 0 && f.RaiseTo > 0:
					// Stored below the asked redundancy on a small network,
					// raised as nodes join.
					km += fmt.Sprintf(" (asked %d+%d, raising to %d+%d)", f.AskedK, f.AskedM, f.K, f.RaiseTo)
				case f.AskedK > 0:
					km += fmt.Sprintf(" (asked %d+%d)", f.AskedK, f.AskedM)
				case f.RaiseTo > 0:
					km += fmt.Sprintf(" (raising to %d+%d)", f.K, f.RaiseTo)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s", api.PrintableName(id), formatBytes(f.Size), km, f.Pieces, api.PrintableName(f.Name))
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
	cmd.Flags().Uint64("at", 0, "with a PATH: list it as it was in this namespace version")
	return cmd
}

// lsFiles lists the account's files through the running node, or, if no
// node runs in the home (its lock is free), from the home's ledger state
// (offline is then true). The home stays locked while it is read, so no
// node starts meanwhile.
func lsFiles(ctx context.Context) (files []api.FileInfo, offline bool, err error) {
	c, err := daemonClient()
	if err == nil {
		if files, err = c.Files(ctx); err == nil {
			return files, false, nil
		}
	}
	home := homeDir()
	lock, lerr := lockHome(home)
	if lerr != nil {
		return nil, false, err // a node holds the home: its answer stands
	}
	defer lock.Release()
	key, kerr := ledger.LoadKey(ledger.KeyPath(home))
	if kerr != nil {
		return nil, false, errors.Join(err, kerr)
	}
	lc, closeState, serr := ledger.OpenState(ctx, home)
	if serr != nil {
		return nil, false, fmt.Errorf("no node running in %s, and its ledger state cannot be read: %w", home, serr)
	}
	defer closeState()
	defer lc.Close()
	files, err = node.ListFiles(ctx, home, key, lc)
	return files, true, err
}
