package metatest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// The cases for meta.ShareStates and meta.GroupConfigs.

func shareCases() []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) meta.Catalog)
} {
	return []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) meta.Catalog)
	}{
		{"ShareStatesRoundTrip", testShareStatesRoundTrip},
		{"ShareStatesReplaceAndDelete", testShareStatesReplaceAndDelete},
		{"ShareStatesConcurrent", testShareStatesConcurrent},
		{"ShareStateOne", testShareStateOne},
		{"ShareStatesFenced", testShareStatesFenced},
		{"ShareStatesOlderEpoch", testShareStatesOlderEpoch},
		{"GroupConfigs", testGroupConfigs},
		{"ShareCancelledAndClosed", testShareCancelledAndClosed},
	}
}

// SampleShareStates returns share states with every field set, for round
// trips (and Fill).
func SampleShareStates(t testing.TB) []meta.ShareState {
	t.Helper()
	at := time.UnixMilli(1_700_000_000_789).UTC()
	t1, t2 := NewTopicID(t), NewTopicID(t)
	return []meta.ShareState{
		{Group: "queue", TopicID: t1, Partition: 0, StateEpoch: 2, StartOffset: 100, UpdateTime: at, Batches: []meta.ShareBatch{
			{FirstOffset: 100, LastOffset: 104, State: meta.ShareAvailable, DeliveryCount: 1},
			{FirstOffset: 105, LastOffset: 105, State: meta.ShareAcknowledged, DeliveryCount: 1},
			{FirstOffset: 106, LastOffset: 110, State: meta.ShareArchived, DeliveryCount: 5},
		}},
		{Group: "queue", TopicID: t1, Partition: 7, StartOffset: 0, UpdateTime: at},
		{Group: "other", TopicID: t2, Partition: 3, StateEpoch: 1, StartOffset: 1 << 40, UpdateTime: at},
	}
}

func sortShare(ss []meta.ShareState) []meta.ShareState {
	out := slices.Clone(ss)
	slices.SortFunc(out, func(a, b meta.ShareState) int {
		return shareKeyCompare(a.Group, a.TopicID, a.Partition, b.Group, b.TopicID, b.Partition)
	})
	return out
}

func shareKeyCompare(ag string, at meta.TopicID, ap int32, bg string, bt meta.TopicID, bp int32) int {
	switch {
	case ag != bg:
		if ag < bg {
			return -1
		}
		return 1
	case at != bt:
		for i := range at {
			if at[i] != bt[i] {
				return int(at[i]) - int(bt[i])
			}
		}
	}
	return int(ap) - int(bp)
}

// EqualShareStates reports an error unless got is want, in order.
func EqualShareStates(t testing.TB, got, want []meta.ShareState) {
	t.Helper()
	norm := func(ss []meta.ShareState) []meta.ShareState {
		out := slices.Clone(ss)
		for i := range out {
			out[i].UpdateTime = out[i].UpdateTime.Truncate(time.Millisecond).UTC()
			if len(out[i].Batches) == 0 {
				out[i].Batches = nil
			}
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("share states\n got %+v\nwant %+v", g, w)
	}
}

func readShare(t testing.TB, c meta.ShareStates) []meta.ShareState {
	t.Helper()
	ss, err := c.ShareStates(t.Context())
	if err != nil {
		t.Fatalf("ShareStates: %v", err)
	}
	return ss
}

func testShareStatesRoundTrip(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	in := SampleShareStates(t)
	if err := c.PutShareStates(t.Context(), in, nil); err != nil {
		t.Fatalf("PutShareStates: %v", err)
	}
	EqualShareStates(t, readShare(t, c), sortShare(in))
	if err := c.PutShareStates(t.Context(), nil, nil); err != nil {
		t.Errorf("PutShareStates of nothing: %v", err)
	}
	// Stamped when zero.
	s := in[1]
	s.UpdateTime = time.Time{}
	if err := c.PutShareStates(t.Context(), []meta.ShareState{s}, nil); err != nil {
		t.Fatal(err)
	}
	for _, got := range readShare(t, c) {
		if got.UpdateTime.IsZero() {
			t.Errorf("state %+v: UpdateTime not stamped", got)
		}
	}
}

// A later state of a partition replaces an earlier one, in a call and
// across calls; deletes go, missing ones ignored; a call may do both.
func testShareStatesReplaceAndDelete(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := SampleShareStates(t)
	if err := c.PutShareStates(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	next := in[0]
	next.StartOffset, next.Batches = 111, nil
	later := next
	later.StartOffset = 120
	del := meta.SharePartitionKey{Group: in[2].Group, TopicID: in[2].TopicID, Partition: in[2].Partition}
	missing := meta.SharePartitionKey{Group: "nobody", TopicID: in[2].TopicID, Partition: 9}
	if err := c.PutShareStates(ctx, []meta.ShareState{next, later}, []meta.SharePartitionKey{del, missing}); err != nil {
		t.Fatalf("PutShareStates: %v", err)
	}
	EqualShareStates(t, readShare(t, c), sortShare([]meta.ShareState{later, in[1]}))
	// A delete and a put of the same partition in one call: the put
	// stands (deletes first).
	if err := c.PutShareStates(ctx, []meta.ShareState{in[2]}, []meta.SharePartitionKey{del}); err != nil {
		t.Fatal(err)
	}
	EqualShareStates(t, readShare(t, c), sortShare([]meta.ShareState{later, in[1], in[2]}))
}

func testShareStatesConcurrent(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	tid := NewTopicID(t)
	const callers, rounds = 8, 10
	errs := make([]error, callers)
	parallel(callers, func(i int) {
		for r := range rounds {
			s := meta.ShareState{Group: "g", TopicID: tid, Partition: int32(i), StartOffset: int64(r), UpdateTime: time.UnixMilli(1_700_000_000_000)}
			if err := c.PutShareStates(ctx, []meta.ShareState{s}, nil); err != nil {
				errs[i] = err
				return
			}
			if err := c.CommitOffsets(ctx, []meta.GroupOffset{offset("c", "t", int32(i), int64(r))}); err != nil {
				errs[i] = err
				return
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Errorf("concurrent write: %v", err)
		}
	}
	ss := readShare(t, c)
	if len(ss) != callers {
		t.Fatalf("%d states, want %d", len(ss), callers)
	}
	for _, s := range ss {
		if s.StartOffset != rounds-1 {
			t.Errorf("partition %d at start offset %d, want its last write %d", s.Partition, s.StartOffset, rounds-1)
		}
	}
}

func testGroupConfigs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	got, err := c.GroupConfigs(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("GroupConfigs of a new catalog = %v, %v", got, err)
	}
	a := map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "15000"}
	if err := c.SetGroupConfigs(ctx, "q", 0, a); err != nil {
		t.Fatalf("SetGroupConfigs: %v", err)
	}
	if err := c.SetGroupConfigs(ctx, "q", 0, nil); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("SetGroupConfigs at a stale version: %v, want ErrConflict", err)
	}
	if err := c.SetGroupConfigs(ctx, "r", 0, map[string]string{"share.isolation.level": "read_committed"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetGroupConfigs(ctx, "r", 1, nil); err != nil {
		t.Fatal(err)
	}
	got, err = c.GroupConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]meta.ScopeConfigs{"q": {Configs: a, Version: 1}, "r": {Configs: map[string]string{}, Version: 2}}
	if len(got) != len(want) {
		t.Fatalf("GroupConfigs = %v, want %v", got, want)
	}
	for g, w := range want {
		if got[g].Version != w.Version || !maps.Equal(got[g].Configs, w.Configs) || got[g].Configs == nil {
			t.Errorf("configs of %s = %+v, want %+v", g, got[g], w)
		}
	}
}

func testShareCancelledAndClosed(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	in := SampleShareStates(t)
	if err := c.PutShareStates(t.Context(), in, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := map[string]func(ctx context.Context) error{
		"PutShareStates": func(ctx context.Context) error { return c.PutShareStates(ctx, in[:1], nil) },
		"ShareStates":    func(ctx context.Context) error { _, err := c.ShareStates(ctx); return err },
		"PutShareStatesFenced": func(ctx context.Context) error {
			return c.PutShareStatesFenced(ctx, meta.Fence{}, in[:1], nil)
		},
		"ShareState": func(ctx context.Context) error {
			_, _, err := c.ShareState(ctx, meta.SharePartitionKey{Group: in[0].Group, TopicID: in[0].TopicID})
			return err
		},
		"GroupConfigs":    func(ctx context.Context) error { _, err := c.GroupConfigs(ctx); return err },
		"SetGroupConfigs": func(ctx context.Context) error { return c.SetGroupConfigs(ctx, "g", 0, nil) },
	}
	for name, call := range calls {
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: %v, want one wrapping %v", name, err, context.Canceled)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		if err := call(t.Context()); !errors.Is(err, meta.ErrClosed) {
			t.Errorf("%s after Close: %v, want %v", name, err, meta.ErrClosed)
		}
	}
}

// testShareStateOne: ShareState reads one partition's state, and says when
// none is stored.
func testShareStateOne(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := SampleShareStates(t)
	if err := c.PutShareStates(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range in {
		got, ok, err := c.ShareState(ctx, meta.SharePartitionKey{Group: want.Group, TopicID: want.TopicID, Partition: want.Partition})
		if err != nil || !ok {
			t.Fatalf("ShareState(%s, %d) = %v, %v", want.Group, want.Partition, ok, err)
		}
		EqualShareStates(t, []meta.ShareState{got}, []meta.ShareState{want})
	}
	for _, k := range []meta.SharePartitionKey{
		{Group: "queue", TopicID: in[0].TopicID, Partition: 1},
		{Group: "other", TopicID: in[0].TopicID, Partition: 0},
	} {
		if _, ok, err := c.ShareState(ctx, k); ok || err != nil {
			t.Fatalf("ShareState of %+v, never stored = %v, %v; want none", k, ok, err)
		}
	}
}

// testShareStatesFenced: a partition's leader stores its share states
// while its lease holds; after a takeover the deposed leader's writes and
// deletes are fenced, also when they share a transaction with others'
// writes, and change nothing of what the new leader stored.
func testShareStatesFenced(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := SampleShareStates(t)
	key := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: in[0].TopicID, Partition: 0}
	f1 := holdLease(t, c, 1, key)
	if err := c.PutShareStatesFenced(ctx, f1, in[:1], nil); err != nil {
		t.Fatalf("fenced put by the leader: %v", err)
	}
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	f2 := holdLease(t, c, 2, key)
	mine := in[0]
	mine.StartOffset, mine.Batches = 105, in[0].Batches[1:]
	if err := c.PutShareStatesFenced(ctx, f2, []meta.ShareState{mine}, nil); err != nil {
		t.Fatalf("the new leader's put: %v", err)
	}
	stale := in[0]
	stale.StartOffset = 90
	// The deposed leader's writes race others' (which may share its
	// transaction): it is fenced every time, the others store.
	other := in[2]
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := c.PutShareStatesFenced(ctx, f1, []meta.ShareState{stale}, nil); !errors.Is(err, meta.ErrFenced) {
				errs <- fmt.Errorf("the deposed leader's put: err = %v, want %v", err, meta.ErrFenced)
			}
			k := meta.SharePartitionKey{Group: mine.Group, TopicID: mine.TopicID, Partition: mine.Partition}
			if err := c.PutShareStatesFenced(ctx, f1, nil, []meta.SharePartitionKey{k}); !errors.Is(err, meta.ErrFenced) {
				errs <- fmt.Errorf("the deposed leader's delete: err = %v, want %v", err, meta.ErrFenced)
			}
		}()
		go func() {
			defer wg.Done()
			o := other
			o.StartOffset += int64(i)
			if err := c.PutShareStates(ctx, []meta.ShareState{o}, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, ok, err := c.ShareState(ctx, meta.SharePartitionKey{Group: mine.Group, TopicID: mine.TopicID, Partition: mine.Partition})
	if err != nil || !ok {
		t.Fatalf("ShareState: %v, %v", ok, err)
	}
	EqualShareStates(t, []meta.ShareState{got}, []meta.ShareState{mine})
	if _, ok, err := c.ShareState(ctx, meta.SharePartitionKey{Group: other.Group, TopicID: other.TopicID, Partition: other.Partition}); !ok || err != nil {
		t.Fatalf("the unfenced writes stored nothing: %v, %v", ok, err)
	}
}

// testShareStatesOlderEpoch: a write at a state epoch below the stored one
// (a leader's, after the coordinator reset the partition) is left out;
// one at the same or a later epoch replaces it.
func testShareStatesOlderEpoch(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := SampleShareStates(t)[0] // at epoch 2
	if err := c.PutShareStates(ctx, []meta.ShareState{in}, nil); err != nil {
		t.Fatal(err)
	}
	key := meta.SharePartitionKey{Group: in.Group, TopicID: in.TopicID, Partition: in.Partition}
	older := in
	older.StateEpoch, older.StartOffset, older.Batches = 1, 50, nil
	if err := c.PutShareStates(ctx, []meta.ShareState{older}, nil); err != nil {
		t.Fatal(err)
	}
	got, _, err := c.ShareState(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	EqualShareStates(t, []meta.ShareState{got}, []meta.ShareState{in})
	same := in
	same.StartOffset, same.Batches = 105, nil
	later := in
	later.StateEpoch, later.StartOffset, later.Batches = 3, -1, nil
	for _, want := range []meta.ShareState{same, later} {
		if err := c.PutShareStates(ctx, []meta.ShareState{want}, nil); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.ShareState(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		EqualShareStates(t, []meta.ShareState{got}, []meta.ShareState{want})
	}
}
