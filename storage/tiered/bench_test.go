package tiered_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
)

// BenchmarkRead: a 44 MiB log (8 MiB segments, batches of 100 records of
// 100 bytes) read from offset 0 in 1 MiB reads, as fetches do: from a
// local log (the page cache); from the bucket with an empty cache (cold:
// the bucket is in memory, so this is the tiered read path's own cost);
// and again with the cache holding it all (warm). STREAMHOUSE_BENCH_S3=1
// puts the bucket on a versitygw instead. Each of b.N rounds reads
// all three in turn; the metrics are the medians (the machine is noisy).
//
//	go test ./storage/tiered -run '^$' -bench Read -benchtime 9x
func BenchmarkRead(b *testing.B) {
	const batches = 4000 // ~44 MiB: within the test cache (64 MiB)
	cfg := storage.LogConfig{SegmentBytes: 8 << 20}
	local, err := fs.New(filepath.Join(b.TempDir(), "storage"), fs.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer local.Close()
	ll, err := local.Open(b.Context(), part, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer ll.Close()
	fill(b, ll, batches, 100)

	e := newEnv(b)
	e.grace = time.Hour // no sweep (of the whole bucket, every 100 ms with the tests' grace) beside the reads
	if os.Getenv("STREAMHOUSE_BENCH_S3") != "" {
		// The bucket on a versitygw: the cold read with a real
		// server's requests.
		srv := s3test.Start(b)
		bucket, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: srv.Bucket(b), Credentials: s3test.Credentials()})
		if err != nil {
			b.Fatal(err)
		}
		e.store = bucket
	}
	st := e.open(b, e.dir, allTiered)
	tl, err := st.Open(b.Context(), part, cfg)
	if err != nil {
		b.Fatal(err)
	}
	fill(b, tl, batches, 100)
	waitClosedUploaded(b, tl)
	tl.Close()
	st.Close()

	var times [3][]time.Duration
	size := float64(ll.Size())
	b.ResetTimer()
	for range b.N {
		times[0] = append(times[0], timeRead(b, ll))
		// The cache is kept across restarts: emptied, so that the
		// cold read gets every byte from the bucket.
		if err := os.RemoveAll(filepath.Join(e.dir, "remote-cache")); err != nil {
			b.Fatal(err)
		}
		st := e.open(b, e.dir, allTiered)
		tl, err := st.Open(b.Context(), part, cfg)
		if err != nil {
			b.Fatal(err)
		}
		times[1] = append(times[1], timeRead(b, tl))
		times[2] = append(times[2], timeRead(b, tl))
		tl.Close()
		st.Close()
	}
	b.StopTimer()
	for i, name := range []string{"local", "cold", "warm"} {
		slices.Sort(times[i])
		b.ReportMetric(size/1e6/times[i][len(times[i])/2].Seconds(), name+"-MB/s")
	}
}

func timeRead(b *testing.B, l storage.Log) time.Duration {
	start := time.Now()
	benchReadOnce(b, l)
	return time.Since(start)
}

// benchReadOnce reads l from its log start to its high watermark in reads
// of 1 MiB.
func benchReadOnce(b *testing.B, l storage.Log) {
	var buf []byte
	var n int64
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		var err error
		buf, err = l.Read(b.Context(), off, 1<<20, true, buf[:0])
		if err != nil || len(buf) == 0 {
			b.Fatalf("read at %d: %d bytes, %v", off, len(buf), err)
		}
		n += int64(len(buf))
		off = lastNext(buf)
	}
	if n != l.Size() {
		b.Fatalf("read %d bytes, the log holds %d", n, l.Size())
	}
}

// lastNext is the offset after the last batch in b.
func lastNext(b []byte) int64 {
	var next int64
	for len(b) > 0 {
		h, err := batch.ReadHeader(b)
		if err != nil {
			panic(err)
		}
		next = h.NextOffset()
		b = b[h.Size():]
	}
	return next
}
