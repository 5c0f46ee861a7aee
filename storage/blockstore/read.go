package blockstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/coop-network/coop/proofs"
)

// Reader reads one block. Read streams it and checks it against its ID on
// reaching the end: the last Read returns ErrCorrupt instead of io.EOF if the
// bytes are not the block's. ReadAt reads ranges without checking (the
// prover's challenged leaves are checked by their Merkle proofs instead).
type Reader struct {
	s    *Store
	id   ID
	area Area
	f    *os.File
	size int64
	off  int64
	h    *proofs.Builder // made by the first Read: ReadAt alone needs none
}

// Open opens a block for reading and counts a hit (ErrNotFound counts a miss).
func (s *Store) Open(ctx context.Context, id ID) (*Reader, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	e, ok := s.entries[id]
	if !ok {
		s.stats.Misses++
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	f, err := os.Open(s.path(e.area, id))
	if errors.Is(err, fs.ErrNotExist) {
		// Removed behind our back: forget it.
		s.remove(id)
		s.stats.Misses++
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("blockstore: %w", err)
	}
	s.stats.Hits++
	s.clock++
	e.used = s.clock
	if e.area == Cache {
		e.hits++
	}
	return &Reader{s: s, id: id, area: e.area, f: f, size: e.size}, nil
}

// Size returns the block's size.
func (r *Reader) Size() int64 { return r.size }

// ID returns the block's ID.
func (r *Reader) ID() ID { return r.id }

// Read reads the block sequentially, verifying it at the end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.h == nil {
		r.h = proofs.NewBuilder()
	}
	if r.off >= r.size {
		return 0, r.finish()
	}
	if int64(len(p)) > r.size-r.off {
		p = p[:r.size-r.off]
	}
	n, err := r.f.ReadAt(p, r.off)
	r.h.Write(p[:n])
	r.off += int64(n)
	if err == io.EOF {
		if r.off < r.size {
			r.s.markCorrupt(r.id, r.area)
			return n, fmt.Errorf("%w: %s is shorter than %d bytes", ErrCorrupt, r.id, r.size)
		}
		err = nil
	}
	if err != nil {
		return n, fmt.Errorf("blockstore: reading %s: %w", r.id, err)
	}
	return n, nil
}

func (r *Reader) finish() error {
	if got := ID(r.h.ID()); got != r.id {
		r.s.markCorrupt(r.id, r.area)
		return fmt.Errorf("%w: %s", ErrCorrupt, r.id)
	}
	return io.EOF
}

// ReadAt reads len(p) bytes at off, without verification.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) { return r.f.ReadAt(p, off) }

// Close releases the file.
func (r *Reader) Close() error { return r.f.Close() }

// Get returns a whole block, verified. It refuses blocks larger than max
// bytes (the caller's allocation bound).
func (s *Store) Get(ctx context.Context, id ID, max int64) ([]byte, error) {
	r, err := s.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.size > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrTooLarge, id, r.size, max)
	}
	b := make([]byte, 0, r.size)
	b, err = readAll(r, b)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Verify reads a whole block and checks it against its ID (ErrCorrupt if not,
// and the block is removed).
func (s *Store) Verify(ctx context.Context, id ID) error {
	r, err := s.Open(ctx, id)
	if err != nil {
		return err
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	return err
}

// markCorrupt removes a block found corrupt so it can be fetched again.
func (s *Store) markCorrupt(id ID, a Area) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Corrupt++
	if e, ok := s.entries[id]; ok && e.area == a {
		os.Remove(s.path(a, id))
		s.remove(id)
	}
	s.log.Warn("blockstore: removed corrupt block", "id", id, "area", a)
}

// Scrub reads every block of both areas and checks it against its ID,
// removing corrupt ones (as a read would). It returns how many blocks it
// checked and the IDs it removed; it stops early only if ctx ends.
func (s *Store) Scrub(ctx context.Context) (checked int, corrupt []ID, err error) {
	for _, a := range []Area{Pinned, Cache} {
		for _, id := range s.List(a) {
			if err := ctx.Err(); err != nil {
				return checked, corrupt, err
			}
			err := s.verifyQuiet(ctx, id)
			if errors.Is(err, ErrNotFound) {
				continue // deleted or evicted meanwhile
			}
			checked++
			if errors.Is(err, ErrCorrupt) {
				corrupt = append(corrupt, id)
			} else if err != nil {
				return checked, corrupt, err
			}
		}
	}
	return checked, corrupt, nil
}

// verifyQuiet is Verify without counting a hit or touching recency, so a
// scrub does not distort the cache's eviction order.
func (s *Store) verifyQuiet(ctx context.Context, id ID) error {
	s.mu.Lock()
	e, ok := s.entries[id]
	var path string
	var area Area
	var size int64
	if ok {
		path, area, size = s.path(e.area, id), e.area, e.size
	}
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	defer f.Close()
	r := &Reader{s: s, id: id, area: area, f: f, size: size}
	_, err = io.Copy(io.Discard, r)
	return err
}
