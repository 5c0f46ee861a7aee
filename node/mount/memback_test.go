package mount

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// memBackend is an in-memory namespace: entries by path, content by file
// id (SHA-256 of the bytes). It counts reads, can go offline, and can be
// saved to and loaded from a file (for the crash test's two processes).
type memBackend struct {
	mu      sync.Mutex
	entries map[string]Info // "/" is the root
	content map[[32]byte][]byte

	offline    atomic.Bool
	statCalls  atomic.Int64
	readCalls  atomic.Int64
	readBytes  atomic.Int64
	writeCalls atomic.Int64
	panicPath  atomic.Value // string: Stat of it panics
	statePath  string       // if set, every change is saved there
}

func newMemBackend() *memBackend {
	return &memBackend{entries: map[string]Info{"/": {Path: "/", Dir: true}}, content: map[[32]byte][]byte{}}
}

type memState struct {
	Entries map[string]Info
	Content map[string][]byte
}

func (m *memBackend) saveLocked() {
	if m.statePath == "" {
		return
	}
	st := memState{Entries: m.entries, Content: map[string][]byte{}}
	for id, b := range m.content {
		st.Content[fmt.Sprintf("%x", id)] = b
	}
	b, err := json.Marshal(st)
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(m.statePath+".tmp", b, 0o600); err != nil {
		panic(err)
	}
	if err := os.Rename(m.statePath+".tmp", m.statePath); err != nil {
		panic(err)
	}
}

// loadMemBackend reads a saved namespace and keeps saving to the file.
func loadMemBackend(path string) (*memBackend, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st memState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	m := newMemBackend()
	m.entries = st.Entries
	for _, c := range st.Content {
		m.content[sha256.Sum256(c)] = c
	}
	m.statePath = path
	return m, nil
}

func (m *memBackend) check(ctx context.Context) error {
	if m.offline.Load() {
		return fmt.Errorf("daemon: %w", ErrOffline)
	}
	return ctx.Err()
}

// put sets a file directly, as another device would.
func (m *memBackend) put(path string, data []byte) Info {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := sha256.Sum256(data)
	m.content[id] = append([]byte(nil), data...)
	_, name := splitPath(path)
	info := Info{Path: path, Name: name, Size: uint64(len(data)), MTime: time.Now(), FileID: id}
	m.entries[path] = info
	m.saveLocked()
	return info
}

func (m *memBackend) get(path string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[path]
	if !ok || e.Dir {
		return nil, false
	}
	return m.content[e.FileID], true
}

func (m *memBackend) Stat(ctx context.Context, path string) (Info, error) {
	if err := m.check(ctx); err != nil {
		return Info{}, err
	}
	m.statCalls.Add(1)
	if p, _ := m.panicPath.Load().(string); p == path {
		panic("memBackend: Stat of " + path)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[path]
	if !ok {
		return Info{}, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	return e, nil
}

func (m *memBackend) List(ctx context.Context, path string) ([]Info, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.entries[path]
	if !ok {
		return nil, fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	if !d.Dir {
		return nil, fmt.Errorf("%s: %w", path, ErrNotDir)
	}
	var out []Info
	for p, e := range m.entries {
		if parent, _ := splitPath(p); p != "/" && parent == path {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (m *memBackend) ReadAt(ctx context.Context, path string, id [32]byte, p []byte, off int64) (int, error) {
	if err := m.check(ctx); err != nil {
		return 0, err
	}
	m.mu.Lock()
	c, ok := m.content[id]
	m.mu.Unlock()
	if !ok {
		return 0, fmt.Errorf("content %x: %w", id[:4], fs.ErrNotExist)
	}
	m.readCalls.Add(1)
	if off >= int64(len(c)) {
		return 0, io.EOF
	}
	n := copy(p, c[off:])
	m.readBytes.Add(int64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// parentDirLocked checks that path's parent is a directory.
func (m *memBackend) parentDirLocked(path string) error {
	parent, _ := splitPath(path)
	d, ok := m.entries[parent]
	if !ok {
		return fmt.Errorf("%s: %w", parent, fs.ErrNotExist)
	}
	if !d.Dir {
		return fmt.Errorf("%s: %w", parent, ErrNotDir)
	}
	return nil
}

func (m *memBackend) WriteFile(ctx context.Context, path string, src *os.File, size int64) (Info, error) {
	if err := m.check(ctx); err != nil {
		return Info{}, err
	}
	b, err := io.ReadAll(io.LimitReader(src, size+1))
	if err != nil {
		return Info{}, err
	}
	if int64(len(b)) != size {
		return Info{}, fmt.Errorf("%w: %d bytes, announced %d", fs.ErrInvalid, len(b), size)
	}
	m.writeCalls.Add(1)
	m.mu.Lock()
	if err := m.parentDirLocked(path); err != nil {
		m.mu.Unlock()
		return Info{}, err
	}
	if e, ok := m.entries[path]; ok && e.Dir {
		m.mu.Unlock()
		return Info{}, fmt.Errorf("%s: %w", path, ErrIsDir)
	}
	m.mu.Unlock()
	return m.put(path, b), nil
}

func (m *memBackend) Mkdir(ctx context.Context, path string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.parentDirLocked(path); err != nil {
		return err
	}
	if _, ok := m.entries[path]; ok {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	_, name := splitPath(path)
	m.entries[path] = Info{Path: path, Name: name, Dir: true, MTime: time.Now()}
	m.saveLocked()
	return nil
}

func (m *memBackend) hasChildrenLocked(path string) bool {
	for p := range m.entries {
		if strings.HasPrefix(p, path+"/") {
			return true
		}
	}
	return false
}

func (m *memBackend) Rename(ctx context.Context, from, to string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	src, ok := m.entries[from]
	if !ok {
		return fmt.Errorf("%s: %w", from, fs.ErrNotExist)
	}
	if err := m.parentDirLocked(to); err != nil {
		return err
	}
	if from == to {
		return nil
	}
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("%s into itself: %w", from, fs.ErrInvalid)
	}
	if dst, ok := m.entries[to]; ok {
		switch {
		case dst.Dir && !src.Dir:
			return fmt.Errorf("%s: %w", to, ErrIsDir)
		case !dst.Dir && src.Dir:
			return fmt.Errorf("%s: %w", to, ErrNotDir)
		case dst.Dir && m.hasChildrenLocked(to):
			return fmt.Errorf("%s: %w", to, ErrNotEmpty)
		}
	}
	moved := map[string]Info{}
	for p, e := range m.entries {
		if p == from || strings.HasPrefix(p, from+"/") {
			np := to + strings.TrimPrefix(p, from)
			e.Path = np
			_, e.Name = splitPath(np)
			moved[np] = e
			delete(m.entries, p)
		}
	}
	for p, e := range moved {
		m.entries[p] = e
	}
	m.saveLocked()
	return nil
}

func (m *memBackend) Remove(ctx context.Context, path string) error {
	if err := m.check(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[path]
	if !ok || path == "/" {
		return fmt.Errorf("%s: %w", path, fs.ErrNotExist)
	}
	if e.Dir && m.hasChildrenLocked(path) {
		return fmt.Errorf("%s: %w", path, ErrNotEmpty)
	}
	delete(m.entries, path)
	m.saveLocked()
	return nil
}
