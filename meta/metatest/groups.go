package metatest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// The cases for meta.Groups: groups' membership, stored whole per group.

// groupCases are Run's cases for meta.Groups.
func groupCases() []struct {
	name string
	run  func(t *testing.T, open func(t *testing.T) meta.Catalog)
} {
	return []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) meta.Catalog)
	}{
		{"GroupsRoundTrip", testGroupsRoundTrip},
		{"GroupsNone", testGroupsNone},
		{"GroupsReplace", testGroupsReplace},
		{"GroupsLastInCallWins", testGroupsLastInCallWins},
		{"GroupsOrdered", testGroupsOrdered},
		{"GroupsUpdateTimeStamped", testGroupsUpdateTimeStamped},
		{"DeleteGroups", testDeleteGroups},
		{"GroupsConcurrentWithOffsets", testGroupsConcurrentWithOffsets},
		{"GroupsCancelledAndClosed", testGroupsCancelledAndClosed},
		{"GroupsFenced", testGroupsFenced},
		{"GroupsFencedConcurrent", testGroupsFencedConcurrent},
	}
}

// SampleGroups returns one group of each kind with every field set, for
// round trips (and Fill).
func SampleGroups(t testing.TB) []meta.GroupMetadata {
	t.Helper()
	at := time.UnixMilli(1_700_000_000_456).UTC()
	t1, t2 := NewTopicID(t), NewTopicID(t)
	return []meta.GroupMetadata{
		{
			Group: "billing", Type: meta.GroupClassic, State: "Stable",
			ProtocolType: "consumer", Protocol: "cooperative-sticky", Generation: 7, Leader: "c-1-a",
			Members: []meta.GroupMember{
				{
					ID: "c-1-a", InstanceID: "host-1", ClientID: "c-1", ClientHost: "/127.0.0.1",
					SessionTimeoutMs: 45000, RebalanceTimeoutMs: 60000, ProtocolType: "consumer",
					Protocols: []meta.GroupProtocol{
						{Name: "cooperative-sticky", Metadata: []byte{0, 3, 0, 0, 0, 1}},
						{Name: "range", Metadata: []byte{}},
					},
					Assignment: []byte{0, 3, 0, 0, 0, 1, 0, 6, 'o', 'r', 'd', 'e', 'r', 's'},
				},
				{ID: "c-2-b", ClientID: "c-2", ClientHost: "/10.0.0.2", SessionTimeoutMs: 10000, RebalanceTimeoutMs: 10000,
					ProtocolType: "consumer", Protocols: []meta.GroupProtocol{{Name: "cooperative-sticky", Metadata: []byte{1}}}},
			},
			UpdateTime: at,
		},
		{
			Group: "kip848", Type: meta.GroupConsumer, State: "Reconciling",
			Epoch: 12, AssignmentEpoch: 11, Assignor: "uniform", SubscriptionHash: []byte{1, 2, 3, 0, 255},
			Members: []meta.GroupMember{
				{
					ID: "m-1", InstanceID: "i-1", ClientID: "franz", ClientHost: "/127.0.0.1", RackID: "rack-a",
					RebalanceTimeoutMs: 30000, Epoch: 11, PreviousEpoch: 10,
					SubscribedTopics: []string{"a", "b"}, ServerAssignor: "uniform",
					Assigned: []meta.GroupPartitions{{TopicID: t1, Partitions: []int32{0, 2}}},
					Revoking: []meta.GroupPartitions{{TopicID: t2, Partitions: []int32{1}}},
					Target:   []meta.GroupPartitions{{TopicID: t1, Partitions: []int32{0, 2, 4}}},
				},
				{ID: "m-2", SubscribedRegex: "b.*", Epoch: 12, PreviousEpoch: 11},
			},
			UpdateTime: at.Add(time.Second),
		},
		{Group: "empty", Type: meta.GroupClassic, State: "Empty", ProtocolType: "consumer", Generation: 3, UpdateTime: at},
	}
}

// EqualGroups reports an error unless got is want, in order: UpdateTime
// equal to the millisecond.
func EqualGroups(t testing.TB, got, want []meta.GroupMetadata) {
	t.Helper()
	norm := func(gs []meta.GroupMetadata) []meta.GroupMetadata {
		out := slices.Clone(gs)
		for i := range out {
			out[i].UpdateTime = out[i].UpdateTime.Truncate(time.Millisecond).UTC()
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("groups\n got %+v\nwant %+v", g, w)
	}
}

// PutGroups stores groups in c, failing the test on error.
func PutGroups(t testing.TB, c meta.Groups, groups ...meta.GroupMetadata) {
	t.Helper()
	if err := c.PutGroups(t.Context(), groups); err != nil {
		t.Fatalf("PutGroups: %v", err)
	}
}

func readGroups(t testing.TB, c meta.Groups) []meta.GroupMetadata {
	t.Helper()
	gs, err := c.Groups(t.Context())
	if err != nil {
		t.Fatalf("Groups: %v", err)
	}
	return gs
}

func byGroup(gs []meta.GroupMetadata) []meta.GroupMetadata {
	out := slices.Clone(gs)
	slices.SortFunc(out, func(a, b meta.GroupMetadata) int { return strings.Compare(a.Group, b.Group) })
	return out
}

func testGroupsRoundTrip(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	in := SampleGroups(t)
	PutGroups(t, c, in...)
	EqualGroups(t, readGroups(t, c), byGroup(in))
}

func testGroupsNone(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	if gs := readGroups(t, c); len(gs) != 0 {
		t.Errorf("Groups of a new catalog = %+v, want none", gs)
	}
	if err := c.PutGroups(t.Context(), nil); err != nil {
		t.Errorf("PutGroups(nil) = %v", err)
	}
	if err := c.DeleteGroups(t.Context(), nil); err != nil {
		t.Errorf("DeleteGroups(nil) = %v", err)
	}
}

// A write replaces the group's whole state: members that went are gone,
// not merged.
func testGroupsReplace(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	in := SampleGroups(t)
	PutGroups(t, c, in...)
	next := in[0]
	next.Generation, next.State, next.Leader = 8, "PreparingRebalance", "c-2-b"
	next.Members = next.Members[1:]
	next.UpdateTime = next.UpdateTime.Add(time.Minute)
	// Another kind, under a name taken by a group of another kind.
	other := in[1]
	other.Group = "empty"
	PutGroups(t, c, next, other)
	EqualGroups(t, readGroups(t, c), byGroup([]meta.GroupMetadata{next, other, in[1]}))
}

func testGroupsLastInCallWins(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	var in []meta.GroupMetadata
	for gen := int32(1); gen <= 5; gen++ {
		in = append(in, meta.GroupMetadata{Group: "g", Type: meta.GroupClassic, State: "Stable", Generation: gen, UpdateTime: at})
	}
	PutGroups(t, c, in...)
	EqualGroups(t, readGroups(t, c), in[4:])
}

func testGroupsOrdered(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	at := time.UnixMilli(1_700_000_000_000).UTC()
	names := []string{"b", "a.b", "_x", "B", "a", "A-1", "Z", "0", "a_b", "ünï"}
	var in []meta.GroupMetadata
	for _, n := range names {
		in = append(in, meta.GroupMetadata{Group: n, Type: meta.GroupConsumer, State: "Empty", UpdateTime: at})
	}
	// One call each, in reverse: stored order is not the order asked.
	for i := len(in) - 1; i >= 0; i-- {
		PutGroups(t, c, in[i])
	}
	EqualGroups(t, readGroups(t, c), byGroup(in))
}

func testGroupsUpdateTimeStamped(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	PutGroups(t, c, meta.GroupMetadata{Group: "g", Type: meta.GroupClassic, State: "Empty"})
	gs := readGroups(t, c)
	if len(gs) != 1 || gs[0].UpdateTime.IsZero() {
		t.Errorf("Groups = %+v, want one with UpdateTime stamped", gs)
	}
}

// DeleteGroups removes the groups' metadata, ignores missing ones, and
// leaves their offsets.
func testDeleteGroups(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := SampleGroups(t)
	PutGroups(t, c, in...)
	CommitOffsets(t, c, offset("billing", "orders", 0, 5))
	if err := c.DeleteGroups(ctx, []string{"billing", "missing", "empty"}); err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	EqualGroups(t, readGroups(t, c), in[1:2])
	got, err := c.GroupOffsets(ctx, "billing")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{offset("billing", "orders", 0, 5)})
	// And a deleted group may be stored again.
	PutGroups(t, c, in[0])
	EqualGroups(t, readGroups(t, c), byGroup(in[:2]))
}

// Group writes and offset commits at once, from many callers (a catalog may
// write them in shared transactions): every write lands, and each group ends
// at its last write.
func testGroupsConcurrentWithOffsets(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	const callers, rounds = 8, 10
	at := time.UnixMilli(1_700_000_000_000).UTC()
	var wg sync.WaitGroup
	errs := make(chan error, callers*rounds*2)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("g%d", i)
			for r := range rounds {
				g := meta.GroupMetadata{Group: name, Type: meta.GroupClassic, State: "Stable", Generation: int32(r + 1), UpdateTime: at,
					Members: []meta.GroupMember{{ID: fmt.Sprintf("m-%d", r), Assignment: []byte{byte(r)}}}}
				if err := c.PutGroups(ctx, []meta.GroupMetadata{g}); err != nil {
					errs <- err
				}
				if err := c.CommitOffsets(ctx, []meta.GroupOffset{offset(name, "t", int32(r%3), int64(r))}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent write: %v", err)
	}
	gs := readGroups(t, c)
	if len(gs) != callers {
		t.Fatalf("Groups = %d groups, want %d", len(gs), callers)
	}
	for _, g := range gs {
		if g.Generation != rounds || len(g.Members) != 1 || g.Members[0].ID != fmt.Sprintf("m-%d", rounds-1) {
			t.Errorf("group %s = generation %d, members %+v; want its last write", g.Group, g.Generation, g.Members)
		}
		offs, err := c.GroupOffsets(ctx, g.Group)
		if err != nil || len(offs) != 3 {
			t.Errorf("GroupOffsets(%s) = %d offsets, %v; want 3", g.Group, len(offs), err)
		}
	}
}

// Called with a done context, the Groups methods change nothing; after
// Close they fail with ErrClosed.
func testGroupsCancelledAndClosed(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	in := SampleGroups(t)
	PutGroups(t, c, in...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	changed := in[0]
	changed.Generation++
	calls := map[string]func(ctx context.Context) error{
		"PutGroups":    func(ctx context.Context) error { return c.PutGroups(ctx, []meta.GroupMetadata{changed}) },
		"Groups":       func(ctx context.Context) error { _, err := c.Groups(ctx); return err },
		"DeleteGroups": func(ctx context.Context) error { return c.DeleteGroups(ctx, []string{"billing"}) },
	}
	for name, call := range calls {
		if err := call(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: err = %v, want one wrapping %v", name, err, context.Canceled)
		}
	}
	EqualGroups(t, readGroups(t, c), byGroup(in))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for name, call := range calls {
		if err := call(t.Context()); !errors.Is(err, meta.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want %v", name, err, meta.ErrClosed)
		}
	}
}

// testGroupsFenced: a coordinator shard's holder stores and deletes groups'
// membership while its lease holds; after a takeover the deposed holder's
// writes and deletes are fenced and change nothing of what the new holder
// stored.
func testGroupsFenced(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	key := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 3}
	f1 := holdLease(t, c, 1, key)
	in := SampleGroups(t)
	if err := c.PutGroupsFenced(ctx, f1, in); err != nil {
		t.Fatalf("fenced put by the holder: %v", err)
	}
	if err := c.DeleteGroupsFenced(ctx, f1, []string{"empty"}); err != nil {
		t.Fatalf("fenced delete by the holder: %v", err)
	}
	kept := byGroup(in[:2])
	EqualGroups(t, readGroups(t, c), kept)
	changed := in[0]
	changed.Generation++
	for _, bad := range []meta.Fence{
		{Key: key, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch + 1},
		{Key: key, Node: 2, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch},
		{Key: key, Node: 1, SessionEpoch: f1.SessionEpoch + 1, Epoch: f1.Epoch},
		{Key: meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 4}, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch},
	} {
		if err := c.PutGroupsFenced(ctx, bad, []meta.GroupMetadata{changed}); !errors.Is(err, meta.ErrFenced) {
			t.Fatalf("put fenced by %+v: err = %v, want %v", bad, err, meta.ErrFenced)
		}
		if err := c.DeleteGroupsFenced(ctx, bad, []string{"billing"}); !errors.Is(err, meta.ErrFenced) {
			t.Fatalf("delete fenced by %+v: err = %v, want %v", bad, err, meta.ErrFenced)
		}
	}
	EqualGroups(t, readGroups(t, c), kept)

	// Broker 1's session ends; broker 2 takes the shard over and stores
	// its own state of billing.
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	f2 := holdLease(t, c, 2, key)
	mine := in[0]
	mine.Generation, mine.Leader = 20, "c-2-b"
	if err := c.PutGroupsFenced(ctx, f2, []meta.GroupMetadata{mine}); err != nil {
		t.Fatalf("the new holder's put: %v", err)
	}
	if err := c.PutGroupsFenced(ctx, f1, []meta.GroupMetadata{changed}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed holder's put: err = %v, want %v", err, meta.ErrFenced)
	}
	if err := c.DeleteGroupsFenced(ctx, f1, []string{"billing", "kip848"}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed holder's delete: err = %v, want %v", err, meta.ErrFenced)
	}
	EqualGroups(t, readGroups(t, c), []meta.GroupMetadata{mine, in[1]})
	if err := c.DeleteGroupsFenced(ctx, f2, []string{"kip848"}); err != nil {
		t.Fatalf("the new holder's delete: %v", err)
	}
	EqualGroups(t, readGroups(t, c), []meta.GroupMetadata{mine})
}

// testGroupsFencedConcurrent: fenced and unfenced group writes and offset
// commits at once (a catalog may write them in shared transactions): the
// deposed holder's writes all fail with ErrFenced and store nothing, and
// every other write lands.
func testGroupsFencedConcurrent(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	key := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 1}
	old := holdLease(t, c, 1, key)
	if err := c.DeregisterBroker(ctx, 1, old.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	cur := holdLease(t, c, 2, key)
	other := holdLease(t, c, 3, meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 2})
	at := time.UnixMilli(1_700_000_000_000).UTC()
	const callers, rounds = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, callers*rounds*2)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// Caller 0 is the deposed holder of shard 1; the
				// others write as shard 1's or 2's holder, or
				// unfenced.
				name := fmt.Sprintf("g%d", i)
				if i == 0 {
					name = "g1" // the group the new holder writes
				}
				g := meta.GroupMetadata{Group: name, Type: meta.GroupClassic, State: "Stable", Generation: int32(r + 1), UpdateTime: at}
				var err error
				switch i % 3 {
				case 0:
					if i == 0 {
						g.Generation = 1000
						err = c.PutGroupsFenced(ctx, old, []meta.GroupMetadata{g})
						if !errors.Is(err, meta.ErrFenced) {
							errs <- fmt.Errorf("the deposed holder's put: err = %v, want %v", err, meta.ErrFenced)
						}
						continue
					}
					err = c.PutGroups(ctx, []meta.GroupMetadata{g})
				case 1:
					err = c.PutGroupsFenced(ctx, cur, []meta.GroupMetadata{g})
				case 2:
					err = c.PutGroupsFenced(ctx, other, []meta.GroupMetadata{g})
				}
				if err != nil {
					errs <- fmt.Errorf("put of %s: %w", name, err)
				}
				if err := c.CommitOffsets(ctx, []meta.GroupOffset{offset(name, "t", 0, int64(r))}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	gs := readGroups(t, c)
	if len(gs) != callers-1 {
		t.Fatalf("Groups = %d groups, want %d", len(gs), callers-1)
	}
	for _, g := range gs {
		if g.Generation != rounds {
			t.Errorf("group %s at generation %d, want %d (its last write, none of the deposed holder's)", g.Group, g.Generation, rounds)
		}
	}
}
