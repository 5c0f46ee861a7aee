package compute

import (
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/coop-network/coop/compute/internal/wasip1"
	"github.com/coop-network/coop/compute/internal/wasmtest"
	"github.com/coop-network/coop/examples/jobs/primes/sieve"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// counter is a fuel counter for modules without a fuel global.
type counter struct{ v int64 }

func (c *counter) get() int64  { return c.v }
func (c *counter) set(v int64) { c.v = v }

// inProcess compiles wasm once and returns a function that runs it with
// input in a fresh instance, in this process (trusted benchmark code only),
// and returns its Result and the time from calling _start to the job's
// proc_exit (or to _start's return). Past proc_exit an uninstrumented
// module cannot be stopped (no fuel checks, and wasmer-go host functions
// must not trap): Go's runtime goes on for hundreds of milliseconds until
// it traps, which is no part of the job.
func inProcess(b *testing.B, wasm []byte, spec *JobSpec) func(input []byte) (*Result, time.Duration) {
	b.Helper()
	store := wasmer.NewStore(wasmer.NewEngine())
	mod, err := wasmer.NewModule(store, wasm)
	if err != nil {
		b.Fatal(err)
	}
	return func(input []byte) (*Result, time.Duration) {
		h := newHost(spec, spec.ID(), input)
		h.fuel = &counter{v: int64(spec.FuelLimit)}
		imports := wasmer.NewImportObject()
		ns := map[string]wasmer.IntoExtern{}
		var exitAt time.Time
		for _, it := range mod.Imports() {
			name := it.Name()
			ft := wasip1.Type(wasip1.Signatures[name])
			ns[name] = wasmerHostFunc(store, h, name, ft)
			if name == "proc_exit" {
				ns[name] = wasmer.NewFunction(store, wasmerFuncType(ft), func(args []wasmer.Value) ([]wasmer.Value, error) {
					if exitAt.IsZero() {
						exitAt = time.Now()
					}
					h.call(name, []uint64{uint64(uint32(args[0].I32()))})
					return []wasmer.Value{}, nil
				})
			}
		}
		imports.Register(wasip1.Module, ns)
		inst, err := wasmer.NewInstance(mod, imports)
		if err != nil {
			b.Fatal(err)
		}
		defer inst.Close()
		if g, err := inst.Exports.GetGlobal(instrument.FuelExport); err == nil {
			h.fuel = wasmerFuel{g}
			h.fuel.set(int64(spec.FuelLimit))
		}
		mem, err := inst.Exports.GetMemory("memory")
		if err != nil {
			b.Fatal(err)
		}
		h.mem = mem.Data
		start, err := inst.Exports.GetRawFunction("_start")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		_, callErr := start.Call()
		if exitAt.IsZero() {
			exitAt = time.Now()
		}
		return h.result(spec.ID(), callErr, 0, 1), exitAt.Sub(t0)
	}
}

// capMemory returns wasm with the maximum of its (defined) memory set to
// pages, the only change the instrumenter makes that alters how wasmer
// compiles memory accesses: a module without a maximum gets bounds-checked
// ("dynamic") memory, one with a small maximum guard-page ("static")
// memory, which is faster.
func capMemory(b *testing.B, wasm []byte, pages uint32) []byte {
	b.Helper()
	uleb := func(p []byte) (uint64, int) {
		var v uint64
		for i := 0; i < len(p) && i < 10; i++ {
			v |= uint64(p[i]&0x7f) << (7 * i)
			if p[i]&0x80 == 0 {
				return v, i + 1
			}
		}
		b.Fatal("bad LEB128")
		return 0, 0
	}
	out := append([]byte(nil), wasm[:8]...)
	for p := wasm[8:]; len(p) > 0; {
		id := p[0]
		size, n := uleb(p[1:])
		body := p[1+n : 1+n+int(size)]
		p = p[1+n+int(size):]
		if id == 5 {
			count, n := uleb(body)
			if count != 1 {
				b.Fatalf("%d memories", count)
			}
			lim := body[n:]
			flag := lim[0]
			min, m := uleb(lim[1:])
			if flag > 1 {
				b.Fatalf("memory limits flag %d", flag)
			}
			nb := []byte{1, 1}
			nb = binary.AppendUvarint(nb, min)
			body = binary.AppendUvarint(nb, uint64(pages))
			_ = m
		}
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	return out
}

// BenchmarkPrimes runs the CPU-heavy example (sieve to 10^7) natively,
// on wasmer uninstrumented, uninstrumented with the memory capped as the
// instrumenter caps it, and instrumented; wasm times run from _start to
// proc_exit (ms-to-exit; see inProcess). The instrumented variant then
// runs the three wasm variants interleaved, as many times each, and
// reports the ratios of their fastest runs: x-uninstrumented is the cost
// of the instrumentation
// (fuel, stack weight, NaN canonicalization; target ≤ 1.5),
// x-uninstrumented-capped the same against a module whose only change is
// the memory maximum.
func BenchmarkPrimes(b *testing.B) {
	const n = 10_000_000
	input := []byte(fmt.Sprint(n))
	wasm := wasmtest.Job(b, "primes")
	spec := testSpec(wasm, input)
	im, err := instrument.Instrument(wasm, instrumentConfig(&spec))
	if err != nil {
		b.Fatal(err)
	}
	want, _ := sieve.Count(n)
	check := func(r *Result) {
		if r.Status != StatusExited || r.ExitCode != 0 || len(r.Output) == 0 {
			b.Fatalf("job failed: %s", describe(r))
		}
	}
	native := func() {
		if c, _ := sieve.Count(n); c != want {
			b.Fatal("wrong count")
		}
	}
	timeIt := func(times int, f func()) time.Duration {
		t0 := time.Now()
		for range times {
			f()
		}
		return time.Since(t0)
	}
	// runIt runs a wasm variant times times and returns the total time to
	// exit and the fuel of the last run.
	runIt := func(times int, f func([]byte) (*Result, time.Duration)) (time.Duration, uint64) {
		var total time.Duration
		var fuel uint64
		for range times {
			r, d := f(input)
			check(r)
			total += d
			fuel = r.FuelUsed
		}
		return total, fuel
	}
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			native()
		}
	})
	plain := inProcess(b, wasm, &spec)
	capped := inProcess(b, capMemory(b, wasm, uint32(spec.MemoryLimit/PageSize)), &spec)
	metered := inProcess(b, im.Wasm, &spec)
	for _, v := range []struct {
		name string
		f    func([]byte) (*Result, time.Duration)
	}{{"wasmer-uninstrumented", plain}, {"wasmer-uninstrumented-capped", capped}} {
		b.Run(v.name, func(b *testing.B) {
			var total time.Duration
			runs := 0
			for b.Loop() {
				d, _ := runIt(1, v.f)
				total += d
				runs++
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(runs), "ms-to-exit")
		})
	}
	b.Run("wasmer-instrumented", func(b *testing.B) {
		var total time.Duration
		var fuel uint64
		runs := 0
		for b.Loop() {
			d, f := runIt(1, metered)
			total, fuel = total+d, f
			runs++
		}
		b.StopTimer()
		// The baselines, interleaved with the instrumented module on as
		// many runs. Ratios are of the fastest run of each (the least
		// disturbed by other load on a shared machine).
		var tPlain, tCapped, tMetered, tNative time.Duration
		fastest := func(m *time.Duration, d time.Duration) {
			if *m == 0 || d < *m {
				*m = d
			}
		}
		for range runs {
			d, _ := runIt(1, plain)
			fastest(&tPlain, d)
			d, _ = runIt(1, capped)
			fastest(&tCapped, d)
			d, _ = runIt(1, metered)
			fastest(&tMetered, d)
			fastest(&tNative, timeIt(1, native))
		}
		b.ReportMetric(float64(total.Microseconds())/1000/float64(runs), "ms-to-exit")
		b.ReportMetric(float64(tMetered.Microseconds())/1000, "fastest-ms")
		b.ReportMetric(float64(tMetered)/float64(tPlain), "x-uninstrumented")
		b.ReportMetric(float64(tMetered)/float64(tCapped), "x-uninstrumented-capped")
		b.ReportMetric(float64(tMetered)/float64(tNative), "x-native")
		b.ReportMetric(float64(fuel), "fuel/op")
	})
}

// BenchmarkInstrument measures the rewriter on the example jobs (Go
// modules of about 2.7 MB); ms/MB is the time per megabyte of input.
func BenchmarkInstrument(b *testing.B) {
	for _, name := range []string{"sha256", "primes"} {
		wasm := wasmtest.Job(b, name)
		spec := testSpec(wasm, nil)
		cfg := instrumentConfig(&spec)
		b.Run(fmt.Sprintf("%s/%.1fMB", name, float64(len(wasm))/1e6), func(b *testing.B) {
			b.SetBytes(int64(len(wasm)))
			t0 := time.Now()
			runs := 0
			for b.Loop() {
				if _, err := instrument.Instrument(wasm, cfg); err != nil {
					b.Fatal(err)
				}
				runs++
			}
			b.ReportMetric(float64(time.Since(t0).Milliseconds())/float64(runs)/(float64(len(wasm))/1e6), "ms/MB")
		})
	}
}

// spawnTrue is the baseline of start figures: starting and waiting for
// /bin/true.
func spawnTrue(b *testing.B) {
	if err := exec.Command("/bin/true").Run(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkStart runs jobs through the Runner: a small Go job (sha256 of
// 1 KiB) and a trivial one (proc_exit at once). cold compiles the module
// every time (no cache); warm starts a child per job that loads the
// compiled module from the cache; pool hands the job to a warm child that
// has loaded it already (Config.WarmChildren = 1; between jobs the timer
// stops until the replacement child is ready, as a node's pool refills
// between jobs). Each reports x-spawn, its time over starting /bin/true
// measured in the same run; warm reports x-cold.
func BenchmarkStart(b *testing.B) {
	sha := wasmtest.Job(b, "sha256")
	trivial, err := wasmer.Wat2Wasm(`(module ` + watPrelude + `(func (export "_start") (call $proc_exit (i32.const 0))))`)
	if err != nil {
		b.Fatal(err)
	}
	run := func(r *Runner, job *Job) *Report {
		rep, err := r.Run(context.Background(), job)
		if err != nil {
			b.Fatal(err)
		}
		return rep
	}
	// measure runs job on r b.N times (after pre, untimed), then /bin/true
	// as many times, and reports the figures.
	measure := func(b *testing.B, r *Runner, job *Job, pre func(), check func(*Report)) time.Duration {
		var total, prep, exe time.Duration
		runs := 0
		for b.Loop() {
			if pre != nil {
				b.StopTimer()
				pre()
				b.StartTimer()
			}
			t0 := time.Now()
			rep := run(r, job)
			total += time.Since(t0)
			check(rep)
			prep += rep.Prepare
			exe += rep.Execute
			runs++
		}
		b.StopTimer()
		t0 := time.Now()
		for range runs {
			spawnTrue(b)
		}
		spawn := time.Since(t0)
		perOp := total / time.Duration(runs)
		b.ReportMetric(float64(perOp.Microseconds())/1000, "ms/job")
		b.ReportMetric(float64(prep.Microseconds())/1000/float64(runs), "prepare-ms")
		b.ReportMetric(float64(exe.Microseconds())/1000/float64(runs), "execute-ms")
		b.ReportMetric(float64(spawn.Microseconds())/1000/float64(runs), "spawn-ms")
		b.ReportMetric(float64(total)/float64(spawn), "x-spawn")
		return perOp
	}
	for _, c := range []struct {
		name string
		wasm []byte
	}{{"sha256", sha}, {"trivial", trivial}} {
		job := &Job{Spec: testSpec(c.wasm, make([]byte, 1024)), Module: c.wasm}
		var coldPerOp time.Duration
		b.Run(c.name+"/cold", func(b *testing.B) {
			r := testRunner(b, func(c *Config) { c.CacheDir = "" })
			coldPerOp = measure(b, r, job, nil, func(*Report) {})
		})
		b.Run(c.name+"/warm", func(b *testing.B) {
			r := testRunner(b, func(c *Config) { c.CacheDir = b.TempDir() })
			if run(r, job).CacheHit {
				b.Fatal("fresh cache hit")
			}
			perOp := measure(b, r, job, nil, func(rep *Report) {
				if !rep.CacheHit {
					b.Fatal("cache miss")
				}
			})
			if coldPerOp > 0 {
				b.ReportMetric(float64(perOp)/float64(coldPerOp), "x-cold")
			}
		})
		b.Run(c.name+"/pool", func(b *testing.B) {
			r := testRunner(b, func(c *Config) { c.CacheDir = b.TempDir(); c.WarmChildren = 1 })
			pre := func() {
				if n, err := r.waitWarm(context.Background()); err != nil || n != 1 {
					b.Fatalf("warm children: %d, %v", n, err)
				}
			}
			pre()
			run(r, job) // compiles into the cache
			measure(b, r, job, pre, func(rep *Report) {
				if !rep.Warm || !rep.Preloaded {
					b.Fatalf("not from a warm, preloaded child: %+v", rep)
				}
			})
		})
	}
}

// BenchmarkChildOverhead is the cost of running a job in a child process:
// a trivial job (proc_exit at once) through the Runner with a warm cache,
// against the same job in process. overhead-ms is the difference per job.
func BenchmarkChildOverhead(b *testing.B) {
	wasm, err := wasmer.Wat2Wasm(`(module ` + watPrelude + `(func (export "_start") (call $proc_exit (i32.const 0))))`)
	if err != nil {
		b.Fatal(err)
	}
	job := &Job{Spec: testSpec(wasm, nil), Module: wasm}
	r := testRunner(b)
	if _, err := r.Run(context.Background(), job); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	runs := 0
	for b.Loop() {
		if _, err := r.Run(context.Background(), job); err != nil {
			b.Fatal(err)
		}
		runs++
	}
	child := time.Since(t0) / time.Duration(runs)
	b.StopTimer()
	e := newEngine(r.cfg.CacheDir)
	t1 := time.Now()
	for range runs {
		if _, _, err := e.run(&job.Spec, wasm, nil); err != nil {
			b.Fatal(err)
		}
	}
	inproc := time.Since(t1) / time.Duration(runs)
	b.ReportMetric(float64(child.Microseconds())/1000, "ms/job")
	b.ReportMetric(float64((child-inproc).Microseconds())/1000, "overhead-ms")
	b.ReportMetric(float64(child)/float64(inproc), "x-in-process")
}
