package chain

import "math/bits"

// earnedQuota is what holding earns node n's account: the bytes it holds
// for other accounts × EarnPercent / 100 (saturating, never overflowing).
// The pledge earns nothing; a node that holds nothing earns 0.
func earnedQuota(params Params, n *Node) uint64 {
	if n == nil {
		return 0
	}
	return earnedFor(params, n.HeldForOthers)
}

// earnedFor is what holding held bytes for others earns: held ×
// EarnPercent / 100, saturating.
func earnedFor(params Params, held uint64) uint64 {
	hi, lo := bits.Mul64(held, params.EarnPercent)
	if hi >= 100 {
		return ^uint64(0)
	}
	q, _ := bits.Div64(hi, lo, 100)
	return q
}

// uptimeOK reports whether a node's uptime over its window reaches
// Params.UptimeMinPercent. An empty window (no measurement yet) counts as up.
// Integer arithmetic only: no floats in state transitions.
func uptimeOK(params Params, n *Node) bool {
	w := n.Uptime
	if params.UptimeWindow > 0 && uint64(len(w)) > params.UptimeWindow {
		w = w[uint64(len(w))-params.UptimeWindow:]
	}
	if len(w) == 0 {
		return true
	}
	up := uint64(0)
	for _, ok := range w {
		if ok {
			up++
		}
	}
	return up*100 >= params.UptimeMinPercent*uint64(len(w))
}

// EarnedQuota is the quota node n's account earns by holding (0 for nil).
func EarnedQuota(params Params, n *Node) uint64 { return earnedQuota(params, n) }

// EarningUsable reports whether node n's earned quota counts toward its
// account's limit now: the node is active (not suspended or disqualified)
// and its uptime over the window reaches Params.UptimeMinPercent.
func EarningUsable(params Params, n *Node) bool {
	return n != nil && n.Status == NodeActive && uptimeOK(params, n)
}

// QuotaLimit is the number of bytes an account may have placed: the
// allowance, plus the quota its node n (nil if it has none) earns by holding
// pieces for others, while the node is active and up.
func QuotaLimit(params Params, acct *Account, n *Node) uint64 {
	limit := params.Allowance
	if EarningUsable(params, n) {
		if s, ok := addUint64(limit, earnedQuota(params, n)); ok {
			limit = s
		} else {
			limit = ^uint64(0)
		}
	}
	return limit
}

// addUint64 returns a+b and whether it did not overflow.
func addUint64(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	return s, carry == 0
}
