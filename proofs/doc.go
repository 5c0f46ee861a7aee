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
// The commitment bound to the byte length is coop's content address:
//
//	id = SHA-256(0x03 ‖ size (uint64 big-endian) ‖ commitment)
//
// (ID), a block's id in the block store, a piece id on the wire and on the
// ledger, a file id (of its encrypted manifest). The length is bound because
// the zero-padded last leaf lets bytes with trailing zeros share a
// commitment. So one Builder pass over a piece gives its id and its
// commitment.
//
// The package is pure (no I/O beyond what callers hand it): the uploader
// commits with a streaming Builder, the prover answers a challenge with ProveAt
// from an io.ReaderAt of the piece, and the ledger checks the answer with
// Verify.
//
// ProveAt rereads and rehashes the whole piece for each challenge (16 MiB read
// for a 1 KiB leaf). Levels avoid it: they keep the roots of the piece's
// consecutive chunks of SubtreeLeaves = 64 leaves (64 KiB), which in the RFC
// 9162 shape are subtrees of the tree (the last, possibly shorter chunk being
// its rightmost subtree), and rebuild the tree above them in memory.
// ProveWithLevels then reads only the challenged leaf's chunk (at most 64 KiB
// in one ReadAt), rehashes it and takes the rest of the path from the Levels;
// its proof is byte for byte ProveAt's. A Builder made by NewLevelsBuilder
// produces the Levels while the piece streams through it. Their file format,
// version 1, is
//
//	version (1 byte, = 1) ‖ leaf count (uint64 big-endian) ‖
//	commitment (32 bytes) ‖ ⌈leaf count / 64⌉ chunk roots (32 bytes each)
//
// that is 41 + 32 bytes per 64 KiB begun: 8233 bytes (0.049 %) for a 16 MiB
// piece, under 0.06 % of any piece of 1 MiB or more (LevelsSize). Decoding is
// strict (version, exact length for the leaf count before allocating) and
// recomputes the commitment from the chunk roots, refusing a file whose
// header disagrees (corruption); the caller checks Levels.Root, or Check,
// against the piece's known commitment, which refuses another piece's
// Levels. ProveWithLevels also refuses a chunk that does not hash to the
// root the Levels hold (a corrupted piece, or another piece's Levels).
//
// The node does not yet store or use Levels: the prover loop that keeps them
// beside each piece comes with the proofs-on-the-ledger work.
package proofs
