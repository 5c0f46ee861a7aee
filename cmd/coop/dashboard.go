package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"time"

	"github.com/spf13/cobra"
)

func init() { registerCommand(newDashboardCmd) }

func newDashboardCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Print a one-time link that logs a browser in to the node's web dashboard",
		Long: `Print a link that opens the running node's web dashboard, logged in:
your files (upload, download, copy a share link, remove), how many pieces
of each are online, the storage you may use and why, credits, this node's
proofs and audit score, the other nodes and your compute jobs.

The dashboard is served by the node on its API address (the address in
<home>/api.addr: 127.0.0.1:26659 for a home from coop init). The link
works once, within 5 minutes; opening it sets a session cookie in that
browser for 12 hours. Run this command again for a new link.

The link is printed only. With --open, coop also tries to open it with
xdg-open (the desktop's default browser); if that fails, open the printed
link yourself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			code, err := c.LoginCode(cmd.Context())
			if err != nil {
				return err
			}
			link := c.BaseURL() + code.Path
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(struct {
					URL     string    `json:"url"`
					Expires time.Time `json:"expires"`
				}{link, code.Expires})
			}
			fmt.Fprintf(out, "Open this link in a browser on this computer to see the dashboard (it works once, until %s):\n\n  %s\n\n", code.Expires.Local().Format("15:04:05"), link)
			if open, _ := cmd.Flags().GetBool("open"); open {
				if err := openBrowser(cmd.Context(), link); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "could not open a browser (%v); open the link above yourself\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().Bool("open", false, "also try to open the link with xdg-open")
	return cmd
}

// openBrowser runs xdg-open on link and waits (at most 10 s) for it to
// hand the link over.
func openBrowser(ctx context.Context, link string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	path, err := exec.LookPath("xdg-open")
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, path, link).CombinedOutput(); err != nil {
		return fmt.Errorf("xdg-open: %w: %s", err, out)
	}
	return nil
}
