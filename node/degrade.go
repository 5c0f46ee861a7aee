package node

import (
	"fmt"

	"github.com/coop-network/coop/node/api"
)

// fitRedundancy is the redundancy a put asked as k data and m parity pieces
// per segment gets on a network of nodes distinct usable holders (this
// node included if it pledged): the asked k and m if k+m ≤ nodes; else the
// same k with fewer parity pieces, m' = nodes−k, if that leaves at least
// one; else nodes whole copies (k=1, m=nodes−1), which is the local store
// alone when this node is the only one. A put that asked no parity (m = 0)
// keeps none: k shrinks to nodes. ok is false only with no node at all.
func fitRedundancy(k, m, nodes int) (k2, m2 int, ok bool) {
	switch {
	case nodes <= 0:
		return k, m, false
	case k+m <= nodes:
		return k, m, true
	case m == 0:
		return nodes, 0, true
	case nodes-k >= 1:
		return k, nodes - k, true
	default:
		return 1, nodes - 1, true
	}
}

// degradedNote is the one line a put reports when it stored the file below
// the asked redundancy: what was used, what was asked and why, and whether
// the file is raised to the asked parity as nodes join (raises: this
// node's repairer runs; it raises the node's own files, node/repair).
func degradedNote(askedK, askedM, k, m, nodes int, selfOnly, raises bool) string {
	var used string
	switch {
	case selfOnly:
		used = "in this node's store only (1 copy)"
	case nodes == 1:
		used = "as 1 copy on 1 node"
	case k == 1:
		used = fmt.Sprintf("as %d whole copies on %d nodes", m+1, nodes)
	default:
		used = fmt.Sprintf("at k=%d m=%d on %d nodes", k, m, nodes)
	}
	var later string
	switch {
	case askedM == 0:
		later = "no parity was asked, so there is nothing to raise"
	case askedM <= m:
		later = fmt.Sprintf("it survives %d losses as asked, in more room, and stays so", askedM)
	case !raises:
		later = "it will not be raised when nodes join (this node's repairer is off; put it again then)"
	case k == 1:
		later = fmt.Sprintf("it will be raised to %d copies as nodes join (surviving %d losses, as k=%d m=%d would, in more room)", askedM+1, askedM, askedK, askedM)
	default:
		later = fmt.Sprintf("it will be raised to k=%d m=%d as nodes join", k, askedM)
	}
	return fmt.Sprintf("stored %s (asked k=%d m=%d, which needs %d nodes; the network has %d): %s",
		used, askedK, askedM, askedK+askedM, nodes, later)
}

// degrade lowers a put's redundancy to what cands can hold, unless the put
// is strict. It returns the k and m to use, the parity to record as asked
// on the ledger (chain.PlaceFile.AskedM: 0 unless the file is stored with
// fewer parity pieces than asked, so can be raised) and the note for the
// result ("" if nothing was lowered). raises says whether this node's
// repairer will raise the file as nodes join.
func degrade(k, m int, cands []*candidate, o api.PutOptions, raises bool) (k2, m2, askedM int, note string) {
	if o.Strict || len(cands) >= k+m {
		return k, m, 0, ""
	}
	k2, m2, ok := fitRedundancy(k, m, len(cands))
	if !ok {
		return k, m, 0, ""
	}
	if m > m2 {
		askedM = m
	}
	selfOnly := len(cands) == 1 && cands[0].Self
	return k2, m2, askedM, degradedNote(k, m, k2, m2, len(cands), selfOnly, raises)
}
