package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
)

// demoWorkers are the devnet nodes that offer CPU in the network demo;
// demoLiar is the one whose worker lies about its outputs.
var demoWorkers, demoLiar = []int{1, 2, 3}, 3

// nodeArgs are node i's extra `coop node` flags: workers offer a CPU,
// the liar's worker runs with a fault injected.
func (d *networkDemo) nodeArgs(i int) []string {
	if d.jobsDir == "" {
		return nil
	}
	for _, w := range demoWorkers {
		if w == i {
			if i == demoLiar {
				return []string{"--cpu", "1", "--compute-fault", "output"}
			}
			return []string{"--cpu", "1"}
		}
	}
	return nil
}

// jobScene submits the prime-sieve example job from node 0 to the
// network: three workers, one lying about the output; it prints each
// step of the job on the ledger, who was paid, who was judged wrong, and
// the output the submitter reads.
func (d *networkDemo) jobScene(ctx context.Context) error {
	if d.nodes <= demoLiar {
		d.say("jobs: the network job needs %d nodes; skipping it", demoLiar+1)
		return nil
	}
	module, err := os.ReadFile(filepath.Join(d.jobsDir, "primes.wasm"))
	if errors.Is(err, fs.ErrNotExist) {
		d.say("jobs: %s not built (run `make jobs`); skipping the network job", filepath.Join(d.jobsDir, "primes.wasm"))
		return nil
	}
	if err != nil {
		return err
	}
	c := d.clients[0]
	names := map[chain.Address]string{}
	for i, cl := range d.clients {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		a, err := chain.ParseAddress(st.Account)
		if err != nil {
			return err
		}
		names[a] = fmt.Sprintf("node %d", i)
		if i == demoLiar {
			names[a] += " (liar)"
		}
	}
	d.say("jobs: nodes %v offer a CPU; node %d's worker lies (it flips a bit of every output, --compute-fault output)", demoWorkers, demoLiar)
	t0 := time.Now()
	res, err := c.SubmitJob(ctx, &api.JobRequest{Module: module, Input: []byte("2000000"), Fuel: 10_000_000_000, Memory: 256 << 20, Replicas: 3, Quorum: 2, Price: 1, K: d.k, M: d.m})
	if err != nil {
		return fmt.Errorf("job submit: %w", err)
	}
	d.say("  node 0 submitted job %s…: prime sieve to 2,000,000, 3 replicas, quorum 2 (module and input stored as encrypted files)", res.Job[:16])
	last := ""
	deadline := time.Now().Add(3 * time.Minute)
	var v *chain.JobView
	for {
		if v, err = c.Job(ctx, res.Job); err != nil {
			return err
		}
		if line := progressLine(v); line != last {
			d.say("  %5.1fs  %s", time.Since(t0).Seconds(), line)
			last = line
		}
		if v.ClosedHeight != 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("job %s still %s after 3 minutes", res.Job, v.Phase)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(jobWaitPoll):
		}
	}
	if v.Phase != chain.JobAccepted {
		return fmt.Errorf("job %s ended %s", res.Job, v.Phase)
	}
	d.say("  accepted: %s, exit %d, %d fuel, output hash %s…", v.Result.Status, v.Result.ExitCode, v.Result.FuelUsed, v.Result.OutputHash.String()[:12])
	for _, a := range v.Assignments {
		d.say("    %-14s %s, paid %d credits", names[a.Worker], a.Outcome, a.Paid)
	}
	out, err := c.JobResult(ctx, res.Job)
	if err != nil {
		return fmt.Errorf("job result: %w", err)
	}
	d.say("  node 0 reads the output from a paid worker's output file (checked against the agreed hash): %q", strings.TrimSpace(string(out.Output)))
	d.say("  escrow: %d credits paid to the two honest workers, the rest refunded; the liar earned nothing and its compute score fell", v.Paid)
	return nil
}
