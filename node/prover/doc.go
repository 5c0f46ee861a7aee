// Package prover answers a holder's storage challenges.
//
// Each epoch the ledger draws chain.ChallengesPerEpoch challenges over the
// pieces it credits to a holder (/challenges/<holder>, chain.ChallengeSet):
// one leaf of one piece each. A [Prover] polls the ledger's epoch, reads its
// node's challenges once per epoch, checks that the ledger has no outcome
// of it for the epoch yet (a restarted node does not answer twice), proves
// each challenged leaf from the block store and sends the proofs in one
// chain.ProveStorage.
//
// Levels are the upper levels of a piece's Merkle tree (proofs.Levels, 32
// bytes per 64 KiB of piece, 0.05 %), written beside the piece when it
// arrives ([LevelStore]). With them a challenge costs one 64 KiB read
// (proofs.ProveWithLevels); without them, or if they do not check against the
// piece's recorded root, the prover falls back to proofs.ProveAt, which reads
// and hashes the whole piece.
package prover
