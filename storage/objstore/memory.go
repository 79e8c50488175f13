package objstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

var _ Store = (*Memory)(nil)

// Memory is a Store in memory, for tests, with faults a test injects: each
// call first asks Fault, which may return an error for it (a 503, a
// reset), delay it (a stall, bounded by the call's context), or both.
type Memory struct {
	mu      sync.Mutex // guards objects and the counters
	objects map[string]memObject
	puts    int
	gets    int

	// Fault, when set, is asked before every call (op is "put", "get",
	// "stat", "list", "delete" or "check"): a non-zero delay stalls the
	// call that long (or until its context ends), a non-nil error fails
	// it. Set it before use or guard it yourself.
	Fault func(op, key string) (delay time.Duration, err error)
}

type memObject struct {
	data     []byte
	modified time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{objects: map[string]memObject{}} }

// Counts returns how many puts and gets the store served.
func (m *Memory) Counts() (puts, gets int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts, m.gets
}

// fault applies Fault to a call.
func (m *Memory) fault(ctx context.Context, op, key string) error {
	if m.Fault == nil {
		return ctx.Err()
	}
	delay, err := m.Fault(op, key)
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s %s: %w: %w", op, key, ErrUnavailable, ctx.Err())
		case <-t.C:
		}
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	return ctx.Err()
}

func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if int64(len(data)) != size {
		return fmt.Errorf("put %s: %d bytes, want %d", key, len(data), size)
	}
	if err := m.fault(ctx, "put", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = memObject{data: data, modified: time.Now()}
	m.puts++
	return nil
}

func (m *Memory) Get(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := m.fault(ctx, "get", key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	m.gets++
	off = min(off, int64(len(o.data)))
	end := int64(len(o.data))
	if n >= 0 {
		end = min(end, off+n)
	}
	return io.NopCloser(bytes.NewReader(o.data[off:end])), nil
}

func (m *Memory) Stat(ctx context.Context, key string) (Object, error) {
	if err := m.fault(ctx, "stat", key); err != nil {
		return Object{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objects[key]
	if !ok {
		return Object{}, fmt.Errorf("stat %s: %w", key, ErrNotFound)
	}
	return Object{Key: key, Size: int64(len(o.data)), Modified: o.modified}, nil
}

func (m *Memory) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := m.fault(ctx, "list", prefix); err != nil {
		return err
	}
	m.mu.Lock()
	var objs []Object
	for k, o := range m.objects {
		if strings.HasPrefix(k, prefix) {
			objs = append(objs, Object{Key: k, Size: int64(len(o.data)), Modified: o.modified})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(objs, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range objs {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := m.fault(ctx, "delete", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

func (m *Memory) Check(ctx context.Context) error { return m.fault(ctx, "check", "") }
