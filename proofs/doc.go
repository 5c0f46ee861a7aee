// Package proofs implements proof-of-retrievability commitments: a Merkle tree
// over a piece's fixed-size leaves (LeafSize bytes, the last one zero-padded),
// whose root is the piece's commitment, proofs that one leaf belongs to a
// committed piece, their compact binary encoding and their verification.
//
// The tree has the shape of RFC 9162 (Certificate Transparency v2): for n
// leaves, the left subtree holds the largest power of two smaller than n. Leaf
// and interior hashes are domain-separated SHA-256:
//
//	leaf = SHA-256(0x00 ‖ leaf bytes, padded to LeafSize)
//	node = SHA-256(0x01 ‖ left ‖ right)
//	commitment = SHA-256(0x02 ‖ leaf count (uint64 big-endian) ‖ tree root)
//
// so a leaf can never be passed off as an interior node, and a proof cannot
// claim another tree size (an RFC 9162 path alone does not fix the size). A piece of zero bytes
// has one leaf of zeros.
//
// The package is pure (no I/O beyond what callers hand it): the uploader
// commits with a streaming Builder, the prover answers a challenge with ProveAt
// from an io.ReaderAt of the piece, and the ledger checks the answer with
// Verify.
package proofs
