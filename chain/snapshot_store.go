package chain

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
)

// snapshotMetadata is abci.Snapshot.Metadata: what a restoring node checks
// each chunk and the whole against.
type snapshotMetadata struct {
	// AppVersion is the rules version whose state the snapshot holds.
	AppVersion uint64 `cbor:"app_version"`
	// ChunkHashes are the SHA-256 of each chunk, in order.
	ChunkHashes [][]byte `cbor:"chunk_hashes"`
}

// snapshotHash is a snapshot's hash: SHA-256 of its chunk hashes in order.
func snapshotHash(chunkHashes [][]byte) []byte {
	h := sha256.New()
	for _, c := range chunkHashes {
		h.Write(c)
	}
	return h.Sum(nil)
}

// storedSnapshot is one snapshot a node keeps.
type storedSnapshot struct {
	Height   int64            `cbor:"height"`
	Format   uint32           `cbor:"format"`
	AppHash  []byte           `cbor:"app_hash"`
	Metadata snapshotMetadata `cbor:"metadata"`
	chunks   [][]byte         // in-memory store only
}

func (s *storedSnapshot) abci() *abci.Snapshot {
	return &abci.Snapshot{
		Height:   uint64(s.Height),
		Format:   s.Format,
		Chunks:   uint32(len(s.Metadata.ChunkHashes)),
		Hash:     snapshotHash(s.Metadata.ChunkHashes),
		Metadata: mustMarshal(&s.Metadata),
	}
}

// snapshotStore keeps the snapshots a node took: in dir (one directory per
// height: meta and the chunk files 0, 1, …), or in memory if dir is empty.
type snapshotStore struct {
	dir string
	mu  sync.Mutex
	mem map[int64]*storedSnapshot
}

// newSnapshotStore opens the store in dir, removing snapshots a crash left
// half written.
func newSnapshotStore(dir string) *snapshotStore {
	if dir != "" {
		if ents, err := os.ReadDir(dir); err == nil {
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), ".tmp") {
					_ = os.RemoveAll(filepath.Join(dir, e.Name()))
				}
			}
		}
	}
	return &snapshotStore{dir: dir, mem: make(map[int64]*storedSnapshot)}
}

const snapshotMetaFile = "meta"

// list returns the snapshots kept, highest first.
func (s *snapshotStore) list() ([]*storedSnapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*storedSnapshot
	if s.dir == "" {
		for _, sn := range s.mem {
			out = append(out, sn)
		}
	} else {
		ents, err := os.ReadDir(s.dir)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		for _, e := range ents {
			h, err := strconv.ParseInt(e.Name(), 10, 64)
			if err != nil || !e.IsDir() {
				continue // a snapshot being written (h.tmp), or not ours
			}
			b, err := os.ReadFile(filepath.Join(s.dir, e.Name(), snapshotMetaFile))
			if err != nil {
				return nil, fmt.Errorf("snapshot %d: %w", h, err)
			}
			var sn storedSnapshot
			if err := Unmarshal(b, &sn); err != nil {
				return nil, fmt.Errorf("snapshot %d: %w", h, err)
			}
			out = append(out, &sn)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Height > out[j].Height })
	return out, nil
}

// chunk returns chunk i of the snapshot at height of format, or nil if
// there is none.
func (s *snapshotStore) chunk(height int64, format uint32, i uint32) ([]byte, error) {
	if format != SnapshotFormat {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dir == "" {
		sn := s.mem[height]
		if sn == nil || int(i) >= len(sn.chunks) {
			return nil, nil
		}
		return sn.chunks[i], nil
	}
	b, err := os.ReadFile(filepath.Join(s.dir, strconv.FormatInt(height, 10), strconv.FormatUint(uint64(i), 10)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// snapshotWriter takes the stream of one snapshot, cuts it into chunks and
// stores them; commit makes the snapshot visible.
type snapshotWriter struct {
	s      *snapshotStore
	sn     *storedSnapshot
	tmp    string // directory being written
	buf    bytes.Buffer
	chunks [][]byte
}

func (s *snapshotStore) create(height int64, appHash []byte) (*snapshotWriter, error) {
	w := &snapshotWriter{s: s, sn: &storedSnapshot{Height: height, Format: SnapshotFormat, AppHash: appHash, Metadata: snapshotMetadata{AppVersion: AppVersion}}}
	if s.dir != "" {
		w.tmp = filepath.Join(s.dir, strconv.FormatInt(height, 10)+".tmp")
		if err := os.RemoveAll(w.tmp); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(w.tmp, 0o700); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *snapshotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), snapshotChunkSize-w.buf.Len())
		w.buf.Write(p[:take])
		p = p[take:]
		if w.buf.Len() == snapshotChunkSize {
			if err := w.cut(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// cut stores the buffered bytes as the next chunk.
func (w *snapshotWriter) cut() error {
	c := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	sum := sha256.Sum256(c)
	i := len(w.sn.Metadata.ChunkHashes)
	w.sn.Metadata.ChunkHashes = append(w.sn.Metadata.ChunkHashes, sum[:])
	if w.tmp == "" {
		w.chunks = append(w.chunks, c)
		return nil
	}
	return os.WriteFile(filepath.Join(w.tmp, strconv.Itoa(i)), c, 0o600)
}

// commit stores the last chunk and the metadata, and makes the snapshot
// visible; it returns the snapshot's size in bytes.
func (w *snapshotWriter) commit() (int64, error) {
	if w.buf.Len() > 0 || len(w.sn.Metadata.ChunkHashes) == 0 {
		if err := w.cut(); err != nil {
			return 0, err
		}
	}
	size := int64(0)
	if w.tmp == "" {
		for _, c := range w.chunks {
			size += int64(len(c))
		}
		w.sn.chunks = w.chunks
		w.s.mu.Lock()
		w.s.mem[w.sn.Height] = w.sn
		w.s.mu.Unlock()
		return size, nil
	}
	if err := os.WriteFile(filepath.Join(w.tmp, snapshotMetaFile), mustMarshal(w.sn), 0o600); err != nil {
		return 0, err
	}
	ents, _ := os.ReadDir(w.tmp)
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && e.Name() != snapshotMetaFile {
			size += fi.Size()
		}
	}
	final := filepath.Join(w.s.dir, strconv.FormatInt(w.sn.Height, 10))
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if err := os.RemoveAll(final); err != nil {
		return 0, err
	}
	return size, os.Rename(w.tmp, final)
}

// abort drops a snapshot being written.
func (w *snapshotWriter) abort() {
	if w.tmp != "" {
		_ = os.RemoveAll(w.tmp)
	}
}

// prune deletes all but the keep highest snapshots.
func (s *snapshotStore) prune(keep int) error {
	all, err := s.list()
	if err != nil {
		return err
	}
	if len(all) <= keep {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sn := range all[keep:] {
		if s.dir == "" {
			delete(s.mem, sn.Height)
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dir, strconv.FormatInt(sn.Height, 10))); err != nil {
			return err
		}
	}
	return nil
}
