package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
)

// batches returns n one-record batches from offset from, as a log holds
// them.
func testBatches(from int64, n int) []byte {
	var out []byte
	for i := range n {
		b := batch.Make([]batch.KeyValue{{Key: []byte("k"), Value: fmt.Appendf(nil, "v%d", i)}}, 1)
		batch.SetBaseOffset(b, from+int64(i))
		out = append(out, b...)
	}
	return out
}

func TestSharePartAcquireAck(t *testing.T) {
	sp := &sharePart{loaded: true}
	until := time.Now().Add(time.Minute)
	data, acq := sp.acquireLocked(testBatches(0, 10), acquireOpts{member: "a", maxRecords: 4, limit: 10, maxLocks: 100, until: until})
	if len(acq) != 1 || acq[0].FirstOffset != 0 || acq[0].LastOffset != 3 || acq[0].DeliveryCount != 1 || len(data) == 0 {
		t.Fatalf("acquired %+v", acq)
	}
}

// TestSharePart walks one partition's records through the states.
func TestSharePart(t *testing.T) {
	now := time.Now()
	acquire := func(sp *sharePart, member string, data []byte, max int) []int64 {
		t.Helper()
		_, acq := sp.acquireLocked(data, acquireOpts{member: member, maxRecords: max, limit: 1 << 40, maxLocks: 100, until: now.Add(time.Minute)})
		sp.advanceLocked(0)
		var offs []int64
		for _, a := range acq {
			for o := a.FirstOffset; o <= a.LastOffset; o++ {
				offs = append(offs, o)
			}
		}
		return offs
	}
	t.Run("AcceptAdvances", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		if got := acquire(sp, "a", testBatches(0, 5), 3); len(got) != 3 {
			t.Fatalf("acquired %v", got)
		}
		// b gets the rest, not a's.
		if got := acquire(sp, "b", testBatches(0, 5), 10); len(got) != 2 || got[0] != 3 {
			t.Fatalf("b acquired %v", got)
		}
		if e := sp.ackLocked("b", 0, 0, []int8{ackAccept}, 5, now); e != ackInvalidState {
			t.Fatalf("b acked a's record: %v", e)
		}
		if e := sp.ackLocked("a", 0, 2, []int8{ackAccept, ackReject, ackAccept}, 5, now); e != ackOK {
			t.Fatal(e)
		}
		sp.advanceLocked(0)
		if sp.start != 3 || sp.acquired != 2 {
			t.Fatalf("start %d, %d acquired", sp.start, sp.acquired)
		}
		if e := sp.ackLocked("a", 0, 0, []int8{ackAccept}, 5, now); e != ackInvalidState {
			t.Fatalf("an ack below the start: %v", e)
		}
	})
	t.Run("ReleaseAndDeliveryLimit", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		for round := 1; round <= 3; round++ {
			got := acquire(sp, "a", testBatches(0, 1), 10)
			if len(got) != 1 || sp.recs[0].count != int16(round) {
				t.Fatalf("round %d: acquired %v, count %d", round, got, sp.recs[0].count)
			}
			if e := sp.ackLocked("a", 0, 0, []int8{ackRelease}, 3, now); e != ackOK {
				t.Fatal(e)
			}
			sp.advanceLocked(0)
		}
		// Released a third time with a limit of 3: archived, done.
		if sp.start != 1 || len(sp.recs) != 0 {
			t.Fatalf("after 3 deliveries: start %d, %d in flight", sp.start, len(sp.recs))
		}
	})
	t.Run("LockExpiry", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		acquire(sp, "a", testBatches(0, 2), 10)
		released, next := sp.expireLocked(now.Add(30*time.Second), 5)
		if released || next.IsZero() {
			t.Fatalf("before the locks end: released %v, next %v", released, next)
		}
		released, next = sp.expireLocked(now.Add(2*time.Minute), 5)
		if !released || !next.IsZero() || sp.acquired != 0 {
			t.Fatalf("after: released %v, next %v, %d acquired", released, next, sp.acquired)
		}
		if got := acquire(sp, "b", testBatches(0, 2), 10); len(got) != 2 || sp.recs[0].count != 2 {
			t.Fatalf("b after the expiry: %v", got)
		}
	})
	t.Run("GapsAndControl", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		// Offsets 0-1, then 5 (2-4 compacted away), then a control
		// batch at 6, then 7.
		data := append(testBatches(0, 2), testBatches(5, 1)...)
		ctl := batch.MakeControl(batch.ControlCommit, 1, 0, 0, 1)
		batch.SetBaseOffset(ctl, 6)
		data = append(data, ctl...)
		data = append(data, testBatches(7, 1)...)
		got := acquire(sp, "a", data, 10)
		if fmt.Sprint(got) != "[0 1 5 7]" {
			t.Fatalf("acquired %v", got)
		}
		for _, off := range []int64{0, 1, 5, 7} {
			if e := sp.ackLocked("a", off, off, []int8{ackAccept}, 5, now); e != ackOK {
				t.Fatalf("ack %d: %v", off, e)
			}
		}
		sp.advanceLocked(0)
		if sp.start != 8 || len(sp.recs) != 0 {
			t.Fatalf("start %d, %d in flight; want 8, 0", sp.start, len(sp.recs))
		}
	})
	t.Run("RecordLimitMode", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		// One batch of 5 records: batch_optimized takes it whole,
		// record_limit stops at the limit.
		b := batch.Make([]batch.KeyValue{{Value: []byte("a")}, {Value: []byte("b")}, {Value: []byte("c")}, {Value: []byte("d")}, {Value: []byte("e")}}, 1)
		_, acq := sp.acquireLocked(b, acquireOpts{member: "a", maxRecords: 2, strict: true, limit: 100, maxLocks: 100, until: now.Add(time.Minute)})
		if len(acq) != 1 || acq[0].FirstOffset != 0 || acq[0].LastOffset != 1 {
			t.Fatalf("record_limit acquired %+v", acq)
		}
		_, acq = sp.acquireLocked(b, acquireOpts{member: "b", maxRecords: 2, limit: 100, maxLocks: 100, until: now.Add(time.Minute)})
		if len(acq) != 1 || acq[0].FirstOffset != 2 || acq[0].LastOffset != 4 {
			t.Fatalf("batch_optimized acquired %+v", acq)
		}
	})
	t.Run("ReadSize", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		if n := sp.readSizeLocked(500, 1<<20); n != 1<<20 {
			t.Fatalf("first read %d bytes, want the limit", n)
		}
		// Compressed: 1,000 records in 50 KB.
		sp.sawReadLocked(50_000, 1000)
		if n := sp.readSizeLocked(500, 1<<20); n != 64<<10 {
			t.Fatalf("read %d bytes for 500 records of 50 bytes, want the floor of 64 KiB", n)
		}
		// 1 KiB records: 500 take 640 KB with the margin.
		sp.perRecord = 0
		sp.sawReadLocked(1<<20, 1000)
		if n := sp.readSizeLocked(500, 1<<20); n != 500*1048*5/4 {
			t.Fatalf("read %d bytes for 500 records of 1 KiB", n)
		}
	})
	t.Run("WindowLimit", func(t *testing.T) {
		sp := &sharePart{loaded: true}
		_, acq := sp.acquireLocked(testBatches(0, 10), acquireOpts{member: "a", maxRecords: 100, limit: 100, maxLocks: 4, until: now.Add(time.Minute)})
		if len(acq) != 1 || acq[0].LastOffset != 3 {
			t.Fatalf("acquired %+v with a window of 4", acq)
		}
	})
	t.Run("StoredStateRoundTrip", func(t *testing.T) {
		sp := &sharePart{group: "g", partition: 3, loaded: true}
		acquire(sp, "a", testBatches(0, 6), 10)
		sp.ackLocked("a", 1, 1, []int8{ackAccept}, 5, now)
		sp.ackLocked("a", 2, 2, []int8{ackReject}, 5, now)
		sp.ackLocked("a", 3, 3, []int8{ackRelease}, 5, now)
		st := sp.stateLocked(now)
		var back sharePart
		back.loadLocked(st)
		if back.start != 0 || len(back.recs) != 6 || back.acquired != 0 {
			t.Fatalf("loaded start %d, %d in flight, %d acquired", back.start, len(back.recs), back.acquired)
		}
		want := []recState{recAvailable, recAcked, recArchived, recAvailable, recAvailable, recAvailable}
		for i, r := range back.recs {
			if r.state != want[i] || r.count != 1 {
				t.Errorf("offset %d: %v (count %d), want %v", i, r.state, r.count, want[i])
			}
		}
		// Acquired records come back available: redelivered.
		if got := acquire(&back, "b", testBatches(0, 6), 10); fmt.Sprint(got) != "[0 3 4 5]" {
			t.Fatalf("redelivered after the load: %v", got)
		}
	})
}
