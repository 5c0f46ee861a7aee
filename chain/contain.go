package chain

import (
	"bytes"
	"cmp"
	"errors"
	"slices"
)

// Containment. A holder whose epoch settles as missing (settle.go) is
// contained: the challenges it did not answer are stored, and it is asked
// the same leaves again — by /challenges/<holder> and by the ProveStorage
// rule — every epoch until it answers. Any judged outcome (proved or
// invalid) clears containment; a wrong answer to a contained challenge is
// a failed audit like any other (and marks the piece lost, lost.go).
//
// A missed epoch is not an audit (reputation.go): it costs uptime only. So
// without containment a holder that cannot answer this epoch's challenges
// could stay silent, lose one epoch of uptime and get fresh challenges
// that may avoid its lost bytes. Contained, skipping buys it nothing: the
// question stays until it answers it, or until its pieces go (a challenge
// on a piece no longer credited to it — removed, reported lost, repaired
// away — is dropped; when none is left it gets fresh challenges).

// prefixContain keys the contained holders: contain/<holder:20> →
// Containment.
const prefixContain = "contain/"

func containKey(holder Address) []byte { return append([]byte(prefixContain), holder[:]...) }

// Containment is a contained holder's record: the challenges it missed,
// first asked in epoch Epoch.
type Containment struct {
	Holder     Address     `cbor:"holder" json:"holder"`
	Epoch      uint64      `cbor:"epoch" json:"epoch"`
	Challenges []Challenge `cbor:"challenges" json:"challenges"`
}

// epochChallenges returns every piece holder is recorded to hold in st (key
// order), their total bytes, and the challenges it must answer in an epoch
// with seed seed: its contained challenges that are still on pieces
// credited to it (contained = true), or, if it is not contained or none of
// them is left, its Params.ChallengesPerEpoch fresh challenges
// (holderChallenges; nil when it holds nothing).
func epochChallenges(st kvReader, p Params, seed Hash, holder Address) (held []HeldPiece, total uint64, cs []Challenge, contained bool, err error) {
	held, total, fresh, err := holderChallenges(st, seed, holder, int(p.ChallengesPerEpoch))
	if err != nil {
		return nil, 0, nil, false, err
	}
	var c Containment
	found, err := getValue(st, containKey(holder), &c)
	if err != nil {
		return nil, 0, nil, false, err
	}
	if found {
		if kept := stillHeld(held, c.Challenges); len(kept) > 0 {
			return held, total, kept, true, nil
		}
	}
	return held, total, fresh, false, nil
}

// stillHeld returns the challenges of cs, in order, whose piece is in held
// (key order) with the same piece id, and whose leaf is one of its leaves.
func stillHeld(held []HeldPiece, cs []Challenge) []Challenge {
	var out []Challenge
	for _, c := range cs {
		i, found := slices.BinarySearchFunc(held, c, compareHeldChallenge)
		if found && held[i].Piece.ID == c.Piece && c.Leaf < held[i].Piece.Leaves {
			out = append(out, c)
		}
	}
	return out
}

// compareHeldChallenge orders a held piece against a challenge's piece by
// (file, segment, index), the hold/ key order.
func compareHeldChallenge(hp HeldPiece, c Challenge) int {
	if d := bytes.Compare(hp.File[:], c.File[:]); d != 0 {
		return d
	}
	if d := cmp.Compare(hp.Piece.Segment, c.Segment); d != 0 {
		return d
	}
	return cmp.Compare(hp.Piece.Index, c.Index)
}

// contain records that holder missed epoch n, whose seed is seed: the
// challenges it had to answer (epochChallenges over what it holds now) are
// stored, unless it was already contained on challenges still left, which
// stay as they are (with their first epoch). It reads every piece the
// holder holds, as its proof would have; a holder with more than
// MaxChallengePieces (never challenged) is not contained.
func contain(st kvWriter, p Params, n uint64, seed Hash, holder Address) error {
	_, _, cs, contained, err := epochChallenges(st, p, seed, holder)
	if errors.Is(err, ErrInvalid) {
		// It holds more pieces than challenges are drawn over: it is
		// never challenged, so there is nothing to contain it on (and a
		// block rule must not fail).
		return nil
	}
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return nil
	}
	if contained {
		var c Containment
		if _, err := getValue(st, containKey(holder), &c); err != nil {
			return err
		}
		if slices.Equal(c.Challenges, cs) {
			return nil
		}
		return setValue(st, containKey(holder), &Containment{Holder: holder, Epoch: c.Epoch, Challenges: cs})
	}
	return setValue(st, containKey(holder), &Containment{Holder: holder, Epoch: n, Challenges: cs})
}

// release clears holder's containment, if any: it answered.
func release(st kvWriter, holder Address) error {
	b, err := st.Get(containKey(holder))
	if err != nil || b == nil {
		return err
	}
	return st.Delete(containKey(holder))
}
