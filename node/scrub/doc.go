// Package scrub is the holder's self-check: it re-reads the pieces the
// ledger credits this node with, at a bounded rate, and checks each
// against its content id and the Merkle root and size the ledger recorded
// (one pass: the id is the root bound to the size). A piece that is corrupt or missing is dropped from the
// store (with its cached Merkle levels), so it is never served, and
// reported to the ledger with chain.ReportLost, batched, so repair starts
// before a challenge finds the loss. See docs/proofs.md, "Scrub".
//
// A Scrubber runs a background pass every Config.Interval (Loop) and a
// pass on demand (Run, `coop scrub`), one at a time: a pass on demand
// cancels a background pass in progress and takes its place.
package scrub
