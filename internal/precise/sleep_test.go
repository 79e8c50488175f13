package precise

import (
	"context"
	"testing"
	"time"
)

// TestSleep: Sleep never returns before the time, for waits in each of its
// regimes (one precise sleep, precise sleep and spin, timer first), and an
// ended context ends a long wait early with false.
func TestSleep(t *testing.T) {
	ctx := context.Background()
	for _, d := range []time.Duration{0, 10 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 6 * time.Millisecond} {
		start := time.Now()
		if !Sleep(ctx, d) {
			t.Fatalf("Sleep(%v) reported an ended context", d)
		}
		if got := time.Since(start); got < d {
			t.Errorf("Sleep(%v) returned after %v", d, got)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	if Sleep(cctx, time.Hour) {
		t.Fatal("Sleep(1h) with a context cancelled after 5ms reported it slept")
	}
}
