package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

func newNodeRegisterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register this account as a node on the ledger (or update its pledge)",
		Long: "register records on the ledger that this account offers --pledge bytes of disk and\n" +
			"--cpu compute units, reachable at its libp2p peer id and --addr multiaddrs. The pledge is\n" +
			"the most other accounts may place on the node; the node earns quota for the bytes it\n" +
			"actually holds for them (on its signed receipts), not for the pledge. With a CPU offer\n" +
			"the ledger assigns it jobs (coop job submit), which `coop node --cpu N` runs. If the\n" +
			"node is already registered, the given values update it.",
		Example: "  coop node register --pledge 100GiB --cpu 2",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pledge, err := parseBytes("--pledge", cfg.GetString("pledge"))
			if err != nil {
				return err
			}
			cpu := cfg.GetUint32("cpu")
			addrs := cfg.GetStringSlice("addr")
			if addrs == nil {
				addrs = []string{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), cfg.GetDuration("timeout"))
			defer cancel()
			c, key, err := ledgerSigningClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			pid, err := chain.PeerIDOf(key.Public().(ed25519.PublicKey))
			if err != nil {
				return err
			}
			res, err := c.BroadcastCommit(ctx, &chain.RegisterNode{PeerID: pid, Addrs: addrs, Pledge: pledge, CPU: cpu})
			action := "registered"
			if errors.Is(err, chain.ErrExists) {
				// Only what was given changes (an omitted --cpu must not
				// reset the CPU offer to 0, nor an omitted --pledge the pledge).
				up := &chain.UpdateNode{}
				if cfg.IsSet("pledge") {
					up.Pledge = &pledge
				}
				if cfg.IsSet("cpu") {
					up.CPU = &cpu
				}
				if cfg.IsSet("addr") {
					up.Addrs = &addrs
				}
				if up.Pledge == nil && up.CPU == nil && up.Addrs == nil {
					return errors.New("node is already registered; give --pledge, --cpu or --addr to update it")
				}
				res, err = c.BroadcastCommit(ctx, up)
				action = "updated"
			}
			if err != nil {
				return err
			}
			n, err := c.Node(ctx, c.Address())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(map[string]any{"action": action, "height": res.Height, "tx": res.Hash, "node": n})
			}
			fmt.Fprintf(out, "%s node %s (peer %s) at height %d: pledge %s, cpu %d\n", action, n.Address, n.PeerID, res.Height, formatBytes(n.Pledge), n.CPU)
			return nil
		},
	}
	cmd.Flags().String("pledge", "0", "disk space to offer, e.g. 100GiB, 500MiB, 1TiB")
	cmd.Flags().Uint32("cpu", 0, "compute units to offer")
	cmd.Flags().StringSlice("addr", nil, "libp2p multiaddr peers reach this node at (repeatable)")
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the tx to commit")
	return cmd
}

// ledgerClient connects to the node of --home (its RPC address comes from the
// home's CometBFT config) with no signing key.
func ledgerClient(ctx context.Context) (*ledger.Client, error) {
	addr, err := ledger.RPCAddress(homeDir())
	if err != nil {
		return nil, err
	}
	c, err := ledger.Dial(ctx, addr, nil)
	if err != nil {
		return nil, fmt.Errorf("%w (is `coop --home %s node` running?)", err, homeDir())
	}
	return c, nil
}

// ledgerSigningClient is ledgerClient with the home's account key.
func ledgerSigningClient(ctx context.Context) (*ledger.Client, ed25519.PrivateKey, error) {
	key, err := ledger.LoadKey(ledger.KeyPath(homeDir()))
	if err != nil {
		return nil, nil, err
	}
	addr, err := ledger.RPCAddress(homeDir())
	if err != nil {
		return nil, nil, err
	}
	c, err := ledger.Dial(ctx, addr, key)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (is `coop --home %s node` running?)", err, homeDir())
	}
	return c, key, nil
}
