package namespace

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanPath checks p and returns its canonical form: a leading '/', the
// components separated by single '/', no trailing '/'. "/" is the root.
// A single trailing '/' ("/docs/") is accepted and dropped; everything else
// that is not canonical is refused with ErrBadPath: a relative path, empty
// components ("//"), "." and "..", a component that is longer than
// MaxNameLen bytes, not valid UTF-8 or holds a control character (NUL
// included), and more than MaxDepth components.
func CleanPath(p string) (string, error) {
	c, err := cleanPath(p)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrBadPath, p, err)
	}
	return c, nil
}

// cleanPath is CleanPath with an error that does not repeat the path.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("not absolute (must start with /)")
	}
	if p == "/" {
		return p, nil
	}
	q := strings.TrimSuffix(p, "/")
	depth := 0
	for name := range strings.SplitSeq(q[1:], "/") {
		depth++
		if depth > MaxDepth {
			return "", fmt.Errorf("more than %d components", MaxDepth)
		}
		if err := checkName(name); err != nil {
			return "", err
		}
	}
	return q, nil
}

// checkName returns why name cannot be a path component, or nil.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty component")
	case name == "." || name == "..":
		return fmt.Errorf("component %q", name)
	case len(name) > MaxNameLen:
		return fmt.Errorf("component of %d bytes, more than %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("component %q is not valid UTF-8", name)
	}
	for _, r := range name {
		if r == '/' {
			return fmt.Errorf("component %q holds '/'", name)
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("component %q holds control character %U", name, r)
		}
	}
	return nil
}

// split returns the components of a clean path; the root has none.
func split(clean string) []string {
	if clean == "/" {
		return nil
	}
	return strings.Split(clean[1:], "/")
}

// join appends name to the clean directory path dir.
func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// parentOf returns the parent directory and the last component of a clean,
// non-root path.
func parentOf(clean string) (dir, name string) {
	i := strings.LastIndexByte(clean, '/')
	if i == 0 {
		return "/", clean[1:]
	}
	return clean[:i], clean[i+1:]
}

// within reports whether clean path p is dir or below it.
func within(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir) && p[len(dir)] == '/'
}
