package config_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

// syn builds a Synonym; a value of "<null>" is null.
func syn(name, value string, src config.Source) config.Synonym {
	s := config.Synonym{Name: name, Source: src}
	if value != "<null>" {
		s.Value = sp(value)
	}
	return s
}

// entryNamed finds name in entries.
func entryNamed(t *testing.T, entries []config.Entry, name string) config.Entry {
	t.Helper()
	i := slices.IndexFunc(entries, func(e config.Entry) bool { return e.Name == name })
	if i < 0 {
		t.Fatalf("no entry %s", name)
	}
	return entries[i]
}

func fmtSyns(s []config.Synonym) string {
	out := "["
	for i, y := range s {
		if i > 0 {
			out += " "
		}
		out += y.Source.String() + ":" + y.Name + "=" + deref(y.Value)
	}
	return out + "]"
}

func TestDescribeTopic(t *testing.T) {
	t.Parallel()
	const (
		topic  = config.SourceDynamicTopic
		static = config.SourceStaticBroker
		def    = config.SourceDefault
	)
	for _, tc := range []struct {
		name     string
		broker   map[string]string
		explicit map[string]string
		config   string
		value    string
		source   config.Source
		synonyms []config.Synonym
	}{
		{"default", nil, nil, "segment.bytes", "1073741824", def,
			[]config.Synonym{syn("log.segment.bytes", "1073741824", def)}},
		{"topic", nil, map[string]string{"segment.bytes": " 2097152 "}, "segment.bytes", "2097152", topic,
			[]config.Synonym{syn("segment.bytes", "2097152", topic), syn("log.segment.bytes", "1073741824", def)}},
		{"broker", map[string]string{"log.segment.bytes": "2097152"}, nil, "segment.bytes", "2097152", static,
			[]config.Synonym{syn("log.segment.bytes", "2097152", static), syn("log.segment.bytes", "1073741824", def)}},
		{"topic over broker", map[string]string{"log.segment.bytes": "2097152"}, map[string]string{"segment.bytes": "4194304"},
			"segment.bytes", "4194304", topic,
			[]config.Synonym{syn("segment.bytes", "4194304", topic), syn("log.segment.bytes", "2097152", static), syn("log.segment.bytes", "1073741824", def)}},
		{"broker name differs", map[string]string{"message.max.bytes": "2000000"}, nil, "max.message.bytes", "2000000", static,
			[]config.Synonym{syn("message.max.bytes", "2000000", static), syn("message.max.bytes", "1048588", def)}},
		{"retention default", nil, nil, "retention.ms", "604800000", def,
			[]config.Synonym{syn("log.retention.hours", "168", def)}},
		{"retention from hours", map[string]string{"log.retention.hours": "24"}, nil, "retention.ms", "86400000", static,
			[]config.Synonym{syn("log.retention.hours", "24", static), syn("log.retention.hours", "168", def)}},
		{"retention from ms and minutes", map[string]string{"log.retention.ms": "1000", "log.retention.minutes": "5"}, nil,
			"retention.ms", "1000", static,
			[]config.Synonym{syn("log.retention.ms", "1000", static), syn("log.retention.minutes", "5", static), syn("log.retention.hours", "168", def)}},
		{"retention topic", map[string]string{"log.retention.hours": "24"}, map[string]string{"retention.ms": "-1"},
			"retention.ms", "-1", topic,
			[]config.Synonym{syn("retention.ms", "-1", topic), syn("log.retention.hours", "24", static), syn("log.retention.hours", "168", def)}},
		{"segment.ms from hours", map[string]string{"log.roll.hours": "1"}, nil, "segment.ms", "3600000", static,
			[]config.Synonym{syn("log.roll.hours", "1", static), syn("log.roll.hours", "168", def)}},
		{"flush.ms default", nil, nil, "flush.ms", "9223372036854775807", def,
			[]config.Synonym{syn("log.flush.scheduler.interval.ms", "9223372036854775807", def)}},
		{"flush.ms from broker", map[string]string{"log.flush.interval.ms": "500"}, nil, "flush.ms", "500", static,
			[]config.Synonym{syn("log.flush.interval.ms", "500", static), syn("log.flush.scheduler.interval.ms", "9223372036854775807", def)}},
		{"synonym StreamHouse lacks", nil, nil, "segment.index.bytes", "10485760", def,
			[]config.Synonym{syn("log.index.size.max.bytes", "10485760", def)}},
		{"jitter default", nil, nil, "segment.jitter.ms", "0", def,
			[]config.Synonym{syn("log.roll.jitter.hours", "0", def)}},
		{"no synonym", nil, nil, "remote.storage.enable", "false", def, nil},
		{"no synonym topic", nil, map[string]string{"remote.storage.enable": "FALSE"}, "remote.storage.enable", "false", topic,
			[]config.Synonym{syn("remote.storage.enable", "false", topic)}},
		{"empty list default", nil, nil, "leader.replication.throttled.replicas", "", def, nil},
		{"double rendered as Java", nil, map[string]string{"min.cleanable.dirty.ratio": "1"}, "min.cleanable.dirty.ratio", "1.0", topic,
			[]config.Synonym{syn("min.cleanable.dirty.ratio", "1.0", topic), syn("log.cleaner.min.cleanable.ratio", "0.5", def)}},
		{"list rendered as Kafka", nil, map[string]string{"cleanup.policy": " compact , delete "}, "cleanup.policy", "compact,delete", topic,
			[]config.Synonym{syn("cleanup.policy", "compact,delete", topic), syn("log.cleanup.policy", "delete", def)}},
		{"empty cleanup policy", nil, map[string]string{"cleanup.policy": ""}, "cleanup.policy", "", topic,
			[]config.Synonym{syn("cleanup.policy", "", topic), syn("log.cleanup.policy", "delete", def)}},
		{"same name broker", map[string]string{"compression.type": "gzip"}, nil, "compression.type", "gzip", static,
			[]config.Synonym{syn("compression.type", "gzip", static), syn("compression.type", "producer", def)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			entries, err := newBroker(t, tc.broker).DescribeTopic(tc.explicit)
			if err != nil {
				t.Fatal(err)
			}
			e := entryNamed(t, entries, tc.config)
			if deref(e.Value) != tc.value || e.Value == nil || e.Source != tc.source {
				t.Errorf("value %s source %s, want %s %s", deref(e.Value), e.Source, tc.value, tc.source)
			}
			if !reflect.DeepEqual(e.Synonyms, tc.synonyms) {
				t.Errorf("synonyms\n got %s\nwant %s", fmtSyns(e.Synonyms), fmtSyns(tc.synonyms))
			}
			d, _ := config.TopicDef(tc.config)
			if e.Type != d.Type || e.Doc != d.Doc || e.ReadOnly || e.Sensitive {
				t.Errorf("Type %s Doc %q ReadOnly %v Sensitive %v", e.Type, e.Doc, e.ReadOnly, e.Sensitive)
			}
		})
	}
}

func TestDescribeTopicAll(t *testing.T) {
	t.Parallel()
	b := newBroker(t, nil)
	entries, err := b.DescribeTopic(map[string]string{"unknown.is.ignored": "x"})
	if err != nil {
		t.Fatal(err)
	}
	defs := config.TopicDefs()
	if len(entries) != len(defs) {
		t.Fatalf("%d entries, want %d", len(entries), len(defs))
	}
	for i, e := range entries {
		if e.Name != defs[i].Name || e.Value == nil || *e.Value != *defs[i].Default || e.Source != config.SourceDefault {
			t.Errorf("entry %d: %s=%s %s, want %s=%s DEFAULT_CONFIG", i, e.Name, deref(e.Value), e.Source, defs[i].Name, *defs[i].Default)
		}
	}
	_, err = b.DescribeTopic(map[string]string{"retention.ms": "forever"})
	wantErr(t, err, config.ErrInvalid, "Invalid value forever for configuration retention.ms: Not a number of type LONG")
}

func TestDescribeBroker(t *testing.T) {
	t.Parallel()
	const (
		static = config.SourceStaticBroker
		def    = config.SourceDefault
	)
	for _, tc := range []struct {
		name     string
		broker   map[string]string
		config   string
		value    string // "<null>" for null
		source   config.Source
		readOnly bool
		synonyms []config.Synonym
	}{
		{"set", nil, "node.id", "3", static, true, []config.Synonym{syn("node.id", "3", static)}},
		{"default", nil, "num.partitions", "1", def, true, []config.Synonym{syn("num.partitions", "1", def)}},
		{"set over default", map[string]string{"num.partitions": "4"}, "num.partitions", "4", static, true,
			[]config.Synonym{syn("num.partitions", "4", static), syn("num.partitions", "1", def)}},
		{"dynamic in Kafka", nil, "message.max.bytes", "1048588", def, false, []config.Synonym{syn("message.max.bytes", "1048588", def)}},
		{"null default", nil, "log.retention.ms", "<null>", def, false, nil},
		{"null default, required", nil, "advertised.listeners", "<null>", def, false, nil},
		{"hours default", nil, "log.retention.hours", "168", def, true, []config.Synonym{syn("log.retention.hours", "168", def)}},
		// Kafka drops the synonyms before the described name: an unset
		// log.retention.ms lists nothing even though hours is set.
		{"ms unset, hours set", map[string]string{"log.retention.hours": "24"}, "log.retention.ms", "<null>", def, false, nil},
		{"hours set", map[string]string{"log.retention.hours": "24"}, "log.retention.hours", "24", static, true,
			[]config.Synonym{syn("log.retention.hours", "24", static), syn("log.retention.hours", "168", def)}},
		{"ms and hours set", map[string]string{"log.retention.ms": "1000", "log.retention.hours": "24"}, "log.retention.ms", "1000", static, false,
			[]config.Synonym{syn("log.retention.ms", "1000", static), syn("log.retention.hours", "24", static), syn("log.retention.hours", "168", def)}},
		{"minutes set", map[string]string{"log.retention.minutes": "5"}, "log.retention.minutes", "5", static, true,
			[]config.Synonym{syn("log.retention.minutes", "5", static), syn("log.retention.hours", "168", def)}},
		{"roll ms set", map[string]string{"log.roll.ms": "1000"}, "log.roll.ms", "1000", static, false,
			[]config.Synonym{syn("log.roll.ms", "1000", static), syn("log.roll.hours", "168", def)}},
		{"flush ms set", map[string]string{"log.flush.interval.ms": "500"}, "log.flush.interval.ms", "500", static, false,
			[]config.Synonym{syn("log.flush.interval.ms", "500", static), syn("log.flush.scheduler.interval.ms", "9223372036854775807", def)}},
		{"list rendered", map[string]string{"log.dirs": "/a , /b"}, "log.dirs", "/a,/b", static, true,
			[]config.Synonym{syn("log.dirs", "/a,/b", static)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := entryNamed(t, newBroker(t, tc.broker).DescribeBroker(), tc.config)
			if deref(e.Value) != tc.value || e.Source != tc.source || e.ReadOnly != tc.readOnly {
				t.Errorf("value %s source %s readOnly %v, want %s %s %v", deref(e.Value), e.Source, e.ReadOnly, tc.value, tc.source, tc.readOnly)
			}
			if !reflect.DeepEqual(e.Synonyms, tc.synonyms) {
				t.Errorf("synonyms\n got %s\nwant %s", fmtSyns(e.Synonyms), fmtSyns(tc.synonyms))
			}
			d, _ := config.BrokerDef(tc.config)
			if e.Type != d.Type || e.Doc != d.Doc || e.Sensitive {
				t.Errorf("Type %s Doc %q Sensitive %v", e.Type, e.Doc, e.Sensitive)
			}
		})
	}
}

func TestDescribeBrokerAll(t *testing.T) {
	t.Parallel()
	entries := newBroker(t, nil).DescribeBroker()
	defs := config.BrokerDefs()
	if len(entries) != len(defs) {
		t.Fatalf("%d entries, want %d", len(entries), len(defs))
	}
	for i, e := range entries {
		if e.Name != defs[i].Name {
			t.Errorf("entry %d is %s, want %s", i, e.Name, defs[i].Name)
		}
	}
}

// Entries own their values: changing one changes neither the Broker nor
// another entry.
func TestDescribeEntriesAreCopies(t *testing.T) {
	t.Parallel()
	b := newBroker(t, map[string]string{"log.segment.bytes": "2097152"})
	entries, err := b.DescribeTopic(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := entryNamed(t, entries, "segment.bytes")
	*e.Value = "x"
	*e.Synonyms[0].Value = "x"
	*e.Synonyms[1].Value = "x"
	be := entryNamed(t, b.DescribeBroker(), "log.segment.bytes")
	*be.Value = "y"
	if v, _, _ := b.Value("log.segment.bytes"); v != "2097152" {
		t.Errorf("Broker changed: %s", v)
	}
	d, _ := config.BrokerDef("log.segment.bytes")
	if *d.Default != "1073741824" {
		t.Errorf("default changed: %s", *d.Default)
	}
	entries, _ = b.DescribeTopic(nil)
	if e := entryNamed(t, entries, "segment.bytes"); *e.Value != "2097152" {
		t.Errorf("entry changed: %s", *e.Value)
	}
}
