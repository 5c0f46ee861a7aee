package blockstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/coop-network/coop/proofs"
)

// testHookBeforeRename, when set by tests, runs just before a finished block
// is renamed into place; an error aborts the commit there.
var testHookBeforeRename func(tmp string) error

// Writer streams a new block to disk. Its ID is known only at Commit. A
// Writer must end with exactly one Commit or Abort; until Commit the block is
// invisible. A Writer is not safe for concurrent use.
//
// The Writer computes the block's Merkle commitment and from it its ID as
// the bytes pass, keeping the roots of its 64 KiB chunks too (32 bytes per
// 64 KiB), so that a holder gets the piece's proofs.Levels from the same
// pass (Root, Levels).
type Writer struct {
	s    *Store
	ctx  context.Context
	area Area
	f    *os.File
	h    *proofs.Builder
	n    int64
	err  error // sticky
	done bool
}

// Create starts a new block in area a.
func (s *Store) Create(ctx context.Context, a Area) (*Writer, error) {
	if !a.valid() {
		return nil, fmt.Errorf("blockstore: invalid area %d", a)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	f, err := os.CreateTemp(s.tmpDir(), "block-*")
	if err != nil {
		return nil, fmt.Errorf("blockstore: %w", err)
	}
	return &Writer{s: s, ctx: ctx, area: a, f: f, h: proofs.NewLevelsBuilder()}, nil
}

// Write appends p to the block.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.done {
		return 0, errors.New("blockstore: write after commit or abort")
	}
	if w.n+int64(len(p)) > w.s.cfg.MaxBlockSize {
		w.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, w.s.cfg.MaxBlockSize)
		return 0, w.err
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("blockstore: %w", err)
		return n, w.err
	}
	return n, nil
}

// Size returns the bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Sum returns the ID of the bytes written so far, without committing them.
func (w *Writer) Sum() ID { return ID(w.h.ID()) }

// Root returns the Merkle commitment of the bytes written so far (of the
// block, after Commit): the root the ledger records for a piece.
func (w *Writer) Root() proofs.Hash { return w.h.Root() }

// Levels returns the proofs.Levels of the bytes written so far (of the block,
// after Commit), computed in the pass that gave its ID: the prover keeps them
// beside a held piece.
func (w *Writer) Levels() (*proofs.Levels, error) { return w.h.Levels() }

// Abort discards the block. It is safe to call after Commit (then a no-op).
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

// Commit makes the block durable and visible, and returns its ID. If the
// block is already present, the new copy is dropped (a cache copy is promoted
// when committing to Pinned).
func (w *Writer) Commit() (ID, error) {
	var id ID
	if w.done {
		return id, errors.New("blockstore: commit after commit or abort")
	}
	if w.err != nil {
		w.Abort()
		return id, w.err
	}
	if err := w.ctx.Err(); err != nil {
		w.Abort()
		return id, err
	}
	id = w.Sum()
	return id, w.commit(id)
}

// CommitAs is Commit for a block whose ID the caller already knows (a piece
// received from a peer): if the bytes do not hash to want, nothing is stored
// and the error is ErrCorrupt.
func (w *Writer) CommitAs(want ID) error {
	if w.done {
		return errors.New("blockstore: commit after commit or abort")
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	id := w.Sum()
	if id != want {
		w.Abort()
		return fmt.Errorf("%w: received %d bytes hashing to %s, want %s", ErrCorrupt, w.n, id, want)
	}
	return w.commit(id)
}

func (w *Writer) commit(id ID) error {
	w.done = true
	tmp := w.f.Name()
	fail := func(err error) error {
		w.f.Close()
		os.Remove(tmp)
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fail(fmt.Errorf("blockstore: fsync: %w", err))
	}
	if err := w.f.Close(); err != nil {
		return fail(fmt.Errorf("blockstore: %w", err))
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fail(ErrClosed)
	}
	if e, ok := s.entries[id]; ok {
		os.Remove(tmp)
		if e.area == Cache && w.area == Pinned {
			if err := renameSynced(s.path(Cache, id), s.path(Pinned, id)); err != nil {
				return err
			}
			s.account(e, -1)
			e.area, e.hits = Pinned, 0
			s.account(e, +1)
		}
		return nil
	}
	if w.area == Cache {
		if err := s.makeRoomLocked(w.n); err != nil {
			return fail(err)
		}
	}
	if testHookBeforeRename != nil {
		if err := testHookBeforeRename(tmp); err != nil {
			return fail(err)
		}
	}
	if err := renameSynced(tmp, s.path(w.area, id)); err != nil {
		return fail(err)
	}
	s.clock++
	s.add(id, &entry{area: w.area, size: w.n, used: s.clock})
	return nil
}

// Put stores the bytes of r as a block in area a and returns its ID.
func (s *Store) Put(ctx context.Context, a Area, r io.Reader) (ID, error) {
	w, err := s.Create(ctx, a)
	if err != nil {
		return ID{}, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return ID{}, err
	}
	return w.Commit()
}

// PutBytes stores b as a block in area a and returns its ID.
func (s *Store) PutBytes(ctx context.Context, a Area, b []byte) (ID, error) {
	return s.Put(ctx, a, bytes.NewReader(b))
}

// PutExpect stores the bytes of r under id, refusing them (ErrCorrupt) unless
// they hash to id.
func (s *Store) PutExpect(ctx context.Context, a Area, id ID, r io.Reader) error {
	w, err := s.Create(ctx, a)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return err
	}
	return w.CommitAs(id)
}
