package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// TestPutFailsWithinTheStallBoundWhenTheLedgerHalts: of three validators
// (a quorum needs more than two thirds), one is stopped with its daemon, so
// the ledger halts while the other two nodes still answer queries. A put
// then places its pieces on the two running nodes (the stopped one does
// not answer), gets their receipts, and fails at the ledger step once no
// block came for the stall bound, with a clear error; `coop status` says
// the ledger is stalled; the ledger records no file; and an rm fails the
// same way.
func TestPutFailsWithinTheStallBoundWhenTheLedgerHalts(t *testing.T) {
	const bound = 2 * time.Second
	net := StartTestNetwork(t, 3, func(_ int, c *Config) {
		c.Storage.K, c.Storage.M = 1, 1
		c.LedgerStallTimeout = bound
	})
	a := net.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := a.Status(ctx)
	if err != nil || st.LedgerStalled || st.LastBlockTime == nil || st.StallAfterSeconds != bound.Seconds() {
		t.Fatalf("status of a running ledger: %+v, %v", st, err)
	}

	data := make([]byte, 64<<10)
	_, _ = rand.Read(data)
	kept, err := a.Put(ctx, bytes.NewReader(data[:1000]), 1000, api.PutOptions{})
	if err != nil {
		t.Fatalf("put while the ledger runs: %v", err)
	}

	net.Stop(2)
	net.Ledger.StopNode(2)
	t0 := time.Now()
	_, err = a.Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	took := time.Since(t0)
	if !errors.Is(err, ledger.ErrStalled) || !errors.Is(err, api.ErrUnavailable) ||
		!strings.Contains(err.Error(), "the ledger made no block for 2s: is a quorum of validators up?") {
		t.Fatalf("put on a halted ledger: got %v after %v", err, took)
	}
	t.Logf("put on a halted ledger failed after %v: %v", took, err)
	if took > 30*time.Second {
		t.Fatalf("put on a halted ledger took %v", took)
	}
	st, err = a.Status(ctx)
	if err != nil || !st.LedgerStalled {
		t.Fatalf("status of a halted ledger: %+v, %v; want stalled", st, err)
	}
	files, err := a.Files(ctx)
	if err != nil || len(files) != 1 || files[0].FileID != kept.FileID {
		t.Fatalf("files after the failed put: %+v, %v; want only the one put before", files, err)
	}
	t0 = time.Now()
	err = a.Remove(ctx, kept.FileID)
	if !errors.Is(err, ledger.ErrStalled) || !errors.Is(err, api.ErrUnavailable) || time.Since(t0) > 30*time.Second {
		t.Fatalf("rm on a halted ledger: got %v after %v", err, time.Since(t0))
	}
}
