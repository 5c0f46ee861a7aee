package exchange

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/coop-network/coop/proofs"
)

// MemStore is an in-memory Source and Sink for tests and benchmarks. Accept,
// when set, decides on pushes.
type MemStore struct {
	Accept func(Push) error
	// Sign, when set, answers receipt requests; unset, they are refused.
	Sign func(ReceiptRequest) (Receipt, error)
	// Leaf, when set, answers leaf requests; unset, they are refused.
	Leaf func(LeafRequest) (LeafAnswer, error)
	// AuthorizeJob, when set, decides on job-keys requests; unset, they
	// are refused. JobKeyList answers the authorized ones.
	AuthorizeJob func(JobKeyRequest) error
	JobKeyList   func(r JobKeyRequest) ([]JobKey, error)

	mu     sync.Mutex
	pieces map[PieceID][]byte
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{pieces: make(map[PieceID][]byte)} }

// Add stores a piece under id (which tests may set to anything).
func (m *MemStore) Add(id PieceID, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pieces[id] = b
}

// Has reports whether the store holds id.
func (m *MemStore) Has(id PieceID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.pieces[id]
	return ok
}

// Bytes returns a held piece.
func (m *MemStore) Bytes(id PieceID) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pieces[id]
}

type memPiece struct{ *bytes.Reader }

func (memPiece) Close() error { return nil }

// OpenPiece implements Source.
func (m *MemStore) OpenPiece(_ context.Context, id PieceID) (PieceReader, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.pieces[id]
	if !ok {
		return nil, fmt.Errorf("piece %s: %w", id, ErrNotFound)
	}
	return memPiece{bytes.NewReader(b)}, nil
}

// AcceptPush implements Sink.
func (m *MemStore) AcceptPush(_ context.Context, p Push) error {
	if m.Accept != nil {
		return m.Accept(p)
	}
	return nil
}

// ReceivePush implements Sink: it keeps the piece if its bytes have its id.
func (m *MemStore) ReceivePush(_ context.Context, p Push, r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if PieceID(proofs.IDOf(b)) != p.Piece {
		return fmt.Errorf("%w: %w", ErrRejected, ErrHashMismatch)
	}
	m.Add(p.Piece, b)
	return nil
}

// NewTestExchange starts an exchange on h serving and receiving into a new
// MemStore, closed when the test ends.
func NewTestExchange(tb testing.TB, h host.Host, cfg Config) (*Exchange, *MemStore) {
	tb.Helper()
	st := NewMemStore()
	x, err := New(h, cfg, st, st)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = x.Close() })
	return x, st
}

// SignReceipt implements Sink.
func (m *MemStore) SignReceipt(_ context.Context, r ReceiptRequest) (Receipt, error) {
	if m.Sign != nil {
		return m.Sign(r)
	}
	return Receipt{}, fmt.Errorf("%w: this store signs no receipts", ErrRejected)
}

// AnswerLeaf implements LeafAnswerer.
func (m *MemStore) AnswerLeaf(_ context.Context, r LeafRequest) (LeafAnswer, error) {
	if m.Leaf != nil {
		return m.Leaf(r)
	}
	return LeafAnswer{}, fmt.Errorf("%w: this store answers no leaf requests", ErrRejected)
}

// AuthorizeJobKeys implements JobKeySource.
func (m *MemStore) AuthorizeJobKeys(_ context.Context, r JobKeyRequest) error {
	if m.AuthorizeJob != nil {
		return m.AuthorizeJob(r)
	}
	return fmt.Errorf("%w: this store hands out no job keys", ErrRejected)
}

// JobKeys implements JobKeySource.
func (m *MemStore) JobKeys(_ context.Context, r JobKeyRequest) ([]JobKey, error) {
	if m.JobKeyList != nil {
		return m.JobKeyList(r)
	}
	return nil, fmt.Errorf("%w: job %x", ErrNotFound, r.Job[:8])
}
