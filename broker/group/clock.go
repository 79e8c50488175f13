package group

import "time"

// Clock is the time the coordinator runs on: the broker's. Its timers end
// sessions, rebalances and the initial delay, and remove members that do
// not revoke partitions in time; a test gives a clock it moves by hand.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f on its own goroutine once d has passed, unless
	// stop is called first; stop reports whether it prevented the call,
	// as time.Timer.Stop.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the operating system's clock.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// timer is a timer of the coordinator's clock; Close stops every one.
type timer struct{ stop func() bool }

// Stop stops the timer; it reports whether that prevented its function.
func (t *timer) Stop() bool { return t.stop() }

// afterFunc starts a timer on the coordinator's clock.
func (c *Coordinator) afterFunc(d time.Duration, f func()) *timer {
	return &timer{stop: c.clock.AfterFunc(d, f)}
}
