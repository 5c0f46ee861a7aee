package main

import (
	"strings"
	"testing"
	"time"

	"github.com/coop-network/coop/node/api"
)

// TestStatusAndPeersLivenessText: `coop status` gives the last block's age
// and says STALLED past the bound; `coop peers` prints whether a peer
// answers now and how long ago it was seen.
func TestStatusAndPeersLivenessText(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	recent, old := now.Add(-2*time.Second), now.Add(-95*time.Second)
	fresh := ledgerText(&api.Status{ChainHeight: 42, LastBlockTime: &recent, StallAfterSeconds: 30}, now)
	if !strings.HasPrefix(fresh, "42, last block 2s ago") || strings.Contains(fresh, "STALLED") {
		t.Fatalf("running ledger: %q", fresh)
	}
	stalled := ledgerText(&api.Status{ChainHeight: 42, LastBlockTime: &old, LedgerStalled: true, StallAfterSeconds: 30}, now)
	if !strings.Contains(stalled, "last block 1m ago") || !strings.Contains(stalled, "STALLED, no block for over 30s: is a quorum of validators up?") {
		t.Fatalf("stalled ledger: %q", stalled)
	}
	if got := ledgerText(&api.Status{ChainHeight: 7}, now); got != "7" {
		t.Fatalf("no block time: %q", got)
	}
	for _, c := range []struct {
		p    api.PeerInfo
		want string
	}{
		{api.PeerInfo{Answers: true, PingMillis: 1.234}, "yes 1.2ms"},
		{api.PeerInfo{PingError: "ping: context deadline exceeded"}, "no"},
	} {
		if got := answersShort(c.p); got != c.want {
			t.Fatalf("answers %+v: %q, want %q", c.p, got, c.want)
		}
	}
	for _, c := range []struct {
		at   *time.Time
		want string
	}{{nil, "-"}, {&now, "now"}, {&old, "1m ago"}} {
		if got := seenShort(c.at, now); got != c.want {
			t.Fatalf("seen %v: %q, want %q", c.at, got, c.want)
		}
	}
}
