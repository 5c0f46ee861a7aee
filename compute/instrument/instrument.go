package instrument

import "fmt"

// Module is an instrumented module and what the host needs to run it.
type Module struct {
	// Wasm is the instrumented binary.
	Wasm []byte
	// HasStart reports whether the input had a start function, now exported
	// as StartExport.
	HasStart bool
	// Imports lists the module's imports in index order.
	Imports []ImportName
	// Functions counts imported plus defined functions of the input.
	Functions int
	// NaNSites counts the places where NaN canonicalization was inserted:
	// with none, the module cannot observe NaN bits and behaves exactly
	// as before (fuel aside).
	NaNSites int
}

// Instrument checks wasm against cfg and returns the instrumented module.
// Errors wrap ErrMalformed, ErrUnsupported, ErrLimit or ErrImport. The
// result depends only on wasm and cfg.Fingerprint().
//
// Instrument checks structure, every instruction's encoding, index ranges
// and the limits; it does not type-check the operand stack. The inserted
// code is stack-neutral, so a module that fails type checking still fails
// after instrumentation: compile the output with a validating runtime.
func Instrument(wasm []byte, cfg Config) (*Module, error) {
	m, err := parseModule(wasm, &cfg)
	if err != nil {
		return nil, err
	}
	if cfg.MaxStackWeight >= 1<<31 {
		return nil, fmt.Errorf("instrument: MaxStackWeight %d does not fit an i32 constant", cfg.MaxStackWeight)
	}
	helperType := -1
	sig := FuncType{Params: []ValType{I32}, Results: []ValType{I32}}
	for i, t := range m.types {
		if t.Equal(sig) {
			helperType = i
			break
		}
	}
	types := m.types
	if helperType < 0 {
		helperType = len(types)
		types = append(types[:len(types):len(types)], sig)
	}
	nf := m.nFuncs()
	e := &env{
		m: m, cfg: &cfg,
		fuel:       uint32(len(m.globals)),
		depth:      uint32(len(m.globals)) + 1,
		chargePage: nf,
		chargeByte: nf + 1,
		chargeElem: nf + 2,
	}
	bodies := make([][]byte, 0, len(m.code)+3)
	nanSites, codeOut := 0, 0
	for i, body := range m.code {
		nb, sites, err := e.rewriteBody(body, m.types[m.funcs[i]])
		nanSites += sites
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", uint32(len(m.imports))+uint32(i), err)
		}
		bodies = append(bodies, nb)
		// Metering can blow up pathological code (a body of nothing but
		// calls grows about 15 times); bound the output, not just the input.
		if codeOut += len(nb); codeOut > 2*cfg.MaxModuleBytes {
			return nil, limitErr("instrumented code bytes", uint64(codeOut), 2*uint64(cfg.MaxModuleBytes))
		}
	}
	bodies = append(bodies,
		e.helperBody(func(b []byte) []byte { // pages × GrowPageCost
			b = append(b, opI64Const)
			b = appendS64(b, GrowPageCost)
			return append(b, opI64Mul)
		}),
		e.helperBody(func(b []byte) []byte { // bytes / BulkBytesPerFuel
			return append(b, opI64Const, bulkShift, opI64ShrU)
		}),
		e.helperBody(func(b []byte) []byte { // elements × TableElemCost
			b = append(b, opI64Const)
			b = appendS64(b, TableElemCost)
			return append(b, opI64Mul)
		}),
	)

	out := make([]byte, 0, len(wasm)+len(wasm)/2)
	out = append(out, wasmHeader...)
	var s []byte

	s = appendU32(nil, uint32(len(types)))
	for _, t := range types {
		s = appendFuncType(s, t)
	}
	out = appendSection(out, secType, s)

	if len(m.imports) > 0 {
		s = appendU32(nil, uint32(len(m.imports)))
		for i, in := range m.imports {
			s = appendName(s, in.Module)
			s = appendName(s, in.Name)
			s = append(s, 0)
			s = appendU32(s, m.importType[i])
		}
		out = appendSection(out, secImport, s)
	}

	s = appendU32(nil, uint32(len(m.funcs)+3))
	for _, t := range m.funcs {
		s = appendU32(s, t)
	}
	for range 3 {
		s = appendU32(s, uint32(helperType))
	}
	out = appendSection(out, secFunction, s)

	if len(m.tables) > 0 {
		s = appendU32(nil, uint32(len(m.tables)))
		for _, t := range m.tables {
			s = append(s, byte(t.ref))
			s = appendLimits(s, t.limits)
		}
		out = appendSection(out, secTable, s)
	}
	if len(m.mems) > 0 {
		s = appendU32(nil, uint32(len(m.mems)))
		for _, l := range m.mems {
			s = appendLimits(s, l)
		}
		out = appendSection(out, secMemory, s)
	}

	s = appendU32(nil, uint32(len(m.globals)+2))
	for _, g := range m.globals {
		s = append(s, g...)
	}
	s = append(s, byte(I64), 1, opI64Const, 0, opEnd) // fuel
	s = append(s, byte(I32), 1, opI32Const, 0, opEnd) // stack weight
	out = appendSection(out, secGlobal, s)

	nExports := len(m.exports) + 2
	if m.hasStart {
		nExports++
	}
	s = appendU32(nil, uint32(nExports))
	for _, x := range m.exports {
		s = appendName(s, x.name)
		s = append(s, x.kind)
		s = appendU32(s, x.idx)
	}
	s = appendName(s, FuelExport)
	s = append(s, 3)
	s = appendU32(s, e.fuel)
	s = appendName(s, DepthExport)
	s = append(s, 3)
	s = appendU32(s, e.depth)
	if m.hasStart {
		s = appendName(s, StartExport)
		s = append(s, 0)
		s = appendU32(s, m.start)
	}
	out = appendSection(out, secExport, s)

	if m.elemRaw != nil {
		out = appendSection(out, secElement, m.elemRaw)
	}
	if m.dataCount != nil {
		out = appendSection(out, secDataCount, m.dataCount)
	}
	s = appendU32(nil, uint32(len(bodies)))
	for _, b := range bodies {
		s = appendU32(s, uint32(len(b)))
		s = append(s, b...)
	}
	out = appendSection(out, secCode, s)
	if m.dataRaw != nil {
		out = appendSection(out, secData, m.dataRaw)
	}
	return &Module{
		Wasm:      out,
		HasStart:  m.hasStart,
		Imports:   m.imports,
		Functions: int(nf),
		NaNSites:  nanSites,
	}, nil
}

const bulkShift = 4 // log2(BulkBytesPerFuel)

// helperBody builds func (n i32) -> i32 that charges cost(n) fuel, traps
// when the fuel goes negative and returns n.
func (e *env) helperBody(cost func([]byte) []byte) []byte {
	b := []byte{0} // no locals
	b = append(b, opGlobalGet)
	b = appendU32(b, e.fuel)
	b = append(b, opLocalGet, 0, opI64ExtendU)
	b = cost(b)
	b = append(b, opI64Sub, opGlobalSet)
	b = appendU32(b, e.fuel)
	b = e.appendFuelCheck(b)
	return append(b, opLocalGet, 0, opEnd)
}

func appendLimits(b []byte, l limits) []byte {
	if !l.hasMax {
		b = append(b, 0)
		return appendU32(b, l.min)
	}
	b = append(b, 1)
	b = appendU32(b, l.min)
	return appendU32(b, l.max)
}

func appendSection(b []byte, id byte, payload []byte) []byte {
	b = append(b, id)
	b = appendU32(b, uint32(len(payload)))
	return append(b, payload...)
}
