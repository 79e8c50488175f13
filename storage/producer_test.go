package storage

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
)

func hdr(pid int64, epoch int16, seq int32, records int32, base int64) batch.Header {
	return batch.Header{ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: records - 1, BaseOffset: base, MaxTimestamp: 1000}
}

func TestProducerState(t *testing.T) {
	var s ProducerState
	next := int64(0)
	add := func(h batch.Header) {
		t.Helper()
		if _, err := s.Check(&h); err != nil {
			t.Fatalf("Check(%+v): %v", h, err)
		}
		h.BaseOffset = next
		next = h.NextOffset()
		s.Update(&h, -1)
	}
	wantErr := func(h batch.Header, want error) {
		t.Helper()
		if _, err := s.Check(&h); !errors.Is(err, want) {
			t.Fatalf("Check(%+v) = %v, want %v", h, err, want)
		}
	}

	// A new producer must start at sequence 0.
	wantErr(hdr(7, 0, 5, 1, 0), ErrUnknownProducerID)
	add(hdr(7, 0, 0, 3, 0))    // offsets 0-2, seqs 0-2
	add(hdr(7, 0, 3, 2, 0))    // offsets 3-4, seqs 3-4
	add(hdr(-1, -1, -1, 4, 0)) // not idempotent: always passes
	add(hdr(8, 0, 0, 1, 0))    // another producer

	// Retries of the last batches are duplicates with their first offset.
	for _, c := range []struct {
		h    batch.Header
		want int64
	}{{hdr(7, 0, 0, 3, 0), 0}, {hdr(7, 0, 3, 2, 0), 3}} {
		off, err := s.Check(&c.h)
		if !errors.Is(err, ErrDuplicateBatch) || off != c.want {
			t.Fatalf("retry %+v: (%d, %v), want (%d, duplicate)", c.h, off, err, c.want)
		}
	}
	wantErr(hdr(7, 0, 6, 1, 0), ErrOutOfOrderSequence) // gap
	wantErr(hdr(7, 0, 4, 1, 0), ErrOutOfOrderSequence) // overlaps, not a known batch
	wantErr(hdr(7, 0, 1, 2, 0), ErrOutOfOrderSequence)

	// Only the last MaxProducerBatches are kept.
	for i := range int32(MaxProducerBatches) {
		add(hdr(7, 0, 5+i, 1, 0))
	}
	wantErr(hdr(7, 0, 3, 2, 0), ErrOutOfOrderSequence)

	// A new epoch starts at 0; older epochs are fenced.
	wantErr(hdr(7, 1, 10, 1, 0), ErrOutOfOrderSequence)
	add(hdr(7, 1, 0, 1, 0))
	wantErr(hdr(7, 0, 10, 1, 0), ErrInvalidProducerEpoch)
	add(hdr(7, 1, 1, 1, 0))

	// Sequences wrap after MaxInt32.
	add(hdr(9, 0, 0, 1, 0))
	s.m[9].Batches[0].LastSeq = math.MaxInt32 - 1
	add(hdr(9, 0, math.MaxInt32, 3, 0))
	if got := s.m[9].Batches[1].LastSeq; got != 1 {
		t.Fatalf("wrapped last sequence %d, want 1", got)
	}
	add(hdr(9, 0, 2, 1, 0))

	// Control batches pass and keep no sequence.
	ctl := hdr(7, 1, -1, 1, 0)
	ctl.Attributes = batch.AttrControl
	add(ctl)
	add(hdr(7, 1, 2, 1, 0))

	// Snapshot round trip.
	enc := s.AppendSnapshot(nil, next)
	got, at, err := ParseSnapshot(enc)
	if err != nil || at != next {
		t.Fatalf("ParseSnapshot: %v, offset %d want %d", err, at, next)
	}
	if again := got.AppendSnapshot(nil, next); string(again) != string(enc) {
		t.Fatal("snapshot does not round-trip")
	}
	enc[len(enc)/2] ^= 1
	if _, _, err := ParseSnapshot(enc); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("flipped bit: %v", err)
	}

	// Expiry by the last batch's timestamp.
	if n := s.Expire(1000+10, 10); n != s.Len()+n || s.Len() != 0 {
		t.Fatalf("expired %d, %d left", n, s.Len())
	}
}

func FuzzParseSnapshot(f *testing.F) {
	var s ProducerState
	h := hdr(3, 2, 0, 4, 10)
	s.Update(&h, -1)
	f.Add(s.AppendSnapshot(nil, 14))
	f.Add((&ProducerState{}).AppendSnapshot(nil, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, at, err := ParseSnapshot(b)
		if err != nil {
			return
		}
		again := st.AppendSnapshot(nil, at)
		if b[4] == snapshotVersion && string(again) != string(b) {
			t.Fatalf("accepted snapshot does not re-encode to itself")
		}
		st2, at2, err := ParseSnapshot(again)
		if err != nil || at2 != at || string(st2.AppendSnapshot(nil, at2)) != string(again) {
			t.Fatalf("re-encoded snapshot does not round-trip: %v", err)
		}
	})
}

func TestProducerStateTransactions(t *testing.T) {
	var s ProducerState
	txn := func(pid int64, seq int32, base int64) {
		t.Helper()
		h := hdr(pid, 0, seq, 1, base)
		h.Attributes = batch.AttrTransactional
		if _, err := s.Check(&h); err != nil {
			t.Fatal(err)
		}
		s.Update(&h, -1)
	}
	marker := func(pid int64, typ int16, at int64) {
		h := hdr(pid, 0, -1, 1, at)
		h.Attributes = batch.AttrTransactional | batch.AttrControl
		s.Update(&h, typ)
	}
	txn(5, 0, 10)
	txn(5, 1, 11)
	txn(6, 0, 12)
	if got := s.FirstUnstableOffset(); got != 10 {
		t.Fatalf("first unstable %d, want 10", got)
	}
	if n := s.Expire(1<<40, 1); n != 0 {
		t.Fatalf("expired %d producers with open transactions", n)
	}
	marker(5, batch.ControlCommit, 13)
	if got := s.FirstUnstableOffset(); got != 12 {
		t.Fatalf("first unstable %d after the commit, want 12", got)
	}
	enc := s.AppendSnapshot(nil, 14)
	marker(6, batch.ControlAbort, 14)
	if got := s.FirstUnstableOffset(); got != -1 {
		t.Fatalf("first unstable %d with none open", got)
	}
	want := []AbortedTxn{{ProducerID: 6, FirstOffset: 12, LastOffset: 14}}
	if got := s.Aborted(); !slices.Equal(got, want) {
		t.Fatalf("aborted %v, want %v", got, want)
	}
	// A second marker for a transaction already ended changes nothing.
	marker(6, batch.ControlAbort, 15)
	if got := s.Aborted(); len(got) != 1 {
		t.Fatalf("aborted %v after a repeated marker", got)
	}
	// Snapshots keep open transactions and aborted ones.
	got, at, err := ParseSnapshot(enc)
	if err != nil || at != 14 || got.FirstUnstableOffset() != 12 {
		t.Fatalf("snapshot with an open transaction: first unstable %d, %v", got.FirstUnstableOffset(), err)
	}
	got, _, err = ParseSnapshot(s.AppendSnapshot(nil, 16))
	if err != nil || !slices.Equal(got.Aborted(), want) || got.FirstUnstableOffset() != -1 {
		t.Fatalf("snapshot with an aborted transaction: %v, %v", got.Aborted(), err)
	}
	s.TrimAborted(15)
	if len(s.Aborted()) != 0 {
		t.Fatalf("trim left %v", s.Aborted())
	}
}
