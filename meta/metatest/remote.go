package metatest

import (
	"errors"
	"maps"
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
			MaxTimestamp: 1000 + base, Size: (end - base) * 100, Checksum: "sum-" + sid, CreatedAt: at,
			LeaderEpochs: meta.NewLeaderEpochs([]meta.EpochStart{{Epoch: 1, StartOffset: base}})}
	}
	if got, err := c.RemoteSegments(ctx, id, 0); err != nil || len(got) != 0 {
		t.Fatalf("RemoteSegments of a new catalog = %v, %v", got, err)
	}
	want := []meta.RemoteSegment{seg(id, 0, "b", 0, 10), seg(id, 0, "a", 10, 25), seg(id, 0, "c", 25, 26)}
	// Leader epochs: several starting within a segment, and none kept
	// (a segment recorded before they were).
	epochs := []meta.EpochStart{{Epoch: 0, StartOffset: 0}, {Epoch: 3, StartOffset: 4}, {Epoch: 7, StartOffset: 9}}
	want[0].LeaderEpochs = meta.NewLeaderEpochs(epochs)
	want[2].LeaderEpochs = ""
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
	if e, err := got[0].LeaderEpochs.Entries(); err != nil || !slices.Equal(e, epochs) {
		t.Fatalf("leader epochs read back as %v, %v; want %v", e, err, epochs)
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

// testReplaceRemoteSegments: the cluster mode's compaction swaps cleaned
// copies in under the partition's lease, all or nothing.
func testReplaceRemoteSegments(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	id := NewTopicID(t)
	key := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 0}
	f1 := holdLease(t, c, 1, key)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	seg := func(sid string, base, end int64) meta.RemoteSegment {
		return meta.RemoteSegment{TopicID: id, Partition: 0, ID: sid, BaseOffset: base, EndOffset: end,
			MaxTimestamp: 1000 + base, Size: (end - base) * 10, Checksum: "sum-" + sid, CreatedAt: at}
	}
	for _, s := range []meta.RemoteSegment{seg("a", 0, 10), seg("b", 10, 20), seg("c", 20, 30)} {
		if err := c.AddRemoteSegment(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	state := func() map[string]bool { // ID -> Deleting
		t.Helper()
		segs, err := c.RemoteSegments(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, s := range segs {
			out[s.ID] = s.Deleting
		}
		return out
	}
	cleaned := seg("x", 0, 20)
	cleaned.Size = 7
	if err := c.ReplaceRemoteSegments(ctx, f1, id, 0, []string{"a", "b"}, []meta.RemoteSegment{cleaned}); err != nil {
		t.Fatalf("ReplaceRemoteSegments by the holder: %v", err)
	}
	if got, want := state(), map[string]bool{"a": true, "b": true, "c": false, "x": false}; !maps.Equal(got, want) {
		t.Fatalf("after the swap: %v, want %v", got, want)
	}
	segs, err := c.RemoteSegments(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range segs {
		if s.ID == "x" && s != cleaned {
			t.Fatalf("the new segment reads back as %+v, want %+v", s, cleaned)
		}
		if s.Deleting && s.DeletingSince.IsZero() {
			t.Fatalf("segment %s Deleting with no DeletingSince", s.ID)
		}
	}
	before := state()
	for _, tc := range []struct {
		name string
		f    meta.Fence
		old  []string
		add  []meta.RemoteSegment
		want error
	}{
		{"an old one deleting already", f1, []string{"a", "c"}, []meta.RemoteSegment{seg("y", 0, 30)}, meta.ErrConflict},
		{"an old one never recorded", f1, []string{"c", "nope"}, []meta.RemoteSegment{seg("y", 20, 30)}, meta.ErrConflict},
		{"a new ID recorded already", f1, []string{"c"}, []meta.RemoteSegment{seg("b", 20, 30)}, meta.ErrConflict},
		{"another leader epoch", meta.Fence{Key: key, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch + 1}, []string{"c"}, []meta.RemoteSegment{seg("y", 20, 30)}, meta.ErrFenced},
		{"another partition's lease", meta.Fence{Key: meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: 1}, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch}, []string{"c"}, []meta.RemoteSegment{seg("y", 20, 30)}, meta.ErrFenced},
	} {
		if err := c.ReplaceRemoteSegments(ctx, tc.f, id, 0, tc.old, tc.add); !errors.Is(err, tc.want) {
			t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		if got := state(); !maps.Equal(got, before) {
			t.Fatalf("%s: the segments changed to %v from %v", tc.name, got, before)
		}
	}
	// Broker 1's session ends; broker 2 takes the partition over: the
	// deposed leader's cleaner changes nothing, the new one's swaps.
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	f2 := holdLease(t, c, 2, key)
	if err := c.ReplaceRemoteSegments(ctx, f1, id, 0, []string{"c"}, []meta.RemoteSegment{seg("y", 20, 30)}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed leader's swap: err = %v, want %v", err, meta.ErrFenced)
	}
	if err := c.ReplaceRemoteSegments(ctx, f2, id, 0, []string{"x", "c"}, []meta.RemoteSegment{seg("z", 0, 30)}); err != nil {
		t.Fatalf("the new leader's swap: %v", err)
	}
	if got, want := state(), map[string]bool{"a": true, "b": true, "c": true, "x": true, "z": false}; !maps.Equal(got, want) {
		t.Fatalf("after the new leader's swap: %v, want %v", got, want)
	}
}
