package blockstore

import (
	"bytes"
	"fmt"
	"os"

	"github.com/fxamacker/cbor/v2"
)

// indexRecord is one cache block's hit count in cache.idx.
type indexRecord struct {
	_    struct{} `cbor:",toarray"`
	ID   ID
	Hits uint64
	Used uint64
}

// maxIndexSize bounds cache.idx (about 50 bytes per record).
const maxIndexSize = 256 << 20

var (
	indexEnc, _ = cbor.CoreDetEncOptions().EncMode()
	indexDec, _ = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxArrayElements:  8 << 20,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
)

// loadIndex restores hit counts of blocks the scan found in the cache. A
// missing or damaged index only loses counts, never blocks.
func (s *Store) loadIndex() {
	b, err := os.ReadFile(s.indexPath())
	if err != nil {
		return
	}
	if len(b) > maxIndexSize {
		s.log.Warn("blockstore: ignoring oversized cache index", "bytes", len(b))
		return
	}
	var recs []indexRecord
	if err := indexDec.Unmarshal(b, &recs); err != nil {
		s.log.Warn("blockstore: ignoring damaged cache index", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range recs {
		if e, ok := s.entries[r.ID]; ok && e.area == Cache {
			e.hits, e.used = r.Hits, r.Used
			s.clock = max(s.clock, r.Used)
		}
	}
}

// saveIndexLocked writes cache.idx atomically.
func (s *Store) saveIndexLocked() error {
	var recs []indexRecord
	for id, e := range s.entries {
		if e.area == Cache {
			recs = append(recs, indexRecord{ID: id, Hits: e.hits, Used: e.used})
		}
	}
	b, err := indexEnc.Marshal(recs)
	if err != nil {
		return fmt.Errorf("blockstore: encoding index: %w", err)
	}
	f, err := os.CreateTemp(s.tmpDir(), "index-*")
	if err != nil {
		return fmt.Errorf("blockstore: %w", err)
	}
	_, err = bytes.NewReader(b).WriteTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameSynced(f.Name(), s.indexPath())
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("blockstore: saving index: %w", err)
	}
	return nil
}
