package p2p

import (
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// PieceCID is the content identifier a piece is announced under in the DHT:
// CIDv1, raw codec, sha2-256 multihash of the 32-byte piece id. The piece id
// is the piece's Merkle commitment (proofs.Root), a SHA-256 construction
// but not the plain SHA-256 of the bytes the code names: the CID is only a
// DHT key on the private /coop DHT, never checked against the bytes by
// libp2p, so the code is kept for the DHT's sake.
func PieceCID(id [32]byte) cid.Cid {
	h, err := mh.Encode(id[:], mh.SHA2_256)
	if err != nil {
		// mh.Encode fails only for unknown codes or wrong lengths, neither
		// of which can happen with a fixed 32-byte SHA2-256 digest.
		panic(fmt.Sprintf("p2p: encoding piece multihash: %v", err))
	}
	return cid.NewCidV1(cid.Raw, h)
}

// PieceIDFromCID is the inverse of PieceCID. It rejects any CID that is not a
// CIDv1 raw sha2-256 with a 32-byte digest.
func PieceIDFromCID(c cid.Cid) ([32]byte, error) {
	var id [32]byte
	if c.Version() != 1 || c.Type() != cid.Raw {
		return id, fmt.Errorf("p2p: cid %s is not a CIDv1 raw piece address", c)
	}
	dec, err := mh.Decode(c.Hash())
	if err != nil {
		return id, fmt.Errorf("p2p: cid %s: %w", c, err)
	}
	if dec.Code != mh.SHA2_256 || len(dec.Digest) != len(id) {
		return id, fmt.Errorf("p2p: cid %s is not a sha2-256 piece address", c)
	}
	copy(id[:], dec.Digest)
	return id, nil
}
