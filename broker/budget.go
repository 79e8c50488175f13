package broker

import (
	"context"
	"sync"
)

// byteBudget is queued.max.request.bytes: the bytes of requests the broker
// holds at once. A connection takes a request's size before reading its
// body and gives it back once the answer is written, so past the budget
// requests wait unread in their sockets, as Kafka's memory pool makes them
// wait; nothing is dropped. One request larger than the whole budget is
// let through when nothing else is held.
type byteBudget struct {
	mu    sync.Mutex
	freed *sync.Cond
	cap   int64
	used  int64
}

func newByteBudget(capacity int64) *byteBudget {
	b := &byteBudget{cap: capacity}
	b.freed = sync.NewCond(&b.mu)
	return b
}

// acquire takes n bytes, waiting until they fit or done is closed (then it
// takes nothing and returns false).
func (b *byteBudget) acquire(ctx context.Context, n int64, done <-chan struct{}) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used > 0 && b.used+n > b.cap {
		stop := context.AfterFunc(ctx, func() {
			b.mu.Lock()
			b.freed.Broadcast()
			b.mu.Unlock()
		})
		defer stop()
		go func() {
			select {
			case <-done:
				b.mu.Lock()
				b.freed.Broadcast()
				b.mu.Unlock()
			case <-ctx.Done():
			}
		}()
		for b.used > 0 && b.used+n > b.cap {
			if ctx.Err() != nil {
				return false
			}
			select {
			case <-done:
				return false
			default:
			}
			b.freed.Wait()
		}
	}
	b.used += n
	return true
}

// release gives n bytes back.
func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.freed.Broadcast()
	b.mu.Unlock()
}
