package storagetest

import (
	"errors"
	"testing"

	"github.com/streamhouse/streamhouse/storage"
)

// testIdempotent: a log checks the sequences of idempotent producers,
// answers a retry with the offset the batch got, and keeps that state
// across a reopen.
func testIdempotent(t *testing.T, h *harness) {
	p := part("t", 0)
	cfg := storage.LogConfig{SegmentBytes: 2000}
	l := h.open(t, p, cfg)
	const pid = 4711
	bases := make(map[int32]int64) // first sequence -> base offset
	for i := range int32(12) {     // rolls segments
		b := MakeIdempotentBatch(2, 200, int64(i), pid, 0, 2*i)
		base, err := l.Append(t.Context(), b)
		if err != nil {
			t.Fatalf("append seq %d: %v", 2*i, err)
		}
		bases[2*i] = base
		// Interleaved: a plain batch and another producer.
		if _, err := l.Append(t.Context(), MakeBatch(1, 10, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid+1, 3, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	check := func(l storage.Log) {
		t.Helper()
		next := l.NextOffset()
		// The last storage.MaxProducerBatches batches are duplicates.
		for i := int32(12 - storage.MaxProducerBatches); i < 12; i++ {
			base, err := l.Append(t.Context(), MakeIdempotentBatch(2, 200, int64(i), pid, 0, 2*i))
			if !errors.Is(err, storage.ErrDuplicateBatch) || base != bases[2*i] {
				t.Fatalf("retry of seq %d: (%d, %v), want (%d, ErrDuplicateBatch)", 2*i, base, err, bases[2*i])
			}
		}
		for _, c := range []struct {
			b    []byte
			want error
		}{
			{MakeIdempotentBatch(1, 10, 0, pid, 0, 30), storage.ErrOutOfOrderSequence}, // gap
			{MakeIdempotentBatch(1, 10, 0, pid, 0, 2), storage.ErrOutOfOrderSequence},  // old, not kept
			{MakeIdempotentBatch(1, 10, 0, pid+1, 2, 12), storage.ErrInvalidProducerEpoch},
			{MakeIdempotentBatch(1, 10, 0, pid+2, 0, 9), storage.ErrUnknownProducerID},
		} {
			if _, err := l.Append(t.Context(), c.b); !errors.Is(err, c.want) {
				t.Fatalf("append: %v, want %v", err, c.want)
			}
		}
		if got := l.NextOffset(); got != next {
			t.Fatalf("refused appends moved NextOffset from %d to %d", next, got)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = h.open(t, p, cfg)
	check(l)
	// The producer goes on, and a new epoch starts at 0.
	if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid, 0, 24)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid, 1, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid, 0, 25)); !errors.Is(err, storage.ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch after a bump: %v", err)
	}

	// Expiry by the last batch's max timestamp: producer pid+1's last
	// batch has timestamp 0, pid's has 0 too; at 1000 with a maximum age
	// of 1000 both go.
	if n := l.ExpireProducers(999, 1000); n != 0 {
		t.Fatalf("expired %d producers before their time", n)
	}
	if n := l.ExpireProducers(1000, 1000); n != 2 {
		t.Fatalf("expired %d producers, want 2", n)
	}
	if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid, 1, 1)); !errors.Is(err, storage.ErrUnknownProducerID) {
		t.Fatalf("expired producer continuing its sequence: %v, want ErrUnknownProducerID", err)
	}
	if _, err := l.Append(t.Context(), MakeIdempotentBatch(1, 10, 0, pid, 1, 0)); err != nil {
		t.Fatalf("expired producer starting again at 0: %v", err)
	}
}
