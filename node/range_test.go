package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
	"github.com/coop-network/coop/storage"
	"github.com/coop-network/coop/storage/blockstore"
)

var _ api.RangeOpener = (*Node)(nil)

// TestRangedGetOverTheAPIFetchesOnlyItsSegments: a reader that holds
// nothing asks its API for byte ranges of a 4-segment file with a Range
// header; each answer is 206 with the exact slice, and the node fetched
// the pieces of the segments holding the range and no others.
func TestRangedGetOverTheAPIFetchesOnlyItsSegments(t *testing.T) {
	const reader = 3
	nodes, _ := startMemNetworkWith(t, 4, func(i int, c *Config) {
		if i == reader {
			c.Pledge = 0 // holds nothing: every piece comes from the network
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	data := make([]byte, 3<<20+777) // four 1 MiB segments, the last of 777 bytes
	_, _ = rand.Read(data)
	res, err := nodes[0].Put(ctx, bytes.NewReader(data), int64(len(data)), api.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	srv, err := api.Start(cfg, home, tok, nodes[reader])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	c := api.NewClient(srv.URL(), tok)

	// segsPieces is what a get decoded.
	type segsPieces struct{ Segments, Pieces int }
	var mu sync.Mutex
	var stats []segsPieces
	testHookGetStats = func(st *storage.GetStats) {
		mu.Lock()
		stats = append(stats, segsPieces{st.Segments, st.Pieces})
		mu.Unlock()
	}
	t.Cleanup(func() { testHookGetStats = nil })
	// lastStats waits for the get that just ended to report.
	lastStats := func() segsPieces {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			if len(stats) > 0 {
				st := stats[len(stats)-1]
				stats = nil
				mu.Unlock()
				return st
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatal("the get never reported its stats")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	const seg = 1 << 20
	for _, tc := range []struct {
		off, n   int64
		segments int
	}{
		{0, 10, 1},
		{seg - 5, 10, 2},
		{seg + 100, 64 << 10, 1},
		{2*seg + 1, -1, 2}, // to the end
		{int64(len(data)) - 1, 100, 1},
	} {
		rc, err := c.GetRange(ctx, res.Capability, tc.off, tc.n)
		if err != nil {
			t.Fatalf("range %d+%d: %v", tc.off, tc.n, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("range %d+%d: reading: %v", tc.off, tc.n, err)
		}
		end := int64(len(data))
		if tc.n >= 0 {
			end = min(end, tc.off+tc.n)
		}
		if !bytes.Equal(got, data[tc.off:end]) {
			t.Fatalf("range %d+%d: got %d bytes, want the %d of [%d, %d)", tc.off, tc.n, len(got), end-tc.off, tc.off, end)
		}
		if st := lastStats(); st.Segments != tc.segments || st.Pieces != 2*tc.segments {
			t.Fatalf("range %d+%d decoded %d segments from %d pieces, want %d from %d", tc.off, tc.n, st.Segments, st.Pieces, tc.segments, 2*tc.segments)
		}
	}

	// A ranged get keeps the pieces it fetched: segment 0's data pieces
	// are in the reader's cache area now.
	kept := 0
	for _, p := range res.Pieces {
		if p.Segment == 0 {
			if a, ok := nodes[reader].store.Has(mustID(t, p.Piece)); ok && a == blockstore.Cache {
				kept++
			}
		}
	}
	if kept < 2 {
		t.Fatalf("%d pieces of segment 0 kept after ranged gets, want the 2 data pieces", kept)
	}

	// The raw answer: 206 with Content-Range and the file's size.
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL()+"/v1/get",
		bytes.NewReader([]byte(`{"capability":"`+res.Capability+`"}`)))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Range", "bytes=5-9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 5-9/3146505" || !bytes.Equal(body, data[5:10]) {
		t.Fatalf("answer %d, Content-Range %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(body))
	}

	// Past the end: 416, matching ErrRange, before anything is fetched.
	if _, err := c.GetRange(ctx, res.Capability, int64(len(data))+1, 5); !errors.Is(err, api.ErrRange) {
		t.Fatalf("range past the end: %v, want api.ErrRange", err)
	}
	var apiErr *api.Error
	if _, err := c.GetRange(ctx, res.Capability, int64(len(data))+1, 5); !errors.As(err, &apiErr) || apiErr.Code != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("range past the end: %v, want HTTP 416", err)
	}
	// The end itself: an empty range.
	rc, err := c.GetRange(ctx, res.Capability, int64(len(data)), 5)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); err != nil || len(b) != 0 {
		t.Fatalf("range at the end: %d bytes, %v", len(b), err)
	}
	rc.Close()
}
