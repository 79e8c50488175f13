// Package storagetest is the conformance suite of storage.Store and
// storage.Log: every engine runs it, so that the broker can rely on what it
// checks and not on one engine's habits. A bug found in one engine becomes
// a case here.
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T, env storagetest.Env) storage.Store {
//			st, err := fs.New(t.TempDir(), fs.Options{Now: env.Now})
//			...
//		})
//	}
//
// It also exports MakeBatch, a builder of valid batches for other packages'
// tests.
package storagetest

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

// Env is what the suite hands an engine's constructor: the dependencies the
// suite controls. Each subtest gets its own.
type Env struct {
	// Now is the clock the store must use for segment.ms. The suite moves
	// it by hand.
	Now func() time.Time
}

// Clock is a fake clock that moves only when told. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Run runs the suite against stores made by newStore, which is called once
// per subtest and must return an empty store that uses env. The suite
// closes the logs it opens and then the store.
func Run(t *testing.T, newStore func(t *testing.T, env Env) storage.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			clock := NewClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			st := newStore(t, Env{Now: clock.Now})
			t.Cleanup(func() {
				if err := st.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
					t.Errorf("close store: %v", err)
				}
			})
			c.fn(t, &harness{store: st, clock: clock})
		})
	}
}

type testCase struct {
	name string
	fn   func(t *testing.T, h *harness)
}

// cases is the suite, one entry per behaviour. It is a table, not state:
// nothing writes to it.
var cases = []testCase{
	{"EmptyLog", testEmptyLog},
	{"AppendAssignsContiguousOffsets", testAppendOffsets},
	{"AppendRejectsInvalidBatch", testAppendInvalid},
	{"ReadEveryOffset", testReadEveryOffset},
	{"ReadAppendsToDst", testReadAppendsToDst},
	{"ReadAtHighWatermark", testReadAtHighWatermark},
	{"ReadOutOfRange", testReadOutOfRange},
	{"ReadMaxBytesWholeBatches", testReadMaxBytes},
	{"ReadMinOne", testReadMinOne},
	{"MultiSegment", testMultiSegment},
	{"SegmentMsRoll", testSegmentMsRoll},
	{"BatchLargerThanSegment", testLargeBatch},
	{"FindTimestamp", testFindTimestamp},
	{"MaxTimestamp", testMaxTimestamp},
	{"ReopenKeepsEverything", testReopen},
	{"ReopenWithOtherConfig", testReopenOtherConfig},
	{"ClosedLog", testClosedLog},
	{"Watch", testWatch},
	{"WatchNeverBlocksAppend", testWatchNeverBlocks},
	{"Sync", testSync},
	{"ConcurrentAppendAndRead", testConcurrent},
	{"Delete", testDelete},
	{"DeleteRecords", testDeleteRecords},
	{"Retain", testRetain},
	{"PartitionsAreIndependent", testIndependent},
	{"IdempotentProducers", testIdempotent},
	{"Transactions", testTransactions},
}

// harness holds one subtest's store and clock.
type harness struct {
	store storage.Store
	clock *Clock
}

// open opens p and closes it at the end of the test unless the test did.
func (h *harness) open(t *testing.T, p storage.Partition, cfg storage.LogConfig) storage.Log {
	t.Helper()
	l, err := h.store.Open(t.Context(), p, cfg)
	if err != nil {
		t.Fatalf("open %v: %v", p, err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.Errorf("close log %v: %v", p, err)
		}
	})
	return l
}

// stored is a batch as the log should hold it: with its base offset.
type stored struct {
	base, last int64
	ts         int64
	b          []byte
}

// appendAll appends each batch and checks the offset it got, that the base
// offset was written into the caller's bytes, and the log's offsets after.
func appendAll(t *testing.T, l storage.Log, bs ...[]byte) []stored {
	t.Helper()
	out := make([]stored, 0, len(bs))
	for _, b := range bs {
		want := l.NextOffset()
		size := l.Size()
		base, err := l.Append(t.Context(), b)
		if err != nil {
			t.Fatalf("append at %d: %v", want, err)
		}
		h, err := batch.Check(b)
		if err != nil {
			t.Fatalf("batch after append: %v", err)
		}
		if base != want || h.BaseOffset != base {
			t.Fatalf("append: got base %d, base offset in batch %d; want %d", base, h.BaseOffset, want)
		}
		if got := l.NextOffset(); got != h.NextOffset() {
			t.Fatalf("NextOffset after append = %d, want %d", got, h.NextOffset())
		}
		if got := l.Size(); got != size+int64(len(b)) {
			t.Fatalf("Size after append = %d, want %d", got, size+int64(len(b)))
		}
		out = append(out, stored{base: base, last: h.LastOffset(), ts: h.MaxTimestamp, b: bytes.Clone(b)})
	}
	// The high watermark covers the batches once they are durable.
	if err := l.Sync(t.Context()); err != nil {
		t.Fatalf("sync after appends: %v", err)
	}
	return out
}

// split cuts a read result into batches, checking each.
func split(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		h, err := batch.Parse(b)
		if err != nil {
			t.Fatalf("read returned a bad batch at byte %d of the result: %v", len(out), err)
		}
		out = append(out, b[:h.Size()])
		b = b[h.Size():]
	}
	return out
}

// indexOf returns the index in all of the batch holding offset.
func indexOf(all []stored, offset int64) int {
	for i, s := range all {
		if s.base <= offset && offset <= s.last {
			return i
		}
	}
	return -1
}

// checkRead checks that got is a run of whole batches equal to all[first:],
// in order, and returns how many there are.
func checkRead(t *testing.T, got []byte, all []stored, first int) int {
	t.Helper()
	bs := split(t, got)
	if first+len(bs) > len(all) {
		t.Fatalf("read returned %d batches from index %d; the log has %d", len(bs), first, len(all))
	}
	for i, b := range bs {
		if want := all[first+i]; !bytes.Equal(b, want.b) {
			h, _ := batch.ReadHeader(b)
			t.Fatalf("batch %d of the read: got base %d (%d bytes), want batch at %d (%d bytes)",
				i, h.BaseOffset, len(b), want.base, len(want.b))
		}
	}
	return len(bs)
}

// readAll reads the whole log from its start batch by batch run and checks
// it equals all.
func readAll(t *testing.T, l storage.Log, all []stored) {
	t.Helper()
	if got := l.HighWatermark(); len(all) > 0 && got != all[len(all)-1].last+1 {
		t.Fatalf("HighWatermark = %d, want %d", got, all[len(all)-1].last+1)
	}
	off, i := l.LogStartOffset(), 0
	for off < l.HighWatermark() {
		got, err := l.Read(t.Context(), off, 1<<20, true, nil)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		n := checkRead(t, got, all, i)
		if n == 0 {
			t.Fatalf("read at %d below the high watermark %d returned nothing", off, l.HighWatermark())
		}
		i += n
		off = all[i-1].last + 1
	}
	if i != len(all) {
		t.Fatalf("read %d batches, want %d", i, len(all))
	}
}

// makeBatches makes n batches of varied sizes and record counts, with
// timestamps from ts.
func makeBatches(n int, ts func(i int) int64) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = MakeBatch(1+i%4, 10+(i*37)%300, ts(i))
	}
	return out
}

func seqTS(i int) int64 { return 1_000_000 + int64(i) }

func part(topic string, p int32) storage.Partition {
	return storage.Partition{Topic: topic, Partition: p}
}
