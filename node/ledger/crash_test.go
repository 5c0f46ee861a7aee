package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/coop-network/coop/chain"
)

// childHomeEnv makes the test binary run a ledger node in that home instead
// of the tests (see TestMain), so a test can kill -9 a real node process.
const childHomeEnv = "COOP_LEDGER_CHILD_HOME"

func TestMain(m *testing.M) {
	if home := os.Getenv(childHomeEnv); home != "" {
		os.Exit(runChildNode(home))
	}
	os.Exit(m.Run())
}

func runChildNode(home string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	n, err := Start(ctx, testNodeConfig(home))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child node:", err)
		return 1
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Minute): // never outlive a stuck parent for long
	}
	if err := n.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "child node stop:", err)
		return 1
	}
	return 0
}

// childNode is a ledger node running in a child process.
type childNode struct {
	cmd  *exec.Cmd
	done chan error
}

func startChild(t *testing.T, home string) *childNode {
	t.Helper()
	log, err := os.OpenFile(filepath.Join(home, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childHomeEnv+"="+home)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childNode{cmd: cmd, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); log.Close() }()
	t.Cleanup(func() { c.stop() })
	return c
}

func (c *childNode) kill9() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
	c.done <- errors.New("killed")
}

func (c *childNode) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

func (c *childNode) exited() bool {
	select {
	case err := <-c.done:
		c.done <- err
		return true
	default:
		return false
	}
}

// dialWhenUp dials the node's RPC until it answers, has a block and is
// not catching up (a node in block sync refuses broadcasts), up to 60 s.
func dialWhenUp(t *testing.T, rpcAddr string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var c *Client
	var err error
	for {
		if c == nil {
			c, err = Dial(ctx, rpcAddr, nil)
		}
		if c != nil {
			var st *ctypes.ResultStatus
			if st, err = c.RPC().Status(ctx); err == nil {
				if st.SyncInfo.LatestBlockHeight > 0 && !st.SyncInfo.CatchingUp {
					t.Cleanup(func() { c.Close() })
					return c
				}
				err = fmt.Errorf("at height %d, catching up %v", st.SyncInfo.LatestBlockHeight, st.SyncInfo.CatchingUp)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("node at %s did not come up: %v", rpcAddr, err)
		case <-tick.C:
		}
	}
}

// waitResults waits until the node behind c has stored the results of
// height h (it executed h), or ctx ends, and returns them.
func waitResults(ctx context.Context, c *Client, h int64) (*ctypes.ResultBlockResults, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := c.RPC().BlockResults(ctx, &h)
		if err == nil {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("results of height %d: %w (last: %v)", h, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// TestKill9MidLoadLosesNoCommittedTx kills a single-validator node process
// with SIGKILL while clients are committing transfers, restarts it, and
// checks that every tx reported committed is in the state and blocks go on.
func TestKill9MidLoadLosesNoCommittedTx(t *testing.T) {
	dc := TestNetConfig(t, 1)
	keys := fundAccounts(&dc, 4, 1_000_000)
	dir := t.TempDir()
	if _, err := InitDevnet(dir, dc); err != nil {
		t.Fatal(err)
	}
	home := DevnetHome(dir, 0)
	rpcAddr := fmt.Sprintf("tcp://127.0.0.1:%d", dc.RPCPorts[0])
	child := startChild(t, home)
	dialWhenUp(t, rpcAddr)

	type committed struct {
		hash   chain.Hash
		height int64
	}
	var mu sync.Mutex
	done := make(map[int][]committed)
	sinks := make([]chain.Address, len(keys))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, k := range keys {
		sinks[i] = chain.Address{0xee, byte(i)}
		c, err := Dial(ctx, rpcAddr, k)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				tctx, tcancel := context.WithTimeout(ctx, 5*time.Second)
				r, err := c.BroadcastCommit(tctx, &chain.Transfer{To: sinks[i], Amount: 1})
				tcancel()
				if err != nil {
					return // the node died under us
				}
				mu.Lock()
				done[i] = append(done[i], committed{r.Hash, r.Height})
				mu.Unlock()
			}
		}()
	}
	// Let some load commit, then pull the plug.
	deadline := time.Now().Add(90 * time.Second)
	for {
		mu.Lock()
		n := 0
		for _, d := range done {
			n += len(d)
		}
		mu.Unlock()
		if n >= 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d txs committed before the kill", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.kill9()
	cancel()
	wg.Wait()

	child = startChild(t, home)
	c := dialWhenUp(t, rpcAddr)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	h0, _, err := c.Height(ctx2)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, d := range done {
		total += len(d)
		sink, err := c.Account(ctx2, sinks[i])
		if err != nil {
			t.Fatal(err)
		}
		acct, err := c.Account(ctx2, AddressOf(keys[i]))
		if err != nil {
			t.Fatal(err)
		}
		if sink.Credits < uint64(len(d)) || acct.Nonce < uint64(len(d)) {
			t.Fatalf("account %d: %d txs reported committed, but sink has %d credits and nonce is %d", i, len(d), sink.Credits, acct.Nonce)
		}
		// Each is in the block it was reported in, with a success result.
		// (Not looked up in the tx index: a tx is reported committed from
		// its block, and CometBFT indexes after that, so a kill can leave
		// the last block's txs unindexed.)
		for _, tx := range d {
			blk, err := c.RPC().Block(ctx2, &tx.height)
			if err != nil {
				t.Fatalf("block %d of committed tx %s after restart: %v", tx.height, tx.hash, err)
			}
			res, err := waitResults(ctx2, c, tx.height)
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(blk.Block.Data.Txs, func(b cmttypes.Tx) bool { return chain.Hash(b.Hash()) == tx.hash })
			if i < 0 || i >= len(res.TxResults) || res.TxResults[i].Code != 0 {
				t.Fatalf("committed tx %s not a success in block %d after restart (index %d)", tx.hash, tx.height, i)
			}
		}
	}
	// Blocks continue after the restart, with txs.
	k0, err := Dial(ctx2, rpcAddr, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	defer k0.Close()
	r, err := k0.BroadcastCommit(ctx2, &chain.Transfer{To: sinks[1], Amount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Height <= h0-1 {
		t.Fatalf("new tx in block %d, node was at %d", r.Height, h0)
	}
	if child.exited() {
		t.Fatal("restarted node exited")
	}
	t.Logf("%d txs committed before kill -9; restarted at height %d", total, h0)
}

// TestValidatorKilledWithSIGKILLCatchesUp runs validator 3 of 4 as its own
// process, kills it with SIGKILL while txs flow, checks the other three go on,
// restarts it and checks it reaches the same app hash and state.
func TestValidatorKilledWithSIGKILLCatchesUp(t *testing.T) {
	dc := TestNetConfig(t, 4)
	keys := fundAccounts(&dc, 2, 1_000_000)
	tn := InitTestNet(t, dc)
	for i := range 3 {
		tn.StartNode(i)
	}
	home3 := DevnetHome(tn.Dir, 3)
	rpc3 := fmt.Sprintf("tcp://127.0.0.1:%d", dc.RPCPorts[3])
	child := startChild(t, home3)
	dialWhenUp(t, rpc3)
	tn.WaitHeight(3, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	viaChild, err := Dial(ctx, rpc3, keys[0])
	if err != nil {
		t.Fatal(err)
	}
	defer viaChild.Close()
	viaNode0, err := NewClient(ctx, tn.Nodes[0].rpcLocal(), keys[1])
	if err != nil {
		t.Fatal(err)
	}
	defer viaNode0.Close()
	sink := chain.Address{0x5e}
	var last Result
	for range 3 {
		if last, err = viaChild.Broadcast(ctx, &chain.Transfer{To: sink, Amount: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := viaNode0.Broadcast(ctx, &chain.Transfer{To: sink, Amount: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := viaNode0.BroadcastCommit(ctx, &chain.Transfer{To: sink, Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := viaChild.WaitTx(ctx, last.Hash); err != nil {
		t.Fatal(err)
	}

	child.kill9()
	before := tn.Height(0)
	for range 3 {
		if _, err := viaNode0.BroadcastCommit(ctx, &chain.Transfer{To: sink, Amount: 1}); err != nil {
			t.Fatalf("with one validator killed: %v", err)
		}
	}
	tn.WaitHeight(before+5, 60*time.Second)

	child = startChild(t, home3)
	c3 := dialWhenUp(t, rpc3)
	target := tn.Height(0)
	// Caught up once it has executed target (its results are stored).
	if _, err := waitResults(ctx, c3, target); err != nil {
		h, _, _ := c3.Height(ctx)
		t.Fatalf("restarted validator at %d, others at %d: %v", h, target, err)
	}
	for _, height := range []int64{before, target} {
		res, err := waitResults(ctx, c3, height)
		if err != nil {
			t.Fatal(err)
		}
		if want := appHashAt(t, tn, 0, height); !bytes.Equal(res.AppHash, want) {
			t.Fatalf("height %d: restarted validator app hash %X, want %X", height, res.AppHash, want)
		}
	}
	a3, err := c3.Account(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	if a3.Credits != 10 {
		t.Fatalf("restarted validator says the sink has %d credits, want 10", a3.Credits)
	}
	if child.exited() {
		t.Fatal("restarted validator exited")
	}
}
