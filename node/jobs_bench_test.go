package node

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/compute"
	"github.com/coop-network/coop/node/worker"
	"github.com/coop-network/coop/storage"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// phaseTimes adds up where a worker's time goes (nanoseconds, over all
// workers and iterations).
type phaseTimes struct {
	keys, read, run, put, commit, reveal atomic.Int64
}

func since(c *atomic.Int64, t time.Time) { c.Add(int64(time.Since(t))) }

type timedKeys struct {
	worker.Keys
	p *phaseTimes
}

func (k timedKeys) JobKeys(ctx context.Context, j worker.Job) (worker.Capabilities, error) {
	defer since(&k.p.keys, time.Now())
	return k.Keys.JobKeys(ctx, j)
}

type timedFiles struct {
	worker.Files
	p *phaseTimes
}

func (f timedFiles) ReadFile(ctx context.Context, c storage.Capability, max int64) ([]byte, error) {
	defer since(&f.p.read, time.Now())
	return f.Files.ReadFile(ctx, c, max)
}

func (f timedFiles) PutFile(ctx context.Context, data []byte, name string) (storage.Capability, error) {
	defer since(&f.p.put, time.Now())
	return f.Files.PutFile(ctx, data, name)
}

type timedRunner struct {
	worker.Runner
	p *phaseTimes
}

func (r timedRunner) Run(ctx context.Context, j *compute.Job) (*compute.Report, error) {
	defer since(&r.p.run, time.Now())
	return r.Runner.Run(ctx, j)
}

type timedLedger struct {
	worker.Ledger
	p *phaseTimes
}

func (l timedLedger) Commit(ctx context.Context, job [32]byte, c worker.Claim, salt []byte) error {
	defer since(&l.p.commit, time.Now())
	return l.Ledger.Commit(ctx, job, c, salt)
}

func (l timedLedger) Reveal(ctx context.Context, job [32]byte, c worker.Claim, salt []byte, out worker.Output) error {
	defer since(&l.p.reveal, time.Now())
	return l.Ledger.Reveal(ctx, job, c, salt, out)
}

// BenchmarkJobOnMemoryNetwork: a small job (echo of 5 bytes) from submit
// to accepted on a memory network (real libp2p hosts, exchange, block
// stores and sandboxes; the real chain.App, whose blocks cost no time),
// against running it locally; with r = 1 (q = 1) and r = 3 (q = 2). The
// workers are driven by hand, all of a round's in parallel, so no polling
// interval is measured. Metrics: ms of each step of the job (submit:
// storing module and input and the SubmitJob tx; assign: the block that
// draws the workers; work: a round of the workers, from reading their
// assignments to their commits; reveal: their reveals), ms per worker of
// each part of work (keys from the submitter's node, reading the files,
// the sandbox run, storing the output, the commit tx). Blocks cost no time
// here (each tx is its own block): docs/compute.md counts the block
// intervals a real ledger adds on the critical path.
func BenchmarkJobOnMemoryNetwork(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	mod, err := wasmer.Wat2Wasm(echoWat)
	if err != nil {
		b.Fatal(err)
	}
	cache := b.TempDir()
	rc := compute.DefaultConfig()
	rc.Command, rc.Env, rc.CacheDir = []string{exe}, []string{compute.ChildEnv + "=1"}, cache
	spec := (&worker.Job{FuelLimit: 300, MemoryLimit: 1 << 16, Replicas: 1}).Spec(mod, []byte("hello"))
	for _, warm := range []int{0, 1} {
		b.Run(fmt.Sprintf("local/warm=%d", warm), func(b *testing.B) {
			c := rc
			c.WarmChildren = warm
			r, err := compute.NewRunner(c)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			job := &compute.Job{Spec: spec, Module: mod, Input: []byte("hello")}
			if _, err := r.Run(context.Background(), job); err != nil { // compiles into the cache
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := r.Run(context.Background(), job); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, rq := range [][2]uint32{{1, 1}, {3, 2}} {
		b.Run(fmt.Sprintf("network/r=%d", rq[0]), func(b *testing.B) {
			benchJobNetwork(b, exe, cache, mod, rq[0], rq[1], 1)
		})
	}
	b.Run(fmt.Sprintf("network/r=3/batch=%d", jobBatch), func(b *testing.B) {
		benchJobNetwork(b, exe, cache, mod, 3, 2, jobBatch)
	})
}

// jobBatch is how many jobs the batch benchmark submits at once (jobs
// accepted per minute on the 4 nodes).
const jobBatch = 6

// benchJobNetwork runs b.N times a batch of jobs (r workers, quorum q)
// from submit to accepted; a batch of one reports where the time goes, a
// larger one jobs accepted per minute.
func benchJobNetwork(b *testing.B, exe, cache string, mod []byte, r, q uint32, batch int) {
	nodes, l := startMemNetworkGenesis(b, 4, func(g *chain.GenesisState) {
		g.Params.RepairAfterMissed = 1 << 20
		for i := range g.Accounts {
			g.Accounts[i].Credits = 1 << 40
		}
	}, func(i int, c *Config) {
		if i == 0 {
			return
		}
		offerCPU(b, c, cache)
		c.Compute.Interval = time.Hour
		c.Compute.PollOnly = true // the benchmark's own workers run the rounds
	})
	var p phaseTimes
	byAddr := map[chain.Address]*Node{}
	for _, nd := range nodes[1:] {
		jl, err := nd.jobLedger()
		if err != nil {
			b.Fatal(err)
		}
		w, err := worker.New(nd.pub, worker.Deps{
			Ledger: timedLedger{workerLedger{n: nd, jl: jl}, &p},
			Keys:   timedKeys{workerKeys{x: nd.x, key: nd.key, peer: nd.nodePeer}, &p},
			Files:  timedFiles{workerFiles{n: nd}, &p},
			Runner: timedRunner{nd.runner, &p},
			State:  nd.workState,
		}, worker.Config{CPU: 1, Interval: time.Hour, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		byAddr[nd.addr] = &Node{work: w} // only its worker is used below
	}
	ctx := context.Background()
	// rounds runs a Round of each open worker of v, in parallel; errors
	// fail a single job's benchmark and are logged in a batch (a worker's
	// transient error is retried by its next round there).
	rounds := func(v chain.JobView) {
		var wg sync.WaitGroup
		for _, a := range v.Assignments {
			if a.Outcome != "" {
				continue
			}
			w := byAddr[a.Worker].work
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := w.Round(ctx); err != nil && batch > 1 {
					b.Logf("worker round: %v", err)
				} else if err != nil {
					b.Error(err)
				}
				w.Wait()
			}()
		}
		wg.Wait()
	}
	if batch > 1 {
		b.ResetTimer()
		for i := range b.N {
			ids := make([]chain.Hash, batch)
			for k := range ids {
				id, err := nodes[0].SubmitJob(ctx, mod, fmt.Appendf(nil, "hello %d %d", i, k), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: r, Quorum: q, Price: 1})
				if err != nil {
					b.Fatal(err)
				}
				ids[k] = id
			}
			l.advance(1)
			all := chain.JobView{}
			for _, nd := range nodes[1:] {
				all.Assignments = append(all.Assignments, chain.Assignment{Worker: nd.addr})
			}
			for n, done := 0, 0; done < batch; n++ {
				if n == 20*batch {
					b.Fatalf("%d of %d jobs accepted after %d rounds", done, batch, n)
				}
				rounds(all) // every worker: runs (one at a time: CPU 1), commits, reveals
				done = 0
				for _, id := range ids {
					v, err := nodes[0].Job(ctx, id)
					if err != nil {
						b.Fatal(err)
					}
					if v.Phase == chain.JobAccepted {
						done++
					} else if v.ClosedHeight != 0 {
						b.Fatalf("job %s", v.Phase)
					}
				}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Minutes(), "jobs/min")
		return
	}
	var submit, assign, work, reveal time.Duration
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		id, err := nodes[0].SubmitJob(ctx, mod, fmt.Appendf(nil, "hello %d", i), JobOptions{Fuel: 300, Memory: 1 << 16, Replicas: r, Quorum: q, Price: 1})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		l.advance(1)
		v, err := nodes[0].Job(ctx, id)
		if err != nil || len(v.Assignments) != int(r) {
			b.Fatalf("%d assignments: %v", len(v.Assignments), err)
		}
		t2 := time.Now()
		rounds(v) // run and commit
		t3 := time.Now()
		rounds(v) // reveal
		t4 := time.Now()
		v, err = nodes[0].Job(ctx, id)
		if err != nil || v.Phase != chain.JobAccepted {
			b.Fatalf("job %s: %v", v.Phase, err)
		}
		submit, assign, work, reveal = submit+t1.Sub(t0), assign+t2.Sub(t1), work+t3.Sub(t2), reveal+t4.Sub(t3)
	}
	b.StopTimer()
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / n }
	per := func(c *atomic.Int64) float64 { return float64(c.Load()) / 1e6 / n / float64(r) }
	b.ReportMetric(ms(submit), "submit-ms")
	b.ReportMetric(ms(assign), "assign-ms")
	b.ReportMetric(ms(work), "work-ms")
	b.ReportMetric(ms(reveal), "reveal-ms")
	b.ReportMetric(per(&p.keys), "w-keys-ms")
	b.ReportMetric(per(&p.read), "w-read-ms")
	b.ReportMetric(per(&p.run), "w-run-ms")
	b.ReportMetric(per(&p.put), "w-put-ms")
	b.ReportMetric(per(&p.commit), "w-commit-ms")
}
