package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// runCLI runs the coop command tree in-process with args and returns stdout.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()

	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestVersionPrintsJSONWhenAsked(t *testing.T) {
	out, err := runCLI(t, "--home", t.TempDir(), "version", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version --json is not JSON: %q: %v", out, err)
	}
	if v["version"] == "" {
		t.Fatalf("no version in %v", v)
	}
}

func TestHomeComesFromEnvConfigAndFlagInOrder(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("COOP_HOME", dir)
	if _, err := runCLI(t, "version"); err != nil {
		t.Fatal(err)
	}
	if got := homeDir(); got != dir {
		t.Fatalf("COOP_HOME: home = %q, want %q", got, dir)
	}
	flagDir := t.TempDir()
	if _, err := runCLI(t, "--home", flagDir, "version"); err != nil {
		t.Fatal(err)
	}
	if got := homeDir(); got != flagDir {
		t.Fatalf("--home beats COOP_HOME: home = %q, want %q", got, flagDir)
	}
	// The config file in the home is read: log-level set there shows up.
	if err := os.WriteFile(filepath.Join(flagDir, configFileName), []byte("log-level = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "--home", flagDir, "version"); err != nil {
		t.Fatal(err)
	}
	if got := cfg.GetString("log-level"); got != "debug" {
		t.Fatalf("config file not read: log-level = %q", got)
	}
}

func TestBrokenConfigFileIsAnError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, configFileName), []byte("this is = = not toml"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "--home", dir, "version"); err == nil {
		t.Fatal("a broken config file was accepted")
	}
}
