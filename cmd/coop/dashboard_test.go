package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"

	"github.com/coop-network/coop/node/api"
)

// TestDashboardPrintsOneTimeLoginLink: coop dashboard asks the running
// node for a login code and prints the link; the link logs a browser in
// once (a session cookie and a redirect to the page), then no more.
func TestDashboardPrintsOneTimeLoginLink(t *testing.T) {
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	s, err := api.Start(cfg, home, tok, namedFiles{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := runCLI(t, "--home", home, "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(regexp.QuoteMeta(s.URL()) + `/login\?code=[A-Za-z0-9_-]{43}`).FindString(out)
	if link == "" {
		t.Fatalf("no login link to %s in:\n%s", s.URL(), out)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		resp, err := noRedirect.Get(link)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want || (want == http.StatusSeeOther) != (len(resp.Cookies()) == 1) {
			t.Fatalf("use %d of the link: %d with cookies %v, want %d", i+1, resp.StatusCode, resp.Cookies(), want)
		}
	}

	out, err = runCLI(t, "--home", home, "--json", "dashboard")
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || !regexp.MustCompile(`/login\?code=`).MatchString(j.URL) {
		t.Fatalf("--json: %q (%v)", out, err)
	}

	// Without a running node it says how to start one.
	if _, err := runCLI(t, "--home", t.TempDir(), "dashboard"); err == nil {
		t.Fatal("coop dashboard without a node succeeded")
	}
}
