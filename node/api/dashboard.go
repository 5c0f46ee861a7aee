package api

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/coop-network/coop/node/api/dashboard"
)

// FileHealth is how one file stands on the ledger now, segment by segment.
type FileHealth struct {
	FileID   string          `json:"file_id"`
	K        int             `json:"k"`
	M        int             `json:"m"`
	Segments []SegmentHealth `json:"segments"`
}

// SegmentHealth is one segment of a file: of its Pieces (K+M), how many
// are Live (credited to a holder the ledger has not marked lost,
// disqualified or offline), and of those how many are Reachable now (held
// by this node, or by a peer it has a connection to). The segment can be
// read while Reachable ≥ K; Down lists the pieces that are not live.
type SegmentHealth struct {
	Segment   int         `json:"segment"`
	Pieces    int         `json:"pieces"`
	Live      int         `json:"live"`
	Reachable int         `json:"reachable"`
	Down      []PieceDown `json:"down,omitempty"`
}

// PieceDown is a piece that is not live: its index in the segment, its
// recorded holder and why (chain.Repairable's reasons: lost,
// disqualified, offline).
type PieceDown struct {
	Index  int    `json:"index"`
	Holder string `json:"holder"`
	Why    string `json:"why"`
}

// AccountInfo is the node's account on the ledger: its credits and its
// storage quota with what the quota comes from.
type AccountInfo struct {
	Address string `json:"address"`
	// Credits is the spendable balance; CreditsEscrowed what open jobs
	// hold; CreditsEarned and CreditsSpent every credit paid to and by
	// the account for compute work.
	Credits         uint64    `json:"credits"`
	CreditsEscrowed uint64    `json:"credits_escrowed"`
	CreditsEarned   uint64    `json:"credits_earned"`
	CreditsSpent    uint64    `json:"credits_spent"`
	Quota           QuotaInfo `json:"quota"`
}

// QuotaInfo is an account's storage quota and why it is what it is: Limit
// is Allowance (every account's) plus Earned when EarningUsable; Earned
// is EarnPercent of the bytes the node holds for other accounts and has
// proved (min(HeldForOthers, ProvedForOthers)); it is usable while the
// node is active and proved at least UptimeMinPercent of its last
// UptimeEpochs epochs (UptimeProved of them). The pledge is the room
// offered to others and earns nothing by itself.
type QuotaInfo struct {
	Used             uint64 `json:"used"`
	Limit            uint64 `json:"limit"`
	Allowance        uint64 `json:"allowance"`
	Earned           uint64 `json:"earned"`
	EarningUsable    bool   `json:"earning_usable"`
	EarnPercent      uint64 `json:"earn_percent"`
	HasNode          bool   `json:"has_node"`
	NodeStatus       string `json:"node_status,omitempty"`
	Pledge           uint64 `json:"pledge"`
	PledgeUsed       uint64 `json:"pledge_used"`
	HeldForOthers    uint64 `json:"held_for_others"`
	ProvedForOthers  uint64 `json:"proved_for_others"`
	UptimeProved     int    `json:"uptime_proved"`
	UptimeEpochs     int    `json:"uptime_epochs"`
	UptimeMinPercent uint64 `json:"uptime_min_percent"`
	// Lent is the part of Used held back by debts (files removed whose
	// holders had spent the quota they earned); Owed what the account
	// owes for quota a removal took back.
	Lent uint64 `json:"lent,omitempty"`
	Owed uint64 `json:"owed,omitempty"`
}

// FileHealther is a Backend that reports its account's files' health:
// GET /v1/health (every file) and GET /v1/files/{id}/health.
type FileHealther interface {
	// FileHealth is one file's (any file on the ledger; ErrNotFound if
	// none has the id).
	FileHealth(ctx context.Context, fileID string) (*FileHealth, error)
	// FilesHealth is every file of the account's.
	FilesHealth(ctx context.Context) ([]FileHealth, error)
}

// AccountReader is a Backend that reports its account: GET /v1/account.
type AccountReader interface {
	AccountInfo(ctx context.Context) (*AccountInfo, error)
}

// public serves what needs no credentials, and passes every other request
// to authed: the dashboard's page and assets (which hold no data; the
// page asks the API for it), the login and logout routes, the login code
// route (which checks the token itself, and only the token), and GET
// /metrics from a MetricsBackend (Prometheus scrapes a local port without
// credentials, and the counts carry no secrets; the API listens on
// loopback unless AllowRemote says otherwise).
func (s *Server) public(authed http.Handler) http.Handler {
	mux := http.NewServeMux()
	if mb, ok := s.backend.(MetricsBackend); ok {
		mux.Handle("GET "+MetricsPath, mb.MetricsHandler())
	}
	page := dashboard.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+dashboard.AssetsPath, page)
	mux.HandleFunc("GET "+LoginPath, s.handleLogin)
	mux.HandleFunc("POST "+LogoutPath, s.handleLogout)
	mux.HandleFunc("POST "+LoginCodePath, s.handleLoginCode)
	mux.Handle("/", authed)
	return mux
}

// dashboardRoutes are the authenticated routes the dashboard added: a
// file's bytes by GET, its health, and the account.
func (s *Server) dashboardRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/files/{id}/content", s.handleContent)
	healther := func(w http.ResponseWriter) (FileHealther, bool) {
		h, ok := s.backend.(FileHealther)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this node does not report file health"))
		}
		return h, ok
	}
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		if h, ok := healther(w); ok {
			v, err := h.FilesHealth(r.Context())
			s.reply(w, v, err)
		}
	})
	mux.HandleFunc("GET /v1/files/{id}/health", func(w http.ResponseWriter, r *http.Request) {
		if h, ok := healther(w); ok {
			v, err := h.FileHealth(r.Context(), r.PathValue("id"))
			s.reply(w, v, err)
		}
	})
	mux.HandleFunc("GET /v1/account", func(w http.ResponseWriter, r *http.Request) {
		a, ok := s.backend.(AccountReader)
		if !ok {
			writeError(w, http.StatusNotFound, errors.New("this node does not report its account"))
			return
		}
		v, err := a.AccountInfo(r.Context())
		s.reply(w, v, err)
	})
}

// handleContent sends one of the account's files (by id) as a download
// named ?name= (the id if none): with its length, so that a browser shows
// progress; a failure after the first byte aborts the connection, so the
// download fails instead of ending short.
func (s *Server) handleContent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rc, size, err := s.backend.Open(r.Context(), id)
	if err != nil {
		s.reply(w, nil, err)
		return
	}
	defer rc.Close()
	name := r.URL.Query().Get("name")
	if name == "" || CheckName(name) != nil {
		name = id
	}
	disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
	if disp == "" {
		disp = mime.FormatMediaType("attachment", map[string]string{"filename": id})
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", disp)
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set(SizeHeader, strconv.FormatInt(size, 10))
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		s.log.Warn("download failed mid-stream", "file", id, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// FileHealth reports a file's health, segment by segment.
func (c *Client) FileHealth(ctx context.Context, fileID string) (*FileHealth, error) {
	var out FileHealth
	if err := c.getJSON(ctx, http.MethodGet, "/v1/files/"+url.PathEscape(fileID)+"/health", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FilesHealth reports the health of each of the account's files.
func (c *Client) FilesHealth(ctx context.Context) ([]FileHealth, error) {
	var out []FileHealth
	return out, c.getJSON(ctx, http.MethodGet, "/v1/health", nil, &out)
}

// Account reports the node's account: credits and quota.
func (c *Client) Account(ctx context.Context) (*AccountInfo, error) {
	var out AccountInfo
	if err := c.getJSON(ctx, http.MethodGet, "/v1/account", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
