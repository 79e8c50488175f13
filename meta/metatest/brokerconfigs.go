package metatest

import (
	"errors"
	"maps"
	"testing"

	"github.com/streamhouse/streamhouse/meta"
)

func testBrokerConfigs(t *testing.T, open func(t *testing.T) meta.Catalog) {
	ctx := t.Context()
	c := open(t)
	if got, err := c.BrokerConfigs(ctx); err != nil || len(got) != 0 {
		t.Fatalf("new catalog: %v %v", got, err)
	}
	if err := c.SetBrokerConfigs(ctx, "", 0, map[string]string{"log.retention.ms": "1000", "message.max.bytes": "5"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrokerConfigs(ctx, "1", 0, map[string]string{"message.max.bytes": "7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrokerConfigs(ctx, "", 1, map[string]string{"log.retention.ms": "2000"}); err != nil {
		t.Fatal(err)
	}
	// A write computed from a stale version changes nothing.
	for _, v := range []int64{0, 1, 3} {
		if err := c.SetBrokerConfigs(ctx, "", v, map[string]string{"stale": "1"}); !errors.Is(err, meta.ErrConflict) {
			t.Errorf("SetBrokerConfigs at version %d of a scope at 2: err = %v, want %v", v, err, meta.ErrConflict)
		}
	}
	got, err := c.BrokerConfigs(ctx)
	if err != nil || len(got) != 2 ||
		!maps.Equal(got[""].Configs, map[string]string{"log.retention.ms": "2000"}) || got[""].Version != 2 ||
		!maps.Equal(got["1"].Configs, map[string]string{"message.max.bytes": "7"}) || got["1"].Version != 1 {
		t.Fatalf("BrokerConfigs = %v, %v", got, err)
	}
	// Removing every config keeps the scope's version counting.
	if err := c.SetBrokerConfigs(ctx, "1", 1, nil); err != nil {
		t.Fatal(err)
	}
	got, err = c.BrokerConfigs(ctx)
	if err != nil || got["1"].Configs == nil || len(got["1"].Configs) != 0 || got["1"].Version != 2 {
		t.Fatalf("after removing scope 1's configs: %v, %v", got, err)
	}
	if err := c.SetBrokerConfigs(ctx, "1", 0, map[string]string{"a": "1"}); !errors.Is(err, meta.ErrConflict) {
		t.Errorf("SetBrokerConfigs at version 0 of an emptied scope: err = %v, want %v", err, meta.ErrConflict)
	}
}
