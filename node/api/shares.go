package api

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// NameInfo is a username and the account it names.
type NameInfo struct {
	Name    string `json:"name,omitempty"`
	Account string `json:"account"`
	Height  int64  `json:"height,omitempty"`
}

// ShareInfo is one share, given or received.
type ShareInfo struct {
	ID        string `json:"id"`
	Owner     string `json:"owner"`
	OwnerName string `json:"owner_name,omitempty"`
	// Recipient is empty for a public share.
	Recipient     string `json:"recipient,omitempty"`
	RecipientName string `json:"recipient_name,omitempty"`
	Public        bool   `json:"public,omitempty"`
	Write         bool   `json:"write,omitempty"`
	// Path is the shared path in the owner's namespace (shares given; the
	// recipient does not learn it). Name is the shared entry's name, and
	// At where the recipient finds it (/shared-with-me/…; shares received).
	Path    string `json:"path,omitempty"`
	Name    string `json:"name,omitempty"`
	At      string `json:"at,omitempty"`
	Version uint64 `json:"version"`
	Height  int64  `json:"height"`
	// Error says why a received share could not be opened.
	Error string `json:"error,omitempty"`
}

// Shares are the shares an account gave and received.
type Shares struct {
	Account  string      `json:"account"`
	Given    []ShareInfo `json:"given"`
	Received []ShareInfo `json:"received"`
}

// ShareBackend is a Backend that registers usernames and shares parts of
// the account's namespace with other accounts.
type ShareBackend interface {
	// RegisterName registers name for the account (the account key only).
	RegisterName(ctx context.Context, name string) (*NameInfo, error)
	// ReleaseName gives up the account's name.
	ReleaseName(ctx context.Context) error
	// LookupName resolves a name or address (empty: the account's own).
	LookupName(ctx context.Context, who string) (*NameInfo, error)
	// Share shares path with to (a username or address).
	Share(ctx context.Context, path, to string, write bool) (*ShareInfo, error)
	// Unshare removes the shares target names (a share id, or a shared
	// path, with user only those to that user).
	Unshare(ctx context.Context, target, user string) ([]ShareInfo, error)
	// Shares lists the shares given and received.
	Shares(ctx context.Context) (*Shares, error)
}

type shareRequest struct {
	Name   string `json:"name,omitempty"`
	Path   string `json:"path,omitempty"`
	To     string `json:"to,omitempty"`
	Write  bool   `json:"write,omitempty"`
	Target string `json:"target,omitempty"`
	User   string `json:"user,omitempty"`
}

func (s *Server) shareRoutes(mux *http.ServeMux) {
	sh := func(h func(ShareBackend, http.ResponseWriter, *http.Request)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			sb, ok := s.backend.(ShareBackend)
			if !ok {
				writeError(w, http.StatusNotFound, errors.New("this node does not share"))
				return
			}
			h(sb, w, r)
		}
	}
	body := func(h func(ShareBackend, context.Context, shareRequest) (any, error)) http.HandlerFunc {
		return sh(func(sb ShareBackend, w http.ResponseWriter, r *http.Request) {
			var req shareRequest
			if err := decodeJSON(w, r, &req); err != nil {
				writeError(w, http.StatusBadRequest, err)
				return
			}
			v, err := h(sb, r.Context(), req)
			s.reply(w, v, err)
		})
	}
	mux.HandleFunc("GET /v1/names", sh(func(sb ShareBackend, w http.ResponseWriter, r *http.Request) {
		n, err := sb.LookupName(r.Context(), r.URL.Query().Get("who"))
		s.reply(w, n, err)
	}))
	mux.HandleFunc("POST /v1/names", body(func(sb ShareBackend, ctx context.Context, q shareRequest) (any, error) {
		return sb.RegisterName(ctx, q.Name)
	}))
	mux.HandleFunc("DELETE /v1/names", sh(func(sb ShareBackend, w http.ResponseWriter, r *http.Request) {
		s.reply(w, struct{}{}, sb.ReleaseName(r.Context()))
	}))
	mux.HandleFunc("GET /v1/shares", sh(func(sb ShareBackend, w http.ResponseWriter, r *http.Request) {
		l, err := sb.Shares(r.Context())
		s.reply(w, l, err)
	}))
	mux.HandleFunc("POST /v1/shares", body(func(sb ShareBackend, ctx context.Context, q shareRequest) (any, error) {
		return sb.Share(ctx, q.Path, q.To, q.Write)
	}))
	mux.HandleFunc("POST /v1/shares/remove", body(func(sb ShareBackend, ctx context.Context, q shareRequest) (any, error) {
		return sb.Unshare(ctx, q.Target, q.User)
	}))
}

// RegisterName registers name for the node's account.
func (c *Client) RegisterName(ctx context.Context, name string) (*NameInfo, error) {
	var out NameInfo
	return &out, c.getJSON(ctx, http.MethodPost, "/v1/names", shareRequest{Name: name}, &out)
}

// ReleaseName gives up the account's name.
func (c *Client) ReleaseName(ctx context.Context) error {
	return c.getJSON(ctx, http.MethodDelete, "/v1/names", nil, nil)
}

// LookupName resolves a username or address (empty: the account's own).
func (c *Client) LookupName(ctx context.Context, who string) (*NameInfo, error) {
	var out NameInfo
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/names?"+url.Values{"who": {who}}.Encode(), nil, &out)
}

// Share shares path with to (a username or address); with write the
// recipient may change it.
func (c *Client) Share(ctx context.Context, path, to string, write bool) (*ShareInfo, error) {
	var out ShareInfo
	return &out, c.getJSON(ctx, http.MethodPost, "/v1/shares", shareRequest{Path: path, To: to, Write: write}, &out)
}

// Unshare removes the shares target names: a share id, or a shared path
// (with user, only those to that username or address).
func (c *Client) Unshare(ctx context.Context, target, user string) ([]ShareInfo, error) {
	var out []ShareInfo
	return out, c.getJSON(ctx, http.MethodPost, "/v1/shares/remove", shareRequest{Target: target, User: user}, &out)
}

// Shares lists the shares the account gave and received.
func (c *Client) Shares(ctx context.Context) (*Shares, error) {
	var out Shares
	return &out, c.getJSON(ctx, http.MethodGet, "/v1/shares", nil, &out)
}
