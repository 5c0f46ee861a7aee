package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoRoundTripsAndCleansUp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, err := runCLI(t, "--home", t.TempDir(), "demo", "--dir", dir, "--size", "3000000", "--segment-size", "1048576")
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"put: 3 segment(s)", "bit-exact", "scrub: checked", "repair: regenerated", "fails as it should: segment 0 has 3 of the 4", "proof: leaf"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("demo left %s behind", dir)
	}
}
