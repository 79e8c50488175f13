package main

import (
	"fmt"
	"time"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/metrics"
	"github.com/streamhouse/streamhouse/storage/fs"
)

// minFreeBytes is fs.Options.MinFreeBytes from storage.min.free.bytes: its
// value when set, else -1 (the store's default, a share of the volume).
func minFreeBytes(b *config.Broker) int64 {
	if v, set := b.StorageMinFreeBytes(); set {
		return v
	}
	return -1
}

// storageMetrics reads the store's volume and free-space guard for the
// metrics: the free space read now (statfs), the guard's state as of its
// last check.
func storageMetrics(store *fs.Store) func() metrics.Storage {
	return func() metrics.Storage {
		sp := store.Space()
		s := metrics.Storage{TotalBytes: sp.TotalBytes, FreeBytes: sp.FreeBytes, MinFreeBytes: sp.MinFreeBytes,
			Low: sp.Low || sp.Full, RefusedAppends: sp.Refused}
		if u, err := store.Usage(); err == nil {
			s.TotalBytes, s.FreeBytes = u.TotalBytes, u.UsableBytes
		}
		return s
	}
}

// storageConditions says, for /health and /ready, what is wrong with the
// store's volume: below the free-space guard's threshold, or full.
func storageConditions(store *fs.Store) func() []string {
	return func() []string {
		sp := store.Space()
		var out []string
		if sp.Low {
			out = append(out, fmt.Sprintf("storage: disk low since %s: %s free of %s, below storage.min.free.bytes (%s); produce is refused (KAFKA_STORAGE_ERROR, retried by producers) until the free space is back above %s; fetches, DeleteRecords, topic deletion and retention go on; %d appends refused so far",
				sp.LowSince.UTC().Format(time.RFC3339), mib(sp.FreeBytes), mib(sp.TotalBytes), mib(sp.MinFreeBytes), mib(sp.ResumeBytes), sp.Refused))
		}
		if sp.Full {
			out = append(out, fmt.Sprintf("storage: disk full: the last write failed for lack of space; produce fails (KAFKA_STORAGE_ERROR, retried by producers) until space is freed; %d appends refused so far", sp.Refused))
		}
		return out
	}
}

// mib renders a byte count for people.
func mib(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
