// Package node is the coop daemon behind `coop node`: it composes the ledger
// client (node/ledger), the libp2p host and DHT (node/p2p), the block
// exchange (node/exchange), the block store (storage/blockstore) and the
// local HTTP API (node/api).
//
// Put (put.go) encrypts and erasure-codes a file into the local block store,
// checks the owner's quota, chooses holders (placement.go), pushes every
// piece and the encrypted manifest to them and only then records the file
// with a PlaceFile transaction. A holder (holder.go) accepts a push only
// from the owner's own node, when the owner is within quota, the holder has
// free pledged capacity and the bytes match the piece id and the Merkle
// commitment; it keeps pieces the ledger credits to it and drops pushes that
// no committed PlaceFile names within Config.PendingTimeout.
//
// Get (get.go) resolves the manifest, then fetches pieces in parallel from
// the holders the ledger records, falling back to DHT providers and hedging
// slow holders, stops at K good pieces per segment and caches what it
// fetched in the block store's cache area.
package node
