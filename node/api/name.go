package api

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a file's name (PutOptions.Name).
const MaxNameBytes = 255

// CheckName returns an error wrapping ErrInvalid if name cannot be a file's
// name: over MaxNameBytes, not valid UTF-8, or holding a control character
// (a newline, a tab, an escape sequence that would rewrite a terminal when
// the name is printed). The empty name is allowed (no name). The CLI, the
// API server and the node's Put all check it, so no such name is stored.
func CheckName(name string) error {
	if len(name) > MaxNameBytes {
		return fmt.Errorf("%w: name of %d bytes, longer than %d", ErrInvalid, len(name), MaxNameBytes)
	}
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size == 1 {
				return fmt.Errorf("%w: name %s is not valid UTF-8 (byte %d)", ErrInvalid, strconv.Quote(name), i)
			}
		}
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: name %s has a control character (%U at byte %d)", ErrInvalid, strconv.Quote(name), r, i)
		}
	}
	return nil
}

// PrintableName is name as a terminal may show it: unchanged if it is valid
// UTF-8 of printable characters and spaces, else Go-quoted with every
// control, format or invalid byte escaped ("a\x1b[2Jb"). Names from a
// node's file list go through it before they are printed.
func PrintableName(name string) string {
	for _, r := range name {
		if r == utf8.RuneError || r != ' ' && !unicode.IsPrint(r) {
			return strconv.Quote(name)
		}
	}
	return name
}
