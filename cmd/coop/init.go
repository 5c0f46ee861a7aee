package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newInitCmd) }

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: account key, CometBFT config and a one-validator genesis",
		Long: "init creates the home directory (--home): the account key (account.key; one ed25519\n" +
			"key is the account, the libp2p identity and the validator key) and a CometBFT home in\n" +
			"chain/ with local timeouts and a genesis in which this node is the only validator.\n" +
			"Start it with `coop node`.\n\n" +
			"With --join GENESIS_FILE --peer NODEID@HOST:PORT[,...] it instead makes a full node\n" +
			"of an existing network: the genesis file is copied from the network (any node's\n" +
			"<home>/chain/config/genesis.json), the peers are CometBFT peer addresses of its nodes\n" +
			"(`coop node peer-address` on their machines). The new node has a fresh key, is not a\n" +
			"validator, and once `coop node` runs it registers, holds pieces and can put. Both\n" +
			"are checked before anything is written. With --state-sync RPC,RPC[,...] (CometBFT RPC\n" +
			"addresses of two or more nodes of the network) the node starts from a snapshot of the\n" +
			"ledger state instead of replaying every block: init checks the latest header of the\n" +
			"first against the genesis validators and the second, and trusts it. See\n" +
			"docs/operations.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("join") || cmd.Flags().Changed("peer") || cmd.Flags().Changed("state-sync") {
				return runInitJoin(cmd)
			}
			hc := ledger.DefaultHomeConfig()
			hc.ChainID = cfg.GetString("chain-id")
			hc.Moniker = cfg.GetString("moniker")
			hc.P2PListen = cfg.GetString("p2p-listen")
			hc.RPCListen = cfg.GetString("rpc-listen")
			hc.PrometheusListen = cfg.GetString("cometbft-metrics-listen")
			hc.Genesis.Params.EpochLength = cfg.GetUint64("epoch-length")
			allowance, err := parseBytes("--allowance", cfg.GetString("allowance"))
			if err != nil {
				return err
			}
			hc.Genesis.Params.Allowance = allowance
			addr, err := ledger.InitHome(homeDir(), hc)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				return json.NewEncoder(out).Encode(map[string]string{"home": homeDir(), "address": addr.String(), "chain_id": hc.ChainID})
			}
			fmt.Fprintf(out, "initialised %s\naddress  %s\nchain id %s\nstart it with: coop --home %s node\n", homeDir(), addr, hc.ChainID, homeDir())
			if pa, err := ledger.PeerAddress(homeDir()); err == nil {
				fmt.Fprintf(out, "peer     %s (others join with --peer)\n", pa)
			}
			return nil
		},
	}
	d := ledger.DefaultHomeConfig()
	cmd.Flags().String("chain-id", d.ChainID, "chain id of the new chain")
	cmd.Flags().String("moniker", d.Moniker, "node name shown to CometBFT peers")
	cmd.Flags().String("p2p-listen", d.P2PListen, "CometBFT p2p listen address")
	cmd.Flags().String("rpc-listen", d.RPCListen, "CometBFT RPC listen address (the CLI talks to it)")
	cmd.Flags().String("cometbft-metrics-listen", d.PrometheusListen, "host:port CometBFT serves its Prometheus metrics on (empty: none); the node's own coop_ metrics are at /metrics on its API")
	cmd.Flags().Uint64("epoch-length", d.Genesis.Params.EpochLength, "blocks per epoch (genesis)")
	cmd.Flags().String("allowance", "1GiB", "storage quota every account gets without pledging (genesis)")
	cmd.Flags().String("join", "", "genesis file of an existing network to join as a full node (with --peer)")
	cmd.Flags().String("peer", "", "with --join: CometBFT peer address(es) of the network, NODEID@HOST:PORT[,...]")
	cmd.Flags().String("state-sync", "", "with --join: join by state sync through these CometBFT RPC addresses (host:port) of at least two nodes of the network")
	return cmd
}
