package config_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

// newBroker returns a Broker with node.id 3 and set.
func newBroker(t *testing.T, set map[string]string) *config.Broker {
	t.Helper()
	m := map[string]string{"node.id": "3"}
	maps.Copy(m, set)
	b, err := config.NewBroker(m)
	if err != nil {
		t.Fatalf("NewBroker(%v): %v", m, err)
	}
	return b
}

func TestNewBrokerErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		kind error
		err  string
	}{
		{"nil", nil, config.ErrInvalid, `Missing required configuration "node.id" which has no default value.`},
		{"negative node.id", map[string]string{"node.id": "-1"}, config.ErrInvalid, "Invalid value -1 for configuration node.id: Value must be at least 0"},
		{"unknown", map[string]string{"node.id": "1", "foo": "bar"}, config.ErrUnknown, "Unknown broker config name: foo"},
		{"topic name", map[string]string{"node.id": "1", "retention.ms": "1"}, config.ErrUnknown, "Unknown broker config name: retention.ms"},
		{"unknown before missing", map[string]string{"bar": "1"}, config.ErrUnknown, "Unknown broker config name: bar"},
		{"small segment", map[string]string{"node.id": "1", "log.segment.bytes": "1000"}, config.ErrInvalid, "Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"},
		{"zero retention ms", map[string]string{"node.id": "1", "log.retention.ms": "0"}, config.ErrInvalid, "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"},
		{"zero retention minutes", map[string]string{"node.id": "1", "log.retention.minutes": "0"}, config.ErrInvalid, "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"},
		{"zero retention hours", map[string]string{"node.id": "1", "log.retention.hours": "0"}, config.ErrInvalid, "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"},
		{"zero roll ms", map[string]string{"node.id": "1", "log.roll.ms": "0"}, config.ErrInvalid, "log.roll.ms must be greater than or equal to 1"},
		{"zero roll hours", map[string]string{"node.id": "1", "log.roll.hours": "0"}, config.ErrInvalid, "Invalid value 0 for configuration log.roll.hours: Value must be at least 1"},
		// The broker value is the default of a topic config, so the topic
		// config's validator applies, under the topic config's name.
		{"negative flush ms", map[string]string{"node.id": "1", "log.flush.interval.ms": "-5"}, config.ErrInvalid, "Invalid value -5 for configuration flush.ms: Value must be at least 0"},
		{"bad listener", map[string]string{"node.id": "1", "listeners": "localhost:9092"}, config.ErrInvalid, "Unable to parse localhost:9092 to a broker endpoint"},
		{"meta-address advertised", map[string]string{"node.id": "1", "advertised.listeners": "PLAINTEXT://0.0.0.0:9092"}, config.ErrInvalid, "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address."},
		{"empty log.dirs", map[string]string{"node.id": "1", "log.dirs": " "}, config.ErrInvalid, "Configuration 'log.dirs' must not be empty. Valid values include: any non-empty value"},
		{"bad boolean", map[string]string{"node.id": "1", "auto.create.topics.enable": "yes"}, config.ErrInvalid, "Invalid value yes for configuration auto.create.topics.enable: Expected value to be either true or false"},
		{"bad replication factor", map[string]string{"node.id": "1", "default.replication.factor": "0"}, config.ErrInvalid, "Invalid value 0 for configuration default.replication.factor: Value must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := config.NewBroker(tc.set)
			if b != nil {
				t.Errorf("got a Broker with an error")
			}
			wantErr(t, err, tc.kind, tc.err)
		})
	}
}

// NewBroker must not keep the caller's map.
func TestNewBrokerCopies(t *testing.T) {
	t.Parallel()
	set := map[string]string{"node.id": "3", "num.partitions": "4"}
	b := newBroker(t, set)
	set["num.partitions"] = "9"
	delete(set, "node.id")
	if b.NumPartitions() != 4 || b.NodeID() != 3 {
		t.Errorf("Broker follows the caller's map: %d %d", b.NumPartitions(), b.NodeID())
	}
}

func TestBrokerDefaults(t *testing.T) {
	t.Parallel()
	b := newBroker(t, nil)
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID(), int32(3)},
		{"AutoCreateTopics", b.AutoCreateTopics(), true},
		{"NumPartitions", b.NumPartitions(), int32(1)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor(), int16(1)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes(), int32(104857600)},
		{"MessageMaxBytes", b.MessageMaxBytes(), int32(1048588)},
		{"LogSegmentBytes", b.LogSegmentBytes(), int32(1 << 30)},
		{"LogRetentionBytes", b.LogRetentionBytes(), int64(-1)},
		{"LogRetentionMs", b.LogRetentionMs(), int64(7 * 24 * 3600 * 1000)},
		{"LogRollMs", b.LogRollMs(), int64(7 * 24 * 3600 * 1000)},
		{"LogRetentionCheckIntervalMs", b.LogRetentionCheckIntervalMs(), int64(300000)},
		{"OffsetsRetentionMs", b.OffsetsRetentionMs(), int64(10080 * 60 * 1000)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v (%T), want %v (%T)", tc.name, tc.got, tc.got, tc.want, tc.want)
		}
	}
	if d := b.LogDirs(); d != nil {
		t.Errorf("LogDirs = %q, want nil", d)
	}
	want := []config.Endpoint{{Listener: "PLAINTEXT", Host: "", Port: 9092, Protocol: "PLAINTEXT"}}
	if l := b.Listeners(); !slices.Equal(l, want) {
		t.Errorf("Listeners = %v, want %v", l, want)
	}
	if l := b.AdvertisedListeners(); !slices.Equal(l, want) {
		t.Errorf("AdvertisedListeners = %v, want %v", l, want)
	}
}

func TestBrokerSet(t *testing.T) {
	t.Parallel()
	b := newBroker(t, map[string]string{
		"auto.create.topics.enable":       "FALSE",
		"num.partitions":                  "6",
		"default.replication.factor":      "3",
		"socket.request.max.bytes":        "1048576",
		"message.max.bytes":               "2097152",
		"log.segment.bytes":               "16777216",
		"log.retention.bytes":             "1000000",
		"log.retention.check.interval.ms": "1000",
		"offsets.retention.minutes":       "60",
		"log.dirs":                        "/data/a, /data/b",
		"listeners":                       "plaintext://127.0.0.1:9092,SSL://[::1]:9093",
		"advertised.listeners":            "PLAINTEXT://broker-3.example:19092",
	})
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"AutoCreateTopics", b.AutoCreateTopics(), false},
		{"NumPartitions", b.NumPartitions(), int32(6)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor(), int16(3)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes(), int32(1048576)},
		{"MessageMaxBytes", b.MessageMaxBytes(), int32(2097152)},
		{"LogSegmentBytes", b.LogSegmentBytes(), int32(16777216)},
		{"LogRetentionBytes", b.LogRetentionBytes(), int64(1000000)},
		{"LogRetentionCheckIntervalMs", b.LogRetentionCheckIntervalMs(), int64(1000)},
		{"OffsetsRetentionMs", b.OffsetsRetentionMs(), int64(3600000)},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if d := b.LogDirs(); !slices.Equal(d, []string{"/data/a", "/data/b"}) {
		t.Errorf("LogDirs = %q", d)
	}
	b.LogDirs()[0] = "changed"
	if d := b.LogDirs(); d[0] != "/data/a" {
		t.Errorf("LogDirs shares its slice")
	}
	wantL := []config.Endpoint{{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}, {"SSL", "::1", 9093, "SSL"}}
	if l := b.Listeners(); !slices.Equal(l, wantL) {
		t.Errorf("Listeners = %v, want %v", l, wantL)
	}
	wantA := []config.Endpoint{{"PLAINTEXT", "broker-3.example", 19092, "PLAINTEXT"}}
	if l := b.AdvertisedListeners(); !slices.Equal(l, wantA) {
		t.Errorf("AdvertisedListeners = %v, want %v", l, wantA)
	}
}

// Kafka's KafkaConfig.logRetentionTimeMillis: ms over minutes over hours,
// and any negative result is -1.
func TestLogRetentionMsPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		want int64
	}{
		{"default", nil, 604800000},
		{"hours", map[string]string{"log.retention.hours": "24"}, 86400000},
		{"minutes", map[string]string{"log.retention.minutes": "30"}, 1800000},
		{"minutes over hours", map[string]string{"log.retention.minutes": "30", "log.retention.hours": "24"}, 1800000},
		{"ms over all", map[string]string{"log.retention.ms": "5000", "log.retention.minutes": "30", "log.retention.hours": "24"}, 5000},
		{"ms over hours", map[string]string{"log.retention.ms": "5000", "log.retention.hours": "24"}, 5000},
		{"unlimited ms", map[string]string{"log.retention.ms": "-1"}, -1},
		{"negative ms", map[string]string{"log.retention.ms": "-100"}, -1},
		{"unlimited hours", map[string]string{"log.retention.hours": "-1"}, -1},
		{"negative minutes", map[string]string{"log.retention.minutes": "-5", "log.retention.hours": "24"}, -1},
		{"large hours", map[string]string{"log.retention.hours": "2147483647"}, 2147483647 * 3600000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := newBroker(t, tc.set).LogRetentionMs(); got != tc.want {
				t.Errorf("LogRetentionMs = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestLogRollMsPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		want int64
	}{
		{"default", nil, 604800000},
		{"hours", map[string]string{"log.roll.hours": "1"}, 3600000},
		{"ms over hours", map[string]string{"log.roll.ms": "1000", "log.roll.hours": "1"}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := newBroker(t, tc.set).LogRollMs(); got != tc.want {
				t.Errorf("LogRollMs = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestBrokerValue(t *testing.T) {
	t.Parallel()
	b := newBroker(t, map[string]string{
		"auto.create.topics.enable": " TRUE ",
		"log.cleanup.policy":        "compact , delete",
		"log.retention.hours":       "+24",
	})
	for _, tc := range []struct {
		name   string
		value  string
		source config.Source
		ok     bool
	}{
		{"node.id", "3", config.SourceStaticBroker, true},
		{"auto.create.topics.enable", "true", config.SourceStaticBroker, true}, // rendered as Kafka renders it
		{"log.cleanup.policy", "compact,delete", config.SourceStaticBroker, true},
		{"log.retention.hours", "24", config.SourceStaticBroker, true},
		{"num.partitions", "1", config.SourceDefault, true},
		{"listeners", "PLAINTEXT://:9092", config.SourceDefault, true},
		{"log.retention.ms", "", config.SourceDefault, false}, // null default
		{"advertised.listeners", "", config.SourceDefault, false},
		{"retention.ms", "", config.SourceUnknown, false}, // a topic config
		{"nope", "", config.SourceUnknown, false},
	} {
		v, src, ok := b.Value(tc.name)
		if v != tc.value || src != tc.source || ok != tc.ok {
			t.Errorf("Value(%s) = %q, %s, %v; want %q, %s, %v", tc.name, v, src, ok, tc.value, tc.source, tc.ok)
		}
	}
}

// storage.min.free.bytes: unset by default (the storage engine's share of
// the volume), 0 off, never negative.
func TestStorageMinFreeBytes(t *testing.T) {
	t.Parallel()
	if v, set := newBroker(t, nil).StorageMinFreeBytes(); set || v != 0 {
		t.Errorf("unset: %d, %v", v, set)
	}
	for _, s := range []string{"0", "1048576"} {
		if v, set := newBroker(t, map[string]string{"storage.min.free.bytes": s}).StorageMinFreeBytes(); !set || fmt.Sprint(v) != s {
			t.Errorf("%s: %d, %v", s, v, set)
		}
	}
	if _, err := config.NewBroker(map[string]string{"node.id": "1", "storage.min.free.bytes": "-1"}); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("-1: %v, want ErrInvalid", err)
	}
}
