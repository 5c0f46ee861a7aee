package chain

import "crypto/sha256"

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
