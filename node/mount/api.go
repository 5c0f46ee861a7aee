package mount

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"os"
	"sync"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

// NewAPIBackend is the namespace of the node whose local API c talks to, as
// the mount shows it: what `coop mount` runs on. Reads fetch byte ranges
// (Client.GetRange) of the file content the mount opened, a sequential
// read streams it (OpenStream, one get per part), writes are puts
// at the path, renames replace as rename(2) does.
func NewAPIBackend(c *api.Client) Backend { return &apiBackend{c: c} }

// apiBackend is the daemon's namespace as the mount sees it.
type apiBackend struct {
	c *api.Client
	// caps are the capabilities of the file contents listed so far, by
	// file id, so a read can name what it reads; a file stored in parts
	// has its parts instead, by its content id.
	mu    sync.Mutex
	caps  map[[32]byte]string
	parts map[[32]byte][]api.Part
}

// mountErr turns an API error into the mount's kind of it.
func mountErr(err error) error {
	var op *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrNoPath):
		return fmt.Errorf("%w: %w", fs.ErrNotExist, err)
	case errors.Is(err, api.ErrExist):
		return fmt.Errorf("%w: %w", fs.ErrExist, err)
	case errors.Is(err, api.ErrNotDir):
		return fmt.Errorf("%w: %w", ErrNotDir, err)
	case errors.Is(err, api.ErrIsDir):
		return fmt.Errorf("%w: %w", ErrIsDir, err)
	case errors.Is(err, api.ErrNotEmpty):
		return fmt.Errorf("%w: %w", ErrNotEmpty, err)
	case errors.Is(err, api.ErrInvalid):
		return fmt.Errorf("%w: %w", fs.ErrInvalid, err)
	case errors.Is(err, api.ErrForbidden):
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	case errors.Is(err, api.ErrUnavailable), errors.As(err, &op):
		return fmt.Errorf("%w: %w", ErrOffline, err)
	}
	return err
}

func (b *apiBackend) info(e api.Entry) Info {
	i := Info{Path: e.Path, Name: e.Name, Dir: e.Dir, Size: e.Size, MTime: e.MTime, Mode: fs.FileMode(e.Mode)}
	if e.Path == "/" {
		i.Name = ""
	}
	if !e.Dir && len(e.Parts) > 0 {
		if id, err := blockstore.ParseID(e.FileID); err == nil {
			i.FileID = id
			b.mu.Lock()
			if b.parts == nil {
				b.parts = map[[32]byte][]api.Part{}
			}
			b.parts[id] = e.Parts
			b.mu.Unlock()
		}
	} else if !e.Dir && e.Capability != "" {
		if c, err := storage.ParseCapability(e.Capability); err == nil {
			i.FileID = c.FileID
			b.mu.Lock()
			if b.caps == nil {
				b.caps = map[[32]byte]string{}
			}
			b.caps[c.FileID] = e.Capability
			b.mu.Unlock()
		}
	}
	return i
}

func (b *apiBackend) Stat(ctx context.Context, path string) (Info, error) {
	e, err := b.c.Stat(ctx, path, 0)
	if err != nil {
		return Info{}, mountErr(err)
	}
	return b.info(*e), nil
}

func (b *apiBackend) List(ctx context.Context, path string) ([]Info, error) {
	l, err := b.c.List(ctx, path, 0)
	if err != nil {
		return nil, mountErr(err)
	}
	out := make([]Info, 0, len(l.Entries))
	for _, e := range l.Entries {
		out = append(out, b.info(e))
	}
	return out, nil
}

// content is what a read of file content fileID names: its capability,
// or its parts.
func (b *apiBackend) content(ctx context.Context, path string, fileID [32]byte) (string, []api.Part, error) {
	lookup := func() (string, []api.Part, bool) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if parts, ok := b.parts[fileID]; ok {
			return "", parts, true
		}
		c, ok := b.caps[fileID]
		return c, nil, ok
	}
	capability, parts, ok := lookup()
	if !ok {
		// Not listed by this process yet: the path names it.
		if _, err := b.Stat(ctx, path); err != nil {
			return "", nil, err
		}
		if capability, parts, ok = lookup(); !ok {
			return "", nil, fmt.Errorf("%w: %s changed since it was opened", fs.ErrNotExist, path)
		}
	}
	return capability, parts, nil
}

func (b *apiBackend) ReadAt(ctx context.Context, path string, fileID [32]byte, p []byte, off int64) (int, error) {
	capability, parts, err := b.content(ctx, path, fileID)
	if err != nil {
		return 0, err
	}
	if parts != nil {
		return b.readParts(ctx, parts, p, off)
	}
	return b.readRange(ctx, capability, p, off)
}

// OpenStream is one get of the content from off to its end (Streamer);
// a file in parts is read part after part, the next part's get opened
// while the one before is read (as the daemon reads parts for `coop get`).
func (b *apiBackend) OpenStream(ctx context.Context, path string, fileID [32]byte, off int64) (io.ReadCloser, error) {
	capability, parts, err := b.content(ctx, path, fileID)
	if err != nil {
		return nil, err
	}
	if parts == nil {
		parts = []api.Part{{Capability: capability, Size: math.MaxInt64}}
	}
	var spans []partSpan
	start := int64(0)
	for _, p := range parts {
		end := start + int64(p.Size)
		if end > off {
			spans = append(spans, partSpan{capability: p.Capability, off: max(off-start, 0)})
		}
		start = end
	}
	ctx, cancel := context.WithCancel(ctx)
	ps := &partStream{b: b, ctx: ctx, cancel: cancel, spans: spans}
	if len(spans) > 0 {
		ps.next = ps.open(0)
		if err := ps.advance(); err != nil {
			cancel()
			return nil, err
		}
	}
	return ps, nil
}

// partSpan is where a stream reads one part from.
type partSpan struct {
	capability string
	off        int64
}

// partOpen is the get of a part being opened.
type partOpen struct {
	done chan struct{}
	rc   io.ReadCloser
	err  error
}

// partStream reads spans of parts one after the other, the next one's
// get opened while the current one is read.
type partStream struct {
	b      *apiBackend
	ctx    context.Context
	cancel context.CancelFunc
	spans  []partSpan
	i      int           // the span cur reads
	cur    io.ReadCloser // nil before the first and after the last
	next   *partOpen     // the get of span i+1 (or i before the first)
	err    error
}

func (p *partStream) open(i int) *partOpen {
	o := &partOpen{done: make(chan struct{})}
	s := p.spans[i]
	go func() {
		defer close(o.done)
		o.rc, o.err = p.b.c.GetRange(p.ctx, s.capability, s.off, -1)
		if errors.Is(o.err, api.ErrRange) {
			o.rc, o.err = io.NopCloser(eofReader{}), nil // at the end
		}
		o.err = mountErr(o.err)
	}()
	return o
}

// advance makes the opened next part the current one and opens the one
// after it.
func (p *partStream) advance() error {
	o := p.next
	p.next = nil
	<-o.done
	if o.err != nil {
		return o.err
	}
	p.cur = o.rc
	if p.i+1 < len(p.spans) {
		p.next = p.open(p.i + 1)
	}
	return nil
}

func (p *partStream) Read(b []byte) (int, error) {
	if p.err != nil {
		return 0, p.err
	}
	for p.cur != nil {
		k, err := p.cur.Read(b)
		if err == io.EOF {
			p.cur.Close()
			p.cur = nil
			if p.i+1 < len(p.spans) {
				p.i++
				if err := p.advance(); err != nil {
					p.err = err
					return k, err
				}
			}
			if k > 0 {
				return k, nil
			}
			continue
		}
		if err != nil {
			p.err = mountErr(err)
		}
		return k, p.err
	}
	return 0, io.EOF
}

// Close stops the gets and waits for the one being opened.
func (p *partStream) Close() error {
	p.cancel()
	if p.cur != nil {
		p.cur.Close()
	}
	if o := p.next; o != nil {
		<-o.done
		if o.rc != nil {
			o.rc.Close()
		}
	}
	return nil
}

// eofReader is an empty reader.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// readParts reads p at off of a file stored in parts: from each part the
// range covers, its share.
func (b *apiBackend) readParts(ctx context.Context, parts []api.Part, p []byte, off int64) (int, error) {
	done := 0
	start := int64(0)
	for _, part := range parts {
		end := start + int64(part.Size)
		at := off + int64(done)
		if done < len(p) && at >= start && at < end {
			want := min(int64(len(p)-done), end-at)
			k, err := b.readRange(ctx, part.Capability, p[done:done+int(want)], at-start)
			done += k
			if err != nil && (err != io.EOF || int64(k) < want) {
				return done, err
			}
		}
		start = end
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// readRange reads p at off of the file a capability names.
func (b *apiBackend) readRange(ctx context.Context, capability string, p []byte, off int64) (int, error) {
	rc, err := b.c.GetRange(ctx, capability, off, int64(len(p)))
	if errors.Is(err, api.ErrRange) {
		return 0, io.EOF // at or past the end
	}
	if err != nil {
		return 0, mountErr(err)
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		err = io.EOF
	}
	return n, mountErr(err)
}

func (b *apiBackend) WriteFile(ctx context.Context, path string, src *os.File, size int64) (Info, error) {
	ch, err := b.c.PutPath(ctx, src, size, path, api.PathPutOptions{})
	if err != nil {
		return Info{}, mountErr(err)
	}
	if ch.Entry == nil {
		return b.Stat(ctx, path)
	}
	return b.info(*ch.Entry), nil
}

func (b *apiBackend) Mkdir(ctx context.Context, path string) error {
	_, err := b.c.Mkdir(ctx, path, false)
	return mountErr(err)
}

func (b *apiBackend) Rename(ctx context.Context, from, to string) error {
	_, err := b.c.Move(ctx, from, to, true)
	return mountErr(err)
}

func (b *apiBackend) Remove(ctx context.Context, path string) error {
	_, err := b.c.RemovePath(ctx, path, false)
	return mountErr(err)
}

var _ Streamer = (*apiBackend)(nil)
