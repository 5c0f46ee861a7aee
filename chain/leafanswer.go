package chain

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"

	"github.com/coop-network/coop/proofs"
)

// LeafAnswer is a holder's signed answer to an audit's leaf request (the
// piece exchange's leaf message): leaf Leaf of the piece ID it holds as
// piece (File, Segment, Index), with its Merkle path, signed by the
// holder's key. A correct answer proves the holder can produce the leaf;
// a signed wrong one is evidence against it that anyone can put on the
// ledger (ReportFault), since the holder cannot deny its signature.
//
// The signature covers LeafAnswerSignBytes: a domain tag, the chain id,
// the holder, the piece's place and id, the leaf index and the proof
// bytes, so it cannot be moved to another chain, holder, piece or leaf.
type LeafAnswer struct {
	Holder  Address `cbor:"holder" json:"holder"`
	File    Hash    `cbor:"file" json:"file"`
	Segment uint32  `cbor:"segment" json:"segment"`
	Index   uint32  `cbor:"index" json:"index"`
	Piece   Hash    `cbor:"piece" json:"piece"`
	Leaf    uint64  `cbor:"leaf" json:"leaf"`
	// Proof is the binary proofs.Proof the holder sent (at most
	// MaxLeafProofSize bytes; whatever it is, it is what was signed).
	Proof []byte `cbor:"proof" json:"proof"`
	// PubKey is the holder's ed25519 key: its address must be Holder.
	PubKey []byte `cbor:"pubkey" json:"pubkey"`
	// Sig is ed25519 over LeafAnswerSignBytes.
	Sig []byte `cbor:"sig" json:"sig"`
}

// MaxLeafProofSize bounds LeafAnswer.Proof: the largest proofs encoding.
const MaxLeafProofSize = proofs.MaxProofSize

// leafAnswerDomain separates leaf-answer signatures from transactions,
// receipts and every other use of the key.
const leafAnswerDomain = "coop/leaf-answer/v1\x00"

// leafAnswerMessage is what a leaf answer signs (after leafAnswerDomain).
type leafAnswerMessage struct {
	ChainID string  `cbor:"chain_id"`
	Holder  Address `cbor:"holder"`
	File    Hash    `cbor:"file"`
	Segment uint32  `cbor:"segment"`
	Index   uint32  `cbor:"index"`
	Piece   Hash    `cbor:"piece"`
	Leaf    uint64  `cbor:"leaf"`
	Proof   []byte  `cbor:"proof"`
}

// SignBytes is the message the holder signs: the domain tag
// "coop/leaf-answer/v1\x00" followed by the canonical CBOR of
// {chain_id, holder, file, segment, index, piece, leaf, proof}.
func (a *LeafAnswer) SignBytes(chainID string) []byte {
	proof := a.Proof
	if proof == nil {
		proof = []byte{}
	}
	b := mustMarshal(leafAnswerMessage{ChainID: chainID, Holder: a.Holder, File: a.File, Segment: a.Segment, Index: a.Index, Piece: a.Piece, Leaf: a.Leaf, Proof: proof})
	return append([]byte(leafAnswerDomain), b...)
}

// Sign sets a's Holder, PubKey and Sig from the holder's key.
func (a *LeafAnswer) Sign(key ed25519.PrivateKey, chainID string) {
	pub := key.Public().(ed25519.PublicKey)
	a.Holder = AddressOf(pub)
	a.PubKey = append([]byte(nil), pub...)
	a.Sig = ed25519.Sign(key, a.SignBytes(chainID))
}

// EvidenceID is the id a ReportFault records the answer under: SHA-256 of
// its sign bytes. It does not cover the signature, so one signed answer is
// one piece of evidence whatever signature bytes carry it.
func (a *LeafAnswer) EvidenceID(chainID string) Hash { return sha256.Sum256(a.SignBytes(chainID)) }

// CheckShape checks the sizes of a's fields: a proof of at most
// MaxLeafProofSize bytes, a 32-byte key whose address is Holder, a 64-byte
// signature (ErrInvalid, ErrBadSignature).
func (a *LeafAnswer) CheckShape() error {
	if len(a.Proof) > MaxLeafProofSize {
		return fmt.Errorf("%w: leaf answer proof of %d bytes, at most %d", ErrInvalid, len(a.Proof), MaxLeafProofSize)
	}
	if len(a.PubKey) != ed25519.PublicKeySize || len(a.Sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: leaf answer has a %d-byte key and a %d-byte signature", ErrBadSignature, len(a.PubKey), len(a.Sig))
	}
	if AddressOf(a.PubKey) != a.Holder {
		return fmt.Errorf("%w: leaf answer key is %s's, not holder %s's", ErrBadSignature, AddressOf(a.PubKey), a.Holder)
	}
	return nil
}

// VerifySignature checks that a is signed by its holder for chainID.
func (a *LeafAnswer) VerifySignature(chainID string) error {
	if err := a.CheckShape(); err != nil {
		return err
	}
	if !verifySignature(a.PubKey, a.SignBytes(chainID), a.Sig) {
		return fmt.Errorf("%w: leaf answer does not verify for holder %s", ErrBadSignature, a.Holder)
	}
	return nil
}

// Judge reports whether a's proof answers its request correctly for the
// piece as recorded: it decodes, proves leaf a.Leaf of a piece of
// p.Leaves leaves, and leads to p.Root. nil means correct; the error says
// what is wrong. (ReportFault refuses, before judging, an answer about a
// leaf the piece does not have: that is no evidence of lost data.)
func (a *LeafAnswer) Judge(p Piece) error {
	pr, err := proofs.DecodeProof(a.Proof)
	if err != nil {
		return fmt.Errorf("the proof does not decode: %w", err)
	}
	if pr.Index != a.Leaf || pr.Leaves != p.Leaves {
		return fmt.Errorf("the proof is of leaf %d of %d, the request was leaf %d of %d", pr.Index, pr.Leaves, a.Leaf, p.Leaves)
	}
	if err := proofs.Verify(proofs.Hash(p.Root), pr); err != nil {
		return fmt.Errorf("the proof does not lead to the recorded root: %w", err)
	}
	return nil
}
