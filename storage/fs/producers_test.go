package fs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// idem appends the idempotent batch of producer 1 at epoch 0 starting at
// seq and returns its base offset.
func idem(t *testing.T, l storage.Log, seq int32) int64 {
	t.Helper()
	base, err := l.Append(t.Context(), storagetest.MakeIdempotentBatch(2, 300, int64(seq), 1, 0, seq))
	if err != nil {
		t.Fatalf("append seq %d: %v", seq, err)
	}
	return base
}

func wantDuplicate(t *testing.T, l storage.Log, seq int32, base int64) {
	t.Helper()
	got, err := l.Append(t.Context(), storagetest.MakeIdempotentBatch(2, 300, int64(seq), 1, 0, seq))
	if !errors.Is(err, storage.ErrDuplicateBatch) || got != base {
		t.Fatalf("retry of seq %d: (%d, %v), want (%d, ErrDuplicateBatch)", seq, got, err, base)
	}
}

// After a crash, the producer state is the checkpoint's snapshot plus the
// batches after it, replayed from the log.
func TestProducerStateSnapshotAndReplay(t *testing.T) {
	f := newFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, smallCfg)
	for seq := int32(0); seq < 20; seq += 2 {
		idem(t, l, seq)
	}
	mustClose(t, l) // checkpoint with the snapshot at the end
	ckpt := filepath.Join(f.partDir(p), checkpointName)
	old, err := os.ReadFile(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(old), "\nproducers ") || strings.Contains(string(old), "producers none") {
		t.Fatalf("checkpoint without a producer snapshot:\n%s", old)
	}

	f.newStore()
	l = f.open(p, smallCfg)
	bases := map[int32]int64{}
	for seq := int32(20); seq < 40; seq += 2 { // rolls segments
		bases[seq] = idem(t, l, seq)
	}
	mustClose(t, l)
	// A crash after these appends: the checkpoint is the old one, the
	// batches after it are on disk.
	if err := os.WriteFile(ckpt, old, 0o644); err != nil {
		t.Fatal(err)
	}
	f.newStore()
	f.resetLogs()
	l = f.open(p, smallCfg)
	for seq := int32(40 - 2*storage.MaxProducerBatches); seq < 40; seq += 2 {
		wantDuplicate(t, l, seq, bases[seq])
	}
	if strings.Contains(f.logged(), "replaying the whole log") || strings.Contains(f.logged(), "no producer snapshot") {
		t.Fatalf("recovery did not use the snapshot:\n%s", f.logged())
	}
	idem(t, l, 40)
	mustClose(t, l)

	// Without a checkpoint (a log written before snapshots existed) the
	// whole log is replayed.
	f.dropCheckpoint(p)
	f.newStore()
	l = f.open(p, smallCfg)
	wantDuplicate(t, l, 40, l.NextOffset()-2)
	mustClose(t, l)
}

// A batch lost to a torn tail is not remembered: its retry is appended.
func TestProducerStateTornTail(t *testing.T) {
	f := newFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, smallCfg)
	for seq := int32(0); seq < 6; seq += 2 {
		idem(t, l, seq)
	}
	mustClose(t, l)
	f.dropCheckpoint(p)
	path := f.lastSegment(p)
	if err := os.Truncate(path, fileSize(t, path)-1); err != nil {
		t.Fatal(err)
	}
	f.newStore()
	l = f.open(p, smallCfg)
	next := l.NextOffset()
	if base := idem(t, l, 4); base != next {
		t.Fatalf("retry of the cut batch got offset %d, want %d (appended again)", base, next)
	}
	wantDuplicate(t, l, 4, next)
	mustClose(t, l)
}

func TestCheckpointVersion1(t *testing.T) {
	c, err := parseCheckpoint([]byte("streamhouse-checkpoint 1\nrecovery-point 5 0 300\nlog-start-offset 2\n"))
	if err != nil || c.next != 5 || c.pos != 300 || c.start != 2 || c.pids != "" {
		t.Fatalf("version 1: %+v, %v", c, err)
	}
	c, err = parseCheckpoint([]byte("streamhouse-checkpoint 2\nrecovery-point 5 0 300\nlog-start-offset 2\nproducers none\n"))
	if err != nil || c.next != 5 || c.cleaned != 0 || c.gaps != 0 {
		t.Fatalf("version 2: %+v, %v", c, err)
	}
	c2 := checkpoint{next: 9, segBase: 4, pos: 10, start: 1, pids: "AAAA", cleaned: 7, gaps: 8}
	if got, err := parseCheckpoint(c2.encode()); err != nil || got != c2 {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	c2.pids = ""
	if got, err := parseCheckpoint(c2.encode()); err != nil || got != c2 {
		t.Fatalf("round trip without producers: %+v, %v", got, err)
	}
}

func FuzzCheckpoint(f *testing.F) {
	f.Add([]byte("streamhouse-checkpoint 1\nrecovery-point 5 0 300\nlog-start-offset 2\n"))
	f.Add(checkpoint{next: 9, segBase: 4, pos: 10, start: 1, pids: "AAAA"}.encode())
	f.Add([]byte("streamhouse-checkpoint 2\nrecovery-point 5 0 300\nlog-start-offset 2\nproducers none\n"))
	f.Add(checkpoint{next: 9, segBase: 4, pos: 10, start: 1, cleaned: 3, gaps: 9}.encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseCheckpoint(b)
		if err != nil {
			return
		}
		if c.next < c.segBase || c.start < 0 {
			t.Fatalf("accepted an inconsistent checkpoint %+v", c)
		}
		if again, err := parseCheckpoint(c.encode()); err != nil || again != c {
			t.Fatalf("re-encoding %+v: %+v, %v", c, again, err)
		}
	})
}

// Without a snapshot, the replay finds open and aborted transactions in
// the log (markers included).
func TestTransactionsReplayed(t *testing.T) {
	f := newFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, smallCfg)
	app := func(b []byte) int64 {
		t.Helper()
		base, err := l.Append(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	first := app(storagetest.MakeTxnBatch(2, 300, 0, 3, 0, 0))
	app(storagetest.MakeTxnBatch(2, 300, 0, 3, 0, 2))
	marker := app(batch.MakeControl(batch.ControlAbort, 3, 0, 0, 0))
	open := app(storagetest.MakeTxnBatch(2, 300, 0, 4, 0, 0))
	mustClose(t, l)
	f.dropCheckpoint(p)
	f.newStore()
	l = f.open(p, smallCfg)
	want := []storage.AbortedTxn{{ProducerID: 3, FirstOffset: first, LastOffset: marker}}
	if got := l.AbortedTransactions(0, l.NextOffset()); !slices.Equal(got, want) {
		t.Fatalf("aborted after replay %v, want %v", got, want)
	}
	if got := l.LastStableOffset(); got != open {
		t.Fatalf("LastStableOffset %d after replay, want %d", got, open)
	}
	mustClose(t, l)
}

// Reconfigure takes effect for the next appends: a smaller segment.bytes
// rolls segments.
func TestReconfigure(t *testing.T) {
	f := newFilesFixture(t)
	p := storage.Partition{Topic: "t"}
	l := f.open(p, storage.LogConfig{SegmentBytes: 1 << 20})
	appendN(t, l, 5, seq)
	if n := len(f.files(p, ".log")); n != 1 {
		t.Fatalf("%d segments before", n)
	}
	l.Reconfigure(storage.LogConfig{SegmentBytes: 600})
	appendN(t, l, 5, seq)
	if n := len(f.files(p, ".log")); n < 4 {
		t.Fatalf("%d segments after segment.bytes went down to 600", n)
	}
	mustClose(t, l)
}
