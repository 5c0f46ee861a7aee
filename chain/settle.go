package chain

import "fmt"

// settleEpoch closes epoch n at the first block of epoch n+1, after
// beginEpoch (blockRules order) and before the block's transactions. It
// goes over every registered node, in key order (so it costs one read per
// node and one short scan of each node without an outcome):
//
//   - a node that holds at least one piece now (its hold/ prefix is not
//     empty), owed proofs in epoch n (n ≥ Node.ProveFrom: it was not given
//     its first pieces during epoch n) and has no outcome for epoch n gets
//     OutcomeMissing recorded;
//   - every node with an outcome for epoch n (proved, invalid or missing)
//     gets one entry appended to Node.Uptime, true only for proved, and
//     Uptime is trimmed to the last Params.UptimeWindow entries;
//     MissedInRow counts consecutive missing outcomes;
//   - a node recorded missing is contained (contain.go): the challenges
//     it did not answer — epoch n's, or the contained ones it was asked
//     again — are asked again in epoch n+1, and on, until it answers.
//
// A node that holds nothing and proved nothing gets no entry: it is not
// measured, and an empty window counts as up (uptimeOK). A missing outcome
// is not an audit: it costs uptime, not audit score (reputation.go).
func settleEpoch(b *blockCtx) error {
	if b.newEpoch == nil || b.newEpoch.Number == 0 {
		return nil
	}
	n := b.newEpoch.Number - 1
	var closed Epoch
	if found, err := getValue(b.st, epochKey(n), &closed); err != nil {
		return err
	} else if !found {
		return fmt.Errorf("settling epoch %d: no epoch record", n)
	}
	var nodes []Node
	err := b.scanAll([]byte(prefixNode), func(k, v []byte) error {
		var nd Node
		if err := Unmarshal(v, &nd); err != nil {
			return err
		}
		nodes = append(nodes, nd)
		return nil
	})
	if err != nil {
		return err
	}
	for i := range nodes {
		nd := &nodes[i]
		var o EpochOutcome
		found, err := getValue(b.st, proofKey(n, nd.Address), &o)
		if err != nil {
			return err
		}
		if !found {
			holds := false
			if err := scanN(b.st, heldPrefix(nd.Address), 1, func(_, _ []byte) error { holds = true; return nil }); err != nil {
				return err
			}
			if !holds || n < nd.ProveFrom {
				continue // nothing to prove, or given its first pieces during epoch n
			}
			o = EpochOutcome{Epoch: n, Holder: nd.Address, Outcome: OutcomeMissing, Height: b.height}
			if err := setValue(b.st, proofKey(n, nd.Address), &o); err != nil {
				return err
			}
			// It is asked the same leaves again until it answers.
			if err := contain(b.st, b.params, n, closed.Seed, nd.Address); err != nil {
				return err
			}
		}
		nd.Uptime = appendUptime(nd.Uptime, o.Outcome == OutcomeProved, b.params.UptimeWindow)
		if o.Outcome == OutcomeMissing {
			nd.MissedInRow++
			nd.ProofsMissed++
		} else {
			nd.MissedInRow = 0
		}
		if err := setValue(b.st, nodeKey(nd.Address), nd); err != nil {
			return err
		}
	}
	return nil
}

// appendUptime appends one epoch's entry to a node's uptime window and
// keeps the last w entries (all of them if w is 0), in a new slice.
func appendUptime(window []bool, up bool, w uint64) []bool {
	out := append(append(make([]bool, 0, len(window)+1), window...), up)
	if w > 0 && uint64(len(out)) > w {
		out = out[uint64(len(out))-w:]
	}
	return out
}
