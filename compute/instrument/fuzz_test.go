package instrument_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/compute/instrument"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/wasmerio/wasmer-go/wasmer"
)

// seedWAT are small modules exporting f: [] -> [i32] that exercise every
// rewrite: loops, branches, calls, call_indirect, grow, bulk memory,
// floats and NaN bits.
var seedWAT = []string{
	`(module (func (export "f") (result i32) (local i32 i32)
	  (loop $l (local.set 1 (i32.add (local.get 1) (local.get 0)))
	    (local.set 0 (i32.add (local.get 0) (i32.const 1)))
	    (br_if $l (i32.lt_u (local.get 0) (i32.const 1000))))
	  (block $a (block $b (block $c (br_table $a $b $c (i32.rem_u (local.get 1) (i32.const 3))))
	    (local.set 1 (i32.add (local.get 1) (i32.const 7))))
	    (if (i32.eqz (local.get 0)) (then (local.set 1 (i32.const 0))) (else (local.set 1 (i32.sub (local.get 1) (i32.const 1))))))
	  (local.get 1)))`,
	`(module (memory 1 4)
	  (func (export "f") (result i32)
	    (f32.store (i32.const 0) (f32.div (f32.const 0) (f32.const 0)))
	    (f64.store (i32.const 8) (f64.sqrt (f64.const -1)))
	    (drop (memory.grow (i32.const 1)))
	    (memory.fill (i32.const 100) (i32.const 7) (i32.const 1000))
	    (memory.copy (i32.const 2000) (i32.const 100) (i32.const 500))
	    (i32.add (i32.add (i32.load (i32.const 0)) (i32.load (i32.const 12)))
	      (i32.add (i32.load8_u (i32.const 2499)) (memory.size)))))`,
	`(module
	  (func $fib (param i32) (result i32)
	    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2)) (then (local.get 0))
	      (else (i32.add (call $fib (i32.sub (local.get 0) (i32.const 1))) (call $fib (i32.sub (local.get 0) (i32.const 2)))))))
	  (func (export "f") (result i32) (call $fib (i32.const 15))))`,
	`(module (type $t (func (param i32) (result i32)))
	  (table 2 funcref) (elem (i32.const 0) $dbl $inc)
	  (func $dbl (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
	  (func $inc (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
	  (global $g (mut i32) (i32.const 5))
	  (func (export "f") (result i32)
	    (global.set $g (call_indirect (type $t) (global.get $g) (i32.const 0)))
	    (select (call_indirect (type $t) (global.get $g) (i32.const 1)) (i32.const 0) (i32.const 1))))`,
	`(module
	  (func (export "f") (result i32)
	    (i32.xor (i32.reinterpret_f32 (f32.copysign (f32.const 1) (f32.div (f32.const 0) (f32.const 0))))
	      (i32.wrap_i64 (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0)))))))`,
	`(module (func (export "f") (result i32) (loop br 0) (i32.const 1)))`,
}

// seeds reads the checked-in corpus: seedWAT compiled with wat2wasm
// (TestSeedCorpusMatchesWAT keeps the two in step).
func seeds(tb testing.TB) [][]byte {
	var out [][]byte
	for i := range seedWAT {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzInstrument", fmt.Sprintf("seed-%d", i)))
		if err != nil {
			tb.Fatal(err)
		}
		var v []byte
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(b), "go test fuzz v1\n[]byte("), "%q", &v); err != nil {
			tb.Fatalf("seed %d: %v", i, err)
		}
		out = append(out, v)
	}
	return out
}

func fuzzConfig() instrument.Config {
	cfg := instrument.DefaultConfig()
	cfg.MaxMemoryPages = 16
	return cfg
}

// callF runs export f of a module on wazero's interpreter; fuel < 0 means
// the module is not instrumented. It reports the result, whether it trapped
// and whether it ran out of fuel or time.
func callF(t *testing.T, wasm []byte, fuel int64) (res uint64, trapped, exhausted bool, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The same memory cap as the instrumented module, so grow fails alike.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCloseOnContextDone(true).WithMemoryLimitPages(16))
	defer rt.Close(context.Background())
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return 0, false, false, false
	}
	m, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		return 0, true, ctx.Err() != nil, true
	}
	var g api.MutableGlobal
	if fuel >= 0 {
		g = m.ExportedGlobal(instrument.FuelExport).(api.MutableGlobal)
		g.Set(uint64(fuel))
		if s := m.ExportedFunction(instrument.StartExport); s != nil {
			if _, err := s.Call(ctx); err != nil {
				return 0, true, int64(g.Get()) < 0 || ctx.Err() != nil, true
			}
		}
	}
	f := m.ExportedFunction("f")
	if f == nil || len(f.Definition().ParamTypes()) != 0 || len(f.Definition().ResultTypes()) != 1 {
		return 0, false, false, false
	}
	r, err := f.Call(ctx)
	if err != nil {
		return 0, true, (g != nil && int64(g.Get()) < 0) || ctx.Err() != nil, true
	}
	return r[0], false, false, true
}

// FuzzInstrument: Instrument never panics; its output is deterministic;
// for a module the runtime accepts, the output is either rejected or
// valid, and behaves like the input unless it runs out of fuel.
func FuzzInstrument(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzInstrument (loaded by the fuzzing engine).
	f.Fuzz(func(t *testing.T, wasm []byte) { _ = checkInstrument(t, wasm, true) })
}

// checkInstrument is the property behind FuzzInstrument; with run it also
// executes both modules and compares what f returns.
func checkInstrument(t *testing.T, wasm []byte, run bool) (compared bool) {
	{
		cfg := fuzzConfig()
		m, err := instrument.Instrument(wasm, cfg)
		if err != nil {
			if !errors.Is(err, instrument.ErrMalformed) && !errors.Is(err, instrument.ErrUnsupported) &&
				!errors.Is(err, instrument.ErrLimit) && !errors.Is(err, instrument.ErrImport) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		again, err := instrument.Instrument(wasm, cfg)
		if err != nil || !bytes.Equal(again.Wasm, m.Wasm) {
			t.Fatalf("instrumenting twice differs (err %v)", err)
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
		defer rt.Close(ctx)
		// wazero sizes an allocation by an unchecked count of the name
		// section (seconds and gigabytes for a 23-byte input); the
		// instrumenter drops custom sections, so compare without them.
		wasm = withoutCustomSections(wasm)
		if _, err := rt.CompileModule(ctx, wasm); err != nil {
			return // invalid input: the output only has to be rejected by compilation, which we cannot require of a non-validating rewriter
		}
		if _, err := rt.CompileModule(ctx, m.Wasm); err != nil {
			t.Fatalf("valid input, invalid output: %v", err)
		}
		if !run {
			return
		}
		want, wantTrap, wantTimeout, ok := callF(t, wasm, -1)
		if !ok || wantTimeout {
			return
		}
		got, gotTrap, outOfFuel, ok := callF(t, m.Wasm, 50_000_000)
		if !ok {
			t.Fatalf("instrumented module lost f")
		}
		if outOfFuel {
			return
		}
		if gotTrap != wantTrap || (!gotTrap && got != want && m.NaNSites == 0) {
			t.Fatalf("behaviour changed: original %d (trap %v), instrumented %d (trap %v)", want, wantTrap, got, gotTrap)
		}
		return true
	}
}

// TestInstrumentKeepsBehaviour runs seeds and thousands of mutants of them
// before and after instrumentation and compares the results.
func TestInstrumentKeepsBehaviour(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	ss := seeds(t)
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for i, s := range ss {
		if !checkInstrument(t, s, true) && i != len(ss)-1 { // the last seed loops forever
			t.Fatalf("seed %d was not compared", i)
		}
	}
	compared := 0
	for i := 0; i < n; i++ {
		b := append([]byte(nil), ss[rng.Intn(len(ss))]...)
		for k := 0; k < 1+rng.Intn(2); k++ {
			switch rng.Intn(3) {
			case 0:
				b[rng.Intn(len(b))] = byte(rng.Intn(256))
			case 1:
				if len(b) > 9 {
					b = b[:len(b)-1-rng.Intn(3)]
				}
			case 2:
				p := rng.Intn(len(b))
				b = append(b[:p], append([]byte{byte(rng.Intn(256))}, b[p:]...)...)
			}
		}
		if checkInstrument(t, b, true) {
			compared++
		}
	}
	t.Logf("%d of %d mutants were valid, ran and behaved the same", compared, n)
	if compared < n/100 {
		t.Fatalf("only %d mutants compared", compared)
	}
}

// withoutCustomSections returns wasm without its custom sections, or wasm
// itself if its section framing is broken.
func withoutCustomSections(wasm []byte) []byte {
	if len(wasm) < 8 {
		return wasm
	}
	out := append([]byte(nil), wasm[:8]...)
	for p := 8; p < len(wasm); {
		id := wasm[p]
		size, n := uint64(0), 0
		for shift := 0; ; shift += 7 {
			if p+1+n >= len(wasm) || shift > 28 {
				return wasm
			}
			c := wasm[p+1+n]
			n++
			size |= uint64(c&0x7f) << shift
			if c&0x80 == 0 {
				break
			}
		}
		end := uint64(p+1+n) + size
		if end > uint64(len(wasm)) {
			return wasm
		}
		if id != 0 {
			out = append(out, wasm[p:end]...)
		}
		p = int(end)
	}
	return out
}

// TestSeedCorpusMatchesWAT: testdata/fuzz/FuzzInstrument/seed-N is seedWAT[N]
// assembled by wasmer's wat2wasm.
func TestSeedCorpusMatchesWAT(t *testing.T) {
	for i, b := range seeds(t) {
		want, err := wasmer.Wat2Wasm(seedWAT[i])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, want) {
			t.Errorf("seed-%d differs from seedWAT[%d]; regenerate it", i, i)
		}
	}
}
