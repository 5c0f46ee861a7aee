package ledger

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
)

// TestStoppedNodeLeavesNoGoroutines starts and stops a node and checks that
// no goroutine of coop or CometBFT outlives Stop, except two CometBFT v1.0.1
// leaves behind that coop cannot reach: the consensus WAL's AutoFile
// goroutines (Group.Close closes the head file but not the AutoFile) and the
// block pruner, which notices the stop only after its 10 s sleep; and its
// process-wide flow-rate clock, started once by the first p2p connection.
func TestStoppedNodeLeavesNoGoroutines(t *testing.T) {
	since := maxGoroutineID()
	tn := StartTestNet(t, TestNetConfig(t, 1))
	c := tn.Client(0)
	if _, _, err := c.Height(t.Context()); err != nil {
		t.Fatal(err)
	}
	tn.StopNode(0)
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		left = leftoverGoroutines(since)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("%d goroutines outlive Stop:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
}

// goroutineStacks returns the stack of every goroutine, by id.
func goroutineStacks() map[int]string {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[int]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		var id int
		if _, err := fmt.Sscanf(g, "goroutine %d ", &id); err == nil {
			out[id] = g
		}
	}
	return out
}

// maxGoroutineID is the largest id of a running goroutine: goroutines a test
// starts later have larger ids, so leftovers of earlier tests can be told
// apart.
func maxGoroutineID() int {
	m := 0
	for id := range goroutineStacks() {
		m = max(m, id)
	}
	return m
}

// leftoverGoroutines lists goroutines of coop or CometBFT started after the
// goroutine with id since, except the known CometBFT leftovers.
func leftoverGoroutines(since int) []string {
	var out []string
	for id, g := range goroutineStacks() {
		if id <= since {
			continue
		}
		if !strings.Contains(g, "github.com/cometbft/") && !strings.Contains(g, "github.com/coop-network/") {
			continue
		}
		if strings.Contains(g, "TestStoppedNodeLeavesNoGoroutines") || strings.Contains(g, "TestStartOnABusyPortFailsCleanly") || strings.Contains(g, "testing.tRunner") ||
			strings.Contains(g, "internal/autofile.") || strings.Contains(g, "state.(*Pruner).prune") ||
			strings.Contains(g, "flowrate.runClockUpdates") {
			continue
		}
		out = append(out, g)
	}
	return out
}

// TestStartOnABusyPortFailsCleanly starts a node whose p2p port is taken:
// Start fails with an error, leaves no listener or goroutine behind, and the
// node starts in the same process once the port is free.
func TestStartOnABusyPortFailsCleanly(t *testing.T) {
	since := maxGoroutineID()
	dc := TestNetConfig(t, 1)
	tn := InitTestNet(t, dc)
	busy, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", dc.P2PPorts[0]))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Start(context.Background(), testNodeConfig(DevnetHome(tn.Dir, 0)))
	if err == nil {
		n.Stop()
		busy.Close()
		t.Fatal("started on a busy p2p port")
	}
	busy.Close()
	rpc := fmt.Sprintf("127.0.0.1:%d", dc.RPCPorts[0])
	l, lerr := net.Listen("tcp", rpc)
	if lerr != nil {
		t.Fatalf("after the failed start (%v), its RPC port is still bound: %v", err, lerr)
	}
	l.Close()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		left = leftoverGoroutines(since)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("%d goroutines outlive the failed start:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
	tn.StartNode(0)
	tn.WaitHeight(2, 30*time.Second)
}

// clientGoroutineMarks name the functions of a ledger client's goroutines:
// its block watch, the local client's event forwarder, and the HTTP
// client's websocket.
var clientGoroutineMarks = []string{
	"node/ledger.(*Client)",
	"rpc/client/local.(*Local).eventsRoutine",
	"rpc/client/http.(*WSEvents)",
	"rpc/jsonrpc/client.(*WSClient)",
}

// clientGoroutines lists the goroutines started after since that run client
// code (the node's own are not counted).
func clientGoroutines(since int) []string {
	var out []string
	for id, g := range goroutineStacks() {
		if id <= since || strings.Contains(g, "testing.tRunner") {
			continue
		}
		for _, m := range clientGoroutineMarks {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// TestClosedClientLeavesNoGoroutines commits a tx through a client over the
// in-process RPC and one over HTTP (whose block subscription is a
// websocket), closes both while the node runs on, and checks that no
// goroutine of either outlives Close.
func TestClosedClientLeavesNoGoroutines(t *testing.T) {
	tn := StartTestNet(t, TestNetConfig(t, 1))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	since := maxGoroutineID()
	local, err := tn.Nodes[0].Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := Dial(ctx, tn.Nodes[0].RPCAddress(), testAccountKey(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.BroadcastCommit(ctx, &chain.Transfer{To: chain.Address{1}, Amount: 1}); err != nil {
		t.Fatal(err)
	}
	// A wait that only Close ends, over the websocket.
	waited := make(chan error, 1)
	go func() {
		_, err := remote.WaitTx(ctx, chain.Hash{9})
		waited <- err
	}()
	waitFor(t, func() bool {
		n := 0
		for _, g := range clientGoroutines(since) {
			if strings.Contains(g, "WSClient") {
				n++
			}
		}
		return n > 0
	})
	if err := errors.Join(local.Close(), remote.Close(), local.Close()); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrClosed) {
		t.Fatalf("wait across Close: %v", err)
	}
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; {
		left = clientGoroutines(since)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Fatalf("%d goroutines outlive Close:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
