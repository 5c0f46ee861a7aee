package instrument_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/coop-network/coop/compute/internal/wasip1"
	"github.com/coop-network/coop/compute/internal/wasmtest"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// runWASI runs an instrumented command module under wazero's own WASI with
// the given fuel, returning stdout, the exit code and the fuel left.
func runWASI(t *testing.T, wasm []byte, input []byte, fuel int64) (stdout []byte, exit uint32, left int64, err error) {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatalf("instrumented module does not compile: %v", err)
	}
	var out bytes.Buffer
	mod, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().
		WithStdin(bytes.NewReader(input)).WithStdout(&out).WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	g := mod.ExportedGlobal(instrument.FuelExport).(api.MutableGlobal)
	g.Set(uint64(fuel))
	_, err = mod.ExportedFunction("_start").Call(ctx)
	if ee, ok := err.(*sys.ExitError); ok {
		exit = ee.ExitCode()
		err = nil
	}
	return out.Bytes(), exit, int64(g.Get()), err
}

func TestExampleJobsRunInstrumented(t *testing.T) {
	cfg := instrument.DefaultConfig()
	cfg.Imports = wasiImportsForTest()
	for _, name := range []string{"sha256", "wordfreq", "primes"} {
		wasm := wasmtest.Job(t, name)
		m, err := instrument.Instrument(wasm, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out, exit, left, err := runWASI(t, m.Wasm, []byte("1000\n"), 1<<40)
		if err != nil || exit != 0 {
			t.Fatalf("%s: exit %d err %v", name, exit, err)
		}
		t.Logf("%s: %d -> %d bytes, fuel used %d, output %q", name, len(wasm), len(m.Wasm), 1<<40-left, out)
	}
}

func wasiImportsForTest() map[instrument.ImportName]instrument.FuncType { return wasip1.Imports() }
