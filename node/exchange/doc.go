// Package exchange is coop's block exchange protocol, /coop/pieces/1: how
// nodes fetch whole pieces or leaf ranges from each other, push pieces to
// their holders and ask holders for the receipts the ledger wants.
//
// One request per libp2p stream. Every control message is a frame: an
// unsigned varint length (at most MaxMessageSize; a receipt request, which
// lists up to MaxReceiptPieces pieces, at most MaxReceiptMessageSize)
// followed by that many bytes of deterministic CBOR (a Message with small integer keys). Piece
// bytes never travel inside a frame; they follow a frame that declared their
// exact length, so a piece streams through without being held in memory.
//
//	get:       → Get          ← Response{OK, Size}  ← Size raw bytes
//	get range: → GetRange     ← Response{OK, Size}  ← Size raw bytes
//	push:      → Push{Size}   ← Response{OK}        → Size raw bytes  ← Response{OK}
//	receipt:   → Receipt{put, file, pieces}  ← Response{OK, Expires, Sig}
//
// A receipt is the holder's signature (chain.SignReceipt) over its pieces of
// a file, which the owner puts in its PlaceFile; the holder signs only for
// the node that pushed the pieces, and only the roots and sizes it verified.
//
// Any error ends the stream after (when possible) an error Response: a bad
// frame, an unknown message type or version, a message of the wrong kind, a
// size over the limits, a stalled peer. Errors never reach beyond the stream.
//
// Whole pieces are verified by the receiver against their id as they stream
// in, in one pass: a piece's id is proofs.ID of its bytes, their Merkle
// commitment (the root the ledger records and its holder proves against)
// bound to their size.
// A pushed piece is hashed by the Sink as it stores it, a fetched one by
// the PieceVerifier it is written to (or by Get). Leaf ranges are raw
// bytes; callers check them against the piece's commitment (package
// proofs).
package exchange
