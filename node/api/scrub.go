package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// ScrubOptions are the settings of a scrub on demand.
type ScrubOptions struct {
	// Rate bounds the bytes read per second; 0: the node's configured rate.
	Rate int64 `json:"rate,omitempty"`
}

// ScrubProgress is how far a scrub is.
type ScrubProgress struct {
	Pieces      int   `json:"pieces"`
	TotalPieces int   `json:"total_pieces"`
	Bytes       int64 `json:"bytes"`
	TotalBytes  int64 `json:"total_bytes"`
}

// ScrubReport is what a scrub of the node's held pieces found: pieces
// checked (of those the ledger credits), bytes read, verdicts, and the
// ledger entries reported lost.
type ScrubReport struct {
	Started    time.Time `json:"started"`
	Seconds    float64   `json:"seconds"`
	Background bool      `json:"background"`
	Pieces     int       `json:"pieces"`
	// TotalPieces and TotalBytes are what the ledger credits the node with.
	TotalPieces int   `json:"total_pieces"`
	Bytes       int64 `json:"bytes"`
	TotalBytes  int64 `json:"total_bytes"`
	OK          int   `json:"ok"`
	Corrupt     int   `json:"corrupt"`
	Missing     int   `json:"missing"`
	// Unreadable pieces failed to read for another reason than their
	// bytes; they are kept for the next scrub.
	Unreadable int `json:"unreadable"`
	// Reported counts ledger entries reported lost, in ReportTxs
	// transactions.
	Reported  int            `json:"reported"`
	ReportTxs int            `json:"report_txs"`
	Lost      []ScrubFinding `json:"lost,omitempty"`
	// LostOmitted counts lost pieces left out of Lost (it lists at most
	// 1,000).
	LostOmitted int `json:"lost_omitted,omitempty"`
	// Error says why the scrub stopped early or its report failed.
	Error string `json:"error,omitempty"`
}

// ScrubFinding is one corrupt or missing piece.
type ScrubFinding struct {
	Piece   string `json:"piece"`
	Problem string `json:"problem"` // "corrupt" or "missing"
	Detail  string `json:"detail,omitempty"`
	// Files are the files the piece belongs to, as file/segment/index.
	Files []string `json:"files"`
}

// Scrubber is a Backend that checks its held pieces on demand; the server
// answers /v1/scrub only for such a backend (404 otherwise).
type Scrubber interface {
	// Scrub checks every held piece now, calling progress (if not nil)
	// as it goes. A report may come with an error (reporting to the
	// ledger failed).
	Scrub(ctx context.Context, opts ScrubOptions, progress func(ScrubProgress)) (*ScrubReport, error)
	// LastScrub is the report of the last scrub, an error wrapping
	// ErrNotFound before any.
	LastScrub(ctx context.Context) (*ScrubReport, error)
}

// scrubMessage is one line of a scrub's answer (NDJSON): progress lines,
// then one with the report, an error, or both.
type scrubMessage struct {
	Progress *ScrubProgress `json:"progress,omitempty"`
	Report   *ScrubReport   `json:"report,omitempty"`
	Error    string         `json:"error,omitempty"`
}

// progressEvery bounds how often a scrub's answer carries progress.
const progressEvery = 250 * time.Millisecond

// handleScrub runs a scrub and streams its progress and report as NDJSON.
// A scrub that fails before its first progress is answered with the
// error's status, as any request.
func (s *Server) handleScrub(w http.ResponseWriter, r *http.Request) {
	sb, ok := s.backend.(Scrubber)
	if !ok {
		writeError(w, http.StatusNotFound, errors.New("this node does not scrub"))
		return
	}
	var opts ScrubOptions
	if v := r.URL.Query().Get("rate"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("parameter rate=%q is not a byte rate", v))
			return
		}
		opts.Rate = n
	}
	started := false
	enc := json.NewEncoder(w)
	flusher, _ := w.(http.Flusher)
	begin := func() {
		if !started {
			started = true
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
		}
	}
	var last time.Time
	progress := func(p ScrubProgress) {
		if now := time.Now(); now.Sub(last) >= progressEvery || p.Pieces == p.TotalPieces {
			last = now
			begin()
			_ = enc.Encode(scrubMessage{Progress: &p})
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	rep, err := sb.Scrub(r.Context(), opts, progress)
	if err != nil && !started && rep == nil {
		s.reply(w, nil, err)
		return
	}
	begin()
	msg := scrubMessage{Report: rep}
	if err != nil {
		msg.Error = err.Error()
	}
	_ = enc.Encode(msg)
}

// Scrub asks the node to check its held pieces now and waits for the
// report, calling progress (if not nil) as the node reports it. A report
// may come with an error (the scrub stopped early or reporting to the
// ledger failed).
func (c *Client) Scrub(ctx context.Context, opts ScrubOptions, progress func(ScrubProgress)) (*ScrubReport, error) {
	path := "/v1/scrub"
	if opts.Rate > 0 {
		path += "?" + url.Values{"rate": {strconv.FormatInt(opts.Rate, 10)}}.Encode()
	}
	resp, err := c.do(ctx, http.MethodPost, path, nil, -1, "")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(io.LimitReader(resp.Body, 64<<20))
	for {
		var m scrubMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("api: scrub answer cut short: %w", err)
		}
		switch {
		case m.Error != "":
			return m.Report, fmt.Errorf("node: %s", m.Error)
		case m.Report != nil:
			return m.Report, nil
		case m.Progress != nil && progress != nil:
			progress(*m.Progress)
		}
	}
}

// LastScrub returns the report of the node's last scrub (in the
// background or on demand); an error matching ErrNotFound before any.
func (c *Client) LastScrub(ctx context.Context) (*ScrubReport, error) {
	var out ScrubReport
	if err := c.getJSON(ctx, http.MethodGet, "/v1/scrub", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
