package fs

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs/errorfs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// nurseryLog opens p in f's store with the settler held, so that the log
// stays in the nursery until the test settles it.
func nurseryLog(t *testing.T, f *fixture, p storage.Partition, cfg storage.LogConfig) *Log {
	t.Helper()
	f.st.nursery.hold.Store(true)
	l := f.open(p, cfg)
	if l.nursery == nil {
		t.Fatal("a new partition did not open in the nursery")
	}
	return l
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func journalSize(t *testing.T, f *fixture) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(f.dir, nurseryName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// readAll reads every batch of l from offset 0.
func readAll(t *testing.T, l storage.Log) []byte {
	t.Helper()
	b, err := l.Read(t.Context(), 0, 1<<20, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crashReopen abandons l as a crash would, starts the store again (its
// replay) and opens p there; the test closes it.
func crashReopen(t *testing.T, f *fixture, l *Log, p storage.Partition) *Log {
	t.Helper()
	l.abandon()
	f.newStore()
	l2 := f.open(p, storage.LogConfig{})
	t.Cleanup(func() { _ = l2.Close() })
	return l2
}

// checkAll fails unless l holds exactly the batches want.
func checkAll(t *testing.T, l storage.Log, want [][]byte, when string) {
	t.Helper()
	if got, w := readAll(t, l), bytes.Join(want, nil); !bytes.Equal(got, w) {
		t.Fatalf("%s: read %d bytes, want %d", when, len(got), len(w))
	}
}

// A new partition makes nothing on disk until it settles: its batches are
// durable in the journal, read back from memory, and after a crash
// replayed into its segment file.
func TestNurseryCrashBeforeSettle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "new", Partition: 7}
	l := nurseryLog(t, f, p, storage.LogConfig{})
	want := appendN(t, l, 3, seq)
	next := l.NextOffset()
	if exists(f.partDir(p)) || exists(filepath.Join(f.dir, p.Topic)) {
		t.Fatal("a partition in the nursery made its directory")
	}
	if journalSize(t, f) == 0 {
		t.Fatal("a synced nursery log left the journal empty")
	}
	checkAll(t, l, want, "from the nursery")
	l.abandon()
	f.newStore()
	if !exists(filepath.Join(f.partDir(p), segmentName(0, extLog))) {
		t.Fatal("the replay made no segment file")
	}
	if n := journalSize(t, f); n != 0 {
		t.Fatalf("the journal holds %d bytes after its replay", n)
	}
	l2 := f.open(p, storage.LogConfig{})
	defer mustClose(t, l2)
	if l2.nursery != nil {
		t.Fatal("a replayed partition opened in the nursery")
	}
	checkAll(t, l2, want, "after the replay")
	if l2.NextOffset() != next || l2.HighWatermark() != next {
		t.Fatalf("next %d, high watermark %d after the replay; want %d", l2.NextOffset(), l2.HighWatermark(), next)
	}
}

// The settler moves a partition to its directory: the same bytes, durable
// there, the journal cut; appends go on to the real file.
func TestNurserySettles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "new"}
	l := f.open(p, storage.LogConfig{})
	want := appendN(t, l, 3, seq)
	deadline := time.Now().Add(10 * time.Second)
	for !l.nursery.settled.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the partition did not settle within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	seg, err := os.ReadFile(filepath.Join(f.partDir(p), segmentName(0, extLog)))
	if err != nil || !bytes.Equal(seg, bytes.Join(want, nil)) {
		t.Fatalf("segment file after settling: %d bytes, %v; want %d", len(seg), err, len(bytes.Join(want, nil)))
	}
	if n := journalSize(t, f); n != 0 {
		t.Fatalf("the journal holds %d bytes with every partition settled", n)
	}
	want = append(want, appendN(t, l, 2, seq)...)
	if n := journalSize(t, f); n != 0 {
		t.Fatalf("a settled log wrote %d bytes to the journal", n)
	}
	checkAll(t, crashReopen(t, f, l, p), want, "after a crash")
}

// A crash after the settler's switch and before its settled record: the
// journal's bytes are written over the same bytes in the segment file, and
// what a commit round fsynced there after the switch is kept.
func TestNurseryReplayKeepsTail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "new"}
	l := nurseryLog(t, f, p, storage.LogConfig{})
	want := appendN(t, l, 2, seq)
	journal, err := os.ReadFile(filepath.Join(f.dir, nurseryName))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.settle(); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendN(t, l, 2, seq)...)
	l.abandon()
	// The settled record lost: the journal as it was before settling.
	if err := os.WriteFile(filepath.Join(f.dir, nurseryName), journal, 0o644); err != nil {
		t.Fatal(err)
	}
	f.newStore()
	l2 := f.open(p, storage.LogConfig{})
	t.Cleanup(func() { _ = l2.Close() })
	checkAll(t, l2, want, "after the replay")
}

// A log closed empty in the nursery leaves nothing on disk; one closed with
// batches settles in Close and opens from its directory.
func TestNurseryClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	empty, full := storage.Partition{Topic: "e"}, storage.Partition{Topic: "f", Partition: 2}
	e := nurseryLog(t, f, empty, storage.LogConfig{})
	e.ckptMu.Lock()
	err := e.writeCheckpoint() // the checkpoint loop's tick
	e.ckptMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, e)
	if exists(f.partDir(empty)) || exists(filepath.Join(f.dir, empty.Topic)) {
		t.Fatal("a checkpoint and Close of an empty log in the nursery made its directory")
	}
	l := nurseryLog(t, f, full, storage.LogConfig{})
	want := appendN(t, l, 2, seq)
	mustClose(t, l)
	if !l.nursery.settled.Load() {
		t.Fatal("Close left the log in the nursery")
	}
	if n := journalSize(t, f); n != 0 {
		t.Fatalf("the journal holds %d bytes after the only log closed", n)
	}
	l2 := f.open(full, storage.LogConfig{})
	defer mustClose(t, l2)
	if l2.nursery != nil {
		t.Fatal("a closed log reopened in the nursery")
	}
	checkAll(t, l2, want, "after reopening")
}

// A roll settles the log first (the new segment goes in its directory), as
// does an append past nurseryLogMax.
func TestNurserySettlesToRoll(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "r"}
	l := nurseryLog(t, f, p, storage.LogConfig{SegmentBytes: 300})
	defer mustClose(t, l)
	appendN(t, l, 4, seq)
	if !l.nursery.settled.Load() || len(f.files(p, extLog)) < 2 {
		t.Fatalf("after rolls: settled %v, segment files %v", l.nursery.settled.Load(), f.files(p, extLog))
	}
	q := storage.Partition{Topic: "big"}
	big := nurseryLog(t, f, q, storage.LogConfig{})
	defer mustClose(t, big)
	for big.Size() <= nurseryLogMax {
		appendN(t, big, 1, seq)
	}
	appendN(t, big, 1, seq)
	if !big.nursery.settled.Load() {
		t.Fatalf("a nursery log of %d bytes did not settle", big.Size())
	}
}

// A round of many new partitions makes them durable with one fsync, the
// journal's.
func TestNurseryOneFsyncARound(t *testing.T) {
	t.Parallel()
	var rules errorfs.Rules
	dir := t.TempDir()
	st := faultStore(t, dir, &rules, Options{})
	st.nursery.hold.Store(true)
	m0 := rules.Count(errorfs.OpMkdir)
	var logs []storage.Log
	for i := range int32(200) {
		l, err := st.Open(t.Context(), storage.Partition{Topic: "many", Partition: i}, storage.LogConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); err != nil {
			t.Fatal(err)
		}
		logs = append(logs, l)
	}
	before, mkdirs := rules.Count(errorfs.OpSyncData)+rules.Count(errorfs.OpSync), rules.Count(errorfs.OpMkdir)-m0
	for _, l := range logs {
		if err := l.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := rules.Count(errorfs.OpSyncData) + rules.Count(errorfs.OpSync) - before; n > 2 {
		t.Errorf("200 new partitions' first batches took %d fsyncs", n)
	}
	if mkdirs != 0 {
		t.Errorf("200 new partitions made %d directories before they settled", mkdirs)
	}
}

// A journal whose fsync fails takes the round's nursery logs offline; they
// heal by settling into their directories, without what was not durable.
func TestNurseryJournalFsyncFails(t *testing.T) {
	t.Parallel()
	var rules errorfs.Rules
	dir := t.TempDir()
	st := faultStore(t, dir, &rules, Options{})
	st.nursery.hold.Store(true)
	p := storage.Partition{Topic: "j"}
	l, err := st.Open(t.Context(), p, storage.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	want := appendN(t, l, 2, seq)
	rules.Add(errorfs.Rule{Kind: errorfs.OpSyncData, Path: nurseryName, Err: syscall.EIO, Times: 1})
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(2, 40, 5)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(t.Context()); err == nil {
		t.Fatal("Sync over a failed journal fsync succeeded")
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Offline() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("still offline after 10 s: %v", l.Offline())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !exists(filepath.Join(dir, p.Topic, "0", segmentName(0, extLog))) {
		t.Fatal("the healed log has no segment file")
	}
	want = append(want, appendN(t, l, 1, seq)...)
	got := readAll(t, l)
	// The batch whose fsync failed is gone: an empty batch holds its offset.
	if !bytes.HasPrefix(got, bytes.Join(want[:2], nil)) || !bytes.HasSuffix(got, want[2]) {
		t.Fatalf("read %d bytes after healing", len(got))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
