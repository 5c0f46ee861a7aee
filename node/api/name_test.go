package api

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestCheckNameRefusesControlCharactersAndInvalidUTF8(t *testing.T) {
	for _, name := range []string{"", "photo.jpg", "résumé 2026.pdf", "日本語.txt", "a b", strings.Repeat("x", MaxNameBytes)} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for name, want := range map[string]string{
		"a\nb":                              "control character",
		"a\tb":                              "control character",
		"clear\x1b[2J":                      "control character",
		"bell\a":                            "control character",
		"del\x7f":                           "control character",
		"c1\u0085":                          "control character",
		"bad\xffutf8":                       "not valid UTF-8",
		"half\xe2\x82":                      "not valid UTF-8",
		strings.Repeat("x", MaxNameBytes+1): "longer than",
	} {
		err := CheckName(name)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckName(%q): %v, want ErrInvalid saying %q", name, err, want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\n\t\x1b\a\x7f") {
			t.Errorf("CheckName(%q): the error prints the raw bytes: %q", name, err)
		}
	}
}

func TestPrintableNameEscapesWhatATerminalWouldObey(t *testing.T) {
	for in, want := range map[string]string{
		"photo.jpg":        "photo.jpg",
		"résumé 2026":      "résumé 2026",
		"a\nb":             `"a\nb"`,
		"clear\x1b[2J":     `"clear\x1b[2J"`,
		"bad\xff":          `"bad\xff"`,
		"rtl\u202etxt.exe": `"rtl\u202etxt.exe"`,
	} {
		if got := PrintableName(in); got != want {
			t.Errorf("PrintableName(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestPutRefusesBadNames: the server refuses a name with a control
// character or invalid UTF-8 (400) before the backend sees the upload.
func TestPutRefusesBadNames(t *testing.T) {
	s, _, tok := startTest(t, testConfig())
	c := NewClient(s.URL(), tok)
	for _, name := range []string{"two\nlines", "esc\x1b[31m", "bad\xff"} {
		_, err := c.Put(context.Background(), strings.NewReader("data"), 4, PutOptions{Name: name})
		var ae *Error
		if !errors.As(err, &ae) || ae.Code != http.StatusBadRequest || !strings.Contains(ae.Message, "name") {
			t.Errorf("put named %q: %v, want 400 about the name", name, err)
		}
	}
	files, err := c.Files(context.Background())
	if err != nil || len(files) != 0 {
		t.Fatalf("files after refused puts: %v %v", files, err)
	}
}
