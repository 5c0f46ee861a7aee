package prover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/proofs"
)

// LevelStore keeps the proofs.Levels of pieces as files in one directory,
// one per piece, named by the piece id in hex. It is safe for concurrent use
// (each Put renames a complete file into place; readers see the old file or
// the new one). Levels read back are checked only for their own consistency
// (proofs.DecodeLevels): callers check them against the piece's commitment.
type LevelStore struct {
	dir string
}

// OpenLevelStore returns the store in dir, creating the directory and
// removing temporary files a crash left.
func OpenLevelStore(dir string) (*LevelStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("prover: levels directory: %w", err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return &LevelStore{dir: dir}, nil
}

func (s *LevelStore) path(id chain.Hash) string { return filepath.Join(s.dir, id.String()) }

// Put stores the Levels of piece id, replacing any: it writes a temporary
// file, syncs it and renames it into place.
func (s *LevelStore) Put(id chain.Hash, lv *proofs.Levels) error {
	b, err := lv.MarshalBinary()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, id.String()+".*.tmp")
	if err != nil {
		return fmt.Errorf("prover: writing levels of %s: %w", id, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.path(id))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("prover: writing levels of %s: %w", id, err)
	}
	return nil
}

// Levels returns the stored Levels of piece id; an error wrapping
// fs.ErrNotExist if there are none, proofs.ErrMalformedLevels or
// proofs.ErrLevelsMismatch if the file is damaged. Files larger than the
// Levels of a 2^40-byte piece are refused before reading.
func (s *LevelStore) Levels(id chain.Hash) (*proofs.Levels, error) {
	p := s.path(id)
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if fi.Size() > proofs.LevelsSize(1<<40) {
		return nil, fmt.Errorf("%w: levels file of %s is %d bytes", proofs.ErrMalformedLevels, id, fi.Size())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	return proofs.DecodeLevels(b)
}

// Delete removes the Levels of piece id; none stored is not an error.
func (s *LevelStore) Delete(id chain.Hash) error {
	if err := os.Remove(s.path(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("prover: deleting levels of %s: %w", id, err)
	}
	return nil
}
