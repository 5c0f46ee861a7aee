// Package blockstore keeps content-addressed blocks on local disk: the pieces
// a node holds and the encrypted manifests of files.
//
// A block's ID is proofs.ID of its bytes: their Merkle commitment
// (proofs.Root: domain-separated SHA-256 over 1 KiB leaves, bound to the
// leaf count) bound to their exact length, computed as the block is written,
// so the pass that addresses a piece also gives the root its holder proves
// against (format 2, recorded in the FORMAT file; format 1 used SHA-256 of
// the bytes and is refused with ErrFormat). The store has two areas:
//
//   - Pinned: the owner's own data and the pieces the ledger credits this node
//     for holding. Never evicted; only Delete or Unpin removes a block.
//   - Cache: blocks fetched for someone else or for a read. Hit-counted, with a
//     byte budget; when a new block does not fit, the least-used blocks (fewest
//     hits, then least recently used) are evicted first (the Venti/Fossil split).
//
// Invariants:
//
//   - A block is visible only once complete: it is written to tmp/, fsynced,
//     renamed into its area and the directory fsynced. A crash at any point
//     leaves either no block or the whole block; leftovers in tmp/ are removed
//     by Open.
//   - A block's bytes are checked against its ID when read through Get or a
//     Reader read to the end; a mismatch is ErrCorrupt and the block is removed.
//   - The set of blocks is rebuilt from the directories by Open, so it survives
//     any restart; cache hit counts are persisted in cache.idx on Close (and by
//     Flush) and start from zero for blocks the index does not know.
//
// Layout under the store's directory:
//
//	pinned/ab/abcdef…   block files, named by lowercase hex ID, fanned out by the first byte
//	cache/ab/abcdef…
//	tmp/                blocks being written
//	cache.idx           CBOR hit counts of the cache area
//	FORMAT              "coop blockstore 2": the block id format
package blockstore
