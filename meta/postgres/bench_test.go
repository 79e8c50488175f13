package postgres_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/postgres"
	"github.com/streamhouse/streamhouse/meta/sqlite"
)

// BenchmarkCatalogCommitOffsets measures CommitOffsets on both catalogs in
// one run, as the group coordinator calls it under issue 17's load: 10
// groups committing 10 partitions each at once, every call durable when it
// returns. One op is one call; commits/s is calls per second, and p50-ms
// and p99-ms the calls' latency. PostgreSQL groups concurrent calls into
// one transaction; SQLite runs one transaction (one WAL fsync) per call.
//
//	go test ./meta/postgres -run '^$' -bench CatalogCommitOffsets -benchtime 3s -count 5
func BenchmarkCatalogCommitOffsets(b *testing.B) {
	const groups, partitions = 10, 10
	catalogs := []struct {
		name string
		open func(b *testing.B) meta.Catalog
	}{
		{"sqlite", func(b *testing.B) meta.Catalog {
			c, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "metadata.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return c
		}},
		{"postgres", func(b *testing.B) meta.Catalog {
			c, err := postgres.Open(b.Context(), pgtest.URL(b), postgres.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return c
		}},
	}
	for _, cat := range catalogs {
		b.Run(cat.name, func(b *testing.B) {
			c := cat.open(b)
			defer c.Close()
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			work := make(chan int, groups)
			b.ResetTimer()
			for g := range groups {
				wg.Go(func() {
					call := make([]meta.GroupOffset, partitions)
					for p := range call {
						call[p] = meta.GroupOffset{Group: fmt.Sprintf("group-%d", g), Topic: "orders", Partition: int32(p), LeaderEpoch: 3, Metadata: "consumer-1"}
					}
					var mine []time.Duration
					for i := range work {
						for p := range call {
							call[p].Offset = int64(i)
						}
						start := time.Now()
						if err := c.CommitOffsets(b.Context(), call); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			for i := range b.N {
				work <- i
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
