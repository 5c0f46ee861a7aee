package instrument

import (
	"errors"
	"testing"
)

// build assembles a module from sections given as (id, payload) pairs.
func build(sections ...[]byte) []byte {
	b := append([]byte(nil), wasmHeader...)
	for _, s := range sections {
		b = appendSection(b, s[0], s[1:])
	}
	return b
}

func sec(id byte, payload ...byte) []byte { return append([]byte{id}, payload...) }

var (
	typeVoid = sec(secType, 1, 0x60, 0, 0)     // type 0: [] -> []
	oneFunc  = sec(secFunction, 1, 0)          // function 0 of type 0
	memory1  = sec(secMemory, 1, 0, 1)         // memory min 1, no max
	export0  = sec(secExport, 1, 1, 'f', 0, 0) // export "f" = function 0
	startF0  = sec(secStart, 0)                // start = function 0
	globalI  = sec(secGlobal, 1, 0x7f, 1, 0x41, 0, 0x0b)
)

// code is a code section with one body without locals.
func code(instrs ...byte) []byte {
	body := append([]byte{0}, instrs...)
	return append([]byte{secCode, 1, byte(len(body))}, body...)
}

func testConfig() Config {
	c := DefaultConfig()
	c.MaxMemoryPages = 16
	return c
}

func TestGuestCannotNameTheInstrumentationState(t *testing.T) {
	cases := []struct {
		name   string
		module []byte
	}{
		{"global.get of the fuel global (index past the module's globals)", build(typeVoid, oneFunc, code(0x23, 0, 0x1a, 0x0b))},
		{"global.set of the stack weight global", build(typeVoid, oneFunc, globalI, code(0x41, 0, 0x24, 1, 0x0b))},
		{"a call of an appended helper function", build(typeVoid, oneFunc, code(0x10, 1, 0x0b))},
		{"ref.func of an appended helper function", build(typeVoid, oneFunc, code(0xd2, 2, 0x1a, 0x0b))},
		{"a scratch local past the function's locals", build(typeVoid, oneFunc, code(0x20, 0, 0x1a, 0x0b))},
		{"a block type naming an appended type", build(typeVoid, oneFunc, code(0x02, 1, 0x0b, 0x0b))},
		{"an export with the reserved prefix", build(typeVoid, oneFunc, sec(secExport, 1, 9, 'c', 'o', 'o', 'p', '_', 'f', 'u', 'e', 'l', 0, 0), code(0x0b))},
		{"an element segment naming a helper", build(typeVoid, oneFunc, sec(secTable, 1, 0x70, 0, 1), sec(secElement, 1, 0, 0x41, 0, 0x0b, 1, 1), code(0x0b))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Instrument(c.module, testConfig())
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
}

func TestLimitsAndFeaturesAreEnforced(t *testing.T) {
	cases := []struct {
		name   string
		module []byte
		want   error
	}{
		{"a memory minimum above the limit", build(sec(secMemory, 1, 0, 17)), ErrLimit},
		{"shared memory", build(sec(secMemory, 1, 3, 1, 1)), ErrUnsupported},
		{"64-bit memory", build(sec(secMemory, 1, 4, 1)), ErrUnsupported},
		{"two memories", build(sec(secMemory, 2, 0, 1, 0, 1)), ErrUnsupported},
		{"an imported memory", build(sec(secImport, 1, 1, 'a', 1, 'b', 2, 0, 1)), ErrImport},
		{"an import outside the allow-list", build(typeVoid, sec(secImport, 1, 1, 'a', 1, 'b', 0, 0)), ErrImport},
		{"a table above the element limit", build(sec(secTable, 1, 0x70, 0, 0x80, 0x80, 0x10)), ErrLimit},
		{"an exception tag section", build(sec(secTag, 0)), ErrUnsupported},
		{"tail calls", build(typeVoid, oneFunc, code(0x12, 0, 0x0b)), ErrUnsupported},
		{"a v128 local", build(typeVoid, oneFunc, []byte{secCode, 1, 4, 1, 1, 0x7b, 0x0b}), ErrUnsupported},
		{"too many locals", build(typeVoid, oneFunc, []byte{secCode, 1, 6, 1, 0xff, 0xff, 0x03, 0x7f, 0x0b}), ErrLimit},
		{"sections out of order", build(oneFunc, typeVoid), ErrMalformed},
		{"a function without a body", build(typeVoid, oneFunc), ErrMalformed},
		{"a body without its end", build(typeVoid, oneFunc, []byte{secCode, 1, 2, 0, 0x01}), ErrMalformed},
		{"an else outside an if", build(typeVoid, oneFunc, code(0x05, 0x0b)), ErrMalformed},
		{"a branch past the function", build(typeVoid, oneFunc, code(0x0c, 1, 0x0b)), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Instrument(c.module, testConfig())
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestMemoryMaximumIsLoweredToTheLimit(t *testing.T) {
	for _, mem := range [][]byte{memory1, sec(secMemory, 1, 1, 1, 0x80, 0x80, 0x04)} {
		out, err := Instrument(build(mem), testConfig())
		if err != nil {
			t.Fatal(err)
		}
		r := &reader{b: sectionPayload(t, out.Wasm, secMemory)}
		if n, _ := r.u32(); n != 1 {
			t.Fatalf("%d memories", n)
		}
		l, err := readLimits(r, true)
		if err != nil {
			t.Fatal(err)
		}
		if !l.hasMax || l.max != 16 || l.min != 1 {
			t.Fatalf("memory limits %+v, want min 1 max 16", l)
		}
	}
}

func TestStartFunctionIsDeferredToAnExport(t *testing.T) {
	out, err := Instrument(build(typeVoid, oneFunc, export0, startF0, code(0x0b)), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !out.HasStart {
		t.Fatal("HasStart is false")
	}
	if sectionPayload(t, out.Wasm, secStart) != nil {
		t.Fatal("output still has a start section")
	}
	if _, err := parseModule(out.Wasm, &Config{MaxModuleBytes: 1 << 20, MaxTypes: 10, MaxFunctions: 10,
		MaxGlobals: 10, MaxExports: 10, MaxCodeBytes: 1 << 10, MaxLocals: 10}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("re-instrumenting the output: got %v, want ErrMalformed (reserved export names)", err)
	}
}

// sectionPayload returns the payload of section id in wasm, or nil.
func sectionPayload(t *testing.T, wasm []byte, id byte) []byte {
	t.Helper()
	r := &reader{b: wasm, pos: len(wasmHeader)}
	for !r.eof() {
		sid, _ := r.byte()
		n, _ := r.u32()
		b, err := r.bytes(int(n))
		if err != nil {
			t.Fatal(err)
		}
		if sid == id {
			return b
		}
	}
	return nil
}

func TestInstrumentIsDeterministic(t *testing.T) {
	mod := build(typeVoid, oneFunc, memory1, export0, code(0x03, 0x40, 0x0c, 0, 0x0b, 0x0b))
	a, err := Instrument(mod, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		b, err := Instrument(mod, testConfig())
		if err != nil || string(a.Wasm) != string(b.Wasm) {
			t.Fatalf("run %d differs (err %v)", i, err)
		}
	}
	if testConfig().Fingerprint() != testConfig().Fingerprint() {
		t.Fatal("fingerprint is not stable")
	}
	c := testConfig()
	c.MaxMemoryPages++
	if c.Fingerprint() == testConfig().Fingerprint() {
		t.Fatal("fingerprint ignores MaxMemoryPages")
	}
}

func TestLEB128DecodingIsStrict(t *testing.T) {
	u32 := []struct {
		in   []byte
		want uint32
		ok   bool
	}{
		{[]byte{0x00}, 0, true},
		{[]byte{0xe5, 0x8e, 0x26}, 624485, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 1<<32 - 1, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x1f}, 0, false}, // 33 bits
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 0, false},
		{[]byte{0x80}, 0, false},
	}
	for _, c := range u32 {
		r := &reader{b: c.in}
		got, err := r.u32()
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("u32(% x) = %d, %v", c.in, got, err)
		}
	}
	s32 := []struct {
		in   []byte
		want int64
		ok   bool
	}{
		{[]byte{0x7f}, -1, true},
		{[]byte{0x80, 0x7f}, -128, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x07}, 1<<31 - 1, true},
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x78}, -1 << 31, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 0, false}, // 2^32-1 does not fit
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x70}, 0, false},
	}
	for _, c := range s32 {
		r := &reader{b: c.in}
		got, err := r.sleb(32)
		if (err == nil) != c.ok || (c.ok && got != c.want) {
			t.Errorf("s32(% x) = %d, %v", c.in, got, err)
		}
	}
	for _, v := range []int64{0, 1, -1, 63, 64, -64, -65, 1 << 40, -1 << 63, 1<<63 - 1} {
		r := &reader{b: appendS64(nil, v)}
		if got, err := r.sleb(64); err != nil || got != v {
			t.Errorf("round trip %d: %d, %v", v, got, err)
		}
	}
}

func TestInstrumentedSizeIsBounded(t *testing.T) {
	// One function whose body is 20 000 calls to itself: about 15 times
	// larger once metered.
	body := []byte{0}
	for i := 0; i < 20000; i++ {
		body = append(body, 0x10, 0)
	}
	body = append(body, 0x0b)
	payload := appendU32([]byte{1}, uint32(len(body)))
	payload = append(payload, body...)
	mod := build(typeVoid, oneFunc, append([]byte{secCode}, payload...))
	cfg := testConfig()
	cfg.MaxModuleBytes = 100_000
	if _, err := Instrument(mod, cfg); !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrLimit", err)
	}
	cfg.MaxModuleBytes = 1 << 20
	if _, err := Instrument(mod, cfg); err != nil {
		t.Fatal(err)
	}
}
