package fs

import (
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
	"github.com/streamhouse/streamhouse/storage/fs/vfs/errorfs"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// fakeSpace makes a store's volume report free bytes, as set.
type fakeSpace struct {
	total, free atomic.Int64
}

func (fs *fakeSpace) fn(string, int64, int64) (int64, int64) { return fs.total.Load(), fs.free.Load() }

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Below storage.min.free.bytes appends are refused, within a check
// interval, with ErrNoSpace; the log stays online and serves reads and
// DeleteRecords; above the threshold plus its margin appends resume by
// themselves. One ERROR line when the guard trips, one INFO when it
// clears.
func TestSpaceGuard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var space fakeSpace
	space.total.Store(64 << 20)
	space.free.Store(32 << 20)
	fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(errorfs.Op) error { return nil }))
	fsys.SetSpace(space.fn)
	_ = f.st.Close()
	st, err := New(f.dir, Options{FS: fsys, MinFreeBytes: 1 << 20, Logger: f.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if s := st.Space(); s.MinFreeBytes != 1<<20 || s.ResumeBytes != 1<<20+1<<18 || s.Low || s.FreeBytes != 32<<20 {
		t.Fatalf("Space %+v", s)
	}
	p := storage.Partition{Topic: "t"}
	l := openLog(t, st, p, storage.LogConfig{SegmentBytes: 4000})
	want := appendN(t, l, 20, seq)

	space.free.Store(1<<20 - 1)
	start := time.Now()
	eventually(t, "appends refused", func() bool {
		_, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1))
		if err == nil {
			want = append(want, nil) // stored before the guard tripped
			return false
		}
		if !errors.Is(err, storage.ErrNoSpace) {
			t.Fatalf("append below the threshold: %v, want ErrNoSpace", err)
		}
		return true
	})
	t.Logf("refused %v after the free space dropped", time.Since(start))
	if err := l.Offline(); err != nil {
		t.Fatalf("Offline while the disk is low: %v", err)
	}
	if s := st.Space(); !s.Low || s.Refused == 0 || s.LowSince.IsZero() {
		t.Fatalf("Space while low: %+v", s)
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := readLog(t, l); len(got) != len(want) {
		t.Fatalf("read %d batches while low, want %d", len(got), len(want))
	}
	if _, err := l.DeleteRecords(t.Context(), 5); err != nil {
		t.Fatalf("DeleteRecords while low: %v", err)
	}

	space.free.Store(1<<20 + 1<<17) // above the threshold, below the margin
	time.Sleep(3 * spaceCheckInterval)
	if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); !errors.Is(err, storage.ErrNoSpace) {
		t.Fatalf("append within the margin: %v, want ErrNoSpace", err)
	}
	space.free.Store(2 << 20)
	eventually(t, "appends resumed", func() bool {
		_, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1))
		return err == nil
	})
	logs := f.logged()
	if n := strings.Count(logs, "DISK LOW"); n != 1 {
		t.Fatalf("%d DISK LOW lines, want 1:\n%s", n, logs)
	}
	if n := strings.Count(logs, "produce resumes"); n != 1 {
		t.Fatalf("%d lines saying produce resumes, want 1:\n%s", n, logs)
	}
}

// The default threshold is 5% of the volume, at most 5 GiB; 0 is off.
func TestSpaceGuardDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total, set, want int64
	}{
		{64 << 20, -1, 64 << 20 / 20},
		{1 << 40, -1, 5 << 30},
		{1 << 40, 0, 0},
		{1 << 40, 123, 123},
	} {
		var space fakeSpace
		space.total.Store(tc.total)
		space.free.Store(tc.total)
		fsys := errorfs.Wrap(vfs.Default, errorfs.InjectorFunc(func(errorfs.Op) error { return nil }))
		fsys.SetSpace(space.fn)
		st, err := New(t.TempDir(), Options{FS: fsys, MinFreeBytes: tc.set})
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Space().MinFreeBytes; got != tc.want {
			t.Errorf("volume of %d bytes, MinFreeBytes %d: threshold %d, want %d", tc.total, tc.set, got, tc.want)
		}
		st.Close()
	}
}

// Without the guard the volume fills: one ERROR line at the first write
// that meets ENOSPC, one INFO line once writes succeed again, and the
// refused appends counted.
func TestDiskFullLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var rules errorfs.Rules
	_ = f.st.Close()
	st, err := New(f.dir, Options{FS: errorfs.Wrap(vfs.Default, &rules), Logger: f.logger(), NoNursery: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	l := openLog(t, st, storage.Partition{Topic: "t"}, storage.LogConfig{})
	appendN(t, l, 2, seq)
	r := rules.Add(errorfs.Rule{Kind: errorfs.OpWrite, Path: extLog, Err: syscall.ENOSPC})
	for range 5 {
		if _, err := l.Append(t.Context(), storagetest.MakeBatch(1, 10, 1)); !errors.Is(err, storage.ErrNoSpace) {
			t.Fatalf("append on a full volume: %v", err)
		}
	}
	if s := st.Space(); !s.Full || s.Refused != 5 {
		t.Fatalf("Space on a full volume: %+v", s)
	}
	rules.Remove(r)
	appendN(t, l, 1, seq)
	if s := st.Space(); s.Full {
		t.Fatalf("Space after a write succeeded: %+v", s)
	}
	logs := f.logged()
	if strings.Count(logs, "DISK FULL") != 1 || strings.Count(logs, "writes succeed again") != 1 {
		t.Fatalf("want one DISK FULL line and one saying writes succeed again:\n%s", logs)
	}
}

// BenchmarkGuardAdmit is the guard's cost on the append path: two atomic
// loads and an add per append while it is not tripped (the statfs runs on
// its own goroutine, every 100 ms).
func BenchmarkGuardAdmit(b *testing.B) {
	st, err := New(b.TempDir(), Options{MinFreeBytes: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := st.space.admit(16<<10, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
