// Package metatest is the conformance suite for meta.Catalog: one body of
// tests that every implementation runs (meta/sqlite, later meta/postgres), so
// that the broker can rely on the contract written in package meta and not on
// one implementation's habits. A bug found in one implementation becomes a
// case here.
//
// An implementation's test calls Run with a function that opens a new, empty
// catalog:
//
//	func TestConformance(t *testing.T) {
//		metatest.Run(t, func(t *testing.T) meta.Catalog {
//			c, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "metadata.db"), sqlite.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			return c
//		})
//	}
package metatest

import (
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// Run runs the suite. Each subtest calls open once for a catalog of its own,
// new and empty, and closes it when it ends, so open need not register a
// cleanup (if it does, Close is idempotent). Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) meta.Catalog) {
	t.Helper()
	open = closing(open)
	tests := []struct {
		name string
		run  func(t *testing.T, open func(t *testing.T) meta.Catalog)
	}{
		{"ClusterID", testClusterID},
		{"ClusterIDConcurrentFirstUse", testClusterIDConcurrent},
		{"ProducerIDs", testProducerIDs},
		{"ProducerIDsConcurrent", testProducerIDsConcurrent},
		{"Transactions", testTransactions},
		{"TxnMarkers", testTxnMarkers},
		{"CommitOffsetsFenced", testCommitOffsetsFenced},
		{"PutTransactionFenced", testPutTransactionFenced},
		{"DeleteOffsetsFenced", testDeleteOffsetsFenced},
		{"BrokerConfigs", testBrokerConfigs},
		{"ClientQuotas", testClientQuotas},
		{"ScramCredentials", testScramCredentials},
		{"ACLs", testACLs},
		{"DelegationTokens", testDelegationTokens},
		{"CreateAndGet", testCreateAndGet},
		{"CreatedAtStampedWhenZero", testCreatedAtStamped},
		{"NoConfigsIsEmptyMap", testNoConfigs},
		{"ListOrderedByName", testListOrdered},
		{"ListEmpty", testListEmpty},
		{"DuplicateName", testDuplicateName},
		{"DuplicateID", testDuplicateID},
		{"DuplicateNameAndID", testDuplicateNameAndID},
		{"MissingTopic", testMissingTopic},
		{"DeleteRemovesTopicAndConfigs", testDelete},
		{"RecreateAfterDelete", testRecreate},
		{"SetConfigsReplaces", testSetConfigs},
		{"SetPartitions", testSetPartitions},
		{"MapsAreCopies", testMapsAreCopies},
		{"ConcurrentCreateDistinct", testConcurrentDistinct},
		{"ConcurrentCreateSameName", testConcurrentSameName},
		{"ConcurrentCreateSameID", testConcurrentSameID},
		{"ConcurrentSetConfigs", testConcurrentSetConfigs},
		{"TopicConflicts", testTopicConflicts},
		{"Changes", testChanges},
		{"WaitChange", testWaitChange},
		{"Snapshot", testSnapshot},
		{"RemoteSegments", testRemoteSegments},
		{"ReplaceRemoteSegments", testReplaceRemoteSegments},
		{"Members", testMembers},
		{"MemberExpiry", testMemberExpiry},
		{"Leases", testLeases},
		{"WAL", testWAL},
		{"OffsetsRoundTrip", testOffsetsRoundTrip},
		{"OffsetsOrderedByTopicAndPartition", testOffsetsOrdered},
		{"OffsetsCommitTimeStampedWhenZero", testOffsetsCommitTimeStamped},
		{"OffsetsNone", testOffsetsNone},
		{"OffsetsRecommitReplaces", testOffsetsRecommitReplaces},
		{"OffsetsLastInCallWins", testOffsetsLastInCallWins},
		{"OffsetsManyGroupsInOneCall", testOffsetsManyGroupsInOneCall},
		{"OffsetGroupsOrderedAndDistinct", testOffsetGroups},
		{"DeleteOffsets", testDeleteOffsets},
		{"DeleteGroupOffsets", testDeleteGroupOffsets},
		{"DeleteTopicRemovesOffsets", testDeleteTopicRemovesOffsets},
		{"ConcurrentCommitOffsets", testConcurrentCommits},
		{"CancelledContext", testCancelled},
		{"Closed", testClosed},
		{"CloseDuringCalls", testCloseDuringCalls},
	}
	tests = append(tests, groupCases()...)
	tests = append(tests, shareCases()...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, open)
		})
	}
}

// closing wraps open so that every catalog the suite opens is closed, and
// closes cleanly, when its test ends.
func closing(open func(t *testing.T) meta.Catalog) func(t *testing.T) meta.Catalog {
	return func(t *testing.T) meta.Catalog {
		t.Helper()
		c := open(t)
		if c == nil {
			t.Fatal("open returned a nil catalog")
		}
		t.Cleanup(func() {
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return c
	}
}

func testClusterID(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	id, err := c.ClusterID(ctx)
	if err != nil {
		t.Fatalf("ClusterID: %v", err)
	}
	checkClusterID(t, id)
	for range 3 {
		again, err := c.ClusterID(ctx)
		if err != nil {
			t.Fatalf("ClusterID again: %v", err)
		}
		if again != id {
			t.Fatalf("ClusterID changed from %q to %q", id, again)
		}
	}
	// A catalog of its own has a cluster id of its own.
	other, err := open(t).ClusterID(ctx)
	if err != nil {
		t.Fatalf("ClusterID of a second catalog: %v", err)
	}
	if other == id {
		t.Errorf("two catalogs share cluster id %q", id)
	}
}

func testClusterIDConcurrent(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	ids := make([]string, 16)
	errs := make([]error, len(ids))
	parallel(len(ids), func(i int) {
		ids[i], errs[i] = c.ClusterID(t.Context())
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("ClusterID %d: %v", i, err)
		}
		if ids[i] != ids[0] {
			t.Fatalf("concurrent first calls disagree: %q and %q", ids[0], ids[i])
		}
	}
	checkClusterID(t, ids[0])
}

func testCreateAndGet(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	want := meta.Topic{
		Name:              "orders",
		ID:                NewTopicID(t),
		Partitions:        12,
		ReplicationFactor: 3,
		Configs:           map[string]string{"cleanup.policy": "compact", "retention.ms": "-1", "empty.value": ""},
		CreatedAt:         time.UnixMilli(1_700_000_000_123).UTC(),
		Version:           1,
	}
	if err := c.CreateTopic(ctx, want); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	got, err := c.Topic(ctx, want.Name)
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	EqualTopic(t, got, want)
	list, err := c.Topics(ctx)
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, list, []meta.Topic{want})
}

func testCreatedAtStamped(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	CreateTopic(t, c, meta.Topic{Name: "t", ID: NewTopicID(t), Partitions: 1})
	got, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	// The catalog's clock may be a test's, so no claim about its value.
	if got.CreatedAt.IsZero() {
		t.Error("CreatedAt is zero; the catalog should have stamped it")
	}
}

func testNoConfigs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	for _, configs := range []map[string]string{nil, {}} {
		id := NewTopicID(t)
		CreateTopic(t, c, meta.Topic{Name: "t", ID: id, Partitions: 1, Configs: configs})
		got, err := c.Topic(ctx, "t")
		if err != nil {
			t.Fatalf("Topic: %v", err)
		}
		if got.Configs == nil || len(got.Configs) != 0 {
			t.Errorf("created with configs %#v: Topic returned %#v, want an empty non-nil map", configs, got.Configs)
		}
		list, err := c.Topics(ctx)
		if err != nil {
			t.Fatalf("Topics: %v", err)
		}
		if len(list) != 1 || list[0].Configs == nil || len(list[0].Configs) != 0 {
			t.Errorf("created with configs %#v: Topics returned %+v, want one topic with an empty non-nil map", configs, list)
		}
		if err := c.DeleteTopic(ctx, id, 1); err != nil {
			t.Fatalf("DeleteTopic: %v", err)
		}
	}
}

func testListOrdered(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	// Bytewise order differs from most locales' collations here: upper
	// case before '_' before lower case, and a prefix before its
	// extensions.
	names := []string{"b", "a.b", "_internal", "B", "a", "A-1", "a-b", "Z", "0", "a_b"}
	want := make([]meta.Topic, 0, len(names))
	for i, n := range names {
		tp := meta.Topic{
			Name:       n,
			ID:         NewTopicID(t),
			Partitions: int32(i + 1),
			Configs:    map[string]string{"index": string(rune('a' + i))},
			CreatedAt:  time.UnixMilli(int64(1_700_000_000_000 + i)).UTC(),
			Version:    1,
		}
		CreateTopic(t, c, tp)
		want = append(want, tp)
	}
	slices.SortFunc(want, func(a, b meta.Topic) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	got, err := c.Topics(ctx)
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, got, want)
}

func testListEmpty(t *testing.T, open func(t *testing.T) meta.Catalog) {
	got, err := open(t).Topics(t.Context())
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Topics of a new catalog = %+v, want none", got)
	}
}

func testDuplicateName(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	orig := topic(t, "dup", 3, map[string]string{"a": "1"})
	CreateTopic(t, c, orig)
	err := c.CreateTopic(ctx, topic(t, "dup", 5, map[string]string{"b": "2"}))
	if !errors.Is(err, meta.ErrTopicExists) {
		t.Fatalf("CreateTopic of a taken name: err = %v, want %v", err, meta.ErrTopicExists)
	}
	got, err := c.Topic(ctx, "dup")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	EqualTopic(t, got, orig)
}

func testDuplicateID(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	orig := topic(t, "first", 3, nil)
	CreateTopic(t, c, orig)
	dup := topic(t, "second", 1, map[string]string{"a": "1"})
	dup.ID = orig.ID
	err := c.CreateTopic(ctx, dup)
	if !errors.Is(err, meta.ErrTopicIDExists) {
		t.Fatalf("CreateTopic of a taken ID: err = %v, want %v", err, meta.ErrTopicIDExists)
	}
	if _, err := c.Topic(ctx, "second"); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("Topic after a refused create: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
	list, err := c.Topics(ctx)
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, list, []meta.Topic{orig})
}

func testDuplicateNameAndID(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	orig := topic(t, "same", 3, nil)
	CreateTopic(t, c, orig)
	// Both taken, as when a client retries a create that succeeded: the
	// name is what Kafka reports.
	if err := c.CreateTopic(t.Context(), orig); !errors.Is(err, meta.ErrTopicExists) {
		t.Fatalf("CreateTopic of a taken name and ID: err = %v, want %v", err, meta.ErrTopicExists)
	}
}

func testMissingTopic(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	// Another topic exists, so that "not found" is about the name.
	CreateTopic(t, c, topic(t, "present", 1, nil))
	absent := NewTopicID(t)
	tests := []struct {
		name string
		call func() error
	}{
		{"Topic", func() error { _, err := c.Topic(ctx, "absent"); return err }},
		{"TopicByID", func() error { _, err := c.TopicByID(ctx, absent); return err }},
		{"DeleteTopic", func() error { return c.DeleteTopic(ctx, absent, 1) }},
		{"SetTopicConfigs", func() error { return c.SetTopicConfigs(ctx, absent, 1, map[string]string{"a": "1"}) }},
		{"SetTopicConfigsNil", func() error { return c.SetTopicConfigs(ctx, absent, 1, nil) }},
		{"SetPartitions", func() error { return c.SetPartitions(ctx, absent, 1, 2) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, meta.ErrTopicNotFound) {
				t.Errorf("err = %v, want %v", err, meta.ErrTopicNotFound)
			}
		})
	}
	// Nothing was created on the way.
	if _, err := c.Topic(ctx, "absent"); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("Topic after the failed calls: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
}

func testDelete(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	gone := topic(t, "gone", 2, map[string]string{"retention.ms": "1000", "segment.bytes": "1024"})
	kept := topic(t, "kept", 1, map[string]string{"retention.ms": "5"})
	CreateTopic(t, c, gone)
	CreateTopic(t, c, kept)
	if err := c.DeleteTopic(ctx, gone.ID, 1); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	if _, err := c.Topic(ctx, "gone"); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("Topic after delete: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
	if _, err := c.TopicByID(ctx, gone.ID); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("TopicByID after delete: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
	if err := c.DeleteTopic(ctx, gone.ID, 1); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("DeleteTopic twice: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
	list, err := c.Topics(ctx)
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, list, []meta.Topic{kept})
	// The configs went with the topic: a topic of the same name starts
	// without them.
	again := topic(t, "gone", 2, nil)
	CreateTopic(t, c, again)
	got, err := c.Topic(ctx, "gone")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	EqualTopic(t, got, again)
}

func testRecreate(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	old := topic(t, "t", 3, map[string]string{"a": "1"})
	CreateTopic(t, c, old)
	if err := c.DeleteTopic(ctx, old.ID, 1); err != nil {
		t.Fatalf("DeleteTopic: %v", err)
	}
	renewed := topic(t, "t", 5, map[string]string{"b": "2"})
	CreateTopic(t, c, renewed)
	got, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	EqualTopic(t, got, renewed)
	if got.ID == old.ID {
		t.Errorf("recreated topic kept the old ID %x", old.ID)
	}
	// The deleted topic's ID is free again.
	CreateTopic(t, c, meta.Topic{Name: "other", ID: old.ID, Partitions: 1})
}

func testSetConfigs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	base := topic(t, "t", 3, map[string]string{"a": "1", "b": "2"})
	other := topic(t, "other", 1, map[string]string{"a": "x"})
	CreateTopic(t, c, base)
	CreateTopic(t, c, other)
	steps := []struct {
		name string
		set  map[string]string
		want map[string]string
	}{
		{"replace not merge", map[string]string{"b": "20", "c": "3"}, map[string]string{"b": "20", "c": "3"}},
		{"same again", map[string]string{"b": "20", "c": "3"}, map[string]string{"b": "20", "c": "3"}},
		{"empty value", map[string]string{"c": ""}, map[string]string{"c": ""}},
		{"empty map clears", map[string]string{}, map[string]string{}},
		{"set after clear", map[string]string{"d": "4"}, map[string]string{"d": "4"}},
		{"nil clears", nil, map[string]string{}},
	}
	// Steps, not parallel cases: each starts from the one before.
	want := base
	for _, s := range steps {
		if err := c.SetTopicConfigs(ctx, base.ID, want.Version, s.set); err != nil {
			t.Fatalf("%s: SetTopicConfigs: %v", s.name, err)
		}
		want.Configs = s.want
		want.Version++
		got, err := c.Topic(ctx, "t")
		if err != nil {
			t.Fatalf("%s: Topic: %v", s.name, err)
		}
		EqualTopic(t, got, want)
		got, err = c.Topic(ctx, "other")
		if err != nil {
			t.Fatalf("%s: Topic(other): %v", s.name, err)
		}
		EqualTopic(t, got, other)
	}
}

func testSetPartitions(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	want := topic(t, "t", 3, map[string]string{"a": "1"})
	other := topic(t, "other", 7, nil)
	CreateTopic(t, c, want)
	CreateTopic(t, c, other)
	for _, n := range []int32{6, 6, 100} {
		if err := c.SetPartitions(ctx, want.ID, want.Version, n); err != nil {
			t.Fatalf("SetPartitions(%d): %v", n, err)
		}
		want.Partitions = n
		want.Version++
		got, err := c.Topic(ctx, "t")
		if err != nil {
			t.Fatalf("Topic: %v", err)
		}
		EqualTopic(t, got, want)
	}
	list, err := c.Topics(ctx)
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, list, []meta.Topic{other, want})
}

func testMapsAreCopies(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	in := map[string]string{"a": "1"}
	tp := topic(t, "t", 1, in)
	CreateTopic(t, c, tp)
	in["a"] = "changed"
	in["b"] = "added"
	got, err := c.Topic(ctx, "t")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	got.Configs["a"] = "changed too"
	set := map[string]string{"x": "1"}
	if err := c.SetTopicConfigs(ctx, tp.ID, 1, set); err != nil {
		t.Fatalf("SetTopicConfigs: %v", err)
	}
	set["x"] = "changed"
	got, err = c.Topic(ctx, "t")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	if want := map[string]string{"x": "1"}; !maps.Equal(got.Configs, want) {
		t.Errorf("Configs = %v, want %v: the catalog kept a caller's map", got.Configs, want)
	}
}

func testConcurrentDistinct(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	want := make([]meta.Topic, 16)
	for i := range want {
		want[i] = topic(t, "topic-"+string(rune('a'+i)), int32(i+1), map[string]string{"i": string(rune('a' + i))})
	}
	errs := make([]error, len(want))
	parallel(len(want), func(i int) {
		errs[i] = c.CreateTopic(t.Context(), want[i])
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("CreateTopic(%s): %v", want[i].Name, err)
		}
	}
	got, err := c.Topics(t.Context())
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, got, want)
}

func testConcurrentSameName(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	tries := make([]meta.Topic, 16)
	for i := range tries {
		tries[i] = topic(t, "contended", int32(i+1), map[string]string{"try": string(rune('a' + i))})
	}
	errs := make([]error, len(tries))
	parallel(len(tries), func(i int) {
		errs[i] = c.CreateTopic(t.Context(), tries[i])
	})
	winner := oneWinner(t, errs, meta.ErrTopicExists)
	if winner < 0 {
		return
	}
	got, err := c.Topic(t.Context(), "contended")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	// All of the winner's topic and nothing of a loser's.
	EqualTopic(t, got, tries[winner])
}

func testConcurrentSameID(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	id := NewTopicID(t)
	tries := make([]meta.Topic, 16)
	for i := range tries {
		tries[i] = meta.Topic{Name: "t-" + string(rune('a'+i)), ID: id, Partitions: 1, Version: 1}
	}
	errs := make([]error, len(tries))
	parallel(len(tries), func(i int) {
		errs[i] = c.CreateTopic(t.Context(), tries[i])
	})
	winner := oneWinner(t, errs, meta.ErrTopicIDExists)
	if winner < 0 {
		return
	}
	list, err := c.Topics(t.Context())
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	if len(list) != 1 || list[0].Name != tries[winner].Name {
		t.Errorf("Topics = %+v, want only %q", list, tries[winner].Name)
	}
}

// testConcurrentSetConfigs: writes computed from the same version race;
// exactly one lands, whole, and every other fails with ErrConflict.
func testConcurrentSetConfigs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	tp := topic(t, "t", 1, map[string]string{"start": "1"})
	CreateTopic(t, c, tp)
	sets := make([]map[string]string, 8)
	for i := range sets {
		// Overlapping keys, so that a merge of two writes shows.
		k := string(rune('a' + i))
		sets[i] = map[string]string{"shared": k, "own-" + k: k, "more-" + k: k}
	}
	errs := make([]error, len(sets))
	parallel(len(sets), func(i int) {
		errs[i] = c.SetTopicConfigs(t.Context(), tp.ID, 1, sets[i])
	})
	winner := oneWinner(t, errs, meta.ErrConflict)
	if winner < 0 {
		return
	}
	got, err := c.Topic(t.Context(), "t")
	if err != nil {
		t.Fatalf("Topic: %v", err)
	}
	if !maps.Equal(got.Configs, sets[winner]) || got.Version != 2 {
		t.Errorf("Configs = %v at version %d after concurrent replaces, want the winner's %v at version 2", got.Configs, got.Version, sets[winner])
	}
}

func testCancelled(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	present := topic(t, "present", 3, map[string]string{"a": "1"})
	CreateTopic(t, c, present)
	committed := []meta.GroupOffset{offset("g", "present", 0, 1), offset("g", "present", 1, 2)}
	CommitOffsets(t, c, committed...)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"ClusterID", func() error { _, err := c.ClusterID(ctx); return err }},
		{"CreateTopic", func() error { return c.CreateTopic(ctx, topic(t, "new", 1, map[string]string{"a": "1"})) }},
		{"DeleteTopic", func() error { return c.DeleteTopic(ctx, present.ID, 1) }},
		{"Topic", func() error { _, err := c.Topic(ctx, "present"); return err }},
		{"TopicByID", func() error { _, err := c.TopicByID(ctx, present.ID); return err }},
		{"Topics", func() error { _, err := c.Topics(ctx); return err }},
		{"SetTopicConfigs", func() error { return c.SetTopicConfigs(ctx, present.ID, 1, map[string]string{"b": "2"}) }},
		{"SetPartitions", func() error { return c.SetPartitions(ctx, present.ID, 1, 9) }},
		{"Changes", func() error { _, err := c.Changes(ctx, 0, 10); return err }},
		{"LastChange", func() error { _, err := c.LastChange(ctx); return err }},
		{"SetBrokerConfigs", func() error { return c.SetBrokerConfigs(ctx, "", 0, map[string]string{"a": "1"}) }},
		{"SetClientQuota", func() error {
			return c.SetClientQuota(ctx, meta.ClientQuota{Entity: []meta.QuotaEntityPart{{Type: "user"}}, Values: map[string]float64{"producer_byte_rate": 1}})
		}},
		{"PutTransaction", func() error { return c.PutTransaction(ctx, meta.Transaction{ID: "x", State: "Empty"}, nil) }},
		{"CommitOffsets", func() error {
			return c.CommitOffsets(ctx, []meta.GroupOffset{offset("g", "present", 0, 7), offset("new", "present", 0, 8)})
		}},
		{"GroupOffsets", func() error { _, err := c.GroupOffsets(ctx, "g"); return err }},
		{"OffsetGroups", func() error { _, err := c.OffsetGroups(ctx); return err }},
		{"DeleteOffsets", func() error {
			return c.DeleteOffsets(ctx, "g", []meta.TopicPartition{{Topic: "present", Partition: 0}})
		}},
		{"DeleteGroupOffsets", func() error { return c.DeleteGroupOffsets(ctx, "g") }},
		{"DeleteOffsetsFenced", func() error {
			return c.DeleteOffsetsFenced(ctx, meta.Fence{}, "g", []meta.TopicPartition{{Topic: "present", Partition: 0}})
		}},
		{"DeleteGroupOffsetsFenced", func() error { return c.DeleteGroupOffsetsFenced(ctx, meta.Fence{}, "g") }},
		{"PutGroupsFenced", func() error {
			return c.PutGroupsFenced(ctx, meta.Fence{}, []meta.GroupMetadata{{Group: "g", Type: meta.GroupClassic}})
		}},
		{"DeleteGroupsFenced", func() error { return c.DeleteGroupsFenced(ctx, meta.Fence{}, []string{"g"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want one wrapping %v", err, context.Canceled)
			}
		})
	}
	// None of the calls changed anything.
	list, err := c.Topics(t.Context())
	if err != nil {
		t.Fatalf("Topics: %v", err)
	}
	EqualTopics(t, list, []meta.Topic{present})
	got, err := c.GroupOffsets(t.Context(), "g")
	if err != nil {
		t.Fatalf("GroupOffsets: %v", err)
	}
	EqualOffsets(t, got, committed)
	checkGroups(t, c, "g")
}

func testClosed(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	present := topic(t, "present", 1, nil)
	CreateTopic(t, c, present)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"ClusterID", func() error { _, err := c.ClusterID(ctx); return err }},
		{"CreateTopic", func() error { return c.CreateTopic(ctx, topic(t, "new", 1, nil)) }},
		{"DeleteTopic", func() error { return c.DeleteTopic(ctx, present.ID, 1) }},
		{"Topic", func() error { _, err := c.Topic(ctx, "present"); return err }},
		{"TopicByID", func() error { _, err := c.TopicByID(ctx, present.ID); return err }},
		{"Topics", func() error { _, err := c.Topics(ctx); return err }},
		{"SetTopicConfigs", func() error { return c.SetTopicConfigs(ctx, present.ID, 1, nil) }},
		{"SetPartitions", func() error { return c.SetPartitions(ctx, present.ID, 1, 2) }},
		{"Changes", func() error { _, err := c.Changes(ctx, 0, 10); return err }},
		{"LastChange", func() error { _, err := c.LastChange(ctx); return err }},
		{"BrokerConfigs", func() error { _, err := c.BrokerConfigs(ctx); return err }},
		{"ClientQuotas", func() error { _, err := c.ClientQuotas(ctx); return err }},
		{"Transactions", func() error { _, err := c.Transactions(ctx); return err }},
		{"PutTxnMarkers", func() error { return c.PutTxnMarkers(ctx, "x", 1, nil) }},
		{"TxnMarkers", func() error { _, err := c.TxnMarkers(ctx, "x", 1); return err }},
		{"CommitOffsets", func() error { return c.CommitOffsets(ctx, []meta.GroupOffset{offset("g", "present", 0, 1)}) }},
		{"CommitNoOffsets", func() error { return c.CommitOffsets(ctx, nil) }},
		{"CommitOffsetsFenced", func() error { return c.CommitOffsetsFenced(ctx, meta.Fence{}, nil) }},
		{"PutTransactionFenced", func() error { return c.PutTransactionFenced(ctx, meta.Fence{}, meta.Transaction{ID: "x"}, nil) }},
		{"ReplaceRemoteSegments", func() error { return c.ReplaceRemoteSegments(ctx, meta.Fence{}, present.ID, 0, nil, nil) }},
		{"GroupOffsets", func() error { _, err := c.GroupOffsets(ctx, "g"); return err }},
		{"OffsetGroups", func() error { _, err := c.OffsetGroups(ctx); return err }},
		{"DeleteOffsets", func() error {
			return c.DeleteOffsets(ctx, "g", []meta.TopicPartition{{Topic: "present", Partition: 0}})
		}},
		{"DeleteGroupOffsets", func() error { return c.DeleteGroupOffsets(ctx, "g") }},
		{"DeleteOffsetsFenced", func() error {
			return c.DeleteOffsetsFenced(ctx, meta.Fence{}, "g", []meta.TopicPartition{{Topic: "present", Partition: 0}})
		}},
		{"DeleteGroupOffsetsFenced", func() error { return c.DeleteGroupOffsetsFenced(ctx, meta.Fence{}, "g") }},
		{"PutGroupsFenced", func() error {
			return c.PutGroupsFenced(ctx, meta.Fence{}, []meta.GroupMetadata{{Group: "g", Type: meta.GroupClassic}})
		}},
		{"DeleteGroupsFenced", func() error { return c.DeleteGroupsFenced(ctx, meta.Fence{}, []string{"g"}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, meta.ErrClosed) {
				t.Errorf("err = %v, want %v", err, meta.ErrClosed)
			}
		})
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close again: %v, want nil", err)
	}
}

func testCloseDuringCalls(t *testing.T, open func(t *testing.T) meta.Catalog) {
	c := open(t)
	present := topic(t, "present", 1, nil)
	CreateTopic(t, c, present)
	// Calls racing Close either complete or report ErrClosed; none may
	// fail otherwise, hang or touch released resources (-race).
	const callers = 8
	errs := make([]error, callers+1)
	parallel(callers+1, func(i int) {
		if i == callers {
			errs[i] = c.Close()
			return
		}
		for j := 0; ; j++ {
			var err error
			switch j % 5 {
			case 0:
				_, err = c.Topics(t.Context())
			case 1:
				// Each caller's write may race another's: a
				// conflict is an answer like any other.
				var tp meta.Topic
				if tp, err = c.TopicByID(t.Context(), present.ID); err == nil {
					err = c.SetPartitions(t.Context(), present.ID, tp.Version, int32(j+1))
					if errors.Is(err, meta.ErrConflict) {
						err = nil
					}
				}
			case 2:
				_, err = c.ClusterID(t.Context())
			case 3:
				err = c.CommitOffsets(t.Context(), []meta.GroupOffset{offset("g", "present", int32(i), int64(j))})
			case 4:
				_, err = c.GroupOffsets(t.Context(), "g")
			}
			if err != nil {
				errs[i] = err
				return
			}
		}
	})
	if errs[callers] != nil {
		t.Fatalf("Close: %v", errs[callers])
	}
	for i, err := range errs[:callers] {
		if !errors.Is(err, meta.ErrClosed) {
			t.Errorf("caller %d: err = %v, want %v", i, err, meta.ErrClosed)
		}
	}
}
