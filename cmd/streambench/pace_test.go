package main

import (
	"context"
	"slices"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when told: sleeping moves it.
type fakeClock struct{ t time.Duration }

func (c *fakeClock) now() time.Duration { return c.t }

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) bool {
	c.t += d
	return ctx.Err() == nil
}

func TestScheduleDue(t *testing.T) {
	s := schedule{rate: 2000}
	for _, c := range []struct {
		i    int64
		want time.Duration
	}{{0, 0}, {1, 500 * time.Microsecond}, {2000, time.Second}, {3_000_000, 1500 * time.Second}} {
		if got := s.due(c.i); got != c.want {
			t.Errorf("due(%d) at 2000/s = %v, want %v", c.i, got, c.want)
		}
	}
}

// TestPaceBounds: the count and the deadline both end a run, and several
// senders share the schedule without gaps or overlaps.
func TestPaceBounds(t *testing.T) {
	ctx := context.Background()
	var got []int64
	for first := range int64(3) {
		clk := &fakeClock{}
		pace(ctx, clk, schedule{rate: 1000, limit: 1 << 40, deadline: time.Second}, first, 3, func(i int64, due time.Duration) {
			if due != time.Duration(i)*time.Millisecond || clk.now() != due {
				t.Fatalf("record %d sent at %v, due %v; want both %v", i, clk.now(), due, time.Duration(i)*time.Millisecond)
			}
			got = append(got, i)
		})
	}
	slices.Sort(got)
	if len(got) != 1000 || got[0] != 0 || got[999] != 999 {
		t.Fatalf("1s at 1000/s over 3 senders sent %d records (%v..%v), want 0..999", len(got), got[0], got[len(got)-1])
	}

	// Without a rate: the count ends it, or the deadline.
	clk := &fakeClock{}
	n := pace(ctx, clk, schedule{limit: 10, deadline: noDeadline}, 0, 1, func(int64, time.Duration) { clk.t += time.Millisecond })
	if n != 10 {
		t.Fatalf("limit 10 sent %d", n)
	}
	clk = &fakeClock{}
	n = pace(ctx, clk, schedule{limit: 1 << 40, deadline: 50 * time.Millisecond}, 0, 1, func(int64, time.Duration) { clk.t += time.Millisecond })
	if n != 50 {
		t.Fatalf("50ms at 1ms a record sent %d, want 50", n)
	}

	// A cancelled context ends it at once, mid-sleep too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if n := pace(cctx, &fakeClock{}, schedule{rate: 1, limit: 10, deadline: noDeadline}, 0, 1, func(int64, time.Duration) {}); n != 0 {
		t.Fatalf("cancelled: sent %d", n)
	}
}

// TestNoCoordinatedOmission: at 1000 records/s a producer stalls for
// 100ms on record 10. Every record due during the stall is charged from
// its scheduled time, so about 100 records see 0-100ms, as a client
// sending at that rate would; timing from the actual send would show one
// slow record and 99 fast ones.
func TestNoCoordinatedOmission(t *testing.T) {
	const stall = 100 * time.Millisecond
	clk := &fakeClock{}
	var h, naive histogram
	pace(context.Background(), clk, schedule{rate: 1000, limit: 1000, deadline: noDeadline}, 0, 1, func(i int64, due time.Duration) {
		sent := clk.now()
		if i == 10 {
			clk.t += stall // Produce blocks: a full buffer, a slow broker
		}
		clk.t += 10 * time.Microsecond // the acknowledgement's round trip
		h.record(int64(clk.now() - due))
		naive.record(int64(clk.now() - sent))
	})
	if h.count() != 1000 {
		t.Fatalf("%d records", h.count())
	}
	// Records 10..109 were due during the stall: latencies from ~100ms
	// down to ~0, one per millisecond.
	slow := 0
	for i, c := range h.counts {
		if lo, _ := bucketRange(i); lo >= int64(50*time.Millisecond) {
			slow += int(c)
		}
	}
	if slow < 49 || slow > 51 {
		t.Errorf("%d records at or above 50ms, want about 50 (the first half of the stall)", slow)
	}
	if max := time.Duration(h.max); max < stall || max > stall+time.Millisecond {
		t.Errorf("max %v, want about %v", max, stall)
	}
	if p95 := time.Duration(h.quantile(0.95)); p95 < 40*time.Millisecond {
		t.Errorf("p95 %v: the stall should show in 10%% of the records", p95)
	}
	if p95 := time.Duration(naive.quantile(0.95)); p95 > time.Millisecond {
		t.Errorf("timing from the actual send: p95 %v, expected it to hide the stall", p95)
	}

	// Without a rate a record is due when it is handed over: the stall is
	// charged to that record only.
	clk = &fakeClock{}
	var h0 histogram
	pace(context.Background(), clk, schedule{limit: 1000, deadline: noDeadline}, 0, 1, func(i int64, due time.Duration) {
		if due != clk.now() {
			t.Fatalf("record %d due %v, handed over at %v", i, due, clk.now())
		}
		if i == 10 {
			clk.t += stall
		}
		clk.t += 10 * time.Microsecond
		h0.record(int64(clk.now() - due))
	})
	if got := time.Duration(h0.quantile(0.99)); got > time.Millisecond {
		t.Errorf("without a rate: p99 %v, want the 10us round trip", got)
	}
}
