package storagetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
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
	if ap := l.ActiveProducers(); len(ap) != 2 || ap[0].ID != pid || ap[0].LastSequence != 23 || ap[1].ID != pid+1 || ap[1].Epoch != 3 || ap[0].TxnStartOffset != -1 {
		t.Fatalf("ActiveProducers = %+v", ap)
	}
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

// testTransactions: open transactions hold the last stable offset back,
// markers end them, aborted ones are listed; all of it survives a reopen.
func testTransactions(t *testing.T, h *harness) {
	p := part("t", 0)
	cfg := storage.LogConfig{SegmentBytes: 2000}
	l := h.open(t, p, cfg)
	app := func(b []byte) int64 {
		t.Helper()
		base, err := l.Append(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	sync := func() {
		t.Helper()
		if err := l.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	app(MakeBatch(2, 10, 0))
	a0 := app(MakeTxnBatch(2, 300, 0, 10, 0, 0)) // producer 10: aborted later
	app(MakeBatch(1, 10, 0))
	c0 := app(MakeTxnBatch(1, 300, 0, 11, 0, 0)) // producer 11: committed later
	app(MakeTxnBatch(3, 300, 0, 10, 0, 2))
	sync()
	if got := l.LastStableOffset(); got != a0 {
		t.Fatalf("LastStableOffset %d with two open transactions, want %d", got, a0)
	}
	abortAt := app(batch.MakeControl(batch.ControlAbort, 10, 0, 0, 0))
	sync()
	if got := l.LastStableOffset(); got != c0 {
		t.Fatalf("LastStableOffset %d after the abort, want %d", got, c0)
	}
	app(batch.MakeControl(batch.ControlCommit, 11, 0, 0, 0))
	sync()
	if got, hw := l.LastStableOffset(), l.HighWatermark(); got != hw {
		t.Fatalf("LastStableOffset %d with none open, want the high watermark %d", got, hw)
	}
	open := app(MakeTxnBatch(1, 10, 0, 12, 0, 0)) // stays open across the reopen
	sync()
	want := []storage.AbortedTxn{{ProducerID: 10, FirstOffset: a0, LastOffset: abortAt}}
	check := func(l storage.Log) {
		t.Helper()
		if got := l.AbortedTransactions(0, l.HighWatermark()); !slices.Equal(got, want) {
			t.Fatalf("AbortedTransactions = %v, want %v", got, want)
		}
		if got := l.AbortedTransactions(abortAt+1, l.HighWatermark()); len(got) != 0 {
			t.Fatalf("AbortedTransactions after the marker = %v", got)
		}
		if got := l.AbortedTransactions(0, a0); len(got) != 0 {
			t.Fatalf("AbortedTransactions before the transaction = %v", got)
		}
		if got := l.AbortedTransactions(abortAt, abortAt+1); !slices.Equal(got, want) {
			t.Fatalf("AbortedTransactions at the marker = %v", got)
		}
		if got := l.LastStableOffset(); got != open {
			t.Fatalf("LastStableOffset %d, want %d (the open transaction)", got, open)
		}
	}
	check(l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = h.open(t, p, cfg)
	check(l)
	app = func(b []byte) int64 {
		t.Helper()
		base, err := l.Append(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	app(batch.MakeControl(batch.ControlCommit, 12, 0, 0, 0))
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, hw := l.LastStableOffset(), l.HighWatermark(); got != hw {
		t.Fatalf("LastStableOffset %d after the last commit, want %d", got, hw)
	}
}
