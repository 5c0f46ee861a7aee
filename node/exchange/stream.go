package exchange

import (
	"context"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"

	"github.com/coop-network/coop/proofs"
)

// chunkSize is the unit piece data is paced and copied in.
const chunkSize = 32 << 10

// idleReader reads from a stream, pushing the read deadline forward before
// each read so that only a stalled transfer times out.
type idleReader struct {
	s    network.Stream
	r    io.Reader
	idle time.Duration
}

func (r *idleReader) Read(p []byte) (int, error) {
	_ = r.s.SetReadDeadline(time.Now().Add(r.idle))
	return r.r.Read(p)
}

// pacedWriter writes to a stream through the node's upload token bucket (a
// chunk at a time), pushing the write deadline forward before each write.
type pacedWriter struct {
	ctx  context.Context
	s    network.Stream
	lim  *rate.Limiter
	idle time.Duration
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n := len(p) - done
		if w.lim != nil {
			n = min(n, chunkSize) // the token bucket's unit
		}
		if w.lim != nil {
			if err := w.lim.WaitN(w.ctx, n); err != nil {
				return done, err
			}
		}
		_ = w.s.SetWriteDeadline(time.Now().Add(w.idle))
		m, err := w.s.Write(p[done : done+n])
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// copyN copies exactly n bytes from r to w through a pooled 256 KiB buffer
// (fewer reads of the block file and larger stream writes; a paced writer
// still sends chunk by chunk).
func copyN(w io.Writer, r io.Reader, n int64) (int64, error) {
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	written, err := io.CopyBuffer(w, io.LimitReader(r, n), *buf)
	if err == nil && written < n {
		err = io.ErrUnexpectedEOF
	}
	return written, err
}

// exactReader yields exactly size bytes from r and then io.EOF
// (io.ErrUnexpectedEOF if r ends early); done reports whether all of them
// were read.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 {
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (e *exactReader) done() bool { return e.left == 0 }

// verifyingReader yields exactly size bytes from r and then, instead of
// io.EOF, ErrHashMismatch if their id (proofs.ID: Merkle commitment and
// size) is not want.
type verifyingReader struct {
	exactReader
	h        *proofs.Builder
	want     PieceID
	verified bool
}

func newVerifyingReader(r io.Reader, want PieceID, size int64) *verifyingReader {
	return &verifyingReader{exactReader: exactReader{r: r, left: size}, h: proofs.NewBuilder(), want: want}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.left == 0 {
		return 0, v.finish()
	}
	n, err := v.exactReader.Read(p)
	v.h.Write(p[:n])
	if v.left == 0 {
		if ferr := v.finish(); ferr != io.EOF {
			return n, ferr
		}
		return n, nil
	}
	return n, err
}

func (v *verifyingReader) finish() error {
	if PieceID(v.h.ID()) != v.want {
		return ErrHashMismatch
	}
	v.verified = true
	return io.EOF
}
