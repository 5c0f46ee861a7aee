package ticker

import (
	"testing"
	"time"
)

// System's channel delivers ticks until stopped.
func TestSystemTicksUntilStopped(t *testing.T) {
	c, stop := System(time.Millisecond)
	for range 2 {
		<-c
	}
	stop()
	// After Stop no new tick is sent; at most one was already buffered.
	select {
	case <-c:
	default:
	}
	select {
	case <-c:
		t.Fatal("a tick after Stop and draining the buffered one")
	case <-time.After(20 * time.Millisecond):
	}
}
