package scrub

import (
	"context"
	"time"
)

// Clock is the time a Scrubber paces and schedules itself by. Tests pass
// one they drive.
type Clock interface {
	Now() time.Time
	// After delivers the time once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// limiter paces reads to rate bytes per second on a Clock: after n bytes
// it lets the reader go on once n/rate seconds have passed since the
// start, less a burst of one chunk. A rate of 0 or less is no limit.
type limiter struct {
	clock Clock
	rate  int64
	burst int64
	start time.Time
	done  int64
}

func newLimiter(c Clock, rate, burst int64) *limiter {
	return &limiter{clock: c, rate: rate, burst: burst, start: c.Now()}
}

// wait counts n bytes read and waits until the rate allows the next ones,
// or ctx ends.
func (l *limiter) wait(ctx context.Context, n int64) error {
	l.done += n
	if l.rate <= 0 || l.done <= l.burst {
		return ctx.Err()
	}
	due := l.start.Add(durationFor(l.done-l.burst, l.rate))
	d := due.Sub(l.clock.Now())
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-l.clock.After(d):
		return nil
	}
}

// durationFor is how long n bytes take at rate bytes per second.
func durationFor(n, rate int64) time.Duration {
	s, rem := n/rate, n%rate
	return time.Duration(s)*time.Second + time.Duration(float64(rem)/float64(rate)*float64(time.Second))
}
