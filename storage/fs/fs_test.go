package fs

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, env storagetest.Env) storage.Store {
		st, err := New(t.TempDir(), Options{Now: env.Now, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
}

// testLogger sends the store's log to the test's log, so that recovery
// warnings show next to the failure they explain.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is one store in a temp dir and helpers to poke at its files.
type fixture struct {
	t     *testing.T
	dir   string
	st    *Store
	clock *storagetest.Clock
	logs  *bytes.Buffer // what the store logged
	mu    *sync.Mutex
	// noNursery: new partitions make their directories and files at
	// Open (Options.NoNursery), for tests of those files.
	noNursery bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return startFixture(t, false)
}

// newFilesFixture is newFixture with Options.NoNursery: a new partition's
// directory and segment file are made by Open.
func newFilesFixture(t *testing.T) *fixture {
	t.Helper()
	return startFixture(t, true)
}

func startFixture(t *testing.T, noNursery bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), clock: storagetest.NewClock(time.Unix(1_700_000_000, 0)), logs: new(bytes.Buffer), mu: new(sync.Mutex), noNursery: noNursery}
	f.newStore()
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// logger writes to the fixture's log (logged).
func (f *fixture) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(lockedWriter{f.mu, f.logs}, nil))
}

// newStore (re)creates the store over the fixture's directory, as a broker
// restart does.
func (f *fixture) newStore() {
	f.t.Helper()
	logger := f.logger()
	st, err := New(f.dir, Options{Now: f.clock.Now, Logger: logger, NoNursery: f.noNursery})
	if err != nil {
		f.t.Fatal(err)
	}
	f.st = st
	f.t.Cleanup(func() { _ = st.Close() })
}

// resetLogs forgets what the store logged so far (a store's background
// syncfs may be logging meanwhile).
func (f *fixture) resetLogs() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs.Reset()
}

func (f *fixture) logged() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.String()
}

func (f *fixture) open(p storage.Partition, cfg storage.LogConfig) *Log {
	f.t.Helper()
	l, err := f.st.Open(f.t.Context(), p, cfg)
	if err != nil {
		f.t.Fatalf("open %v: %v", p, err)
	}
	return l.(*Log)
}

func (f *fixture) partDir(p storage.Partition) string {
	return filepath.Join(f.dir, p.Topic, strconv.Itoa(int(p.Partition)))
}

// files lists the partition directory's file names with extension ext.
func (f *fixture) files(p storage.Partition, ext string) []string {
	f.t.Helper()
	es, err := os.ReadDir(f.partDir(p))
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), ext) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// appendN appends n batches and returns copies of them as stored.
func appendN(t *testing.T, l storage.Log, n int, ts func(i int) int64) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		b := storagetest.MakeBatch(1+i%3, 40+(i*53)%500, ts(i))
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	// The high watermark moves once the batches are durable.
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return out
}

func seq(i int) int64 { return int64(1000 + i) }

// readLog reads the whole log back, batch by batch; each batch must start
// at the offset after the one before.
func readLog(t *testing.T, l storage.Log) [][]byte {
	t.Helper()
	return readBatches(t, l, false)
}

// readBatches reads the whole log back, batch by batch. With gaps a batch
// may start after the offset asked for (compaction), never before it.
func readBatches(t *testing.T, l storage.Log, gaps bool) [][]byte {
	t.Helper()
	var out [][]byte
	off := l.LogStartOffset()
	for off < l.HighWatermark() {
		got, err := l.Read(t.Context(), off, 1<<20, true, nil)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		if len(got) == 0 {
			t.Fatalf("read %d below HW %d: nothing", off, l.HighWatermark())
		}
		for len(got) > 0 {
			h, err := batch.Parse(got)
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if h.BaseOffset != off && (!gaps || h.LastOffset() < off) {
				t.Fatalf("read: batch [%d, %d], want one from %d", h.BaseOffset, h.LastOffset(), off)
			}
			out = append(out, got[:h.Size()])
			got = got[h.Size():]
			off = h.NextOffset()
		}
	}
	return out
}

func equalBatches(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("log holds %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("batch %d differs", i)
		}
	}
}

func mustClose(t *testing.T, l storage.Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLayout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "orders", Partition: 12}
	l := f.open(p, storage.LogConfig{SegmentBytes: 1000, IndexIntervalBytes: 100})
	appendN(t, l, 30, seq)
	mustClose(t, l)
	logs := f.files(p, extLog)
	if len(logs) < 3 {
		t.Fatalf("segments %v, want several", logs)
	}
	if logs[0] != "00000000000000000000.log" {
		t.Errorf("first segment %q", logs[0])
	}
	for _, name := range logs {
		base, ext, ok := parseSegmentName(name)
		if !ok || ext != extLog || segmentName(base, extLog) != name {
			t.Errorf("segment name %q does not round-trip", name)
		}
		for _, side := range []string{extIndex, extTimeIndex} {
			if _, err := os.Stat(filepath.Join(f.partDir(p), segmentName(base, side))); err != nil {
				t.Errorf("segment %d: %v", base, err)
			}
		}
	}
	if tmp := f.files(p, extTmp); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func TestSegmentRolls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      storage.LogConfig
		sizes    []int           // value sizes, one record each
		advance  []time.Duration // clock moves before each append
		wantSegs int
	}{
		{
			name:     "SegmentBytes",
			cfg:      storage.LogConfig{SegmentBytes: 400},
			sizes:    []int{100, 100, 100, 100, 100},
			wantSegs: 3, // two 168-byte batches fit in 400, three do not
		},
		{
			name:     "BatchLargerThanSegment",
			cfg:      storage.LogConfig{SegmentBytes: 300},
			sizes:    []int{10, 1000, 10, 1000, 1000},
			wantSegs: 5,
		},
		{
			name:     "LargeBatchFirst",
			cfg:      storage.LogConfig{SegmentBytes: 300},
			sizes:    []int{1000, 10, 10},
			wantSegs: 2,
		},
		{
			name:     "SegmentMs",
			cfg:      storage.LogConfig{SegmentMs: 1000},
			sizes:    []int{10, 10, 10, 10, 10},
			advance:  []time.Duration{0, time.Second, time.Second + 1, 0, 5 * time.Second},
			wantSegs: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			p := storage.Partition{Topic: "t"}
			l := f.open(p, tc.cfg)
			var want [][]byte
			for i, size := range tc.sizes {
				if tc.advance != nil {
					f.clock.Advance(tc.advance[i])
				}
				b := storagetest.MakeBatch(1, size, int64(i))
				if _, err := l.Append(t.Context(), b); err != nil {
					t.Fatal(err)
				}
				want = append(want, b)
			}
			if err := l.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			equalBatches(t, readLog(t, l), want)
			if got := f.files(p, extLog); len(got) != tc.wantSegs {
				t.Fatalf("segments %v, want %d", got, tc.wantSegs)
			}
			mustClose(t, l)
			l = f.open(p, tc.cfg)
			equalBatches(t, readLog(t, l), want)
			mustClose(t, l)
		})
	}
}

func TestOpenRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, topic := range []string{"", ".", "..", "a/b", "../x", "a\x00", strings.Repeat("x", 250), "sp ace", "é"} {
		if _, err := f.st.Open(t.Context(), storage.Partition{Topic: topic}, storage.LogConfig{}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Open(%q) error %v, want ErrInvalidName", topic, err)
		}
		if err := f.st.Delete(t.Context(), storage.Partition{Topic: topic}); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Delete(%q) error %v, want ErrInvalidName", topic, err)
		}
	}
	if _, err := f.st.Open(t.Context(), storage.Partition{Topic: "t", Partition: -1}, storage.LogConfig{}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("negative partition: %v", err)
	}
	if _, err := f.st.Open(t.Context(), storage.Partition{Topic: strings.Repeat("x", 249)}, storage.LogConfig{}); err != nil {
		t.Errorf("249-character name: %v", err)
	}

	p := storage.Partition{Topic: "t"}
	l := f.open(p, storage.LogConfig{})
	if _, err := f.st.Open(t.Context(), p, storage.LogConfig{}); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open: %v, want ErrInUse", err)
	}
	if err := f.st.Delete(t.Context(), p); !errors.Is(err, ErrInUse) {
		t.Errorf("Delete of an open log: %v, want ErrInUse", err)
	}
	mustClose(t, l)
	l = f.open(p, storage.LogConfig{}) // closing released it
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 1, 1)); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Append after Store.Close: %v, want ErrClosed", err)
	}
	if _, err := f.st.Open(t.Context(), p, storage.LogConfig{}); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Open after Store.Close: %v, want ErrClosed", err)
	}
	if err := f.st.Close(); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("second Store.Close: %v, want ErrClosed", err)
	}
}

func TestDeleteRemovesTopicDirWhenEmpty(t *testing.T) {
	t.Parallel()
	f := newFilesFixture(t)
	p0, p1 := storage.Partition{Topic: "t"}, storage.Partition{Topic: "t", Partition: 1}
	for _, p := range []storage.Partition{p0, p1} {
		mustClose(t, f.open(p, storage.LogConfig{}))
	}
	if err := f.st.Delete(t.Context(), p0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "t")); err != nil {
		t.Fatalf("topic dir gone while partition 1 remains: %v", err)
	}
	if err := f.st.Delete(t.Context(), p1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "t")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("topic dir after its last partition went: %v", err)
	}
}

func mustHeader(t *testing.T, b []byte) batch.Header {
	t.Helper()
	h, err := batch.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSegmentJitter: segment.jitter.ms rolls each segment by age up to that
// much early, a random amount drawn per segment as Kafka does: of 20
// partitions whose segments are half segment.ms old, with a jitter as large
// as segment.ms, some roll and some do not (each with odds of one half;
// all alike one time in half a million); without jitter none does.
func TestSegmentJitter(t *testing.T) {
	t.Parallel()
	f := newFilesFixture(t)
	rolled := func(topic string, cfg storage.LogConfig) int {
		var logs []storage.Log
		for i := range int32(20) {
			l := f.open(storage.Partition{Topic: topic, Partition: i}, cfg)
			defer mustClose(t, l)
			if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 0)); err != nil {
				t.Fatal(err)
			}
			logs = append(logs, l)
		}
		f.clock.Advance(500 * time.Millisecond)
		n := 0
		for i, l := range logs {
			if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); err != nil {
				t.Fatal(err)
			}
			if got := f.files(storage.Partition{Topic: topic, Partition: int32(i)}, extLog); len(got) > 1 {
				n++
			}
		}
		return n
	}
	if n := rolled("plain", storage.LogConfig{SegmentMs: 1000}); n != 0 {
		t.Errorf("without jitter %d of 20 segments rolled at half segment.ms", n)
	}
	if n := rolled("jitter", storage.LogConfig{SegmentMs: 1000, SegmentJitterMs: 1000}); n == 0 || n == 20 {
		t.Errorf("with segment.jitter.ms = segment.ms, %d of 20 segments rolled at half segment.ms, want some and not all", n)
	}
}
