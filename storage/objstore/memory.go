package objstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	_ Store     = (*Memory)(nil)
	_ Multipart = (*Memory)(nil)
)

// Memory is a Store in memory, for tests, with faults a test injects: each
// call first asks Fault, which may return an error for it (a 503, a
// reset), delay it (a stall, bounded by the call's context), or both.
// Its multipart uploads (Multipart) keep parts invisible until the
// completion, which makes the object at once, dated by the upload's start
// as S3 dates it; unlike S3 it takes parts smaller than MinPartSize, so
// that tests need not write megabytes.
type Memory struct {
	mu      sync.Mutex // guards objects and the counters
	objects map[string]memObject
	uploads map[string]*memUpload // incomplete multipart uploads by ID
	puts    int
	parts   int
	gets    int

	// faultFn is SetFault's; guarded by mu.
	faultFn func(op, key string) (delay time.Duration, err error)
}

// SetFault sets the function asked before every call (op is "put", "get",
// "stat", "list", "delete" or "check"; for multipart uploads
// "create-multipart", "put-part", "complete-multipart", "abort-multipart"
// or "list-multipart", with the object's key, the prefix for a listing): a
// non-zero delay stalls the call that long (or until its context ends), a
// non-nil error fails it; nil injects nothing. Safe while the store is in
// use: a test arms faults under a running broker's background loops.
func (m *Memory) SetFault(f func(op, key string) (delay time.Duration, err error)) {
	m.mu.Lock()
	m.faultFn = f
	m.mu.Unlock()
}

type memObject struct {
	data     []byte
	modified time.Time
}

type memUpload struct {
	key       string
	initiated time.Time
	parts     map[int][]byte
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{objects: map[string]memObject{}, uploads: map[string]*memUpload{}}
}

// Parts returns how many multipart upload parts the store took.
func (m *Memory) Parts() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts
}

// Counts returns how many puts and gets the store served.
func (m *Memory) Counts() (puts, gets int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts, m.gets
}

// fault applies Fault to a call.
func (m *Memory) fault(ctx context.Context, op, key string) error {
	m.mu.Lock()
	f := m.faultFn
	m.mu.Unlock()
	if f == nil {
		return ctx.Err()
	}
	delay, err := f(op, key)
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

func (m *Memory) CreateMultipart(ctx context.Context, key string) (string, error) {
	if err := m.fault(ctx, "create-multipart", key); err != nil {
		return "", err
	}
	var b [12]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads[id] = &memUpload{key: key, initiated: time.Now(), parts: map[int][]byte{}}
	return id, nil
}

func (m *Memory) PutPart(ctx context.Context, key, id string, n int, r io.Reader, size int64) (Part, error) {
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return Part{}, fmt.Errorf("put part %d of %s: %w", n, key, err)
	}
	if int64(len(data)) != size {
		return Part{}, fmt.Errorf("put part %d of %s: %d bytes, want %d", n, key, len(data), size)
	}
	if n < 1 {
		return Part{}, fmt.Errorf("put part %d of %s: parts are numbered from 1", n, key)
	}
	if err := m.fault(ctx, "put-part", key); err != nil {
		return Part{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok || u.key != key {
		return Part{}, fmt.Errorf("put part %d of %s: no upload %s: %w", n, key, id, ErrNotFound)
	}
	u.parts[n] = data
	m.parts++
	sum := md5.Sum(data)
	return Part{Number: n, ETag: hex.EncodeToString(sum[:])}, nil
}

func (m *Memory) CompleteMultipart(ctx context.Context, key, id string, parts []Part) error {
	if err := m.fault(ctx, "complete-multipart", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok || u.key != key {
		return fmt.Errorf("complete %s: no upload %s: %w", key, id, ErrNotFound)
	}
	if len(parts) == 0 {
		return fmt.Errorf("complete %s: no parts", key)
	}
	var data []byte
	for i, p := range parts {
		b, ok := u.parts[p.Number]
		sum := md5.Sum(b)
		switch {
		case i > 0 && p.Number <= parts[i-1].Number:
			return fmt.Errorf("complete %s: part %d after part %d", key, p.Number, parts[i-1].Number)
		case !ok || p.ETag != hex.EncodeToString(sum[:]):
			return fmt.Errorf("complete %s: no part %d with ETag %s", key, p.Number, p.ETag)
		}
		data = append(data, b...)
	}
	delete(m.uploads, id)
	m.objects[key] = memObject{data: data, modified: u.initiated} // as S3 dates it
	return nil
}

func (m *Memory) AbortMultipart(ctx context.Context, key, id string) error {
	if err := m.fault(ctx, "abort-multipart", key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.uploads[id]; !ok || u.key != key {
		return fmt.Errorf("abort %s: no upload %s: %w", key, id, ErrNotFound)
	}
	delete(m.uploads, id)
	return nil
}

func (m *Memory) ListMultipart(ctx context.Context, prefix string, fn func(Upload) error) error {
	if err := m.fault(ctx, "list-multipart", prefix); err != nil {
		return err
	}
	m.mu.Lock()
	var ups []Upload
	for id, u := range m.uploads {
		if strings.HasPrefix(u.key, prefix) {
			ups = append(ups, Upload{Key: u.key, ID: id, Initiated: u.initiated})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(ups, func(a, b Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), a.Initiated.Compare(b.Initiated))
	})
	for _, u := range ups {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}
