package main

import "testing"

func TestParseByteSizeAcceptsBinarySuffixes(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"256MiB", 256 << 20, true},
		{"64KiB", 64 << 10, true},
		{"1G", 1 << 30, true},
		{"4096", 4096, true},
		{"12B", 12, true},
		{"", 0, false},
		{"-1MiB", 0, false},
		{"1.5GiB", 0, false},
		{"99999999999GiB", 0, false},
	}
	for _, c := range cases {
		got, err := parseByteSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}
