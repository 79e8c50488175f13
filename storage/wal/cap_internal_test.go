package wal

import (
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/storage"
)

// TestCapSegmentJitters: the segment.ms cap comes with a jitter of half of
// it, so that a topic's partitions do not roll (and upload) together; a
// topic's own segment.ms under the cap keeps its own jitter.
func TestCapSegmentJitters(t *testing.T) {
	w := &Store{opts: Options{MaxSegmentAge: time.Minute}}
	for _, c := range []struct {
		in, want storage.LogConfig
	}{
		{storage.LogConfig{}, storage.LogConfig{SegmentMs: 60_000, SegmentJitterMs: 30_000}},
		{storage.LogConfig{SegmentMs: 7 * 24 * 3600_000, SegmentJitterMs: 45_000}, storage.LogConfig{SegmentMs: 60_000, SegmentJitterMs: 45_000}},
		{storage.LogConfig{SegmentMs: 20_000}, storage.LogConfig{SegmentMs: 20_000}},
	} {
		if got := w.capSegment(c.in); got.SegmentMs != c.want.SegmentMs || got.SegmentJitterMs != c.want.SegmentJitterMs {
			t.Errorf("capSegment(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}
