//go:build !linux

package precise

import "time"

// preciseSleep is time.Sleep where clock_nanosleep is not called directly
// (see sleep_linux.go): as precise as the Go runtime's timers are there.
func preciseSleep(d time.Duration) { time.Sleep(d) }
