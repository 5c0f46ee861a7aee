package namespace

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	good := map[string]string{
		"/":                            "/",
		"/docs":                        "/docs",
		"/docs/":                       "/docs",
		"/docs/a.pdf":                  "/docs/a.pdf",
		"/ünïcode/名前":                  "/ünïcode/名前",
		"/a b/.hidden/...":             "/a b/.hidden/...",
		"/" + strings.Repeat("x", 255): "/" + strings.Repeat("x", 255),
		strings.Repeat("/d", 64):       strings.Repeat("/d", 64),
	}
	for in, want := range good {
		got, err := CleanPath(in)
		if err != nil || got != want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                             "not absolute",
		"docs/a":                       "not absolute",
		"//":                           "empty component",
		"/a//b":                        "empty component",
		"/a/./b":                       `component "."`,
		"/a/..":                        `component ".."`,
		"/" + strings.Repeat("x", 256): "more than 255",
		"/a\x00b":                      "control character",
		"/a\nb":                        "control character",
		"/a\x7fb":                      "control character",
		"/a\u0085b":                    "control character",
		"/\xff":                        "not valid UTF-8",
		strings.Repeat("/d", 65):       "more than 64 components",
		"/a/":                          "",
	}
	delete(bad, "/a/")
	for in, why := range bad {
		_, err := CleanPath(in)
		if !errors.Is(err, ErrBadPath) || !errors.Is(err, fs.ErrInvalid) || !strings.Contains(err.Error(), why) {
			t.Errorf("CleanPath(%q) error %v, want ErrBadPath saying %q", in, err, why)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a", "/a/", "a", "/a//b", "/a/../b", "/\xff", "/x\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanPath(p)
		if err != nil {
			return
		}
		again, err := CleanPath(c)
		if err != nil || again != c {
			t.Fatalf("CleanPath(%q) = %q, but CleanPath of that = %q, %v", p, c, again, err)
		}
		if len(split(c)) > MaxDepth {
			t.Fatalf("%q too deep", c)
		}
		for _, n := range split(c) {
			if checkName(n) != nil {
				t.Fatalf("%q has bad component %q", c, n)
			}
		}
	})
}
