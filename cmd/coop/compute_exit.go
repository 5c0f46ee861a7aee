package main

import (
	"errors"

	"github.com/coop-network/coop/compute"
)

// Exit codes of `coop compute run`, one per way a run can end (documented in
// its --help and in docs/compute.md). 1 is every other failure: a bad flag,
// an unreadable file, a child process that crashed.
const (
	exitJobFailed   = 2 // the job exited with a non-zero code (in the summary)
	exitOutOfFuel   = 3 // the job ran out of fuel (--fuel)
	exitOutputLimit = 4 // the job wrote more than --max-output
	exitStack       = 5 // the job exhausted the call stack
	exitTrap        = 6 // the job trapped: unreachable, out-of-bounds access, division by zero…
	exitTimeout     = 7 // the run hit the wall-clock limit (--timeout)
	exitOverLimit   = 8 // the module or input is over a limit (declared memory over --mem, too many functions, a 64 MiB module…)
	exitRejected    = 9 // the module was refused: not WebAssembly, an unsupported feature, a forbidden import, no _start
)

// computeExitHelp is the table of exit codes for --help.
const computeExitHelp = `Exit codes:
  0  the job exited with code 0
  1  coop could not run it (bad flag, unreadable file, crashed child process)
  2  the job exited with a non-zero code (shown as exit_code)
  3  out of fuel (--fuel)
  4  output over --max-output
  5  call stack exhausted
  6  trap: unreachable, out-of-bounds memory access, division by zero…
  7  wall-clock limit (--timeout)
  8  over a module limit (declared memory over --mem, too many functions, module over 64 MiB, input over 256 MiB)
  9  module refused: not WebAssembly, unsupported feature, import not allowed, no _start`

// computeResultExit is the exit code of a run that produced a result.
func computeResultExit(res *compute.Result) int {
	switch res.Status {
	case compute.StatusExited:
		if res.ExitCode != 0 {
			return exitJobFailed
		}
		return 0
	case compute.StatusTrapped:
		switch res.Trap {
		case compute.TrapOutOfFuel:
			return exitOutOfFuel
		case compute.TrapOutputLimit:
			return exitOutputLimit
		case compute.TrapStack:
			return exitStack
		}
		return exitTrap
	}
	if res.Trap == compute.RejectLimit {
		return exitOverLimit
	}
	return exitRejected
}

// computeRunError gives an error of Runner.Run its exit code.
func computeRunError(err error) error {
	switch {
	case errors.Is(err, compute.ErrTimeout):
		return &exitError{code: exitTimeout, err: err}
	case errors.Is(err, compute.ErrOverLimit):
		return &exitError{code: exitOverLimit, err: err}
	}
	return err
}
