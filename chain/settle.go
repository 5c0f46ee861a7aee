package chain

import (
	"bytes"
	"fmt"

	corestore "cosmossdk.io/core/store"
)

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
	// Every read comes before every write: the writes are buffered in the
	// order made and applied after the loop, in that order, so the tree's
	// shape and the app hash are what writing them as they came made.
	// Each node's settlement reads only its own records (its outcome, its
	// hold/ prefix, its containment), which no other node's settlement
	// writes, so the reads see what they saw then. What changes is the
	// cost: an iterator over the working tree ranges over every key the
	// block wrote so far (iavl's unsaved fast-node additions), so scanning
	// each node's hold/ prefix after the writes for the nodes before it was
	// quadratic in the nodes (TestLedgerScale, docs/ledger.md).
	w := newOrderedWrites(b.st)
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
		found, err := getValue(w, proofKey(n, nd.Address), &o)
		if err != nil {
			return err
		}
		if !found {
			holds := false
			if err := scanN(w, heldPrefix(nd.Address), 1, func(_, _ []byte) error { holds = true; return nil }); err != nil {
				return err
			}
			if !holds || n < nd.ProveFrom {
				continue // nothing to prove, or given its first pieces during epoch n
			}
			o = EpochOutcome{Epoch: n, Holder: nd.Address, Outcome: OutcomeMissing, Height: b.height}
			if err := setValue(w, proofKey(n, nd.Address), &o); err != nil {
				return err
			}
			// It is asked the same leaves again until it answers.
			if err := contain(w, b.params, n, closed.Seed, nd.Address); err != nil {
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
		if err := setValue(w, nodeKey(nd.Address), nd); err != nil {
			return err
		}
	}
	return w.flush()
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

// orderedWrites buffers writes over a working tree and applies them in
// the order they were made (flush). Get sees the buffered writes; an
// iterator is refused over a key prefix (up to its first '/') that a
// buffered write is under, since it would not see them.
type orderedWrites struct {
	st       kvIterWriter
	order    []kvPair          // every write as made; a nil value deletes
	writes   map[string][]byte // the last write of each key
	prefixes map[string]bool
}

// kvIterWriter is state that can be written and scanned.
type kvIterWriter interface {
	kvWriter
	Iterator(start, end []byte, ascending bool) (corestore.Iterator, error)
}

func newOrderedWrites(st kvIterWriter) *orderedWrites {
	return &orderedWrites{st: st, writes: map[string][]byte{}, prefixes: map[string]bool{}}
}

func (o *orderedWrites) Get(key []byte) ([]byte, error) {
	if v, ok := o.writes[string(key)]; ok {
		return v, nil
	}
	return o.st.Get(key)
}

func (o *orderedWrites) put(key, value []byte) {
	o.order = append(o.order, kvPair{key: bytes.Clone(key), value: value})
	o.writes[string(key)] = value
	o.prefixes[keyPrefix(key)] = true
}

func (o *orderedWrites) Set(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	o.put(key, value)
	return nil
}

func (o *orderedWrites) Delete(key []byte) error {
	o.put(key, nil)
	return nil
}

// Iterator scans the tree under it; a range whose start is under a
// prefix with buffered writes is refused.
func (o *orderedWrites) Iterator(start, end []byte, ascending bool) (corestore.Iterator, error) {
	if p := keyPrefix(start); p == "" || o.prefixes[p] {
		return nil, fmt.Errorf("scanning %q over writes not applied yet", start)
	}
	return o.st.Iterator(start, end, ascending)
}

// flush applies the writes in the order made, as the tree would have
// had them, and empties the buffer.
func (o *orderedWrites) flush() error {
	for _, kv := range o.order {
		var err error
		if kv.value == nil {
			err = o.st.Delete(kv.key)
		} else {
			err = o.st.Set(kv.key, kv.value)
		}
		if err != nil {
			return fmt.Errorf("writing %q: %w", kv.key, err)
		}
	}
	o.order, o.writes, o.prefixes = nil, map[string][]byte{}, map[string]bool{}
	return nil
}

// keyPrefix is key up to and including its first '/' ("" if none).
func keyPrefix(key []byte) string {
	if i := bytes.IndexByte(key, '/'); i >= 0 {
		return string(key[:i+1])
	}
	return ""
}
