package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestProgressBarUsesIECUnits: the put/get progress bar counts in MiB like
// the summaries (formatBytes), not in MB.
func TestProgressBarUsesIECUnits(t *testing.T) {
	var buf bytes.Buffer
	bar := newProgressBar(&buf, 5<<20, "put")
	if _, err := bar.Write(make([]byte, 3<<20)); err != nil {
		t.Fatal(err)
	}
	if err := bar.RenderBlank(); err != nil {
		t.Fatal(err)
	}
	bar.Exit()
	out := buf.String()
	if !strings.Contains(out, "MiB") || strings.Contains(out, " MB") {
		t.Fatalf("progress bar: %q, want MiB", out)
	}
}
