package p2p

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// TestConfig is DefaultConfig bound to 127.0.0.1 on free ports, for tests.
func TestConfig() Config {
	c := DefaultConfig()
	c.ListenIP = "127.0.0.1"
	c.TCPPort = 0
	c.QUICPort = 0
	return c
}

// NewTestHost starts a host on 127.0.0.1 with a fresh key and closes it when
// the test ends.
func NewTestHost(tb testing.TB, cfg Config) (*Host, ed25519.PrivateKey) {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := New(context.Background(), key, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h, key
}
