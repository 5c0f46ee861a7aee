package node

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

func TestBufPipeCarriesBytesInOrderThenTheWritersError(t *testing.T) {
	data := make([]byte, 512<<10+17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, size := range []int{1, 7, 64 << 10} {
		r, w := newBufPipe(size)
		boom := errors.New("boom")
		go func() {
			rng := rand.New(rand.NewPCG(3, uint64(size)))
			rest := data
			for len(rest) > 0 {
				n := min(len(rest), 1+rng.IntN(20<<10))
				if _, err := w.Write(rest[:n]); err != nil {
					t.Errorf("write: %v", err)
					return
				}
				rest = rest[n:]
			}
			w.CloseWithError(boom)
		}()
		var got bytes.Buffer
		buf := make([]byte, 33<<10)
		var err error
		for {
			var n int
			n, err = r.Read(buf[:1+rng.IntN(len(buf))])
			got.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if !errors.Is(err, boom) || !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("buffer %d: err %v, %d bytes, equal %v", size, err, got.Len(), bytes.Equal(got.Bytes(), data))
		}
	}
}

func TestBufPipeClosedByTheReaderFailsTheWriter(t *testing.T) {
	r, w := newBufPipe(4)
	done := make(chan error)
	go func() {
		_, err := w.Write(make([]byte, 10)) // blocks once 4 bytes are in
		done <- err
	}()
	buf := make([]byte, 2)
	if n, err := r.Read(buf); n == 0 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	r.Close()
	if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after the reader closed: %v", err)
	}
	if _, err := r.Read(buf); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read after close: %v", err)
	}
	r2, w2 := newBufPipe(8)
	w2.CloseWithError(nil)
	if _, err := r2.Read(buf); err != io.EOF {
		t.Fatalf("read of a pipe closed without error: %v, want io.EOF", err)
	}
}

// TestBufPipeWriteToCarriesBytesInOrderThenTheWritersError: io.Copy from a
// get's reader goes through WriteTo (the API's response), which hands out
// the ring's bytes in place; they arrive whole and in order across ring
// wrap-arounds, and it ends with the writer's error, or nil after a clean
// close.
func TestBufPipeWriteToCarriesBytesInOrderThenTheWritersError(t *testing.T) {
	data := make([]byte, 3<<20+17)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	boom := errors.New("boom")
	for _, size := range []int{1, 7, 64 << 10, 4 << 20} {
		for _, end := range []error{nil, boom} {
			r, w := newBufPipe(size)
			go func() {
				rng := rand.New(rand.NewPCG(7, uint64(size)))
				rest := data
				for len(rest) > 0 {
					n := min(len(rest), 1+rng.IntN(100<<10))
					if _, err := w.Write(rest[:n]); err != nil {
						t.Errorf("write: %v", err)
						return
					}
					rest = rest[n:]
				}
				w.CloseWithError(end)
			}()
			var got bytes.Buffer
			n, err := io.Copy(struct{ io.Writer }{&got}, r) // io.Copy picks WriteTo
			if err != end || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("buffer %d, end %v: err %v, %d bytes, equal %v", size, end, err, n, bytes.Equal(got.Bytes(), data))
			}
		}
	}
}

// failAfter takes n bytes, then fails.
type failAfter struct{ n int }

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		k := f.n
		f.n = 0
		return k, io.ErrClosedPipe
	}
	f.n -= len(b)
	return len(b), nil
}

// TestBufPipeWriteToStopsAtTheFirstFailedWrite: a response that fails (the
// client went away) ends WriteTo with that error, and a writer then
// blocked on a full buffer is released once the reader closes.
func TestBufPipeWriteToStopsAtTheFirstFailedWrite(t *testing.T) {
	r, w := newBufPipe(8)
	done := make(chan error, 1)
	go func() {
		_, err := w.Write(make([]byte, 100))
		done <- err
	}()
	n, err := r.WriteTo(&failAfter{n: 10})
	if n != 10 || !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("WriteTo: %d bytes, %v; want 10, io.ErrClosedPipe", n, err)
	}
	r.Close()
	if err := <-done; !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after the reader closed: %v", err)
	}
}
