package instrument

import (
	"fmt"
)

// Canonical quiet NaNs written wherever a NaN's bits become observable.
var (
	canonNaN32 = []byte{0x00, 0x00, 0xc0, 0x7f} // 0x7fc00000
	canonNaN64 = []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x7f}
)

// Opcodes the rewriter emits or inspects.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opElse        = 0x05
	opEnd         = 0x0b
	opCall        = 0x10
	opSelect      = 0x1b
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Const    = 0x41
	opI64Const    = 0x42
	opF32Const    = 0x43
	opF64Const    = 0x44
	opI64LtS      = 0x53
	opF32Eq       = 0x5b
	opF64Eq       = 0x61
	opI32GtU      = 0x4b
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI64Sub      = 0x7d
	opI64Mul      = 0x7e
	opI64ShrU     = 0x88
	opI64ExtendU  = 0xad
	blockEmpty    = 0x40
)

// env holds what the rewriter needs about the module around one body.
type env struct {
	m          *module
	cfg        *Config
	fuel       uint32 // global index of the fuel counter
	depth      uint32 // global index of the stack weight
	chargePage uint32 // helper function indices
	chargeByte uint32
	chargeElem uint32
	fuelLocal  uint32 // the fuel local of the body being rewritten
}

// The fuel lives in a local of every function (register-allocated by the
// compiler) and is synchronized with the exported global where others can
// see it: before calls (the callee and host functions read the global),
// after calls (they changed it), before leaving the function and before a
// fuel trap. A sync is idempotent, so extra syncs are harmless.

// appendCharge subtracts cost from the fuel local and, with check, traps
// when the result is negative.
func (e *env) appendCharge(b []byte, f uint32, cost int64, check bool) []byte {
	b = append(b, opLocalGet)
	b = appendU32(b, f)
	b = append(b, opI64Const)
	b = appendS64(b, cost)
	b = append(b, opI64Sub)
	if !check {
		b = append(b, opLocalSet)
		return appendU32(b, f)
	}
	b = append(b, opLocalTee)
	b = appendU32(b, f)
	return e.appendTrapIfNegative(b, f)
}

// appendTrapIfNegative consumes the fuel on the stack and traps (after
// publishing the local) when it is negative.
func (e *env) appendTrapIfNegative(b []byte, f uint32) []byte {
	b = append(b, opI64Const, 0x00, opI64LtS, opIf, blockEmpty)
	b = e.appendSync(b, f)
	return append(b, opUnreachable, opEnd)
}

// appendSync publishes the fuel local to the global.
func (e *env) appendSync(b []byte, f uint32) []byte {
	b = append(b, opLocalGet)
	b = appendU32(b, f)
	b = append(b, opGlobalSet)
	return appendU32(b, e.fuel)
}

// appendReload reads the global into the fuel local.
func (e *env) appendReload(b []byte, f uint32) []byte {
	b = append(b, opGlobalGet)
	b = appendU32(b, e.fuel)
	b = append(b, opLocalSet)
	return appendU32(b, f)
}

func (e *env) appendFuelCheck(b []byte) []byte {
	b = append(b, opGlobalGet)
	b = appendU32(b, e.fuel)
	return append(b, opI64Const, 0x00, opI64LtS, opIf, blockEmpty, opUnreachable, opEnd)
}

// appendEnter adds weight to the stack weight and traps above the limit.
func (e *env) appendEnter(b []byte, weight uint32) []byte {
	b = append(b, opGlobalGet)
	b = appendU32(b, e.depth)
	b = append(b, opI32Const)
	b = appendS64(b, int64(weight))
	b = append(b, opI32Add, opGlobalSet)
	b = appendU32(b, e.depth)
	b = append(b, opGlobalGet)
	b = appendU32(b, e.depth)
	b = append(b, opI32Const)
	b = appendS64(b, int64(e.cfg.MaxStackWeight))
	return append(b, opI32GtU, opIf, blockEmpty, opUnreachable, opEnd)
}

func (e *env) appendLeave(b []byte, weight uint32) []byte {
	b = append(b, opGlobalGet)
	b = appendU32(b, e.depth)
	b = append(b, opI32Const)
	b = appendS64(b, int64(weight))
	b = append(b, opI32Sub, opGlobalSet)
	return appendU32(b, e.depth)
}

// appendCanon replaces a NaN on top of the stack by the canonical NaN,
// using scratch local l of the same type.
func appendCanon(b []byte, l uint32, f64 bool) []byte {
	b = append(b, opLocalTee)
	b = appendU32(b, l)
	if f64 {
		b = append(b, opF64Const)
		b = append(b, canonNaN64...)
	} else {
		b = append(b, opF32Const)
		b = append(b, canonNaN32...)
	}
	b = append(b, opLocalGet)
	b = appendU32(b, l)
	b = append(b, opLocalGet)
	b = appendU32(b, l)
	if f64 {
		b = append(b, opF64Eq)
	} else {
		b = append(b, opF32Eq)
	}
	return append(b, opSelect)
}

// appendCallHelper calls a size-charging helper, which works on the
// global: publish the local before, read it back after.
func (e *env) appendCallHelper(b []byte, f uint32) []byte {
	b = e.appendSync(b, e.fuelLocal)
	b = append(b, opCall)
	b = appendU32(b, f)
	return e.appendReload(b, e.fuelLocal)
}

// rewriteBody instruments one function body: fuel charges at segment
// starts, stack weight around calls, NaN canonicalization before bit
// observations, size charges before grow and bulk operations.
func (e *env) rewriteBody(body []byte, typ FuncType) (_ []byte, nanSites int, err error) {
	r := &reader{b: body}
	nDecl, err := vecLen(r, "local declarations", e.cfg.MaxLocals, 2)
	if err != nil {
		return nil, 0, err
	}
	nLocals := uint64(len(typ.Params))
	for i := uint32(0); i < nDecl; i++ {
		c, err := r.u32()
		if err != nil {
			return nil, 0, err
		}
		if _, err := readValType(r); err != nil {
			return nil, 0, err
		}
		nLocals += uint64(c)
		if nLocals+3 > uint64(e.cfg.MaxLocals) {
			return nil, 0, limitErr("locals", nLocals+3, uint64(e.cfg.MaxLocals))
		}
	}
	declEnd := r.pos
	fuel := uint32(nLocals) // the fuel local, then the NaN scratch locals
	e.fuelLocal = fuel
	scratch32 := fuel + 1
	scratch64 := fuel + 2
	weight := uint32(nLocals) + 5 // locals, the three added locals, the frame

	nFuncs := e.m.nFuncs()
	nImports := uint32(len(e.m.imports))
	nGlobals := uint32(len(e.m.globals))
	nTypes := uint32(len(e.m.types))

	out := make([]byte, 0, len(body)+len(body)/2+64)
	seg := make([]byte, 0, 256)
	var segCost int64
	usedScratch := false
	// Only segments that start a function or a loop body check the fuel;
	// the others just subtract. Every unbounded execution passes a check
	// (a loop iteration or a call), so it still ends, at a point fixed by
	// the code alone; the branch-free charges keep straight code fast.
	check := true
	out = e.appendReload(out, fuel)
	flush := func() {
		if segCost > 0 || check {
			out = e.appendCharge(out, fuel, segCost, check)
		}
		out = append(out, seg...)
		seg = seg[:0]
		segCost = 0
		check = false
	}

	// ctrl holds the open constructs: 0 block/function, 1 loop, 2 if, 3 if with else.
	ctrl := []byte{0}
	// exits reports whether a branch to label l leaves the function.
	exits := func(l uint32) bool { return l == uint32(len(ctrl))-1 }
	for {
		if len(ctrl) == 0 {
			break
		}
		start := r.pos
		op, err := r.byte()
		if err != nil {
			return nil, 0, err
		}
		var sub uint32
		boundary := false   // a new segment starts after this instruction
		startsLoop := false // that segment is a loop body
		var pre []byte      // code inserted before the instruction
		switch op {
		case 0x00, 0x01, 0x1a, 0x1b, 0xd1:
			// unreachable nop drop select ref.is_null
		case 0x0f: // return
			pre = e.appendSync(nil, fuel)
		case opBlock, opLoop, opIf:
			if err := e.blockType(r, nTypes); err != nil {
				return nil, 0, err
			}
			if uint32(len(ctrl)) >= e.cfg.MaxNesting {
				return nil, 0, limitErr("block nesting", uint64(len(ctrl))+1, uint64(e.cfg.MaxNesting))
			}
			switch op {
			case opBlock:
				ctrl = append(ctrl, 0)
			case opLoop:
				ctrl = append(ctrl, 1)
				boundary = true
				startsLoop = true
			case opIf:
				ctrl = append(ctrl, 2)
				boundary = true
			}
		case opElse:
			if ctrl[len(ctrl)-1] != 2 {
				return nil, 0, r.errf("else without if")
			}
			ctrl[len(ctrl)-1] = 3
			boundary = true
		case opEnd:
			ctrl = ctrl[:len(ctrl)-1]
			boundary = len(ctrl) > 0
			if !boundary {
				pre = e.appendSync(nil, fuel)
			}
		case 0x0c, 0x0d: // br br_if
			l, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if l >= uint32(len(ctrl)) {
				return nil, 0, r.errf("branch depth %d out of range", l)
			}
			if exits(l) {
				pre = e.appendSync(nil, fuel)
			}
		case 0x0e: // br_table
			n, err := vecLen(r, "br_table targets", 1<<20, 1)
			if err != nil {
				return nil, 0, err
			}
			for i := uint32(0); i <= n; i++ {
				l, err := r.u32()
				if err != nil {
					return nil, 0, err
				}
				if l >= uint32(len(ctrl)) {
					return nil, 0, r.errf("branch depth %d out of range", l)
				}
				if exits(l) && pre == nil {
					pre = e.appendSync(nil, fuel)
				}
			}
		case opCall:
			f, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if f >= nFuncs {
				return nil, 0, r.errf("call %d out of range", f)
			}
			seg = e.appendSync(seg, fuel)
			if f >= nImports {
				seg = e.appendEnter(seg, weight)
			}
			segCost += instrCost(op, 0)
			seg = append(seg, body[start:r.pos]...)
			if f >= nImports {
				seg = e.appendLeave(seg, weight)
			}
			seg = e.appendReload(seg, fuel)
			continue
		case 0x11: // call_indirect
			t, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if t >= nTypes {
				return nil, 0, r.errf("call_indirect type %d out of range", t)
			}
			if _, err := r.u32(); err != nil {
				return nil, 0, err
			}
			seg = e.appendSync(seg, fuel)
			seg = e.appendEnter(seg, weight)
			segCost += instrCost(op, 0)
			seg = append(seg, body[start:r.pos]...)
			seg = e.appendLeave(seg, weight)
			seg = e.appendReload(seg, fuel)
			continue
		case 0x1c: // select t*
			n, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if n != 1 {
				return nil, 0, r.errf("select with %d types", n)
			}
			if _, err := readValType(r); err != nil {
				return nil, 0, err
			}
		case 0x20, 0x21, 0x22:
			l, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if uint64(l) >= nLocals {
				return nil, 0, r.errf("local %d out of range", l)
			}
		case 0x23, 0x24:
			g, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if g >= nGlobals {
				return nil, 0, r.errf("global %d out of range", g)
			}
		case 0x25, 0x26: // table.get table.set
			if _, err := r.u32(); err != nil {
				return nil, 0, err
			}
		case 0x3f, 0x40: // memory.size memory.grow
			c, err := r.byte()
			if err != nil {
				return nil, 0, err
			}
			if c != 0 {
				return nil, 0, fmt.Errorf("%w: memory index %d (multi-memory)", ErrUnsupported, c)
			}
			if op == 0x40 {
				pre = e.appendCallHelper(nil, e.chargePage)
			}
		case opI32Const:
			if _, err := r.sleb(32); err != nil {
				return nil, 0, err
			}
		case opI64Const:
			if _, err := r.sleb(64); err != nil {
				return nil, 0, err
			}
		case opF32Const:
			if _, err := r.bytes(4); err != nil {
				return nil, 0, err
			}
		case opF64Const:
			if _, err := r.bytes(8); err != nil {
				return nil, 0, err
			}
		case 0xd0: // ref.null
			c, err := r.byte()
			if err != nil {
				return nil, 0, err
			}
			if ValType(c) != FuncRef && ValType(c) != ExternRef {
				return nil, 0, r.errf("ref.null type 0x%02x", c)
			}
		case 0xd2: // ref.func
			f, err := r.u32()
			if err != nil {
				return nil, 0, err
			}
			if f >= nFuncs {
				return nil, 0, r.errf("ref.func %d out of range", f)
			}
		case 0xfc:
			if sub, err = r.u32(); err != nil {
				return nil, 0, err
			}
			if pre, err = e.prefixFC(r, sub); err != nil {
				return nil, 0, err
			}
		case 0xfd:
			return nil, 0, fmt.Errorf("%w: SIMD instruction", ErrUnsupported)
		case 0xfe:
			return nil, 0, fmt.Errorf("%w: atomic instruction (threads)", ErrUnsupported)
		case 0x06, 0x07, 0x08, 0x09, 0x0a, 0x18, 0x19, 0x1f:
			return nil, 0, fmt.Errorf("%w: exception handling", ErrUnsupported)
		case 0x12, 0x13, 0x14, 0x15:
			return nil, 0, fmt.Errorf("%w: tail or typed-reference calls", ErrUnsupported)
		default:
			switch {
			case op >= 0x28 && op <= 0x3e: // loads and stores
				align, err := r.u32()
				if err != nil {
					return nil, 0, err
				}
				if align >= 64 {
					return nil, 0, fmt.Errorf("%w: memory index in memarg (multi-memory)", ErrUnsupported)
				}
				if _, err := r.u32(); err != nil {
					return nil, 0, err
				}
				switch op {
				case 0x38: // f32.store
					pre = appendCanon(nil, scratch32, false)
				case 0x39: // f64.store
					pre = appendCanon(nil, scratch64, true)
				}
			case op >= 0x45 && op <= 0xc4: // numeric, no immediates
				switch op {
				case 0x98, 0xbc: // f32.copysign, i32.reinterpret_f32
					pre = appendCanon(nil, scratch32, false)
				case 0xa6, 0xbd: // f64.copysign, i64.reinterpret_f64
					pre = appendCanon(nil, scratch64, true)
				}
			default:
				return nil, 0, fmt.Errorf("%w: opcode 0x%02x", ErrMalformed, op)
			}
		}
		if pre != nil {
			if pre[0] == opLocalTee {
				usedScratch = true
				nanSites++
			}
			seg = append(seg, pre...)
		}
		segCost += instrCost(op, sub)
		seg = append(seg, body[start:r.pos]...)
		if boundary {
			flush()
			check = startsLoop
		}
	}
	if !r.eof() {
		return nil, 0, r.errf("%d bytes after the end of the function", r.remaining())
	}
	flush()

	// Locals: the original declarations, the fuel local, the scratch locals.
	res := make([]byte, 0, len(out)+declEnd+16)
	dr := &reader{b: body}
	_, _ = dr.u32()
	if usedScratch {
		res = appendU32(res, nDecl+3)
		res = append(res, body[dr.pos:declEnd]...)
		res = append(res, 1, byte(I64), 1, byte(F32), 1, byte(F64))
	} else {
		res = appendU32(res, nDecl+1)
		res = append(res, body[dr.pos:declEnd]...)
		res = append(res, 1, byte(I64))
	}
	return append(res, out...), nanSites, nil
}

func (e *env) blockType(r *reader, nTypes uint32) error {
	if r.eof() {
		return r.errf("unexpected end")
	}
	c := r.b[r.pos]
	if c == blockEmpty {
		r.pos++
		return nil
	}
	if c&0xc0 == 0x40 { // a single negative byte: a value type
		_, err := readValType(r)
		return err
	}
	t, err := r.sleb(33)
	if err != nil {
		return err
	}
	if t < 0 || t >= int64(nTypes) {
		return r.errf("block type %d out of range", t)
	}
	return nil
}

// prefixFC reads the immediates of a 0xFC instruction and returns the code
// that charges its size.
func (e *env) prefixFC(r *reader, sub uint32) ([]byte, error) {
	zero := func() error {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if c != 0 {
			return fmt.Errorf("%w: memory index %d (multi-memory)", ErrUnsupported, c)
		}
		return nil
	}
	idx := func() error { _, err := r.u32(); return err }
	var err error
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7: // saturating truncation
		return nil, nil
	case 8: // memory.init
		if err = idx(); err == nil {
			err = zero()
		}
		return e.appendCallHelper(nil, e.chargeByte), err
	case 9, 13: // data.drop elem.drop
		return nil, idx()
	case 10: // memory.copy
		if err = zero(); err == nil {
			err = zero()
		}
		return e.appendCallHelper(nil, e.chargeByte), err
	case 11: // memory.fill
		return e.appendCallHelper(nil, e.chargeByte), zero()
	case 12, 14: // table.init table.copy
		if err = idx(); err == nil {
			err = idx()
		}
		return e.appendCallHelper(nil, e.chargeElem), err
	case 15, 17: // table.grow table.fill
		return e.appendCallHelper(nil, e.chargeElem), idx()
	case 16: // table.size
		return nil, idx()
	}
	return nil, fmt.Errorf("%w: instruction 0xfc %d", ErrUnsupported, sub)
}
