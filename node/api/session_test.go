package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// request sends method url with the headers h (and body) and returns the
// status and body.
func request(t *testing.T, method, u string, h http.Header, body string) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// login mints a code with the token and consumes it, returning the
// session cookie.
func login(t *testing.T, s *Server, tok string) *http.Cookie {
	t.Helper()
	code, err := NewClient(s.URL(), tok).LoginCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp, body := request(t, http.MethodGet, s.URL()+code.Path, nil, "")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login answered %d (Location %q): %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	for _, c := range resp.Cookies() {
		if c.Name == s.cookie {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %v", s.cookie, resp.Header["Set-Cookie"])
	return nil
}

func withCookie(c *http.Cookie, kv ...string) http.Header {
	h := http.Header{"Cookie": {c.Name + "=" + c.Value}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestDashboardPageIsPublicAndHoldsNoData(t *testing.T) {
	s, _, _ := startTest(t, testConfig())
	resp, body := request(t, http.MethodGet, s.URL()+"/", nil, "")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / answered %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, "coop dashboard") {
		t.Fatal("the page does not say how to log in (`coop dashboard`)")
	}
	// The backend's account ("acct") and pledge reach a browser only
	// through the authenticated API.
	if strings.Contains(body, "acct") {
		t.Fatal("the public page holds the node's data")
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, a := range []string{"app.js", "style.css", "icon.svg"} {
		if resp, body := request(t, http.MethodGet, s.URL()+"/assets/"+a, nil, ""); resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("asset %s: %d", a, resp.StatusCode)
		}
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+"/assets/nope.js", nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown asset: %d", resp.StatusCode)
	}
	for _, p := range []string{"/v1/status", "/v1/files", "/v1/account", "/nope"} {
		if resp, _ := request(t, http.MethodGet, s.URL()+p, nil, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without credentials: %d, want 401", p, resp.StatusCode)
		}
	}
}

func TestLoginCodeIsSingleUse(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	if resp, _ := request(t, http.MethodPost, s.URL()+LoginCodePath, nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login code without the token: %d, want 401", resp.StatusCode)
	}
	code, err := NewClient(s.URL(), tok).LoginCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(code.Expires); d <= 0 || d > LoginCodeTTL {
		t.Fatalf("code expires in %v", d)
	}
	// A wrong code, and an empty one, are refused and do not use up the
	// right one.
	for _, bad := range []string{"", "x", strings.Repeat("A", len(code.Code)), code.Code[:len(code.Code)-1]} {
		resp, body := request(t, http.MethodGet, s.URL()+LoginPath+"?code="+url.QueryEscape(bad), nil, "")
		if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(body, "coop dashboard") {
			t.Fatalf("code %q: %d, cookies %v", bad, resp.StatusCode, resp.Cookies())
		}
	}
	resp, _ := request(t, http.MethodGet, s.URL()+code.Path, nil, "")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == s.cookie {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("session cookie %+v, want HttpOnly, SameSite=Strict, Path=/", c)
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+code.Path, nil, ""); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("second use of the code: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if resp, body := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(c), ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "acct") {
		t.Fatalf("status with the cookie: %d %s", resp.StatusCode, body)
	}
	wrong := *c
	wrong.Value = strings.Repeat("A", len(c.Value))
	if resp, _ := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(&wrong), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status with a made-up cookie: %d", resp.StatusCode)
	}
	// A session cannot mint login codes (only the token can), and a
	// wrong token is refused even with a good cookie.
	if resp, _ := request(t, http.MethodPost, s.URL()+LoginCodePath, withCookie(c, CSRFHeader, "1"), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login code with a cookie: %d", resp.StatusCode)
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(c, "Authorization", "Bearer nope"), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("cookie with a wrong token: %d", resp.StatusCode)
	}
	// Logging out ends the session.
	if resp, body := request(t, http.MethodPost, s.URL()+LogoutPath, withCookie(c, CSRFHeader, "1"), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %d %s", resp.StatusCode, body)
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(c), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status after logout: %d", resp.StatusCode)
	}
}

func TestLoginCodesAndSessionsExpire(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	var mu sync.Mutex
	now := time.Now()
	s.sessions.mu.Lock()
	s.sessions.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s.sessions.mu.Unlock()
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	code, err := NewClient(s.URL(), tok).LoginCode(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	advance(LoginCodeTTL + time.Second)
	if resp, _ := request(t, http.MethodGet, s.URL()+code.Path, nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired code: %d", resp.StatusCode)
	}
	c := login(t, s, tok)
	advance(SessionTTL - time.Minute)
	if resp, _ := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(c), ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("session before its expiry: %d", resp.StatusCode)
	}
	advance(2 * time.Minute)
	if resp, _ := request(t, http.MethodGet, s.URL()+"/v1/status", withCookie(c), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("expired session: %d", resp.StatusCode)
	}
	// Unused codes are bounded: past maxLoginCodes the oldest goes.
	var codes []*LoginCode
	for range maxLoginCodes + 1 {
		c, err := NewClient(s.URL(), tok).LoginCode(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, c)
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+codes[0].Path, nil, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("oldest of %d codes: %d, want dropped", len(codes), resp.StatusCode)
	}
	if resp, _ := request(t, http.MethodGet, s.URL()+codes[len(codes)-1].Path, nil, ""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("newest code: %d", resp.StatusCode)
	}
}

func TestCookieRequestsNeedCSRFHeader(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	c := login(t, s, tok)
	put := s.URL() + "/v1/put?name=a.txt"
	for _, tc := range []struct {
		name string
		h    http.Header
	}{
		{"no header", withCookie(c)},
		{"wrong header value", withCookie(c, CSRFHeader, "yes")},
		{"other origin", withCookie(c, CSRFHeader, "1", "Origin", "http://evil.example")},
		{"cross-site fetch", withCookie(c, CSRFHeader, "1", "Sec-Fetch-Site", "cross-site")},
		{"same-site other port", withCookie(c, CSRFHeader, "1", "Sec-Fetch-Site", "same-site")},
	} {
		if resp, body := request(t, http.MethodPost, put, tc.h, "hello"); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%s: put answered %d %s, want 403", tc.name, resp.StatusCode, body)
		}
	}
	files, err := NewClient(s.URL(), tok).Files(context.Background())
	if err != nil || len(files) != 0 {
		t.Fatalf("refused puts stored %d files (%v)", len(files), err)
	}
	h := withCookie(c, CSRFHeader, "1", "Origin", s.URL(), "Sec-Fetch-Site", "same-origin")
	resp, body := request(t, http.MethodPost, put, h, "hello")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("put with the header: %d %s", resp.StatusCode, body)
	}
	files, err = NewClient(s.URL(), tok).Files(context.Background())
	if err != nil || len(files) != 1 {
		t.Fatalf("files %v, %v", files, err)
	}
	// Reads need no header; the download is a plain GET with a name.
	resp, body = request(t, http.MethodGet, s.URL()+"/v1/files/"+files[0].FileID+"/content?name="+url.QueryEscape("a b.txt"), withCookie(c), "")
	if resp.StatusCode != http.StatusOK || body != "hello" || resp.Header.Get("Content-Length") != "5" {
		t.Fatalf("download: %d %q (length %s)", resp.StatusCode, body, resp.Header.Get("Content-Length"))
	}
	if d := resp.Header.Get("Content-Disposition"); d != `attachment; filename="a b.txt"` {
		t.Fatalf("Content-Disposition %q", d)
	}
	if resp, _ := request(t, http.MethodDelete, s.URL()+"/v1/files/"+files[0].FileID, withCookie(c), ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("delete without the header: %d", resp.StatusCode)
	}
	if resp, _ := request(t, http.MethodPost, s.URL()+LogoutPath, withCookie(c), ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the header: %d", resp.StatusCode)
	}
	// The bearer token needs no CSRF header (it is not sent by browsers
	// on their own).
	if resp, _ := request(t, http.MethodDelete, s.URL()+"/v1/files/"+files[0].FileID, http.Header{"Authorization": {"Bearer " + tok}}, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete with the token: %d", resp.StatusCode)
	}
}

// The cookie's name carries the API's port: two nodes on one host (a
// devnet) keep separate sessions in one browser.
func TestSessionCookieIsPerPort(t *testing.T) {
	a, _, ta := startTest(t, testConfig())
	b, _, _ := startTest(t, testConfig())
	if a.cookie == b.cookie {
		t.Fatalf("two APIs share the cookie name %q", a.cookie)
	}
	c := login(t, a, ta)
	if resp, _ := request(t, http.MethodGet, b.URL()+"/v1/status", withCookie(c), ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("node A's session on node B: %d", resp.StatusCode)
	}
}

// brokenOpen is a backend whose files fail after their first bytes.
type brokenOpen struct{ *memBackend }

func (brokenOpen) Open(context.Context, string) (io.ReadCloser, int64, error) {
	return io.NopCloser(io.MultiReader(strings.NewReader("abc"), iotestErrReader{})), 10, nil
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("holder went away") }

// A download that fails after its first byte breaks the connection, so the
// browser reports a failed download instead of saving a short file.
func TestDownloadFailingMidwayIsCutOff(t *testing.T) {
	home := t.TempDir()
	tok, err := EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(testConfig(), home, tok, brokenOpen{&memBackend{files: map[string][]byte{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req, err := http.NewRequest(http.MethodGet, s.URL()+"/v1/files/x/content", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	// The connection breaks before the answer (the first bytes are still
	// buffered) or during its body; either way the download fails.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if b, err := io.ReadAll(resp.Body); err == nil {
		t.Fatalf("HTTP %d: read %q and no error from a download cut short", resp.StatusCode, b)
	}
}
