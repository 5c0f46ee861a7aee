package chain

import (
	"math"
	"math/bits"
)

// Reputation: every challenge a judged proof answers (and every fault a
// ReportFault proves) is an audit of the holder, success or failure. The audit score is a
// Beta-distribution estimate with forgetting, after Storj's: on each audit
//
//	α ← λ·α + (1 if it passed)
//	β ← λ·β + (1 if it failed)
//	score = α / (α + β)
//
// with λ = Params.RepLambdaPermille / 1000. α and β are kept in fixed point
// (RepScale units) and multiplied by λ with integer arithmetic, rounding
// down, so every node computes the same state. A node starts at the steady
// state of a node that always passes (α = 1/(1−λ), β = 0, score 1): a new
// node is presumed honest, and a failure costs it as much as an old one.
//
// The score is kept apart from uptime (the online score): a missed epoch is
// not an audit, so a node that was merely offline keeps its score (it loses
// its uptime, and with it its earned quota, and its pieces are repaired
// elsewhere after Params.RepairAfterMissed missed epochs).
//
// Status follows the score: below Params.SuspendBelowPermille a node is
// suspended (no new pieces, earned quota unusable; it keeps proving and is
// active again once its score is back above the threshold); below
// Params.DisqualifyBelowPermille it is disqualified for good: all its pieces
// are marked lost (lost.go), so its earned quota goes, and it is given no
// new pieces. docs/proofs.md has the numbers.

// RepScale is the fixed-point unit of Node.RepAlpha and Node.RepBeta.
const RepScale = 1_000_000

// Node statuses beyond active and disqualified (state.go).
const (
	// NodeSuspended: audit score below Params.SuspendBelowPermille.
	NodeSuspended = "suspended"
)

// initialAlpha is a new node's α: the steady state 1/(1−λ) of a node that
// passes every audit, in RepScale units.
func initialAlpha(p Params) uint64 {
	if p.RepLambdaPermille >= 1000 {
		return RepScale
	}
	return RepScale * 1000 / (1000 - p.RepLambdaPermille)
}

// AuditScore is a node's audit score in permille (1000 = never failed).
// A node with no audit history (α = β = 0, as stored before its first)
// scores 1000.
func AuditScore(n *Node) uint64 {
	sum, ok := addUint64(n.RepAlpha, n.RepBeta)
	if sum == 0 {
		return 1000
	}
	if !ok {
		return 1000 // unreachable: α, β ≤ RepScale/(1−λ)
	}
	hi, lo := bits.Mul64(n.RepAlpha, 1000)
	q, _ := bits.Div64(hi, lo, sum)
	return q
}

// scaleLambda returns v·λ, rounded down.
func scaleLambda(p Params, v uint64) uint64 {
	hi, lo := bits.Mul64(v, p.RepLambdaPermille)
	q, _ := bits.Div64(hi, lo, 1000) // hi < λ < 1000 (Params.Validate)
	return q
}

// recordAudit counts one audit of n, passed or failed, and moves its status:
// active ↔ suspended by Params.SuspendBelowPermille, and to disqualified
// (for good) below Params.DisqualifyBelowPermille. It reports whether n was
// disqualified by this audit; the caller then marks its pieces lost
// (disqualify) and saves n.
func recordAudit(p Params, n *Node, passed bool) (disqualified bool) {
	if n.Status == NodeDisqualified {
		return false
	}
	if n.RepAlpha == 0 && n.RepBeta == 0 {
		n.RepAlpha = initialAlpha(p)
	}
	n.RepAlpha, n.RepBeta = scaleLambda(p, n.RepAlpha), scaleLambda(p, n.RepBeta)
	if passed {
		n.RepAlpha += RepScale
	} else {
		n.RepBeta += RepScale
	}
	switch s := AuditScore(n); {
	case s < p.DisqualifyBelowPermille:
		n.Status = NodeDisqualified
		return true
	case s < p.SuspendBelowPermille:
		n.Status = NodeSuspended
	default:
		n.Status = NodeActive
	}
	return false
}

// disqualify marks every piece n holds lost (reason LostDisqualified): the
// node's Used and HeldForOthers drop to what its lost pieces leave (0), so
// its earned quota goes. n's status must already be NodeDisqualified; the
// caller saves n. The pieces are bounded by MaxChallengePieces (a holder
// with more is never challenged, so never disqualified by a proof). Its
// containment, if any, ends: it holds nothing to be asked about.
func disqualify(st kvWriter, height int64, n *Node) error {
	entries, err := scanPrefix(st, heldPrefix(n.Address), math.MaxInt32)
	if err != nil {
		return err
	}
	for _, e := range entries {
		var hp HeldPiece
		if err := Unmarshal(e.value, &hp); err != nil {
			return err
		}
		if err := markLost(st, height, n, hp, LostDisqualified); err != nil {
			return err
		}
	}
	return release(st, n.Address)
}
