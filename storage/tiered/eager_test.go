package tiered_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
	"github.com/streamhouse/streamhouse/storage/storagetest"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// Eager uploads in these tests: parts of 1 KiB (the in-memory bucket takes
// parts below S3's 5 MiB) in segments of 8 KiB.
const testPart = 1024

var seg0 = fmt.Sprintf("%020d", 0)

// eagerEnv is an env whose stores upload parts of testPart, with a grace
// period long enough that no eager upload is refused for its age.
func eagerEnv(t *testing.T) *env {
	e := newEnv(t)
	e.partSize, e.grace = testPart, time.Hour
	return e
}

// fillTo appends batches of 3 records to l until its active segment holds
// at least n bytes, and syncs.
func fillTo(t *testing.T, l storage.Log, n int64) [][]byte {
	t.Helper()
	var out [][]byte
	seg := l.(*tiered.Log)
	for i := 0; seg.ActiveSize() < n; i++ {
		b := storagetest.MakeBatch(3, 100, time.Now().UnixMilli())
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out
}

// roll appends a batch too big for the active segment: it closes.
func roll(t *testing.T, l storage.Log) [][]byte {
	t.Helper()
	b := storagetest.MakeBatch(1, 6000, time.Now().UnixMilli())
	if _, err := l.Append(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return [][]byte{b}
}

// waitFor polls cond; the bound is for a broken test, not a speed claim.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uploads lists the bucket's incomplete multipart uploads of segment 0 (the
// active segment's are under way).
func uploads(t *testing.T, b *objstore.Memory) []objstore.Upload {
	t.Helper()
	var out []objstore.Upload
	if err := b.ListMultipart(t.Context(), "", func(u objstore.Upload) error {
		if segmentOf(u.Key) == seg0 {
			out = append(out, u)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// calls counts the bucket's calls on segment 0's .log by op, split at the
// segment's close.
type calls struct {
	mu     sync.Mutex
	log    atomic.Pointer[tiered.Log]
	before map[string]int
	after  map[string]int
}

func (c *calls) hook(op, key string) {
	if !strings.HasSuffix(key, ".log") || segmentOf(key) != seg0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.log.Load(); l != nil && l.ActiveBase() > 0 {
		c.after[op]++
	} else {
		c.before[op]++
	}
}

func (c *calls) get(closed bool, op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if closed {
		return c.after[op]
	}
	return c.before[op]
}

// TestEagerParts: the active segment's parts go up as it fills, and when
// it closes only the rest is sent (one part) and the upload completed:
// the .log object is never PUT whole, and every batch reads back from
// the bucket.
func TestEagerParts(t *testing.T) {
	t.Parallel()
	e := eagerEnv(t)
	c := &calls{before: map[string]int{}, after: map[string]int{}}
	e.bucket.SetFault(func(op, key string) (time.Duration, error) { c.hook(op, key); return 0, nil })
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c.log.Store(l.(*tiered.Log))
	want := fillTo(t, l, 3*testPart+testPart/2)
	waitFor(t, "3 parts of the active segment", func() bool { return c.get(false, "put-part") == 3 })
	want = append(want, roll(t, l)...)
	waitClosedUploaded(t, l)
	if n := c.get(true, "put-part"); n != 1 {
		t.Errorf("%d parts sent once the segment closed, want 1 (the rest)", n)
	}
	if n := c.get(false, "put") + c.get(true, "put"); n != 0 {
		t.Errorf("segment 0's .log was PUT whole %d times", n)
	}
	if n := c.get(true, "complete-multipart"); n != 1 {
		t.Errorf("%d completions, want 1", n)
	}
	if u := uploads(t, e.bucket); len(u) != 0 {
		t.Errorf("incomplete multipart uploads left: %+v", u)
	}
	equalBatches(t, readAll(t, l), want)
}

// TestEagerFallsBack: an eager upload that cannot be completed as it is (a
// part failed, the completion failed) is aborted and the segment uploaded
// whole; every batch reads back and no multipart upload is left.
func TestEagerFallsBack(t *testing.T) {
	t.Parallel()
	for _, fail := range []string{"put-part", "complete-multipart"} {
		t.Run(fail, func(t *testing.T) {
			t.Parallel()
			e := eagerEnv(t)
			var n atomic.Int64
			c := &calls{before: map[string]int{}, after: map[string]int{}}
			e.bucket.SetFault(func(op, key string) (time.Duration, error) {
				c.hook(op, key)
				// The second part fails, every try; or every
				// completion.
				if op == fail && segmentOf(key) == seg0 && (fail != "put-part" || n.Add(1) >= 2) {
					return 0, objstore.ErrUnavailable
				}
				return 0, nil
			})
			st := e.open(t, e.dir, allTiered)
			defer st.Close()
			l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 8192})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			c.log.Store(l.(*tiered.Log))
			want := fillTo(t, l, 3*testPart+testPart/2)
			waitFor(t, "a part", func() bool { return c.get(false, "put-part") >= 1 })
			want = append(want, roll(t, l)...)
			waitClosedUploaded(t, l)
			if n := c.get(true, "put"); n == 0 {
				t.Error("segment 0's .log was not PUT whole")
			}
			if u := uploads(t, e.bucket); len(u) != 0 {
				t.Errorf("incomplete multipart uploads left: %+v", u)
			}
			equalBatches(t, readAll(t, l), want)
		})
	}
}

// TestEagerRestart: a broker that stops in the middle of a segment's eager
// upload (its abort failing too: as after a crash) starts it again after
// the restart; the segment reads back whole, and the first upload is left
// to the sweep.
func TestEagerRestart(t *testing.T) {
	t.Parallel()
	e := eagerEnv(t)
	var parts atomic.Int64
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		switch op {
		case "abort-multipart":
			return 0, objstore.ErrUnavailable
		case "put-part":
			parts.Add(1)
		}
		return 0, nil
	})
	st := e.open(t, e.dir, allTiered)
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	want := fillTo(t, l, 2*testPart+testPart/2)
	waitFor(t, "2 parts", func() bool { return parts.Load() == 2 })
	l.Close()
	st.Close()
	left := uploads(t, e.bucket)
	if len(left) != 1 {
		t.Fatalf("%d multipart uploads after the stop, want the one cut short", len(left))
	}

	st = e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err = st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want = append(want, fillTo(t, l, 3*testPart+testPart/2)...)
	want = append(want, roll(t, l)...)
	waitClosedUploaded(t, l)
	equalBatches(t, readAll(t, l), want)
	if u := uploads(t, e.bucket); len(u) != 1 || u[0].ID != left[0].ID {
		t.Errorf("multipart uploads = %+v, want only the one cut short (%+v)", u, left)
	}
}

// TestSweepMultipart: the sweep aborts an incomplete multipart upload no
// one here is completing once older than the grace period, and spares one
// under way however long it takes.
func TestSweepMultipart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.partSize, e.grace = testPart, 300*time.Millisecond
	release := make(chan struct{})
	var held atomic.Bool
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op == "put-part" && held.CompareAndSwap(false, true) {
			select {
			case <-release:
			case <-time.After(30 * time.Second): // a bound for a broken test
			}
		}
		return 0, nil
	})
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := fillTo(t, l, testPart+testPart/2)
	waitFor(t, "a part under way", held.Load)
	stale := meta.TopicID(part.TopicID).String() + "/0/00000000000000000000-deadbeef.log"
	id, err := e.bucket.CreateMultipart(t.Context(), stale)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stale upload aborted", func() bool {
		for _, u := range uploads(t, e.bucket) {
			if u.ID == id {
				return false
			}
		}
		return true
	})
	if u := uploads(t, e.bucket); len(u) != 1 || u[0].Key == stale {
		t.Fatalf("multipart uploads = %+v, want the one under way", u)
	}
	close(release)
	want = append(want, roll(t, l)...)
	waitClosedUploaded(t, l)
	equalBatches(t, readAll(t, l), want)
	if _, err := e.bucket.Stat(t.Context(), stale); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Stat(%s): err = %v, want ErrNotFound", stale, err)
	}
	if u := uploads(t, e.bucket); len(u) != 0 {
		t.Errorf("incomplete multipart uploads left: %+v", u)
	}
}

// TestEagerS3: against a real S3 server, a segment's parts of S3's
// smallest size go up as it fills and the upload completes at the close:
// no PUT of the whole segment, and every batch reads back.
func TestEagerS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	b, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: srv.Bucket(t), Prefix: "eager", Credentials: s3test.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	local, err := fs.New(filepath.Join(e.dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	puts := map[int64]int{} // PUTs (parts included) by size
	st, err := tiered.New(tiered.Options{Local: local, Bucket: b, Catalog: e.cat, CacheDir: filepath.Join(e.dir, "cache"),
		UploadInterval: 20 * time.Millisecond, Grace: time.Hour, PartSize: objstore.MinPartSize, ForceRemote: allTiered,
		Observe: func(op string, _ time.Duration, n int64, err error) {
			if op == "put" && err == nil {
				mu.Lock()
				puts[n]++
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want [][]byte
	for l.(*tiered.Log).ActiveSize() < 2*objstore.MinPartSize+objstore.MinPartSize/2 {
		b := storagetest.MakeBatch(10, 10000, time.Now().UnixMilli())
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	// (The first segment may roll early: tiered logs stagger their
	// first rolls. The one filled is the active one now.)
	tl := l.(*tiered.Log)
	base, size := tl.ActiveBase(), tl.ActiveSize()
	waitFor(t, "2 parts", func() bool { return tl.EagerSent() == 2*objstore.MinPartSize })
	for tl.ActiveBase() == base {
		b := storagetest.MakeBatch(10, 10000, time.Now().UnixMilli())
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b)
		if tl.ActiveBase() == base {
			size = tl.ActiveSize()
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitClosedUploaded(t, l)
	mu.Lock()
	if puts[size] != 0 {
		t.Errorf("the segment's %d bytes were PUT whole", size)
	}
	if puts[objstore.MinPartSize] < 2 {
		t.Errorf("PUTs by size: %v, want at least 2 parts", puts)
	}
	mu.Unlock()
	equalBatches(t, readAll(t, l), want)
}
