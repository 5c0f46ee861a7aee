package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/node/worker"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// echoWat copies stdin (up to 4 KiB) to stdout and appends "!".
const echoWat = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64)) (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store8 (i32.add (i32.const 64) (i32.load (i32.const 8))) (i32.const 33))
    (i32.store (i32.const 4) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))))`

// startComputeNetwork starts n memory-ledger nodes: node 0 submits (no
// CPU), the others are workers running this test binary as their compute
// child; fault[i] makes worker i lie.
func startComputeNetwork(t *testing.T, n int, fault map[int]worker.Fault) ([]*Node, *memLedger) {
	t.Helper()
	cache := t.TempDir()
	return startMemNetworkWith(t, n, func(i int, c *Config) {
		if i == 0 {
			c.API.Listen = "127.0.0.1:0" // the submitter's API, for the API tests
			return
		}
		offerCPU(t, c, cache)
		c.Compute.Interval = 50 * time.Millisecond
		c.Compute.Fault = fault[i]
	})
}

// waitJob polls the ledger until the job is closed.
func waitJob(t *testing.T, n *Node, id chain.Hash) chain.JobView {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := n.Job(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if v.ClosedHeight != 0 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s after 2 minutes: %+v", id, v.Phase, v.Assignments)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A job on real nodes (libp2p hosts, exchange, block store, the real
// chain.App in memory): three workers, one of them lying about the
// output. The workers fetch the module and input keys from the submitter's
// node, run the job in the sandbox, store their outputs, commit and
// reveal; the honest result is accepted, the two honest workers are paid
// exactly for the fuel used (chain.JobCost), the liar is judged wrong and paid nothing,
// the unused escrow goes back, the sum of balances is unchanged, and the
// submitter reads the correct output from a worker's output file.
func TestComputeJobWithALiarOnAMemoryNetwork(t *testing.T) {
	nodes, l := startComputeNetwork(t, 4, map[int]worker.Fault{3: worker.FaultOutput})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	total := func() uint64 { return creditSupply(ctx, t, nodes) }
	before := total()
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(1) // the next block assigns the workers
	v := waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s: %+v", v.Phase, v.Assignments)
	}

	// The accepted result is the honest one: a local run of the job.
	spec := (&worker.Job{FuelLimit: 300, MemoryLimit: 1 << 16, Replicas: 3, InputFile: [32]byte{1}}).Spec(mod, []byte("hello"))
	r, err := compute.NewRunner(workerRunnerConfig(&nodes[1].cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := r.Run(ctx, &compute.Job{Spec: spec, Module: mod, Input: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if claimOf(v.Result) != worker.ClaimOf(rep.Result) {
		t.Fatalf("accepted %+v, a local run gives %+v", v.Result, worker.ClaimOf(rep.Result))
	}
	fuel := rep.Result.FuelUsed
	pay, _ := chain.JobCost(fuel, 1)
	for _, a := range v.Assignments {
		switch a.Worker {
		case nodes[3].addr:
			if a.Outcome != chain.OutcomeWrong || a.Paid != 0 {
				t.Errorf("the liar: outcome %q, paid %d", a.Outcome, a.Paid)
			}
		case nodes[1].addr, nodes[2].addr:
			if a.Outcome != chain.OutcomePaid || a.Paid != pay {
				t.Errorf("honest worker %s: outcome %q, paid %d, want %d", a.Worker, a.Outcome, a.Paid, pay)
			}
		default:
			t.Errorf("assigned to %s", a.Worker)
		}
	}
	if len(v.Assignments) != 3 || v.Escrow != 0 || v.Paid != 2*pay {
		t.Fatalf("%d assignments, escrow %d, paid %d", len(v.Assignments), v.Escrow, v.Paid)
	}
	if after := total(); after != before {
		t.Fatalf("balances sum to %d, were %d", after, before)
	}
	sub, _ := nodes[0].lc.Account(ctx, nodes[0].addr)
	if sub.CreditsEscrowed != 0 || sub.CreditsSpent != 2*pay {
		t.Fatalf("submitter: escrowed %d, spent %d", sub.CreditsEscrowed, sub.CreditsSpent)
	}
	liar, err := nodes[0].lc.(jobLedger).Worker(ctx, nodes[3].addr)
	if err != nil || liar.Wrong != 1 || liar.Paid != 0 {
		t.Fatalf("the liar's record: %+v, %v", liar, err)
	}

	// The submitter reads the output; nobody else gets its key.
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != "hello!" {
		t.Fatalf("the submitter reads %q", res.Output)
	}
	if _, err := nodes[1].JobResult(ctx, id); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("a worker asked for the result: %v", err)
	}

	// The same through the local HTTP API (what coop job uses).
	c, err := api.NewClientFromHome(nodes[0].cfg.Home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Job(ctx, id.String())
	if err != nil || st.Phase != chain.JobAccepted || st.ID != id {
		t.Fatalf("API status: %+v, %v", st, err)
	}
	ls, err := c.Jobs(ctx)
	if err != nil || len(ls) != 1 || ls[0].ID != id {
		t.Fatalf("API list: %d jobs, %v", len(ls), err)
	}
	out, err := c.JobResult(ctx, id.String())
	if err != nil || string(out.Output) != "hello!" || out.FuelUsed != fuel || out.Status != string(compute.StatusExited) {
		t.Fatalf("API result: %+v, %v", out, err)
	}
	if _, err := c.Job(ctx, chain.Hash{1}.String()); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("API status of an unknown job: %v", err)
	}
	if _, err := c.Job(ctx, "nope"); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("API status of a malformed id: %v", err)
	}
	// Refused submissions escrow nothing: more replicas than workers,
	// r < q, and an escrow above the submitter's credits.
	for _, req := range []*api.JobRequest{
		{Module: mod, Fuel: 10, Replicas: 4, Quorum: 3},
		{Module: mod, Fuel: 10, Replicas: 1, Quorum: 2},
		{Module: mod, Fuel: 1000, Replicas: 3, Quorum: 2, Price: 1_000_000_000}, // 3,000 credits: more than the submitter has
	} {
		if _, err := c.SubmitJob(ctx, req); !errors.Is(err, api.ErrInvalid) {
			t.Errorf("submission %+v: %v, want a refusal", req, err)
		}
	}
	if after := total(); after != before {
		t.Fatalf("balances sum to %d after refusals, were %d", after, before)
	}
	if a, _ := nodes[0].lc.Account(ctx, nodes[0].addr); a.CreditsEscrowed != 0 {
		t.Fatalf("refused submissions escrowed %d", a.CreditsEscrowed)
	}
}

// Two colluding liars out of three with quorum 2 (docs/compute.md): they
// reveal the same wrong result, which is accepted; the honest worker is
// judged wrong. Replication r with quorum q trusts that fewer than q of
// the r workers drawn collude.
func TestComputeJobTwoColludingLiarsWin(t *testing.T) {
	nodes, l := startComputeNetwork(t, 4, map[int]worker.Fault{2: worker.FaultOutput, 3: worker.FaultOutput})
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
	l.advance(1)
	v := waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s", v.Phase)
	}
	for _, a := range v.Assignments {
		honest := a.Worker == nodes[1].addr
		if honest && a.Outcome != chain.OutcomeWrong || !honest && a.Outcome != chain.OutcomePaid {
			t.Errorf("worker %s (honest %v): %s", a.Worker, honest, a.Outcome)
		}
	}
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != "hello " { // "hello!" with its last bit flipped
		t.Fatalf("the accepted output is %q", res.Output)
	}
}

// A worker killed after it was assigned, before it committed: at the
// commit deadline (fewer than q = 3 committed) the ledger judges it missed
// and assigns a replacement,
// the job completes with the replacement, and the killed worker earns
// nothing. The workers' loops are driven by hand (their ticker never
// fires), so which of them acts when is the test's choice.
func TestComputeJobKilledWorkerIsReplaced(t *testing.T) {
	cache := t.TempDir()
	// A short commit deadline, and no exclusion of nodes that missed
	// storage epochs (the deadline passes in a burst of empty blocks their
	// provers cannot keep up with).
	nodes, l := startMemNetworkGenesis(t, 5, func(g *chain.GenesisState) {
		g.Params.Jobs.CommitBlocks = 20
		g.Params.RepairAfterMissed = 1 << 20
	}, func(i int, c *Config) {
		c.Storage.K, c.Storage.M = 1, 1 // two holders of four live nodes: puts work with one node dead
		if i == 0 {
			return
		}
		offerCPU(t, c, cache)
		c.Compute.Interval = time.Hour
		c.Compute.PollOnly = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 3, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(1)
	byAddr := map[chain.Address]*Node{}
	for _, nd := range nodes[1:] {
		byAddr[nd.addr] = nd
	}
	v, err := nodes[0].Job(ctx, id)
	if err != nil || len(v.Assignments) != 3 {
		t.Fatalf("%d assignments: %v", len(v.Assignments), err)
	}
	killed := byAddr[v.Assignments[2].Worker]
	if err := killed.Close(); err != nil {
		t.Fatal(err)
	}
	round := func(nd *Node) {
		t.Helper()
		if err := nd.work.Round(ctx); err != nil {
			t.Fatalf("worker %s: %v", nd.addr, err)
		}
		nd.work.Wait()
	}
	for _, a := range v.Assignments[:2] {
		round(byAddr[a.Worker])
	}
	v, _ = nodes[0].Job(ctx, id)
	if v.Phase != chain.JobCommitting {
		t.Fatalf("with two of three committed the job is %s", v.Phase)
	}
	h, _, _ := nodes[0].lc.Height(ctx)
	l.advance(int(v.Assignments[2].CommitBy - h)) // past the killed worker's deadline
	v, _ = nodes[0].Job(ctx, id)
	if len(v.Assignments) != 4 || v.Assignments[2].Outcome != chain.OutcomeMissed || v.Round != 2 {
		t.Fatalf("after the deadline: round %d, %+v", v.Round, v.Assignments)
	}
	repl := byAddr[v.Assignments[3].Worker]
	if repl == nil || repl == killed {
		t.Fatalf("replacement %s", v.Assignments[3].Worker)
	}
	round(repl)
	for _, a := range []chain.Assignment{v.Assignments[0], v.Assignments[1], v.Assignments[3]} {
		round(byAddr[a.Worker])
	}
	v = waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s", v.Phase)
	}
	for i, a := range v.Assignments {
		if i == 2 {
			if a.Outcome != chain.OutcomeMissed || a.Paid != 0 {
				t.Errorf("the killed worker: %s, paid %d", a.Outcome, a.Paid)
			}
		} else if a.Outcome != chain.OutcomePaid || a.Paid == 0 {
			t.Errorf("worker %d: %s, paid %d", i, a.Outcome, a.Paid)
		}
	}
	res, err := nodes[0].JobResult(ctx, id)
	if err != nil || string(res.Output) != "hello!" {
		t.Fatalf("result: %v", err)
	}
}

// startMemNetworkGenesis is startMemNetworkWith on a ledger whose genesis
// gen changes first.
func startMemNetworkGenesis(t testing.TB, n int, gen func(*chain.GenesisState), tweak func(i int, c *Config)) ([]*Node, *memLedger) {
	t.Helper()
	keys := make([]ed25519.PrivateKey, n)
	for i := range keys {
		_, keys[i], _ = ed25519.GenerateKey(rand.Reader)
	}
	cfg := chain.DefaultConfig("")
	cfg.Logger = slog.New(slog.DiscardHandler)
	app, err := chain.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	g := chain.DefaultGenesisState()
	for _, k := range keys {
		g.Accounts = append(g.Accounts, chain.GenesisAccount{Address: chain.AddressOf(k.Public().(ed25519.PublicKey)), Credits: 1000})
	}
	gen(&g)
	st, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.InitChain(context.Background(), &abci.InitChainRequest{ChainId: memChainID, AppStateBytes: st, InitialHeight: 1}); err != nil {
		t.Fatal(err)
	}
	l := &memLedger{t: t, chainID: memChainID, app: app, pageSize: 1000}
	l.block()
	nodes := make([]*Node, n)
	for i := range n {
		c := TestConfig(t.TempDir())
		c.API.Listen = ""
		c.Storage.K, c.Storage.M = 2, 1
		c.PendingTimeout = time.Second
		tweak(i, &c)
		nd, err := start(context.Background(), c, keys[i], l.client(keys[i]), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = nd.Close() })
		nodes[i] = nd
	}
	for _, nd := range nodes {
		nd.connectKnown(context.Background())
	}
	return nodes, l
}

// Hostile modules on the network end as agreed results: bytes that are not
// WebAssembly are rejected, an infinite loop runs out of fuel, a module
// with an unknown import is rejected; each is accepted like any result,
// no node fails, and the sum of balances stays the same.
func TestComputeHostileJobsEndAsAgreedResults(t *testing.T) {
	nodes, l := startComputeNetwork(t, 4, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	loop, err := wasmer.Wat2Wasm(`(module (memory (export "memory") 1) (func (export "_start") (loop br 0)))`)
	if err != nil {
		t.Fatal(err)
	}
	evil, err := wasmer.Wat2Wasm(`(module (import "env" "evil" (func)) (memory (export "memory") 1) (func (export "_start")))`)
	if err != nil {
		t.Fatal(err)
	}
	total := func() uint64 { return creditSupply(ctx, t, nodes) }
	before := total()
	for _, tc := range []struct {
		name   string
		module []byte
		status string
		trap   compute.TrapKind
	}{
		{"bytes that are not WebAssembly", []byte("\x00asm but not really a module"), chain.ResultRejected, compute.RejectMalformed},
		{"an infinite loop", loop, chain.ResultTrapped, compute.TrapOutOfFuel},
		{"an unknown import", evil, chain.ResultRejected, compute.RejectImport},
	} {
		id, err := nodes[0].SubmitJob(ctx, tc.module, nil, JobOptions{Fuel: 100_000, Memory: 1 << 16, Replicas: 3, Quorum: 2, Price: 1})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		l.advance(1)
		v := waitJob(t, nodes[0], id)
		if v.Phase != chain.JobAccepted || v.Result.Status != tc.status || v.Result.Trap != string(tc.trap) {
			t.Fatalf("%s: %s with %+v", tc.name, v.Phase, v.Result)
		}
		for _, a := range v.Assignments {
			if a.Outcome != chain.OutcomePaid {
				t.Errorf("%s: worker %s %s", tc.name, a.Worker, a.Outcome)
			}
		}
	}
	if after := total(); after != before {
		t.Fatalf("balances sum to %d, were %d", after, before)
	}
}

// A worker stopped after its commit and started again from its home
// reveals what it committed (the kept claim and salt open its commitment)
// and is paid like the others. The last worker to commit reveals right
// after its commit (its commit closed the commit phase); the first one is
// restarted.
func TestComputeJobWorkerRestartedBetweenCommitAndReveal(t *testing.T) {
	cache := t.TempDir()
	nodes, l := startMemNetworkWith(t, 4, func(i int, c *Config) {
		if i == 0 {
			return
		}
		offerCPU(t, c, cache)
		c.Compute.Interval = time.Hour // driven by hand
		c.Compute.PollOnly = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		t.Fatal(err)
	}
	id, err := nodes[0].SubmitJob(ctx, mod, []byte("hello"), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: 3, Quorum: 3, Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.advance(1)
	round := func(nd *Node) {
		t.Helper()
		if err := nd.work.Round(ctx); err != nil {
			t.Fatalf("worker %s: %v", nd.addr, err)
		}
		nd.work.Wait()
	}
	for _, nd := range nodes[1:] {
		round(nd) // each commits; the last commit opens the reveals, and the last worker reveals
	}
	v, _ := nodes[0].Job(ctx, id)
	if !v.RevealOpen {
		t.Fatalf("after three commits the job is %s", v.Phase)
	}
	revealed := 0
	for _, a := range v.Assignments {
		if a.Revealed {
			revealed++
			if a.Worker != nodes[3].addr {
				t.Fatalf("worker %s revealed before its next round", a.Worker)
			}
		}
	}
	if revealed != 1 {
		t.Fatalf("%d reveals after the closing commit, want the closing worker's", revealed)
	}
	old := nodes[1]
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := start(context.Background(), old.cfg, old.key, l.client(old.key), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = again.Close() })
	again.connectKnown(ctx)
	for _, nd := range []*Node{again, nodes[2], nodes[3]} {
		round(nd)
	}
	v = waitJob(t, nodes[0], id)
	if v.Phase != chain.JobAccepted {
		t.Fatalf("job %s", v.Phase)
	}
	for _, a := range v.Assignments {
		if a.Outcome != chain.OutcomePaid {
			t.Errorf("worker %s: %s", a.Worker, a.Outcome)
		}
	}
}

// creditSupply is the sum of the nodes' accounts' credits and escrowed
// credits, as nodes[0] reads them: constant while jobs only move credits.
func creditSupply(ctx context.Context, t *testing.T, nodes []*Node) uint64 {
	t.Helper()
	var s uint64
	for _, nd := range nodes {
		a, err := nodes[0].lc.Account(ctx, nd.addr)
		if err != nil {
			t.Fatal(err)
		}
		s += a.Credits + a.CreditsEscrowed
	}
	return s
}

// offerCPU makes c a worker's config: one CPU, the test binary as its
// compute child (TestMain serves compute.ChildEnv), compiled modules in
// cache, a wall-clock limit for cold compiles on a loaded machine.
func offerCPU(t testing.TB, c *Config, cache string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c.CPU = 1
	c.Compute.Runner.Command = []string{exe}
	c.Compute.Runner.Env = []string{compute.ChildEnv + "=1"}
	c.Compute.Runner.CacheDir = cache
	c.Compute.Runner.Timeout = 2 * time.Minute
}
