package storage

import (
	"errors"
	"math"
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
		s.Update(&h)
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
	s.Update(&h)
	f.Add(s.AppendSnapshot(nil, 14))
	f.Add((&ProducerState{}).AppendSnapshot(nil, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, at, err := ParseSnapshot(b)
		if err != nil {
			return
		}
		if again := st.AppendSnapshot(nil, at); string(again) != string(b) {
			t.Fatalf("accepted snapshot does not re-encode to itself")
		}
	})
}
