package precise

import (
	"time"

	"golang.org/x/sys/unix"
)

// preciseSleep blocks the calling goroutine, and its thread, for about d
// on the kernel's high-resolution timer (clock_nanosleep), which Go's
// timers do not use for waits under a millisecond (see Sleep).
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	for unix.Nanosleep(&ts, &ts) == unix.EINTR {
		// A signal cut it short; ts holds what was left.
	}
}
