package exchange

import (
	"context"
	"crypto/sha256"
	"hash"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"golang.org/x/time/rate"
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

// verifyingReader yields exactly size bytes from r and then, instead of
// io.EOF, ErrHashMismatch if they do not hash to want.
type verifyingReader struct {
	r        io.Reader
	h        hash.Hash
	want     PieceID
	left     int64
	verified bool
}

func newVerifyingReader(r io.Reader, want PieceID, size int64) *verifyingReader {
	return &verifyingReader{r: r, h: sha256.New(), want: want, left: size}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.left == 0 {
		return 0, v.finish()
	}
	if int64(len(p)) > v.left {
		p = p[:v.left]
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.left -= int64(n)
	if v.left == 0 {
		if ferr := v.finish(); ferr != io.EOF {
			return n, ferr
		}
		return n, nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (v *verifyingReader) finish() error {
	var got PieceID
	v.h.Sum(got[:0])
	if got != v.want {
		return ErrHashMismatch
	}
	v.verified = true
	return io.EOF
}
