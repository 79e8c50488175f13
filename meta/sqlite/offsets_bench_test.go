package sqlite

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

// BenchmarkCommitOffsets measures CommitOffsets as the group coordinator
// calls it: one OffsetCommit of 10 partitions per call, from 10 groups in
// turn, each call durable (fsynced) when it returns. One op is one call;
// commits/s is calls per second. The catalog is in b.TempDir, so the figure
// is only as real as that file system's fsync.
//
//   - serial: one caller, each call waiting for the one before, as one
//     group's coordinator would.
//   - parallel: 10 callers at once (one per group, as the coordinator
//     commits for each group from that group's goroutine).
func BenchmarkCommitOffsets(b *testing.B) {
	const (
		groups     = 10
		partitions = 10
	)
	// calls[g] is group g's commit; the offsets move on with each call.
	newCalls := func() [][]meta.GroupOffset {
		calls := make([][]meta.GroupOffset, groups)
		for g := range calls {
			calls[g] = make([]meta.GroupOffset, partitions)
			for p := range calls[g] {
				calls[g][p] = meta.GroupOffset{
					Group:       fmt.Sprintf("group-%d", g),
					Topic:       "orders",
					Partition:   int32(p),
					LeaderEpoch: 3,
					Metadata:    "consumer-1",
				}
			}
		}
		return calls
	}
	open := func(b *testing.B) *Catalog {
		b.Helper()
		c, err := Open(b.Context(), filepath.Join(b.TempDir(), "metadata.db"), Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := c.Close(); err != nil {
				b.Error(err)
			}
		})
		return c
	}

	b.Run("serial", func(b *testing.B) {
		c := open(b)
		calls := newCalls()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			call := calls[i%groups]
			for p := range call {
				call[p].Offset = int64(i)
			}
			if err := c.CommitOffsets(b.Context(), call); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})

	b.Run("parallel", func(b *testing.B) {
		c := open(b)
		var next atomic.Int64
		b.ReportAllocs()
		// RunParallel starts parallelism × GOMAXPROCS goroutines: at
		// least the 10 groups' worth.
		b.SetParallelism((groups + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.RunParallel(func(pb *testing.PB) {
			calls := newCalls() // each goroutine's own, so that none races another's
			for pb.Next() {
				i := next.Add(1)
				call := calls[i%groups]
				for p := range call {
					call[p].Offset = i
				}
				if err := c.CommitOffsets(b.Context(), call); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
	})
}
