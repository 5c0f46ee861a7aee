package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newDeviceCmd) }

func newDeviceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "device",
		Short: "Use one account from many devices",
		Long: "An account can have many devices, each a coop node with its own node key. A device\n" +
			"reads and writes the account's files and namespace and is charged to the account's\n" +
			"quota; its own disk and proofs stay its own. To add one:\n\n" +
			"  1. on the new device (a running node):   coop device request ACCOUNT_ADDRESS\n" +
			"  2. on the node with the account key:     coop device add CODE --label laptop\n\n" +
			"The account key never leaves the first node: step 2 seals the account's file and\n" +
			"namespace keys to the new device on the ledger, and the device picks them up within\n" +
			"a few seconds. Only the account key adds and removes devices (a device may remove\n" +
			"itself). A removed device can no longer act for the account, but keeps what it\n" +
			"already read and the keys it was given (not yet: re-keying the account).",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "request ACCOUNT_ADDRESS",
		Short: "Print this node's code to become a device of an account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			code, err := c.DeviceRequest(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(api.DeviceCode{Code: code})
			}
			fmt.Fprintln(cmd.OutOrStdout(), code)
			fmt.Fprintf(cmd.ErrOrStderr(), "on the node with the account key, run: coop device add %s --label NAME\n", code)
			return nil
		},
	})
	add := &cobra.Command{
		Use:   "add CODE [--label NAME]",
		Short: "Add the device that printed CODE to this node's account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			d, err := c.AddDevice(cmd.Context(), args[0], cfg.GetString("label"))
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added device %s (%s) at block %d\n", d.Address, api.PrintableName(d.Label), d.AddedHeight)
			return nil
		},
	}
	add.Flags().String("label", "", "a name for the device (shown in coop device list and in conflict copies)")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the account's devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			ds, err := c.Devices(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(ds)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "account %s\n", ds.Account)
			if len(ds.Devices) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no other devices (add one: coop device --help)")
				return nil
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DEVICE\tLABEL\tADDED AT BLOCK")
			for _, d := range ds.Devices {
				self := ""
				if d.Address == ds.Self {
					self = " (this node)"
				}
				fmt.Fprintf(tw, "%s%s\t%s\t%d\n", d.Address, self, api.PrintableName(d.Label), d.AddedHeight)
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "remove DEVICE_ADDRESS",
		Short: "Remove a device from the account (or, on a device, leave it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			if err := c.RemoveDevice(cmd.Context(), args[0]); err != nil {
				return err
			}
			if !jsonOutput() {
				fmt.Fprintf(cmd.OutOrStdout(), "removed device %s\n", args[0])
			}
			return nil
		},
	})
	return cmd
}
