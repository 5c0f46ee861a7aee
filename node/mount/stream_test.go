package mount

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// memStreamer is a memBackend that also streams (Streamer), counting the
// streams it opens and closes and the bytes they hand out; with hold set,
// a stream hands out hold bytes and then waits for its context to end.
type memStreamer struct {
	*memBackend
	opened, closed, streamed atomic.Int64
	hold                     int64
}

func (m *memStreamer) OpenStream(ctx context.Context, path string, id [32]byte, off int64) (io.ReadCloser, error) {
	if err := m.check(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	c, ok := m.content[id]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("content %x: %w", id[:4], fs.ErrNotExist)
	}
	m.opened.Add(1)
	return &memStream{m: m, ctx: ctx, rest: c[min(off, int64(len(c))):]}, nil
}

type memStream struct {
	m    *memStreamer
	ctx  context.Context
	rest []byte
	sent int64
}

func (s *memStream) Read(p []byte) (int, error) {
	if s.m.hold > 0 && s.sent >= s.m.hold {
		<-s.ctx.Done()
		return 0, s.ctx.Err()
	}
	if len(s.rest) == 0 {
		return 0, io.EOF
	}
	if s.m.hold > 0 {
		p = p[:min(int64(len(p)), s.m.hold-s.sent)]
	}
	n := copy(p, s.rest)
	s.rest = s.rest[n:]
	s.sent += int64(n)
	s.m.streamed.Add(int64(n))
	return n, nil
}

func (s *memStream) Close() error {
	s.m.closed.Add(1)
	return nil
}

// TestSequentialReadsAreStreamed: reading a whole file through a
// Streamer takes its blocks from a stream, each block fetched once, and
// they stay readable offline; a read at an offset nothing read before
// ended at is a ranged read of its block alone.
func TestSequentialReadsAreStreamed(t *testing.T) {
	b := &memStreamer{memBackend: newMemBackend()}
	data := randomData(16<<20+77, 4)
	b.put("/big", data)
	cache := t.TempDir()
	dir := t.TempDir()
	requireFUSE(t)
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: cache, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "big"))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 100)
	if _, err := f.ReadAt(p, 5<<20); err != nil || !bytes.Equal(p, data[5<<20:5<<20+100]) {
		t.Fatalf("range read: %v", err)
	}
	if calls, n, opened := b.readCalls.Load(), b.readBytes.Load(), b.opened.Load(); calls != 1 || n != DefaultBlockSize || opened != 0 {
		t.Fatalf("100 bytes at 5 MiB: %d ranged reads of %d bytes, %d streams; want one block, no stream", calls, n, opened)
	}
	f.Close()
	got, err := os.ReadFile(filepath.Join(dir, "big"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("whole read: %d bytes, %v", len(got), err)
	}
	ranged, streamed := b.readBytes.Load(), b.streamed.Load()
	if b.opened.Load() == 0 || streamed < int64(len(data))/2 {
		t.Fatalf("whole read: %d streams gave %d bytes, want most of the file streamed", b.opened.Load(), streamed)
	}
	if ranged+streamed != int64(len(data)) {
		t.Fatalf("whole read fetched %d bytes ranged and %d streamed, want each of the file's %d bytes once", ranged, streamed, len(data))
	}
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if o, c := b.opened.Load(), b.closed.Load(); o != c {
		t.Fatalf("%d streams opened, %d closed", o, c)
	}

	b.offline.Store(true)
	mountAt(t, dir, b, cache)
	before := b.readCalls.Load() + b.opened.Load()
	if got, err := os.ReadFile(filepath.Join(dir, "big")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("offline read of the streamed file: %d bytes, %v", len(got), err)
	}
	if b.readCalls.Load()+b.opened.Load() != before {
		t.Fatal("the offline read reached the backend")
	}
}

// TestClosingAHandleMidStreamStopsItsStream: a stream stuck mid-file ends
// when its file is closed, leaving no goroutine behind, and the blocks it
// had claimed are fetched by the next reader.
func TestClosingAHandleMidStreamStopsItsStream(t *testing.T) {
	requireFUSE(t)
	before := runtime.NumGoroutine()
	b := &memStreamer{memBackend: newMemBackend(), hold: DefaultBlockSize}
	data := randomData(8<<20, 5)
	b.put("/f", data)
	dir := t.TempDir()
	m, err := Mount(context.Background(), dir, b, Options{CacheDir: t.TempDir(), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4096)
	if _, err := io.ReadFull(f, p); err != nil || !bytes.Equal(p, data[:4096]) {
		t.Fatalf("first read: %v", err)
	}
	eventually(t, "the stream to stall after its first block", func() bool { return b.streamed.Load() == DefaultBlockSize })
	f.Close()
	eventually(t, "the closed file's stream to be closed", func() bool { return b.opened.Load() == 1 && b.closed.Load() == 1 })
	// The blocks the stalled stream claimed are read by someone else
	// (ranged reads: this backend's streams all stall after one block).
	g, err := os.Open(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, 4096)
	if _, err := g.ReadAt(q, 2<<20); err != nil || !bytes.Equal(q, data[2<<20:2<<20+4096]) {
		t.Fatalf("read of a block the closed stream had claimed: %v", err)
	}
	g.Close()
	if err := m.Unmount(); err != nil {
		t.Fatal(err)
	}
	if o, c := b.opened.Load(), b.closed.Load(); o != c {
		t.Fatalf("%d streams opened, %d closed", o, c)
	}
	eventually(t, "the mount's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}
