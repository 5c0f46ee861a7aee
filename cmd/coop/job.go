package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

func init() { registerCommand(newJobCmd) }

func newJobCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "job",
		Short: "Run compute jobs on the network: submit, status, result, ls",
		Long: `A job is a WebAssembly module (WASI preview 1) and an input, run by workers the
ledger assigns (never the submitter's node); a quorum of matching results accepts it,
the workers that agreed are paid in credits for the fuel used. Workers see the module,
input and output of the jobs they run.`,
	}
	c.AddCommand(newJobSubmitCmd(), newJobStatusCmd(), newJobResultCmd(), newJobLsCmd())
	return c
}

func newJobSubmitCmd() *cobra.Command {
	var (
		inputPath string
		inputID   string
		moduleID  string
		inline    bool
		fuel      uint64
		mem       string
		replicas  uint32
		quorum    uint32
		price     uint64
		wait      bool
		k, m, cp  int
	)
	cmd := &cobra.Command{
		Use:   "submit MODULE.wasm | --module-id ID",
		Short: "Submit a job: the module and input become files of the account, the ledger escrows its cost for every replica",
		Long: `Submit a job: the module and input become files of the account (or name files it
stored before: --module-id, --input-id), and the ledger escrows its cost for every replica.
coop job status shows the module's file id: --module-id runs the same module again without
storing it again (one put less).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var module []byte
			switch {
			case len(args) == 1 && moduleID != "":
				return errors.New("a module file and --module-id: give one of them")
			case len(args) == 0 && moduleID == "":
				return errors.New("no module: give MODULE.wasm or --module-id ID")
			case len(args) == 1:
				var err error
				if module, err = os.ReadFile(args[0]); err != nil {
					return err
				}
			}
			var err error
			if inputPath != "" && inputID != "" {
				return errors.New("--input and --input-id: give one of them")
			}
			if inline && inputID != "" {
				return errors.New("--inline puts input bytes on the ledger; --input-id names a file: give one of them")
			}
			req := &api.JobRequest{Module: module, ModuleID: moduleID, InputID: inputID, InlineInput: inline, Fuel: fuel, Replicas: replicas, Quorum: quorum, Price: price, K: k, M: m, Copies: cp}
			if inputPath != "" {
				if inputPath == "-" {
					req.Input, err = io.ReadAll(cmd.InOrStdin())
				} else {
					req.Input, err = os.ReadFile(inputPath)
				}
				if err != nil {
					return fmt.Errorf("reading the input: %w", err)
				}
			}
			if mem != "" {
				if req.Memory, err = parseBytes("--mem", mem); err != nil {
					return err
				}
			}
			c, err := daemonClient()
			if err != nil {
				return err
			}
			res, err := c.SubmitJob(cmd.Context(), req)
			if err != nil {
				return err
			}
			if !wait {
				if jsonOutput() {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
				}
				fmt.Fprintln(cmd.OutOrStdout(), res.Job)
				return nil
			}
			if !jsonOutput() {
				fmt.Fprintf(cmd.ErrOrStderr(), "job %s submitted\n", res.Job)
			}
			v, err := waitForJob(cmd, c, res.Job)
			if err != nil {
				return err
			}
			return printJob(cmd, v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&inputPath, "input", "", "the job's input (stdin of the job); - reads it from stdin")
	f.StringVar(&inputID, "input-id", "", "the job's input: an existing coop file of the account, by id (coop ls)")
	f.StringVar(&moduleID, "module-id", "", "the job's module: an existing coop file of the account, by id (coop ls, coop job status)")
	f.BoolVar(&inline, "inline", false, "put the input in the transaction (on the ledger, in the clear) instead of an encrypted file")
	f.Uint64Var(&fuel, "fuel", 0, "fuel limit (0: 10^8)")
	f.StringVar(&mem, "mem", "", "memory limit, e.g. 64MiB (a multiple of 64 KiB)")
	f.Uint32Var(&replicas, "replicas", 3, "workers that run the job")
	f.Uint32Var(&quorum, "quorum", 2, "matching results that accept it")
	f.Uint64Var(&price, "price", 1, "credits per 10^6 units of fuel")
	f.BoolVar(&wait, "wait", false, "wait until the job is accepted or failed, printing its progress")
	f.IntVar(&k, "k", 0, "data pieces per segment of the module and input files (default: the node's)")
	f.IntVar(&m, "m", 0, "parity pieces per segment of the module and input files")
	f.IntVar(&cp, "copies", 0, "store the module and input files as this many whole copies instead")
	return cmd
}

// jobWaitPoll is how often a job's waiter (`job submit --wait`, the
// demo) reads it from the local node: a fraction of a block interval, so
// the wait ends close to the block that accepts the job.
const jobWaitPoll = 100 * time.Millisecond

// waitForJob polls a job every jobWaitPoll until it is accepted or
// failed, printing a progress line on stderr whenever it changes.
func waitForJob(cmd *cobra.Command, c *api.Client, id string) (*chain.JobView, error) {
	last := ""
	t := time.NewTicker(jobWaitPoll)
	defer t.Stop()
	for {
		v, err := c.Job(cmd.Context(), id)
		if err != nil {
			return nil, err
		}
		if line := progressLine(v); line != last && !jsonOutput() {
			fmt.Fprintln(cmd.ErrOrStderr(), line)
			last = line
		}
		if v.Phase == chain.JobAccepted || v.Phase == chain.JobFailed {
			return v, nil
		}
		select {
		case <-cmd.Context().Done():
			return nil, cmd.Context().Err()
		case <-t.C:
		}
	}
}

// progressLine is one line of a job's progress: its phase and how many
// of its workers are assigned, committed, revealed.
func progressLine(v *chain.JobView) string {
	var assigned, committed, revealed int
	for _, a := range v.Assignments {
		if a.Round != v.Round {
			continue
		}
		assigned++
		if a.CommittedHeight != 0 {
			committed++
		}
		if a.Revealed {
			revealed++
		}
	}
	return fmt.Sprintf("%s: round %d, %d assigned, %d committed, %d revealed", v.Phase, v.Round, assigned, committed, revealed)
}

func printJob(cmd *cobra.Command, v *chain.JobView) error {
	out := cmd.OutOrStdout()
	if jsonOutput() {
		return json.NewEncoder(out).Encode(v)
	}
	fmt.Fprintf(out, "job:      %s\n", v.ID)
	fmt.Fprintf(out, "phase:    %s\n", progressLine(v))
	fmt.Fprintf(out, "limits:   fuel %d, memory %s, %d replicas, quorum %d, price %d\n", v.FuelLimit, formatBytes(v.MemoryLimit), v.Replicas, v.Quorum, v.Price)
	fmt.Fprintf(out, "credits:  %d escrowed, %d paid\n", v.Escrow, v.Paid)
	fmt.Fprintf(out, "module:   %s\n", v.Module)
	if !v.Input.IsZero() {
		fmt.Fprintf(out, "input:    %s\n", v.Input)
	}
	if v.Phase == chain.JobAccepted {
		fmt.Fprintf(out, "result:   %s, exit %d, fuel %d, output %s\n", v.Result.Status, v.Result.ExitCode, v.Result.FuelUsed, v.Result.OutputHash)
	}
	if v.Phase == chain.JobFailed && v.Result.Status == chain.ResultUnavailable {
		fmt.Fprintln(out, "result:   unavailable: the workers could not get the job's module or input from the submitter's node (offline, or refusing them); all refunded")
	}
	for _, a := range v.Assignments {
		state := a.Outcome
		if state == "" {
			state = "open"
		}
		fmt.Fprintf(out, "worker:   %s round %d: %s", a.Worker, a.Round, state)
		if a.Paid > 0 {
			fmt.Fprintf(out, ", paid %d", a.Paid)
		}
		fmt.Fprintln(out)
	}
	return nil
}

func newJobStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status JOB_ID",
		Short: "Show a job: phase, workers, result, credits",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			v, err := c.Job(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJob(cmd, v)
		},
	}
}

func newJobResultCmd() *cobra.Command {
	var outPath string
	cmd := &cobra.Command{
		Use:   "result JOB_ID",
		Short: "Read an accepted job's output (from a worker's output file) to stdout or -o FILE",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			r, err := c.JobResult(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if jsonOutput() {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(r)
			}
			if outPath == "" || outPath == "-" {
				_, err = cmd.OutOrStdout().Write(r.Output)
				return err
			}
			if err := os.WriteFile(outPath, r.Output, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s (%s, exit %d, fuel %d)\n", outPath, formatBytes(len(r.Output)), r.Status, r.ExitCode, r.FuelUsed)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outPath, "output", "o", "", "write the output to FILE instead of stdout")
	return cmd
}

func newJobLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the jobs this account submitted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := daemonClient()
			if err != nil {
				return err
			}
			vs, err := c.Jobs(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if jsonOutput() {
				if vs == nil {
					vs = []chain.JobView{}
				}
				return json.NewEncoder(out).Encode(vs)
			}
			for i := range vs {
				fmt.Fprintf(out, "%s  %s\n", vs[i].ID, progressLine(&vs[i]))
			}
			return nil
		},
	}
}
