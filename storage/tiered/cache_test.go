package tiered_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

// TestCacheKeptAcrossRestart: the chunks read from the bucket stay in the
// cache directory across a restart, so a broker started again reads them
// without a GET; a chunk file a crash left damaged is fetched again.
func TestCacheKeptAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var logGets atomic.Int64
	e.bucket.SetFault(func(op, key string) (time.Duration, error) {
		if op == "get" && strings.HasSuffix(key, ".log") {
			logGets.Add(1)
		}
		return 0, nil
	})
	cfg := storage.LogConfig{SegmentBytes: 64 << 10}
	st := e.open(t, e.dir, allTiered)
	l, err := st.Open(t.Context(), part, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := fill(t, l, 400, 3)
	waitClosedUploaded(t, l)
	local := l.(interface{ LocalLogStartOffset() int64 }).LocalLogStartOffset()
	l.Close()
	st.Close()

	// reopen opens the store again over the same directory and reads the
	// log whole, returning the .log GETs it made.
	reopen := func() int64 {
		t.Helper()
		st := e.open(t, e.dir, allTiered)
		defer st.Close()
		l, err := st.Open(t.Context(), part, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		before := logGets.Load()
		equalBatches(t, readAll(t, l), want)
		return logGets.Load() - before
	}
	if n := reopen(); n == 0 {
		t.Fatalf("the first read from the bucket made no GET of a segment (local log start %d)", local)
	}
	if n := reopen(); n != 0 {
		t.Fatalf("a read after a restart made %d GETs of segments, want none: the cache was not kept", n)
	}
	// Damage a chunk file (a crash before the page cache reached the
	// disk): it is fetched again, and the data read is right.
	files, err := filepath.Glob(filepath.Join(e.dir, "remote-cache", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no chunk files: %v", err)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := reopen(); n != 1 {
		t.Fatalf("a read after a chunk file was damaged made %d GETs of segments, want 1", n)
	}
}
