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
