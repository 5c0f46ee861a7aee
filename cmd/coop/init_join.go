package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

// runInitJoin is `coop init --join GENESIS_FILE --peer ADDR[,...]
// [--state-sync RPC,RPC[,...]]`: a home for a full node of an existing
// network, which replays the chain or, with --state-sync, starts from a
// snapshot.
func runInitJoin(cmd *cobra.Command) error {
	f := cmd.Flags()
	genesis, _ := f.GetString("join")
	peers, _ := f.GetString("peer")
	stateSync, _ := f.GetString("state-sync")
	if genesis == "" && f.Changed("state-sync") {
		return fmt.Errorf("--state-sync needs --join GENESIS_FILE (the network's genesis.json) and --peer")
	}
	if genesis == "" {
		return fmt.Errorf("--peer needs --join GENESIS_FILE (the network's genesis.json)")
	}
	if peers == "" {
		return fmt.Errorf("--join needs --peer NODEID@HOST:PORT of at least one node of the network")
	}
	for _, name := range []string{"chain-id", "epoch-length", "allowance"} {
		if f.Changed(name) {
			return fmt.Errorf("--%s cannot be used with --join: the network's genesis file sets it", name)
		}
	}
	hc := ledger.DefaultHomeConfig()
	hc.Moniker = cfg.GetString("moniker")
	hc.P2PListen = cfg.GetString("p2p-listen")
	hc.RPCListen = cfg.GetString("rpc-listen")
	hc.PrometheusListen = cfg.GetString("cometbft-metrics-listen")
	if f.Changed("state-sync") {
		doc, err := ledger.ReadGenesis(genesis)
		if err != nil {
			return err
		}
		var servers []string
		for _, s := range strings.Split(stateSync, ",") {
			if s = strings.TrimSpace(s); s != "" {
				servers = append(servers, s)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ss, err := ledger.StateSyncTrust(ctx, doc, servers)
		if err != nil {
			return fmt.Errorf("--state-sync: %w", err)
		}
		hc.StateSync = &ss
	}
	addr, err := ledger.InitJoin(homeDir(), genesis, peers, hc)
	if err != nil {
		return err
	}
	doc, err := ledger.ReadGenesis(genesis)
	if err != nil {
		return err
	}
	pa, err := ledger.PeerAddress(homeDir())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if jsonOutput() {
		m := map[string]any{"home": homeDir(), "address": addr.String(), "chain_id": doc.ChainID, "peer": pa}
		if ss := hc.StateSync; ss != nil {
			m["state_sync"] = map[string]any{"rpc_servers": ss.RPCServers, "trust_height": ss.TrustHeight, "trust_hash": ss.TrustHash}
		}
		return json.NewEncoder(out).Encode(m)
	}
	fmt.Fprintf(out, "initialised %s (full node, not a validator)\naddress  %s\nchain id %s\npeer     %s\n", homeDir(), addr, doc.ChainID, pa)
	if ss := hc.StateSync; ss != nil {
		fmt.Fprintf(out, "state sync from a snapshot; trusted header %d %s (signed by the genesis validators)\n", ss.TrustHeight, ss.TrustHash)
	}
	fmt.Fprintf(out, "start it with: coop --home %s node\n", homeDir())
	return nil
}
