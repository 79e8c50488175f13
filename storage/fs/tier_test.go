package fs

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
	"github.com/streamhouse/streamhouse/storage/fs/vfs/errorfs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// filledLog opens partition t-0 of a new store with segBytes segments and
// appends n batches of 2 records of 200 bytes, synced; both close when the
// test ends.
func filledLog(t *testing.T, segBytes int64, n int) (*Store, *Log) {
	t.Helper()
	st, err := New(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lg, err := st.Open(t.Context(), storage.Partition{Topic: "t", Partition: 0}, storage.LogConfig{SegmentBytes: segBytes})
	if err != nil {
		t.Fatal(err)
	}
	l := lg.(*Log)
	t.Cleanup(func() { l.Close() })
	now := time.Now().UnixMilli()
	for range n {
		if _, err := l.Append(t.Context(), storagetest.MakeBatch(2, 200, now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st, l
}

// TestTierHooks: what tiered storage asks of a local log: its closed
// segments and their content, retention that never goes past a limit, and
// a new log that starts at an offset.
func TestTierHooks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, l := filledLog(t, 1024, 20)
	now := time.Now().UnixMilli()
	closed := l.ClosedSegments()
	if len(closed) < 3 {
		t.Fatalf("ClosedSegments = %+v, want several at 1 KiB segments", closed)
	}
	for i, s := range closed {
		if s.Next <= s.Base || (i > 0 && s.Base != closed[i-1].Next) || s.Size == 0 {
			t.Fatalf("segment %d = %+v", i, s)
		}
		d, err := l.SegmentData(s.Base)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.NewSectionReader(d.Log, 0, d.Info.Size))
		if err != nil || int64(len(b)) != s.Size {
			t.Fatalf("segment %d: read %d bytes (%v), want %d", i, len(b), err, s.Size)
		}
		d.Release()
	}
	if _, err := l.SegmentData(closed[len(closed)-1].Next + 100); err == nil {
		t.Error("SegmentData of no segment succeeded")
	}
	// Everything is older than 1 ms by now: retention removes only what
	// is below the limit.
	time.Sleep(5 * time.Millisecond)
	n, err := l.RetainBelow(ctx, storage.RetentionPolicy{Now: time.Now(), Ms: 1, Bytes: -1}, closed[1].Next)
	if err != nil || n != 2 || l.LogStartOffset() != closed[2].Base {
		t.Fatalf("RetainBelow = %d, %v; log start %d, want 2 segments gone and the start at %d", n, err, l.LogStartOffset(), closed[2].Base)
	}

	// A new log starts where it is told.
	lg2, err := st.Open(ctx, storage.Partition{Topic: "t", Partition: 1}, storage.LogConfig{InitialOffset: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer lg2.Close()
	if lg2.LogStartOffset() != 1000 || lg2.NextOffset() != 1000 {
		t.Fatalf("new log at 1000: start %d, next %d", lg2.LogStartOffset(), lg2.NextOffset())
	}
	if base, err := lg2.Append(ctx, storagetest.MakeBatch(1, 10, now)); err != nil || base != 1000 {
		t.Fatalf("first append of a log at 1000: %d, %v", base, err)
	}
}

// TestStaggerFirstRoll: with StaggerFirstRoll the first segment of each
// partition rolls at its own point below segment.bytes, and the segments
// after it at segment.bytes, so that partitions filled at one rate close
// their segments at different times; without it every first segment rolls
// at segment.bytes.
func TestStaggerFirstRoll(t *testing.T) {
	t.Parallel()
	st, err := New(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const segBytes = 64 << 10
	batch := storagetest.MakeBatch(1, 900, time.Now().UnixMilli())
	// firstSizes appends the same batches to partitions 0-5 of a topic and
	// returns the size of each one's first two segments.
	firstSizes := func(topic string, stagger bool) [][2]int64 {
		var out [][2]int64
		for p := range int32(6) {
			lg, err := st.Open(t.Context(), storage.Partition{Topic: topic, TopicID: [16]byte{byte(len(topic))}, Partition: p},
				storage.LogConfig{SegmentBytes: segBytes, StaggerFirstRoll: stagger})
			if err != nil {
				t.Fatal(err)
			}
			for range 3 * segBytes / len(batch) {
				if _, err := lg.Append(t.Context(), bytes.Clone(batch)); err != nil {
					t.Fatal(err)
				}
			}
			closed := lg.(*Log).ClosedSegments()
			if len(closed) < 2 {
				t.Fatalf("partition %d: %d closed segments", p, len(closed))
			}
			out = append(out, [2]int64{closed[0].Size, closed[1].Size})
			lg.Close()
		}
		return out
	}
	full := int64(segBytes / len(batch) * len(batch)) // what a segment of whole batches holds
	for p, s := range firstSizes("plain", false) {
		if s[0] != full || s[1] != full {
			t.Errorf("without stagger, partition %d's first segments hold %v bytes, want %d", p, s, full)
		}
	}
	seen := map[int64]bool{}
	for p, s := range firstSizes("staggered", true) {
		if s[0] < segBytes/16-int64(len(batch)) || s[0] > full || s[1] != full {
			t.Errorf("staggered, partition %d's first segments hold %v bytes, want the first in [%d, %d] and the second %d", p, s, segBytes/16, full, full)
		}
		seen[s[0]/int64(len(batch))] = true
	}
	if len(seen) < 5 {
		t.Errorf("staggered first segments of 6 partitions end at only %d different points", len(seen))
	}
}

// TestRetentionDoesNotBlockAppends: retention fsyncs the checkpoint and
// removes the segments' files without holding the append lock, so a
// producer is not held up by a slow disk under it: with the checkpoint's
// rename held, an append to the same log goes through.
func TestRetentionDoesNotBlockAppends(t *testing.T) {
	t.Parallel()
	var armed atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if armed.Load() && op.Kind == errorfs.OpRename && strings.HasSuffix(op.Path, checkpointName+extTmp) {
			once.Do(func() { close(held) })
			<-release
		}
		return nil
	})
	st, err := New(t.TempDir(), Options{FS: errorfs.Wrap(vfs.Default, inj), NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lg, err := st.Open(t.Context(), storage.Partition{Topic: "t"}, storage.LogConfig{SegmentBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	for range 20 {
		if _, err := lg.Append(t.Context(), storagetest.MakeBatch(2, 150, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if a := lg.(*Log).ActiveSegment(); a.Size+100 > 1024 {
		t.Fatalf("the active segment holds %d bytes: the next append would roll (and a roll waits for the checkpoint)", a.Size)
	}
	armed.Store(true)
	retained := make(chan error, 1)
	go func() {
		_, err := lg.Retain(t.Context(), storage.RetentionPolicy{Now: time.Now(), Ms: -1, Bytes: 1})
		retained <- err
	}()
	<-held
	appended := make(chan error, 1)
	go func() {
		_, err := lg.Append(t.Context(), storagetest.MakeBatch(1, 10, 0))
		appended <- err
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // a bound for a broken test, not a speed claim
		close(release)
		t.Fatal("an append waited for retention's checkpoint")
	}
	close(release)
	if err := <-retained; err != nil {
		t.Fatal(err)
	}
	if start := lg.LogStartOffset(); start == 0 {
		t.Fatalf("retention removed nothing: log start %d", start)
	}
}

// TestActiveData: the active segment's durable bytes read while it is
// appended to are the start of the segment once it closes.
func TestActiveData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, l := filledLog(t, 4096, 5)
	now := time.Now().UnixMilli()
	a, err := l.ActiveData()
	if err != nil {
		t.Fatal(err)
	}
	if act := l.ActiveSegment(); a.Info.Base != act.Base || a.Info.Size != act.Size || a.Info.Next != act.Next || a.Info.Size == 0 {
		t.Fatalf("ActiveData = %+v after a sync, want the whole active segment %+v", a.Info, act)
	}
	early, err := io.ReadAll(io.NewSectionReader(a.Log, 0, a.Info.Size))
	if err != nil {
		t.Fatal(err)
	}
	for l.ActiveSegment().Base == a.Info.Base {
		if _, err := l.Append(ctx, storagetest.MakeBatch(2, 200, now)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	d, err := l.SegmentData(a.Info.Base)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Release()
	whole, err := io.ReadAll(io.NewSectionReader(d.Log, 0, d.Info.Size))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(whole, early) || len(whole) <= len(early) {
		t.Fatalf("the closed segment (%d bytes) does not start with the %d bytes read while it was active", len(whole), len(early))
	}
}
