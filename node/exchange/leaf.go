package exchange

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// LeafRequest asks a holder for leaf Leaf of piece Piece, which the ledger
// credits to it as piece Index of segment Segment of file File, with the
// Merkle root Root. An audit sends it (TypeLeaf); the holder answers with a
// proof and signs it, so a wrong answer is evidence (chain.LeafAnswer,
// chain.ReportFault).
type LeafRequest struct {
	From    peer.ID // the requesting peer (set by the server)
	File    [32]byte
	Segment uint32
	Index   uint32
	Piece   PieceID
	Root    [32]byte // the recorded Merkle root, so the holder can check its proof before signing
	Leaf    uint64
}

// LeafAnswer is a holder's answer to a LeafRequest: the binary
// proofs.Proof of the leaf, and the holder's ed25519 key and signature over
// chain.LeafAnswer's sign bytes for it. The exchange checks only sizes:
// verify the signature and the proof (chain.LeafAnswer) before trusting it.
type LeafAnswer struct {
	Proof  []byte
	PubKey ed25519.PublicKey
	Sig    []byte
}

// LeafAnswerer answers leaf requests. A Sink that implements it serves
// them; otherwise they are refused (StatusRejected).
type LeafAnswerer interface {
	// AnswerLeaf proves and signs leaf r.Leaf of piece r.Piece, or refuses:
	// an error wrapping ErrNotFound for a piece the node does not hold (or
	// cannot prove: a holder signs only proofs that lead to r.Root),
	// ErrMalformed for a leaf the piece does not have.
	AnswerLeaf(ctx context.Context, r LeafRequest) (LeafAnswer, error)
}

// RequestLeaf asks holder p for one leaf (see LeafRequest). A refusal is a
// *RemoteError (ErrNotFound: the holder does not hold or cannot prove the
// piece). An answer without a proof, key and signature is ErrMalformed.
// Nothing is verified here but sizes.
func (x *Exchange) RequestLeaf(ctx context.Context, p peer.ID, req LeafRequest) (LeafAnswer, error) {
	m := &Message{Version: Version, Type: TypeLeaf, Piece: req.Piece[:], FileID: req.File[:], Commitment: req.Root[:],
		Segment: req.Segment, PieceIndex: req.Index, Leaf: req.Leaf}
	if err := m.Validate(); err != nil {
		return LeafAnswer{}, err
	}
	s, br, stop, err := x.request(ctx, p, m)
	if err != nil {
		return LeafAnswer{}, err
	}
	defer stop()
	defer s.Reset()
	_ = s.CloseWrite()
	// The holder reads the piece (all of it, without kept levels) before
	// answering; allow it the idle timeout.
	resp, err := x.readResponseLimit(ctx, s, br, x.cfg.IdleTimeout, MaxLeafAnswerSize)
	if err != nil {
		return LeafAnswer{}, err
	}
	a, err := leafAnswerOf(resp)
	if err != nil {
		return LeafAnswer{}, fmt.Errorf("peer %s: %w", shortID(p), err)
	}
	return a, nil
}

// leafAnswerOf reads the LeafAnswer of an OK response to a leaf request:
// it must carry a proof, a 32-byte key and a 64-byte signature.
func leafAnswerOf(resp *Message) (LeafAnswer, error) {
	if resp.Type != TypeResponse || resp.Status != StatusOK {
		return LeafAnswer{}, fmt.Errorf("%w: a %s (%s) is no leaf answer", ErrMalformed, resp.Type, resp.Status)
	}
	if len(resp.Proof) == 0 || len(resp.Key) != ed25519.PublicKeySize || len(resp.Sig) != ed25519.SignatureSize {
		return LeafAnswer{}, fmt.Errorf("%w: a leaf answer with a %d-byte proof, a %d-byte key and a %d-byte signature",
			ErrMalformed, len(resp.Proof), len(resp.Key), len(resp.Sig))
	}
	return LeafAnswer{Proof: resp.Proof, PubKey: ed25519.PublicKey(resp.Key), Sig: resp.Sig}, nil
}

func (x *Exchange) serveLeaf(ctx context.Context, s network.Stream, req *Message) error {
	la, ok := x.sink.(LeafAnswerer)
	if !ok {
		return x.fail(s, StatusRejected, fmt.Errorf("%w: this node answers no leaf requests", ErrRejected))
	}
	lr := LeafRequest{
		From: s.Conn().RemotePeer(), File: [32]byte(req.FileID), Segment: req.Segment, Index: req.PieceIndex,
		Piece: PieceID(req.Piece), Root: [32]byte(req.Commitment), Leaf: req.Leaf,
	}
	a, err := la.AnswerLeaf(ctx, lr)
	if err != nil {
		return x.fail(s, statusOf(err, StatusInternal), fmt.Errorf("leaf %d of piece %s: %w", req.Leaf, lr.Piece, err))
	}
	resp := &Message{Version: Version, Type: TypeResponse, Status: StatusOK, Proof: a.Proof, Key: a.PubKey, Sig: a.Sig}
	if len(a.Proof) == 0 || len(a.PubKey) != ed25519.PublicKeySize || resp.Validate() != nil {
		return x.fail(s, StatusInternal, fmt.Errorf("the node answered leaf %d of piece %s with a %d-byte proof and a %d-byte key", req.Leaf, lr.Piece, len(a.Proof), len(a.PubKey)))
	}
	_ = s.SetWriteDeadline(time.Now().Add(x.cfg.HeaderTimeout))
	if err := writeMessage(s, resp); err != nil {
		return fmt.Errorf("answering leaf request: %w", err)
	}
	return nil
}
