package chain

import "math/bits"

// earnedQuota is what pledging p bytes earns: p / RNorm.
func earnedQuota(params Params, pledge uint64) uint64 {
	if params.RNorm == 0 {
		return 0
	}
	return pledge / params.RNorm
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

// QuotaLimit is the number of bytes an account may have placed: the
// allowance, plus its earned quota while its node is active and up.
func QuotaLimit(params Params, acct *Account, n *Node) uint64 {
	limit := params.Allowance
	if n != nil && n.Status == NodeActive && uptimeOK(params, n) {
		if s, ok := addUint64(limit, acct.QuotaEarned); ok {
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
