package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coop-network/coop/node/api"
)

// TestPutRefusesNamesWithControlCharacters: a file whose name (its base
// name, or --name) has a control character or is not UTF-8 is refused
// before anything is sent, with the name escaped in the message.
func TestPutRefusesNamesWithControlCharacters(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	evil := filepath.Join(dir, "evil\x1b[2J\nname.txt")
	if err := os.WriteFile(evil, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"put", evil}, "control character"},
		{[]string{"put", plain, "--name", "tab\there"}, "control character"},
		{[]string{"put", plain, "--name", "latin1-\xe9t\xe9"}, "not valid UTF-8"},
	} {
		_, err := runCLI(t, append([]string{"--home", home}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--name") {
			t.Errorf("coop %q: %v, want a refusal saying %q", c.args, err, c.want)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x1b\n\t") {
			t.Errorf("coop %q: the error prints raw control characters: %q", c.args, err)
		}
	}
}

// namedFiles is a node whose file list holds names with control characters
// (files.json written by an older coop, or a hostile node).
type namedFiles struct {
	api.Backend // only Files is called
	files       []api.FileInfo
}

func (n namedFiles) Files(context.Context) ([]api.FileInfo, error) { return n.files, nil }

// TestLsNeverPrintsRawControlCharacters: coop ls and ls -l print names (and
// the other fields a node sends) escaped.
func TestLsNeverPrintsRawControlCharacters(t *testing.T) {
	home := t.TempDir()
	tok, err := api.EnsureToken(home)
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	files := []api.FileInfo{
		{FileID: strings.Repeat("ab", 32), Name: "clear\x1b[2J\nfake line", Size: 10, K: 1, M: 1, Pieces: 2, KeyError: "bad\x1b]0;title\a key"},
		{FileID: strings.Repeat("cd", 32), Name: "résumé.pdf", Size: 20, K: 1, M: 1, Pieces: 2, Capability: "coop1xyz"},
	}
	s, err := api.Start(cfg, home, tok, namedFiles{files: files})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, args := range [][]string{{"ls"}, {"ls", "-l"}} {
		out, err := runCLI(t, append([]string{"--home", home}, args...)...)
		if err != nil {
			t.Fatalf("coop %v: %v", args, err)
		}
		if strings.ContainsAny(out, "\x1b\a") || strings.Count(out, "\n") != 3 {
			t.Fatalf("coop %v prints raw control characters:\n%q", args, out)
		}
		if !strings.Contains(out, `"clear\x1b[2J\nfake line"`) || !strings.Contains(out, "résumé.pdf") {
			t.Fatalf("coop %v: names not shown escaped / as they are:\n%s", args, out)
		}
	}
}
