package metatest

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// The cases for meta.Offsets. None of them creates the topics it commits
// offsets of unless the case is about topics: the catalog stores offsets of
// topics that do not exist.

func testOffsetsRoundTrip(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	at := time.UnixMilli(1_700_000_000_123).UTC()
	in := []meta.GroupOffset{
		{Group: "g", Topic: "orders", Partition: 10, Offset: 42, LeaderEpoch: 7, Metadata: "consumer-1", CommitTime: at},
		// The client named no epoch, and no metadata.
		{Group: "g", Topic: "orders", Partition: 2, Offset: 0, LeaderEpoch: -1, Metadata: "", CommitTime: at.Add(time.Millisecond)},
		{Group: "g", Topic: "a.b", Partition: 0, Offset: math.MaxInt64, LeaderEpoch: math.MaxInt32, Metadata: "ünïcødé, \"quotes\", '; DROP TABLE", CommitTime: at},
		{Group: "g", Topic: "B", Partition: math.MaxInt32, Offset: 1, LeaderEpoch: 0, Metadata: strings.Repeat("m", 4096), CommitTime: at},
		// Kafka's "no offset" is the coordinator's to refuse, not the
		// catalog's.
		{Group: "g", Topic: "orders", Partition: 0, Offset: -1, LeaderEpoch: -1, CommitTime: at},
	}
	CommitOffsets(t, c, in...)
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	EqualOffsets(t, got, sortOffsets(in))
}

func testOffsetsOrdered(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	// Bytewise, as for topic names, and partitions as numbers: 10 after
	// 9, not after 1.
	topics := []string{"b", "a.b", "_internal", "B", "a", "A-1", "a-b", "Z", "0", "a_b"}
	var in []meta.GroupOffset
	for i, tp := range topics {
		for _, p := range []int32{10, 1, 9, 0, 2} {
			in = append(in, offset("g", tp, p, int64(i*100+int(p))))
		}
	}
	// One call per topic, so that order of commit is not the order
	// returned.
	for i := len(topics) - 1; i >= 0; i-- {
		CommitOffsets(t, c, in[i*5:(i+1)*5]...)
	}
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	EqualOffsets(t, got, sortOffsets(in))
}

func testOffsetsCommitTimeStamped(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	CommitOffsets(t, c, meta.GroupOffset{Group: "g", Topic: "t", Partition: 0, Offset: 5, LeaderEpoch: -1})
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	// The catalog's clock may be a test's, so no claim about its value.
	if len(got) != 1 || got[0].CommitTime.IsZero() {
		t.Errorf("GroupOffsets = %s, want one offset with CommitTime stamped", showOffsets(got))
	}
}

func testOffsetsNone(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	groups, err := c.OffsetGroups(ctx)
	if err != nil {
		t.Fatalf("OffsetGroups of a new catalog: %v", err)
	}
	if len(groups) != 0 {
		t.Errorf("OffsetGroups of a new catalog = %q, want none", groups)
	}
	CommitOffsets(t, c, offset("other", "t", 0, 1))
	for _, g := range []string{"absent", "", "othe", "other "} {
		got, err := c.GroupOffsets(ctx, g)
		if err != nil {
			t.Errorf("GroupOffsets(%q): %v", g, err)
		}
		if len(got) != 0 {
			t.Errorf("GroupOffsets(%q) = %s, want none", g, showOffsets(got))
		}
	}
	// Committing nothing stores nothing and is no error.
	for _, none := range [][]meta.GroupOffset{nil, {}} {
		if err := c.CommitOffsets(ctx, none); err != nil {
			t.Errorf("CommitOffsets(%#v): %v", none, err)
		}
	}
	if err := c.DeleteOffsets(ctx, "other", nil); err != nil {
		t.Errorf("DeleteOffsets of no partitions: %v", err)
	}
	checkGroups(t, c, "other")
}

func testOffsetsRecommitReplaces(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	first := []meta.GroupOffset{
		offset("g", "t", 0, 10), offset("g", "t", 1, 11), offset("g", "u", 0, 12),
		offset("h", "t", 0, 13), // the same partition in another group
	}
	CommitOffsets(t, c, first...)
	// A recommit replaces every field, including with the "none" values.
	again := meta.GroupOffset{Group: "g", Topic: "t", Partition: 1, Offset: 5, LeaderEpoch: -1, Metadata: "", CommitTime: first[1].CommitTime.Add(time.Second)}
	CommitOffsets(t, c, again)
	moved := first[2]
	moved.Offset, moved.LeaderEpoch, moved.Metadata = 99, 8, "new"
	moved.CommitTime = moved.CommitTime.Add(time.Hour)
	CommitOffsets(t, c, moved)

	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets(g): %v", err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{first[0], again, moved})
	got, err = c.GroupOffsets(ctx, "h")
	if err != nil {
		t.Fatalf("GroupOffsets(h): %v", err)
	}
	EqualOffsets(t, got, first[3:])
}

func testOffsetsLastInCallWins(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	CommitOffsets(t, c,
		offset("g", "t", 0, 1), offset("g", "t", 1, 2), offset("g", "t", 0, 3), offset("g", "t", 0, 4))
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{offset("g", "t", 0, 4), offset("g", "t", 1, 2)})
}

func testOffsetsManyGroupsInOneCall(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := []meta.GroupOffset{offset("b", "t", 0, 1), offset("a", "t", 0, 2), offset("b", "u", 3, 3)}
	CommitOffsets(t, c, in...)
	checkGroups(t, c, "a", "b")
	for _, g := range []string{"a", "b"} {
		got, err := c.GroupOffsets(ctx, g)
		if err != nil {
			t.Fatalf("GroupOffsets(%s): %v", g, err)
		}
		var want []meta.GroupOffset
		for _, o := range in {
			if o.Group == g {
				want = append(want, o)
			}
		}
		EqualOffsets(t, got, want)
	}
}

func testOffsetGroups(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	groups := []string{"b", "a.b", "_internal", "B", "a", "A-1", "a-b", "Z", "0", "a_b", "", "ä"}
	for i, g := range groups {
		// Several offsets per group: each group is listed once.
		CommitOffsets(t, c, offset(g, "t", 0, int64(i)), offset(g, "t", 1, int64(i)), offset(g, "u", 0, int64(i)))
	}
	want := slices.Clone(groups)
	slices.Sort(want)
	checkGroups(t, c, want...)
}

func testDeleteOffsets(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	g := []meta.GroupOffset{
		offset("g", "t", 0, 1), offset("g", "t", 1, 2), offset("g", "t", 2, 3),
		offset("g", "u", 0, 4), offset("g", "u", 1, 5),
	}
	h := []meta.GroupOffset{offset("h", "t", 0, 6), offset("h", "t", 1, 7)}
	CommitOffsets(t, c, append(slices.Clone(g), h...)...)

	err := c.DeleteOffsets(ctx, "g", []meta.TopicPartition{
		{Topic: "t", Partition: 1},
		{Topic: "u", Partition: 0},
		{Topic: "t", Partition: 1}, // twice
		{Topic: "t", Partition: 9}, // never committed
		{Topic: "absent", Partition: 0},
	})
	if err != nil {
		t.Fatalf("DeleteOffsets: %v", err)
	}
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets(g): %v", err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{g[0], g[2], g[4]})
	// The other group's offsets of the same partitions stay.
	got, err = c.GroupOffsets(ctx, "h")
	if err != nil {
		t.Fatalf("GroupOffsets(h): %v", err)
	}
	EqualOffsets(t, got, h)

	// A group whose last offsets go has no offsets left to list.
	if err := c.DeleteOffsets(ctx, "h", []meta.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}}); err != nil {
		t.Fatalf("DeleteOffsets(h): %v", err)
	}
	checkGroups(t, c, "g")
	if err := c.DeleteOffsets(ctx, "absent", []meta.TopicPartition{{Topic: "t", Partition: 0}}); err != nil {
		t.Errorf("DeleteOffsets of a group without offsets: %v", err)
	}
	// Deleted, then committed again: the new commit, nothing of the old.
	again := offset("g", "t", 1, 100)
	CommitOffsets(t, c, again)
	got, err = c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets(g): %v", err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{g[0], again, g[2], g[4]})
}

func testDeleteGroupOffsets(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	kept := []meta.GroupOffset{offset("g2", "t", 0, 3), offset("g2", "u", 0, 4)}
	// "g" is a prefix of "g2": only the group named goes.
	CommitOffsets(t, c, offset("g", "t", 0, 1), offset("g", "u", 5, 2))
	CommitOffsets(t, c, kept...)
	if err := c.DeleteGroupOffsets(ctx, "g"); err != nil {
		t.Fatalf("DeleteGroupOffsets: %v", err)
	}
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatalf("GroupOffsets(g): %v", err)
	}
	if len(got) != 0 {
		t.Errorf("GroupOffsets after DeleteGroupOffsets = %s, want none", showOffsets(got))
	}
	got, err = c.GroupOffsets(ctx, "g2")
	if err != nil {
		t.Fatalf("GroupOffsets(g2): %v", err)
	}
	EqualOffsets(t, got, kept)
	checkGroups(t, c, "g2")
	for _, g := range []string{"g", "absent"} {
		if err := c.DeleteGroupOffsets(ctx, g); err != nil {
			t.Errorf("DeleteGroupOffsets(%q) of a group without offsets: %v", g, err)
		}
	}
}

func testDeleteTopicRemovesOffsets(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	// "a" is a prefix of "a.b" and "A" differs only in case: neither may
	// lose offsets when "a" goes.
	ids := map[string]meta.TopicID{}
	for _, name := range []string{"a", "a.b", "A"} {
		tp := topic(t, name, 3, nil)
		CreateTopic(t, c, tp)
		ids[name] = tp.ID
	}
	var kept []meta.GroupOffset
	for _, g := range []string{"g1", "g2", "g3"} {
		CommitOffsets(t, c, offset(g, "a", 0, 1), offset(g, "a", 2, 2))
		more := []meta.GroupOffset{offset(g, "a.b", 0, 3), offset(g, "A", 1, 4), offset(g, "absent", 0, 5)}
		CommitOffsets(t, c, more...)
		kept = append(kept, more...)
	}
	// A group with offsets of the deleted topic only.
	CommitOffsets(t, c, offset("only-a", "a", 1, 6))

	if err := c.DeleteTopic(ctx, ids["a"], 1); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	for _, g := range []string{"g1", "g2", "g3"} {
		got, err := c.GroupOffsets(ctx, g)
		if err != nil {
			t.Fatalf("GroupOffsets(%s): %v", g, err)
		}
		var want []meta.GroupOffset
		for _, o := range kept {
			if o.Group == g {
				want = append(want, o)
			}
		}
		EqualOffsets(t, got, sortOffsets(want))
	}
	checkGroups(t, c, "g1", "g2", "g3")

	// A topic recreated under the name starts without offsets.
	CreateTopic(t, c, topic(t, "a", 3, nil))
	got, err := c.GroupOffsets(ctx, "only-a")
	if err != nil {
		t.Fatalf("GroupOffsets(only-a): %v", err)
	}
	if len(got) != 0 {
		t.Errorf("offsets of a deleted topic came back with its successor: %s", showOffsets(got))
	}
}

func testConcurrentCommits(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	// Sixteen committers, each its own group, each committing 20 times to
	// 10 partitions; then all of them to one partition of one group.
	const committers, rounds, partitions = 16, 20, 10
	errs := make([]error, committers)
	parallel(committers, func(i int) {
		g := "group-" + strconv.Itoa(i)
		for r := range rounds {
			batch := make([]meta.GroupOffset, partitions)
			for p := range batch {
				batch[p] = offset(g, "t", int32(p), int64(r))
			}
			if err := c.CommitOffsets(ctx, batch); err != nil {
				errs[i] = err
				return
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("committer %d: %v", i, err)
		}
	}
	var groups []string
	for i := range committers {
		g := "group-" + strconv.Itoa(i)
		groups = append(groups, g)
		got, err := c.GroupOffsets(ctx, g)
		if err != nil {
			t.Fatalf("GroupOffsets(%s): %v", g, err)
		}
		want := make([]meta.GroupOffset, partitions)
		for p := range want {
			want[p] = offset(g, "t", int32(p), rounds-1)
		}
		EqualOffsets(t, got, want)
	}
	slices.Sort(groups)
	checkGroups(t, c, groups...)

	parallel(committers, func(i int) {
		errs[i] = c.CommitOffsets(ctx, []meta.GroupOffset{offset("shared", "t", 0, int64(i))})
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("committer %d to the shared partition: %v", i, err)
		}
	}
	got, err := c.GroupOffsets(ctx, "shared")
	if err != nil {
		t.Fatalf("GroupOffsets(shared): %v", err)
	}
	if len(got) != 1 || got[0].Offset < 0 || got[0].Offset >= committers {
		t.Fatalf("GroupOffsets(shared) = %s, want one of the offsets committed", showOffsets(got))
	}
	EqualOffsets(t, got, []meta.GroupOffset{offset("shared", "t", 0, got[0].Offset)})
}

// CommitOffsets commits offsets to c, failing the test on error.
func CommitOffsets(t testing.TB, c meta.Offsets, offsets ...meta.GroupOffset) {
	t.Helper()
	if err := c.CommitOffsets(t.Context(), offsets); err != nil {
		t.Fatalf("CommitOffsets(%s): %v", showOffsets(offsets), err)
	}
}

// EqualOffsets reports an error unless got is want, in order, as a catalog
// returns them: CommitTime equal to the millisecond.
func EqualOffsets(t testing.TB, got, want []meta.GroupOffset) {
	t.Helper()
	if !slices.EqualFunc(got, want, sameOffset) {
		t.Errorf("offsets\n got %s\nwant %s", showOffsets(got), showOffsets(want))
	}
}

func sameOffset(a, b meta.GroupOffset) bool {
	return a.Group == b.Group && a.Topic == b.Topic && a.Partition == b.Partition &&
		a.Offset == b.Offset && a.LeaderEpoch == b.LeaderEpoch && a.Metadata == b.Metadata &&
		a.CommitTime.Truncate(time.Millisecond).Equal(b.CommitTime.Truncate(time.Millisecond))
}

func showOffsets(os []meta.GroupOffset) string {
	s := make([]string, len(os))
	for i, o := range os {
		md := o.Metadata
		if len(md) > 40 {
			md = md[:40] + "...(" + strconv.Itoa(len(o.Metadata)) + " bytes)"
		}
		s[i] = "{" + strconv.Quote(o.Group) + " " + strconv.Quote(o.Topic) + "/" + strconv.FormatInt(int64(o.Partition), 10) +
			" offset=" + strconv.FormatInt(o.Offset, 10) +
			" epoch=" + strconv.FormatInt(int64(o.LeaderEpoch), 10) +
			" metadata=" + strconv.Quote(md) +
			" at=" + o.CommitTime.UTC().Format(time.RFC3339Nano) + "}"
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// offset returns a commit with every field set, at a time the catalog keeps
// exactly (whole milliseconds, UTC) that differs with the offset.
func offset(group, topic string, partition int32, off int64) meta.GroupOffset {
	return meta.GroupOffset{
		Group:       group,
		Topic:       topic,
		Partition:   partition,
		Offset:      off,
		LeaderEpoch: int32(off % 5),
		Metadata:    "md-" + strconv.FormatInt(off, 10),
		CommitTime:  time.UnixMilli(1_700_000_000_000 + off%1_000_000).UTC(),
	}
}

// sortOffsets returns a copy of os in GroupOffsets' order: by topic,
// bytewise, then partition.
func sortOffsets(os []meta.GroupOffset) []meta.GroupOffset {
	s := slices.Clone(os)
	slices.SortFunc(s, func(a, b meta.GroupOffset) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return s
}

// checkGroups checks that OffsetGroups returns want, in order.
func checkGroups(t testing.TB, c meta.Offsets, want ...string) {
	t.Helper()
	got, err := c.OffsetGroups(t.Context())
	if err != nil {
		t.Fatalf("OffsetGroups: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("OffsetGroups = %q, want %q", got, want)
	}
}

// testCommitOffsetsFenced: a coordinator shard's holder commits offsets
// while its lease holds; after a takeover its commits are fenced and store
// nothing, while the new holder's are stored.
func testCommitOffsetsFenced(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	key := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 7}
	f1 := holdLease(t, c, 1, key)
	first := []meta.GroupOffset{offset("g", "t", 0, 10)}
	if err := c.CommitOffsetsFenced(ctx, f1, first); err != nil {
		t.Fatalf("fenced commit by the holder: %v", err)
	}
	for _, bad := range []meta.Fence{
		{Key: key, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch + 1},
		{Key: key, Node: 2, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch},
		{Key: meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 8}, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch},
	} {
		if err := c.CommitOffsetsFenced(ctx, bad, []meta.GroupOffset{offset("g", "t", 0, 99)}); !errors.Is(err, meta.ErrFenced) {
			t.Fatalf("commit fenced by %+v: err = %v, want %v", bad, err, meta.ErrFenced)
		}
	}
	// Broker 1's session ends; broker 2 takes the shard over.
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	f2 := holdLease(t, c, 2, key)
	if f2.Epoch <= f1.Epoch {
		t.Fatalf("takeover at epoch %d, not above %d", f2.Epoch, f1.Epoch)
	}
	if err := c.CommitOffsetsFenced(ctx, f1, []meta.GroupOffset{offset("g", "t", 0, 99)}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed holder's commit: err = %v, want %v", err, meta.ErrFenced)
	}
	second := []meta.GroupOffset{offset("g", "t", 0, 20)}
	if err := c.CommitOffsetsFenced(ctx, f2, second); err != nil {
		t.Fatalf("the new holder's commit: %v", err)
	}
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	EqualOffsets(t, got, second)
}

// testDeleteOffsetsFenced: a coordinator shard's holder deletes offsets
// while its lease holds; after a takeover the deposed holder's deletes
// (of some partitions, or of the whole group) are fenced and delete
// nothing the new holder committed.
func testDeleteOffsetsFenced(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	key := meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: 5}
	f1 := holdLease(t, c, 1, key)
	CommitOffsets(t, c, offset("g", "t", 0, 1), offset("g", "t", 1, 2), offset("g", "t", 2, 3))
	if err := c.DeleteOffsetsFenced(ctx, f1, "g", []meta.TopicPartition{{Topic: "t", Partition: 0}}); err != nil {
		t.Fatalf("fenced delete by the holder: %v", err)
	}
	bad := meta.Fence{Key: key, Node: 1, SessionEpoch: f1.SessionEpoch, Epoch: f1.Epoch + 1}
	if err := c.DeleteOffsetsFenced(ctx, bad, "g", []meta.TopicPartition{{Topic: "t", Partition: 1}}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("delete fenced by %+v: err = %v, want %v", bad, err, meta.ErrFenced)
	}
	if err := c.DeleteGroupOffsetsFenced(ctx, bad, "g"); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("group delete fenced by %+v: err = %v, want %v", bad, err, meta.ErrFenced)
	}
	if err := c.DeregisterBroker(ctx, 1, f1.SessionEpoch); err != nil {
		t.Fatal(err)
	}
	f2 := holdLease(t, c, 2, key)
	if err := c.CommitOffsetsFenced(ctx, f2, []meta.GroupOffset{offset("g", "t", 1, 20)}); err != nil {
		t.Fatalf("the new holder's commit: %v", err)
	}
	if err := c.DeleteOffsetsFenced(ctx, f1, "g", []meta.TopicPartition{{Topic: "t", Partition: 1}}); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed holder's delete: err = %v, want %v", err, meta.ErrFenced)
	}
	if err := c.DeleteGroupOffsetsFenced(ctx, f1, "g"); !errors.Is(err, meta.ErrFenced) {
		t.Fatalf("the deposed holder's group delete: err = %v, want %v", err, meta.ErrFenced)
	}
	got, err := c.GroupOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	EqualOffsets(t, got, []meta.GroupOffset{offset("g", "t", 1, 20), offset("g", "t", 2, 3)})
	if err := c.DeleteGroupOffsetsFenced(ctx, f2, "g"); err != nil {
		t.Fatalf("the new holder's group delete: %v", err)
	}
	checkGroups(t, c)
}

// holdLease registers broker node and has it take key, and returns the
// fence of its writes under that lease.
func holdLease(t *testing.T, c meta.Catalog, node int32, key meta.LeaseKey) meta.Fence {
	t.Helper()
	epoch, err := c.RegisterBroker(t.Context(), registration(node), longSession)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.AcquireLease(t.Context(), key, node, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return meta.Fence{Key: key, Node: node, SessionEpoch: epoch, Epoch: l.Epoch}
}
