// Package storage turns a file into encrypted, erasure-coded, content-addressed
// pieces and back, streaming, with memory bounded whatever the file size.
//
// Put: the file is cut into segments (64 MiB by default); each segment is
// encrypted as its own DARE 2.0 stream (minio/sio, AES-256-GCM) under a key
// derived from a random 256-bit file key and the segment index, so segments
// decrypt independently and cannot be swapped; the ciphertext is
// Reed–Solomon coded (klauspost/reedsolomon) stripe by stripe into K data and
// M parity pieces (K = 1 means M+1 identical copies). Each piece is written
// straight into a block while its Merkle commitment (package proofs) is
// computed, in one pass: the commitment is the piece id (the block store's
// content address), so the piece is hashed once. Finally the manifest
// (package manifest) is encrypted under another derived key and stored as a
// block; the file id is that block's id (the commitment of the encrypted
// manifest), and the Capability (file id + file key, printed "coop1…") is
// all a reader needs.
//
// Get: the manifest is fetched by file id, checked against it and
// decrypted; then for each segment pieces are fetched through a PieceSource
// and checked against their ids until K good ones are found (a missing or
// corrupted piece is skipped and the next one tried), decoded stripe by stripe
// and decrypted (DARE authenticates every 64 KiB) into the caller's writer.
// Fewer than K good pieces is a *SegmentError naming the segment.
//
// Rebuild regenerates lost pieces of a segment from K others without the
// file key (the repairer's tool).
//
// The node calls Put with a BlockSink (usually its block store) and pushes
// the returned pieces to holders; it calls Get with a PieceSource that fetches
// pieces from holders. docs/storage.md describes the formats.
package storage
