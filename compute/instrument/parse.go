package instrument

import (
	"bytes"
	"fmt"
)

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank is the required order of the non-custom sections.
var sectionRank = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secGlobal: 6, secExport: 7, secStart: 8, secElement: 9, secDataCount: 10,
	secCode: 11, secData: 12,
}

var wasmHeader = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

type limits struct {
	min, max uint32
	hasMax   bool
}

type table struct {
	ref ValType
	limits
}

type export struct {
	name string
	kind byte
	idx  uint32
}

// module is a parsed module: the parts the rewriter changes are decoded,
// the rest is kept as checked raw bytes.
type module struct {
	types      []FuncType
	imports    []ImportName
	importType []uint32
	funcs      []uint32 // type index of each defined function
	tables     []table
	mems       []limits
	globals    [][]byte // raw entries: type, mutability, init expression
	exports    []export
	start      uint32
	hasStart   bool
	elemRaw    []byte // element section payload (checked)
	dataCount  []byte // data count section payload, nil if absent
	code       [][]byte
	dataRaw    []byte // data section payload (checked)
	hasCode    bool
	nSegments  uint64
}

func (m *module) nFuncs() uint32 { return uint32(len(m.imports) + len(m.funcs)) }

func limitErr(what string, have uint64, max uint64) error {
	return fmt.Errorf("%w: %s: %d > %d", ErrLimit, what, have, max)
}

// vecLen reads a vector length and checks it against a limit and against
// the bytes left (each element takes at least minSize bytes), so that no
// allocation is sized by an unchecked count.
func vecLen(r *reader, what string, max uint32, minSize int) (uint32, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if n > max {
		return 0, limitErr(what, uint64(n), uint64(max))
	}
	if uint64(n)*uint64(minSize) > uint64(r.remaining()) {
		return 0, r.errf("%s: count %d exceeds section size", what, n)
	}
	return n, nil
}

func parseModule(wasm []byte, cfg *Config) (*module, error) {
	if len(wasm) > cfg.MaxModuleBytes {
		return nil, limitErr("module bytes", uint64(len(wasm)), uint64(cfg.MaxModuleBytes))
	}
	if len(wasm) < len(wasmHeader) || !bytes.Equal(wasm[:len(wasmHeader)], wasmHeader) {
		return nil, fmt.Errorf("%w: not a wasm 1.0 binary (bad magic or version)", ErrMalformed)
	}
	r := &reader{b: wasm, pos: len(wasmHeader)}
	m := &module{}
	last := 0
	var nFuncDecl uint32
	for !r.eof() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		payload, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		if id == secCustom {
			sr := &reader{b: payload}
			if _, err := sr.name(); err != nil {
				return nil, fmt.Errorf("custom section: %w", err)
			}
			continue
		}
		if id == secTag {
			return nil, fmt.Errorf("%w: exception handling (tag section)", ErrUnsupported)
		}
		rank, ok := sectionRank[id]
		if !ok {
			return nil, fmt.Errorf("%w: unknown section id %d", ErrMalformed, id)
		}
		if rank <= last {
			return nil, fmt.Errorf("%w: section %d duplicated or out of order", ErrMalformed, id)
		}
		last = rank
		sr := &reader{b: payload}
		switch id {
		case secType:
			err = m.parseTypes(sr, cfg)
		case secImport:
			err = m.parseImports(sr, cfg)
		case secFunction:
			err = m.parseFunctions(sr, cfg)
			nFuncDecl = uint32(len(m.funcs))
		case secTable:
			err = m.parseTables(sr, cfg)
		case secMemory:
			err = m.parseMemories(sr, cfg)
		case secGlobal:
			err = m.parseGlobals(sr, cfg)
		case secExport:
			err = m.parseExports(sr, cfg)
		case secStart:
			m.start, err = sr.u32()
			m.hasStart = true
			if err == nil && m.start >= m.nFuncs() {
				err = sr.errf("start function %d out of range", m.start)
			}
		case secElement:
			err = m.parseElements(sr, cfg)
		case secDataCount:
			_, err = sr.u32()
			m.dataCount = payload
		case secCode:
			err = m.parseCode(sr, cfg, nFuncDecl)
		case secData:
			err = m.parseData(sr, cfg)
		}
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		if !sr.eof() {
			return nil, fmt.Errorf("section %d: %w: %d trailing bytes", id, ErrMalformed, sr.remaining())
		}
	}
	if len(m.funcs) != len(m.code) {
		return nil, fmt.Errorf("%w: %d functions declared, %d bodies", ErrMalformed, len(m.funcs), len(m.code))
	}
	return m, nil
}

func (m *module) parseTypes(r *reader, cfg *Config) error {
	n, err := vecLen(r, "types", cfg.MaxTypes, 3)
	if err != nil {
		return err
	}
	m.types = make([]FuncType, 0, n)
	for i := uint32(0); i < n; i++ {
		form, err := r.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return fmt.Errorf("%w: type form 0x%02x (GC types)", ErrUnsupported, form)
		}
		var t FuncType
		for k := 0; k < 2; k++ {
			c, err := vecLen(r, "signature length", 1000, 1)
			if err != nil {
				return err
			}
			vs := make([]ValType, c)
			for j := range vs {
				if vs[j], err = readValType(r); err != nil {
					return err
				}
			}
			if k == 0 {
				t.Params = vs
			} else {
				t.Results = vs
			}
		}
		m.types = append(m.types, t)
	}
	return nil
}

func readValType(r *reader) (ValType, error) {
	c, err := r.byte()
	if err != nil {
		return 0, err
	}
	v := ValType(c)
	if c == 0x7b {
		return 0, fmt.Errorf("%w: SIMD (v128)", ErrUnsupported)
	}
	if !v.valid() {
		return 0, r.errf("invalid value type 0x%02x", c)
	}
	return v, nil
}

func (m *module) parseImports(r *reader, cfg *Config) error {
	n, err := vecLen(r, "imports", cfg.MaxImports, 4)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		mod, err := r.name()
		if err != nil {
			return err
		}
		name, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		in := ImportName{Module: mod, Name: name}
		if kind != 0 {
			return fmt.Errorf("%w: %q: only functions may be imported (kind %d)", ErrImport, in, kind)
		}
		ti, err := r.u32()
		if err != nil {
			return err
		}
		if ti >= uint32(len(m.types)) {
			return r.errf("import %q: type %d out of range", in, ti)
		}
		want, ok := cfg.Imports[in]
		if !ok {
			return fmt.Errorf("%w: %s", ErrImport, in)
		}
		if !want.Equal(m.types[ti]) {
			return fmt.Errorf("%w: %s: signature differs from the host's", ErrImport, in)
		}
		m.imports = append(m.imports, in)
		m.importType = append(m.importType, ti)
	}
	return nil
}

func (m *module) parseFunctions(r *reader, cfg *Config) error {
	n, err := vecLen(r, "functions", cfg.MaxFunctions, 1)
	if err != nil {
		return err
	}
	if uint64(n)+uint64(len(m.imports)) > uint64(cfg.MaxFunctions) {
		return limitErr("functions", uint64(n)+uint64(len(m.imports)), uint64(cfg.MaxFunctions))
	}
	m.funcs = make([]uint32, n)
	for i := range m.funcs {
		ti, err := r.u32()
		if err != nil {
			return err
		}
		if ti >= uint32(len(m.types)) {
			return r.errf("function %d: type %d out of range", i, ti)
		}
		m.funcs[i] = ti
	}
	return nil
}

func readLimits(r *reader, memory bool) (limits, error) {
	flags, err := r.byte()
	if err != nil {
		return limits{}, err
	}
	switch {
	case flags == 0 || flags == 1:
	case memory && (flags == 2 || flags == 3):
		return limits{}, fmt.Errorf("%w: shared memory (threads)", ErrUnsupported)
	case memory && flags >= 4 && flags <= 7:
		return limits{}, fmt.Errorf("%w: 64-bit memory", ErrUnsupported)
	default:
		return limits{}, r.errf("limits flags 0x%02x", flags)
	}
	var l limits
	if l.min, err = r.u32(); err != nil {
		return l, err
	}
	if flags == 1 {
		l.hasMax = true
		if l.max, err = r.u32(); err != nil {
			return l, err
		}
		if l.max < l.min {
			return l, r.errf("limits: maximum %d below minimum %d", l.max, l.min)
		}
	}
	return l, nil
}

// capped lowers the maximum to limit; a minimum above it is an error.
func (l limits) capped(what string, limit uint32) (limits, error) {
	if l.min > limit {
		return l, limitErr(what+" minimum", uint64(l.min), uint64(limit))
	}
	if !l.hasMax || l.max > limit {
		l.max = limit
	}
	l.hasMax = true
	return l, nil
}

func (m *module) parseTables(r *reader, cfg *Config) error {
	n, err := vecLen(r, "tables", cfg.MaxTables, 3)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if ValType(c) != FuncRef && ValType(c) != ExternRef {
			return r.errf("table element type 0x%02x", c)
		}
		l, err := readLimits(r, false)
		if err != nil {
			return err
		}
		if l, err = l.capped("table elements", cfg.MaxTableElements); err != nil {
			return err
		}
		m.tables = append(m.tables, table{ref: ValType(c), limits: l})
	}
	return nil
}

func (m *module) parseMemories(r *reader, cfg *Config) error {
	n, err := vecLen(r, "memories", 1<<16, 2)
	if err != nil {
		return err
	}
	if n > 1 {
		return fmt.Errorf("%w: %d memories (multi-memory)", ErrUnsupported, n)
	}
	for i := uint32(0); i < n; i++ {
		l, err := readLimits(r, true)
		if err != nil {
			return err
		}
		if l, err = l.capped("memory pages", cfg.MaxMemoryPages); err != nil {
			return err
		}
		m.mems = append(m.mems, l)
	}
	return nil
}

// constExpr checks a constant expression up to and including its end.
// Index checks keep it from naming the globals and functions the
// instrumenter appends.
func (m *module) constExpr(r *reader, nGlobals uint32) error {
	for steps := 0; steps < 64; steps++ {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b:
			return nil
		case 0x41:
			_, err = r.sleb(32)
		case 0x42:
			_, err = r.sleb(64)
		case 0x43:
			_, err = r.bytes(4)
		case 0x44:
			_, err = r.bytes(8)
		case 0x23:
			var g uint32
			if g, err = r.u32(); err == nil && g >= nGlobals {
				err = r.errf("global.get %d out of range in constant", g)
			}
		case 0xd0:
			var c byte
			if c, err = r.byte(); err == nil && ValType(c) != FuncRef && ValType(c) != ExternRef {
				err = r.errf("ref.null type 0x%02x", c)
			}
		case 0xd2:
			var f uint32
			if f, err = r.u32(); err == nil && f >= m.nFuncs() {
				err = r.errf("ref.func %d out of range", f)
			}
		case 0xfd:
			return fmt.Errorf("%w: SIMD", ErrUnsupported)
		default:
			return r.errf("opcode 0x%02x not allowed in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
	return r.errf("constant expression too long")
}

func (m *module) parseGlobals(r *reader, cfg *Config) error {
	n, err := vecLen(r, "globals", cfg.MaxGlobals, 3)
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		start := r.pos
		if _, err := readValType(r); err != nil {
			return err
		}
		mut, err := r.byte()
		if err != nil {
			return err
		}
		if mut > 1 {
			return r.errf("global mutability 0x%02x", mut)
		}
		// Constant expressions may read only imported globals, and a job
		// imports none.
		if err := m.constExpr(r, 0); err != nil {
			return err
		}
		m.globals = append(m.globals, r.b[start:r.pos])
	}
	return nil
}

func (m *module) parseExports(r *reader, cfg *Config) error {
	n, err := vecLen(r, "exports", cfg.MaxExports, 3)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, n)
	for i := uint32(0); i < n; i++ {
		name, err := r.name()
		if err != nil {
			return err
		}
		kind, err := r.byte()
		if err != nil {
			return err
		}
		idx, err := r.u32()
		if err != nil {
			return err
		}
		if seen[name] {
			return r.errf("duplicate export %q", name)
		}
		seen[name] = true
		if len(name) >= len(ReservedPrefix) && name[:len(ReservedPrefix)] == ReservedPrefix {
			return fmt.Errorf("%w: export %q uses the reserved prefix %q", ErrMalformed, name, ReservedPrefix)
		}
		var count uint32
		switch kind {
		case 0:
			count = m.nFuncs()
		case 1:
			count = uint32(len(m.tables))
		case 2:
			count = uint32(len(m.mems))
		case 3:
			count = uint32(len(m.globals))
		default:
			return fmt.Errorf("%w: export kind %d", ErrUnsupported, kind)
		}
		if idx >= count {
			return r.errf("export %q: index %d out of range", name, idx)
		}
		m.exports = append(m.exports, export{name: name, kind: kind, idx: idx})
	}
	return nil
}

func (m *module) funcIndexVec(r *reader) error {
	n, err := vecLen(r, "element functions", 1<<24, 1)
	if err != nil {
		return err
	}
	for j := uint32(0); j < n; j++ {
		f, err := r.u32()
		if err != nil {
			return err
		}
		if f >= m.nFuncs() {
			return r.errf("element function %d out of range", f)
		}
	}
	return nil
}

func (m *module) exprVec(r *reader) error {
	n, err := vecLen(r, "element expressions", 1<<24, 2)
	if err != nil {
		return err
	}
	for j := uint32(0); j < n; j++ {
		if err := m.constExpr(r, 0); err != nil {
			return err
		}
	}
	return nil
}

func (m *module) parseElements(r *reader, cfg *Config) error {
	n, err := vecLen(r, "element segments", cfg.MaxSegments, 2)
	if err != nil {
		return err
	}
	m.nSegments += uint64(n)
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return r.errf("element segment flags %d", flags)
		}
		if flags == 2 || flags == 6 { // explicit table index
			if _, err := r.u32(); err != nil {
				return err
			}
		}
		if flags&1 == 0 { // active: offset expression
			if err := m.constExpr(r, 0); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // element kind or reference type
			c, err := r.byte()
			if err != nil {
				return err
			}
			if flags&4 == 0 && c != 0x00 {
				return r.errf("element kind 0x%02x", c)
			}
			if flags&4 != 0 && ValType(c) != FuncRef && ValType(c) != ExternRef {
				return r.errf("element type 0x%02x", c)
			}
		}
		if flags&4 == 0 {
			err = m.funcIndexVec(r)
		} else {
			err = m.exprVec(r)
		}
		if err != nil {
			return err
		}
	}
	m.elemRaw = r.b
	return nil
}

func (m *module) parseData(r *reader, cfg *Config) error {
	n, err := vecLen(r, "data segments", cfg.MaxSegments, 2)
	if err != nil {
		return err
	}
	m.nSegments += uint64(n)
	if m.nSegments > uint64(cfg.MaxSegments) {
		return limitErr("segments", m.nSegments, uint64(cfg.MaxSegments))
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 0:
		case 1:
		case 2:
			if _, err := r.u32(); err != nil {
				return err
			}
		default:
			return r.errf("data segment flags %d", flags)
		}
		if flags != 1 {
			if err := m.constExpr(r, 0); err != nil {
				return err
			}
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		if _, err := r.bytes(int(size)); err != nil {
			return err
		}
	}
	m.dataRaw = r.b
	return nil
}

func (m *module) parseCode(r *reader, cfg *Config, nDecl uint32) error {
	if uint64(len(r.b)) > uint64(cfg.MaxCodeBytes) {
		return limitErr("code bytes", uint64(len(r.b)), uint64(cfg.MaxCodeBytes))
	}
	n, err := vecLen(r, "function bodies", cfg.MaxFunctions, 2)
	if err != nil {
		return err
	}
	if n != nDecl {
		return r.errf("%d function bodies for %d declared functions", n, nDecl)
	}
	m.hasCode = true
	m.code = make([][]byte, n)
	for i := range m.code {
		size, err := r.u32()
		if err != nil {
			return err
		}
		if m.code[i], err = r.bytes(int(size)); err != nil {
			return err
		}
	}
	return nil
}
