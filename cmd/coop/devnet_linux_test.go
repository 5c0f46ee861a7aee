//go:build linux

package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coop-network/coop/node/ledger"
)

// TestDevnetNodesStopWhenDevnetIsKilled kills `coop devnet start` with
// SIGKILL, so it cannot stop its nodes, and checks that the node processes
// stop anyway (their parent-death signal).
func TestDevnetNodesStopWhenDevnetIsKilled(t *testing.T) {
	const nodes = 2
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	d := startDevnet(ctx, t, nodes)
	for i := range nodes {
		rpc := fmt.Sprintf("tcp://127.0.0.1:%d", d.base+10*i+1)
		for {
			if _, err := ledger.Dial(ctx, rpc, nil); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node%d RPC %s never answered", i, rpc)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-d.exited
	deadline := time.Now().Add(25 * time.Second)
	for i, pid := range d.pids {
		for !processGone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("node%d (pid %d) still runs 25 s after its devnet was killed", i, pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
