package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newAccountCmd) }

func newAccountCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "account [address]",
		Short: "Show an account: address, credits, quota (default: this home's account)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var addr chain.Address
			if len(args) == 1 {
				a, err := chain.ParseAddress(args[0])
				if err != nil {
					return err
				}
				addr = a
			} else {
				key, err := ledger.LoadKey(ledger.KeyPath(homeDir()))
				if err != nil {
					return err
				}
				addr = ledger.AddressOf(key)
			}
			c, err := ledgerClient(ctx)
			if err != nil {
				return err
			}
			acct, err := c.Account(ctx, addr)
			if err != nil {
				return err
			}
			var node *chain.Node
			if n, err := c.Node(ctx, addr); err == nil {
				node = &n
			} else if !errors.Is(err, chain.ErrNotFound) {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(struct {
					chain.AccountView
					Node *chain.Node `json:"node,omitempty"`
				}{acct, node})
			}
			fmt.Fprintf(out, "address  %s\ncredits  %d\nnonce    %d\nquota    %s used of %s (earned %s)\n",
				acct.Address, acct.Credits, acct.Nonce, ledgerFormatBytes(acct.QuotaUsed), ledgerFormatBytes(acct.QuotaLimit), ledgerFormatBytes(acct.QuotaEarned))
			if node != nil {
				fmt.Fprintf(out, "node     %s, pledge %s (%s used), cpu %d, peer %s\n", node.Status, ledgerFormatBytes(node.Pledge), ledgerFormatBytes(node.Used), node.CPU, node.PeerID)
			} else {
				fmt.Fprintln(out, "node     not registered (coop node register --pledge 100GiB)")
			}
			return nil
		},
	}
}
