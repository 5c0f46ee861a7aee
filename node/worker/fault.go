package worker

import (
	"context"
	"fmt"

	"github.com/coop-network/coop/compute"
)

// Fault is a way a FaultyRunner lies.
type Fault string

// Faults. Each lie is self-consistent (the output hash matches the altered
// output), so only another worker's run can tell it from the truth.
const (
	// FaultNone runs honestly.
	FaultNone Fault = ""
	// FaultOutput flips the last bit of the output (appends a byte to an
	// empty output).
	FaultOutput Fault = "output"
	// FaultFuel claims one more unit of fuel than was used.
	FaultFuel Fault = "fuel"
)

// ParseFault parses a fault name: "", "none", "output" or "fuel".
func ParseFault(s string) (Fault, error) {
	switch Fault(s) {
	case FaultNone, "none":
		return FaultNone, nil
	case FaultOutput, FaultFuel:
		return Fault(s), nil
	}
	return "", fmt.Errorf("worker: unknown fault %q (want none, output or fuel)", s)
}

// FaultyRunner runs jobs with Runner and alters each result as Fault says.
// It exists for tests and demos of cheating workers; a real node runs with
// FaultNone.
type FaultyRunner struct {
	Runner Runner
	Fault  Fault
}

// Run runs job and alters its result.
func (f *FaultyRunner) Run(ctx context.Context, job *compute.Job) (*compute.Report, error) {
	rep, err := f.Runner.Run(ctx, job)
	if err != nil || f.Fault == FaultNone {
		return rep, err
	}
	r := *rep.Result
	switch f.Fault {
	case FaultOutput:
		out := append([]byte(nil), r.Output...)
		if len(out) == 0 {
			out = []byte{'!'}
		} else {
			out[len(out)-1] ^= 1
		}
		r.Output, r.OutputHash = out, compute.Sum(out)
	case FaultFuel:
		r.FuelUsed++
	default:
		return nil, fmt.Errorf("worker: unknown fault %q", f.Fault)
	}
	lie := *rep
	lie.Result = &r
	return &lie, nil
}
