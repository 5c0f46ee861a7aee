package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

// newNodePeerAddressCmd is `coop node peer-address`.
func newNodePeerAddressCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "peer-address",
		Short: "Print this home's CometBFT peer address, NODEID@HOST:PORT, for `coop init --join … --peer`",
		Long: "peer-address prints the CometBFT peer address of --home: its node id (from account.key)\n" +
			"and the host:port of its p2p listen address. A wildcard host (0.0.0.0) is printed as\n" +
			"is: give other machines the address they reach this one at instead.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pa, err := ledger.PeerAddress(homeDir())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), pa)
			return err
		},
	}
}
