//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/ledger"
)

// loopWat runs 3·10^9 iterations of an LCG (16 fuel each, about four
// seconds on an idle core: long enough that a worker, which commits the
// moment its run ends, is caught running it) and writes the final state's
// 8 bytes.
const loopWat = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i64) (local $x i64)
    (local.set $x (i64.const 1))
    (block $done (loop $l
      (br_if $done (i64.eq (local.get $i) (i64.const 3000000000)))
      (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 6364136223846793005)) (local.get $i)))
      (local.set $i (i64.add (local.get $i) (i64.const 1)))
      (br $l)))
    (i64.store (i32.const 16) (local.get $x))
    (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`

// procNet is a devnet whose nodes are `coop node` processes of a built
// coop binary, one per home, that a test can kill -9 and start again.
type procNet struct {
	t     *testing.T
	coop  string
	dir   string
	base  int
	addrs []chain.Address
	args  [][]string // each node's extra `coop node` arguments
	procs []*nodeProc
}

// nodeProc is one `coop node` process.
type nodeProc struct {
	pid  int
	done chan struct{} // closed once it has exited and been reaped
}

func (n *procNet) home(i int) string { return ledger.DevnetHome(n.dir, i) }
func (n *procNet) rpc(i int) string  { return fmt.Sprintf("tcp://127.0.0.1:%d", n.base+10*i+1) }

// start starts node i's process, logging to its home's node.log. The
// process gets SIGKILL if the test process dies (parent-death signal: the
// goroutine that starts it keeps its thread until it exits).
func (n *procNet) start(i int) {
	n.t.Helper()
	logf, err := os.OpenFile(filepath.Join(n.home(i), "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(n.coop, append([]string{"--home", n.home(i), "node"}, n.args[i]...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &nodeProc{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		defer close(p.done)
		defer logf.Close()
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
	}()
	if err := <-started; err != nil {
		n.t.Fatalf("starting node%d: %v", i, err)
	}
	p.pid = cmd.Process.Pid
	n.procs[i] = p
}

// kill9 kills node i's process with SIGKILL and waits until it is reaped.
func (n *procNet) kill9(i int) {
	n.t.Helper()
	p := n.procs[i]
	if err := syscall.Kill(p.pid, syscall.SIGKILL); err != nil {
		n.t.Fatalf("kill -9 node%d: %v", i, err)
	}
	<-p.done
	n.procs[i] = nil
}

// stopAll stops every running node with SIGTERM (SIGKILL to its process
// group after 30 s), and kills what is left of the killed nodes' groups.
func (n *procNet) stopAll() {
	for _, p := range n.procs {
		if p != nil {
			_ = syscall.Kill(p.pid, syscall.SIGTERM)
		}
	}
	deadline := time.After(30 * time.Second)
	for _, p := range n.procs {
		if p == nil {
			continue
		}
		select {
		case <-p.done:
		case <-deadline:
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			<-p.done
		}
	}
}

// dial returns a read-only client of node i's RPC once the node has a
// block and is not catching up.
func (n *procNet) dial(ctx context.Context, i int) *ledger.Client {
	n.t.Helper()
	var err error
	for {
		var c *ledger.Client
		if c, err = ledger.Dial(ctx, n.rpc(i), nil); err == nil {
			st, serr := c.RPC().Status(ctx)
			if serr == nil && st.SyncInfo.LatestBlockHeight > 0 && !st.SyncInfo.CatchingUp {
				n.t.Cleanup(func() { c.Close() })
				return c
			}
			err = serr
			if serr == nil {
				err = fmt.Errorf("at height %d, catching up %v", st.SyncInfo.LatestBlockHeight, st.SyncInfo.CatchingUp)
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			n.t.Fatalf("node%d's RPC never came up: %v", i, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitAPI waits until node i's daemon answers on its local API.
func (n *procNet) waitAPI(ctx context.Context, i int) {
	n.t.Helper()
	var err error
	for {
		var c *api.Client
		if c, err = api.NewClientFromHome(n.home(i)); err == nil {
			if _, err = c.Status(ctx); err == nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			n.t.Fatalf("node%d's API never came up: %v", i, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// coopCLI runs the built coop binary with args and returns its stdout.
func (n *procNet) coopCLI(ctx context.Context, args ...string) []byte {
	n.t.Helper()
	cmd := exec.CommandContext(ctx, n.coop, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		n.t.Fatalf("coop %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

// creditSupplyAtOneHeight is Σ credits + escrowed credits over addrs, every account
// read at one height (that of the first answer), and that height.
func creditSupplyAtOneHeight(ctx context.Context, t *testing.T, c *ledger.Client, addrs []chain.Address) (uint64, int64) {
	t.Helper()
	var sum uint64
	var h int64
	for _, a := range addrs {
		res, err := c.RPC().ABCIQueryWithOptions(ctx, chain.QueryAccount+a.String(), nil, rpcclient.ABCIQueryOptions{Height: h})
		if err != nil || res.Response.Code != 0 {
			t.Fatalf("account %s at height %d: %v %s", a, h, err, res.Response.Log)
		}
		if h == 0 {
			h = res.Response.Height
		} else if res.Response.Height != h {
			t.Fatalf("account %s read at height %d, not %d", a, res.Response.Height, h)
		}
		var v chain.AccountView
		if err := chain.Unmarshal(res.Response.Value, &v); err != nil {
			t.Fatal(err)
		}
		sum += v.Credits + v.CreditsEscrowed
	}
	return sum, h
}

// computeChildCPU is the most CPU time (user + system, in clock ticks of
// 10 ms) used by a running `coop compute child` process whose parent is
// pid, and that child's pid (0 if none). A warm child waiting for a job
// has used a few ticks; one running the loop job climbs by 100 a second.
func computeChildCPU(pid int) (ticks, child int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cp, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:])) // state ppid … utime(11) stime(12)
		if len(f) < 13 || f[0] == "Z" || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if !bytes.Contains(cmdline, []byte("compute\x00"+computeChildCmd)) {
			continue
		}
		u, _ := strconv.Atoi(f[11])
		s, _ := strconv.Atoi(f[12])
		if u+s > ticks {
			ticks, child = u+s, cp
		}
	}
	return ticks, child
}

// waitState polls cond every 50 ms until it holds, failing the test with
// what when ctx ends first.
func waitState(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestJobsSurviveKill9OfAWorkerAndTheSubmitter runs a five-validator
// devnet as `coop node` processes of the real binary: node0 submits (no
// CPU), nodes 1–4 are workers (--cpu 1). Node0 submits two jobs of a
// module that computes for seconds: A with r = 3, q = 2 and B with
// r = 2, q = 2. A worker W assigned to both is killed with SIGKILL while
// its compute child is running one of them (assigned, nothing committed).
// Then:
//
//   - A is accepted with the two other workers' results once W's commit
//     deadline passes: W is judged missed and not replaced (with q = 2
//     commitments the ledger opens the reveals, chain/job_assign.go
//     closeCommit);
//   - B, left with one commitment, is reassigned: a new worker that took
//     no part in B is drawn and B is accepted in round 2;
//   - W is started again from its home; meanwhile node0, the submitter, a
//     validator that runs no jobs, is killed with SIGKILL while B's second
//     round is open and started again;
//   - the submitter reads both outputs with `coop job result`, and they
//     are the bytes of a local `coop compute run` of the module, with the
//     same fuel;
//   - the sum of all accounts' credits and escrow is the genesis total
//     before, between the kills and after (read at one height);
//   - the restarted W reads the same job records (`coop job status
//     --json`) as the submitter and its balance as another node does: it
//     was paid nothing and lost nothing.
//
// Everything waits on ledger state or process state, not on block counts.
func TestJobsSurviveKill9OfAWorkerAndTheSubmitter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds coop and runs a five-node devnet of processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	start := time.Now()
	dir := t.TempDir()
	coop := buildForTest(t, dir, "coop", "./cmd/coop")
	wasm, err := wasmer.Wat2Wasm(loopWat)
	if err != nil {
		t.Fatal(err)
	}
	modPath := filepath.Join(dir, "loop.wasm")
	if err := os.WriteFile(modPath, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	const fuel = 60_000_000_000

	// The expected result: a local run.
	n := &procNet{t: t, coop: coop}
	var local struct {
		Status     string `json:"status"`
		FuelUsed   uint64 `json:"fuel_used"`
		OutputHash string `json:"output_hash"`
		Output     []byte `json:"output_base64"`
		ExecuteMS  int64  `json:"execute_ms"`
	}
	if err := json.Unmarshal(n.coopCLI(ctx, "--home", filepath.Join(dir, "local"), "compute", "run", modPath, "--fuel", strconv.Itoa(fuel), "--json"), &local); err != nil {
		t.Fatal(err)
	}
	if local.Status != chain.ResultExited || len(local.Output) != 8 {
		t.Fatalf("local run: %+v", local)
	}
	t.Logf("local run: %d fuel, %d ms executing", local.FuelUsed, local.ExecuteMS)

	// The devnet: short blocks, and a commit deadline (120 blocks, ≥ 30 s)
	// long enough for a worker assigned both jobs to run them one after the
	// other on a loaded 2-core machine.
	const nodes = 5
	dc := ledger.DefaultDevnetConfig()
	dc.ChainID = "coop-kill9"
	dc.Nodes = nodes
	dc.BasePort = freePortBlock(t, 10*nodes)
	dc.BlockTime = 250 * time.Millisecond
	dc.Genesis.Params.Jobs.CommitBlocks = 120
	n.dir, n.base = filepath.Join(dir, "devnet"), dc.BasePort
	if n.addrs, err = ledger.InitDevnet(n.dir, dc); err != nil {
		t.Fatal(err)
	}
	if err := writeLoopbackConfig(n.dir, nodes); err != nil {
		t.Fatal(err)
	}
	n.args = make([][]string, nodes)
	n.procs = make([]*nodeProc, nodes)
	for i := 1; i < nodes; i++ {
		n.args[i] = []string{"--cpu", "1"}
	}
	t.Cleanup(func() {
		n.stopAll()
		if t.Failed() {
			for i := range nodes {
				b, _ := os.ReadFile(filepath.Join(n.home(i), "node.log"))
				t.Logf("node%d log (tail):\n%s", i, tail(b, 4000))
			}
		}
	})
	for i := range nodes {
		n.start(i)
	}
	clients := make([]*ledger.Client, nodes)
	for i := range nodes {
		clients[i] = n.dial(ctx, i)
	}
	for i := range nodes {
		n.waitAPI(ctx, i)
	}
	waitState(ctx, t, "every node registered, the workers with CPU", func() bool {
		for i, a := range n.addrs {
			nd, err := clients[0].Node(ctx, a)
			if err != nil || nd.Status != chain.NodeActive || (i > 0) != (nd.CPU > 0) {
				return false
			}
		}
		return true
	})
	t.Logf("devnet of %d processes up in %v", nodes, time.Since(start).Round(time.Millisecond))
	total := uint64(nodes) * dc.Credits
	supply := func(c *ledger.Client, when string) {
		t.Helper()
		if s, h := creditSupplyAtOneHeight(ctx, t, c, n.addrs); s != total {
			t.Fatalf("%s: credits + escrow sum to %d at height %d, genesis gave %d", when, s, h, total)
		}
	}
	supply(clients[0], "before the jobs")

	// Two jobs of the same module.
	submit := func(r, q int) chain.Hash {
		t.Helper()
		var res api.JobSubmitted
		out := n.coopCLI(ctx, "--home", n.home(0), "job", "submit", modPath, "--fuel", strconv.Itoa(fuel),
			"--mem", "64KiB", "--replicas", strconv.Itoa(r), "--quorum", strconv.Itoa(q), "--copies", "3", "--json")
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("job submit --json: %q: %v", out, err)
		}
		id, err := chain.ParseHash(res.Job)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	tSubmit := time.Now()
	idA, idB := submit(3, 2), submit(2, 2)
	tSubmitted := time.Now()
	observer := clients[0] // a node that is up, for reading the ledger
	job := func(id chain.Hash) chain.JobView {
		t.Helper()
		v, err := observer.Job(ctx, id)
		if err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		return v
	}
	var vA, vB chain.JobView
	waitState(ctx, t, "both jobs assigned", func() bool {
		vA, vB = job(idA), job(idB)
		return len(vA.Assignments) == 3 && len(vB.Assignments) == 2
	})
	tAssigned := time.Now()
	worker := map[chain.Address]int{}
	for i, a := range n.addrs {
		worker[a] = i
	}
	w := -1 // a worker of both jobs: 3 + 2 assignments among 4 workers
	for _, a := range vA.Assignments {
		for _, b := range vB.Assignments {
			if a.Worker == b.Worker && w < 0 {
				w = worker[a.Worker]
			}
		}
	}
	if w <= 0 {
		t.Fatalf("no worker in both jobs: %+v %+v", vA.Assignments, vB.Assignments)
	}
	wAddr := n.addrs[w]
	for i := 1; i < nodes; i++ {
		if i != w {
			observer = clients[i]
			break
		}
	}
	t.Logf("both submitted in %v, assigned %v later; A to %v, B to %v; W = node%d", tSubmitted.Sub(tSubmit).Round(time.Millisecond),
		tAssigned.Sub(tSubmitted).Round(time.Millisecond), workersOf(vA, worker), workersOf(vB, worker), w)

	// kill -9 W while its compute child runs one of the jobs (half a
	// second of CPU: a waiting warm child uses a few ticks), nothing of
	// W's committed.
	committed := func(v chain.JobView, addr chain.Address) bool {
		for _, a := range v.Assignments {
			if a.Worker == addr && a.CommittedHeight != 0 {
				return true
			}
		}
		return false
	}
	var child, ticks int
	waitState(ctx, t, fmt.Sprintf("node%d running a job", w), func() bool {
		ticks, child = computeChildCPU(n.procs[w].pid)
		return ticks >= 50
	})
	if vA, vB = job(idA), job(idB); committed(vA, wAddr) || committed(vB, wAddr) {
		t.Fatalf("node%d committed before it was killed", w)
	}
	n.kill9(w)
	tKill := time.Now()
	waitState(ctx, t, "the killed worker's compute child gone", func() bool { return processGone(child) })
	t.Logf("node%d killed %v after both jobs were seen assigned, its compute child at %d ms of CPU", w, tKill.Sub(tAssigned).Round(time.Millisecond), 10*ticks)
	supply(observer, "with a worker killed")

	// A goes on without W; B gets a replacement for W.
	missed := func(v chain.JobView, addr chain.Address) bool {
		for _, a := range v.Assignments {
			if a.Worker == addr && a.Outcome == chain.OutcomeMissed {
				return true
			}
		}
		return false
	}
	var tMissedA, tReassigned time.Time
	waitState(ctx, t, "W missed in A and replaced in B", func() bool {
		vA, vB = job(idA), job(idB)
		if tMissedA.IsZero() && missed(vA, wAddr) {
			tMissedA = time.Now()
		}
		if tReassigned.IsZero() && len(vB.Assignments) == 3 {
			tReassigned = time.Now()
		}
		return !tMissedA.IsZero() && !tReassigned.IsZero()
	})
	repl := vB.Assignments[2]
	if vB.Round != 2 || repl.Round != 2 || repl.Worker == wAddr || repl.Worker == vB.Assignments[0].Worker || repl.Worker == vB.Assignments[1].Worker || !missed(vB, wAddr) {
		t.Fatalf("B after W's deadline: round %d, %+v", vB.Round, vB.Assignments)
	}
	r := worker[repl.Worker]
	t.Logf("kill → W missed in A %v, → B reassigned to node%d %v", tMissedA.Sub(tKill).Round(time.Millisecond), r, tReassigned.Sub(tKill).Round(time.Millisecond))

	// W starts again from its home; then node0 (the submitter, no
	// worker) is killed while B's second round is open, once the
	// replacement has the job's keys (it runs or ran it), and restarted.
	tRestart := time.Now()
	n.start(w)
	clients[w] = n.dial(ctx, w)
	n.waitAPI(ctx, w)
	t.Logf("node%d back (RPC caught up, API answering) in %v", w, time.Since(tRestart).Round(time.Millisecond))
	waitState(ctx, t, "the replacement running B", func() bool {
		ticks, _ := computeChildCPU(n.procs[r].pid)
		return ticks >= 50 || committed(job(idB), repl.Worker)
	})
	phaseB := job(idB).Phase
	n.kill9(0)
	tRestart = time.Now()
	n.start(0)
	clients[0] = n.dial(ctx, 0)
	n.waitAPI(ctx, 0)
	t.Logf("node0 killed with B %s, back in %v", phaseB, time.Since(tRestart).Round(time.Millisecond))
	supply(clients[0], "after the restarts")

	waitState(ctx, t, "both jobs closed", func() bool {
		vA, vB = job(idA), job(idB)
		return vA.ClosedHeight != 0 && vB.ClosedHeight != 0
	})
	t.Logf("B accepted %v after its reassignment; both closed %v after submission", time.Since(tReassigned).Round(time.Millisecond), time.Since(tSubmit).Round(time.Millisecond))

	// The books: W missed both, unpaid; the others paid the agreed fuel.
	pay, _ := chain.JobCost(local.FuelUsed, 1)
	for _, v := range []chain.JobView{vA, vB} {
		if v.Phase != chain.JobAccepted || v.Result.Status != chain.ResultExited || v.Result.FuelUsed != local.FuelUsed || v.Result.OutputHash.String() != local.OutputHash {
			t.Fatalf("job %s: %s, %+v; the local run: %+v", v.ID, v.Phase, v.Result, local)
		}
		for _, a := range v.Assignments {
			want, paid := chain.OutcomePaid, pay
			if a.Worker == wAddr {
				want, paid = chain.OutcomeMissed, 0
			}
			if a.Outcome != want || a.Paid != paid {
				t.Errorf("job %s: node%d round %d %s, paid %d; want %s, %d", v.ID, worker[a.Worker], a.Round, a.Outcome, a.Paid, want, paid)
			}
		}
	}
	if vA.Round != 1 || vB.Round != 2 {
		t.Errorf("rounds: A %d, B %d", vA.Round, vB.Round)
	}
	// How much of the commit deadline the honest workers used.
	var slowest, window int64
	for _, v := range []chain.JobView{vA, vB} {
		for _, a := range v.Assignments {
			if a.CommittedHeight != 0 {
				slowest = max(slowest, a.CommittedHeight-a.AssignedHeight)
				window = a.CommitBy - a.AssignedHeight
			}
		}
	}
	t.Logf("the slowest honest commit came %d blocks after its assignment, of a %d-block deadline; blocks every %v on average",
		slowest, window, time.Since(tSubmit).Round(time.Millisecond)/time.Duration(max(1, vB.ClosedHeight-vA.SubmittedHeight)))
	supply(clients[0], "after the jobs")
	sub, err := clients[0].Account(ctx, n.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	if sub.Credits != dc.Credits-4*pay || sub.CreditsEscrowed != 0 {
		t.Errorf("the submitter has %d credits, %d escrowed; want %d, 0", sub.Credits, sub.CreditsEscrowed, dc.Credits-4*pay)
	}

	// The submitter reads the outputs: the local run's bytes.
	for _, id := range []chain.Hash{idA, idB} {
		out := filepath.Join(dir, "out-"+id.String()[:8])
		n.coopCLI(ctx, "--home", n.home(0), "job", "result", id.String(), "-o", out)
		if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, local.Output) {
			t.Fatalf("job %s result: %x (%v), the local run wrote %x", id, got, err, local.Output)
		}
	}

	// The restarted W reads the same records and balance as the others.
	wAcct, err := clients[w].Account(ctx, wAddr)
	if err != nil {
		t.Fatal(err)
	}
	if wAcct.Credits != dc.Credits || wAcct.CreditsEarned != 0 || wAcct.CreditsEscrowed != 0 {
		t.Errorf("W's account after its restart: %+v", wAcct)
	}
	supply(clients[w], "read by the restarted W")
	var viaW, via0 chain.AccountView
	if err := json.Unmarshal(n.coopCLI(ctx, "--home", n.home(w), "account", "--json"), &viaW); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(n.coopCLI(ctx, "--home", n.home(0), "account", wAddr.String(), "--json"), &via0); err != nil {
		t.Fatal(err)
	}
	if viaW.Credits != via0.Credits || viaW.Credits != dc.Credits || viaW.Address != wAddr {
		t.Errorf("coop account: W reads %+v, node0 reads %+v", viaW, via0)
	}
	for _, id := range []chain.Hash{idA, idB} {
		a := n.coopCLI(ctx, "--home", n.home(w), "job", "status", id.String(), "--json")
		b := n.coopCLI(ctx, "--home", n.home(0), "job", "status", id.String(), "--json")
		if !bytes.Equal(a, b) {
			t.Errorf("job %s: W reads\n%s\nnode0 reads\n%s", id, a, b)
		}
	}
	t.Logf("whole test %v", time.Since(start).Round(time.Millisecond))
}

// workersOf names a job's workers by node index.
func workersOf(v chain.JobView, idx map[chain.Address]int) []string {
	var s []string
	for _, a := range v.Assignments {
		s = append(s, fmt.Sprintf("node%d", idx[a.Worker]))
	}
	return s
}
