// Package instrument rewrites a WebAssembly module so that running it is
// deterministic and bounded on any conforming runtime.
//
// Instrument parses and checks a module (structure, every instruction, the
// import list and resource limits), then encodes a new module that
//
//   - meters fuel: at the start of every segment (function entry, loop body,
//     if/else arm, after a block's end) the fuel is decreased by the
//     segment's static cost (cost table [CostTableVersion]); segments that
//     begin a function or a loop body also trap with unreachable when it is
//     negative. The fuel lives in a local per function and is published to a
//     mutable i64 global, exported as FuelExport, around calls and exits, so
//     the host sees a negative global after a fuel trap. memory.grow and bulk
//     memory/table operations are additionally charged by size.
//   - bounds the call stack: every call site adds the caller's frame weight
//     to a mutable i32 global, exported as DepthExport, and traps when the
//     sum exceeds Config.MaxStackWeight, long before any runtime's native
//     stack limit.
//   - caps memory and tables: the declared maximum of the memory is lowered
//     to Config.MaxMemoryPages (a larger minimum is rejected), tables likewise.
//   - canonicalizes NaN: wherever the bits of a float can be observed
//     (f32/f64 stores, reinterpretations, the sign operand of copysign) a NaN
//     is replaced by the canonical quiet NaN, so runtimes that produce
//     different NaN payloads still agree byte for byte.
//   - defers the start function: the start section is removed and the
//     function exported as StartExport, so the host sets the fuel before any
//     guest code runs.
//
// Threads, shared memory, atomics, SIMD (and so relaxed SIMD), exceptions,
// tail calls, multiple memories and 64-bit memories are rejected. Custom
// sections are dropped. The output is a pure function of the input bytes and
// the Config, so every node produces the same instrumented module.
//
// The package imports nothing of coop: it is a leaf with its own invariants.
package instrument
