package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Browser login. The dashboard cannot send the bearer token, so a client
// that has it (`coop dashboard`) asks for a one-time login code (POST
// LoginCodePath, bearer token only) and gives the person the link
// LoginPath?code=…; opening it (GET) consumes the code and sets a session
// cookie (HttpOnly, SameSite=Strict). Requests with the cookie pass
// authenticate like the token; a state-changing one (any method but GET,
// HEAD, OPTIONS) must also carry CSRFHeader and, when the browser sends
// them, a same-origin Origin and Sec-Fetch-Site, so that no other site can
// make the browser act for the person.
const (
	// LoginCodePath mints a login code (POST, bearer token only).
	LoginCodePath = "/v1/login-code"
	// LoginPath consumes a code (GET ?code=) and sets the session cookie.
	LoginPath = "/login"
	// LogoutPath ends the cookie's session (POST, with CSRFHeader).
	LogoutPath = "/logout"
	// CSRFHeader must be present ("1") on a state-changing request that
	// is authenticated by the session cookie.
	CSRFHeader = "X-Coop-CSRF"
	// LoginCodeTTL is how long a login code may be used; SessionTTL how
	// long a session lasts.
	LoginCodeTTL = 5 * time.Minute
	SessionTTL   = 12 * time.Hour
)

// Bounds on what unconsumed codes and sessions the server keeps; past them
// the oldest go.
const (
	maxLoginCodes = 16
	maxSessions   = 64
)

// LoginCode is a one-time login code: Path (LoginPath?code=…) relative to
// the API's address, single use, until Expires.
type LoginCode struct {
	Code    string    `json:"code"`
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

// secret is a login code or session id, kept as its SHA-256.
type secret struct {
	sum     [sha256.Size]byte
	expires time.Time
}

// sessions keeps the login codes not yet used and the live sessions.
type sessions struct {
	mu    sync.Mutex
	now   func() time.Time
	codes []secret
	live  []secret
}

// newSecret is 256 random bits, base64url.
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("api: generating a secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// add records v's hash until ttl from now in *list, dropping expired
// entries and, past max, the oldest.
func (ss *sessions) add(list *[]secret, v string, ttl time.Duration, max int) time.Time {
	now := ss.now()
	kept := (*list)[:0]
	for _, s := range *list {
		if now.Before(s.expires) {
			kept = append(kept, s)
		}
	}
	if len(kept) >= max {
		kept = append(kept[:0], kept[len(kept)-max+1:]...)
	}
	exp := now.Add(ttl)
	*list = append(kept, secret{sum: sha256.Sum256([]byte(v)), expires: exp})
	return exp
}

// find reports whether v is an unexpired entry of list, comparing every
// entry in constant time; remove deletes it when found.
func (ss *sessions) find(list *[]secret, v string, remove bool) bool {
	if v == "" {
		return false
	}
	sum := sha256.Sum256([]byte(v))
	now := ss.now()
	at := -1
	for i, s := range *list {
		if subtle.ConstantTimeCompare(sum[:], s.sum[:]) == 1 && now.Before(s.expires) {
			at = i
		}
	}
	if at < 0 {
		return false
	}
	if remove {
		*list = append((*list)[:at], (*list)[at+1:]...)
	}
	return true
}

// newCode mints a login code.
func (ss *sessions) newCode() (string, time.Time, error) {
	code, err := newSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return code, ss.add(&ss.codes, code, LoginCodeTTL, maxLoginCodes), nil
}

// login consumes code and, if it was valid, starts a session.
func (ss *sessions) login(code string) (string, time.Time, bool, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.find(&ss.codes, code, true) {
		return "", time.Time{}, false, nil
	}
	id, err := newSecret()
	if err != nil {
		return "", time.Time{}, false, err
	}
	return id, ss.add(&ss.live, id, SessionTTL, maxSessions), true, nil
}

// valid reports whether id is a live session.
func (ss *sessions) valid(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.find(&ss.live, id, false)
}

// logout ends session id.
func (ss *sessions) logout(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.find(&ss.live, id, true)
}

// bearerOK reports whether r carries the API token.
func (s *Server) bearerOK(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), s.token) == 1
}

// sessionID is r's session cookie value ("" if none).
func (s *Server) sessionID(r *http.Request) string {
	c, err := r.Cookie(s.cookie)
	if err != nil {
		return ""
	}
	return c.Value
}

// authenticate passes requests that carry the bearer token, or a live
// session cookie (with the CSRF checks for state-changing ones); others
// are answered 401 (403 for a cookie request failing the CSRF checks).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			if !s.bearerOK(r) {
				unauthorized(w, errors.New("missing or wrong API token"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if !s.sessions.valid(s.sessionID(r)) {
			unauthorized(w, errors.New("missing or wrong API token (or no dashboard login: run `coop dashboard`)"))
			return
		}
		if err := checkCSRF(r); err != nil {
			writeError(w, http.StatusForbidden, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func unauthorized(w http.ResponseWriter, err error) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="coop"`)
	writeError(w, http.StatusUnauthorized, err)
}

// checkCSRF refuses a state-changing cookie request that another site
// could have made the browser send: it must carry CSRFHeader (which a
// cross-site page cannot set without a CORS preflight the API never
// grants), and the Origin and Sec-Fetch-Site the browser sends, if any,
// must say same origin.
func checkCSRF(r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if r.Header.Get(CSRFHeader) != "1" {
		return fmt.Errorf("a request with the dashboard's cookie must carry the %s header", CSRFHeader)
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return fmt.Errorf("cross-origin request refused (Origin %q, API at %q)", o, r.Host)
		}
	}
	return nil
}

// handleLoginCode mints a login code for a client with the bearer token.
func (s *Server) handleLoginCode(w http.ResponseWriter, r *http.Request) {
	if !s.bearerOK(r) {
		unauthorized(w, errors.New("a login code needs the API token"))
		return
	}
	code, exp, err := s.sessions.newCode()
	if err != nil {
		s.reply(w, nil, err)
		return
	}
	s.reply(w, LoginCode{Code: code, Path: LoginPath + "?code=" + url.QueryEscape(code), Expires: exp.UTC()}, nil)
}

var loginFailedPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>coop: login link not valid</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/assets/style.css"></head>
<body><main class="login-failed"><h1>This login link does not work</h1>
<p>{{.}}</p>
<p>A login link works once, for five minutes. To get a new one, run this on the computer where the coop node runs:</p>
<pre>coop dashboard</pre>
<p><a href="/">Back to the dashboard</a></p></main></body></html>
`))

// handleLogin consumes a login code, sets the session cookie and sends the
// browser to the dashboard.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	id, exp, ok, err := s.sessions.login(r.URL.Query().Get("code"))
	if err != nil {
		s.reply(w, nil, err)
		return
	}
	if !ok {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_ = loginFailedPage.Execute(w, "The code in it is wrong, was used already, or expired.")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: id, Path: "/", Expires: exp, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogout ends the cookie's session.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if err := checkCSRF(r); err != nil {
		writeError(w, http.StatusForbidden, err)
		return
	}
	s.sessions.logout(s.sessionID(r))
	http.SetCookie(w, &http.Cookie{Name: s.cookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.reply(w, struct{}{}, nil)
}

// LoginCode asks the node for a one-time dashboard login code.
func (c *Client) LoginCode(ctx context.Context) (*LoginCode, error) {
	var out LoginCode
	if err := c.getJSON(ctx, http.MethodPost, LoginCodePath, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BaseURL is the API's address, as the client was given it.
func (c *Client) BaseURL() string { return c.base }
