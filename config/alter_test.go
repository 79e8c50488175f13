package config_test

import (
	"errors"
	"maps"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

func TestApplyIncremental(t *testing.T) {
	s := func(v string) *string { return &v }
	defs := config.TopicDefs()
	cur := map[string]string{"retention.ms": "1000", "cleanup.policy": "delete"}
	got, err := config.ApplyIncremental(defs, cur, []config.Alteration{
		{Name: "retention.ms", Op: config.OpDelete},
		{Name: "max.message.bytes", Op: config.OpSet, Value: s("2048")},
		{Name: "cleanup.policy", Op: config.OpAppend, Value: s("compact,delete")},
		{Name: "leader.replication.throttled.replicas", Op: config.OpSubtract, Value: s("1:1")},
	})
	want := map[string]string{"max.message.bytes": "2048", "cleanup.policy": "delete,compact", "leader.replication.throttled.replicas": ""}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
	if cur["retention.ms"] != "1000" {
		t.Fatal("current changed")
	}
	for _, c := range []struct {
		ops  []config.Alteration
		want error
	}{
		{[]config.Alteration{{Name: "retention.ms", Op: config.OpAppend, Value: s("5")}}, config.ErrInvalid},
		{[]config.Alteration{{Name: "retention.ms", Op: config.OpSet}}, config.ErrRequest},
		{[]config.Alteration{{Name: "a", Op: config.OpSet, Value: s("1")}, {Name: "a", Op: config.OpDelete}}, config.ErrRequest},
		{[]config.Alteration{{Name: "a", Op: 9, Value: s("1")}}, config.ErrRequest},
	} {
		if _, err := config.ApplyIncremental(defs, cur, c.ops); !errors.Is(err, c.want) {
			t.Fatalf("%+v: %v, want %v", c.ops, err, c.want)
		}
	}
	// Subtract from the default.
	got, err = config.ApplyIncremental(defs, nil, []config.Alteration{{Name: "cleanup.policy", Op: config.OpSubtract, Value: s("delete")}})
	if err != nil || got["cleanup.policy"] != "" {
		t.Fatalf("subtract from the default: %v %v", got, err)
	}
}
