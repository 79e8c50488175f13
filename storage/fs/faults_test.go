package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
	"github.com/streamhouse/streamhouse/storage/fs/vfs/errorfs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// Faults injected through errorfs: ENOSPC and EIO at the calls storage/fs
// makes, and what a producer, a reader and the next open see.

// faultStore is a store over an errorfs in a temp dir.
func faultStore(t *testing.T, dir string, rules *errorfs.Rules, opts Options) *Store {
	t.Helper()
	opts.FS = errorfs.Wrap(vfs.Default, rules)
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	st, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// waitOnline waits until the log has healed (Offline is nil), at most 10 s.
func waitOnline(t *testing.T, l storage.Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Offline() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("the log is still offline after 10 s: %v", l.Offline())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reopenPlain closes st and opens the partition again over the operating
// system's file system, as a restart after the fault would.
func reopenPlain(t *testing.T, st *Store, dir string, p storage.Partition) *Log {
	t.Helper()
	_ = st.Close()
	st2, err := New(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st2.Close() })
	l, err := st2.Open(t.Context(), p, storage.LogConfig{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	return l.(*Log)
}

// A write that meets a full file system fails with ErrNoSpace, after part
// of the batch reached the file or none: the part is cut off, the log stays
// online, and the same offset is taken by the next append that has room.
func TestNoSpaceOnWrite(t *testing.T) {
	t.Parallel()
	for _, partial := range []int{0, 30} {
		t.Run(fmt.Sprintf("partial=%d", partial), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var rules errorfs.Rules
			st := faultStore(t, dir, &rules, Options{NoNursery: true})
			p := storage.Partition{Topic: "t"}
			l := openLog(t, st, p, storage.LogConfig{})
			want := appendN(t, l, 3, seq)
			next, size := l.NextOffset(), l.active.size
			r := rules.Add(errorfs.Rule{Kind: errorfs.OpWrite, Path: extLog, Err: syscall.ENOSPC, Partial: partial})
			for range 3 {
				_, err := l.Append(t.Context(), storagetest.MakeBatch(2, 100, 7))
				if !errors.Is(err, storage.ErrNoSpace) || errors.Is(err, storage.ErrIO) {
					t.Fatalf("append on a full disk: %v, want ErrNoSpace only", err)
				}
			}
			if err := l.Offline(); err != nil {
				t.Fatalf("Offline after ENOSPC: %v, want online", err)
			}
			if fi, err := l.active.f.Stat(); err != nil || fi.Size() != size || l.NextOffset() != next {
				t.Fatalf("after the failed appends: file %v bytes (%v), next offset %d; want %d, %d", fi.Size(), err, l.NextOffset(), size, next)
			}
			equalBatches(t, readLog(t, l), want)
			rules.Remove(r)
			want = append(want, appendN(t, l, 2, seq)...)
			equalBatches(t, readLog(t, l), want)
			equalBatches(t, readLog(t, reopenPlain(t, st, dir, p)), want)
		})
	}
}

// openLog opens p in st.
func openLog(t *testing.T, st *Store, p storage.Partition, cfg storage.LogConfig) *Log {
	t.Helper()
	l, err := st.Open(t.Context(), p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Log)
}

// An fsync that fails takes the log offline; it reopens from what is on
// disk by itself. The batches of the failed round are never acknowledged,
// not even by a SyncTo that comes after the log is back, and their offsets
// hold an empty batch; an idempotent producer's retry of a dropped batch is
// stored anew; later appends and a restart see the same log.
func TestFsyncFailureHeals(t *testing.T) {
	t.Parallel()
	for _, errno := range []syscall.Errno{syscall.EIO, syscall.ENOSPC} {
		t.Run(errno.Error(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var rules errorfs.Rules
			st := faultStore(t, dir, &rules, Options{NoNursery: true})
			p := storage.Partition{Topic: "t"}
			l := openLog(t, st, p, storage.LogConfig{})
			const pid = 7
			want := [][]byte{storagetest.MakeIdempotentBatch(2, 50, 1, pid, 0, 0)}
			if _, err := l.Append(t.Context(), want[0]); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			durable := l.NextOffset()

			rules.Add(errorfs.Rule{Kind: errorfs.OpSyncData, Path: extLog, Err: errno, Times: 1})
			// Both appends under HoldCommit: a round the first one
			// started could fail the log before the second is taken.
			held := storage.HoldCommit(t.Context())
			lostBatch := storagetest.MakeIdempotentBatch(3, 50, 2, pid, 0, 2)
			base, err := l.Append(held, lostBatch)
			if err != nil {
				t.Fatal(err)
			}
			target := base + 3
			if _, err := l.Append(held, storagetest.MakeBatch(1, 10, 3)); err != nil {
				t.Fatal(err)
			}
			lost := l.NextOffset()
			if err := l.SyncTo(t.Context(), target); !errors.Is(err, storage.ErrIO) {
				t.Fatalf("SyncTo over a failed fsync: %v, want ErrIO", err)
			}
			if l.HighWatermark() != durable {
				t.Fatalf("high watermark %d after the failed fsync, want %d", l.HighWatermark(), durable)
			}
			waitOnline(t, l)
			// Late waiters for the dropped batches still fail.
			for _, next := range []int64{target, lost} {
				if err := l.SyncTo(t.Context(), next); !errors.Is(err, storage.ErrIO) {
					t.Fatalf("SyncTo(%d) after the log came back: %v, want ErrIO", next, err)
				}
			}
			if l.NextOffset() != lost || l.HighWatermark() != lost {
				t.Fatalf("after healing: next %d, high watermark %d; want both %d", l.NextOffset(), l.HighWatermark(), lost)
			}
			filler := readBatches(t, l, false)[1]
			if h := mustHeader(t, filler); h.BaseOffset != durable || h.NextOffset() != lost || h.RecordCount != 0 {
				t.Fatalf("the dropped offsets hold %+v, want an empty batch over [%d, %d)", h, durable, lost)
			}
			// The producer retries its dropped batch: stored anew, after
			// the empty batch (the producer's state is that of the
			// durable point again).
			retry := storagetest.MakeIdempotentBatch(3, 50, 2, pid, 0, 2)
			if b, err := l.Append(t.Context(), retry); err != nil || b != lost {
				t.Fatalf("the retry of the dropped batch: base %d, %v; want %d, stored", b, err, lost)
			}
			want = append(want, filler, retry)
			if err := l.Sync(t.Context()); err != nil {
				t.Fatalf("Sync after the log came back: %v", err)
			}
			equalBatches(t, readLog(t, l), want)
			equalBatches(t, readLog(t, reopenPlain(t, st, dir, p)), want)
		})
	}
}

// faultScenario is a broker's life in small: a store and a log opened,
// batches appended with small segments (rolls, index files), each waited
// for as an acks=all produce waits (SyncTo of its own end), records
// deleted (a checkpoint), a clean close, and the same again after a
// restart. Every failure is tolerated; what it records is checked after
// the faults are gone.
type faultScenario struct {
	t        *testing.T
	dir      string
	fsys     vfs.FS
	p        storage.Partition
	appended map[int64][][]byte // by base offset: every batch an Append stored there
	acked    map[int64][]byte   // by base offset: batches a SyncTo of their end acknowledged
	ts       int64
}

func newFaultScenario(t *testing.T, fsys vfs.FS) *faultScenario {
	return &faultScenario{t: t, dir: t.TempDir(), fsys: fsys, p: storage.Partition{Topic: "t"},
		appended: map[int64][][]byte{}, acked: map[int64][]byte{}}
}

// run plays the scenario; it returns the first error of each phase, for
// the record. A log that failed must come back by itself.
func (sc *faultScenario) run() {
	for phase := range 2 {
		sc.phase(phase)
	}
}

func (sc *faultScenario) phase(phase int) {
	t := sc.t
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	st, err := New(sc.dir, Options{FS: sc.fsys, Logger: testLogger(t)})
	if err != nil {
		return
	}
	defer st.Close()
	sl, err := st.Open(ctx, sc.p, storage.LogConfig{SegmentBytes: 1500, IndexIntervalBytes: 200})
	if err != nil {
		return
	}
	l := sl.(*Log)
	for i := range 9 {
		if l.Offline() != nil {
			waitOnline(t, l)
		}
		type pending struct {
			base, next int64
			b          []byte
		}
		var ps []pending
		for range 2 {
			sc.ts++
			b := storagetest.MakeBatch(1+int(sc.ts)%3, 150, sc.ts)
			base, err := l.Append(ctx, b)
			if err != nil {
				continue
			}
			h := mustHeader(t, b)
			sc.appended[base] = append(sc.appended[base], b)
			ps = append(ps, pending{base, h.NextOffset(), b})
		}
		for _, q := range ps {
			if err := l.SyncTo(ctx, q.next); err == nil {
				sc.acked[q.base] = q.b
			}
		}
		if i == 5 && phase == 0 {
			_, _ = l.DeleteRecords(ctx, l.HighWatermark()/3)
		}
	}
	if l.Offline() != nil {
		waitOnline(t, l)
	}
	_ = l.Close()
	_ = st.Close()
}

// check opens the log over the operating system's file system, as a
// restart after the faults would: it must open, every batch it holds
// must be one appended at its offset (or the empty batch over offsets an
// I/O failure dropped), and every acknowledged batch from the log start on
// must be there.
func (sc *faultScenario) check() {
	t := sc.t
	st, err := New(sc.dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sl, err := st.Open(t.Context(), sc.p, storage.LogConfig{})
	if err != nil {
		t.Fatalf("open after the faults: %v", err)
	}
	l := sl.(*Log)
	defer l.Close()
	held := map[int64][]byte{}
	for _, b := range readBatches(t, l, true) {
		h := mustHeader(t, b)
		held[h.BaseOffset] = b
		if h.RecordCount == 0 && h.ProducerID < 0 {
			continue // an empty batch over dropped offsets
		}
		if !slices.ContainsFunc(sc.appended[h.BaseOffset], func(a []byte) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("offset %d holds a batch that was never appended there", h.BaseOffset)
		}
	}
	for base, b := range sc.acked {
		if base < l.LogStartOffset() {
			continue
		}
		if !bytes.Equal(held[base], b) {
			t.Fatalf("the batch acknowledged at offset %d is lost (log [%d, %d))", base, l.LogStartOffset(), l.HighWatermark())
		}
	}
}

// TestFaultEveryCall fails one call of the scenario at a time with ENOSPC
// and with EIO: each first, second and last call of each kind on each kind
// of file (segment, index, checkpoint, temporary file, directory, ...).
// Nothing hangs, a log that failed comes back by itself, and after the
// faults every acknowledged batch is there and nothing else is but what
// was appended.
func TestFaultEveryCall(t *testing.T) {
	t.Parallel()
	// A run without faults lists the calls.
	var ops []errorfs.Op
	var mu sync.Mutex
	rec := errorfs.InjectorFunc(func(op errorfs.Op) error {
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
		return nil
	})
	clean := newFaultScenario(t, errorfs.Wrap(vfs.Default, rec))
	clean.run()
	clean.check()
	if len(clean.acked) == 0 {
		t.Fatal("the scenario acknowledged nothing")
	}
	type site struct {
		kind  errorfs.Kind
		class string
	}
	nth := map[site][]int{} // the calls of each site, by their index in ops
	for i, op := range ops {
		s := site{op.Kind, fileClass(op.Path)}
		nth[s] = append(nth[s], i)
	}
	var picks []int
	for _, idx := range nth {
		picks = append(picks, idx[0])
		if len(idx) > 1 {
			picks = append(picks, idx[1])
		}
		if len(idx) > 2 {
			picks = append(picks, idx[len(idx)-1])
		}
	}
	slices.Sort(picks)
	t.Logf("%d calls at %d sites; failing %d of them, with ENOSPC and EIO", len(ops), len(nth), len(picks))
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
		for _, i := range picks {
			op := ops[i]
			t.Run(fmt.Sprintf("%s/%d-%s-%s", errno, i, op.Kind, fileClass(op.Path)), func(t *testing.T) {
				t.Parallel()
				// The i-th call fails (the same one as in the clean
				// run while the runs agree: appends, syncs and
				// closes come in one order).
				var n int
				var mu sync.Mutex
				inj := errorfs.InjectorFunc(func(errorfs.Op) error {
					mu.Lock()
					defer mu.Unlock()
					n++
					if n-1 == i {
						if errno == syscall.ENOSPC {
							return &errorfs.PartialWrite{N: 20, Err: errno}
						}
						return errno
					}
					return nil
				})
				sc := newFaultScenario(t, errorfs.Wrap(vfs.Default, inj))
				sc.run()
				sc.check()
			})
		}
	}
}

// fileClass names the kind of file a path is, for the fault sites.
func fileClass(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{extTmp, extCleaned, extSwap, extIndex, extTimeIndex, extLog} {
		if strings.HasSuffix(base, ext) {
			return ext[1:]
		}
	}
	switch {
	case base == checkpointName, base == cleanMarkerName:
		return base
	case !strings.Contains(base, "."):
		return "dir"
	}
	return "other"
}

// The cleaner's swap fails after its commit point (the cleaned segment
// durable under its swap name): the log is offline until heal finishes the
// swap, then serves the cleaned log; a failure before the commit point
// leaves the old segments, online. A write of the cleaned segment that
// meets a full disk fails the pass and changes nothing.
func TestCompactFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		rule    errorfs.Rule
		cleaned bool // the log ends cleaned
		offline bool // the pass took the log offline
	}{
		{"write-enospc", errorfs.Rule{Kind: errorfs.OpWrite, Path: extCleaned, Err: syscall.ENOSPC, Times: 1}, false, false},
		{"fsync-eio", errorfs.Rule{Kind: errorfs.OpSyncData, Path: extCleaned, Err: syscall.EIO, Times: 1}, false, false},
		{"rename-to-swap", errorfs.Rule{Kind: errorfs.OpRename, Path: extCleaned, Err: syscall.EIO, Times: 1}, false, false},
		{"dir-fsync-checkpoint", errorfs.Rule{Kind: errorfs.OpSync, Err: syscall.EIO, Times: 1}, false, false},
		{"dir-fsync-swap-rename", errorfs.Rule{Kind: errorfs.OpSync, Err: syscall.EIO, After: 1, Times: 1}, false, false},
		{"remove-old-segment", errorfs.Rule{Kind: errorfs.OpRemove, Path: extTimeIndex, Err: syscall.EIO, Times: 1}, true, true},
		{"rename-swap-in", errorfs.Rule{Kind: errorfs.OpRename, Path: extSwap, Err: syscall.EIO, Times: 2}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var rules errorfs.Rules
			st := faultStore(t, dir, &rules, Options{})
			p := storage.Partition{Topic: "c"}
			cfg := storage.LogConfig{SegmentBytes: 8 << 10}
			l := openLog(t, st, p, cfg)
			latest := map[string]string{}
			keyedLoad(t, l, 1000, 50, 1000, latest)
			before, sizeBefore := readRecords(t, l), l.Size()
			settleCheckpoints(l) // no checkpoint of the loop's meets the fault
			rules.Add(tc.rule)
			_, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(2000)))
			if err == nil {
				t.Fatal("the pass succeeded through the fault")
			}
			if got := l.Offline() != nil; got != tc.offline {
				t.Fatalf("offline after the failed pass: %v (%v), want %v", got, l.Offline(), tc.offline)
			}
			waitOnline(t, l)
			if tc.cleaned {
				// The first group's swap was finished: its cleaned
				// segment is in, no swap file is left.
				if l.Size() >= sizeBefore {
					t.Fatalf("size %d after the swap was finished, want below %d", l.Size(), sizeBefore)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, "c", "0", "*"+extSwap)); len(left) > 0 {
					t.Fatalf("swap files left: %v", left)
				}
			} else if got := readRecords(t, l); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatal("a pass that failed before its commit point changed the log")
			}
			// The next pass cleans the rest.
			if _, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(2000))); err != nil {
				t.Fatalf("the next pass: %v", err)
			}
			checkCompacted(t, l, latest, true)
			appendN(t, l, 2, seq) // appends go on
			want := readRecords(t, l)
			if got := readRecords(t, reopenPlain(t, st, dir, p)); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatal("after a restart the log differs")
			}
		})
	}
}

// A read that fails on one segment fails the reads of that segment only:
// the log stays online and the other segments are served.
func TestReadErrorOneSegment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rules errorfs.Rules
	st := faultStore(t, dir, &rules, Options{})
	p := storage.Partition{Topic: "t"}
	l := openLog(t, st, p, storage.LogConfig{SegmentBytes: 2000})
	appendN(t, l, 30, seq)
	if len(l.segs) < 3 {
		t.Fatalf("test setup: %d segments", len(l.segs))
	}
	bad := l.segs[1]
	rules.Add(errorfs.Rule{Kind: errorfs.OpRead, Path: filepath.Base(bad.path), Err: syscall.EIO})
	if _, err := l.Read(t.Context(), bad.base, 1<<20, true, nil); !errors.Is(err, storage.ErrIO) {
		t.Fatalf("read in the failing segment: %v, want ErrIO", err)
	}
	for _, s := range []*segment{l.segs[0], l.segs[2]} {
		if b, err := l.Read(t.Context(), s.base, 1<<20, true, nil); err != nil || len(b) == 0 {
			t.Fatalf("read in segment %d: %d bytes, %v", s.base, len(b), err)
		}
	}
	if err := l.Offline(); err != nil {
		t.Fatalf("Offline after a failed read: %v", err)
	}
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); err != nil {
		t.Fatalf("append after a failed read: %v", err)
	}
}

// A log whose fsync failed and that is closed before it healed drops what
// was not durable: the next open does not find it, even though the page
// cache still holds it.
func TestCloseFailedLogDropsTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rules errorfs.Rules
	st := faultStore(t, dir, &rules, Options{NoNursery: true})
	p := storage.Partition{Topic: "t"}
	l := openLog(t, st, p, storage.LogConfig{})
	want := appendN(t, l, 3, seq)
	rules.Add(errorfs.Rule{Kind: errorfs.OpSyncData, Path: extLog, Err: syscall.EIO, Times: 1})
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(2, 100, 9)); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(t.Context()); !errors.Is(err, storage.ErrIO) {
		t.Fatalf("Sync: %v, want ErrIO", err)
	}
	if err := l.Close(); !errors.Is(err, storage.ErrIO) {
		t.Fatalf("Close of the failed log: %v, want its failure", err)
	}
	equalBatches(t, readLog(t, reopenPlain(t, st, dir, p)), want)
}

// settleCheckpoints waits until the store's checkpoint loop has nothing
// pending for l and writes l's checkpoint, so that the loop writes no file
// of l's until l changes again.
func settleCheckpoints(l *Log) {
	for {
		l.state.RLock()
		pending := l.ckpt.pending
		l.state.RUnlock()
		if !pending {
			break
		}
		time.Sleep(time.Millisecond)
	}
	l.ckptMu.Lock()
	_ = l.writeCheckpoint()
	l.ckptMu.Unlock()
}

// Transactions across a heal: a transaction open before the failure is
// open after it (its abort marker was dropped with the tail, and is no
// longer listed), and one that began in the dropped tail is forgotten.
func TestHealTransactions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var rules errorfs.Rules
	st := faultStore(t, dir, &rules, Options{NoNursery: true})
	l := openLog(t, st, storage.Partition{Topic: "t"}, storage.LogConfig{})
	// Appends under HoldCommit: only Sync starts a commit round, so
	// the failing fsync comes after both appends that it drops (a round
	// an append started could fail the log before the next one).
	held := storage.HoldCommit(t.Context())
	app := func(b []byte) int64 {
		t.Helper()
		base, err := l.Append(held, b)
		if err != nil {
			t.Fatal(err)
		}
		return base
	}
	app(storagetest.MakeBatch(1, 10, 0))
	first := app(storagetest.MakeTxnBatch(2, 100, 0, 3, 0, 0))
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	rules.Add(errorfs.Rule{Kind: errorfs.OpSyncData, Path: extLog, Err: syscall.EIO, Times: 1})
	app(batch.MakeControl(batch.ControlAbort, 3, 0, 0, 0))
	app(storagetest.MakeTxnBatch(2, 100, 0, 5, 0, 0)) // a transaction the failure drops
	if got := l.AbortedTransactions(0, l.NextOffset()); len(got) != 1 {
		t.Fatalf("test setup: aborted before the failure %v", got)
	}
	if err := l.Sync(t.Context()); !errors.Is(err, storage.ErrIO) {
		t.Fatalf("Sync: %v, want ErrIO", err)
	}
	waitOnline(t, l)
	if got := l.AbortedTransactions(0, l.NextOffset()); len(got) != 0 {
		t.Fatalf("aborted after the heal: %v, want none (the marker was dropped)", got)
	}
	if got := l.LastStableOffset(); got != first {
		t.Fatalf("LastStableOffset %d after the heal, want %d: producer 3's transaction is open again", got, first)
	}
	// Producer 3 aborts again; producer 5's transaction is gone: a new
	// one may begin.
	marker := app(batch.MakeControl(batch.ControlAbort, 3, 0, 0, 0))
	app(storagetest.MakeTxnBatch(1, 10, 0, 5, 0, 0))
	want := []storage.AbortedTxn{{ProducerID: 3, FirstOffset: first, LastOffset: marker}}
	if got := l.AbortedTransactions(0, l.NextOffset()); !slices.Equal(got, want) {
		t.Fatalf("aborted: %v, want %v", got, want)
	}
}
