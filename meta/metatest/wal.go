package metatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

func testWAL(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	id := NewTopicID(t)
	e1, err := c.RegisterBroker(ctx, registration(1), longSession)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := c.RegisterBroker(ctx, registration(2), longSession)
	if err != nil {
		t.Fatal(err)
	}
	lease := func(p int32, node int32, epoch int64) meta.Lease {
		t.Helper()
		l, err := c.AcquireLease(ctx, meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: p}, node, epoch)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l0, l1 := lease(0, 1, e1), lease(1, 1, e1)
	run := func(p int32, epoch int32, base, next int64, obj string, pos int64) meta.WALBatch {
		return meta.WALBatch{TopicID: id, Partition: p, LeaderEpoch: epoch, BaseOffset: base, NextOffset: next,
			Object: obj, Position: pos, Size: (next - base) * 10, MaxTimestamp: 1000 + next}
	}
	if end, err := c.WALEnd(ctx, id, 0); err != nil || end != 0 {
		t.Fatalf("WALEnd of a new partition = %d, %v", end, err)
	}
	// One object, two partitions: both commit.
	first := []meta.WALBatch{run(0, l0.Epoch, 0, 5, "wal/1", 0), run(1, l1.Epoch, 0, 3, "wal/1", 50)}
	if failed, err := c.CommitWAL(ctx, 1, e1, first); err != nil || len(failed) != 0 {
		t.Fatalf("CommitWAL = %v, %v", failed, err)
	}
	// A run not at the end, one at a stale leader epoch, one by a node
	// that does not hold the lease: none commit; the good one does.
	second := []meta.WALBatch{run(0, l0.Epoch, 4, 9, "wal/2", 0), run(1, l1.Epoch+1, 3, 6, "wal/2", 50)}
	if failed, err := c.CommitWAL(ctx, 1, e1, second); err != nil || !slices.Equal(failed, []int{0, 1}) {
		t.Fatalf("CommitWAL of a run off the end and one at a stale epoch = failed %v, %v; want both", failed, err)
	}
	if failed, err := c.CommitWAL(ctx, 2, e2, []meta.WALBatch{run(0, l0.Epoch, 5, 9, "wal/3", 0)}); err != nil || !slices.Equal(failed, []int{0}) {
		t.Fatalf("CommitWAL by a broker without the lease = failed %v, %v", failed, err)
	}
	third := []meta.WALBatch{run(0, l0.Epoch, 5, 9, "wal/4", 0), run(1, l1.Epoch, 3, 4, "wal/4", 40)}
	if failed, err := c.CommitWAL(ctx, 1, e1, third); err != nil || len(failed) != 0 {
		t.Fatalf("CommitWAL = %v, %v", failed, err)
	}
	if end, err := c.WALEnd(ctx, id, 0); err != nil || end != 9 {
		t.Fatalf("WALEnd = %d, %v; want 9", end, err)
	}
	got, err := c.WALBatches(ctx, id, 0, 0)
	if err != nil || !slices.Equal(got, []meta.WALBatch{first[0], third[0]}) {
		t.Fatalf("WALBatches(0) = %+v, %v", got, err)
	}
	if got, err := c.WALBatches(ctx, id, 0, 5); err != nil || !slices.Equal(got, []meta.WALBatch{third[0]}) {
		t.Fatalf("WALBatches from 5 = %+v, %v", got, err)
	}

	// The lease moves to broker 2: broker 1's commits fail, 2's start at
	// the end.
	if err := c.ReleaseLease(ctx, l0.Key, 1, l0.Epoch); err != nil {
		t.Fatal(err)
	}
	l0b := lease(0, 2, e2)
	if failed, err := c.CommitWAL(ctx, 1, e1, []meta.WALBatch{run(0, l0.Epoch, 9, 10, "wal/5", 0)}); err != nil || len(failed) != 1 {
		t.Fatalf("CommitWAL by the deposed leader = failed %v, %v", failed, err)
	}
	if failed, err := c.CommitWAL(ctx, 2, e2, []meta.WALBatch{run(0, l0b.Epoch, 9, 12, "wal/6", 0)}); err != nil || len(failed) != 0 {
		t.Fatalf("CommitWAL by the new leader = failed %v, %v", failed, err)
	}
	// A session that is gone commits nothing.
	if err := c.DeregisterBroker(ctx, 1, e1); err != nil {
		t.Fatal(err)
	}
	if failed, err := c.CommitWAL(ctx, 1, e1, []meta.WALBatch{run(1, l1.Epoch, 4, 5, "wal/7", 0)}); err != nil || len(failed) != 1 {
		t.Fatalf("CommitWAL by a deregistered broker = failed %v, %v", failed, err)
	}

	// SetWALEnd only moves up.
	if err := c.SetWALEnd(ctx, id, 3, 100); err != nil {
		t.Fatal(err)
	}
	if err := c.SetWALEnd(ctx, id, 3, 50); err != nil {
		t.Fatal(err)
	}
	if end, err := c.WALEnd(ctx, id, 3); err != nil || end != 100 {
		t.Fatalf("WALEnd after SetWALEnd 100 then 50 = %d, %v", end, err)
	}

	// Trimmed runs go; objects none names are unreferenced once old
	// enough (the failed ones' objects too: nothing names them).
	if err := c.TrimWAL(ctx, id, 0, 9); err != nil {
		t.Fatal(err)
	}
	if got, err := c.WALBatches(ctx, id, 0, 0); err != nil || len(got) != 1 || got[0].Object != "wal/6" {
		t.Fatalf("WALBatches after TrimWAL(9) = %+v, %v", got, err)
	}
	if objs, err := c.UnreferencedWALObjects(ctx, time.Now().Add(-time.Hour)); err != nil || len(objs) != 0 {
		t.Fatalf("UnreferencedWALObjects older than an hour = %v, %v", objs, err)
	}
	objs, err := c.UnreferencedWALObjects(ctx, time.Now().Add(time.Minute))
	if want := []string{"wal/2", "wal/3", "wal/5", "wal/7"}; err != nil || !slices.Equal(objs, want) {
		t.Fatalf("UnreferencedWALObjects = %v, %v; want %v (wal/1 and wal/4 still hold partition 1's runs)", objs, err, want)
	}
	if err := c.ForgetWALObjects(ctx, objs); err != nil {
		t.Fatal(err)
	}
	if objs, err := c.UnreferencedWALObjects(ctx, time.Now().Add(time.Minute)); err != nil || len(objs) != 0 {
		t.Fatalf("UnreferencedWALObjects after Forget = %v, %v", objs, err)
	}
	if _, err := c.CommitWAL(ctx, 2, e2, nil); err != nil && !errors.Is(err, meta.ErrConflict) {
		t.Fatalf("CommitWAL of nothing: %v", err)
	}
	// A deleted partition has no runs and starts again at 0.
	if err := c.DeleteWAL(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if end, err := c.WALEnd(ctx, id, 0); err != nil || end != 0 {
		t.Fatalf("WALEnd after DeleteWAL = %d, %v", end, err)
	}
	if got, err := c.WALBatches(ctx, id, 0, 0); err != nil || len(got) != 0 {
		t.Fatalf("WALBatches after DeleteWAL = %+v, %v", got, err)
	}
}

// testSharedWALRace: two leaders of one partition (the lease moved between
// them) commit at once: only the lease holder's runs are recorded, and the
// offsets stay contiguous.
func testSharedWALRace(t *testing.T, a, b meta.Catalog) {
	ctx := t.Context()
	ea, err := a.RegisterBroker(ctx, registration(1), longSession)
	if err != nil {
		t.Fatal(err)
	}
	eb, err := b.RegisterBroker(ctx, registration(2), longSession)
	if err != nil {
		t.Fatal(err)
	}
	id := NewTopicID(t)
	key := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 0}
	la, err := a.AcquireLease(ctx, key, 1, ea)
	if err != nil {
		t.Fatal(err)
	}
	parallel(2, func(i int) {
		if i == 0 {
			// The old leader keeps committing one offset at a time.
			for next := int64(1); next <= 50; next++ {
				failed, err := a.CommitWAL(ctx, 1, ea, []meta.WALBatch{{TopicID: id, LeaderEpoch: la.Epoch, BaseOffset: next - 1, NextOffset: next, Object: "a", Size: 1}})
				if err != nil {
					t.Error(err)
					return
				}
				if len(failed) > 0 {
					return
				}
			}
			return
		}
		// The other takes the lease over and commits from the end.
		time.Sleep(5 * time.Millisecond)
		if err := a.ReleaseLease(ctx, key, 1, la.Epoch); err != nil {
			t.Error(err)
			return
		}
		// A commit under the lease in flight makes the takeover
		// ErrConflict (the lease row busy): taken again, as the
		// leadership does at its next round.
		var lb meta.Lease
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; {
			lb, err = b.AcquireLease(ctx, key, 2, eb)
			if !errors.Is(err, meta.ErrConflict) || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if err != nil {
			t.Error(err)
			return
		}
		end, err := b.WALEnd(ctx, id, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if failed, err := b.CommitWAL(ctx, 2, eb, []meta.WALBatch{{TopicID: id, LeaderEpoch: lb.Epoch, BaseOffset: end, NextOffset: end + 10, Object: "b", Size: 10}}); err != nil || len(failed) != 0 {
			t.Errorf("the new leader's commit at the end it read (%d): failed %v, %v", end, failed, err)
		}
	})
	runs, err := a.WALBatches(ctx, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	for _, r := range runs {
		if r.BaseOffset != next {
			t.Fatalf("runs not contiguous at %d: %+v", next, runs)
		}
		next = r.NextOffset
	}
	if last := runs[len(runs)-1]; last.Object != "b" {
		t.Fatalf("the last run is %+v, want the new leader's", last)
	}
}
