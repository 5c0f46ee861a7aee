package compute

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/coop-network/coop/compute/internal/wasmtest"
	"github.com/wasmerio/wasmer-go/wasmer"
)

const watPrelude = `
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
`

func wat(t *testing.T, src string) []byte {
	t.Helper()
	b, err := wasmer.Wat2Wasm(src)
	if err != nil {
		t.Fatalf("wat: %v", err)
	}
	return b
}

// module100kFuncs is a module with 100 000 empty functions.
func module100kFuncs() []byte {
	const n = 100_000
	var b []byte
	b = append(b, wasmHeaderForTest...)
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type section: [] -> []
	fn := binary.AppendUvarint(nil, n)
	for i := 0; i < n; i++ {
		fn = append(fn, 0)
	}
	b = append(b, 3)
	b = binary.AppendUvarint(b, uint64(len(fn)))
	b = append(b, fn...)
	code := binary.AppendUvarint(nil, n)
	for i := 0; i < n; i++ {
		code = append(code, 2, 0, 0x0b)
	}
	b = append(b, 10)
	b = binary.AppendUvarint(b, uint64(len(code)))
	return append(b, code...)
}

var wasmHeaderForTest = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

// sharedMemoryModule declares a shared memory (threads proposal).
func sharedMemoryModule() []byte {
	b := append([]byte(nil), wasmHeaderForTest...)
	return append(b, 5, 4, 1, 3, 1, 1) // memory section: shared, min 1, max 1
}

// atomicModule uses i32.atomic.load in _start.
func atomicModule() []byte {
	b := append([]byte(nil), wasmHeaderForTest...)
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type [] -> []
	b = append(b, 3, 2, 1, 0)          // one function
	b = append(b, 5, 3, 1, 0, 1)       // memory min 1
	b = append(b, 7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0)
	body := []byte{0, 0x41, 0, 0xfe, 0x10, 2, 0, 0x1a, 0x0b} // i32.const 0; i32.atomic.load; drop
	b = append(b, 10, byte(len(body)+2), 1, byte(len(body)))
	return append(b, body...)
}

// TestHostileModulesEndClassified: every hostile module ends with a
// classified Result (or, for the wall clock and a crashing child, a
// classified error) and the parent keeps running jobs afterwards.
func TestHostileModulesEndClassified(t *testing.T) {
	r := testRunner(t)
	sha := wasmtest.Job(t, "sha256")
	cases := []struct {
		name   string
		module []byte
		fuel   uint64
		status Status
		trap   TrapKind
		exit   uint32
	}{
		{"an infinite loop runs out of fuel", wat(t, `(module `+watPrelude+`
			(func (export "_start") (loop br 0)))`), 10_000_000, StatusTrapped, TrapOutOfFuel, 0},
		{"an infinite loop in the start function runs out of fuel", wat(t, `(module `+watPrelude+`
			(func $s (loop br 0)) (start $s)
			(func (export "_start")))`), 10_000_000, StatusTrapped, TrapOutOfFuel, 0},
		{"a memory.grow bomb runs out of fuel", wat(t, `(module `+watPrelude+`
			(func (export "_start") (loop (drop (memory.grow (i32.const 1000))) br 0)))`), 10_000_000, StatusTrapped, TrapOutOfFuel, 0},
		{"growing past the memory limit fails inside the guest", wat(t, `(module `+watPrelude+`
			(func (export "_start")
			  (if (i32.eq (memory.grow (i32.const 5000)) (i32.const -1)) (then (call $proc_exit (i32.const 7))))))`),
			10_000_000, StatusExited, "", 7},
		{"a huge declared memory is rejected", wat(t, `(module (memory (export "memory") 65536) (func (export "_start")))`),
			10_000_000, StatusRejected, RejectLimit, 0},
		{"deep recursion exhausts the call stack", wat(t, `(module `+watPrelude+`
			(func $f (call $f)) (func (export "_start") (call $f)))`), 1 << 35, StatusTrapped, TrapStack, 0},
		{"deep recursion with big frames exhausts the call stack", wat(t, `(module `+watPrelude+`
			(func $f (param i64) (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
			  (local.set 1 (local.get 0)) (call $f (i64.add (local.get 1) (i64.const 1))))
			(func (export "_start") (call $f (i64.const 0))))`), 1 << 35, StatusTrapped, TrapStack, 0},
		{"huge output stops at the output cap", wat(t, `(module `+watPrelude+`
			(func (export "_start")
			  (i32.store (i32.const 0) (i32.const 16)) (i32.store (i32.const 4) (i32.const 65000))
			  (loop (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))) br 0)))`),
			1 << 35, StatusTrapped, TrapOutputLimit, 0},
		{"an unknown import is rejected", wat(t, `(module (import "env" "evil" (func)) (memory (export "memory") 1) (func (export "_start")))`),
			10_000_000, StatusRejected, RejectImport, 0},
		{"a WASI import with the wrong signature is rejected", wat(t, `(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32))) (func (export "_start")))`),
			10_000_000, StatusRejected, RejectImport, 0},
		{"shared memory (threads) is rejected", sharedMemoryModule(), 10_000_000, StatusRejected, RejectUnsupported, 0},
		{"an atomic instruction is rejected", atomicModule(), 10_000_000, StatusRejected, RejectUnsupported, 0},
		{"SIMD is rejected", wat(t, `(module (memory (export "memory") 1) (func (export "_start") (drop (v128.const i32x4 0 0 0 0))))`),
			10_000_000, StatusRejected, RejectUnsupported, 0},
		{"a malformed binary is rejected", []byte("\x00asm\x01\x00\x00\x00\x01\xff\xff\xff\xff\x0f"), 10_000_000, StatusRejected, RejectMalformed, 0},
		{"a truncated binary is rejected", sha[:len(sha)/2], 10_000_000, StatusRejected, RejectMalformed, 0},
		{"not wasm at all is rejected", []byte("#!/bin/sh\nrm -rf /\n"), 10_000_000, StatusRejected, RejectMalformed, 0},
		{"a module with 100k functions is rejected", module100kFuncs(), 10_000_000, StatusRejected, RejectLimit, 0},
		{"a module without _start is rejected", wat(t, `(module (memory (export "memory") 1))`), 10_000_000, StatusRejected, RejectNoEntry, 0},
		{"a trap is a runtime trap", wat(t, `(module `+watPrelude+`(func (export "_start") unreachable))`),
			10_000_000, StatusTrapped, TrapRuntime, 0},
		{"an out-of-bounds access is a runtime trap", wat(t, `(module `+watPrelude+`(func (export "_start") (drop (i32.load (i32.const 70000)))))`),
			10_000_000, StatusTrapped, TrapRuntime, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := testSpec(c.module, nil)
			spec.FuelLimit = c.fuel
			spec.MemoryLimit = 64 << 20
			rep, err := r.Run(context.Background(), &Job{Spec: spec, Module: c.module})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			if res.Status != c.status || res.Trap != c.trap || res.ExitCode != c.exit {
				t.Fatalf("got %s (%s), want status=%s trap=%s exit=%d", describe(res), rep.Detail, c.status, c.trap, c.exit)
			}
			if c.trap == TrapOutOfFuel && res.FuelUsed != c.fuel {
				t.Fatalf("out of fuel with %d used of %d", res.FuelUsed, c.fuel)
			}
			if c.status != StatusRejected || c.trap != RejectInvalid {
				if o := runOracleCompiled(t, &spec, c.module, nil); o.Hash() != res.Hash() {
					t.Fatalf("wazero %s, wasmer %s", describe(o), describe(res))
				}
			}
			t.Logf("%s (fuel %d) %s", res.Trap, res.FuelUsed, rep.Detail)
		})
	}

	t.Run("a job past the wall-clock limit with fuel to spare is killed", func(t *testing.T) {
		slow := testRunner(t, func(c *Config) { c.Timeout = 3 * time.Second })
		mod := wat(t, `(module `+watPrelude+`(func (export "_start") (loop br 0)))`)
		spec := testSpec(mod, nil)
		spec.FuelLimit = 1 << 62
		slow.cfg.MaxFuel = 1 << 62
		start := time.Now()
		_, err := slow.Run(context.Background(), &Job{Spec: spec, Module: mod})
		if !errors.Is(err, ErrTimeout) {
			t.Fatalf("got %v, want ErrTimeout", err)
		}
		t.Logf("killed after %v", time.Since(start))
	})
	t.Run("a crashing child is a failed run, not a result", func(t *testing.T) {
		crash := testRunner(t, func(c *Config) { c.Env = []string{ChildEnv + "=crash"} })
		spec := testSpec(sha, nil)
		_, err := crash.Run(context.Background(), &Job{Spec: spec, Module: sha})
		if !errors.Is(err, ErrChildFailed) {
			t.Fatalf("got %v, want ErrChildFailed", err)
		}
	})
	t.Run("the parent still runs jobs afterwards", func(t *testing.T) {
		rep, err := r.Run(context.Background(), &Job{Spec: testSpec(sha, []byte("ok")), Module: sha})
		if err != nil || rep.Result.Status != StatusExited || rep.Result.ExitCode != 0 {
			t.Fatalf("%v %v", err, rep)
		}
	})
}
