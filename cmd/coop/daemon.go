package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node"
	"github.com/coop-network/coop/node/ledger"
	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/node/worker"
)

// addDaemonFlags adds the storage daemon's flags to `coop node`.
func addDaemonFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.String("pledge", "10GiB", "disk space offered to other nodes, e.g. 100GiB or 1TiB (recorded at first registration; given explicitly, it updates the ledger record)")
	f.Uint32("cpu", 0, "compute units offered (recorded at first registration; given explicitly, it updates the ledger record)")
	f.String("p2p-ip", "0.0.0.0", "IPv4 address the libp2p host listens on")
	f.Int("p2p-port", 0, "libp2p TCP and QUIC port (default: the CometBFT p2p port + 2)")
	f.String("api-listen", "", "local API address (default: 127.0.0.1:<CometBFT p2p port + 3>)")
	f.Bool("api-allow-remote", false, "allow a non-loopback API address")
	f.StringSlice("bootstrap", nil, "extra libp2p peers to connect to, as /ip4/…/p2p/<id> (repeatable)")
	f.String("reachability", "auto", "whether peers can dial this node: auto (AutoNAT asks peers to dial back), public, or private (behind a NAT: hold relay slots and hole-punch)")
	f.StringSlice("relay", nil, "Circuit Relay v2 peers to hold a slot with while not reachable, as /ip4/…/p2p/<id> (repeatable; default: the bootstrap peers)")
	f.Bool("mdns", true, "find and announce nodes of this network on the local network by multicast DNS, so nodes on one LAN connect without a bootstrap address (off when --p2p-ip is a loopback address)")
	f.Bool("relay-service", true, "relay for peers behind NATs while this node is reachable (limits: 64 slots, 8 circuits a peer, 1 MiB and 2 min a relayed connection)")
	f.String("upload-rate", "0", "cap on bytes per second sent to peers, e.g. 25MiB (0: none)")
	f.String("scrub-rate", "4MiB", "cap on bytes per second a scrub of the held pieces reads (0: none)")
	f.Duration("scrub-interval", 24*time.Hour, "time between background scrubs of the held pieces (0: only on demand, coop scrub)")
	f.Duration("ledger-stall-timeout", ledger.DefaultStallTimeout, "a transaction (put, rm, …) fails after this long without a new ledger block; coop status says stalled past it")
	f.Int("k", 0, "default data pieces per segment for puts (default 4)")
	f.Int("m", 0, "default parity pieces per segment for puts (default 2)")
	f.String("compute-fault", "", "make the compute worker lie (output, fuel): for tests and demos of cheating workers only")
	_ = f.MarkHidden("compute-fault")
}

// daemonConfig builds the node configuration for home from cfg.
func daemonConfig(home string) (node.Config, error) {
	c := node.DefaultConfig(home)
	pledge, err := parseBytes("--pledge", cfg.GetString("pledge"))
	if err != nil {
		return c, err
	}
	c.Pledge = pledge
	c.CPU = cfg.GetUint32("cpu")
	c.UpdatePledge, c.UpdateCPU = cfg.IsSet("pledge"), cfg.IsSet("cpu")
	if c.CPU > 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, err
		}
		c.Compute.Runner.Command = []string{exe, "compute", computeChildCmd}
		c.Compute.Runner.CacheDir = filepath.Join(home, "compute-cache")
		if c.Compute.Fault, err = worker.ParseFault(cfg.GetString("compute-fault")); err != nil {
			return c, err
		}
	}
	c.P2P.ListenIP = cfg.GetString("p2p-ip")
	base := 0
	if cc, err := ledger.LoadCometConfig(home); err == nil {
		if u, err := url.Parse(cc.P2P.ListenAddress); err == nil {
			base, _ = strconv.Atoi(u.Port())
		}
	}
	port := cfg.GetInt("p2p-port")
	if port == 0 && base > 0 {
		port = base + 2
	}
	c.P2P.TCPPort, c.P2P.QUICPort = port, port
	c.P2P.Bootstrap = cfg.GetStringSlice("bootstrap")
	switch r := cfg.GetString("reachability"); r {
	case p2p.ReachabilityAuto, p2p.ReachabilityPublic, p2p.ReachabilityPrivate:
		c.P2P.Reachability = r
	default:
		return c, fmt.Errorf("--reachability %q: want auto, public or private", r)
	}
	c.P2P.Relays = cfg.GetStringSlice("relay")
	if _, err := p2p.ParseAddrInfos(c.P2P.Relays); err != nil {
		return c, fmt.Errorf("--relay: %w", err)
	}
	c.P2P.RelayService = cfg.GetBool("relay-service")
	c.P2P.MDNS = cfg.GetBool("mdns")
	c.API.Listen = cfg.GetString("api-listen")
	if c.API.Listen == "" {
		apiPort := 0
		if base > 0 {
			apiPort = base + 3
		}
		c.API.Listen = net.JoinHostPort("127.0.0.1", strconv.Itoa(apiPort))
	}
	c.API.AllowRemote = cfg.GetBool("api-allow-remote")
	rate, err := parseBytes("--upload-rate", cfg.GetString("upload-rate"))
	if err != nil {
		return c, err
	}
	c.Exchange.UploadRate = int64(rate)
	srate, err := parseBytes("--scrub-rate", cfg.GetString("scrub-rate"))
	if err != nil {
		return c, err
	}
	if srate > 1<<62 {
		return c, fmt.Errorf("--scrub-rate: %s per second is too large", formatBytes(srate))
	}
	c.ScrubRate = int64(srate)
	if c.ScrubInterval = cfg.GetDuration("scrub-interval"); c.ScrubInterval < 0 {
		return c, fmt.Errorf("--scrub-interval: %v is negative", c.ScrubInterval)
	}
	if c.LedgerStallTimeout = cfg.GetDuration("ledger-stall-timeout"); c.LedgerStallTimeout < 0 {
		return c, fmt.Errorf("--ledger-stall-timeout: %v is negative", c.LedgerStallTimeout)
	}
	if k := cfg.GetInt("k"); k > 0 {
		c.Storage.K = k
	}
	if cfg.IsSet("m") && cfg.GetInt("m") > 0 {
		c.Storage.M = cfg.GetInt("m")
	}
	return c, nil
}

// startDaemon starts the storage daemon (libp2p, exchange, block store,
// API) with config c beside a running ledger node, as the node's own
// account. Close the ledger client it returns after the daemon.
func startDaemon(ctx context.Context, ln *ledger.Node, c node.Config) (*node.Node, *ledger.Client, error) {
	lc, err := ln.Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := node.Start(ctx, c, ln.Key(), lc)
	if err != nil {
		return nil, nil, errors.Join(err, lc.Close())
	}
	return d, lc, nil
}
