package main

// Pacing without coordinated omission: with a target rate, record i of
// the run is due at start + i/rate whatever happened before it, and its
// latency counts from then. A producer held up (a full buffer, a slow
// broker) sends the records that fell due meanwhile as soon as it can, and
// each of them is charged the wait, as a user sending at that rate would
// have seen it. Without a rate a record is due when Produce is called.

import (
	"context"
	"math"
	"time"

	"github.com/streamhouse/streamhouse/internal/precise"
)

// clock is time as offsets from the start of the run, and a way to wait.
type clock interface {
	now() time.Duration
	// sleep waits d, or until ctx ends (then it reports false).
	sleep(ctx context.Context, d time.Duration) bool
}

// wallClock is the real, monotonic, clock. With precise set it waits
// with internal/precise (a generator that is never late); otherwise with
// a Go timer, as an application pacing its sends does.
type wallClock struct {
	start   time.Time
	precise bool
}

func (c wallClock) now() time.Duration { return time.Since(c.start) }

func (c wallClock) sleep(ctx context.Context, d time.Duration) bool {
	if c.precise {
		return precise.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// schedule bounds a run and paces its records.
type schedule struct {
	rate     float64       // records/s over all senders; 0: as fast as they go
	limit    int64         // records over all senders
	deadline time.Duration // no record is due at or after it
}

// noDeadline is the deadline of a run bounded by count only.
const noDeadline = time.Duration(math.MaxInt64)

// due is when record i is scheduled under a rate.
func (s schedule) due(i int64) time.Duration {
	return time.Duration(float64(i) * float64(time.Second) / s.rate)
}

// pace calls send(i, due) for i = first, first+step, ... below s.limit,
// each no earlier than it is due: with a rate, at s.due(i) (at once when
// that has passed); without, at once, due being the time of the call. It
// stops at the deadline, or when ctx ends, and returns how many it sent.
func pace(ctx context.Context, clk clock, s schedule, first, step int64, send func(i int64, due time.Duration)) int64 {
	var n int64
	for i := first; i < s.limit && ctx.Err() == nil; i += step {
		now := clk.now()
		due := now
		if s.rate > 0 {
			if due = s.due(i); due >= s.deadline {
				break
			}
			if due > now && !clk.sleep(ctx, due-now) {
				break
			}
		} else if now >= s.deadline {
			break
		}
		send(i, due)
		n++
	}
	return n
}
