package exchange

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node/p2p"
	"github.com/coop-network/coop/proofs"
)

// pair is two connected hosts with exchanges: a is the client, b serves.
type pair struct {
	a, b   *p2p.Host
	xa, xb *Exchange
	sa, sb *MemStore
}

func newPair(t *testing.T, cfgB Config) *pair {
	t.Helper()
	var p pair
	p.a, _ = p2p.NewTestHost(t, p2p.TestConfig())
	p.b, _ = p2p.NewTestHost(t, p2p.TestConfig())
	p.xa, p.sa = NewTestExchange(t, p.a.Libp2p(), DefaultConfig())
	p.xb, p.sb = NewTestExchange(t, p.b.Libp2p(), cfgB)
	if err := p.a.Connect(context.Background(), p.b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return &p
}

func randomPiece(t testing.TB, n int) (PieceID, []byte) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return PieceID(proofs.IDOf(b)), b
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGetWholePiece(t *testing.T) {
	p := newPair(t, DefaultConfig())
	for _, size := range []int{1, LeafSize, 3*LeafSize + 17, 5 << 20} {
		id, data := randomPiece(t, size)
		p.sb.Add(id, data)
		got, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("size %d: got %d different bytes", size, len(got))
		}
	}
}

func TestGetRangeReturnsTheLeaves(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, data := randomPiece(t, 10*LeafSize+100) // 11 leaves, the last one 100 bytes
	p.sb.Add(id, data)
	cases := []struct {
		name         string
		start, count uint64
		want         []byte
	}{
		{"the first leaf", 0, 1, data[:LeafSize]},
		{"three middle leaves", 4, 3, data[4*LeafSize : 7*LeafSize]},
		{"the short last leaf", 10, 1, data[10*LeafSize:]},
		{"every leaf", 0, 11, data},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := p.xa.GetRange(testCtx(t), p.b.ID(), id, tc.start, tc.count)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tc.want))
			}
		})
	}
	bad := []struct {
		name         string
		start, count uint64
		want         error
	}{
		{"a range past the end", 10, 2, ErrMalformed},
		{"a start past the end", 11, 1, ErrMalformed},
		{"a range over the leaf limit", 0, DefaultConfig().MaxRangeLeaves + 1, ErrTooLarge},
	}
	for _, tc := range bad {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			_, err := p.xa.GetRange(testCtx(t), p.b.ID(), id, tc.start, tc.count)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGetUnknownPieceIsNotFound(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, _ := randomPiece(t, 10)
	_, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("error %v, want ErrNotFound", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Peer != p.b.ID() {
		t.Fatalf("error %v does not name the peer", err)
	}
}

func TestGetDetectsCorruptBytes(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, data := randomPiece(t, 100<<10)
	bad := bytes.Clone(data)
	bad[len(bad)/2] ^= 1
	p.sb.Add(id, bad)
	_, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id)
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("error %v, want ErrHashMismatch", err)
	}
}

func TestGetRefusesAnnouncedSizeOverTheLimit(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, data := randomPiece(t, 2<<20)
	p.sb.Add(id, data)
	small := DefaultConfig()
	small.MaxPieceSize = 1 << 20
	c, _ := p2p.NewTestHost(t, p2p.TestConfig())
	xc, _ := NewTestExchange(t, c.Libp2p(), small)
	if err := c.Connect(context.Background(), p.b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if _, err := xc.GetBytes(testCtx(t), p.b.ID(), id); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

func pushOf(t *testing.T, n int) (Push, []byte) {
	id, data := randomPiece(t, n)
	owner, _, _ := ed25519.GenerateKey(rand.Reader)
	return Push{Piece: id, Size: int64(n), Owner: owner, File: sha256.Sum256([]byte("file"))}, data
}

func TestPushStoresThePiece(t *testing.T) {
	p := newPair(t, DefaultConfig())
	var seen Push
	p.sb.Accept = func(x Push) error { seen = x; return nil }
	push, data := pushOf(t, 3<<20)
	if err := p.xa.Push(testCtx(t), p.b.ID(), push, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.sb.Bytes(push.Piece), data) {
		t.Fatal("holder does not have the pushed bytes")
	}
	push.From = p.a.ID()
	if seen.From != push.From || seen.Piece != push.Piece || seen.Size != push.Size ||
		!seen.Owner.Equal(push.Owner) || seen.File != push.File {
		t.Fatalf("sink saw %+v, want %+v", seen, push)
	}
}

func TestPushRefusals(t *testing.T) {
	small := DefaultConfig()
	small.MaxPieceSize = 1 << 20
	p := newPair(t, small)
	var received int
	p.sb.Accept = func(x Push) error {
		if x.Size == 12345 {
			return errors.New("owner over quota: " + ErrRejected.Error())
		}
		return nil
	}
	t.Run("the sink refuses before any byte is sent", func(t *testing.T) {
		push, data := pushOf(t, 12345)
		r := &countingReader{r: bytes.NewReader(data), n: &received}
		err := p.xa.Push(testCtx(t), p.b.ID(), push, r)
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("error %v, want ErrRejected", err)
		}
		if received != 0 {
			t.Fatalf("%d bytes read for a refused push", received)
		}
		if p.sb.Has(push.Piece) {
			t.Fatal("refused piece stored")
		}
	})
	t.Run("bytes that do not match the piece id", func(t *testing.T) {
		push, data := pushOf(t, 5000)
		data[0] ^= 1
		err := p.xa.Push(testCtx(t), p.b.ID(), push, bytes.NewReader(data))
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("error %v, want ErrRejected", err)
		}
		if p.sb.Has(push.Piece) {
			t.Fatal("corrupt piece stored")
		}
	})
	t.Run("a piece over the holder's size limit", func(t *testing.T) {
		push, data := pushOf(t, 2<<20)
		err := p.xa.Push(testCtx(t), p.b.ID(), push, bytes.NewReader(data))
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("error %v, want ErrTooLarge", err)
		}
	})
	t.Run("a reader shorter than the announced size", func(t *testing.T) {
		push, data := pushOf(t, 5000)
		err := p.xa.Push(testCtx(t), p.b.ID(), push, bytes.NewReader(data[:100]))
		if err == nil {
			t.Fatal("short push succeeded")
		}
		if p.sb.Has(push.Piece) {
			t.Fatal("truncated piece stored")
		}
	})
	t.Run("a node without a sink", func(t *testing.T) {
		c, _ := p2p.NewTestHost(t, p2p.TestConfig())
		xc, err := New(c.Libp2p(), DefaultConfig(), NewMemStore(), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = xc.Close() })
		if err := p.a.Connect(context.Background(), c.AddrInfo()); err != nil {
			t.Fatal(err)
		}
		push, data := pushOf(t, 10)
		if err := p.xa.Push(testCtx(t), c.ID(), push, bytes.NewReader(data)); !errors.Is(err, ErrRejected) {
			t.Fatalf("error %v, want ErrRejected", err)
		}
	})
}

type countingReader struct {
	r io.Reader
	n *int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.n += n
	return n, err
}

func TestGetEndsWhenTheContextEnds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.UploadRate = 64 << 10 // 8 MiB would take two minutes
	p := newPair(t, cfg)
	id, data := randomPiece(t, 8<<20)
	p.sb.Add(id, data)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := p.xa.GetBytes(ctx, p.b.ID(), id)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
}

func TestCloseEndsTransfersInProgress(t *testing.T) {
	cfg := DefaultConfig()
	cfg.UploadRate = 64 << 10
	p := newPair(t, cfg)
	id, data := randomPiece(t, 8<<20)
	p.sb.Add(id, data)
	errc := make(chan error, 1)
	go func() {
		_, err := p.xa.GetBytes(context.Background(), p.b.ID(), id)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := p.xb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("transfer survived the server's Close")
	}
	if _, err := p.xa.GetBytes(testCtx(t), p.b.ID(), id); err == nil {
		t.Fatal("closed exchange still serves")
	}
}

func TestStoppedPeerIsUnreachable(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, _ := randomPiece(t, 10)
	gone := p.b.ID()
	_ = p.xb.Close()
	_ = p.b.Close()
	_, err := p.xa.GetBytes(testCtx(t), gone, id)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("error %v, want ErrUnreachable", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error text spans lines: %q", err)
	}
}

// hashingWriter is a PieceVerifier: it hashes what it is given, and counts
// the VerifyPiece calls (Get must leave the check to it).
type hashingWriter struct {
	bytes.Buffer
	checks int
}

func (h *hashingWriter) VerifyPiece(id [32]byte) error {
	h.checks++
	if proofs.IDOf(h.Bytes()) != id {
		return errors.New("bytes do not hash to the id")
	}
	return nil
}

func TestGetIntoAPieceVerifierLeavesTheCheckToIt(t *testing.T) {
	p := newPair(t, DefaultConfig())
	id, data := randomPiece(t, 3<<20+5)
	p.sb.Add(id, data)
	var w hashingWriter
	n, err := p.xa.Get(testCtx(t), p.b.ID(), id, &w)
	if err != nil || n != int64(len(data)) || !bytes.Equal(w.Bytes(), data) || w.checks != 1 {
		t.Fatalf("n %d, err %v, equal %v, checks %d", n, err, bytes.Equal(w.Bytes(), data), w.checks)
	}
	bad := bytes.Clone(data)
	bad[len(bad)/3] ^= 1
	badID, _ := randomPiece(t, 1)
	p.sb.Add(badID, bad)
	w = hashingWriter{}
	if _, err := p.xa.Get(testCtx(t), p.b.ID(), badID, &w); !errors.Is(err, ErrHashMismatch) || w.checks != 1 {
		t.Fatalf("corrupt piece into a verifier: %v (checks %d), want ErrHashMismatch", err, w.checks)
	}
}
