// Package precise waits precisely, for load generators that must send each
// record when it is due (streambench, the latency benchmarks): a wait that
// ends late is charged to the broker under test as latency.
package precise

import (
	"context"
	"runtime"
	"time"
)

// How Sleep waits. A Go timer is no use for the last
// millisecond before a record is due: while the program has nothing else
// to do the runtime waits for timers in epoll_wait, whose timeout is in
// whole milliseconds, rounded up, so a timer due in 0.3 ms fires after
// about 1 ms (and, in a virtual machine, an idle vCPU adds its wake-up on
// top). That lateness is charged to the broker as latency: at 1,000
// records/s the median record was sent 0.33 ms late, the 99th percentile
// 0.92 ms; at 100,000 records/s 0.42 and 1.3 ms. So a wait sleeps on a
// timer only until timerLead before the record is due, the rest on the
// kernel's high-resolution timer (preciseSleep: clock_nanosleep on Linux,
// which blocks the goroutine's thread and wakes it within the thread's
// timer slack, 50 µs by default), and spins (yielding) through the last
// spinWindow of a wait of preciseMin or more, which the slack may eat;
// the spin costs at most spinWindow of CPU per record. A shorter wait
// (records more than 5,000 a second) is one precise sleep and no spin:
// spinning then would take the CPU the broker needs, and a sleep that
// ends late sends the records that fell due meanwhile together, so a
// fast run makes at most one system call per slack (measured at 100,000
// records/s: sent late by p50 0.05 ms, p99 0.5 ms).
const (
	timerLead  = 2 * time.Millisecond
	spinWindow = 60 * time.Microsecond
	preciseMin = 200 * time.Microsecond
)

// Sleep waits d, or until ctx ends (then it reports false), waking
// within tens of microseconds of the time rather than a timer's
// millisecond: for a load generator that sends each record when it is
// due and charges any lateness to the latency it reports.
func Sleep(ctx context.Context, d time.Duration) bool {
	start := time.Now()
	until := d
	if d < preciseMin {
		preciseSleep(d)
		return ctx.Err() == nil
	}
	if d > 2*timerLead {
		t := time.NewTimer(d - timerLead)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	// The precise sleep cannot be interrupted: it goes in steps of at
	// most timerLead, so that an ended ctx is seen within one.
	for {
		if ctx.Err() != nil {
			return false
		}
		left := until - time.Since(start) - spinWindow
		if left <= 0 {
			break
		}
		preciseSleep(min(left, timerLead))
	}
	for time.Since(start) < until {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return true
}
