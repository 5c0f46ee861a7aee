package api

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

func TestParseRange(t *testing.T) {
	for _, c := range []struct {
		h      string
		off, n int64
		ok     bool
	}{
		{"bytes=0-0", 0, 1, true},
		{"bytes=5-9", 5, 5, true},
		{"bytes=7-", 7, -1, true},
		{" bytes=1-2 ", 1, 2, true},
		{"bytes=-5", 0, 0, false}, // suffix
		{"bytes=1-2,4-5", 0, 0, false},
		{"bytes=9-3", 0, 0, false},
		{"items=1-2", 0, 0, false},
		{"bytes=x-2", 0, 0, false},
		{"bytes=-1-2", 0, 0, false},
	} {
		off, n, err := ParseRange(c.h)
		if c.ok != (err == nil) || (c.ok && (off != c.off || n != c.n)) {
			t.Errorf("ParseRange(%q) = %d, %d, %v", c.h, off, n, err)
		}
		if err != nil && !errors.Is(err, ErrRange) {
			t.Errorf("ParseRange(%q): %v does not match ErrRange", c.h, err)
		}
	}
}

// TestGetRangeFromABackendWithoutRanges: a Backend that cannot read part
// of a file answers the whole of it, and GetRange cuts the range out.
func TestGetRangeFromABackendWithoutRanges(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	c := NewClient(s.URL(), tok)
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	res, err := c.Put(ctx, bytes.NewReader(data), int64(len(data)), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ off, n int64 }{{0, 1}, {3, 20}, {9990, -1}, {9999, 50}, {10000, 1}} {
		rc, err := c.GetRange(ctx, res.Capability, r.off, r.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		end := int64(len(data))
		if r.n >= 0 {
			end = min(end, r.off+r.n)
		}
		if err != nil || !bytes.Equal(got, data[r.off:end]) {
			t.Fatalf("range %d+%d: %q, %v", r.off, r.n, got, err)
		}
	}
	if _, err := c.GetRange(ctx, res.Capability, 10001, 1); !errors.Is(err, ErrRange) {
		t.Fatalf("past the end: %v, want ErrRange", err)
	}
}
