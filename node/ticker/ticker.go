// Package ticker is the default clock of the daemon's polling loops
// (node/prover, node/repair, node/worker): each takes a function that
// makes its ticker, so tests drive the loop with their own channel, and
// uses System otherwise.
package ticker

import "time"

// System makes a time.Ticker of period d and returns its channel and its
// Stop.
func System(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
