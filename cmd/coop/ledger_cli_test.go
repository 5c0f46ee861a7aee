package main

import (
	"encoding/json"
	"testing"
)

func TestLedgerParseBytesReadsUnits(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"100GiB", 100 << 30},
		{"1.5KiB", 1536},
		{"500MB", 500e6},
		{"4096", 4096},
		{"2 TiB", 2 << 40},
	}
	for _, c := range cases {
		got, err := ledgerParseBytes(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: got %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "GiB", "-1GiB", "1e30TiB", "abc", "18446744073709551615KiB"} {
		if _, err := ledgerParseBytes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestInitWritesAHomeOnceAndPrintsTheAddress(t *testing.T) {
	home := t.TempDir()
	out, err := runCLI(t, "--home", home, "init", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v["address"]) != 40 {
		t.Fatalf("init --json: %q %v", out, err)
	}
	if _, err := runCLI(t, "--home", home, "init"); err == nil {
		t.Fatal("second init over an existing home succeeded")
	}
}
