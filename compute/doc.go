// Package compute runs WebAssembly jobs deterministically: metered, memory
// capped, without host I/O, so that independent executions of the same job
// on different machines agree on the output and on the fuel used.
//
// A job is a WASI preview 1 command module (see docs/compute.md) described
// by a JobSpec. The module is rewritten by compute/instrument (fuel
// metering, stack and memory limits, NaN canonicalization), compiled with
// wasmer-go and run against host functions implemented here: stdin is the
// job input, stdout the output, clocks are logical (a function of fuel
// used), random bytes are derived from the job id, and there is no
// filesystem, network or environment.
//
// Runner executes each job in a child process (the coop binary re-executed
// on a hidden subcommand that calls ServeChild), so a job can never hurt the
// calling process: the parent enforces a wall-clock limit and an output
// cap, and reports a crashed child as a failed run, never as a Result.
// Compiled modules are cached on disk by module hash, instrumentation
// settings and wasmer version.
package compute
