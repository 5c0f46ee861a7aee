package compute

import (
	"context"
	"testing"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/coop-network/coop/compute/internal/wasip1"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wazeroFuel is the fuel global of a wazero instance.
type wazeroFuel struct{ g api.MutableGlobal }

func (f wazeroFuel) get() int64  { return int64(f.g.Get()) }
func (f wazeroFuel) set(v int64) { f.g.Set(uint64(v)) }

// runOracle runs a job in-process on wazero's interpreter with the same
// instrumenter and the same host functions as the wasmer engine: the
// independent runtime the determinism tests compare against. The
// interpreter compiles Go-sized modules quickly but stops at 2000 nested
// calls; runOracleCompiled uses wazero's compiler, whose stack is deep
// enough for the instrumented limit.
func runOracle(t testing.TB, spec *JobSpec, wasm, input []byte) *Result {
	t.Helper()
	return oracle(t, wazero.NewRuntimeConfigInterpreter(), spec, wasm, input)
}

func runOracleCompiled(t testing.TB, spec *JobSpec, wasm, input []byte) *Result {
	t.Helper()
	return oracle(t, wazero.NewRuntimeConfigCompiler(), spec, wasm, input)
}

func oracle(t testing.TB, rc wazero.RuntimeConfig, spec *JobSpec, wasm, input []byte) *Result {
	t.Helper()
	ctx := context.Background()
	jobID := spec.ID()
	cfg := instrumentConfig(spec)
	im, err := instrument.Instrument(wasm, cfg)
	if err != nil {
		st := &execStats{}
		return rejected(jobID, rejectKind(err), err.Error(), st)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, rc)
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, im.Wasm)
	if err != nil {
		return rejected(jobID, RejectInvalid, err.Error(), &execStats{})
	}
	h := newHost(spec, jobID, input)
	var guest api.Module
	h.mem = func() []byte {
		m := guest.Memory()
		if m == nil {
			return nil
		}
		b, _ := m.Read(0, m.Size())
		return b
	}
	hb := rt.NewHostModuleBuilder(wasip1.Module)
	for _, in := range im.Imports {
		name := in.Name
		ft := wasip1.Type(wasip1.Signatures[name])
		conv := func(vs []instrument.ValType) []api.ValueType {
			out := make([]api.ValueType, len(vs))
			for i, v := range vs {
				out[i] = api.ValueTypeI32
				if v == instrument.I64 {
					out[i] = api.ValueTypeI64
				}
			}
			return out
		}
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			args := make([]uint64, len(ft.Params))
			for i, p := range ft.Params {
				args[i] = stack[i]
				if p == instrument.I32 {
					args[i] = uint64(uint32(stack[i]))
				}
			}
			r := h.call(name, args)
			if len(ft.Results) > 0 {
				stack[0] = uint64(uint32(r))
			}
		}), conv(ft.Params), conv(ft.Results)).Export(name)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	guest, err = rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions().WithName("job"))
	if err != nil {
		return rejected(jobID, RejectInvalid, err.Error(), &execStats{})
	}
	fg := guest.ExportedGlobal(instrument.FuelExport).(api.MutableGlobal)
	h.fuel = wazeroFuel{fg}
	h.fuel.set(int64(spec.FuelLimit))
	start := guest.ExportedFunction("_start")
	if start == nil {
		return rejected(jobID, RejectNoEntry, "no _start", &execStats{})
	}
	var callErr error
	if s := guest.ExportedFunction(instrument.StartExport); s != nil {
		_, callErr = s.Call(ctx)
	}
	if callErr == nil && !h.exited {
		_, callErr = start.Call(ctx)
	}
	depth := uint32(guest.ExportedGlobal(instrument.DepthExport).Get())
	return h.result(jobID, callErr, depth, cfg.MaxStackWeight)
}
