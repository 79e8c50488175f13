package tiered_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// orderCatalog checks that a partition's segments are recorded in offset
// order with no gap: each one's base is where the one recorded before
// ended (the first one's at 0).
type orderCatalog struct {
	*sqlite.Catalog
	mu       sync.Mutex
	end      int64
	recorded int
	bad      []string
}

func (c *orderCatalog) AddRemoteSegment(ctx context.Context, s meta.RemoteSegment) error {
	c.mu.Lock()
	if s.BaseOffset != c.end {
		c.bad = append(c.bad, fmt.Sprintf("segment [%d, %d) recorded after the remote log ended at %d", s.BaseOffset, s.EndOffset, c.end))
	}
	c.end = s.EndOffset
	c.recorded++
	c.mu.Unlock()
	return c.Catalog.AddRemoteSegment(ctx, s)
}

func (c *orderCatalog) state() (int64, int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.end, c.recorded, c.bad
}

// segmentOf is the base offset in an object's key.
func segmentOf(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	return name[:strings.IndexByte(name, '-')]
}

// openOrdered opens a tiered store over e's bucket with an orderCatalog,
// and in it the log of part with segments of 4 KiB, both closed when the
// test ends.
func openOrdered(t *testing.T, e *env, opts tiered.Options) (storage.Log, *orderCatalog) {
	t.Helper()
	cat := &orderCatalog{Catalog: e.cat}
	local, err := fs.New(filepath.Join(e.dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Local, opts.Bucket, opts.Catalog = local, e.bucket, cat
	opts.CacheDir, opts.CacheBytes = filepath.Join(e.dir, "remote-cache"), 64<<20
	opts.UploadInterval, opts.Grace, opts.ForceRemote = 20*time.Millisecond, time.Hour, allTiered
	st, err := tiered.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, cat
}

// TestUploadsConcurrentRecordedInOrder: a partition's closed segments
// upload several at once, and are recorded in offset order only: while
// the first segment's upload is held, the ones after it upload (their
// .log objects are in the bucket) but none is recorded, so the catalog
// never has a hole; once it completes, all are recorded in order.
func TestUploadsConcurrentRecordedInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release := make(chan struct{})
	var others atomic.Int64 // .log objects of later segments put while the first is held
	var once sync.Once
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op != "put" || !strings.HasSuffix(key, ".log") {
			return 0, nil
		}
		if segmentOf(key) == fmt.Sprintf("%020d", 0) {
			select {
			case <-release:
			case <-time.After(30 * time.Second): // a bound for a broken test, not a speed claim
			}
			return 0, nil
		}
		if others.Add(1) >= 3 {
			once.Do(func() { close(release) })
		}
		return 0, nil
	})
	l, cat := openOrdered(t, e, tiered.Options{PartitionUploaders: 4})
	want := fill(t, l, 60, 3)
	// The first segment's upload is held until three segments after it
	// were put: they upload while it does. Meanwhile nothing is recorded.
	select {
	case <-release:
	case <-time.After(30 * time.Second): // a bound for a broken test, not a speed claim
		t.Fatalf("while the first segment's upload was held, %d later segments were put, want 3: uploads of a partition do not overlap", others.Load())
	}
	waitClosedUploaded(t, l)
	end, n, bad := cat.state()
	if len(bad) > 0 {
		t.Fatalf("segments recorded out of order: %v", bad)
	}
	t.Logf("%d segments recorded, the remote log ends at %d", n, end)
	equalBatches(t, readAll(t, l), want)
}

// TestUploadFailureKeepsOrder: when one segment's upload fails while
// those after it succeed, the ones below it are recorded and none above
// it until it is uploaded again: the remote log never has a hole, and
// every batch reads back.
func TestUploadFailureKeepsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var failures atomic.Int64
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		// Every second segment's .log fails its first 4 tries (one
		// upload: retry's attempts), later segments' go through.
		if op == "put" && strings.HasSuffix(key, ".log") && segmentOf(key) != fmt.Sprintf("%020d", 0) && failures.Add(1) <= 4 {
			return 0, objstore.ErrUnavailable
		}
		return 0, nil
	})
	l, cat := openOrdered(t, e, tiered.Options{PartitionUploaders: 3})
	want := fill(t, l, 60, 3)
	waitClosedUploaded(t, l)
	if _, _, bad := cat.state(); len(bad) > 0 {
		t.Fatalf("segments recorded out of order: %v", bad)
	}
	if failures.Load() < 4 {
		t.Fatalf("%d PUTs failed, want at least 4", failures.Load())
	}
	equalBatches(t, readAll(t, l), want)
}

// TestUploadsOfLogsIndependent: a log whose upload is slow does not hold
// another's up: a segment that closes while another log uploads goes up
// at once, not once that upload is done.
func TestUploadsOfLogsIndependent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	release, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var heldOut atomic.Bool // the hold below ran out before release
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op != "put" || !strings.Contains(key, fmt.Sprintf("/%d/", part.Partition)) {
			return 0, nil
		}
		once.Do(func() { close(started) })
		select {
		case <-release:
		case <-time.After(30 * time.Second): // a bound for a broken test, not a speed claim
			heldOut.Store(true)
		}
		return 0, nil
	})
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	cfg := storage.LogConfig{SegmentBytes: 4096}
	slow, err := st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fill(t, slow, 20, 3)
	<-started
	other := part
	other.Partition = 1
	fast, err := st.Open(t.Context(), other, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	want := fill(t, fast, 20, 3)
	waitClosedUploaded(t, fast)
	if heldOut.Load() {
		t.Fatal("another log's segments went up only once the slow log's upload was done")
	}
	close(release)
	equalBatches(t, readAll(t, fast), want)
}
