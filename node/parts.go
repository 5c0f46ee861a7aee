package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/coop-network/coop/chain"
	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
	"github.com/coop-network/coop/storage/namespace"
)

// Parted files: a namespace file larger than one part is stored as parts,
// each an ordinary coop file of one segment (the node's
// Storage.SegmentSize), so that an edit stores only the parts it changed
// (docs/storage.md, "Files that change").

// partPuts is how many parts of one file are stored at once: the next
// part is read and hashed while the one before is coded, pushed and
// recorded on the ledger.
const partPuts = 2

// partSize is the size of the parts this node stores a large file in: one
// segment, so that an edit of a range within one segment stores one
// segment's pieces again (two when it straddles a boundary).
func (n *Node) partSize() int64 { return n.cfg.Storage.SegmentSize }

// partKey is what makes a part reusable: its plaintext's hash and size.
type partKey struct {
	hash [32]byte
	size uint64
}

// storedFile is what storeFile stored: the namespace file (its Redundancy,
// Size and parts or capability set; MTime and Mode left to the caller),
// the put's result for the API, and the ids of the coop files it stored
// (what to remove if the namespace change does not take).
type storedFile struct {
	file   namespace.File
	res    *api.PutResult
	stored []string
}

// storeFile stores r (size bytes, or -1 if unknown) as a namespace file
// with put options po: whole when it fits in one part, else in parts of
// partSize. When old is a parted file stored at the redundancy po asks
// for, a part whose plaintext hash and size equal one of old's is not
// stored again: the new file names the old part (same file id and key).
// A part repeated within the file is stored once. If storing fails, the
// parts stored so far are removed and nothing is left behind.
func (n *Node) storeFile(ctx context.Context, r io.Reader, size int64, po api.PutOptions, old *namespace.File) (*storedFile, error) {
	ps := n.partSize()
	if size >= 0 && size <= ps {
		return n.storeWhole(ctx, r, size, po)
	}
	scfg, err := n.putConfig(po)
	if err != nil {
		return nil, err
	}
	reuse := map[partKey]namespace.Part{}
	if old != nil && old.Parts != nil && old.Redundancy == redundancyOf(scfg.K, scfg.M) {
		for _, p := range old.Parts {
			reuse[partKey{p.Hash, p.Size}] = p
		}
	}
	var (
		parts  []namespace.Part
		dup    = map[int]int{} // part i is the same as part j, stored once
		first  = map[partKey]int{}
		mu     sync.Mutex
		stored []string
		res0   *api.PutResult // the first stored part's result
		caps   = map[int]storage.Capability{}
		total  int64
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partPuts)
	cleanup := func() {
		for _, id := range stored {
			if err := n.Remove(context.WithoutCancel(ctx), id); err != nil {
				n.log.Warn("could not remove a part of a put that failed", "file", id, "err", err)
			}
		}
	}
	for i := 0; ; i++ {
		sp, key, err := n.spoolPart(gctx, r, ps)
		if err != nil {
			g.Wait()
			cleanup()
			return nil, err
		}
		if key.size == 0 {
			sp.Close()
			if i == 0 {
				// An empty file of unknown size.
				return n.storeWhole(ctx, eofReader{}, 0, po)
			}
			break
		}
		if i == 0 && key.size < uint64(ps) {
			// An unknown size that fits in one part: store it whole.
			defer sp.Close()
			if size >= 0 {
				return nil, fmt.Errorf("%w: the file was %d bytes, not the %d announced", ErrInvalidArgument, key.size, size)
			}
			return n.storeWhole(ctx, io.NewSectionReader(sp, 0, int64(key.size)), int64(key.size), po)
		}
		total += int64(key.size)
		parts = append(parts, namespace.Part{Size: key.size, Hash: key.hash})
		if p, ok := reuse[key]; ok {
			sp.Close()
			parts[i] = p
			continue
		}
		if j, ok := first[key]; ok {
			sp.Close()
			dup[i] = j
			continue
		}
		first[key] = i
		g.Go(func() error {
			defer sp.Close()
			o := po
			o.Name = partName(po.Name, i)
			res, err := n.put(gctx, io.NewSectionReader(sp, 0, int64(key.size)), int64(key.size), o)
			if err != nil {
				return fmt.Errorf("storing part %d: %w", i+1, err)
			}
			c, err := storage.ParseCapability(res.Capability)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			stored = append(stored, res.FileID)
			caps[i] = c
			if res0 == nil {
				res0 = res
			}
			return nil
		})
		if key.size < uint64(ps) {
			break // a short part is the last
		}
	}
	err = g.Wait()
	if err == nil && size >= 0 && total != size {
		err = fmt.Errorf("%w: the file was %d bytes, not the %d announced", ErrInvalidArgument, total, size)
	}
	if err != nil {
		cleanup()
		return nil, err
	}
	for i, c := range caps {
		parts[i].FileID, parts[i].Key = c.FileID, c.Key
	}
	for i, j := range dup {
		parts[i] = parts[j]
	}
	f := namespace.Parted(parts)
	out := &api.PutResult{FileID: blockstore.ID(f.FileID).String(), Size: int64(f.Size), Parts: len(parts), PartsStored: len(stored)}
	if res0 != nil {
		out.K, out.M, out.Copies = res0.K, res0.M, res0.Copies
		out.AskedK, out.AskedM, out.Degraded = res0.AskedK, res0.AskedM, res0.Degraded
		f.Redundancy = askedRedundancy(res0)
	} else {
		// Every part was the old file's: it keeps what it was stored at.
		f.Redundancy = old.Redundancy
		out.K, out.M = scfg.K, scfg.M
		if scfg.K == 1 {
			out.Copies = scfg.M + 1
		}
	}
	return &storedFile{file: f, res: out, stored: stored}, nil
}

// storeWhole stores r as one coop file.
func (n *Node) storeWhole(ctx context.Context, r io.Reader, size int64, po api.PutOptions) (*storedFile, error) {
	res, err := n.put(ctx, r, size, po)
	if err != nil {
		return nil, err
	}
	c, err := storage.ParseCapability(res.Capability)
	if err != nil {
		return nil, err
	}
	f := namespace.File{FileID: c.FileID, Key: c.Key, Size: uint64(res.Size), Redundancy: askedRedundancy(res)}
	return &storedFile{file: f, res: res, stored: []string{res.FileID}}, nil
}

// removeStored removes the coop files a storeFile stored, after the
// namespace change that would have named them did not take.
func (n *Node) removeStored(ctx context.Context, s *storedFile) {
	for _, id := range s.stored {
		if err := n.Remove(context.WithoutCancel(ctx), id); err != nil {
			n.log.Warn("could not remove a file its namespace change did not take", "file", id, "err", err)
		}
	}
}

// checkReused fails if a part s keeps from version from is gone from the
// ledger: released because every version naming it was pushed out of the
// kept roots while this put ran (more than kept_roots changes of the
// account meanwhile). The put then fails rather than name a lost part.
// While version from is still kept, nothing it names was released, and
// the parts are not looked up one by one.
func (n *Node) checkReused(ctx context.Context, s *storedFile, from uint64) error {
	if s.file.Parts == nil || len(s.stored) == len(s.file.Parts) {
		return nil
	}
	if ns := n.namespace(); ns != nil && from > 0 {
		if roots, err := ns.Log(ctx); err == nil {
			for _, r := range roots {
				if r.Version == from {
					return nil
				}
			}
		}
	}
	mine := make(map[string]bool, len(s.stored))
	for _, id := range s.stored {
		mine[id] = true
	}
	seen := map[[32]byte]bool{}
	for _, p := range s.file.Parts {
		if seen[p.FileID] || mine[blockstore.ID(p.FileID).String()] {
			continue
		}
		seen[p.FileID] = true
		if _, err := n.lc.File(ctx, chain.Hash(p.FileID)); errors.Is(err, chain.ErrNotFound) {
			return fmt.Errorf("%w: a part this edit keeps (%s) was released meanwhile; put the file again", ErrUnavailable, blockstore.ID(p.FileID))
		} else if err != nil {
			return fmt.Errorf("checking the parts this edit keeps: %w", err)
		}
	}
	return nil
}

// spoolPart reads up to size bytes of r into an unlinked temporary file
// beside the block store and hashes them. It returns the file (positioned
// anywhere: read it with ReadAt), and the part's hash and size (0 at the
// end of r).
func (n *Node) spoolPart(ctx context.Context, r io.Reader, size int64) (*os.File, partKey, error) {
	f, err := os.CreateTemp(n.cfg.Home, "part-*")
	if err != nil {
		return nil, partKey{}, err
	}
	os.Remove(f.Name())
	h := sha256.New()
	got, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, size))
	if err != nil {
		f.Close()
		return nil, partKey{}, fmt.Errorf("reading the file: %w", err)
	}
	return f, partKey{hash: [32]byte(h.Sum(nil)), size: uint64(got)}, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// eofReader is an empty reader.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// partName is the name part i of a file named name has in the node's
// file list: "name (part 3)", cut to api.MaxNameBytes.
func partName(name string, i int) string {
	suffix := fmt.Sprintf(" (part %d)", i+1)
	if name == "" {
		return fmt.Sprintf("part %d", i+1)
	}
	if over := len(name) + len(suffix) - api.MaxNameBytes; over > 0 {
		name = name[:len(name)-over]
		for len(name) > 0 && !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	return name + suffix
}

// redundancyOf is what askedRedundancy records for a put stored at k, m.
func redundancyOf(k, m int) namespace.Redundancy {
	if k == 1 {
		return namespace.Redundancy{Copies: uint32(m + 1)}
	}
	return namespace.Redundancy{K: uint32(k), M: uint32(m)}
}

// capabilityOf is the capability of a stored (not parted) file.
func capabilityOf(id, key [32]byte) string {
	return storage.Capability{FileID: blockstore.ID(id), Key: key}.String()
}

// openFile reads the bytes [off, off+count) of a namespace file (count <
// 0: to the end; cut at the end) and returns its size; off past the end
// is ErrRange (see openEntry).
func (n *Node) openFile(ctx context.Context, f *namespace.File, off, count int64) (io.ReadCloser, int64, error) {
	e := entryOf("/", &namespace.Entry{File: *f})
	return n.openEntry(ctx, &e, off, count)
}

// openEntry reads the bytes [off, off+count) of the file an API entry
// describes (count < 0: to the end; cut at the end) and returns its size;
// off past the end is ErrRange. A parted file is read across its parts,
// opening only those the range covers, each for its share of the range (so
// only their segments holding it are fetched); the next part is opened
// while the one before is read.
func (n *Node) openEntry(ctx context.Context, e *api.Entry, off, count int64) (io.ReadCloser, int64, error) {
	if len(e.Parts) == 0 {
		return n.open(ctx, e.Capability, off, count)
	}
	var size int64
	for _, p := range e.Parts {
		size += int64(p.Size)
	}
	if off < 0 {
		return nil, 0, fmt.Errorf("%w: negative offset %d", ErrRange, off)
	}
	if off > size {
		return nil, 0, fmt.Errorf("%w: offset %d of a %d-byte file", ErrRange, off, size)
	}
	if count < 0 || count > size-off {
		count = size - off
	}
	spans := partSpans(e.Parts, off, count)
	ctx, cancel := context.WithCancel(ctx)
	pr := &partsReader{n: n, ctx: ctx, cancel: cancel, spans: spans}
	if len(spans) > 0 {
		// The first part's errors come before the first byte, as a whole
		// file's do.
		pr.next = pr.start(0)
		if err := pr.advance(); err != nil {
			cancel()
			return nil, 0, err
		}
	}
	return pr, size, nil
}

// partSpans is the share of the bytes [off, off+count) in each part that
// holds some of them, in order; parts outside the range have none.
func partSpans(parts []api.Part, off, count int64) []partSpan {
	var spans []partSpan
	start := int64(0)
	for _, p := range parts {
		end := start + int64(p.Size)
		if lo, hi := max(off, start), min(off+count, end); lo < hi {
			spans = append(spans, partSpan{cap: p.Capability, at: start, off: lo - start, n: hi - lo})
		}
		start = end
	}
	return spans
}

// partSpan is the share of a read that falls in one part.
type partSpan struct {
	cap string // the part's capability
	at  int64  // where the part starts in the file
	off int64  // where the share starts in the part
	n   int64  // the share's bytes
}

// partOpen is a part being opened.
type partOpen struct {
	done chan struct{}
	rc   io.ReadCloser
	err  error
}

// partsReader reads spans of parts one after the other, with the next
// span's part opened (and so fetching) while the current one is read.
type partsReader struct {
	n      *Node
	ctx    context.Context
	cancel context.CancelFunc
	spans  []partSpan
	i      int           // the span cur reads
	cur    io.ReadCloser // nil before the first and after the last
	next   *partOpen     // span i+1 (or i before the first), or nil
	err    error         // the first error: every later Read returns it
}

func (p *partsReader) start(i int) *partOpen {
	o := &partOpen{done: make(chan struct{})}
	s := p.spans[i]
	go func() {
		defer close(o.done)
		o.rc, _, o.err = p.n.open(p.ctx, s.cap, s.off, s.n)
		if o.err != nil {
			o.err = fmt.Errorf("the part at byte %d: %w", s.at, o.err)
		}
	}()
	return o
}

// advance makes the next opened part the current one and starts opening
// the one after.
func (p *partsReader) advance() error {
	o := p.next
	p.next = nil
	<-o.done
	if o.err != nil {
		return o.err
	}
	p.cur = o.rc
	if p.i+1 < len(p.spans) {
		p.next = p.start(p.i + 1)
	}
	return nil
}

func (p *partsReader) Read(b []byte) (int, error) {
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
			p.err = err
		}
		return k, err
	}
	return 0, io.EOF
}

// Close stops the reads and waits for them.
func (p *partsReader) Close() error {
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

// OpenPath reads the bytes [off, off+count) (count < 0: to the end) of the
// namespace file at p in version (0: the current one), across its parts if
// it has them, counted as Open counts: api.PathOpener.
func (n *Node) OpenPath(ctx context.Context, p string, version uint64, off, count int64) (io.ReadCloser, int64, error) {
	rc, size, err := n.openPath(ctx, p, version, off, count)
	if err != nil {
		n.metrics.GetDone(err)
		return nil, 0, err
	}
	return &meteredGet{rc: rc, m: n.metrics}, size, nil
}

// openPath reads what Stat gives for p: a file's capability, or a parted
// file's parts.
func (n *Node) openPath(ctx context.Context, p string, version uint64, off, count int64) (io.ReadCloser, int64, error) {
	e, err := n.Stat(ctx, p, version)
	if err != nil {
		return nil, 0, err
	}
	if e.Dir {
		return nil, 0, fmt.Errorf("%w: %s", api.ErrIsDir, p)
	}
	return n.openEntry(ctx, e, off, count)
}

var _ api.PathOpener = (*Node)(nil)
