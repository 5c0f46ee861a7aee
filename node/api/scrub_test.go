package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

// scrubbingBackend is a memBackend that scrubs: it reports progress steps
// pieces long, then the report and err (or only err, before any
// progress, if steps is 0).
type scrubbingBackend struct {
	memBackend
	steps int
	err   error
}

func (b *scrubbingBackend) Scrub(ctx context.Context, opts ScrubOptions, progress func(ScrubProgress)) (*ScrubReport, error) {
	if b.steps == 0 {
		return nil, b.err
	}
	for i := 1; i <= b.steps; i++ {
		progress(ScrubProgress{Pieces: i, TotalPieces: b.steps, Bytes: int64(i) << 20, TotalBytes: int64(b.steps) << 20})
	}
	return &ScrubReport{Pieces: b.steps, TotalPieces: b.steps, OK: b.steps - 1, Corrupt: 1, Reported: 1, ReportTxs: 1, Bytes: int64(b.steps) << 20}, b.err
}

func (b *scrubbingBackend) LastScrub(context.Context) (*ScrubReport, error) {
	return nil, fmt.Errorf("%w: no scrub yet", ErrNotFound)
}

// TestScrubOverTheAPI: the report arrives after the final progress; an
// error with a report brings both; an error before any progress keeps its
// HTTP class; a backend that does not scrub answers 404.
func TestScrubOverTheAPI(t *testing.T) {
	home := t.TempDir()
	tok, err := EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	b := &scrubbingBackend{memBackend: memBackend{files: map[string][]byte{}}, steps: 3}
	s, err := Start(testConfig(), home, tok, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	c := NewClient(s.URL(), tok)
	ctx := context.Background()

	var got []ScrubProgress
	rep, err := c.Scrub(ctx, ScrubOptions{}, func(p ScrubProgress) { got = append(got, p) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pieces != 3 || rep.Corrupt != 1 || rep.Reported != 1 {
		t.Fatalf("report %+v", rep)
	}
	if len(got) == 0 || got[len(got)-1].Pieces != 3 || got[len(got)-1].Bytes != 3<<20 {
		t.Fatalf("progress %+v; want it to end at 3 pieces, 3 MiB", got)
	}

	b.err = errors.New("reporting 1 lost piece: ledger unreachable")
	rep, err = c.Scrub(ctx, ScrubOptions{}, nil)
	if err == nil || rep == nil || rep.Corrupt != 1 {
		t.Fatalf("scrub with a failed report: %+v, %v; want both", rep, err)
	}

	b.steps, b.err = 0, fmt.Errorf("%w: ledger down", ErrUnavailable)
	if rep, err = c.Scrub(ctx, ScrubOptions{}, nil); !errors.Is(err, ErrUnavailable) || rep != nil {
		t.Fatalf("scrub failing at once: %+v, %v; want ErrUnavailable", rep, err)
	}
	if _, err := c.LastScrub(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("last scrub before any: %v", err)
	}

	home2 := t.TempDir()
	tok2, err := EnsureToken(home2)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Start(testConfig(), home2, tok2, &memBackend{files: map[string][]byte{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	var ae *Error
	if _, err := NewClient(s2.URL(), tok2).Scrub(ctx, ScrubOptions{}, nil); !errors.As(err, &ae) || ae.Code != http.StatusNotFound {
		t.Fatalf("scrub on a backend that does not scrub: %v, want 404", err)
	}
}
