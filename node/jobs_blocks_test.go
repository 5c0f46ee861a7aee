package node

import (
	"context"
	"testing"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/coop-network/coop/chain"
)

// Workers whose polling ticker never fires in the test (an hour) take a
// job to acceptance on the ledger's new blocks alone: the block that
// assigns them starts their runs, each tx's block wakes the others, the
// last commit's worker reveals right after it, and the others reveal at
// the next block.
func TestComputeJobWorkersWakeOnNewBlocks(t *testing.T) {
	cache := t.TempDir()
	nodes, l := startMemNetworkWith(t, 4, func(i int, c *Config) {
		if i == 0 {
			return
		}
		offerCPU(t, c, cache)
		c.Compute.Interval = time.Hour
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(1) // the block that assigns the workers
	v := waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s: %+v", v.Phase, v.Assignments)
	}
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil || string(res.Output) != "hello!" {
		t.Fatalf("result: %v", err)
	}
}
