package storagetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

func testAppendOffsets(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	var bs [][]byte
	for i, records := range []int{1, 3, 2, 5, 1, 1, 7} {
		b := MakeBatch(records, 20, int64(i))
		batch.SetBaseOffset(b, 999_999) // whatever the producer sent is overwritten
		bs = append(bs, b)
	}
	all := appendAll(t, l, bs...)
	wantBases := []int64{0, 1, 4, 6, 11, 12, 13}
	for i, s := range all {
		if s.base != wantBases[i] {
			t.Errorf("batch %d: base %d, want %d", i, s.base, wantBases[i])
		}
	}
	if got := l.NextOffset(); got != 20 {
		t.Errorf("NextOffset = %d, want 20", got)
	}
	if got := l.HighWatermark(); got != 20 {
		t.Errorf("HighWatermark = %d, want 20", got)
	}
	if got := l.LogStartOffset(); got != 0 {
		t.Errorf("LogStartOffset = %d, want 0", got)
	}
	readAll(t, l, all)
}

func testAppendInvalid(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	good := MakeBatch(2, 10, 1)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"Nil", nil},
		{"Short", good[:10]},
		{"HeaderOnly", good[:batch.HeaderSize]},
		{"Truncated", good[:len(good)-1]},
		{"TrailingBytes", append(bytes.Clone(good), 0)},
		{"TwoBatches", append(bytes.Clone(good), good...)},
	} {
		if _, err := l.Append(t.Context(), tc.b); !errors.Is(err, storage.ErrInvalidBatch) {
			t.Errorf("%s: Append error = %v, want ErrInvalidBatch", tc.name, err)
		}
	}
	if l.NextOffset() != 0 || l.Size() != 0 {
		t.Fatalf("after rejected appends: NextOffset %d, Size %d; want 0, 0", l.NextOffset(), l.Size())
	}
	// A batch refused is the client's fault: the log stays online.
	if err := l.Offline(); err != nil {
		t.Fatalf("after rejected appends: Offline() = %v, want nil", err)
	}
	readAll(t, l, appendAll(t, l, good))
}

func testSegmentMsRoll(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentMs: 1000, IndexIntervalBytes: 100}
	p := part("t", 0)
	l := h.open(t, p, cfg)
	var all []stored
	for i := range 12 {
		all = append(all, appendAll(t, l, makeBatches(3, func(j int) int64 { return int64(i*3 + j) })...)...)
		h.clock.Advance(1001 * time.Millisecond) // the next append rolls
	}
	readAll(t, l, all)
	for off := int64(0); off < l.HighWatermark(); off++ {
		got, err := l.Read(t.Context(), off, 1<<20, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		if checkRead(t, got, all, indexOf(all, off)) == 0 {
			t.Fatalf("Read(%d) returned nothing", off)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = h.open(t, p, cfg)
	readAll(t, l, all)
	all = append(all, appendAll(t, l, makeBatches(2, seqTS)...)...)
	readAll(t, l, all)
}

func testReopen(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 3000, IndexIntervalBytes: 200}
	p := part("t", 3)
	l := h.open(t, p, cfg)
	all := appendAll(t, l, makeBatches(50, seqTS)...)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	start, hw, next, size := l.LogStartOffset(), l.HighWatermark(), l.NextOffset(), l.Size()
	for round := range 3 {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = h.open(t, p, cfg)
		if l.LogStartOffset() != start || l.HighWatermark() != hw || l.NextOffset() != next || l.Size() != size {
			t.Fatalf("round %d: reopened with start %d, HW %d, next %d, size %d; want %d, %d, %d, %d", round,
				l.LogStartOffset(), l.HighWatermark(), l.NextOffset(), l.Size(), start, hw, next, size)
		}
		readAll(t, l, all)
		all = append(all, appendAll(t, l, makeBatches(7, seqTS)...)...)
		readAll(t, l, all)
		start, hw, next, size = l.LogStartOffset(), l.HighWatermark(), l.NextOffset(), l.Size()
	}
}

func testReopenOtherConfig(t *testing.T, h *harness) {
	p := part("t", 0)
	cfgs := []storage.LogConfig{
		{SegmentBytes: 2000, IndexIntervalBytes: 100},
		{SegmentBytes: 700, IndexIntervalBytes: 1},
		{},
		{SegmentBytes: 5000, IndexIntervalBytes: 3000},
	}
	var all []stored
	for _, cfg := range cfgs {
		l := h.open(t, p, cfg)
		readAll(t, l, all)
		all = append(all, appendAll(t, l, makeBatches(20, seqTS)...)...)
		readAll(t, l, all)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func testClosedLog(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	appendAll(t, l, makeBatches(3, seqTS)...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for name, f := range map[string]func() error{
		"Append":        func() error { _, err := l.Append(ctx, MakeBatch(1, 1, 1)); return err },
		"Read":          func() error { _, err := l.Read(ctx, 0, 100, true, nil); return err },
		"FindTimestamp": func() error { _, err := l.FindTimestamp(ctx, 0, nil); return err },
		"MaxTimestamp":  func() error { _, err := l.MaxTimestamp(ctx, nil); return err },
		"Sync":          func() error { return l.Sync(ctx) },
		"Close":         l.Close,
	} {
		if err := f(); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close: error %v, want ErrClosed", name, err)
		}
	}
}

func testWatch(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	l.Watch(a)
	l.Watch(b)
	// After Sync returns, the high watermark covers the batch, so the
	// signal has been sent: no waiting on the clock.
	appendAndSync := func() {
		t.Helper()
		if _, err := l.Append(t.Context(), MakeBatch(1, 5, 1)); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	pending := func(ch chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	appendAndSync()
	if !pending(a) || !pending(b) {
		t.Fatal("watchers not signalled after an append")
	}
	appendAndSync()
	appendAndSync() // a buffer of one takes both
	if !pending(a) || !pending(b) {
		t.Fatal("watchers not signalled after two appends")
	}
	l.Unwatch(a)
	appendAndSync()
	if pending(a) {
		t.Fatal("unwatched channel signalled")
	}
	if !pending(b) {
		t.Fatal("remaining watcher not signalled")
	}
	l.Unwatch(b)
	l.Unwatch(b) // unknown channel: no-op
	appendAndSync()
	if pending(b) {
		t.Fatal("unwatched channel signalled")
	}
}

func testWatchNeverBlocks(t *testing.T, h *harness) {
	l := h.open(t, part("t", 0), storage.LogConfig{})
	l.Watch(make(chan struct{}))    // nobody receives
	l.Watch(make(chan struct{}, 1)) // fills after one
	all := appendAll(t, l, makeBatches(10, seqTS)...)
	readAll(t, l, all)
}

func testSync(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 1000}
	l := h.open(t, part("t", 0), cfg)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatalf("Sync on an empty log: %v", err)
	}
	all := appendAll(t, l, makeBatches(10, seqTS)...)
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	readAll(t, l, all)

	// Many concurrent callers, some while appends roll segments.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() { errs <- l.Sync(t.Context()) })
		wg.Go(func() {
			_, err := l.Append(t.Context(), MakeBatch(1, 100, int64(i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := l.HighWatermark(); got != l.NextOffset() {
		t.Fatalf("after Sync: HighWatermark %d, NextOffset %d", got, l.NextOffset())
	}

	// SyncTo covers the batches below its offset.
	base, err := l.Append(t.Context(), MakeBatch(3, 50, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), MakeBatch(2, 50, 2)); err != nil {
		t.Fatal(err)
	}
	if err := l.SyncTo(t.Context(), base+3); err != nil {
		t.Fatal(err)
	}
	if got := l.HighWatermark(); got < base+3 {
		t.Fatalf("after SyncTo(%d): HighWatermark %d", base+3, got)
	}
	if err := l.SyncTo(t.Context(), base); err != nil {
		t.Fatalf("SyncTo below the high watermark: %v", err)
	}
}

func testConcurrent(t *testing.T, h *harness) {
	const writers, perWriter, readers = 4, 150, 3
	cfg := storage.LogConfig{SegmentBytes: 8 << 10, IndexIntervalBytes: 512}
	l := h.open(t, part("t", 0), cfg)
	ctx := t.Context()

	errc := make(chan error, writers+readers+2)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if _, err := l.Append(ctx, MakeBatch(1+i%3, 50+(i*13)%400, int64(w*1_000_000+i))); err != nil {
					errc <- err
					return
				}
				if i%50 == 0 {
					if err := l.Sync(ctx); err != nil {
						errc <- err
						return
					}
				}
			}
		})
	}
	// Readers at random offsets check what they get is a run of whole,
	// contiguous batches starting at or before the offset asked for.
	var rwg sync.WaitGroup
	for r := range readers {
		rwg.Go(func() {
			buf := make([]byte, 0, 64<<10)
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				hw := l.HighWatermark()
				if hw == 0 {
					continue
				}
				off := int64((i*7919 + r*104729) % int(hw))
				got, err := l.Read(ctx, off, 32<<10, i%2 == 0, buf[:0])
				if err != nil {
					errc <- fmt.Errorf("read %d: %w", off, err)
					return
				}
				if err := checkRun(got, off); err != nil {
					errc <- fmt.Errorf("read %d: %w", off, err)
					return
				}
			}
		})
	}
	// A tailing reader follows the log with Watch, as a long poll does.
	rwg.Go(func() {
		ch := make(chan struct{}, 1)
		l.Watch(ch)
		defer l.Unwatch(ch)
		var off int64
		for {
			got, err := l.Read(ctx, off, 16<<10, true, nil)
			if err != nil {
				errc <- fmt.Errorf("tail read %d: %w", off, err)
				return
			}
			if len(got) == 0 {
				select {
				case <-ch:
				case <-done:
					if off >= l.HighWatermark() {
						return
					}
				}
				continue
			}
			if err := checkRun(got, off); err != nil {
				errc <- fmt.Errorf("tail read %d: %w", off, err)
				return
			}
			for len(got) > 0 {
				hd, _ := batch.ReadHeader(got)
				off = hd.NextOffset()
				got = got[hd.Size():]
			}
		}
	})
	wg.Wait()
	// Everything appended becomes readable once durable; the tailing
	// reader then catches up before it stops.
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	close(done)
	rwg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	// Every batch is there exactly once, in each writer's order.
	seen := make(map[int64]bool)
	next := make([]int64, writers)
	var off int64
	for off < l.HighWatermark() {
		got, err := l.Read(ctx, off, 1<<20, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range split(t, got) {
			hd, _ := batch.ReadHeader(b)
			if hd.BaseOffset != off {
				t.Fatalf("batch at %d, want %d", hd.BaseOffset, off)
			}
			w, i := hd.MaxTimestamp/1_000_000, hd.MaxTimestamp%1_000_000
			if seen[hd.MaxTimestamp] || i != next[w] {
				t.Fatalf("writer %d's batch %d at offset %d, want its batch %d", w, i, off, next[w])
			}
			seen[hd.MaxTimestamp] = true
			next[w]++
			off = hd.NextOffset()
		}
	}
	if len(seen) != writers*perWriter {
		t.Fatalf("log holds %d batches, want %d", len(seen), writers*perWriter)
	}
}

// checkRun checks that b is whole, valid batches with contiguous offsets,
// the first holding offset.
func checkRun(b []byte, offset int64) error {
	if len(b) == 0 {
		return errors.New("nothing read below the high watermark")
	}
	next := int64(-1)
	for len(b) > 0 {
		hd, err := batch.Parse(b)
		if err != nil {
			return err
		}
		if next < 0 && (hd.BaseOffset > offset || hd.LastOffset() < offset) {
			return fmt.Errorf("first batch holds [%d, %d]", hd.BaseOffset, hd.LastOffset())
		}
		if next >= 0 && hd.BaseOffset != next {
			return fmt.Errorf("batch at %d follows one ending before %d", hd.BaseOffset, next)
		}
		next = hd.NextOffset()
		b = b[hd.Size():]
	}
	return nil
}

func testDelete(t *testing.T, h *harness) {
	p, sibling := part("t", 0), part("t", 1)
	if err := h.store.Delete(t.Context(), p); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Delete of a log never opened: %v, want ErrNotFound", err)
	}
	cfg := storage.LogConfig{SegmentBytes: 1000}
	l := h.open(t, p, cfg)
	appendAll(t, l, makeBatches(20, seqTS)...)
	ls := h.open(t, sibling, cfg)
	kept := appendAll(t, ls, makeBatches(3, seqTS)...)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Delete(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := h.store.Delete(t.Context(), p); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	l = h.open(t, p, cfg)
	if l.NextOffset() != 0 || l.HighWatermark() != 0 || l.Size() != 0 || l.LogStartOffset() != 0 {
		t.Fatalf("log after Delete: next %d, HW %d, size %d, start %d; want empty",
			l.NextOffset(), l.HighWatermark(), l.Size(), l.LogStartOffset())
	}
	readAll(t, l, appendAll(t, l, makeBatches(2, seqTS)...))
	readAll(t, ls, kept)
}

func testIndependent(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 1500}
	ps := []storage.Partition{part("a", 0), part("a", 1), part("b", 0), part("a.b_c-D", 7)}
	logs := make([]storage.Log, len(ps))
	alls := make([][]stored, len(ps))
	for i, p := range ps {
		logs[i] = h.open(t, p, cfg)
	}
	for round := range 5 {
		for i, l := range logs {
			alls[i] = append(alls[i], appendAll(t, l, makeBatches(1+(round+i)%3, seqTS)...)...)
		}
	}
	for i, l := range logs {
		readAll(t, l, alls[i])
	}
}
