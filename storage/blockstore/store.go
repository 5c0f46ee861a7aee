package blockstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/coop-network/coop/internal/dirlock"
)

// Area is where a block lives: Pinned or Cache.
type Area uint8

// The two areas of a store.
const (
	Pinned Area = 1 // never evicted
	Cache  Area = 2 // hit-counted, evicted least-used first within the budget
)

// String returns "pinned" or "cache".
func (a Area) String() string {
	switch a {
	case Pinned:
		return "pinned"
	case Cache:
		return "cache"
	}
	return fmt.Sprintf("area(%d)", uint8(a))
}

func (a Area) valid() bool { return a == Pinned || a == Cache }

// Errors of the block store; test them with errors.Is.
var (
	ErrNotFound = errors.New("blockstore: block not found")
	ErrCorrupt  = errors.New("blockstore: block content does not match its id")
	ErrTooLarge = errors.New("blockstore: block too large")
	ErrClosed   = errors.New("blockstore: store closed")
	// ErrInUse reports a store directory another process (or another open
	// Store) has open: two writers on one store would delete each other's
	// unfinished writes.
	ErrInUse = errors.New("blockstore: store in use")
	// ErrFormat reports a store directory written by another block id
	// format (see FormatVersion): its blocks would all read as corrupt.
	ErrFormat = errors.New("blockstore: store of another format")
)

// lockName is the lock file in a store's directory, held while it is open.
const lockName = "LOCK"

// FormatVersion is the block id format of a store, recorded in the FORMAT
// file of its directory.
//
//   - 1 (no FORMAT file): ID = SHA-256 of the block's bytes.
//   - 2: ID = proofs.ID: the block's Merkle commitment bound to its length,
//     so that one pass over a piece gives its content address and the
//     commitment the ledger records and its holder proves against.
const FormatVersion = 2

// formatName is the file recording a store's FormatVersion.
const formatName = "FORMAT"

// Config sizes a store.
type Config struct {
	// CacheBytes is the byte budget of the cache area.
	CacheBytes int64
	// MaxBlockSize bounds one block; larger writes fail with ErrTooLarge.
	MaxBlockSize int64
	// Logger receives evictions and recoveries; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns a 1 GiB cache and 1 GiB maximum block size.
func DefaultConfig() Config {
	return Config{CacheBytes: 1 << 30, MaxBlockSize: 1 << 30}
}

// Stats are counters for metrics.
type Stats struct {
	PinnedBlocks int64
	PinnedBytes  int64
	CacheBlocks  int64
	CacheBytes   int64
	CacheBudget  int64
	Hits         uint64 // reads of a present block
	Misses       uint64 // reads of an absent block
	Evictions    uint64 // cache blocks evicted for space
	Corrupt      uint64 // blocks found corrupt on read and removed
}

type entry struct {
	area Area
	size int64
	hits uint64 // reads since it entered the cache
	used uint64 // logical time of last use, for tie-breaking
}

// Store is a block store rooted at one directory. It is safe for concurrent use.
type Store struct {
	dir  string
	cfg  Config
	log  *slog.Logger
	lock *dirlock.Lock // held from Open to Close

	mu      sync.Mutex
	closed  bool
	entries map[ID]*entry
	clock   uint64
	stats   Stats
}

// Open opens (creating if needed) the store in dir: it removes unfinished
// writes, rebuilds the block set from the directories, loads cache hit counts
// from cache.idx if present, and evicts down to the cache budget. It locks
// dir until Close: a directory another process (or Store) has open fails at
// once with ErrInUse.
func Open(dir string, cfg Config) (s *Store, err error) {
	if cfg.CacheBytes < 0 || cfg.MaxBlockSize <= 0 {
		return nil, fmt.Errorf("blockstore: invalid config: cache %d bytes, max block %d bytes", cfg.CacheBytes, cfg.MaxBlockSize)
	}
	s = &Store{dir: dir, cfg: cfg, log: cfg.Logger, entries: make(map[ID]*entry)}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.stats.CacheBudget = cfg.CacheBytes
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("blockstore: %w", err)
	}
	if s.lock, err = dirlock.Acquire(dir, lockName); err != nil {
		if errors.Is(err, dirlock.ErrLocked) {
			return nil, fmt.Errorf("%w: %w", ErrInUse, err)
		}
		return nil, fmt.Errorf("blockstore: %w", err)
	}
	lock := s.lock // s is nil when Open fails
	defer func() {
		if err != nil {
			lock.Release()
		}
	}()
	// Unfinished writes are garbage: they were never renamed into place.
	if err := os.RemoveAll(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("blockstore: clearing tmp: %w", err)
	}
	for _, d := range []string{s.tmpDir(), s.areaDir(Pinned), s.areaDir(Cache)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("blockstore: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	for _, a := range []Area{Pinned, Cache} {
		if err := s.scan(a); err != nil {
			return nil, err
		}
	}
	if err := s.checkFormat(); err != nil {
		return nil, err
	}
	s.loadIndex()
	s.mu.Lock()
	err = s.makeRoomLocked(0)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkFormat refuses a store of another FormatVersion and records the
// version in a new (or empty) store. A store with blocks but no FORMAT file
// is of version 1.
func (s *Store) checkFormat() error {
	want := fmt.Sprintf("coop blockstore %d\n", FormatVersion)
	b, err := os.ReadFile(filepath.Join(s.dir, formatName))
	switch {
	case err == nil && string(b) == want:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s records %q, this coop writes %q", ErrFormat, filepath.Join(s.dir, formatName), strings.TrimSpace(string(b)), strings.TrimSpace(want))
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("blockstore: %w", err)
	case len(s.entries) > 0:
		return fmt.Errorf("%w: %s holds %d blocks addressed by SHA-256 (format 1); this coop addresses blocks by their Merkle commitment and length (format %d): move the directory away or remove it", ErrFormat, s.dir, len(s.entries), FormatVersion)
	}
	tmp := filepath.Join(s.tmpDir(), formatName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	_, err = f.WriteString(want)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("blockstore: writing %s: %w", formatName, err)
	}
	return renameSynced(tmp, filepath.Join(s.dir, formatName))
}

func (s *Store) tmpDir() string        { return filepath.Join(s.dir, "tmp") }
func (s *Store) areaDir(a Area) string { return filepath.Join(s.dir, a.String()) }
func (s *Store) indexPath() string     { return filepath.Join(s.dir, "cache.idx") }
func (s *Store) path(a Area, id ID) string {
	h := id.String()
	return filepath.Join(s.areaDir(a), h[:2], h)
}

// scan registers every block file of area a. Files whose names are not IDs
// are ignored; a block present in both areas keeps its pinned copy.
func (s *Store) scan(a Area) error {
	return filepath.WalkDir(s.areaDir(a), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("blockstore: scanning %s: %w", a, err)
		}
		if d.IsDir() {
			return nil
		}
		id, perr := ParseID(d.Name())
		if perr != nil || filepath.Base(filepath.Dir(p)) != d.Name()[:2] {
			s.log.Warn("blockstore: ignoring stray file", "path", p)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("blockstore: %w", err)
		}
		if old, ok := s.entries[id]; ok && old.area == Pinned {
			// A crash between Pin's rename and its cleanup can leave both copies.
			os.Remove(p)
			return nil
		}
		s.add(id, &entry{area: a, size: info.Size()})
		return nil
	})
}

// add registers e under id, keeping the stats in step.
func (s *Store) add(id ID, e *entry) {
	s.entries[id] = e
	s.account(e, +1)
}

func (s *Store) remove(id ID) {
	if e, ok := s.entries[id]; ok {
		s.account(e, -1)
		delete(s.entries, id)
	}
}

func (s *Store) account(e *entry, sign int64) {
	if e.area == Pinned {
		s.stats.PinnedBlocks += sign
		s.stats.PinnedBytes += sign * e.size
	} else {
		s.stats.CacheBlocks += sign
		s.stats.CacheBytes += sign * e.size
	}
}

// makeRoomLocked evicts least-used cache blocks until need more bytes fit in
// the budget. It fails with ErrTooLarge if need alone exceeds the budget.
func (s *Store) makeRoomLocked(need int64) error {
	if need > s.cfg.CacheBytes {
		return fmt.Errorf("%w: %d bytes exceed the cache budget of %d", ErrTooLarge, need, s.cfg.CacheBytes)
	}
	if s.stats.CacheBytes+need <= s.cfg.CacheBytes {
		return nil
	}
	type cand struct {
		id ID
		e  *entry
	}
	var cands []cand
	for id, e := range s.entries {
		if e.area == Cache {
			cands = append(cands, cand{id, e})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		if c := cmp.Compare(a.e.hits, b.e.hits); c != 0 {
			return c
		}
		if c := cmp.Compare(a.e.used, b.e.used); c != 0 {
			return c
		}
		return slices.Compare(a.id[:], b.id[:])
	})
	for _, c := range cands {
		if s.stats.CacheBytes+need <= s.cfg.CacheBytes {
			break
		}
		if err := os.Remove(s.path(Cache, c.id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blockstore: evicting %s: %w", c.id, err)
		}
		s.remove(c.id)
		s.stats.Evictions++
		s.log.Debug("blockstore: evicted", "id", c.id, "bytes", c.e.size, "hits", c.e.hits)
	}
	return nil
}

// Has reports whether the block is present and in which area.
func (s *Store) Has(id ID) (Area, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok {
		return e.area, true
	}
	return 0, false
}

// Size returns the size of a present block.
func (s *Store) Size(id ID) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok {
		return e.size, nil
	}
	return 0, fmt.Errorf("%w: %s", ErrNotFound, id)
}

// Path returns the file holding a present block, for tools and tests that
// inspect the store (the demo damages pieces through it). Never write to it.
func (s *Store) Path(id ID) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[id]; ok {
		return s.path(e.area, id), true
	}
	return "", false
}

// List returns the IDs of the blocks in area a, sorted.
func (s *Store) List(a Area) []ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []ID
	for id, e := range s.entries {
		if e.area == a {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(x, y ID) int { return slices.Compare(x[:], y[:]) })
	return ids
}

// Stats returns a snapshot of the counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Pin moves a block into the pinned area (a no-op if it is there already).
func (s *Store) Pin(ctx context.Context, id ID) error {
	return s.move(ctx, id, Pinned)
}

// Unpin moves a pinned block into the cache, evicting others if needed.
func (s *Store) Unpin(ctx context.Context, id ID) error {
	return s.move(ctx, id, Cache)
}

func (s *Store) move(ctx context.Context, id ID, to Area) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e, ok := s.entries[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if e.area == to {
		return nil
	}
	if to == Cache {
		if err := s.makeRoomLocked(e.size); err != nil {
			return err
		}
	}
	if err := renameSynced(s.path(e.area, id), s.path(to, id)); err != nil {
		return err
	}
	s.account(e, -1)
	e.area = to
	e.hits = 0
	s.account(e, +1)
	return nil
}

// Delete removes a block from whichever area holds it.
func (s *Store) Delete(ctx context.Context, id ID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	e, ok := s.entries[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err := os.Remove(s.path(e.area, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blockstore: deleting %s: %w", id, err)
	}
	s.remove(id)
	return syncDir(filepath.Dir(s.path(e.area, id)))
}

// Close persists the cache index. The store must not be used afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return errors.Join(s.saveIndexLocked(), s.lock.Release())
}

// Flush persists the cache index now.
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveIndexLocked()
}

// renameSynced renames a file and fsyncs the target directory (creating it
// and fsyncing its parent if needed), so the rename survives a crash.
func renameSynced(from, to string) error {
	dir := filepath.Dir(to)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("blockstore: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("blockstore: fsync %s: %w", dir, err)
	}
	return nil
}
