package tiered_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/sqlite"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
	"github.com/streamhouse/streamhouse/storage/storagetest"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// env is a tiered store's surroundings that outlive it: the catalog, the
// bucket and the directories.
type env struct {
	cat    *sqlite.Catalog
	bucket *objstore.Memory
	store  objstore.Store // the store the tiered store uses: bucket unless set
	dir    string
	grace  time.Duration // the stores' Grace: 200 ms unless set
	// partSize is the stores' PartSize: -1 (segments uploaded whole)
	// unless set, so that the tests of whole uploads stay so whatever the
	// default.
	partSize int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	cat, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return &env{cat: cat, bucket: objstore.NewMemory(), dir: t.TempDir()}
}

// open opens a tiered store over a local store in dir (a new empty one:
// the data directory lost).
func (e *env) open(t testing.TB, dir string, force *storage.RemoteConfig) *tiered.Store {
	t.Helper()
	local, err := fs.New(filepath.Join(dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tiered.New(tiered.Options{
		Local: local, Bucket: cmp.Or[objstore.Store](e.store, e.bucket), Catalog: e.cat,
		CacheDir: filepath.Join(dir, "remote-cache"), CacheBytes: 64 << 20,
		UploadInterval: 20 * time.Millisecond, Grace: cmp.Or(e.grace, 200*time.Millisecond),
		PartSize: cmp.Or(e.partSize, -1), ForceRemote: force,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestConformancePassthrough(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, envt storagetest.Env) storage.Store {
		e := newEnv(t)
		local, err := fs.New(t.TempDir(), fs.Options{Now: envt.Now})
		if err != nil {
			t.Fatal(err)
		}
		st, err := tiered.New(tiered.Options{Local: local, Bucket: e.bucket, Catalog: e.cat, CacheDir: t.TempDir(), Now: envt.Now})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// allTiered: every log tiered, local copies kept only until uploaded.
var allTiered = &storage.RemoteConfig{Enable: true, LocalRetentionMs: -1, LocalRetentionBytes: 0}

var part = storage.Partition{Topic: "t", TopicID: [16]byte{1, 2, 3}, Partition: 0}

// fill appends n batches of k records and returns them as appended, their
// base offsets set.
func fill(t testing.TB, l storage.Log, n, k int) [][]byte {
	t.Helper()
	var out [][]byte
	now := time.Now().UnixMilli()
	for i := range n {
		b := storagetest.MakeBatch(k, 100, now+int64(i))
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

// readAll reads the log from offset 0 to its high watermark.
func readAll(t *testing.T, l storage.Log) [][]byte {
	t.Helper()
	var out [][]byte
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		b, err := l.Read(t.Context(), off, 64<<10, true, nil)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("read at %d below the high watermark %d returned nothing", off, l.HighWatermark())
		}
		for len(b) > 0 {
			h, err := batch.ReadHeader(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.NextOffset() > off {
				out = append(out, b[:h.Size()])
				off = h.NextOffset()
			}
			b = b[h.Size():]
		}
	}
	return out
}

func equalBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

// waitUploaded waits until the local log start passes offset: uploaded,
// then let go by local retention.
func waitUploaded(t testing.TB, l storage.Log, offset int64) {
	t.Helper()
	tl := l.(*tiered.Log)
	// A bound for a stuck upload, not a speed test: with half the
	// bucket's calls failing (TestBucketFaults) the retries' backoff under
	// -race on a loaded machine took 9.9 s of 10.
	deadline := time.Now().Add(60 * time.Second)
	for tl.LocalLogStartOffset() < offset {
		if _, err := l.Retain(t.Context(), storage.RetentionPolicy{Now: time.Now(), Ms: -1, Bytes: -1}); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			segs, bytes := tl.UploadBacklog()
			t.Fatalf("local start %d, want past %d (backlog %d segments, %d bytes)", tl.LocalLogStartOffset(), offset, segs, bytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitClosedUploaded waits until every closed segment of l is uploaded and
// its local copy gone (the log configured to keep nothing uploaded), so
// that all the log but its active segment is read from the bucket.
func waitClosedUploaded(t testing.TB, l storage.Log) {
	t.Helper()
	tl := l.(*tiered.Log)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := l.Retain(t.Context(), storage.RetentionPolicy{Now: time.Now(), Ms: -1, Bytes: -1}); err != nil {
			t.Fatal(err)
		}
		segs, bytes := tl.UploadBacklog()
		if segs == 0 && tl.RemoteEnd() > 0 && tl.LocalLogStartOffset() >= tl.RemoteEnd() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("local start %d, remote end %d (backlog %d segments, %d bytes)", tl.LocalLogStartOffset(), tl.RemoteEnd(), segs, bytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRemoteReads: closed segments go to the bucket, their local copies
// go, and every batch reads back from offset 0 as appended; again after a
// restart, and again from an empty data directory (the catalog and the
// bucket kept).
func TestRemoteReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.open(t, e.dir, allTiered)
	cfg := storage.LogConfig{SegmentBytes: 4096}
	l, err := st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fill(t, l, 200, 3)
	waitUploaded(t, l, 400)
	if l.LogStartOffset() != 0 {
		t.Fatalf("log start %d, want 0 (in the bucket)", l.LogStartOffset())
	}
	equalBatches(t, readAll(t, l), want)
	puts, gets := e.bucket.Counts()
	t.Logf("%d puts, %d gets; remote %d bytes, local %d", puts, gets, l.(*tiered.Log).RemoteSize(), l.Size())
	next := l.NextOffset()
	l.Close()
	st.Close()

	st = e.open(t, e.dir, allTiered)
	l, err = st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	equalBatches(t, readAll(t, l), want)
	l.Close()
	st.Close()

	// The data directory is lost: what was uploaded is served, and the
	// log goes on after it.
	st = e.open(t, t.TempDir(), allTiered)
	defer st.Close()
	l, err = st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := readAll(t, l)
	if len(got) == 0 || len(got) >= len(want) || l.NextOffset() > next {
		t.Fatalf("after losing the data directory: %d batches (of %d), next offset %d (was %d)", len(got), len(want), l.NextOffset(), next)
	}
	equalBatches(t, got, want[:len(got)])
	if base, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, time.Now().UnixMilli())); err != nil || base != l.NextOffset()-1 {
		t.Fatalf("append after the restore: %d, %v", base, err)
	}
}

// TestRetentionOverTiers: retention.bytes counts both tiers; DeleteRecords
// below the local start moves the start into the bucket.
func TestRetentionOverTiers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 200, 3)
	waitUploaded(t, l, 400)
	tl := l.(*tiered.Log)
	if start, err := l.DeleteRecords(t.Context(), 100); err != nil || start != 100 || l.LogStartOffset() != 100 {
		t.Fatalf("DeleteRecords(100) = %d, %v; log start %d", start, err, l.LogStartOffset())
	}
	if _, err := l.Read(t.Context(), 99, 1<<20, true, nil); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	if b, err := l.Read(t.Context(), 100, 1<<20, true, nil); err != nil || len(b) == 0 {
		t.Fatalf("read at the new start: %d bytes, %v", len(b), err)
	}
	before := tl.RemoteSize()
	n, err := l.Retain(t.Context(), storage.RetentionPolicy{Now: time.Now(), Ms: -1, Bytes: before / 2})
	if err != nil || n == 0 || tl.RemoteSize() > before/2+8192 {
		t.Fatalf("retention.bytes %d: %d removed, %v; remote %d bytes", before/2, n, err, tl.RemoteSize())
	}
	// The given-up segments' objects go after the grace period.
	deadline := time.Now().Add(5 * time.Second)
	for {
		puts, _ := e.bucket.Counts()
		var objects int
		e.bucket.List(context.Background(), "", func(objstore.Object) error { objects++; return nil })
		segs, _ := e.cat.RemoteSegments(t.Context(), part.TopicID, 0)
		if objects == 5*len(segs) && objects < puts {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d objects for %d records after the sweep", objects, len(segs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBucketFaults: half the bucket's calls fail; uploads retry and reads
// complete (a read that fails is retriable, ErrUnavailable).
func TestBucketFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var calls atomic.Int64
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if calls.Add(1)%2 == 0 {
			return 0, objstore.ErrUnavailable
		}
		return 0, nil
	})
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := fill(t, l, 100, 3)
	waitUploaded(t, l, 200)
	var got [][]byte
	for off := int64(0); off < l.HighWatermark(); {
		b, err := l.Read(t.Context(), off, 64<<10, true, nil)
		if errors.Is(err, storage.ErrUnavailable) {
			continue // a retry, as a consumer's next fetch
		}
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			h, _ := batch.ReadHeader(b)
			got = append(got, b[:h.Size()])
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	equalBatches(t, got, want)
}

// TestReadStopsWaitingForAHungBucket: a read below the local log start
// whose GET hangs (the bucket stopped answering) returns at its own
// context's end, not the GET's timeout: the fetch's max wait bounds it
// even for the reader that started the GET. Close does not wait for the
// hung GET either; and a store opened again reads everything once the
// bucket answers.
func TestReadStopsWaitingForAHungBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var hang atomic.Bool
	entered := make(chan struct{}, 1)
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op != "get" || !hang.Load() {
			return 0, nil
		}
		select {
		case entered <- struct{}{}:
		default:
		}
		return time.Hour, nil // until the call's context ends
	})
	st := e.open(t, e.dir, allTiered)
	cfg := storage.LogConfig{SegmentBytes: 4096}
	l, err := st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fill(t, l, 100, 3)
	waitUploaded(t, l, 200)

	hang.Store(true)
	for i := range 2 { // the reader that starts the GET, then one that joins it
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := l.Read(ctx, 0, 1<<20, true, nil)
			done <- err
		}()
		if i == 0 {
			<-entered // the GET is under way, and hangs
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, storage.ErrUnavailable) && !errors.Is(err, context.Canceled) {
				t.Fatalf("read %d of offset 0, its context ended while the bucket hangs: %v, want ErrUnavailable", i, err)
			}
		case <-time.After(10 * time.Second): // the GET's own timeout is 30 s
			t.Fatalf("read %d of offset 0 still waits for the hung bucket after its context ended", i)
		}
	}
	l.Close()
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for the hung GET")
	}

	hang.Store(false)
	st = e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err = st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	equalBatches(t, readAll(t, l), want)
}

// TestSweepOrphans: an object no record names (an upload whose record
// never landed) goes once older than the grace period, also of a
// partition with no record and no log open here (a topic deleted during
// its first upload); recorded ones stay, and so do objects of other
// layouts (the cluster mode's WAL objects).
func TestSweepOrphans(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fill(t, l, 50, 3)
	waitUploaded(t, l, 50)
	orphan := meta.TopicID(part.TopicID).String() + "/0/00000000000000000000-deadbeef.log"
	unknown := meta.TopicID{0xfe, 9}.String() + "/3/00000000000000000100-0123abcd.index" // no record, no open log
	wal := "wal/1/1/1700000000000-0123.wal"
	for _, k := range []string{orphan, unknown, wal} {
		e.bucket.Put(t.Context(), k, bytes.NewReader([]byte("x")), 1)
	}
	for _, k := range []string{orphan, unknown} {
		deadline := time.Now().Add(5 * time.Second) // a bound for a broken sweep, not a speed claim
		for {
			if _, err := e.bucket.Stat(t.Context(), k); errors.Is(err, objstore.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the orphan %s is still there", k)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if _, err := e.bucket.Stat(t.Context(), wal); err != nil {
		t.Fatalf("an object of another layout was swept: %v", err)
	}
	// Everything recorded still reads.
	if _, err := l.Read(t.Context(), 0, 1<<20, true, nil); err != nil {
		t.Fatal(err)
	}
}

// TestSweepSpareSlowUploads: an upload that takes longer than the grace
// period keeps its objects: the sweep leaves an upload under way alone
// (without it, its first objects would go as orphans before its record).
func TestSweepSpareSlowUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var slowed atomic.Bool
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op == "put" && strings.HasSuffix(key, ".snapshot") && slowed.CompareAndSwap(false, true) {
			return time.Second, nil // five grace periods, the sweep every 100 ms
		}
		return 0, nil
	})
	st := e.open(t, e.dir, allTiered)
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want := fill(t, l, 50, 3)
	waitUploaded(t, l, 50)
	time.Sleep(500 * time.Millisecond) // sweeps go by
	equalBatches(t, readAll(t, l), want)
}

// idStore gives each topic a topic ID of its own, as the broker does (the
// suite leaves them zero; tiered storage names everything by them).
type idStore struct{ storage.Store }

func withID(p storage.Partition) storage.Partition {
	if p.TopicID == ([16]byte{}) {
		sum := sha256.Sum256([]byte(p.Topic))
		copy(p.TopicID[:], sum[:16])
	}
	return p
}

func (s idStore) Open(ctx context.Context, p storage.Partition, cfg storage.LogConfig) (storage.Log, error) {
	return s.Store.Open(ctx, withID(p), cfg)
}

func (s idStore) Delete(ctx context.Context, p storage.Partition) error {
	return s.Store.Delete(ctx, withID(p))
}

// TestConformanceTiered runs the storage suite with every log tiered and
// local copies let go as soon as they are uploaded.
func TestConformanceTiered(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, envt storagetest.Env) storage.Store {
		e := newEnv(t)
		local, err := fs.New(t.TempDir(), fs.Options{Now: envt.Now})
		if err != nil {
			t.Fatal(err)
		}
		st, err := tiered.New(tiered.Options{Local: local, Bucket: e.bucket, Catalog: e.cat, CacheDir: t.TempDir(),
			Now: envt.Now, UploadInterval: 10 * time.Millisecond, ForceRemote: allTiered})
		if err != nil {
			t.Fatal(err)
		}
		return idStore{st}
	})
}

// TestConformanceTieredS3 runs the storage suite on the tiered store over
// a real S3 server (versitygw, through objstore/s3), every log tiered and
// local copies let go as soon as they are uploaded: what the in-memory
// bucket passes, the real one passes too (ranged GETs, listings, a
// server's own dates). Each case has its own prefix in one bucket.
func TestConformanceTieredS3(t *testing.T) {
	t.Parallel()
	srv := s3test.Start(t)
	bucket := srv.Bucket(t)
	var n atomic.Int64 // the cases run in parallel
	t.Cleanup(func() { // after the cases: how much went through the bucket
		objects := 0
		for o := range srv.Client(t).ListObjects(context.Background(), bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err == nil {
				objects++
			}
		}
		t.Logf("the bucket holds %d objects of %d cases", objects, n.Load())
	})
	storagetest.Run(t, func(t *testing.T, envt storagetest.Env) storage.Store {
		e := newEnv(t)
		b, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: bucket, Prefix: fmt.Sprintf("case%d", n.Add(1)), Credentials: s3test.Credentials()})
		if err != nil {
			t.Fatal(err)
		}
		local, err := fs.New(t.TempDir(), fs.Options{Now: envt.Now})
		if err != nil {
			t.Fatal(err)
		}
		st, err := tiered.New(tiered.Options{Local: local, Bucket: b, Catalog: e.cat, CacheDir: t.TempDir(),
			Now: envt.Now, UploadInterval: 10 * time.Millisecond, ForceRemote: allTiered})
		if err != nil {
			t.Fatal(err)
		}
		return idStore{st}
	})
}

// slowCatalog answers RemoteSegments late, as a loaded catalog does.
type slowCatalog struct {
	*sqlite.Catalog
	delay time.Duration
}

func (c slowCatalog) RemoteSegments(ctx context.Context, id meta.TopicID, partition int32) ([]meta.RemoteSegment, error) {
	time.Sleep(c.delay)
	return c.Catalog.RemoteSegments(ctx, id, partition)
}

// TestSweepSparesUploadsSkewedClock: the store dates objects by its own
// clock, which may run behind the broker's (clock skew; versitygw's
// Last-Modified is cut to the second, and S3 dates a multipart object by
// its start), so an object just written can look older than the grace
// period. An upload that begins while the sweep reads the records (a slow
// catalog), and records its segment after, still keeps its objects.
func TestSweepSparesUploadsSkewedClock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	local, err := fs.New(filepath.Join(e.dir, "storage"), fs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := tiered.New(tiered.Options{
		Local: local, Bucket: e.bucket, Catalog: slowCatalog{e.cat, 20 * time.Millisecond},
		CacheDir: filepath.Join(e.dir, "remote-cache"), CacheBytes: 64 << 20,
		UploadInterval: 5 * time.Millisecond, Grace: 200 * time.Millisecond, ForceRemote: allTiered,
		Now: func() time.Time { return time.Now().Add(time.Second) }, // every object looks a second old
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.Open(t.Context(), part, storage.LogConfig{SegmentBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var want [][]byte
	for range 20 { // segments roll and upload while the sweeps run
		want = append(want, fill(t, l, 10, 3)...)
		time.Sleep(10 * time.Millisecond)
	}
	waitUploaded(t, l, 190)
	equalBatches(t, readAll(t, l), want)
}
