package compute

import (
	"fmt"
	"time"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/coop-network/coop/compute/internal/wasip1"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// instrumentConfig is the instrumenter configuration of a job.
func instrumentConfig(spec *JobSpec) instrument.Config {
	cfg := instrument.DefaultConfig()
	cfg.MaxMemoryPages = uint32(spec.MemoryLimit / PageSize)
	cfg.Imports = wasip1.Imports()
	return cfg
}

// execStats reports how a run was prepared, for the CLI and benchmarks;
// none of it is part of the Result.
type execStats struct {
	CacheHit   bool          `cbor:"cache_hit"`
	Preloaded  bool          `cbor:"preloaded"`  // loaded before the job came
	Prepare    time.Duration `cbor:"prepare_ns"` // instrument+compile or deserialize
	Execute    time.Duration `cbor:"execute_ns"`
	Detail     string        `cbor:"detail"` // why a module was rejected
	Instrument time.Duration `cbor:"instrument_ns"`
}

// engine compiles and runs instrumented modules with wasmer. It is used by
// the child process; it is not safe to run untrusted jobs with it in a
// process that matters.
type engine struct {
	store *wasmer.Store
	cache diskCache
	// pre is a module loaded from the cache and instantiated before the
	// job came (a warm child), nil if none.
	pre *prepared
	// keep leaves instances and modules to the process exit instead of
	// closing them before the response (the child: a job's last
	// milliseconds are not spent freeing memory).
	keep bool
}

// kept holds what an engine with keep set did not close: reachable until
// the process exits, so no finalizer frees it (wasmer-go's finalizers run
// in any order, a module's before its instance's).
var kept []any

// prepared is an instance created before its job: instantiation runs no
// guest code (the start function is deferred to an export, called after
// the fuel is set), so it is the instance the job would get.
type prepared struct {
	key  string
	mod  *wasmer.Module
	inst *wasmer.Instance
	h    *host // bound to the imports; filled in when the job comes
}

// preload loads the compiled module of module under memory limit mem from
// the cache, if it is there, and instantiates it for a job that may come.
// Anything unusual (not cached, an import the job would be rejected for, a
// failed instantiation) leaves nothing prepared: the job then takes the
// ordinary path, which classifies it.
func (e *engine) preload(module Hash, mem uint64) {
	key := cacheKey(module, instrumentConfig(&JobSpec{MemoryLimit: mem}))
	b := e.cache.load(key)
	if b == nil {
		return
	}
	m, err := wasmer.DeserializeModule(e.store, b)
	if err != nil {
		return
	}
	h := &host{}
	inst, rej := e.instantiate(m, h, Hash{}, &execStats{})
	if rej != nil || inst == nil {
		m.Close()
		return
	}
	e.pre = &prepared{key: key, mod: m, inst: inst, h: h}
}

func newEngine(cacheDir string) *engine {
	return &engine{store: wasmer.NewStore(wasmer.NewEngine()), cache: diskCache{dir: cacheDir}}
}

func rejected(jobID Hash, kind TrapKind, detail string, st *execStats) *Result {
	st.Detail = detail
	return &Result{Job: jobID, CostTable: instrument.CostTableVersion, Status: StatusRejected,
		Trap: kind, Output: []byte{}, Stderr: []byte{}, OutputHash: Sum(nil)}
}

// compile returns the compiled instrumented module, from the cache when
// possible, or a rejection Result.
func (e *engine) compile(spec *JobSpec, jobID Hash, wasm []byte, st *execStats) (*wasmer.Module, *Result) {
	t0 := time.Now()
	defer func() { st.Prepare = time.Since(t0) }()
	cfg := instrumentConfig(spec)
	key := cacheKey(spec.Module, cfg)
	if b := e.cache.load(key); b != nil {
		if m, err := wasmer.DeserializeModule(e.store, b); err == nil {
			st.CacheHit = true
			return m, nil
		}
	}
	im, err := instrument.Instrument(wasm, cfg)
	st.Instrument = time.Since(t0)
	if err != nil {
		return nil, rejected(jobID, rejectKind(err), err.Error(), st)
	}
	m, err := wasmer.NewModule(e.store, im.Wasm)
	if err != nil {
		return nil, rejected(jobID, RejectInvalid, err.Error(), st)
	}
	if b, err := m.Serialize(); err == nil {
		_ = e.cache.store(key, b) // a cache that cannot be written only costs time
	}
	return m, nil
}

// wasmerFuel is the fuel global of a wasmer instance.
type wasmerFuel struct{ g *wasmer.Global }

func (f wasmerFuel) get() int64 {
	v, err := f.g.Get()
	if err != nil {
		return -1
	}
	return v.(int64)
}

func (f wasmerFuel) set(v int64) { _ = f.g.Set(v, wasmer.I64) }

// instantiate binds the imports of mod to h and instantiates it, or
// returns a rejection.
func (e *engine) instantiate(mod *wasmer.Module, h *host, jobID Hash, st *execStats) (*wasmer.Instance, *Result) {
	imports := wasmer.NewImportObject()
	ns := map[string]wasmer.IntoExtern{}
	for _, it := range mod.Imports() {
		name := it.Name()
		sig, ok := wasip1.Signatures[name]
		if it.Module() != wasip1.Module || !ok {
			return nil, rejected(jobID, RejectImport, it.Module()+"."+name, st)
		}
		ns[name] = wasmerHostFunc(e.store, h, name, wasip1.Type(sig))
	}
	imports.Register(wasip1.Module, ns)
	inst, err := wasmer.NewInstance(mod, imports)
	if err != nil {
		// Instantiation traps (data segment out of bounds) before any fuel.
		return nil, rejected(jobID, RejectInvalid, err.Error(), st)
	}
	return inst, nil
}

// run executes a job: spec and hashes are checked by the caller.
func (e *engine) run(spec *JobSpec, wasm, input []byte) (*Result, *execStats, error) {
	st := &execStats{}
	jobID := spec.ID()
	var (
		mod  *wasmer.Module
		inst *wasmer.Instance
		h    *host
	)
	if pre := e.pre; pre != nil && pre.key == cacheKey(spec.Module, instrumentConfig(spec)) {
		e.pre = nil
		mod, inst, h = pre.mod, pre.inst, pre.h
		*h = *newHost(spec, jobID, input)
		st.CacheHit, st.Preloaded = true, true
	} else {
		var rej *Result
		if mod, rej = e.compile(spec, jobID, wasm, st); rej != nil {
			return rej, st, nil
		}
		h = newHost(spec, jobID, input)
	}
	if e.keep {
		kept = append(kept, mod)
	} else {
		defer mod.Close()
	}
	h.mem = func() []byte { return nil }

	t0 := time.Now()
	defer func() { st.Execute = time.Since(t0) }()
	if inst == nil {
		var rej *Result
		if inst, rej = e.instantiate(mod, h, jobID, st); rej != nil {
			return rej, st, nil
		}
	}
	if e.keep {
		kept = append(kept, inst)
	} else {
		defer inst.Close()
	}
	fg, err := inst.Exports.GetGlobal(instrument.FuelExport)
	if err != nil {
		return nil, st, fmt.Errorf("compute: instrumented module lacks %s: %w", instrument.FuelExport, err)
	}
	dg, err := inst.Exports.GetGlobal(instrument.DepthExport)
	if err != nil {
		return nil, st, fmt.Errorf("compute: instrumented module lacks %s: %w", instrument.DepthExport, err)
	}
	h.fuel = wasmerFuel{fg}
	h.fuel.set(int64(spec.FuelLimit))
	if mem, err := inst.Exports.GetMemory("memory"); err == nil {
		h.mem = mem.Data
	}
	start, err := inst.Exports.GetRawFunction("_start")
	if err != nil || start.ParameterArity() != 0 || start.ResultArity() != 0 {
		return rejected(jobID, RejectNoEntry, "no _start function of type [] -> []", st), st, nil
	}
	var callErr error
	if s, err := inst.Exports.GetRawFunction(instrument.StartExport); err == nil {
		_, callErr = s.Call()
	}
	if callErr == nil && !h.exited {
		_, callErr = start.Call()
	}
	var depth uint32
	if v, err := dg.Get(); err == nil {
		depth = uint32(v.(int32))
	}
	cfg := instrumentConfig(spec)
	return h.result(jobID, callErr, depth, cfg.MaxStackWeight), st, nil
}

// wasmerHostFunc binds the WASI function name of host h as a wasmer import
// of type ft. It never returns an error to wasmer (see host.call).
func wasmerHostFunc(store *wasmer.Store, h *host, name string, ft instrument.FuncType) *wasmer.Function {
	return wasmer.NewFunction(store, wasmerFuncType(ft), func(args []wasmer.Value) ([]wasmer.Value, error) {
		raw := make([]uint64, len(args))
		for i, a := range args {
			if a.Kind() == wasmer.I64 {
				raw[i] = uint64(a.I64())
			} else {
				raw[i] = uint64(uint32(a.I32()))
			}
		}
		r := h.call(name, raw)
		if len(ft.Results) == 0 {
			return []wasmer.Value{}, nil
		}
		return []wasmer.Value{wasmer.NewI32(int32(uint32(r)))}, nil
	})
}

func wasmerFuncType(t instrument.FuncType) *wasmer.FunctionType {
	conv := func(vs []instrument.ValType) []*wasmer.ValueType {
		out := make([]*wasmer.ValueType, len(vs))
		for i, v := range vs {
			if v == instrument.I64 {
				out[i] = wasmer.NewValueType(wasmer.I64)
			} else {
				out[i] = wasmer.NewValueType(wasmer.I32)
			}
		}
		return out
	}
	return wasmer.NewFunctionType(conv(t.Params), conv(t.Results))
}
