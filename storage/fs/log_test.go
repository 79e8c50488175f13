package fs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// TestAppendAllocs is the zero-allocation requirement of the append path.
// Not parallel: AllocsPerRun counts the whole process's allocations.
func TestAppendAllocs(t *testing.T) {
	f := newFixture(t)
	// Small segments so that rolls happen during the measurement: they may
	// allocate, but amortised over the appends they must round to zero.
	l := f.open(storage.Partition{Topic: "t"}, storage.LogConfig{SegmentBytes: 1 << 20, IndexIntervalBytes: 512})
	l.Watch(make(chan struct{}, 1))
	b := storagetest.MakeBatch(10, 100, 1)
	ctx := t.Context()
	for range 100 {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	allocs := testing.AllocsPerRun(5000, func() {
		_, err = l.Append(ctx, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Append: %v allocations per call, want 0", allocs)
	}
	if segs := len(f.files(storage.Partition{Topic: "t"}, extLog)); segs < 3 {
		t.Errorf("only %d segments: the measurement should include rolls", segs)
	}

	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 0, 1<<20)
	hw := l.HighWatermark()
	var i int64
	allocs = testing.AllocsPerRun(1000, func() {
		_, err = l.Read(ctx, (i*7919)%hw, 64<<10, true, dst)
		i++
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("Read into a large enough dst: %v allocations per call, want 0", allocs)
	}
	mustClose(t, l)
}

// TestSyncCoalesces checks group commit: callers arriving during an fsync
// share the next one.
func TestSyncCoalesces(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(storage.Partition{Topic: "t"}, storage.LogConfig{})
	appendN(t, l, 3, seq)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}

	var rounds atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	c := &l.store.commit
	c.mu.Lock()
	c.beforeRound = func() {
		if rounds.Add(1) == 1 {
			close(entered)
			<-release
		}
	}
	c.mu.Unlock()

	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	// The append starts round 1 by itself (group commit needs no Sync),
	// which the hook holds.
	if _, err := l.Append(ctx, storagetest.MakeBatch(1, 10, 1)); err != nil {
		t.Fatal(err)
	}
	<-entered // round 1 is in flight
	const waiters = 10
	for range waiters {
		wg.Go(func() { errs <- l.Sync(ctx) })
	}
	// One more that gives up while it waits.
	cctx, cancel := context.WithCancel(ctx)
	wg.Go(func() {
		if err := l.Sync(cctx); !errors.Is(err, context.Canceled) {
			errs <- errors.New("cancelled Sync did not return context.Canceled")
		}
	})
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiting == waiters+1
	})
	cancel()
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.waiting == waiters
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The callers queued the log during round 1: round 2 follows, even
	// when round 1 already covered what they waited for (it prepares its
	// logs after it starts) and they returned before round 2 began.
	waitFor(t, func() bool { return rounds.Load() >= 2 })
	mustClose(t, l)
	if got := rounds.Load(); got != 2 {
		t.Fatalf("%d fsync rounds for %d callers, want 2", got, waiters)
	}
}

// waitFor polls cond: the state it waits for comes from other goroutines
// with nothing to wait on. The test's own deadline bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		time.Sleep(time.Millisecond)
	}
}

// TestWriteErrorSticks checks that after a failed write the log refuses
// appends and syncs until it is reopened, and that reopening recovers.
func TestWriteErrorSticks(t *testing.T) {
	t.Parallel()
	f := newFilesFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, storage.LogConfig{})
	want := appendN(t, l, 5, seq)
	next := l.NextOffset()
	// Pull the file out from under the log: the next write fails.
	if err := l.active.f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); err == nil {
		t.Fatal("append to a closed file succeeded")
	}
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); err == nil {
		t.Fatal("append after a write error succeeded")
	}
	if err := l.Sync(t.Context()); err == nil {
		t.Fatal("sync after a write error succeeded")
	}
	if l.NextOffset() != next {
		t.Fatalf("NextOffset moved to %d after failed appends", l.NextOffset())
	}
	if err := l.Offline(); !errors.Is(err, storage.ErrIO) {
		t.Fatalf("Offline() after a write error = %v, want ErrIO", err)
	}
	if err := l.Close(); err == nil {
		t.Fatal("Close after a write error reported nothing")
	}
	l = f.open(p, storage.LogConfig{})
	if err := l.Offline(); err != nil {
		t.Fatalf("Offline() after reopening = %v, want nil", err)
	}
	equalBatches(t, readLog(t, l), want)
	mustClose(t, l)
}

// TestReadsDoNotWaitForAppends holds the appender lock, as a slow write
// would, and reads anyway.
func TestReadsDoNotWaitForAppends(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(storage.Partition{Topic: "t"}, smallCfg)
	all := appendN(t, l, 30, wobbly)
	l.mu.Lock()
	equalBatches(t, readLog(t, l), all)
	checkTimestamps(t, l, all)
	l.mu.Unlock()
	mustClose(t, l)
}

// TestReadSegmentEnd checks the case Read handles by moving to the next
// segment: the segment holds nothing at or after the offset.
func TestReadSegmentEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	l := f.open(storage.Partition{Topic: "t"}, storage.LogConfig{SegmentBytes: 2000, IndexIntervalBytes: 100})
	appendN(t, l, 20, seq)
	s := l.segs[0]
	for _, pos := range []int64{0, s.size} {
		got, found, err := l.readSegment(s, pos, s.size, s.next, 1<<20, true, []byte("d"))
		if err != nil || found || string(got) != "d" {
			t.Errorf("readSegment(pos %d, offset %d past the segment) = %q, %v, %v; want dst, not found", pos, s.next, got, found, err)
		}
	}
	got, found, err := l.readSegment(s, 0, s.size, s.next-1, 1<<20, true, nil)
	if err != nil || !found || len(got) == 0 {
		t.Errorf("readSegment of the last offset: %d bytes, %v, %v", len(got), found, err)
	}
	mustClose(t, l)
}

// TestFlushConfigs checks flush.messages and flush.ms on a store that does
// not fsync by itself: they are what makes data durable there.
func TestFlushConfigs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st, err := New(dir, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()

	l, err := st.Open(ctx, storage.Partition{Topic: "msgs"}, storage.LogConfig{FlushMessages: 5})
	if err != nil {
		t.Fatal(err)
	}
	fl := l.(*Log)
	for i := range 4 {
		if _, err := l.Append(ctx, storagetest.MakeBatch(1, 10, int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if fl.durableNext.Load() != 0 {
		t.Fatalf("durable offset %d after 4 of flush.messages=5 records, want 0", fl.durableNext.Load())
	}
	if l.HighWatermark() != 4 {
		t.Fatalf("high watermark %d without fsync, want 4 at once", l.HighWatermark())
	}
	if _, err := l.Append(ctx, storagetest.MakeBatch(1, 10, 5)); err != nil {
		t.Fatal(err)
	}
	if fl.durableNext.Load() != 5 {
		t.Fatalf("durable offset %d after the 5th record returned, want 5", fl.durableNext.Load())
	}

	l2, err := st.Open(ctx, storage.Partition{Topic: "ms"}, storage.LogConfig{FlushMs: 20})
	if err != nil {
		t.Fatal(err)
	}
	fl2 := l2.(*Log)
	if _, err := l2.Append(ctx, storagetest.MakeBatch(3, 10, 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return fl2.durableNext.Load() == 3 })
	for _, l := range []storage.Log{l, l2} {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestIdleCloseRewritesNothing: closing a log not written since it opened
// leaves its checkpoint and index files as they were (a broker with 10,000
// idle partitions rewrote 30,000 files, with 20,000 fsyncs, at each stop),
// while a log written after it reopened gets them written again, and
// reads back whole.
func TestIdleCloseRewritesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "idle", Partition: 0}
	cfg := storage.LogConfig{SegmentBytes: 1 << 20, IndexIntervalBytes: 100}
	names := []string{checkpointName, segmentName(0, extIndex), segmentName(0, extTimeIndex)}
	// Each file gets a second name (ignored by the log), which keeps its
	// inode from being reused: a file replaced by a rename no longer
	// shares it.
	link := func() {
		t.Helper()
		for _, n := range names {
			path := filepath.Join(f.partDir(p), n)
			_ = os.Remove(path + ".orig")
			if err := os.Link(path, path+".orig"); err != nil {
				t.Fatal(err)
			}
		}
	}
	replaced := func() (out []string) {
		t.Helper()
		for _, n := range names {
			path := filepath.Join(f.partDir(p), n)
			now, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			orig, err := os.Stat(path + ".orig")
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(now, orig) {
				out = append(out, n)
			}
		}
		return out
	}

	l := f.open(p, cfg)
	want := appendN(t, l, 20, seq)
	mustClose(t, l)
	link()
	mustClose(t, f.open(p, cfg))
	if r := replaced(); len(r) > 0 {
		t.Errorf("closing an idle log rewrote %v", r)
	}

	l = f.open(p, cfg)
	want = append(want, appendN(t, l, 20, func(i int) int64 { return seq(20 + i) })...)
	mustClose(t, l)
	if r := replaced(); len(r) != len(names) {
		t.Errorf("closing a log written since it opened rewrote %v, want %v", r, names)
	}
	l = f.open(p, cfg)
	equalBatches(t, readLog(t, l), want)
	mustClose(t, l)
}

// TestCloseCreatedEmpty: a log closed as it was created (no record ever)
// leaves no checkpoint or index file behind and fsyncs nothing, since losing
// it loses nothing; it opens again empty and quietly, and once written it
// closes as any log does.
func TestCloseCreatedEmpty(t *testing.T) {
	t.Parallel()
	f := newFilesFixture(t)
	p := storage.Partition{Topic: "empty", Partition: 3}
	cfg := storage.LogConfig{SegmentBytes: 1 << 20, IndexIntervalBytes: 100}
	mustClose(t, f.open(p, cfg))
	for _, ext := range []string{extIndex, extTimeIndex} {
		if names := f.files(p, ext); len(names) != 0 {
			t.Errorf("closing an empty log wrote %v", names)
		}
	}
	if _, err := os.Stat(filepath.Join(f.partDir(p), checkpointName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("closing an empty log wrote a checkpoint: %v", err)
	}

	l := f.open(p, cfg)
	if l.NextOffset() != 0 || l.LogStartOffset() != 0 {
		t.Fatalf("reopened: start %d, next %d", l.LogStartOffset(), l.NextOffset())
	}
	if strings.Contains(f.logged(), "index files") {
		t.Errorf("reopening an empty log logged about its index files:\n%s", f.logged())
	}
	want := appendN(t, l, 5, seq)
	mustClose(t, l)
	for _, name := range []string{checkpointName, segmentName(0, extIndex), segmentName(0, extTimeIndex)} {
		if _, err := os.Stat(filepath.Join(f.partDir(p), name)); err != nil {
			t.Errorf("closing a written log: %v", err)
		}
	}
	l = f.open(p, cfg)
	equalBatches(t, readLog(t, l), want)
	mustClose(t, l)
}

// TestUncleanStopSyncsOnce: a store opened without the clean-shutdown
// marker over existing data makes its file system durable once (syncfs)
// rather than log by log; a new, empty store has nothing to sync; and the
// logs of a store reopened after an unclean stop read back whole.
func TestUncleanStopSyncsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if f.st.fsSynced {
		t.Fatal("a new store synced its file system")
	}
	p := storage.Partition{Topic: "crash", Partition: 0}
	l := f.open(p, storage.LogConfig{})
	want := appendN(t, l, 10, seq)
	// An unclean stop: the log is never closed and the store writes no
	// marker; another store opens the directory.
	st, err := New(f.dir, Options{Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	<-st.synced
	if st.clean || (runtime.GOOS == "linux" && !st.fsSynced) {
		t.Fatalf("reopened after an unclean stop: clean %v, fsSynced %v", st.clean, st.fsSynced)
	}
	mustClose(t, l)
	l2, err := st.Open(t.Context(), p, storage.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	equalBatches(t, readLog(t, l2), want)
	mustClose(t, l2)
}

// openLogs opens partitions 0 to n-1 of topic "fs" in st.
func openLogs(tb testing.TB, st *Store, n int32, cfg storage.LogConfig) []storage.Log {
	tb.Helper()
	var logs []storage.Log
	for i := range n {
		l, err := st.Open(tb.Context(), storage.Partition{Topic: "fs", Partition: i}, cfg)
		if err != nil {
			tb.Fatal(err)
		}
		logs = append(logs, l)
	}
	return logs
}

// TestSyncFSRounds: with Options.SyncFS a commit round of several files is
// one syncfs (one fsync callback), a round of one file its fdatasync, and
// what the rounds covered is visible and reads back after a reopen.
func TestSyncFSRounds(t *testing.T) {
	t.Parallel()
	if syncFSReportsErrors() != nil {
		t.Skip("no syncfs that reports errors here")
	}
	dir := t.TempDir()
	var fsyncs atomic.Int64
	st, err := New(dir, Options{SyncFS: true, OnFsync: func(time.Duration) { fsyncs.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	logs := openLogs(t, st, 3, storage.LogConfig{})
	ctx := storage.HoldCommit(t.Context())
	b := storagetest.MakeBatch(3, 10, 1)
	for _, l := range logs {
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range logs {
		if err := l.SyncTo(t.Context(), 3); err != nil {
			t.Fatal(err)
		}
		if hw := l.HighWatermark(); hw != 3 {
			t.Fatalf("high watermark %d after the round, want 3", hw)
		}
	}
	if n := fsyncs.Load(); n != 1 {
		t.Fatalf("a round of 3 logs made %d fsync calls, want one syncfs", n)
	}
	if _, err := logs[0].Append(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := logs[0].SyncTo(t.Context(), 6); err != nil {
		t.Fatal(err)
	}
	if n := fsyncs.Load(); n != 2 {
		t.Fatalf("a round of one log made %d fsync calls in all, want 2", n-1)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = New(dir, Options{SyncFS: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, want := range []int64{6, 3, 3} {
		l, err := st.Open(t.Context(), storage.Partition{Topic: "fs", Partition: int32(i)}, storage.LogConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if hw := l.HighWatermark(); hw != want {
			t.Errorf("partition %d reopened at %d, want %d", i, hw, want)
		}
	}
}
