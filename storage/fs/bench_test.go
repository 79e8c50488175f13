package fs

import (
	"os"
	"testing"

	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// batchOfSize returns a batch that is exactly size bytes, of as close to
// records records as lands on that size, and its record count.
func batchOfSize(tb testing.TB, records, size int) ([]byte, int) {
	tb.Helper()
	for d := range 64 {
		for _, r := range []int{records - d, records + d} {
			if r < 1 {
				continue
			}
			for v := size / r; v > 0; v-- {
				b := storagetest.MakeBatch(r, v, 1)
				if len(b) == size {
					return b, r
				}
				if len(b) < size {
					break
				}
			}
		}
	}
	tb.Fatalf("no batch of about %d records is %d bytes", records, size)
	return nil, 0
}

func benchLog(b *testing.B, cfg storage.LogConfig) *Log {
	b.Helper()
	st, err := New(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	l, err := st.Open(b.Context(), storage.Partition{Topic: "bench"}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	return l.(*Log)
}

// BenchmarkAppend16KiB appends 16 KiB batches (the record count is what
// lands on 16 KiB exactly) with no fsync: the page-cache write path, the
// index upkeep and a roll every 64 MiB.
//
// Every 256 MiB the log is thrown away off the clock, without fsync, and
// started again. Without that, a run of a few GB passes the kernel's dirty
// page limits and the figure becomes the disk's writeback speed (what a
// plain pwrite loop gets too), not this code's.
//
// guard=on runs it with the free-space guard on (a threshold of one byte:
// it reads the free space and counts every append, never trips), guard=off
// without: the guard's cost on the append path.
func BenchmarkAppend16KiB(b *testing.B) {
	for _, guard := range []struct {
		name string
		min  int64
	}{{"guard=off", 0}, {"guard=on", 1}} {
		b.Run(guard.name, func(b *testing.B) { benchAppend16KiB(b, guard.min) })
	}
}

func benchAppend16KiB(b *testing.B, minFree int64) {
	const recycle = 256 << 20
	cfg := storage.LogConfig{SegmentBytes: 64 << 20}
	// Without fsync, as the figure is defined: group commit would fsync
	// in the background.
	st, err := New(b.TempDir(), Options{NoSync: true, MinFreeBytes: minFree})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := storage.Partition{Topic: "bench"}
	open := func() *Log {
		l, err := st.Open(b.Context(), p, cfg)
		if err != nil {
			b.Fatal(err)
		}
		l.Watch(make(chan struct{}, 1))
		return l.(*Log)
	}
	l := open()
	buf, _ := batchOfSize(b, 16, 16<<10)
	ctx := b.Context()
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var written int
	for b.Loop() {
		if _, err := l.Append(ctx, buf); err != nil {
			b.Fatal(err)
		}
		if written += len(buf); written >= recycle {
			b.StopTimer()
			l.discard(b)
			l, written = open(), 0
			b.StartTimer()
		}
	}
	l.discard(b)
}

// discard closes l without the fsync of Close and removes its files, so
// that their dirty pages are dropped rather than written back.
func (l *Log) discard(tb testing.TB) {
	l.abandon()
	if err := os.RemoveAll(l.dir); err != nil {
		tb.Fatal(err)
	}
}

// openLogs returns the store's open logs.
func (st *Store) openLogs() []*Log {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*Log
	for _, l := range st.logs {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

// abandon closes l's files without writing anything: no index files, no
// fsync, no checkpoint.
func (l *Log) abandon() {
	l.mu.Lock()
	l.ckptMu.Lock() // no checkpoint is being written into the directory
	defer l.ckptMu.Unlock()
	l.state.Lock()
	l.closed = true
	l.state.Unlock()
	for _, s := range l.segs {
		_ = s.f.Close()
	}
	l.mu.Unlock()
	l.store.release(l.key)
}

// BenchmarkRead reads 1 MiB at a time (64 batches of 16 KiB) from a 256 MiB
// log in page cache, walking the log from start to end and over again.
// Segments hold a whole number of reads, so every read returns 1 MiB.
func BenchmarkRead(b *testing.B) {
	benchRead(b, 16<<10, 16, 1<<20)
}

// BenchmarkReadSmallBatches reads 1 MiB at a time from 1 KiB batches, from
// offsets that are not batch bases: the probe that finds the batch does
// work on every read.
func BenchmarkReadSmallBatches(b *testing.B) {
	benchRead(b, 1<<10, 4, 1<<20)
}

func benchRead(b *testing.B, batchSize, records, maxBytes int) {
	const logBytes = 256 << 20
	l := benchLog(b, storage.LogConfig{SegmentBytes: 64 << 20})
	buf, records := batchOfSize(b, records, batchSize)
	ctx := b.Context()
	for range logBytes / batchSize {
		if _, err := l.Append(ctx, buf); err != nil {
			b.Fatal(err)
		}
	}
	perRead := maxBytes / batchSize                // batches
	step := int64(perRead * records)               // offsets
	reads := int64(logBytes / batchSize / perRead) // reads per pass
	mid := int64(records / 2)                      // a record inside the first batch
	dst := make([]byte, 0, maxBytes)
	b.SetBytes(int64(perRead * batchSize))
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		got, err := l.Read(ctx, (i%reads)*step+mid, maxBytes, true, dst)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != perRead*batchSize {
			b.Fatalf("read %d bytes, want %d", len(got), perRead*batchSize)
		}
		i++
	}
}

// BenchmarkOpenPartitions: opening 1,000 partitions of one small batch
// each (one segment, its index files and a checkpoint), one after the
// other, after a clean stop: what a broker's startup does for each
// partition on disk. Off the clock the logs are abandoned (opening wrote
// nothing) and the store closed, which puts the clean-shutdown marker
// back.
func BenchmarkOpenPartitions(b *testing.B) {
	const n = 1000
	dir := b.TempDir()
	parts := make([]storage.Partition, n)
	for i := range parts {
		parts[i] = storage.Partition{Topic: "open", Partition: int32(i)}
	}
	openAll := func() *Store {
		st, err := New(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range parts {
			if _, err := st.Open(b.Context(), p, storage.LogConfig{}); err != nil {
				b.Fatal(err)
			}
		}
		return st
	}
	st := openAll()
	for _, l := range st.openLogs() {
		if _, err := l.Append(b.Context(), storagetest.MakeBatch(1, 100, 1)); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		st := openAll()
		b.StopTimer()
		for _, l := range st.openLogs() {
			l.abandon()
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/partition")
}

// BenchmarkCommitSixLogs is an acks=all produce of 6 partitions: 64 KiB
// appended to each of 6 logs, then SyncTo on each, one op. "held" appends
// under storage.HoldCommit (the broker's way), so that one commit round
// covers the six; "kicked" lets the first append start a round alone.
func BenchmarkCommitSixLogs(b *testing.B) {
	for _, held := range []bool{true, false} {
		name := "kicked"
		if held {
			name = "held"
		}
		b.Run(name, func(b *testing.B) {
			st, err := New(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			logs := openLogs(b, st, 6, storage.LogConfig{SegmentBytes: 1 << 30})
			batch, n := batchOfSize(b, 64, 64<<10)
			ctx := b.Context()
			if held {
				ctx = storage.HoldCommit(ctx)
			}
			next := make([]int64, len(logs))
			b.SetBytes(int64(len(batch) * len(logs)))
			for b.Loop() {
				for i, l := range logs {
					base, err := l.Append(ctx, batch)
					if err != nil {
						b.Fatal(err)
					}
					next[i] = base + int64(n)
				}
				for i, l := range logs {
					if err := l.SyncTo(b.Context(), next[i]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
