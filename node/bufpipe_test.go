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
