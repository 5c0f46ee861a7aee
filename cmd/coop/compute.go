package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/coop-network/coop/compute"
)

func init() { registerCommand(newComputeCmd) }

// computeChildCmd is the hidden subcommand the compute runner re-executes
// coop on to run one job in a separate process.
const computeChildCmd = "child"

func newComputeCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "compute",
		Short: "Run deterministic, metered WebAssembly jobs",
	}
	c.AddCommand(newComputeRunCmd(), &cobra.Command{
		Use:    computeChildCmd,
		Short:  "Run one job read from stdin (used internally by the runner)",
		Hidden: true,
		// The child runs with an empty environment and must not depend on
		// any file: it reads no config.
		Annotations: map[string]string{noConfigAnnotation: "true"},
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return compute.ServeChild(cmd.Context(), os.Stdin, os.Stdout)
		},
	})
	return c
}

func newComputeRunCmd() *cobra.Command {
	var (
		inputPath string
		fuel      uint64
		mem       string
		timeout   time.Duration
		maxOutput string
		noCache   bool
	)
	cmd := &cobra.Command{
		Use:   "run JOB.wasm [-- ARGS...]",
		Short: "Run a job locally: print its output, the fuel used and the result hash",
		Long: `Run a WASI preview 1 module (GOOS=wasip1 GOARCH=wasm, Rust wasm32-wasip1, C, TinyGo)
exactly as a worker would: instrumented, metered, in a child process. The job's stdout is
printed on stdout; the summary (status, fuel used, result hash) on stderr, or everything as
one JSON object with --json. Arguments after -- are passed to the job (argv[0] is "job").

` + computeExitHelp,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			var input []byte
			switch inputPath {
			case "":
			case "-":
				input, err = io.ReadAll(cmd.InOrStdin())
			default:
				input, err = os.ReadFile(inputPath)
			}
			if err != nil {
				return fmt.Errorf("reading the input: %w", err)
			}
			memBytes, err := parseBytes("--mem", mem)
			if err != nil {
				return err
			}
			outBytes, err := parseBytes("--max-output", maxOutput)
			if err != nil {
				return err
			}
			if outBytes > 1<<31 {
				return fmt.Errorf("--max-output: %s is over the 2 GiB limit", formatBytes(outBytes))
			}
			spec := compute.JobSpec{
				Module:      compute.Sum(module),
				Args:        args[1:],
				FuelLimit:   fuel,
				MemoryLimit: memBytes,
				MaxOutput:   uint32(outBytes),
				Replicas:    1,
			}
			job := &compute.Job{Module: module}
			if len(input) > compute.MaxInlineInput {
				spec.InputID = compute.Sum(input)
				job.Input = input
			} else {
				spec.Input = input
			}
			job.Spec = spec

			exe, err := os.Executable()
			if err != nil {
				return err
			}
			rc := compute.DefaultConfig()
			rc.Command = []string{exe, "compute", computeChildCmd}
			rc.Timeout = timeout
			rc.MaxFuel = max(rc.MaxFuel, fuel)
			rc.MaxMemory = max(rc.MaxMemory, memBytes)
			rc.MaxOutput = max(rc.MaxOutput, uint32(outBytes))
			if !noCache {
				rc.CacheDir = filepath.Join(homeDir(), "compute-cache")
			}
			runner, err := compute.NewRunner(rc)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			rep, err := runner.Run(ctx, job)
			if err != nil {
				return computeRunError(err)
			}
			if err := printComputeReport(cmd, &spec, rep); err != nil {
				return err
			}
			if code := computeResultExit(rep.Result); code != 0 {
				return &exitError{code: code} // the summary says why
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&inputPath, "input", "", "file to give the job on stdin, - for this process's stdin")
	f.Uint64Var(&fuel, "fuel", 10_000_000_000, "fuel limit")
	f.StringVar(&mem, "mem", "256MiB", "memory limit, a multiple of 64KiB (e.g. 256MiB)")
	f.DurationVar(&timeout, "timeout", 30*time.Second, "wall-clock limit, compilation included")
	f.StringVar(&maxOutput, "max-output", "16MiB", "stdout cap; writing more traps")
	f.BoolVar(&noCache, "no-cache", false, "do not use the compiled-module cache in <home>/compute-cache")
	return cmd
}

func printComputeReport(cmd *cobra.Command, spec *compute.JobSpec, rep *compute.Report) error {
	res := rep.Result
	if jsonOutput() {
		type view struct {
			Job        string `json:"job"`
			Module     string `json:"module"`
			Status     string `json:"status"`
			ExitCode   uint32 `json:"exit_code"`
			Trap       string `json:"trap,omitempty"`
			Detail     string `json:"detail,omitempty"`
			FuelUsed   uint64 `json:"fuel_used"`
			CostTable  uint32 `json:"cost_table"`
			OutputHash string `json:"output_hash"`
			ResultHash string `json:"result_hash"`
			Output     string `json:"output"`
			OutputB64  []byte `json:"output_base64,omitempty"`
			Stderr     string `json:"stderr"`
			CacheHit   bool   `json:"cache_hit"`
			PrepareMs  int64  `json:"prepare_ms"`
			ExecuteMs  int64  `json:"execute_ms"`
			WallMs     int64  `json:"wall_ms"`
		}
		v := view{
			Job: res.Job.String(), Module: spec.Module.String(), Status: string(res.Status),
			ExitCode: res.ExitCode, Trap: string(res.Trap), Detail: rep.Detail, FuelUsed: res.FuelUsed,
			CostTable: res.CostTable, OutputHash: res.OutputHash.String(), ResultHash: res.Hash().String(),
			Stderr: strings.ToValidUTF8(string(res.Stderr), "\uFFFD"), CacheHit: rep.CacheHit,
			PrepareMs: rep.Prepare.Milliseconds(), ExecuteMs: rep.Execute.Milliseconds(), WallMs: rep.Wall.Milliseconds(),
		}
		if utf8.Valid(res.Output) {
			v.Output = string(res.Output)
		} else {
			v.OutputB64 = res.Output
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	if _, err := cmd.OutOrStdout().Write(res.Output); err != nil {
		return err
	}
	w := cmd.ErrOrStderr()
	switch res.Status {
	case compute.StatusExited:
		fmt.Fprintf(w, "status:      exited with code %d\n", res.ExitCode)
	case compute.StatusTrapped:
		fmt.Fprintf(w, "status:      trapped (%s)\n", res.Trap)
	default:
		fmt.Fprintf(w, "status:      rejected (%s): %s\n", res.Trap, rep.Detail)
	}
	if len(res.Stderr) > 0 {
		fmt.Fprintf(w, "stderr:      %q\n", res.Stderr)
	}
	fmt.Fprintf(w, "fuel used:   %d of %d (cost table v%d)\n", res.FuelUsed, spec.FuelLimit, res.CostTable)
	fmt.Fprintf(w, "output:      %s, sha256 %s\n", formatBytes(len(res.Output)), res.OutputHash)
	fmt.Fprintf(w, "job id:      %s\n", res.Job)
	fmt.Fprintf(w, "result hash: %s\n", res.Hash())
	cache := "compiled"
	if rep.CacheHit {
		cache = "from cache"
	}
	fmt.Fprintf(w, "time:        prepare %v (%s), execute %v, wall %v\n",
		rep.Prepare.Round(time.Millisecond), cache, rep.Execute.Round(time.Millisecond), rep.Wall.Round(time.Millisecond))
	return nil
}
