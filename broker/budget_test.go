package broker

import (
	"context"
	"testing"
	"time"
)

func TestByteBudget(t *testing.T) {
	b := newByteBudget(100)
	ctx := t.Context()
	done := make(chan struct{})
	if !b.acquire(ctx, 60, done) || !b.acquire(ctx, 40, done) {
		t.Fatal("acquire within the budget")
	}
	got := make(chan bool, 1)
	go func() { got <- b.acquire(ctx, 10, done) }()
	select {
	case <-got:
		t.Fatal("acquire past the budget did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	if !<-got {
		t.Fatal("acquire after a release failed")
	}
	b.release(40)
	b.release(10)
	// One request larger than the budget goes through alone.
	if !b.acquire(ctx, 500, done) {
		t.Fatal("an oversized request was refused with nothing held")
	}
	// A waiter gives up when the broker stops.
	go func() { got <- b.acquire(ctx, 1, done) }()
	close(done)
	if <-got {
		t.Fatal("acquire succeeded after done closed")
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { got <- b.acquire(cctx, 1, make(chan struct{})) }()
	cancel()
	if <-got {
		t.Fatal("acquire succeeded after its context ended")
	}
}
