package tiered_test

import (
	"path/filepath"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/fs"
)

// BenchmarkRead: a 64 MiB log (8 MiB segments, batches of 100 records of
// 100 bytes) read from offset 0 in 1 MiB reads, as fetches do: from a
// local log (the page cache), from the bucket with an empty cache (cold:
// the bucket is in memory, so this is the tiered read path's own cost),
// and again with the cache holding it all (warm).
//
//	go test ./storage/tiered -run '^$' -bench Read -count 4
func BenchmarkRead(b *testing.B) {
	const batches = 6000 // ~64 MiB
	cfg := storage.LogConfig{SegmentBytes: 8 << 20}
	b.Run("local", func(b *testing.B) {
		st, err := fs.New(filepath.Join(b.TempDir(), "storage"), fs.Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		l, err := st.Open(b.Context(), part, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		fill(b, l, batches, 100)
		benchReadAll(b, l)
	})
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b)
			st := e.open(b, e.dir, allTiered)
			l, err := st.Open(b.Context(), part, cfg)
			if err != nil {
				b.Fatal(err)
			}
			fill(b, l, batches, 100)
			waitUploaded(b, l, l.NextOffset()*8/10) // all but the active segment
			l.Close()
			st.Close()
			warmed := false
			for range b.N {
				b.StopTimer()
				if mode == "cold" {
					st = e.open(b, e.dir, allTiered) // the cache starts empty
					if l, err = st.Open(b.Context(), part, cfg); err != nil {
						b.Fatal(err)
					}
				} else if !warmed {
					warmed = true
					st = e.open(b, e.dir, allTiered)
					if l, err = st.Open(b.Context(), part, cfg); err != nil {
						b.Fatal(err)
					}
					benchReadOnce(b, l)
				}
				b.StartTimer()
				benchReadOnce(b, l)
				if mode == "cold" {
					b.StopTimer()
					l.Close()
					st.Close()
					b.StartTimer()
				}
			}
			b.SetBytes(l.Size())
		})
	}
}

func benchReadAll(b *testing.B, l storage.Log) {
	b.SetBytes(l.Size())
	b.ResetTimer()
	for range b.N {
		benchReadOnce(b, l)
	}
}

// benchReadOnce reads l from its log start to its high watermark in reads
// of 1 MiB.
func benchReadOnce(b *testing.B, l storage.Log) {
	var buf []byte
	for off := l.LogStartOffset(); off < l.HighWatermark(); {
		var err error
		buf, err = l.Read(b.Context(), off, 1<<20, true, buf[:0])
		if err != nil || len(buf) == 0 {
			b.Fatalf("read at %d: %d bytes, %v", off, len(buf), err)
		}
		off = lastNext(buf)
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
