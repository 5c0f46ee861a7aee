// Package node is the coop daemon behind `coop node`: it composes the ledger
// client (node/ledger), the libp2p host and DHT (node/p2p), the block
// exchange (node/exchange), the block store (storage/blockstore) and the
// local HTTP API (node/api).
//
// Put (put.go) encrypts and erasure-codes a file into the local block store,
// checks the owner's quota, chooses holders (placement.go), pushes every
// piece and the encrypted manifest to them, collects each holder's signed
// receipt for its pieces (replacing a holder that refuses) and only then
// records the file with a PlaceFile transaction carrying the receipts
// (concurrent puts share a PlaceFiles tx, putbatch.go). A
// holder (holder.go) accepts a push only from the owner's own node, when the
// owner is within quota, the holder has free pledged capacity and the bytes
// match the piece id and the Merkle commitment; it signs a receipt only for
// that node and only for the pieces, roots and sizes it verified. It keeps
// pieces the ledger credits to it, drops pushes that no committed PlaceFile
// names within Config.PendingTimeout (or, once receipted, before the
// receipt expires), and deletes the blocks of removed files. It acts only on
// complete credit lists: a list it cannot read whole changes nothing.
//
// Remove (backend.go) records a RemoveFile, then deletes the file's
// manifest and pieces from the node's own store, pinned and cached.
//
// Scrub (scrub.go, node/scrub) re-reads the held pieces in the background,
// daily and rate-limited, or on demand (`coop scrub`); a corrupt or missing
// piece is dropped with its levels and reported lost on the ledger.
//
// Get (get.go) resolves the manifest, then fetches pieces in parallel from
// the holders the ledger records, falling back to DHT providers and hedging
// slow holders, stops at K good pieces per segment and caches what it
// fetched in the block store's cache area.
package node
