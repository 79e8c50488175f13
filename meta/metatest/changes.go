package metatest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/meta"
)

// testChanges: every write of a followed kind records one change, in commit
// order, with its key; failed writes and offsets record none.
func testChanges(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if seq, err := c.LastChange(ctx); err != nil || seq != 0 {
		t.Fatalf("LastChange of a new catalog = %d, %v; want 0", seq, err)
	}
	if got, err := c.Changes(ctx, 0, 100); err != nil || len(got) != 0 {
		t.Fatalf("Changes of a new catalog = %v, %v; want none", got, err)
	}
	tp := topic(t, "t", 1, nil)
	app := "app"
	entity := []meta.QuotaEntityPart{{Type: "user"}, {Type: "client-id", Name: &app}}
	steps := []struct {
		name string
		do   func() error
		want *meta.Change // nil: no change recorded
	}{
		{"create topic", func() error { return c.CreateTopic(ctx, tp) }, &meta.Change{Kind: meta.ChangeTopic, Key: tp.ID.String()}},
		{"set topic configs", func() error { return c.SetTopicConfigs(ctx, tp.ID, 1, map[string]string{"a": "1"}) }, &meta.Change{Kind: meta.ChangeTopic, Key: tp.ID.String()}},
		{"stale topic configs", func() error { return c.SetTopicConfigs(ctx, tp.ID, 1, nil) }, nil},
		{"set partitions", func() error { return c.SetPartitions(ctx, tp.ID, 2, 4) }, &meta.Change{Kind: meta.ChangeTopic, Key: tp.ID.String()}},
		{"commit offsets", func() error { return c.CommitOffsets(ctx, []meta.GroupOffset{offset("g", "t", 0, 1)}) }, nil},
		{"set broker configs", func() error { return c.SetBrokerConfigs(ctx, "7", 0, map[string]string{"a": "1"}) }, &meta.Change{Kind: meta.ChangeBrokerConfigs, Key: "7"}},
		{"stale broker configs", func() error { return c.SetBrokerConfigs(ctx, "7", 0, nil) }, nil},
		{"set client quota", func() error {
			return c.SetClientQuota(ctx, meta.ClientQuota{Entity: entity, Values: map[string]float64{"producer_byte_rate": 1}})
		}, &meta.Change{Kind: meta.ChangeClientQuota, Key: meta.EntityKey(entity)}},
		{"set group configs", func() error { return c.SetGroupConfigs(ctx, "g", 0, map[string]string{"a": "1"}) }, &meta.Change{Kind: meta.ChangeGroupConfigs, Key: "g"}},
		{"stale group configs", func() error { return c.SetGroupConfigs(ctx, "g", 0, nil) }, nil},
		{"put transaction", func() error { return c.PutTransaction(ctx, meta.Transaction{ID: "x", State: "Empty"}, nil) }, nil},
		{"duplicate topic", func() error { return c.CreateTopic(ctx, topic(t, "t", 1, nil)) }, nil},
		{"delete topic", func() error { return c.DeleteTopic(ctx, tp.ID, 3) }, &meta.Change{Kind: meta.ChangeTopic, Key: tp.ID.String()}},
	}
	var want []meta.Change
	last := int64(0)
	for _, s := range steps {
		err := s.do()
		if s.want != nil && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.want == nil && !errors.Is(err, meta.ErrConflict) && !errors.Is(err, meta.ErrTopicExists) && err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, err := c.Changes(ctx, last, 100)
		if err != nil {
			t.Fatalf("%s: Changes: %v", s.name, err)
		}
		switch {
		case s.want == nil && len(got) != 0:
			t.Fatalf("%s recorded %+v, want no change", s.name, got)
		case s.want != nil && (len(got) != 1 || got[0].Kind != s.want.Kind || got[0].Key != s.want.Key || got[0].Seq <= last):
			t.Fatalf("%s recorded %+v, want one %s change of %q after seq %d", s.name, got, s.want.Kind, s.want.Key, last)
		case s.want != nil:
			last = got[0].Seq
			want = append(want, got[0])
		}
		if seq, err := c.LastChange(ctx); err != nil || seq != last {
			t.Fatalf("%s: LastChange = %d, %v; want %d", s.name, seq, err, last)
		}
	}
	all, err := c.Changes(ctx, 0, 100)
	if err != nil || !slices.Equal(all, want) {
		t.Fatalf("Changes(0) = %+v, %v; want %+v", all, err, want)
	}
	// limit cuts from the front; after skips.
	if got, err := c.Changes(ctx, want[1].Seq, 2); err != nil || !slices.Equal(got, want[2:4]) {
		t.Fatalf("Changes(%d, 2) = %+v, %v; want %+v", want[1].Seq, got, err, want[2:4])
	}
	if got, err := c.Changes(ctx, last, 100); err != nil || len(got) != 0 {
		t.Fatalf("Changes after the last = %+v, %v; want none", got, err)
	}
}

// testWaitChange: WaitChange returns at once when a change is already
// there, and soon after one is committed; otherwise within about a second.
func testWaitChange(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	CreateTopic(t, c, topic(t, "t", 1, nil))
	start := time.Now()
	c.WaitChange(ctx, 0) // seq 1 is there
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("WaitChange with a change already there took %v", d)
	}
	last, err := c.LastChange(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A change committed while it waits wakes it: within 1 s whichever
	// way the implementation learns of it (the test cannot tell a wake
	// from the at-most-a-second return, so it checks the change is
	// there when it returns, in a few rounds).
	for round := range 3 {
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(50 * time.Millisecond)
			if err := c.CreateTopic(ctx, topic(t, "t"+string(rune('a'+round)), 1, nil)); err != nil {
				t.Errorf("CreateTopic: %v", err)
			}
		}()
		deadline := time.Now().Add(5 * time.Second)
		for {
			c.WaitChange(ctx, last)
			got, err := c.Changes(ctx, last, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) > 0 {
				last = got[len(got)-1].Seq
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no change seen in 5 s", round)
			}
		}
		<-done
	}
	// A done context ends the wait at once.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	start = time.Now()
	c.WaitChange(cctx, last)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("WaitChange with a done context took %v", d)
	}
}

// testTopicConflicts: a change computed from a stale version of a topic, or
// aimed at a topic deleted and created again under its name, changes
// nothing.
func testTopicConflicts(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	tp := topic(t, "t", 2, map[string]string{"a": "1"})
	CreateTopic(t, c, tp)
	if err := c.SetPartitions(ctx, tp.ID, 1, 3); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"SetTopicConfigs", func() error { return c.SetTopicConfigs(ctx, tp.ID, 1, nil) }},
		{"SetTopicConfigsAhead", func() error { return c.SetTopicConfigs(ctx, tp.ID, 3, nil) }},
		{"SetPartitions", func() error { return c.SetPartitions(ctx, tp.ID, 1, 9) }},
		{"DeleteTopic", func() error { return c.DeleteTopic(ctx, tp.ID, 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, meta.ErrConflict) {
				t.Errorf("err = %v, want %v", err, meta.ErrConflict)
			}
		})
	}
	want := tp
	want.Partitions, want.Version = 3, 2
	got, err := c.TopicByID(ctx, tp.ID)
	if err != nil {
		t.Fatal(err)
	}
	EqualTopic(t, got, want)
	// Recreated under the same name: the old ID is not found, whatever
	// version is given.
	if err := c.DeleteTopic(ctx, tp.ID, 2); err != nil {
		t.Fatal(err)
	}
	renewed := topic(t, "t", 1, nil)
	CreateTopic(t, c, renewed)
	if err := c.SetTopicConfigs(ctx, tp.ID, 1, map[string]string{"b": "2"}); !errors.Is(err, meta.ErrTopicNotFound) {
		t.Errorf("SetTopicConfigs of the deleted ID: err = %v, want %v", err, meta.ErrTopicNotFound)
	}
	got, err = c.Topic(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	EqualTopic(t, got, renewed)
}
