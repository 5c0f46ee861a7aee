package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/ledger"
)

func init() { registerCommand(newValidatorCmd) }

func newValidatorCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "validator",
		Short: "See and change the ledger's validator set",
		Long: "The validators are the nodes that make the ledger's blocks. The genesis names the\n" +
			"first ones; after that the set changes only by the validators' own votes, on the\n" +
			"ledger: a full node asks with `coop validator request`, and the change applies when\n" +
			"validators holding more than 2/3 of the voting power `approve` it. Removing a\n" +
			"validator takes the same votes; a validator may `leave` by itself. Each vote is for\n" +
			"the set's current version: after any change, votes not yet counted must be cast again.\n" +
			"CometBFT uses the new set two blocks after the change. docs/operations.md walks through it.",
	}
	cmd.AddCommand(newValidatorListCmd(), newValidatorRequestCmd(), newValidatorApproveCmd(), newValidatorRemoveCmd(), newValidatorLeaveCmd())
	return cmd
}

func newValidatorListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the validators and the votes cast for changes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := ledgerClient(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			vs, err := c.Validators(ctx)
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(vs)
			}
			printValidatorSet(cmd.OutOrStdout(), vs)
			return nil
		},
	}
}

func printValidatorSet(w io.Writer, vs chain.ValidatorSet) {
	fmt.Fprintf(w, "validator set version %d, %d validators, total power %d\n", vs.Version, len(vs.Validators), vs.TotalPower)
	for _, v := range vs.Validators {
		fmt.Fprintf(w, "  %s  power %-4d key %x\n", v.Address, v.Power, v.PubKey)
	}
	var live []chain.ValidatorVoteRecord
	for _, r := range vs.Votes {
		if r.SetVersion == vs.Version {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		fmt.Fprintln(w, "no votes pending")
		return
	}
	fmt.Fprintln(w, "votes for version", vs.Version, "(a change applies with more than 2/3 of the power):")
	for _, r := range live {
		who := "validator " + chain.AddressOf(r.Voter).String()
		if bytes.Equal(r.Voter, r.Candidate) {
			who = "the candidate itself"
		}
		fmt.Fprintf(w, "  %s → power %d, by %s (block %d)\n", chain.AddressOf(r.Candidate), r.Power, who, r.Height)
	}
}

func newValidatorRequestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "request",
		Short: "Ask to become a validator (run on the full node that asks)",
		Long: "request records on the ledger that this node (its account key is its validator key)\n" +
			"consents to be a validator with --power. It changes nothing until validators holding\n" +
			"more than 2/3 of the power run `coop validator approve ADDRESS` for it. Keep the node\n" +
			"running: once approved it must sign blocks, or the network slows and, if more than\n" +
			"1/3 of the power is missing, halts.",
		Example: "  coop validator request --power 10",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			power := cfg.GetUint64("power")
			if power == 0 || power > chain.MaxValidatorPower {
				return fmt.Errorf("--power %d: want 1 to %d", power, chain.MaxValidatorPower)
			}
			return castVote(cmd, nil, power)
		},
	}
	cmd.Flags().Uint64("power", 10, "voting power to ask for (the genesis validators of coop init and coop devnet init have 10)")
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the tx to commit")
	return cmd
}

func newValidatorApproveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approve ADDRESS",
		Short: "Vote for a node's request to become a validator (run on a validator)",
		Long: "approve casts this validator's vote for the candidate ADDRESS (as `coop validator list`\n" +
			"shows it) at the power it asked, or --power. The change applies when more than 2/3\n" +
			"of the power has voted for it and the candidate has asked.",
		Example: "  coop validator approve 3f2a…   # the address `coop validator request` printed",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return voteOn(cmd, args[0], false)
		},
	}
	cmd.Flags().Uint64("power", 0, "voting power to vote for (default: what the candidate asked)")
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the tx to commit")
	return cmd
}

func newValidatorRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove ADDRESS",
		Short: "Vote to remove a validator (run on a validator)",
		Long: "remove casts this validator's vote that ADDRESS stop being a validator. It applies\n" +
			"when more than 2/3 of the power has voted for it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return voteOn(cmd, args[0], true)
		},
	}
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the tx to commit")
	return cmd
}

func newValidatorLeaveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "leave",
		Short: "Stop being a validator (run on the validator that leaves)",
		Long: "leave removes this node from the validator set at once; it stays a full node. The\n" +
			"last validator cannot leave. Make sure the others keep more than 2/3 of the power online.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return castVote(cmd, nil, 0)
		},
	}
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the tx to commit")
	return cmd
}

// voteOn finds the candidate ADDRESS among the validators (remove) or the
// votes on record (approve), and votes for it.
func voteOn(cmd *cobra.Command, arg string, remove bool) error {
	addr, err := chain.ParseAddress(arg)
	if err != nil {
		return fmt.Errorf("validator address %q: %w", arg, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ledgerClient(ctx)
	if err != nil {
		return err
	}
	vs, err := c.Validators(ctx)
	c.Close()
	if err != nil {
		return err
	}
	var pub []byte
	var asked uint64
	if remove {
		for _, v := range vs.Validators {
			if v.Address == addr {
				pub = v.PubKey
			}
		}
		if pub == nil {
			return fmt.Errorf("%s is not a validator (coop validator list)", addr)
		}
	} else {
		for _, r := range vs.Votes {
			if chain.AddressOf(r.Candidate) == addr && bytes.Equal(r.Voter, r.Candidate) && r.SetVersion == vs.Version {
				pub, asked = r.Candidate, r.Power
			}
		}
		if pub == nil {
			return fmt.Errorf("%s has not asked to be a validator at set version %d: run `coop validator request` on it first", addr, vs.Version)
		}
		if p := cfg.GetUint64("power"); p != 0 {
			asked = p
		}
	}
	return castVote(cmd, pub, asked)
}

// castVote signs a ValidatorVote with the home's key for candidate (nil:
// itself) at the current set version, waits for its block and reports
// whether the change applied.
func castVote(cmd *cobra.Command, candidate []byte, power uint64) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.GetDuration("timeout"))
	defer cancel()
	c, key, err := ledgerSigningClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if candidate == nil {
		candidate = key.Public().(ed25519.PublicKey)
	}
	before, err := c.Validators(ctx)
	if err != nil {
		return err
	}
	res, err := c.BroadcastCommit(ctx, &chain.ValidatorVote{PubKey: candidate, Power: power, SetVersion: before.Version})
	if err != nil {
		var rej *ledger.RejectedError
		if errors.As(err, &rej) && errors.Is(err, chain.ErrUnauthorized) {
			return fmt.Errorf("%w (only validators vote; a full node asks with `coop validator request`)", err)
		}
		return err
	}
	after, err := c.Validators(ctx)
	if err != nil {
		return err
	}
	applied := after.Version > before.Version && validatorPower(after, candidate) == power
	who := chain.AddressOf(candidate)
	if jsonOutput() {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]any{
			"validator": who, "pubkey": hex.EncodeToString(candidate), "power": power,
			"height": res.Height, "tx": res.Hash, "applied": applied, "set": after,
		})
	}
	out := cmd.OutOrStdout()
	switch {
	case applied && power == 0:
		fmt.Fprintf(out, "%s is no longer a validator (block %d; CometBFT follows in 2 blocks)\n", who, res.Height)
	case applied:
		fmt.Fprintf(out, "%s is a validator with power %d (block %d; it signs from 2 blocks on)\n", who, power, res.Height)
	default:
		fmt.Fprintf(out, "vote recorded in block %d: %s → power %d; it applies when more than 2/3 of the power (%d of %d) has voted\n",
			res.Height, who, power, after.TotalPower*2/3+1, after.TotalPower)
	}
	return nil
}

func validatorPower(vs chain.ValidatorSet, pub []byte) uint64 {
	for _, v := range vs.Validators {
		if bytes.Equal(v.PubKey, pub) {
			return v.Power
		}
	}
	return 0
}
