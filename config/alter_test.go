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

func TestWithDynamic(t *testing.T) {
	b, err := config.NewBroker(map[string]string{"node.id": "1", "log.retention.hours": "10", "message.max.bytes": "2000"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := b.WithDynamic(map[string]string{"message.max.bytes": "3000", "log.retention.ms": "60000"}, map[string]string{"message.max.bytes": "4000"})
	if err != nil {
		t.Fatal(err)
	}
	if v, src, _ := d.Value("message.max.bytes"); v != "4000" || src != config.SourceDynamicBroker {
		t.Fatalf("message.max.bytes %s from %v", v, src)
	}
	if d.MessageMaxBytes() != 4000 || d.LogRetentionMs() != 60000 {
		t.Fatalf("values %d %d", d.MessageMaxBytes(), d.LogRetentionMs())
	}
	if b.MessageMaxBytes() != 2000 {
		t.Fatal("WithDynamic changed its receiver")
	}
	// The topic defaults follow, with the synonym's source.
	entries, err := d.DescribeTopic(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name {
		case "max.message.bytes":
			if *e.Value != "4000" || e.Source != config.SourceDynamicBroker || len(e.Synonyms) < 3 ||
				e.Synonyms[0].Source != config.SourceDynamicBroker || e.Synonyms[1].Source != config.SourceDynamicDefaultBroker || e.Synonyms[2].Source != config.SourceStaticBroker {
				t.Fatalf("max.message.bytes %+v", e)
			}
		case "retention.ms":
			if *e.Value != "60000" || e.Source != config.SourceDynamicDefaultBroker {
				t.Fatalf("retention.ms %+v", e)
			}
		}
	}
	def := d.DescribeBrokerDefault()
	if len(def) != 2 || def[0].Name != "log.retention.ms" || def[1].Source != config.SourceDynamicDefaultBroker {
		t.Fatalf("DescribeBrokerDefault %+v", def)
	}
	if _, err := b.WithDynamic(nil, map[string]string{"node.id": "2"}); !errors.Is(err, config.ErrRequest) {
		t.Fatalf("read-only config set dynamically: %v", err)
	}
	if _, err := b.WithDynamic(map[string]string{"message.max.bytes": "-5"}, nil); !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("invalid value: %v", err)
	}
	if _, err := b.WithDynamic(map[string]string{"nope": "1"}, nil); !errors.Is(err, config.ErrUnknown) {
		t.Fatalf("unknown name: %v", err)
	}
	if dd, dn := d.Dynamic(); len(dd) != 2 || dn["message.max.bytes"] != "4000" {
		t.Fatalf("Dynamic %v %v", dd, dn)
	}
}
