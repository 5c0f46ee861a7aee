package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

// runInitJoin is `coop init --join GENESIS_FILE --peer ADDR[,...]`: a home
// for a full node of an existing network.
func runInitJoin(cmd *cobra.Command) error {
	f := cmd.Flags()
	genesis, _ := f.GetString("join")
	peers, _ := f.GetString("peer")
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
		return json.NewEncoder(out).Encode(map[string]string{"home": homeDir(), "address": addr.String(), "chain_id": doc.ChainID, "peer": pa})
	}
	fmt.Fprintf(out, "initialised %s (full node, not a validator)\naddress  %s\nchain id %s\npeer     %s\nstart it with: coop --home %s node\n",
		homeDir(), addr, doc.ChainID, pa, homeDir())
	return nil
}
