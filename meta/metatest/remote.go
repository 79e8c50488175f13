package metatest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

func testRemoteSegments(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	id, other := NewTopicID(t), NewTopicID(t)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	seg := func(tid meta.TopicID, p int32, sid string, base, end int64) meta.RemoteSegment {
		return meta.RemoteSegment{TopicID: tid, Partition: p, ID: sid, BaseOffset: base, EndOffset: end,
			MaxTimestamp: 1000 + base, Size: (end - base) * 100, Checksum: "sum-" + sid, CreatedAt: at}
	}
	if got, err := c.RemoteSegments(ctx, id, 0); err != nil || len(got) != 0 {
		t.Fatalf("RemoteSegments of a new catalog = %v, %v", got, err)
	}
	want := []meta.RemoteSegment{seg(id, 0, "b", 0, 10), seg(id, 0, "a", 10, 25), seg(id, 0, "c", 25, 26)}
	for _, s := range []meta.RemoteSegment{want[2], want[0], want[1], seg(id, 1, "x", 0, 5), seg(other, 0, "y", 0, 5)} {
		if err := c.AddRemoteSegment(ctx, s); err != nil {
			t.Fatalf("AddRemoteSegment(%s): %v", s.ID, err)
		}
	}
	if err := c.AddRemoteSegment(ctx, seg(id, 0, "a", 50, 60)); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("AddRemoteSegment of a recorded ID: err = %v, want %v", err, meta.ErrConflict)
	}
	got, err := c.RemoteSegments(ctx, id, 0)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("RemoteSegments = %+v, %v\nwant %+v", got, err, want)
	}
	parts, err := c.RemotePartitions(ctx)
	if err != nil || len(parts) != 3 {
		t.Fatalf("RemotePartitions = %+v, %v", parts, err)
	}
	if err := c.MarkRemoteSegmentsDeleting(ctx, id, 0, []string{"b", "missing"}); err != nil {
		t.Fatal(err)
	}
	got, err = c.RemoteSegments(ctx, id, 0)
	if err != nil || len(got) != 3 || !got[0].Deleting || got[0].DeletingSince.IsZero() || got[1].Deleting {
		t.Fatalf("after marking b deleting: %+v, %v", got, err)
	}
	if err := c.DeleteRemoteSegments(ctx, id, 0, []string{"b"}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.RemoteSegments(ctx, id, 0); err != nil || len(got) != 2 || got[0].ID != "a" {
		t.Fatalf("after deleting b: %+v, %v", got, err)
	}
	if _, ok, err := c.RemoteLogStart(ctx, id, 0); err != nil || ok {
		t.Fatalf("RemoteLogStart before any = %v, %v", ok, err)
	}
	for _, v := range []int64{10, 7, 12} {
		if err := c.SetRemoteLogStart(ctx, id, 0, v); err != nil {
			t.Fatal(err)
		}
	}
	if start, ok, err := c.RemoteLogStart(ctx, id, 0); err != nil || !ok || start != 12 {
		t.Fatalf("RemoteLogStart = %d, %v, %v; want 12 (it only moves up)", start, ok, err)
	}
}
