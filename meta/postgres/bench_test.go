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
// postgres-fenced is the cluster mode's coordinator: each group's calls are
// CommitOffsetsFenced under its shard's lease, a transaction each.
// postgres-fenced-groups is its other frequent write: each call stores the
// group's metadata (PutGroupsFenced, as after a join or a heartbeat that
// changed it) under the shard's lease, through the batched committer.
//
//	go test ./meta/postgres -run '^$' -bench CatalogCommitOffsets -benchtime 3s -count 5
func BenchmarkCatalogCommitOffsets(b *testing.B) {
	const groups, partitions = 10, 10
	openPostgres := func(b *testing.B) meta.Catalog {
		c, err := postgres.Open(b.Context(), pgtest.URL(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	catalogs := []struct {
		name   string
		open   func(b *testing.B) meta.Catalog
		fenced string // "", "offsets" or "groups"
	}{
		{"sqlite", func(b *testing.B) meta.Catalog {
			c, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "metadata.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			return c
		}, ""},
		{"postgres", openPostgres, ""},
		{"postgres-fenced", openPostgres, "offsets"},
		{"postgres-fenced-groups", openPostgres, "groups"},
	}
	for _, cat := range catalogs {
		b.Run(cat.name, func(b *testing.B) {
			c := cat.open(b)
			defer c.Close()
			commit := func(g int, offsets []meta.GroupOffset) error { return c.CommitOffsets(b.Context(), offsets) }
			if cat.fenced != "" {
				epoch, err := c.RegisterBroker(b.Context(), meta.BrokerRegistration{NodeID: 1}, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				fences := make([]meta.Fence, groups)
				for g := range fences {
					key := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: int32(g)}
					l, err := c.AcquireLease(b.Context(), key, 1, epoch)
					if err != nil {
						b.Fatal(err)
					}
					fences[g] = meta.Fence{Key: key, Node: 1, SessionEpoch: epoch, Epoch: l.Epoch}
				}
				commit = func(g int, offsets []meta.GroupOffset) error {
					return c.CommitOffsetsFenced(b.Context(), fences[g], offsets)
				}
				if cat.fenced == "groups" {
					commit = func(g int, offsets []meta.GroupOffset) error {
						md := meta.GroupMetadata{Group: offsets[0].Group, Type: meta.GroupClassic, State: "Stable", Generation: int32(offsets[0].Offset) + 1}
						return c.PutGroupsFenced(b.Context(), fences[g], []meta.GroupMetadata{md})
					}
				}
			}
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
						if err := commit(g, call); err != nil {
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
