package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newLedgerCmd) }

func newLedgerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ledger",
		Short: "Read the ledger: nodes, files, pieces, the current epoch",
		Long: "ledger reads the ledger from this home's node, or from --rpc ADDR.\n\n" +
			"With --verify nothing the answering node says is trusted: each record comes with an\n" +
			"ics23 proof against the app hash of a header signed by the validators of this home's\n" +
			"genesis (chain/config/genesis.json), and is refused if it does not verify. account,\n" +
			"node, file, epoch N and params verify; lists (nodes, files, pieces) and the current\n" +
			"epoch cannot be verified yet. Once the validator set changed, headers are followed\n" +
			"with CometBFT's light client from the newest header this home verified before\n" +
			"(kept in chain/data/coop-verified-header), or from --trust HEIGHT:HASH (a header\n" +
			"you trust, e.g. from your own node's block store), else from block 1, which a\n" +
			"server that pruned it cannot give.",
	}
	cmd.PersistentFlags().Bool("verify", false, "check every answer against a header signed by the genesis validators")
	cmd.PersistentFlags().String("rpc", "", "CometBFT RPC address to read from (default: this home's node)")
	cmd.PersistentFlags().String("trust", "", "with --verify, also trust this header (HEIGHT:HASH) as a light client's checkpoint")
	cmd.AddCommand(
		&cobra.Command{
			Use:   "node <address>",
			Short: "Show a registered node",
			Args:  cobra.ExactArgs(1),
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, args []string) (any, func(*tabwriter.Writer), error) {
				a, err := chain.ParseAddress(args[0])
				if err != nil {
					return nil, nil, err
				}
				n, err := c.Node(ctx, a)
				return n, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "address\t%s\nstatus\t%s\npledge\t%s\nused\t%s\ncpu\t%d\njoined\t%d\npeer id\t%s\naddrs\t%s\n",
						n.Address, n.Status, formatBytes(n.Pledge), formatBytes(n.Used), n.CPU, n.JoinedHeight, n.PeerID, strings.Join(n.Addrs, ","))
				}, err
			}),
		},
		&cobra.Command{
			Use:   "account [address]",
			Short: "Show an account's credits and quota (default: this home's account)",
			Args:  cobra.MaximumNArgs(1),
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, args []string) (any, func(*tabwriter.Writer), error) {
				a, err := ledgerAddressArg(args)
				if err != nil {
					return nil, nil, err
				}
				v, err := c.Account(ctx, a)
				return v, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "address\t%s\ncredits\t%d\nnonce\t%d\nquota used\t%s\nquota limit\t%s\n",
						v.Address, v.Credits, v.Nonce, formatBytes(v.QuotaUsed), formatBytes(v.QuotaLimit))
				}, err
			}),
		},
		&cobra.Command{
			Use:   "params",
			Short: "Show the ledger's parameters",
			Args:  cobra.NoArgs,
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, _ []string) (any, func(*tabwriter.Writer), error) {
				p, err := c.Params(ctx)
				return p, func(w *tabwriter.Writer) {
					b, _ := json.MarshalIndent(p, "", "  ")
					fmt.Fprintln(w, string(b))
				}, err
			}),
		},
		&cobra.Command{
			Use:   "nodes",
			Short: "List registered nodes",
			Args:  cobra.NoArgs,
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, _ []string) (any, func(*tabwriter.Writer), error) {
				nodes, err := c.Nodes(ctx)
				return nodes, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "ADDRESS\tSTATUS\tPLEDGE\tUSED\tCPU\tJOINED\tPEER ID\tADDRS")
					for _, n := range nodes {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", n.Address, n.Status, formatBytes(n.Pledge), formatBytes(n.Used), n.CPU, n.JoinedHeight, n.PeerID, strings.Join(n.Addrs, ","))
					}
				}, err
			}),
		},
		ledgerFilesCmd(),
		&cobra.Command{
			Use:   "file <file id>",
			Short: "Show a placed file and where its pieces are",
			Args:  cobra.ExactArgs(1),
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, args []string) (any, func(*tabwriter.Writer), error) {
				id, err := chain.ParseHash(args[0])
				if err != nil {
					return nil, nil, err
				}
				f, err := c.File(ctx, id)
				return f, func(w *tabwriter.Writer) {
					raising := ""
					if f.Raising() {
						raising = fmt.Sprintf(", raising to m=%d", f.AskedM)
					}
					fmt.Fprintf(w, "file\t%s\nowner\t%s\nsize\t%s (%s stored, k=%d m=%d%s)\nplaced at\t%d\n\n", f.ID, f.Owner, formatBytes(f.Size), formatBytes(f.Bytes), f.K, f.M, raising, f.PlacedHeight)
					fmt.Fprintln(w, "SEG\tIDX\tHOLDER\tPIECE ID\tSIZE\tLEAVES")
					for _, p := range f.Pieces {
						fmt.Fprintf(w, "%d\t%d\t%s\t%s\t%s\t%d\n", p.Segment, p.Index, p.Holder, p.ID, formatBytes(p.Size), p.Leaves)
					}
				}, err
			}),
		},
		&cobra.Command{
			Use:   "pieces [holder address]",
			Short: "List the pieces a holder is recorded to hold (default: this home's account)",
			Args:  cobra.MaximumNArgs(1),
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, args []string) (any, func(*tabwriter.Writer), error) {
				holder, err := ledgerAddressArg(args)
				if err != nil {
					return nil, nil, err
				}
				ps, err := c.Pieces(ctx, holder)
				return ps, func(w *tabwriter.Writer) {
					fmt.Fprintln(w, "FILE ID\tSEG\tIDX\tPIECE ID\tSIZE")
					for _, p := range ps {
						fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\n", p.File, p.Piece.Segment, p.Piece.Index, p.Piece.ID, formatBytes(p.Piece.Size))
					}
				}, err
			}),
		},
		&cobra.Command{
			Use:   "epoch [n]",
			Short: "Show the current epoch (or epoch n) and its seed",
			Args:  cobra.MaximumNArgs(1),
			RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, args []string) (any, func(*tabwriter.Writer), error) {
				var e chain.Epoch
				var err error
				if len(args) == 1 {
					var n uint64
					if _, serr := fmt.Sscan(args[0], &n); serr != nil {
						return nil, nil, fmt.Errorf("epoch number %q: %w", args[0], serr)
					}
					e, err = c.EpochN(ctx, n)
				} else {
					e, err = c.Epoch(ctx)
				}
				return e, func(w *tabwriter.Writer) {
					fmt.Fprintf(w, "epoch\t%d\nstart height\t%d\nseed\t%s\n", e.Number, e.StartHeight, e.Seed)
				}, err
			}),
		},
	)
	return cmd
}

func ledgerFilesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "files",
		Short: "List the files an account placed (default: this home's account)",
		Args:  cobra.NoArgs,
		RunE: ledgerRead(func(ctx context.Context, c *ledger.Client, _ []string) (any, func(*tabwriter.Writer), error) {
			var owner chain.Address
			if s := cfg.GetString("owner"); s != "" {
				a, err := chain.ParseAddress(s)
				if err != nil {
					return nil, nil, err
				}
				owner = a
			} else {
				key, err := ledger.LoadKey(ledger.KeyPath(homeDir()))
				if err != nil {
					return nil, nil, err
				}
				owner = ledger.AddressOf(key)
			}
			files, err := c.Files(ctx, owner)
			return files, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "FILE ID\tSIZE\tSTORED\tK+M\tPIECES\tHEIGHT")
				for _, f := range files {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d+%d\t%d\t%d\n", f.ID, formatBytes(f.Size), formatBytes(f.Bytes), f.K, f.M, len(f.Pieces), f.PlacedHeight)
				}
			}, err
		}),
	}
	cmd.Flags().String("owner", "", "owner address (default: this home's account)")
	return cmd
}

// ledgerAddressArg is the address in args, or this home's account.
func ledgerAddressArg(args []string) (chain.Address, error) {
	if len(args) == 1 {
		return chain.ParseAddress(args[0])
	}
	key, err := ledger.LoadKey(ledger.KeyPath(homeDir()))
	if err != nil {
		return chain.Address{}, err
	}
	return ledger.AddressOf(key), nil
}

// ledgerRead wraps a read command: connect, fetch, print as a table or --json.
// With no node running in the home, it reads the home's ledger state
// itself (as of the last block that node saw), holding the home's lock.
func ledgerRead(fetch func(context.Context, *ledger.Client, []string) (any, func(*tabwriter.Writer), error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		verify, _ := cmd.Flags().GetBool("verify")
		if trust, _ := cmd.Flags().GetString("trust"); trust != "" && !verify {
			return errors.New("--trust is a checkpoint for --verify: give both")
		}
		if rpc, _ := cmd.Flags().GetString("rpc"); rpc != "" || verify {
			return ledgerReadVerified(ctx, cmd, rpc, verify, fetch, args)
		}
		c, err := ledgerClient(ctx)
		if err != nil {
			lock, lerr := lockHome(homeDir())
			if lerr != nil {
				return err // a node holds the home: its error stands
			}
			defer lock.Release()
			lc, closeState, serr := ledger.OpenState(ctx, homeDir())
			if serr != nil {
				return fmt.Errorf("%w; no node holds the home, and its ledger state cannot be read: %w", err, serr)
			}
			defer closeState()
			if !jsonOutput() {
				fmt.Fprintf(cmd.ErrOrStderr(), "no node running in %s: read from its ledger state as of the last block it saw\n", homeDir())
			}
			c = lc
		}
		defer c.Close()
		return ledgerPrint(ctx, cmd, c, fetch, args)
	}
}

// ledgerPrint fetches with c and prints the answer as a table or --json.
func ledgerPrint(ctx context.Context, cmd *cobra.Command, c *ledger.Client, fetch func(context.Context, *ledger.Client, []string) (any, func(*tabwriter.Writer), error), args []string) error {
	v, table, err := fetch(ctx, c, args)
	if err != nil {
		return err
	}
	if jsonOutput() {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
	}
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

// ledgerReadVerified reads from rpc (default: the home's node), with
// verify checking each answer against the home's genesis; it never falls
// back to reading the home's state.
func ledgerReadVerified(ctx context.Context, cmd *cobra.Command, rpc string, verify bool, fetch func(context.Context, *ledger.Client, []string) (any, func(*tabwriter.Writer), error), args []string) error {
	if rpc == "" {
		a, err := ledger.RPCAddress(homeDir())
		if err != nil {
			return err
		}
		rpc = a
	}
	c, err := ledger.Dial(ctx, rpc, nil)
	if err != nil {
		return fmt.Errorf("%w (is a node serving CometBFT RPC at %s?)", err, rpc)
	}
	defer c.Close()
	if verify {
		doc, err := ledger.ReadGenesis(filepath.Join(ledger.ChainDir(homeDir()), "config", "genesis.json"))
		if err != nil {
			return fmt.Errorf("--verify trusts this home's genesis: %w", err)
		}
		if err := c.Verify(doc); err != nil {
			return fmt.Errorf("--verify: %w", err)
		}
		v, saved := c.Verifier(), ledger.TrustedHeaderPath(homeDir())
		if err := v.LoadTrusted(saved); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--verify: %w (remove it to trust the genesis alone)", err)
		}
		if s, _ := cmd.Flags().GetString("trust"); s != "" {
			cp, err := ledger.ParseCheckpoint(s)
			if err != nil {
				return fmt.Errorf("--trust: %w", err)
			}
			if err := v.Trust(ctx, cp); err != nil {
				return fmt.Errorf("--trust: %w", err)
			}
		}
		if err := ledgerPrint(ctx, cmd, c, fetch, args); err != nil {
			return err
		}
		serr := os.MkdirAll(filepath.Dir(saved), 0o700)
		if serr == nil {
			serr = v.SaveTrusted(saved)
		}
		if serr != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "could not keep the verified header for the next read: %v\n", serr)
		}
		return nil
	}
	return ledgerPrint(ctx, cmd, c, fetch, args)
}
