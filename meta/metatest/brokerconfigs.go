package metatest

import (
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
	if err := c.SetBrokerConfigs(ctx, "", map[string]string{"log.retention.ms": "1000", "message.max.bytes": "5"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrokerConfigs(ctx, "1", map[string]string{"message.max.bytes": "7"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetBrokerConfigs(ctx, "", map[string]string{"log.retention.ms": "2000"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.BrokerConfigs(ctx)
	if err != nil || len(got) != 2 || !maps.Equal(got[""], map[string]string{"log.retention.ms": "2000"}) || got["1"]["message.max.bytes"] != "7" {
		t.Fatalf("BrokerConfigs = %v, %v", got, err)
	}
	if err := c.SetBrokerConfigs(ctx, "1", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := c.BrokerConfigs(ctx); err != nil || len(got) != 1 {
		t.Fatalf("after removing scope 1: %v, %v", got, err)
	}
}
