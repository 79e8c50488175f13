package group

import (
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// fakeClock is a Clock moved by hand: Advance runs, on the caller's
// goroutine, the functions of the timers it passes.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at            time.Time
	f             func()
	stopped, done bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t.stopped || t.done {
			return false
		}
		t.stopped = true
		return true
	}
}

// Advance moves the clock by d and runs the timers due, earliest first.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.stopped && !t.done && !t.at.After(c.now) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next != nil {
			next.done = true
		}
		c.mu.Unlock()
		if next == nil {
			return
		}
		next.f()
	}
}

// armed counts the timers neither stopped nor run.
func (c *fakeClock) armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.done {
			n++
		}
	}
	return n
}

// The coordinator's timers run on the broker's clock: a member that stops
// heartbeating is removed once that clock passes its session timeout, not
// before, and Close stops every timer still armed.
func TestTimersOnBrokerClock(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}}
	c, err := New(t.Context(), Config{
		Store: st, Topics: oneTopic{}, Clock: clock,
		MinSessionTimeout: time.Second, MaxSessionTimeout: time.Minute,
		ConsumerHeartbeatInterval: 100 * time.Millisecond, ConsumerSessionTimeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	a := join(c, "").MemberID
	if r := join(c, a); r.ErrorCode != 0 || r.Generation != 1 {
		t.Fatalf("join: %+v", r)
	}
	hb := func() int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = "g", a, 1
		return c.Heartbeat(req).ErrorCode
	}
	clock.Advance(9 * time.Second) // within the 10 s session
	if e := hb(); e != 0 && e != kerr.RebalanceInProgress.Code {
		t.Fatalf("heartbeat within the session: %v", kerr.ErrorForCode(e))
	}
	clock.Advance(9 * time.Second) // the heartbeat renewed it
	if e := hb(); e == kerr.UnknownMemberID.Code {
		t.Fatal("the member expired although it heartbeat within its session")
	}
	clock.Advance(11 * time.Second) // silent past the session
	if e := hb(); e != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat after the session passed on the broker's clock: %v, want UNKNOWN_MEMBER_ID", kerr.ErrorForCode(e))
	}
	// A new member's timers, then Close.
	b := join(c, "").MemberID
	join(c, b)
	if clock.armed() == 0 {
		t.Fatal("no timer armed for a member")
	}
	c.Close()
	if n := clock.armed(); n != 0 {
		t.Fatalf("%d timers still armed after Close", n)
	}
}
