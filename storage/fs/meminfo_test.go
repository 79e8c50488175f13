package fs

import (
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

func TestParseDirty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"MemTotal:       24608472 kB\nDirty:              1976 kB\nWriteback:             0 kB\nWritebackTmp:          0 kB\n", 1976 << 10, false},
		{"Writeback:   4 kB\nDirty: 3 kB", 7 << 10, false},
		{"Dirty: 3 kB\n", 0, true},                  // no Writeback
		{"Dirty: 3 MB\nWriteback: 0 kB\n", 0, true}, // not kB
		{"Dirty: -3 kB\nWriteback: 0 kB\n", 0, true},
		{"Dirty: x kB\nWriteback: 0 kB\n", 0, true},
		{"", 0, true},
	} {
		got, err := parseDirty([]byte(tc.in))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("parseDirty(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
	if _, err := os.Stat(meminfoPath); err == nil {
		p := &dirtyProbe{}
		defer p.close()
		for range 2 { // the second read goes through the open descriptor
			if _, err := p.read(); err != nil {
				t.Fatalf("reading this machine's %s: %v", meminfoPath, err)
			}
		}
	}
}

func FuzzParseDirty(f *testing.F) {
	f.Add([]byte("Dirty:              1976 kB\nWriteback:             0 kB\n"))
	f.Add([]byte("Dirty: 99999999999999999999 kB\nWriteback: 1 kB"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseDirty(b)
		if err == nil && (n < 0 || n > 2<<50) {
			t.Fatalf("parseDirty = %d without an error", n)
		}
		if err != nil && n != 0 {
			t.Fatalf("parseDirty = %d with error %v", n, err)
		}
	})
}

// TestSyncFSForeignDirty: with Options.SyncFSForeignDirty, a round is one
// syncfs while others' dirty data (the page cache's, less what the store
// wrote) is under the limit and no more than the round's own (or
// syncFSSmallForeign), and fdatasyncs each file when it is more or cannot
// be read.
func TestSyncFSForeignDirty(t *testing.T) {
	t.Parallel()
	if syncFSReportsErrors() != nil {
		t.Skip("no syncfs that reports errors here")
	}
	var fsyncs atomic.Int64
	st, err := New(t.TempDir(), Options{SyncFS: true, SyncFSForeignDirty: 1 << 20, OnFsync: func(time.Duration) { fsyncs.Add(1) }, NoNursery: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var dirty atomic.Int64
	var probeErr atomic.Bool
	st.commit.dirty = func() (int64, error) {
		if probeErr.Load() {
			return 0, os.ErrNotExist
		}
		return dirty.Load(), nil
	}
	logs := openLogs(t, st, 3, storage.LogConfig{})
	b := storagetest.MakeBatch(3, 10, 1)
	var next int64
	round := func() int64 {
		t.Helper()
		ctx := storage.HoldCommit(t.Context())
		for _, l := range logs {
			if _, err := l.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		next += 3
		before := fsyncs.Load()
		for _, l := range logs {
			if err := l.SyncTo(t.Context(), next); err != nil {
				t.Fatal(err)
			}
		}
		return fsyncs.Load() - before
	}
	own := 3 * int64(len(b)) // what a round's appends add to the page cache
	for _, tc := range []struct {
		what   string
		dirty  int64
		err    bool
		syncfs bool
	}{
		{"nothing else dirty", own, false, true},
		{"a little of others' dirty data", own + syncFSSmallForeign, false, true},
		{"others' dirty data under the limit but more than the round's own", own + syncFSSmallForeign + 1, false, false},
		{"others' dirty data over the limit", own + 1<<20 + 1, false, false},
		{"under it again", 0, false, true},
		{"an unreadable page cache", 0, true, false},
	} {
		dirty.Store(tc.dirty)
		probeErr.Store(tc.err)
		n := round()
		if got := n == 1; got != tc.syncfs {
			t.Errorf("%s: a round of 3 logs made %d fsync calls; want one syncfs: %v", tc.what, n, tc.syncfs)
		}
	}
}

// TestSyncFSServesRoundSize: under the limit, others' dirty data larger than
// a round's own makes the round fdatasync its files, unless it has
// syncFSManyItems of them.
func TestSyncFSServesRoundSize(t *testing.T) {
	var dirty int64
	c := &committer{foreignLimit: 64 << 20, logger: slog.New(slog.DiscardHandler)}
	c.dirty = func() (int64, error) { return dirty, nil }
	for _, tc := range []struct {
		what          string
		ours, foreign int64
		items         int
		want          bool
	}{
		{"a small round, a little else dirty", 4 << 10, syncFSSmallForeign, 2, true},
		{"a small round, MiBs else dirty", 4 << 10, 4 << 20, 2, false},
		{"a large round, as much else dirty", 8 << 20, 8 << 20, 6, true},
		{"a large round, more else dirty", 8 << 20, 8<<20 + 1, 6, false},
		{"a round of many files, MiBs else dirty", 4 << 10, 16 << 20, syncFSManyItems, true},
		{"a round of many files, over the limit", 4 << 10, 64<<20 + 1, syncFSManyItems, false},
	} {
		dirty = tc.ours + tc.foreign
		if got := c.syncFSServes(tc.ours, tc.items); got != tc.want {
			t.Errorf("%s: syncfs %v, want %v", tc.what, got, tc.want)
		}
	}
}
