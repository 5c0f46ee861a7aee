package mount

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// blockCache keeps aligned blocks of file content on disk, by file id and
// block index, within a size bound; the least recently used go first.
// Content never changes under a file id, so a cached block is always good.
type blockCache struct {
	dir  string
	max  int64
	log  *slog.Logger
	life context.Context // fetches end with the mount
	wg   sync.WaitGroup  // fetches and their cache writes

	mu    sync.Mutex
	lru   *list.List // of *cacheEntry, most recent at the front
	index map[blockKey]*list.Element
	size  int64

	flight sync.Mutex
	calls  map[blockKey]*blockCall // fetches in progress

	hotMu sync.Mutex
	hot   []hotBlock // the last few blocks used, in memory, newest last
}

// hotBlocks is how many blocks the cache keeps in memory: the kernel reads
// a block in several requests, and they should not each open its file.
const hotBlocks = 8

type hotBlock struct {
	key  blockKey
	data []byte
}

// fromHot copies from an in-memory block, or reports false.
func (c *blockCache) fromHot(k blockKey, want int, p []byte, lo int) bool {
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	for _, h := range c.hot {
		if h.key == k && len(h.data) == want {
			copy(p, h.data[lo:])
			return true
		}
	}
	return false
}

func (c *blockCache) toHot(k blockKey, data []byte) {
	c.hotMu.Lock()
	defer c.hotMu.Unlock()
	for i, h := range c.hot {
		if h.key == k {
			c.hot = append(c.hot[:i], c.hot[i+1:]...)
			break
		}
	}
	if len(c.hot) == hotBlocks {
		c.hot = c.hot[1:]
	}
	c.hot = append(c.hot, hotBlock{k, data})
}

type blockKey struct {
	id    [32]byte
	block int64
}

type cacheEntry struct {
	key  blockKey
	size int64
}

// blockCall is one fetch of a block that concurrent readers share.
type blockCall struct {
	done chan struct{}
	data []byte
	err  error
}

func (k blockKey) name() string {
	h := hex.EncodeToString(k.id[:])
	return filepath.Join(h[:2], h+"."+strconv.FormatInt(k.block, 10))
}

// openBlockCache opens the cache in dir, taking in the blocks a previous
// mount left (oldest first by modification time) and dropping what is over
// max.
func openBlockCache(dir string, max int64, log *slog.Logger) (*blockCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mount: cache: %w", err)
	}
	c := &blockCache{dir: dir, max: max, log: log, life: context.Background(), lru: list.New(), index: map[blockKey]*list.Element{}, calls: map[blockKey]*blockCall{}}
	type found struct {
		key  blockKey
		size int64
		mod  int64
	}
	var all []found
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		base := d.Name()
		if strings.HasPrefix(base, ".tmp-") {
			os.Remove(p) // a write cut short
			return nil
		}
		h, idx, ok := strings.Cut(base, ".")
		id, err1 := hex.DecodeString(h)
		block, err2 := strconv.ParseInt(idx, 10, 64)
		info, err3 := d.Info()
		if !ok || err1 != nil || len(id) != 32 || err2 != nil || err3 != nil {
			return nil
		}
		var k blockKey
		copy(k.id[:], id)
		k.block = block
		all = append(all, found{k, info.Size(), info.ModTime().UnixNano()})
		return nil
	})
	sort.Slice(all, func(i, j int) bool { return all[i].mod < all[j].mod })
	for _, f := range all {
		c.index[f.key] = c.lru.PushFront(&cacheEntry{key: f.key, size: f.size})
		c.size += f.size
	}
	c.mu.Lock()
	c.evictLocked()
	c.mu.Unlock()
	return c, nil
}

// read copies bytes [lo, lo+len(p)) of a cached block of want bytes into
// p, or reports ok = false. A block read from disk is kept in memory for
// the next few reads.
func (c *blockCache) read(k blockKey, want int, p []byte, lo int) bool {
	if c.fromHot(k, want, p, lo) {
		return true
	}
	c.mu.Lock()
	e, ok := c.index[k]
	if ok {
		c.lru.MoveToFront(e)
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	f, err := os.Open(filepath.Join(c.dir, k.name()))
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil && st.Size() != int64(want) {
			err = fmt.Errorf("cached block of %d bytes, want %d", st.Size(), want)
		}
		if err == nil {
			b := make([]byte, want)
			if _, err = f.ReadAt(b, 0); err == nil {
				copy(p, b[lo:])
				c.toHot(k, b)
			}
		}
		f.Close()
	}
	if err != nil {
		c.drop(k)
		return false
	}
	return true
}

// put stores a block (written to a temporary file, then renamed).
func (c *blockCache) put(k blockKey, b []byte) {
	if int64(len(b)) > c.max {
		return
	}
	p := filepath.Join(c.dir, k.name())
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		c.log.Warn("mount: cache write failed", "err", err)
		return
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		c.log.Warn("mount: cache write failed", "err", err)
		return
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		c.log.Warn("mount: cache write failed", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok {
		c.size -= e.Value.(*cacheEntry).size
		c.lru.Remove(e)
	}
	c.index[k] = c.lru.PushFront(&cacheEntry{key: k, size: int64(len(b))})
	c.size += int64(len(b))
	c.evictLocked()
}

func (c *blockCache) drop(k blockKey) {
	c.hotMu.Lock()
	for i, h := range c.hot {
		if h.key == k {
			c.hot = append(c.hot[:i], c.hot[i+1:]...)
			break
		}
	}
	c.hotMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.index[k]; ok {
		c.size -= e.Value.(*cacheEntry).size
		c.lru.Remove(e)
		delete(c.index, k)
	}
}

func (c *blockCache) evictLocked() {
	for c.size > c.max {
		e := c.lru.Back()
		ent := e.Value.(*cacheEntry)
		c.lru.Remove(e)
		delete(c.index, ent.key)
		c.size -= ent.size
		os.Remove(filepath.Join(c.dir, ent.key.name()))
	}
}

// prefetch starts fetching block k (want bytes) into the cache in the
// background, unless it is cached or already being fetched: read-ahead.
func (c *blockCache) prefetch(k blockKey, want int, fetch func(context.Context, []byte) error) {
	c.mu.Lock()
	_, cached := c.index[k]
	c.mu.Unlock()
	c.flight.Lock()
	_, running := c.calls[k]
	c.flight.Unlock()
	if cached || running {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_ = c.get(c.life, k, want, nil, 0, fetch)
	}()
}

// get copies bytes [lo, lo+len(p)) of block k (want bytes) into p, from
// the cache or through fetch; one fetch per block at a time, shared by
// concurrent readers. A fetch its claimer gave up (a sequential stream
// that stopped) is made again here.
func (c *blockCache) get(ctx context.Context, k blockKey, want int, p []byte, lo int, fetch func(context.Context, []byte) error) error {
	for {
		if err := c.getOnce(ctx, k, want, p, lo, fetch); !errors.Is(err, errAbandoned) {
			return err
		}
	}
}

func (c *blockCache) getOnce(ctx context.Context, k blockKey, want int, p []byte, lo int, fetch func(context.Context, []byte) error) error {
	if c.read(k, want, p, lo) {
		return nil
	}
	c.flight.Lock()
	call, running := c.calls[k]
	if !running {
		// A fetch may have finished since the read above: it puts the
		// block in the cache before it leaves calls, so look again.
		c.mu.Lock()
		_, cached := c.index[k]
		c.mu.Unlock()
		if cached {
			c.flight.Unlock()
			if c.read(k, want, p, lo) {
				return nil
			}
			c.flight.Lock()
			call, running = c.calls[k]
		}
		if !running {
			call = &blockCall{done: make(chan struct{})}
			c.calls[k] = call
		}
	}
	c.flight.Unlock()
	if !running {
		// The fetch outlives a reader that gives up, for the others,
		// but not the mount. Readers go on while the block is written
		// to disk.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			b := make([]byte, want)
			err := fetch(c.life, b)
			c.finish(k, call, b, err)
		}()
	}
	select {
	case <-call.done:
		if call.err != nil {
			return call.err
		}
		copy(p, call.data[lo:])
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errAbandoned ends a claimed fetch that was not made: readers waiting
// for it fetch the block themselves.
var errAbandoned = errors.New("mount: block fetch abandoned")

// busy reports whether block k is cached or being fetched.
func (c *blockCache) busy(k blockKey) bool {
	c.flight.Lock()
	_, running := c.calls[k]
	c.flight.Unlock()
	if running {
		return true
	}
	c.mu.Lock()
	_, cached := c.index[k]
	c.mu.Unlock()
	return cached
}

// claim registers a fetch of block k that the caller makes (and ends with
// finish), unless the block is cached or being fetched (ok = false).
// Readers of the block meanwhile wait for it.
func (c *blockCache) claim(k blockKey) (call *blockCall, ok bool) {
	c.flight.Lock()
	defer c.flight.Unlock()
	if _, running := c.calls[k]; running {
		return nil, false
	}
	c.mu.Lock()
	_, cached := c.index[k]
	c.mu.Unlock()
	if cached {
		return nil, false
	}
	call = &blockCall{done: make(chan struct{})}
	c.calls[k] = call
	return call, true
}

// finish ends a fetch of block k: its waiting readers get b (or err) at
// once, and a fetched block is written to disk in the background (the
// call serves it until then).
func (c *blockCache) finish(k blockKey, call *blockCall, b []byte, err error) {
	call.err = err
	if err == nil {
		call.data = b
		c.toHot(k, b)
	}
	close(call.done)
	if err != nil {
		c.flight.Lock()
		delete(c.calls, k)
		c.flight.Unlock()
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.put(k, b)
		// Until it is on disk, readers take the block from the call.
		c.flight.Lock()
		delete(c.calls, k)
		c.flight.Unlock()
	}()
}

// dirCache keeps the last known listing of each directory read, in memory
// and under dir (one JSON file per directory), for offline use.
type dirCache struct {
	dir string
	log *slog.Logger

	mu     sync.Mutex
	lists  map[string][]Info
	listed map[string]time.Time // when the Backend last listed the directory
	stats  map[string]Info
}

func openDirCache(dir string, log *slog.Logger) (*dirCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mount: cache: %w", err)
	}
	return &dirCache{dir: dir, log: log, lists: map[string][]Info{}, listed: map[string]time.Time{}, stats: map[string]Info{}}, nil
}

func (d *dirCache) file(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:16])+".json")
}

func (d *dirCache) statFile(path string) string {
	sum := sha256.Sum256([]byte(path))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:16])+".stat.json")
}

// storeStat records one entry's last known attributes (written to disk
// only when they changed).
func (d *dirCache) storeStat(info Info) {
	d.mu.Lock()
	old, ok := d.stats[info.Path]
	d.stats[info.Path] = info
	d.mu.Unlock()
	if ok && old.FileID == info.FileID && old.Size == info.Size && old.Dir == info.Dir && old.MTime.Equal(info.MTime) && old.Mode == info.Mode {
		return
	}
	b, err := json.Marshal(info)
	if err == nil {
		p := d.statFile(info.Path)
		if err = os.WriteFile(p+".tmp", b, 0o600); err == nil {
			err = os.Rename(p+".tmp", p)
		}
	}
	if err != nil {
		d.log.Warn("mount: saving attributes failed", "path", info.Path, "err", err)
	}
}

// lastStat is an entry's last known attributes.
func (d *dirCache) lastStat(path string) (Info, bool) {
	d.mu.Lock()
	info, ok := d.stats[path]
	d.mu.Unlock()
	if ok {
		return info, true
	}
	b, err := os.ReadFile(d.statFile(path))
	if err != nil || json.Unmarshal(b, &info) != nil || info.Path != path {
		return Info{}, false
	}
	return info, true
}

type savedList struct {
	Path    string
	Entries []Info
}

// listed records a listing the Backend just gave.
func (d *dirCache) listedNow(path string, entries []Info) {
	d.store(path, entries)
	d.mu.Lock()
	d.listed[path] = time.Now()
	d.mu.Unlock()
}

// fresh returns a listing the Backend gave less than maxAge ago.
func (d *dirCache) fresh(path string, maxAge time.Duration) ([]Info, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.listed[path]
	if !ok || time.Since(t) >= maxAge {
		return nil, false
	}
	return d.lists[path], true
}

// store records a directory's listing.
func (d *dirCache) store(path string, entries []Info) {
	d.mu.Lock()
	d.lists[path] = entries
	d.mu.Unlock()
	b, err := json.Marshal(savedList{Path: path, Entries: entries})
	if err == nil {
		p := d.file(path)
		tmp := p + ".tmp"
		if err = os.WriteFile(tmp, b, 0o600); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		d.log.Warn("mount: saving a listing failed", "dir", path, "err", err)
	}
}

// list returns the last known listing of a directory.
func (d *dirCache) list(path string) ([]Info, bool) {
	d.mu.Lock()
	l, ok := d.lists[path]
	d.mu.Unlock()
	if ok {
		return l, true
	}
	b, err := os.ReadFile(d.file(path))
	if err != nil {
		return nil, false
	}
	var s savedList
	if json.Unmarshal(b, &s) != nil || s.Path != path {
		return nil, false
	}
	d.mu.Lock()
	d.lists[path] = s.Entries
	d.mu.Unlock()
	return s.Entries, true
}

// update changes or adds (ok) or removes (!ok) one entry of a known
// listing, so the cache follows the mount's own changes.
func (d *dirCache) update(dirPath, name string, info Info, ok bool) {
	l, known := d.list(dirPath)
	if !known {
		return
	}
	out := make([]Info, 0, len(l)+1)
	for _, e := range l {
		if e.Name != name {
			out = append(out, e)
		}
	}
	if ok {
		out = append(out, info)
	}
	d.store(dirPath, out)
}

// splitPath is path's parent and last element.
func splitPath(path string) (parent, name string) {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/", path[i+1:]
	}
	return path[:i], path[i+1:]
}

// joinPath is the path of name in dir.
func joinPath(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}
