package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `coop job submit` takes the input as bytes (--input, --inline) or as an
// existing file of the account (--input-id), not both; the conflict is
// refused before any daemon is asked.
func TestJobSubmitInputIDConflicts(t *testing.T) {
	dir := t.TempDir()
	mod, in := filepath.Join(dir, "m.wasm"), filepath.Join(dir, "in")
	for _, p := range []string{mod, in} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	id := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--input", in, "--input-id", id}, "--input and --input-id"},
		{[]string{"--inline", "--input-id", id}, "--inline"},
	} {
		args := append([]string{"--home", dir, "job", "submit", mod}, tc.args...)
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}
