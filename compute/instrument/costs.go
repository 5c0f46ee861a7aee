package instrument

// CostTableVersion identifies the cost table below. Fuel used is only
// comparable between runs with the same version; any change to a cost, to
// where segments start, or to the size charges bumps it.
const CostTableVersion = 1

// Cost table, version 1. Every instruction costs at least 1, so every loop
// iteration and every call costs fuel. A segment (a straight run of code
// between control-flow joins) is charged the sum of its instructions' costs
// when it is entered.
const (
	costDefault      = 1  // any instruction not listed
	costLoadStore    = 2  // loads and stores
	costDivRem       = 4  // integer div/rem, float div and sqrt
	costCall         = 5  // call (to a guest or a host function)
	costCallIndirect = 10 // call_indirect
	costGrowBase     = 10 // memory.grow, table.grow, plus size charges below
	costBulkBase     = 10 // memory.copy/fill/init, table.copy/fill/init

	// GrowPageCost is charged per 64 KiB page requested by memory.grow,
	// whether or not the grow succeeds.
	GrowPageCost = 256
	// BulkBytesPerFuel is how many bytes memory.copy, memory.fill and
	// memory.init move per unit of fuel (rounded down).
	BulkBytesPerFuel = 16
	// TableElemCost is charged per element of table.grow/fill/copy/init.
	TableElemCost = 1
)

// instrCost is the static cost of one instruction given its opcode (and the
// sub-opcode of 0xFC prefixed instructions).
func instrCost(op byte, sub uint32) int64 {
	switch {
	case op == 0x10:
		return costCall
	case op == 0x11:
		return costCallIndirect
	case op >= 0x28 && op <= 0x3e:
		return costLoadStore
	case op == 0x40:
		return costGrowBase
	case op == 0x6d, op == 0x6e, op == 0x6f, op == 0x70, // i32 div_s div_u rem_s rem_u
		op == 0x7f, op == 0x80, op == 0x81, op == 0x82, // i64 div_s div_u rem_s rem_u
		op == 0x91, op == 0x95, // f32 sqrt div
		op == 0x9f, op == 0xa3: // f64 sqrt div
		return costDivRem
	case op == 0xfc && sub >= 8 && sub <= 17 && sub != 9 && sub != 13 && sub != 16:
		return costBulkBase
	}
	return costDefault
}
