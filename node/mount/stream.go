package mount

import (
	"context"
	"io"
	"sync"
)

// seqStream serves the blocks of a sequential read of one open file from
// one stream of the Backend (Streamer), in order: a sequential read claims
// the blocks it and the read-ahead need (readers of those blocks wait for
// them, as for any fetch), and one worker reads them off the stream into
// the cache. A block the stream is not positioned at, once the blocks
// claimed before are done, moves the stream there (a new OpenStream); a
// stream that fails is given up for the handle, its claimed blocks
// abandoned (their readers fetch them with ReadAt) and the handle's reads
// fetch block by block from then on.
type seqStream struct {
	f      *fsys
	st     Streamer
	path   string
	info   Info
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the worker

	mu      sync.Mutex
	queue   []streamItem // claimed blocks, in stream order
	end     int64        // the block the stream reaches after the queue
	running bool         // a worker reads the queue (it owns rc then)
	closed  bool
	failed  bool
	rc      io.ReadCloser // the stream, positioned at rcAt
	rcAt    int64
}

// streamItem is one claimed block.
type streamItem struct {
	key  blockKey
	want int
	call *blockCall
}

// newSeqStream is the (not yet opened) stream of an open file; it ends
// with close or with the mount.
func (f *fsys) newSeqStream(path string, info Info) *seqStream {
	ctx, cancel := context.WithCancel(f.life)
	s := &seqStream{f: f, st: f.st, path: path, info: info, ctx: ctx, cancel: cancel}
	f.streamMu.Lock()
	if f.streams == nil {
		f.streams = map[*seqStream]bool{}
	}
	f.streams[s] = true
	f.streamMu.Unlock()
	return s
}

// usable reports whether the stream serves sequential reads.
func (s *seqStream) usable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && !s.failed
}

// ahead claims the blocks first..last (those neither cached nor being
// fetched) for the stream, as long as they follow the stream's position.
func (s *seqStream) ahead(first, last int64) {
	bs := int64(s.f.o.BlockSize)
	size := int64(s.info.Size)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.failed {
		return
	}
	for blk := first; blk <= last && blk*bs < size; blk++ {
		k := blockKey{s.info.FileID, blk}
		if s.f.blocks.busy(k) {
			continue
		}
		if blk != s.end && len(s.queue) > 0 {
			// Not where the stream is: the reader fetches it.
			return
		}
		call, ok := s.f.blocks.claim(k)
		if !ok {
			continue
		}
		s.queue = append(s.queue, streamItem{key: k, want: int(min(bs, size-blk*bs)), call: call})
		s.end = blk + 1
	}
	if len(s.queue) > 0 && !s.running {
		s.running = true
		s.wg.Add(1)
		go s.run()
	}
}

// run reads the claimed blocks off the stream until none is left.
func (s *seqStream) run() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed || s.failed {
			left := s.queue
			s.queue = nil
			s.running = false
			var rc io.ReadCloser
			if s.closed || s.failed {
				rc, s.rc = s.rc, nil
			}
			s.mu.Unlock()
			for _, it := range left {
				s.f.blocks.finish(it.key, it.call, nil, errAbandoned)
			}
			if rc != nil {
				rc.Close()
			}
			return
		}
		it := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		b, err := s.read(it)
		if err != nil {
			if s.ctx.Err() == nil {
				s.f.log.Warn("mount: sequential read stream failed; reading block by block", "path", s.path, "err", err)
			}
			s.mu.Lock()
			s.failed = true
			s.mu.Unlock()
			s.f.blocks.finish(it.key, it.call, nil, errAbandoned)
			continue
		}
		s.f.blocks.finish(it.key, it.call, b, nil)
	}
}

// read takes one block off the stream, (re)opening it at the block if it
// is elsewhere. Only the worker calls it.
func (s *seqStream) read(it streamItem) ([]byte, error) {
	at := it.key.block * int64(s.f.o.BlockSize)
	if s.rc != nil && s.rcAt != at {
		s.rc.Close()
		s.rc = nil
	}
	if s.rc == nil {
		rc, err := s.st.OpenStream(s.ctx, s.path, s.info.FileID, at)
		if err != nil {
			return nil, err
		}
		s.rc, s.rcAt = rc, at
	}
	b := make([]byte, it.want)
	if _, err := io.ReadFull(s.rc, b); err != nil {
		return nil, err
	}
	s.rcAt += int64(it.want)
	return b, nil
}

// close stops the stream and waits for its worker; blocks it had not read
// yet are abandoned to their readers.
func (s *seqStream) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.cancel()
	var rc io.ReadCloser
	if !s.running {
		rc, s.rc = s.rc, nil
	}
	s.mu.Unlock()
	if rc != nil {
		rc.Close()
	}
	s.wg.Wait()
	s.f.streamMu.Lock()
	delete(s.f.streams, s)
	s.f.streamMu.Unlock()
}

// closeStreams closes the streams of the handles still open (at unmount).
func (f *fsys) closeStreams() {
	f.streamMu.Lock()
	all := make([]*seqStream, 0, len(f.streams))
	for s := range f.streams {
		all = append(all, s)
	}
	f.streamMu.Unlock()
	for _, s := range all {
		s.close()
	}
}
