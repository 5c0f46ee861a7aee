package chain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/coop-network/coop/proofs"
)

// TypeProveStorage is the type of ProveStorage transactions.
const TypeProveStorage = "prove_storage"

// ProveStorage is a holder's answer to its challenges of epoch Epoch
// (challenge.go): one proofs.Proof (binary encoding, proofs.Proof
// MarshalBinary) per challenge, in the challenges' order. The signer is the
// holder.
//
// Challenges is ChallengesHash of the challenges the holder answered, as it
// read them from /challenges/<holder>. Challenges are drawn over the pieces
// the ledger credits to the holder when the proof executes, so a placement
// or removal between the holder's read and its proof's block changes them:
// the ledger then refuses the proof as stale (a retry, not a fault) instead
// of judging answers to questions it did not ask.
type ProveStorage struct {
	Epoch      uint64   `cbor:"epoch"`
	Challenges Hash     `cbor:"challenges"`
	Proofs     [][]byte `cbor:"proofs"`
}

// TxType implements Body.
func (*ProveStorage) TxType() string { return TypeProveStorage }

// challengesDomain separates ChallengesHash from every other hash.
const challengesDomain = "coop/challenges/v1\x00"

// ChallengesHash is the hash a ProveStorage names for the challenges it
// answers: SHA-256 of a domain tag and their canonical CBOR.
func ChallengesHash(cs []Challenge) Hash {
	if cs == nil {
		cs = []Challenge{}
	}
	return sha256.Sum256(append([]byte(challengesDomain), mustMarshal(cs)...))
}

// Outcomes of a holder's epoch (EpochOutcome.Outcome).
const (
	// OutcomeProved: the holder's ProveStorage answered every challenge.
	OutcomeProved = "proved"
	// OutcomeInvalid: the holder's ProveStorage answered a challenge
	// wrongly (a proof that does not decode, names another leaf or piece
	// size, or does not lead to the piece's root). A fault.
	OutcomeInvalid = "invalid"
	// OutcomeMissing: the holder held pieces when the epoch ended and
	// recorded no proof in it (settleEpoch).
	OutcomeMissing = "missing"
)

// prefixProof keys the epoch outcomes: proof/<epoch:8><holder:20> →
// EpochOutcome.
const prefixProof = "proof/"

func proofKey(epoch uint64, holder Address) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixProof), epoch)
	return append(k, holder[:]...)
}

// EpochOutcome is what the ledger recorded of Holder's proof for epoch
// Epoch, at height Height: the answer to /outcome/<epoch>/<holder>. There
// is at most one per holder and epoch.
type EpochOutcome struct {
	Epoch   uint64  `cbor:"epoch" json:"epoch"`
	Holder  Address `cbor:"holder" json:"holder"`
	Outcome string  `cbor:"outcome" json:"outcome"`
	Height  int64   `cbor:"height" json:"height"`
}

// applyProveStorage judges a holder's proofs for the current epoch and
// records the outcome. The checks that refuse the transaction (and record
// nothing) come first: the signer is an active node; Epoch is the current
// epoch (ErrProofLate otherwise: the window of epoch n's proof is epoch n
// itself); no outcome is recorded yet for the signer and epoch (ErrExists);
// the signer holds something (ErrInvalid: nothing to prove); Challenges is
// the hash of the signer's challenges recomputed now from the epoch seed
// and every piece it holds, or its contained challenges (contain.go) (ErrStaleChallenges otherwise, not a fault); one
// proof per challenge (ErrInvalid: malformed, not judged). Then every
// proof is judged and the transaction succeeds either way, recording
// "proved" (ProofsPassed + 1; everything it holds for others counts as
// proved for its earned quota: ProvedForOthers = HeldForOthers) or
// "invalid" (ProofsFailed + 1, the wrongly answered pieces marked lost);
// either is an audit (reputation.go) and clears the signer's containment.
func applyProveStorage(x *execCtx, b *ProveStorage) error {
	node, found, err := x.loadNode(x.signer)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: signer %s is not a node", ErrHolderNotRegistered, x.signer)
	}
	if node.Status == NodeDisqualified {
		return fmt.Errorf("%w: node %s is %s", ErrHolderUnavailable, x.signer, node.Status)
	}
	e, found, err := currentEpoch(x.st)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%w: proof for epoch %d arrived before the first epoch", ErrProofLate, b.Epoch)
	}
	if b.Epoch != e.Number {
		return fmt.Errorf("%w: proof for epoch %d arrived in epoch %d", ErrProofLate, b.Epoch, e.Number)
	}
	key := proofKey(e.Number, x.signer)
	var prev EpochOutcome
	if found, err := getValue(x.st, key, &prev); err != nil {
		return err
	} else if found {
		return fmt.Errorf("%w: node %s's epoch %d is already recorded as %s (height %d)", ErrExists, x.signer, e.Number, prev.Outcome, prev.Height)
	}
	held, _, cs, contained, err := epochChallenges(x.st, x.params, e.Seed, x.signer)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("%w: node %s holds nothing: nothing to prove", ErrInvalid, x.signer)
	}
	if want := ChallengesHash(cs); b.Challenges != want && contained {
		return fmt.Errorf("%w: the proof answers challenges %s, node %s is contained and must answer the challenges it missed, %s (read /challenges again)", ErrStaleChallenges, b.Challenges, x.signer, want)
	} else if b.Challenges != want {
		return fmt.Errorf("%w: the proof answers challenges %s, node %s's challenges are now %s (its pieces changed: read /challenges again)", ErrStaleChallenges, b.Challenges, x.signer, want)
	}
	if len(b.Proofs) != len(cs) {
		return fmt.Errorf("%w: %d proofs for %d challenges", ErrInvalid, len(b.Proofs), len(cs))
	}
	outcome := OutcomeProved
	var failed []HeldPiece // the pieces of wrongly answered challenges, once each
	passed := make([]bool, len(cs))
	for i, c := range cs {
		hp, ok := proofAnswers(held, c, b.Proofs[i])
		if passed[i] = ok; ok {
			continue
		}
		outcome = OutcomeInvalid
		if !slices.ContainsFunc(failed, func(f HeldPiece) bool {
			return f.File == hp.File && f.Piece.Segment == hp.Piece.Segment && f.Piece.Index == hp.Piece.Index
		}) {
			failed = append(failed, hp)
		}
	}
	if outcome == OutcomeProved {
		node.ProofsPassed++
		// Everything it holds for others now counts for its earned quota
		// (quota.go).
		node.ProvedForOthers = node.HeldForOthers
	} else {
		node.ProofsFailed++
	}
	// A wrong answer is evidence the holder lost the piece: it is marked
	// lost (repair moves it). Every challenge is one audit, in order: a
	// holder that lost everything fails c audits at once (disqualified
	// in one epoch at the default parameters), one that lost a few leaves
	// fails now and then (reputation.go).
	for _, hp := range failed {
		if err := markLost(x.st, x.height, node, hp, LostFailedProof); err != nil {
			return err
		}
	}
	for _, ok := range passed {
		if recordAudit(x.params, node, ok) {
			if err := disqualify(x.st, x.height, node); err != nil {
				return err
			}
			break
		}
	}
	if err := setValue(x.st, nodeKey(x.signer), node); err != nil {
		return err
	}
	// Judged: a contained holder answered (contain.go).
	if err := release(x.st, x.signer); err != nil {
		return err
	}
	x.outcome = outcome
	return setValue(x.st, key, &EpochOutcome{Epoch: e.Number, Holder: x.signer, Outcome: outcome, Height: x.height})
}

// proofAnswers returns the challenged piece and whether raw, a binary
// proofs.Proof, proves challenge c: it decodes, proves leaf c.Leaf of a piece of the challenged piece's
// recorded Leaves, and leads to its recorded Root. held is in key order
// (file, segment, index), where the challenged piece is looked up.
func proofAnswers(held []HeldPiece, c Challenge, raw []byte) (HeldPiece, bool) {
	i, found := slices.BinarySearchFunc(held, c, compareHeldChallenge)
	if !found {
		panic("chain: a challenge names a piece its holder does not hold") // challenges are drawn from held
	}
	pc := held[i].Piece
	p, err := proofs.DecodeProof(raw)
	if err != nil {
		return held[i], false
	}
	if p.Index != c.Leaf || p.Leaves != pc.Leaves {
		return held[i], false
	}
	return held[i], proofs.Verify(proofs.Hash(pc.Root), p) == nil
}
