package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newNodeCmd) }

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run the node: CometBFT with the coop ledger, in this process",
		Long: "node runs the node in --home until SIGINT or SIGTERM, then stops cleanly.\n" +
			"Create the home first with `coop init` (or `coop devnet init`). The node holds a\n" +
			"lock on the home (<home>/" + homeLockName + ") while it runs: a second `coop node` on\n" +
			"the same home is refused at once. The kernel drops the lock when the node exits\n" +
			"in any way (kill -9 too), so no stale lock is left to remove.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runNode(ctx)
		},
	}
	cmd.AddCommand(newNodeRegisterCmd())
	cmd.AddCommand(newNodePeerAddressCmd())
	addDaemonFlags(cmd)
	addLedgerAppFlags(cmd) // node_ledger_flags.go
	return cmd
}

// runNode runs the ledger node in the home until ctx ends. Its flags are
// checked and the home locked before anything starts.
func runNode(ctx context.Context) error {
	home := homeDir()
	dc, err := daemonConfig(home)
	if err != nil {
		return err
	}
	lcfg, err := ledgerNodeConfig(home)
	if err != nil {
		return err
	}
	lock, err := lockHome(home)
	if err != nil {
		return err
	}
	defer lock.Release()
	n, err := ledger.Start(ctx, lcfg)
	if err != nil {
		return err
	}
	d, lc, err := startDaemon(ctx, n, dc) // storage daemon: libp2p, exchange, block store, API (daemon.go)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped (SIGINT/SIGTERM) while the daemon was starting, e.g.
			// waiting for its registration to commit (not every error on
			// that path wraps the cancellation): a clean stop.
			slog.Info("stopped while starting", "err", err)
			return n.Stop()
		}
		return errors.Join(err, n.Stop())
	}
	<-ctx.Done()
	return errors.Join(d.Close(), lc.Close(), n.Stop())
}
