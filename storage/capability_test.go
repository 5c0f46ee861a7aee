package storage

import (
	"errors"
	"strings"
	"testing"

	"github.com/coop-network/coop/storage/blockstore"
)

func testCapability() Capability {
	var c Capability
	c.FileID = blockstore.Sum([]byte("a file"))
	for i := range c.Key {
		c.Key[i] = byte(i * 7)
	}
	return c
}

func TestCapabilityRoundTrips(t *testing.T) {
	c := testCapability()
	s := c.String()
	if !strings.HasPrefix(s, "coop1") || len(s) != capabilityLen || len(s) != 114 {
		t.Fatalf("capability %q: %d characters", s, len(s))
	}
	got, err := ParseCapability(s)
	if err != nil || got != c {
		t.Fatalf("round trip: %v", err)
	}
	if strings.Contains((&c).GoString(), s[5:20]) {
		t.Fatal("GoString leaks the encoding")
	}
}

func TestBadCapabilityStringsAreRejected(t *testing.T) {
	good := testCapability().String()
	flip := func(i int, ch byte) string { b := []byte(good); b[i] = ch; return string(b) }
	// A different last character: same leading bits would need identical
	// trailing bits, so a change there must be caught as non-canonical or
	// by the checksum.
	last := good[len(good)-1]
	other := byte('a')
	if last == 'a' {
		other = 'b'
	}
	cases := map[string]string{
		"an empty string":              "",
		"only the prefix":              "coop1",
		"another version":              "coop2" + good[5:],
		"another scheme":               "ipfs1" + good[5:],
		"upper case":                   strings.ToUpper(good),
		"one character short":          good[:len(good)-1],
		"one character long":           good + "a",
		"padding":                      good[:len(good)-1] + "=",
		"a digit outside base32":       flip(10, '1'),
		"a mistyped character":         flip(20, good[20]^1),
		"non-canonical trailing bits":  flip(len(good)-1, other),
		"surrounding whitespace":       " " + good[:len(good)-1],
		"a unicode letter":             flip(30, 0xc3),
		"the key in place of the file": "coop1" + good[5+52:] + good[5:5+52],
	}
	for name, s := range cases {
		if _, err := ParseCapability(s); !errors.Is(err, ErrBadCapability) {
			t.Errorf("%s: err = %v, want ErrBadCapability", name, err)
		}
	}
}

func FuzzParseCapability(f *testing.F) {
	good := testCapability().String()
	f.Add(good)
	f.Add("coop1")
	f.Add(good[:len(good)-1] + "b")
	f.Add(strings.ToUpper(good))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCapability(s)
		if err != nil {
			return
		}
		if c.String() != s {
			t.Fatalf("accepted %q but it encodes back as %q", s, c.String())
		}
	})
}
