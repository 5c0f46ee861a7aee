// Package dashboard is the node's web dashboard: one page with its script
// and style sheet, embedded in the binary (no CDN, no build step: plain
// HTML, CSS and JavaScript), served by the API at "/" and AssetsPath.
//
// The page holds no data. Its script reads the node's state from the
// API's /v1 routes with the session cookie that GET /login sets (see
// node/api's session.go); without one, it says how to log in (`coop
// dashboard`). The handler serves the files with a strict Content
// Security Policy: scripts, styles and requests only from the node
// itself, no framing.
package dashboard

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// AssetsPath is the prefix of the page's script, style sheet and icon.
const AssetsPath = "/assets/"

//go:embed static
var static embed.FS

// csp allows the page only its own origin: no inline scripts, no framing,
// no other site to send data to.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Handler serves the page at "/" and its assets under AssetsPath; any
// other path is 404.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/":
			http.ServeFileFS(w, r, sub, "index.html")
		case strings.HasPrefix(r.URL.Path, AssetsPath) && len(r.URL.Path) > len(AssetsPath):
			r2 := r.Clone(r.Context())
			r2.URL.Path = "/" + r.URL.Path[len(AssetsPath):]
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
