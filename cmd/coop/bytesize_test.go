package main

import (
	"strings"
	"testing"
)

func TestParseBytesReadsIECAndSIUnits(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"4096", 4096},
		{"12B", 12},
		{"100GiB", 100 << 30},
		{"100 GiB", 100 << 30},
		{"2 TiB", 2 << 40},
		{"256MiB", 256 << 20},
		{"64KiB", 64 << 10},
		{"64Ki", 64 << 10},
		{"64kib", 64 << 10},
		{"1.5KiB", 1536},
		{"1.5GiB", 3 << 29},
		{"500MB", 500e6},
		{"500 mb", 500e6},
		{"1.5TB", 1.5e12},
		{"25MB", 25e6},
		{"1G", 1e9},
		{"1k", 1000},
		{"1kB", 1000},
		{"1,000", 1000},
		{"18446744073709551615", 1<<64 - 1},
	}
	for _, c := range cases {
		got, err := parseBytes("--size", c.in)
		if err != nil || got != c.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", " ", "GiB", "-1GiB", "+1GiB", "1e30TiB", "abc", "12 parsecs",
		"18446744073709551616", "18446744073709551615KiB", "16EiB", "20000000PB", "1.5.5GB"} {
		_, err := parseBytes("--pledge", bad)
		if err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "--pledge: bad size") || !strings.Contains(msg, "KiB") {
			t.Errorf("parseBytes(%q): error %q does not name the flag and the units", bad, msg)
		}
	}
}

func TestFormatBytesPrintsIECUnits(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {512, "512 B"}, {1536, "1.5 KiB"}, {100 << 30, "100 GiB"}, {-2048, "-2.0 KiB"}} {
		if got := formatBytes(c.n); got != c.want {
			t.Errorf("formatBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	if got := formatBytes(uint64(1<<64 - 1)); got != "16 EiB" {
		t.Errorf("formatBytes(max) = %q", got)
	}
}
