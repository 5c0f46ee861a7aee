package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage"
)

func init() { registerCommand(newRmCmd) }

func newRmCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rm FILE_ID|CAPABILITY|PATH...",
		Short: "Remove the account's files from the network",
		Long: "rm records on the ledger that the files are gone: their quota is freed and the\n" +
			"holders delete their pieces and the manifest, and so does this node. A node that read\n" +
			"the file keeps the pieces in its cache until they are evicted, and anyone who copied\n" +
			"the pieces (with the capability) or the plaintext keeps them.\n\n" +
			"A PATH (starting with /) removes that file (or, with -r, directory) from the account's\n" +
			"namespace: its pieces stay while a kept namespace version names it (coop restore\n" +
			"brings it back), and are released after.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			var removed []string
			for _, a := range args {
				if strings.HasPrefix(a, "/") {
					ch, err := c.RemovePath(cmd.Context(), a, cfg.GetBool("recursive"))
					if err != nil {
						return fmt.Errorf("%s: %w", a, err)
					}
					removed = append(removed, a)
					if !jsonOutput() {
						fmt.Fprintf(cmd.OutOrStdout(), "removed %s (namespace version %d)\n", api.PrintableName(a), ch.Version)
					}
					continue
				}
				id := a
				if cp, err := storage.ParseCapability(a); err == nil {
					id = cp.FileID.String()
				}
				if err := c.Remove(cmd.Context(), id); err != nil {
					return fmt.Errorf("%s: %w", id, err)
				}
				removed = append(removed, id)
				if !jsonOutput() {
					fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", id)
				}
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{"removed": removed})
			}
			return nil
		},
	}
	cmd.Flags().BoolP("recursive", "r", false, "remove a namespace directory and everything under it")
	return cmd
}
