package config_test

import (
	"errors"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/config"
)

func TestParseShareReset(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		kind string
		d    time.Duration
		ok   bool
	}{
		{"latest", "latest", 0, true},
		{"earliest", "earliest", 0, true},
		{"by_duration:PT1H", "by_duration", time.Hour, true},
		{"by_duration:P1DT2H3M4.5S", "by_duration", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, true},
		{"by_duration:PT0S", "by_duration", 0, true},
		{"by_duration:", "", 0, false},
		{"by_duration:P", "", 0, false},
		{"by_duration:-PT1H", "", 0, false},
		{"by_duration:1h", "", 0, false},
		{"none", "", 0, false},
	} {
		kind, d, ok := config.ParseShareReset(c.in)
		if kind != c.kind || d != c.d || ok != c.ok {
			t.Errorf("ParseShareReset(%q) = %q, %v, %v; want %q, %v, %v", c.in, kind, d, ok, c.kind, c.d, c.ok)
		}
	}
}

func TestResolveGroup(t *testing.T) {
	t.Parallel()
	b, err := config.NewBroker(map[string]string{"node.id": "1", "group.share.record.lock.duration.ms": "20000"})
	if err != nil {
		t.Fatal(err)
	}
	g, err := b.ResolveGroup(nil)
	if err != nil || g.RecordLockDuration != 20*time.Second || g.DeliveryCountLimit != 5 || g.AutoOffsetReset != "latest" || g.ReadCommitted {
		t.Fatalf("defaults: %+v, %v", g, err)
	}
	g, err = b.ResolveGroup(map[string]string{"share.auto.offset.reset": "earliest", "share.isolation.level": "read_committed",
		"share.delivery.count.limit": "3", "share.record.lock.duration.ms": "15000"})
	if err != nil || g.AutoOffsetReset != "earliest" || !g.ReadCommitted || g.DeliveryCountLimit != 3 || g.RecordLockDuration != 15*time.Second {
		t.Fatalf("set: %+v, %v", g, err)
	}
	for _, bad := range []map[string]string{
		{"share.delivery.count.limit": "11"},
		{"share.delivery.count.limit": "1"},
		{"share.record.lock.duration.ms": "1000"},
		{"share.isolation.level": "serializable"},
		{"share.auto.offset.reset": "none"},
	} {
		if _, err := b.ResolveGroup(bad); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("ResolveGroup(%v) = %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := b.ResolveGroup(map[string]string{"nope": "1"}); !errors.Is(err, config.ErrUnknown) {
		t.Errorf("an unknown name: %v", err)
	}
	es := b.DescribeGroup(map[string]string{"share.isolation.level": "read_committed"})
	if len(es) != len(config.GroupDefs()) {
		t.Fatalf("%d entries", len(es))
	}
	for _, e := range es {
		switch e.Name {
		case "share.isolation.level":
			if *e.Value != "read_committed" || e.Source != config.SourceGroup {
				t.Errorf("%+v", e)
			}
		case "share.record.lock.duration.ms":
			if *e.Value != "20000" || e.Source != config.SourceStaticBroker {
				t.Errorf("%+v", e)
			}
		case "share.delivery.count.limit":
			if *e.Value != "5" || e.Source != config.SourceDefault {
				t.Errorf("%+v", e)
			}
		}
	}
}
