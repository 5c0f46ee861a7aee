package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newDevnetCmd) }

func newDevnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "A local multi-validator network on 127.0.0.1",
	}
	cmd.AddCommand(newDevnetInitCmd(), newDevnetStartCmd())
	return cmd
}

func newDevnetInitCmd() *cobra.Command {
	d := ledger.DefaultDevnetConfig()
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Write N node homes DIR/node0 … sharing one genesis (N validators)",
		Long: "devnet init writes --nodes homes under --dir with one genesis in which every node is\n" +
			"a validator and every node's account is funded. Node i's CometBFT listens on\n" +
			"127.0.0.1:BASE+10i (p2p) and BASE+10i+1 (RPC); its peers are the other nodes.\n" +
			"Start all with `coop devnet start --dir DIR`, or one with `coop --home DIR/nodeI node`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dc := ledger.DefaultDevnetConfig()
			dc.Nodes = cfg.GetInt("nodes")
			dc.BasePort = cfg.GetInt("base-port")
			dc.ChainID = cfg.GetString("chain-id")
			dc.Genesis.Params.EpochLength = cfg.GetUint64("epoch-length")
			dir := cfg.GetString("dir")
			if dir == "" {
				return errors.New("--dir is required")
			}
			addrs, err := ledger.InitDevnet(dir, dc)
			if err != nil {
				return err
			}
			if err := writeLoopbackConfig(dir, dc.Nodes); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				type nodeInfo struct {
					Home    string `json:"home"`
					Address string `json:"address"`
					RPC     string `json:"rpc"`
					Peer    string `json:"peer"`
				}
				var infos []nodeInfo
				for i, a := range addrs {
					peer, _ := ledger.PeerAddress(ledger.DevnetHome(dir, i))
					infos = append(infos, nodeInfo{ledger.DevnetHome(dir, i), a.String(), fmt.Sprintf("tcp://127.0.0.1:%d", dc.BasePort+10*i+1), peer})
				}
				return json.NewEncoder(out).Encode(infos)
			}
			for i, a := range addrs {
				fmt.Fprintf(out, "%s  address %s  rpc 127.0.0.1:%d\n", ledger.DevnetHome(dir, i), a, dc.BasePort+10*i+1)
			}
			fmt.Fprintf(out, "start with: coop devnet start --dir %s\n", dir)
			return nil
		},
	}
	cmd.Flags().Int("nodes", d.Nodes, "number of nodes (all validators); the default fits a put with the default k+m")
	cmd.Flags().String("dir", "", "directory for the node homes")
	cmd.Flags().Int("base-port", d.BasePort, "first port; node i uses BASE+10i … BASE+10i+9")
	cmd.Flags().String("chain-id", d.ChainID, "chain id")
	cmd.Flags().Uint64("epoch-length", d.Genesis.Params.EpochLength, "blocks per epoch")
	return cmd
}

func newDevnetStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run `coop node` for every home in DIR until Ctrl-C or SIGTERM",
		Long: "devnet start runs one `coop --home DIR/nodeI node` process per home, each logging to\n" +
			"DIR/nodeI/node.log, and stops them all on SIGINT or SIGTERM.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := cfg.GetString("dir")
			if dir == "" {
				return errors.New("--dir is required")
			}
			matches, err := filepath.Glob(filepath.Join(dir, "node*"))
			if err != nil {
				return err
			}
			var homes []string // node<i> directories that hold a node's key
			for _, m := range matches {
				if _, err := os.Stat(ledger.KeyPath(m)); err == nil {
					homes = append(homes, m)
				}
			}
			sort.Strings(homes)
			if len(homes) == 0 {
				return fmt.Errorf("no node homes in %s (run `coop devnet init --dir %s`)", dir, dir)
			}
			// A home in use (a devnet already running) is refused here, at
			// once, rather than by each node in its log.
			for _, h := range homes {
				l, err := lockHome(h)
				if err != nil {
					return err
				}
				l.Release()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runDevnet(ctx, cmd, homes)
		},
	}
	cmd.Flags().String("dir", "", "directory written by 'coop devnet init'")
	return cmd
}

// runDevnet starts a node process per home and stops them all when ctx ends
// (or when every one has exited).
func runDevnet(ctx context.Context, cmd *cobra.Command, homes []string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	procs := make([]*exec.Cmd, 0, len(homes))
	exited := make(chan struct{}, len(homes))
	stopAll := func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, home := range homes {
		logf, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			stopAll()
			wg.Wait()
			return err
		}
		p := exec.Command(self, "--home", home, "--log-level", cfg.GetString("log-level"), "node")
		p.Stdout, p.Stderr = logf, logf
		// On Linux the node gets SIGTERM if this process dies without
		// stopping it (SIGKILL, a crash), so no node outlives its devnet.
		setParentDeathSignal(p)
		started := make(chan error, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer logf.Close()
			// The parent-death signal fires when the thread that started the
			// child exits, so this goroutine keeps its thread (and Go does
			// not reuse it) until the child has exited.
			runtime.LockOSThread()
			if err := p.Start(); err != nil {
				started <- err
				return
			}
			started <- nil
			err := p.Wait()
			slog.Info("devnet node exited", "home", home, "err", err)
			exited <- struct{}{}
		}()
		if err := <-started; err != nil {
			stopAll()
			wg.Wait()
			return fmt.Errorf("starting node %s: %w", home, err)
		}
		procs = append(procs, p)
		fmt.Fprintf(cmd.OutOrStdout(), "started %s (pid %d, log %s)\n", home, p.Process.Pid, filepath.Join(home, "node.log"))
	}
	running := len(procs)
	for running > 0 {
		select {
		case <-ctx.Done():
			fmt.Fprintln(cmd.OutOrStdout(), "stopping devnet")
			stopAll()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				for _, p := range procs {
					p.Process.Kill()
				}
				<-done
			}
			return nil
		case <-exited:
			running--
		}
	}
	wg.Wait()
	return errors.New("every devnet node exited; see the node.log files")
}

// writeLoopbackConfig writes the coop config file of each devnet home so its
// libp2p host listens on 127.0.0.1 only, like its CometBFT listeners, and
// runs no mDNS: a devnet is a loopback network and never listens, nor
// multicasts, on other interfaces.
func writeLoopbackConfig(dir string, nodes int) error {
	for i := range nodes {
		path := filepath.Join(ledger.DevnetHome(dir, i), configFileName)
		if err := os.WriteFile(path, []byte("# written by coop devnet init: a devnet stays on loopback\np2p-ip = \"127.0.0.1\"\nmdns = false\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}
