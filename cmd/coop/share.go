package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/api"
)

func init() {
	registerCommand(newNameCmd)
	registerCommand(newShareCmd)
	registerCommand(newUnshareCmd)
	registerCommand(newSharesCmd)
}

func newNameCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "name [NAME|ADDRESS]",
		Short: "Show an account's username (this account's without an argument)",
		Long: "A username names an account: others share with it (coop share PATH NAME) and read\n" +
			"its public folder (coop ls coop://NAME/). Names are 3-32 characters of a-z, 0-9 and\n" +
			"'-', first come, one per account, registered with the account key (not from a\n" +
			"device). Against squatting, only an account with a stake may register one: credits,\n" +
			"or a node that earned quota or passed a proof of storage; a released name is free\n" +
			"again only after a cooldown (about a day of blocks).",
		Example: "  coop name\n  coop name alice\n  coop name register alice\n  coop name release",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			who := ""
			if len(args) == 1 {
				who = args[0]
			}
			n, err := c.LookupName(cmd.Context(), who)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(n)
			}
			name := n.Name
			if name == "" {
				name = "(no name)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\n", name, n.Account)
			return nil
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "register NAME",
		Short: "Register a username for this account",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			n, err := c.RegisterName(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(n)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s (block %d)\n", n.Account, n.Name, n.Height)
			return nil
		},
	}, &cobra.Command{
		Use:   "release",
		Short: "Give up this account's username",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			return c.ReleaseName(cmd.Context())
		},
	})
	return cmd
}

func newShareCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "share PATH USER|ADDRESS [--write]",
		Short: "Share a file or directory of the namespace with another account",
		Long: "share gives another account (a username or an address) read access to PATH: the\n" +
			"recipient finds it under /shared-with-me/<your name>/<name> on every device of its\n" +
			"account (coop ls, coop get), and sees your later changes under PATH. The share key\n" +
			"is sealed on the ledger to the recipient's inbox key; nobody else can open it.\n" +
			"With --write the recipient may also change it there (put, mkdir, mv, rm inside it);\n" +
			"your node merges its changes into PATH within seconds. Whatever you put under\n" +
			"/public is shared with everyone: coop ls coop://NAME/.",
		Example: "  coop share /photos/2026 bob\n  coop unshare /photos/2026 bob\n  coop shares",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			s, err := c.Share(cmd.Context(), args[0], args[1], cfg.GetBool("write"))
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(s)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "shared %s with %s (share %s)\n", s.Path, who(s.RecipientName, s.Recipient), s.ID)
			return nil
		},
	}
	cmd.Flags().Bool("write", false, "let the recipient change what is shared")
	return cmd
}

func newUnshareCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unshare PATH|SHARE_ID [USER]",
		Short: "Stop sharing a path (with everyone it was shared with, or USER), or drop a share",
		Long: "unshare removes shares from the ledger: of PATH (every one, or only the one with\n" +
			"USER), or the share SHARE_ID (yours, or one you received: you drop it). From then on\n" +
			"the recipient no longer lists it and your later changes do not reach it. What it\n" +
			"already read stays read: it may have kept copies, and the files it saw stay readable\n" +
			"with their capabilities until you change or remove them.",
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			user := ""
			if len(args) == 2 {
				user = args[1]
			}
			gone, err := c.Unshare(cmd.Context(), args[0], user)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(gone)
			}
			for _, s := range gone {
				fmt.Fprintf(cmd.OutOrStdout(), "removed share %s\n", s.ID)
			}
			return nil
		},
	}
}

func newSharesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "shares",
		Short: "List the shares this account gave and received",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			l, err := c.Shares(cmd.Context())
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(l)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "given:")
			for _, s := range l.Given {
				to := "everyone (public)"
				if !s.Public {
					to = who(s.RecipientName, s.Recipient)
				}
				fmt.Fprintf(tw, "  %s\t%s\tv%d\t%s\n", api.PrintableName(s.Path), to, s.Version, s.ID)
			}
			fmt.Fprintln(tw, "received:")
			for _, s := range l.Received {
				at := api.PrintableName(s.At)
				if s.Error != "" {
					at = "(does not open: " + s.Error + ")"
				}
				fmt.Fprintf(tw, "  %s\tfrom %s\tv%d\t%s\n", at, who(s.OwnerName, s.Owner), s.Version, s.ID)
			}
			return tw.Flush()
		},
	}
}

// who shows an account by name, else by address.
func who(name, addr string) string {
	if name != "" {
		return name
	}
	return addr
}
