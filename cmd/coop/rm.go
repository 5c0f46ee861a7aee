package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/storage"
)

func init() { registerCommand(newRmCmd) }

func newRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rm FILE_ID|CAPABILITY...",
		Short: "Remove the account's files from the network",
		Long: "rm records on the ledger that the files are gone: their quota is freed and the\n" +
			"holders delete their pieces and the manifest, and so does this node. A node that read\n" +
			"the file keeps the pieces in its cache until they are evicted, and anyone who copied\n" +
			"the pieces (with the capability) or the plaintext keeps them.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			var removed []string
			for _, a := range args {
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
}
