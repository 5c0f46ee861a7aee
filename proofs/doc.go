// Package proofs implements proof-of-retrievability: Merkle commitments over a
// piece's fixed-size leaves, challenges, proofs and their verification. It is
// pure (no I/O beyond what callers hand it) and used both by the ledger to
// verify and by nodes to prove.
package proofs
