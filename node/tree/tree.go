// Package tree keeps an account's namespace — its directory tree of files
// (storage/namespace) — in step with the ledger, for every device of the
// account.
//
// The tree itself is stored as an ordinary encrypted coop file; the ledger
// holds only its root pointer, sealed with the account's root key, under a
// version number (a SetRoot transaction). A change is made by reading the
// current root, applying the change to a copy of its tree, storing the new
// tree and sending SetRoot with the next version: a compare-and-swap, so
// of two devices changing the tree at once exactly one commits. The other
// (the loser) reads the winner's tree, merges its own change into it by
// path (namespace.Merge: edits of one path keep both versions, the loser's
// as a conflict copy; nothing written by either device is lost) and tries
// again with the version after the winner's.
//
// A sealed root opens only with the account's root key, and only for the
// account and version it was sealed for (both are the AEAD's associated
// data), so a root copied to another account or version does not open.
//
// Service is the loop's state; it declares the small interfaces it needs —
// the ledger's root records (Ledger) and the block network's put and get of
// a whole small file (Blobs) — which package node implements.
package tree

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/coop-network/coop/storage/namespace"
)

// ErrStale is what Ledger.SetRoot returns (wrapped) when the version it was
// given is not the one after the current root: another device committed
// first.
var ErrStale = errors.New("the namespace root changed since it was read")

// ErrNoRoot is what Ledger.Root returns (wrapped) for an account that never
// set a root: its tree is empty, at version 0.
var ErrNoRoot = errors.New("the account has no namespace root yet")

// ErrNoVersion is returned for a version the ledger no longer keeps (or
// never had).
var ErrNoVersion = errors.New("no such namespace version")

// Root is one root record of the ledger.
type Root struct {
	Version uint64
	// Sealed is the sealed namespace.Pointer of the tree.
	Sealed []byte
	// Height is the block that committed it; By the device (or account)
	// that set it, as text for display.
	Height int64
	By     string
}

// Ledger reads and writes the account's root records.
type Ledger interface {
	// Root is the account's current root; an error wrapping ErrNoRoot if it
	// has none.
	Root(ctx context.Context) (Root, error)
	// Roots are the kept roots, newest first.
	Roots(ctx context.Context) ([]Root, error)
	// SetRoot commits sealed as root version, which must be the current
	// version + 1; an error wrapping ErrStale when another commit came
	// first. It returns once the tx committed.
	SetRoot(ctx context.Context, version uint64, sealed []byte) error
}

// Blobs stores and fetches whole small files (an encoded tree) in the block
// network.
type Blobs interface {
	// PutBlob stores data as a new encrypted file and returns where it is.
	PutBlob(ctx context.Context, data []byte) (namespace.Pointer, error)
	// GetBlob reads back a file PutBlob stored (verified, whole).
	GetBlob(ctx context.Context, p namespace.Pointer) ([]byte, error)
	// ReleaseBlob removes a file PutBlob stored once no kept root refers
	// to it (an old tree).
	ReleaseBlob(ctx context.Context, p namespace.Pointer) error
}

// Config configures a Service.
type Config struct {
	// Account is the account's address bytes, bound into every sealed root.
	Account []byte
	// Key is the account's root key (every device of the account has it).
	Key [32]byte
	// Label names this device in conflict copies ("laptop").
	Label string
	// MaxAttempts bounds the compare-and-swap retries of one Update (0:
	// DefaultMaxAttempts).
	MaxAttempts int
	// Logger receives the service's lines; nil means slog.Default().
	Logger *slog.Logger
}

// DefaultMaxAttempts is how many times an Update tries to commit before it
// gives up: each failed attempt means another device committed meanwhile.
const DefaultMaxAttempts = 16

// Service reads and changes one account's tree.
type Service struct {
	cfg   Config
	led   Ledger
	blobs Blobs
	log   *slog.Logger

	mu sync.Mutex // serialises Update: one change of this device at a time
	// cache holds decoded trees by version (immutable once committed).
	cacheMu sync.Mutex
	cache   map[uint64]cached
}

type cached struct {
	tree *namespace.Tree
	ptr  namespace.Pointer
}

// New makes a Service over led and blobs.
func New(cfg Config, led Ledger, blobs Blobs) *Service {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Service{cfg: cfg, led: led, blobs: blobs, log: log.With("component", "namespace"), cache: make(map[uint64]cached)}
}

// associated is the AEAD's associated data of a sealed root: the account
// and the version it is sealed for.
func (s *Service) associated(version uint64) []byte {
	ad := append([]byte("coop/v1 namespace root\x00"), s.cfg.Account...)
	return binary.BigEndian.AppendUint64(ad, version)
}

// Current is the account's tree as the ledger's current root names it, and
// its version (an empty tree at version 0 if there is no root yet). The
// tree is the caller's to change.
func (s *Service) Current(ctx context.Context) (*namespace.Tree, uint64, error) {
	t, v, err := s.current(ctx)
	if err != nil {
		return nil, 0, err
	}
	return t.Clone(), v, nil
}

// current is Current without the copy: the cached tree, not to be changed.
func (s *Service) current(ctx context.Context) (*namespace.Tree, uint64, error) {
	r, err := s.led.Root(ctx)
	if errors.Is(err, ErrNoRoot) {
		return namespace.New(), 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading the namespace root: %w", err)
	}
	c, err := s.load(ctx, r)
	if err != nil {
		return nil, 0, err
	}
	return c.tree, r.Version, nil
}

// load opens and fetches the tree of root r, from the cache when it can.
func (s *Service) load(ctx context.Context, r Root) (cached, error) {
	s.cacheMu.Lock()
	c, ok := s.cache[r.Version]
	s.cacheMu.Unlock()
	if ok {
		return c, nil
	}
	p, err := namespace.Open(s.cfg.Key, s.associated(r.Version), r.Sealed)
	if err != nil {
		return cached{}, fmt.Errorf("opening namespace root version %d: %w", r.Version, err)
	}
	b, err := s.blobs.GetBlob(ctx, p)
	if err != nil {
		return cached{}, fmt.Errorf("fetching the tree of namespace version %d: %w", r.Version, err)
	}
	t, err := namespace.Decode(b)
	if err != nil {
		return cached{}, fmt.Errorf("namespace version %d: %w", r.Version, err)
	}
	c = cached{tree: t, ptr: p}
	s.cacheMu.Lock()
	s.cache[r.Version] = c
	s.cacheMu.Unlock()
	return c, nil
}

// At is the tree of a kept version (a copy the caller may change).
func (s *Service) At(ctx context.Context, version uint64) (*namespace.Tree, error) {
	if version == 0 {
		return namespace.New(), nil
	}
	roots, err := s.led.Roots(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the kept namespace roots: %w", err)
	}
	for _, r := range roots {
		if r.Version == version {
			c, err := s.load(ctx, r)
			if err != nil {
				return nil, err
			}
			return c.tree.Clone(), nil
		}
	}
	return nil, fmt.Errorf("%w: version %d (the ledger keeps %d versions)", ErrNoVersion, version, len(roots))
}

// Log is the kept roots, newest first.
func (s *Service) Log(ctx context.Context) ([]Root, error) {
	return s.led.Roots(ctx)
}

// Result is what an Update committed.
type Result struct {
	// Version is the committed version; Changed is false (and Version the
	// current one) when the change left the tree as it was.
	Version uint64
	Changed bool
	// Conflicts are the paths merged with another device's concurrent
	// change into conflict copies.
	Conflicts []namespace.Conflict
	// Attempts counts the compare-and-swap tries (1: no race).
	Attempts int
	// Tree is the committed tree (not to be changed).
	Tree *namespace.Tree
}

// Update applies change to the current tree and commits the result as the
// next version. When another device commits first, the change is merged by
// path into that device's tree and committed after it; change itself runs
// once, on the tree this device read. An error from change aborts the
// update and is returned as is.
func (s *Service) Update(ctx context.Context, change func(*namespace.Tree) error) (Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	base, version, err := s.current(ctx)
	if err != nil {
		return Result{}, err
	}
	mine := base.Clone()
	if err := change(mine); err != nil {
		return Result{}, err
	}
	var conflicts []namespace.Conflict
	for attempt := 1; ; attempt++ {
		same, err := equal(mine, base)
		if err != nil {
			return Result{}, err
		}
		if same {
			return Result{Version: version, Conflicts: conflicts, Attempts: attempt, Tree: base}, nil
		}
		err = s.commit(ctx, mine, version+1)
		if err == nil {
			return Result{Version: version + 1, Changed: true, Conflicts: conflicts, Attempts: attempt, Tree: mine}, nil
		}
		if !errors.Is(err, ErrStale) || attempt >= s.cfg.MaxAttempts {
			return Result{}, err
		}
		// Another device committed first: merge into its tree and go on
		// from its version.
		winner, wv, err := s.current(ctx)
		if err != nil {
			return Result{}, err
		}
		if wv <= version {
			// The ledger we read lags the one that refused us; read again.
			continue
		}
		merged, cs := namespace.Merge(base, winner, mine, s.cfg.Label)
		s.log.Info("namespace changed on another device; merged", "version", wv, "conflicts", len(cs))
		conflicts = append(conflicts, cs...)
		base, version, mine = winner, wv, merged
	}
}

// commit stores t and sends it as root version.
func (s *Service) commit(ctx context.Context, t *namespace.Tree, version uint64) error {
	b, err := namespace.Encode(t)
	if err != nil {
		return fmt.Errorf("encoding the namespace: %w", err)
	}
	p, err := s.blobs.PutBlob(ctx, b)
	if err != nil {
		return fmt.Errorf("storing the namespace: %w", err)
	}
	sealed, err := namespace.Seal(s.cfg.Key, s.associated(version), p)
	if err != nil {
		return fmt.Errorf("sealing the namespace root: %w", err)
	}
	// What the ledger drops from its kept roots when this one commits.
	old, _ := s.led.Roots(ctx)
	if err := s.led.SetRoot(ctx, version, sealed); err != nil {
		if rerr := s.blobs.ReleaseBlob(context.WithoutCancel(ctx), p); rerr != nil {
			s.log.Warn("could not release an uncommitted tree", "file", fmt.Sprintf("%x", p.FileID[:8]), "err", rerr)
		}
		return err
	}
	s.cacheMu.Lock()
	s.cache[version] = cached{tree: t, ptr: p}
	s.cacheMu.Unlock()
	s.releaseDropped(ctx, old, version)
	return nil
}

// releaseDropped releases the trees of kept roots that committing version
// pushed out of the ledger's history, and forgets them.
func (s *Service) releaseDropped(ctx context.Context, before []Root, version uint64) {
	after, err := s.led.Roots(ctx)
	if err != nil || len(after) == 0 {
		return
	}
	oldest := after[len(after)-1].Version
	for _, r := range before {
		if r.Version >= oldest {
			continue
		}
		p, err := namespace.Open(s.cfg.Key, s.associated(r.Version), r.Sealed)
		if err != nil {
			continue
		}
		if err := s.blobs.ReleaseBlob(ctx, p); err != nil {
			s.log.Warn("could not release an old tree", "version", r.Version, "err", err)
		}
		s.cacheMu.Lock()
		delete(s.cache, r.Version)
		s.cacheMu.Unlock()
	}
}

// equal reports whether two trees encode the same.
func equal(a, b *namespace.Tree) (bool, error) {
	ea, err := namespace.Encode(a)
	if err != nil {
		return false, err
	}
	eb, err := namespace.Encode(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ea, eb), nil
}
