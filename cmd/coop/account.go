package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newAccountCmd) }

func newAccountCmd() *cobra.Command {
	cmd := &cobra.Command{
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
			defer c.Close()
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
				acct.Address, acct.Credits, acct.Nonce, formatBytes(acct.QuotaUsed), formatBytes(acct.QuotaLimit), formatBytes(acct.QuotaEarned))
			if acct.QuotaLent > 0 {
				fmt.Fprintf(out, "lent     %s of the quota used is held back until holders that spent it free space\n", formatBytes(acct.QuotaLent))
			}
			if acct.QuotaOwed > 0 {
				fmt.Fprintf(out, "owes     %s of quota to owners whose files it no longer holds\n", formatBytes(acct.QuotaOwed))
			}
			if acct.CreditsEscrowed > 0 || acct.CreditsEarned > 0 || acct.CreditsSpent > 0 {
				fmt.Fprintf(out, "compute  %d credits earned by running jobs, %d spent on jobs, %d in escrow for open jobs\n", acct.CreditsEarned, acct.CreditsSpent, acct.CreditsEscrowed)
			}
			if node != nil {
				fmt.Fprintf(out, "node     %s, pledge %s (%s used, %s held for others), cpu %d, peer %s\n", node.Status, formatBytes(node.Pledge), formatBytes(node.Used), formatBytes(node.HeldForOthers), node.CPU, node.PeerID)
			} else {
				fmt.Fprintln(out, "node     not registered (coop node register --pledge 100GiB)")
			}
			return nil
		},
	}
	cmd.AddCommand(newAccountSendCmd())
	return cmd
}

func newAccountSendCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "send <address> <credits>",
		Short: "Transfer credits from this home's account to another",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := chain.ParseAddress(args[0])
			if err != nil {
				return err
			}
			amount, err := strconv.ParseUint(args[1], 10, 64)
			if err != nil {
				return fmt.Errorf("credits %q: want a whole number ≥ 1: %w", args[1], err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := ledgerSigningClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.BroadcastCommit(ctx, &chain.Transfer{To: to, Amount: amount})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(map[string]any{"tx": res.Hash, "height": res.Height, "to": to, "amount": amount})
			}
			fmt.Fprintf(out, "sent %d credits to %s in block %d (tx %s)\n", amount, to, res.Height, res.Hash)
			return nil
		},
	}
}
