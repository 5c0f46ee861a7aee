package instrument

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// Version identifies the rewriting rules (metering points, inserted code,
// exports). Together with [CostTableVersion] and a Config's Fingerprint it
// determines the instrumented bytes.
const Version = 1

// Names under which the instrumented module exports its bookkeeping.
const (
	// FuelExport is the mutable i64 global holding the remaining fuel. The
	// host sets it before calling any export and reads it afterwards; a
	// negative value after a trap means the module ran out of fuel.
	FuelExport = "coop_fuel"
	// DepthExport is the mutable i32 global holding the current stack weight.
	// A value above Config.MaxStackWeight after a trap means the call stack
	// limit was hit.
	DepthExport = "coop_depth"
	// StartExport is the module's original start function, if it had one.
	// The host calls it after setting the fuel and before any other export.
	StartExport = "coop_start"
	// ReservedPrefix is refused in the export names of input modules.
	ReservedPrefix = "coop_"
)

// Errors returned by Instrument, wrapped with the details of the violation.
var (
	// ErrUnsupported reports a feature outside the deterministic subset:
	// threads, shared memory, atomics, SIMD, exceptions, tail calls,
	// multiple or 64-bit memories.
	ErrUnsupported = errors.New("unsupported wasm feature")
	// ErrLimit reports a module that exceeds one of the Config limits.
	ErrLimit = errors.New("module exceeds a limit")
	// ErrImport reports an import that is not in Config.Imports or whose
	// signature differs.
	ErrImport = errors.New("import not allowed")
)

// ValType is a WebAssembly value type as encoded in the binary format.
type ValType byte

// Value types accepted by the instrumenter (v128 is not: SIMD is rejected).
const (
	I32       ValType = 0x7f
	I64       ValType = 0x7e
	F32       ValType = 0x7d
	F64       ValType = 0x7c
	FuncRef   ValType = 0x70
	ExternRef ValType = 0x6f
)

func (v ValType) valid() bool {
	switch v {
	case I32, I64, F32, F64, FuncRef, ExternRef:
		return true
	}
	return false
}

// FuncType is a function signature.
type FuncType struct {
	Params  []ValType
	Results []ValType
}

// Equal reports whether two signatures are the same.
func (t FuncType) Equal(u FuncType) bool {
	return slices.Equal(t.Params, u.Params) && slices.Equal(t.Results, u.Results)
}

// ImportName names an imported function.
type ImportName struct {
	Module string
	Name   string
}

// String is module.name.
func (n ImportName) String() string { return n.Module + "." + n.Name }

// Config bounds what a module may declare and do. The zero value accepts
// nothing; start from DefaultConfig.
type Config struct {
	// MaxModuleBytes bounds the input size.
	MaxModuleBytes int
	// MaxMemoryPages caps the linear memory (64 KiB pages): a larger
	// declared minimum is rejected, the maximum is lowered to it.
	MaxMemoryPages uint32
	// MaxTableElements caps every table the same way.
	MaxTableElements uint32
	// MaxFunctions bounds imported plus defined functions.
	MaxFunctions uint32
	// MaxCodeBytes bounds the size of the code section.
	MaxCodeBytes uint32
	// MaxLocals bounds parameters plus locals of one function.
	MaxLocals uint32
	// MaxNesting bounds the nesting of blocks, loops and ifs.
	MaxNesting uint32
	// MaxImports bounds the number of imports.
	MaxImports uint32
	// MaxTypes, MaxGlobals, MaxExports, MaxTables and MaxSegments bound the
	// other index spaces (segments: data plus element).
	MaxTypes, MaxGlobals, MaxExports, MaxTables, MaxSegments uint32
	// MaxStackWeight bounds the sum of frame weights (2 + params + locals)
	// of the functions on the call stack.
	MaxStackWeight uint32
	// Imports lists the only functions a module may import, with their
	// exact signatures.
	Imports map[ImportName]FuncType
}

// DefaultConfig returns limits that fit programs built by the Go, Rust, C
// and TinyGo toolchains; the caller supplies Imports and usually lowers
// MaxMemoryPages to the job's limit.
func DefaultConfig() Config {
	return Config{
		MaxModuleBytes:   64 << 20,
		MaxMemoryPages:   4096, // 256 MiB
		MaxTableElements: 1 << 17,
		MaxFunctions:     1 << 16,
		MaxCodeBytes:     48 << 20,
		MaxLocals:        1 << 14,
		MaxNesting:       1 << 12,
		MaxImports:       256,
		MaxTypes:         1 << 14,
		MaxGlobals:       1 << 14,
		MaxExports:       1 << 14,
		MaxTables:        16,
		MaxSegments:      1 << 16,
		MaxStackWeight:   1 << 18,
	}
}

// Fingerprint is a hash of every setting that influences the output, plus
// the instrumenter and cost table versions: equal fingerprints and equal
// input give equal output. Use it in cache keys.
func (c Config) Fingerprint() [32]byte {
	var b []byte
	for _, v := range []uint64{Version, CostTableVersion, uint64(c.MaxModuleBytes),
		uint64(c.MaxMemoryPages), uint64(c.MaxTableElements), uint64(c.MaxFunctions),
		uint64(c.MaxCodeBytes), uint64(c.MaxLocals), uint64(c.MaxNesting), uint64(c.MaxImports),
		uint64(c.MaxTypes), uint64(c.MaxGlobals), uint64(c.MaxExports), uint64(c.MaxTables),
		uint64(c.MaxSegments), uint64(c.MaxStackWeight)} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	names := make([]ImportName, 0, len(c.Imports))
	for n := range c.Imports {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b ImportName) int {
		if c := strings.Compare(a.Module, b.Module); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, n := range names {
		t := c.Imports[n]
		b = appendName(b, n.Module)
		b = appendName(b, n.Name)
		b = appendFuncType(b, t)
	}
	return sha256.Sum256(b)
}

func appendFuncType(b []byte, t FuncType) []byte {
	b = append(b, 0x60)
	b = appendU32(b, uint32(len(t.Params)))
	for _, p := range t.Params {
		b = append(b, byte(p))
	}
	b = appendU32(b, uint32(len(t.Results)))
	for _, p := range t.Results {
		b = append(b, byte(p))
	}
	return b
}
