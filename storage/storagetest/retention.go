package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

func testDeleteRecords(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 2000, IndexIntervalBytes: 100}
	p := part("t", 0)
	l := h.open(t, p, cfg)
	all := appendAll(t, l, makeBatches(40, seqTS)...)
	ctx := t.Context()
	hw := l.HighWatermark()
	if _, err := l.DeleteRecords(ctx, hw+1); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("DeleteRecords above the high watermark: %v, want ErrOffsetOutOfRange", err)
	}
	// Mid-batch, a few segments in.
	i := len(all) / 2
	target := all[i].base + (all[i].last-all[i].base)/2
	if all[i].last > all[i].base {
		target = all[i].base + 1
	}
	size := l.Size()
	got, err := l.DeleteRecords(ctx, target)
	if err != nil || got != target || l.LogStartOffset() != target {
		t.Fatalf("DeleteRecords(%d) = %d, %v; start %d", target, got, err, l.LogStartOffset())
	}
	if l.Size() >= size {
		t.Errorf("size %d after DeleteRecords, was %d: no segment removed", l.Size(), size)
	}
	if _, err := l.Read(ctx, target-1, 1<<20, true, nil); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v, want ErrOffsetOutOfRange", err)
	}
	b, err := l.Read(ctx, target, 1<<20, true, nil)
	if err != nil || checkRead(t, b, all, i) == 0 {
		t.Fatalf("read at the new start: %d bytes, %v", len(b), err)
	}
	// Lower: nothing changes.
	if got, err := l.DeleteRecords(ctx, target-1); err != nil || got != target {
		t.Fatalf("DeleteRecords below the start = %d, %v; want %d, nil", got, err, target)
	}
	// The start survives a reopen.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = h.open(t, p, cfg)
	if l.LogStartOffset() != target || l.HighWatermark() != hw {
		t.Fatalf("reopened: start %d, HW %d; want %d, %d", l.LogStartOffset(), l.HighWatermark(), target, hw)
	}
	// Everything: start at the high watermark, the log goes on.
	if got, err := l.DeleteRecords(ctx, hw); err != nil || got != hw {
		t.Fatalf("DeleteRecords(HW) = %d, %v", got, err)
	}
	more := appendAll(t, l, makeBatches(3, seqTS)...)
	if more[0].base != hw {
		t.Fatalf("append after deleting everything at %d, want %d", more[0].base, hw)
	}
}

func testRetain(t *testing.T, h *harness) {
	cfg := storage.LogConfig{SegmentBytes: 2000, IndexIntervalBytes: 100}
	ctx := t.Context()
	now := h.clock.Now()

	// By bytes: what stays is at least Bytes.
	l := h.open(t, part("bytes", 0), cfg)
	appendAll(t, l, makeBatches(60, seqTS)...)
	const keep = 5000
	n, err := l.Retain(ctx, storage.RetentionPolicy{Now: now, Ms: -1, Bytes: keep})
	if err != nil || n == 0 {
		t.Fatalf("Retain by bytes: %d segments, %v", n, err)
	}
	if l.Size() < keep || l.Size() > keep+2*cfg.SegmentBytes {
		t.Fatalf("size %d after retaining %d bytes", l.Size(), keep)
	}
	start := l.LogStartOffset()
	if start == 0 {
		t.Fatal("log start did not move")
	}
	if _, err := l.Read(ctx, start-1, 100, true, nil); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	if n, err := l.Retain(ctx, storage.RetentionPolicy{Now: now, Ms: -1, Bytes: keep}); err != nil || n != 0 {
		t.Fatalf("second Retain: %d, %v; want 0", n, err)
	}

	// By time: batches with timestamps in the past go; the active segment
	// stays whatever its age.
	l = h.open(t, part("time", 0), cfg)
	old := now.Add(-time.Hour).UnixMilli()
	appendAll(t, l, makeBatches(60, func(i int) int64 { return old + int64(i) })...)
	hw := l.HighWatermark()
	n, err = l.Retain(ctx, storage.RetentionPolicy{Now: now, Ms: int64(time.Minute / time.Millisecond), Bytes: -1})
	if err != nil || n == 0 {
		t.Fatalf("Retain by time: %d, %v", n, err)
	}
	if l.LogStartOffset() >= hw || l.Size() == 0 {
		t.Fatalf("retention took the active segment: start %d, HW %d, size %d", l.LogStartOffset(), hw, l.Size())
	}
	// Nothing is old under a long limit.
	l = h.open(t, part("young", 0), cfg)
	appendAll(t, l, makeBatches(60, func(i int) int64 { return now.UnixMilli() })...)
	if n, err := l.Retain(ctx, storage.RetentionPolicy{Now: now, Ms: int64(time.Hour / time.Millisecond), Bytes: -1}); err != nil || n != 0 {
		t.Fatalf("Retain of young data: %d, %v; want 0", n, err)
	}
}
