package config_test

import (
	"reflect"
	"sync"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

func TestValidateTopic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		broker   map[string]string
		explicit map[string]string
		kind     error
		err      string
	}{
		{name: "nil"},
		{name: "empty", explicit: map[string]string{}},
		{name: "valid", explicit: map[string]string{
			"cleanup.policy": "compact", "retention.ms": "-1", "segment.bytes": "1048576",
			"max.message.bytes": "10485760", "message.timestamp.type": "LogAppendTime",
			"min.cleanable.dirty.ratio": "0.1", "remote.storage.enable": "false",
		}},
		{name: "unknown", explicit: map[string]string{"foo": "1"},
			kind: config.ErrUnknown, err: "Unknown topic config name: foo"},
		{name: "removed in 4.0", explicit: map[string]string{"message.downconversion.enable": "true"},
			kind: config.ErrUnknown, err: "Unknown topic config name: message.downconversion.enable"},
		{name: "broker name", explicit: map[string]string{"log.retention.ms": "1"},
			kind: config.ErrUnknown, err: "Unknown topic config name: log.retention.ms"},
		{name: "names before values", explicit: map[string]string{"segment.bytes": "1", "zzz": "1"},
			kind: config.ErrUnknown, err: "Unknown topic config name: zzz"},
		{name: "invalid", explicit: map[string]string{"segment.bytes": "12"},
			kind: config.ErrInvalid, err: "Invalid value 12 for configuration segment.bytes: Value must be at least 1048576"},
		{name: "first invalid by name", explicit: map[string]string{"segment.ms": "0", "retention.ms": "-5"},
			kind: config.ErrInvalid, err: "Invalid value -5 for configuration retention.ms: Value must be at least -1"},
		{name: "compaction lags conflict", explicit: map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"},
			kind: config.ErrInvalid, err: "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
		{name: "compaction lags equal", explicit: map[string]string{"min.compaction.lag.ms": "5", "max.compaction.lag.ms": "5"}},
		{name: "min lag against default max", explicit: map[string]string{"min.compaction.lag.ms": "9223372036854775807"}},
		{name: "max lag against default min", explicit: map[string]string{"max.compaction.lag.ms": "1"}},
		{name: "tiered storage", explicit: map[string]string{"remote.storage.enable": "true"},
			kind: config.ErrInvalid, err: "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage."},
		{name: "broker values allow explicit", broker: map[string]string{"log.segment.bytes": "2097152"},
			explicit: map[string]string{"segment.bytes": "1048576"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantErr(t, newBroker(t, tc.broker).ValidateTopic(tc.explicit), tc.kind, tc.err)
		})
	}
}

// kafkaDefaults is every topic config at Kafka 4.2's default.
func kafkaDefaults() config.Topic {
	return config.Topic{
		CleanupDelete:                        true,
		CompressionType:                      "producer",
		CompressionGzipLevel:                 -1,
		CompressionLz4Level:                  9,
		CompressionZstdLevel:                 3,
		DeleteRetentionMs:                    86400000,
		FileDeleteDelayMs:                    60000,
		FlushMessages:                        1<<63 - 1,
		FlushMs:                              1<<63 - 1,
		FollowerReplicationThrottledReplicas: []string{},
		LeaderReplicationThrottledReplicas:   []string{},
		IndexIntervalBytes:                   4096,
		LocalRetentionBytes:                  -2,
		LocalRetentionMs:                     -2,
		MaxCompactionLagMs:                   1<<63 - 1,
		MaxMessageBytes:                      1048588,
		MessageTimestampAfterMaxMs:           3600000,
		MessageTimestampBeforeMaxMs:          1<<63 - 1,
		MessageTimestampType:                 "CreateTime",
		MinCleanableDirtyRatio:               0.5,
		MinInsyncReplicas:                    1,
		RetentionBytes:                       -1,
		RetentionMs:                          604800000,
		SegmentBytes:                         1 << 30,
		SegmentIndexBytes:                    10 << 20,
		SegmentMs:                            604800000,
	}
}

// Explicit topic values win over broker values, which win over Kafka's
// defaults.
func TestResolveTopicPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		broker   map[string]string
		explicit map[string]string
		want     func(*config.Topic)
	}{
		{"defaults", nil, nil, func(*config.Topic) {}},
		{"unknown names ignored", nil, map[string]string{"message.format.version": "0.10.0", "foo": "bar"}, func(*config.Topic) {}},
		{"broker retention hours", map[string]string{"log.retention.hours": "24"}, nil,
			func(c *config.Topic) { c.RetentionMs = 86400000 }},
		{"broker retention minutes over hours", map[string]string{"log.retention.minutes": "1", "log.retention.hours": "24"}, nil,
			func(c *config.Topic) { c.RetentionMs = 60000 }},
		{"broker unlimited retention", map[string]string{"log.retention.hours": "-1"}, nil,
			func(c *config.Topic) { c.RetentionMs = -1 }},
		{"topic retention over broker", map[string]string{"log.retention.ms": "5000"}, map[string]string{"retention.ms": "1000"},
			func(c *config.Topic) { c.RetentionMs = 1000 }},
		{"broker segment bytes", map[string]string{"log.segment.bytes": "2097152"}, nil,
			func(c *config.Topic) { c.SegmentBytes = 2097152 }},
		{"topic segment bytes", map[string]string{"log.segment.bytes": "2097152"}, map[string]string{"segment.bytes": "1048576"},
			func(c *config.Topic) { c.SegmentBytes = 1048576 }},
		{"broker roll hours", map[string]string{"log.roll.hours": "1"}, nil,
			func(c *config.Topic) { c.SegmentMs = 3600000 }},
		{"broker roll ms over hours", map[string]string{"log.roll.ms": "60000", "log.roll.hours": "1"}, nil,
			func(c *config.Topic) { c.SegmentMs = 60000 }},
		{"broker message max", map[string]string{"message.max.bytes": "2000000"}, nil,
			func(c *config.Topic) { c.MaxMessageBytes = 2000000 }},
		{"topic message max", map[string]string{"message.max.bytes": "2000000"}, map[string]string{"max.message.bytes": "500"},
			func(c *config.Topic) { c.MaxMessageBytes = 500 }},
		{"broker log append time", map[string]string{"log.message.timestamp.type": "LogAppendTime"}, nil,
			func(c *config.Topic) { c.MessageTimestampType = "LogAppendTime" }},
		{"topic create time", map[string]string{"log.message.timestamp.type": "LogAppendTime"}, map[string]string{"message.timestamp.type": "CreateTime"},
			func(*config.Topic) {}},
		{"broker compact", map[string]string{"log.cleanup.policy": "compact"}, nil,
			func(c *config.Topic) { c.CleanupCompact, c.CleanupDelete = true, false }},
		{"topic no cleanup", map[string]string{"log.cleanup.policy": "compact"}, map[string]string{"cleanup.policy": ""},
			func(c *config.Topic) { c.CleanupCompact, c.CleanupDelete = false, false }},
		{"topic both policies", nil, map[string]string{"cleanup.policy": "delete,compact"},
			func(c *config.Topic) { c.CleanupCompact, c.CleanupDelete = true, true }},
		{"broker compression", map[string]string{"compression.type": "zstd"}, nil,
			func(c *config.Topic) { c.CompressionType = "zstd" }},
		{"broker flush", map[string]string{"log.flush.interval.ms": "1000", "log.flush.interval.messages": "10"}, nil,
			func(c *config.Topic) { c.FlushMs, c.FlushMessages = 1000, 10 }},
		{"broker index interval", map[string]string{"log.index.interval.bytes": "100"}, nil,
			func(c *config.Topic) { c.IndexIntervalBytes = 100 }},
		{"broker tombstones", map[string]string{"log.cleaner.delete.retention.ms": "0"}, nil,
			func(c *config.Topic) { c.DeleteRetentionMs = 0 }},
		{"broker retention bytes", map[string]string{"log.retention.bytes": "4096"}, nil,
			func(c *config.Topic) { c.RetentionBytes = 4096 }},
		{"broker min insync", map[string]string{"min.insync.replicas": "2"}, nil,
			func(c *config.Topic) { c.MinInsyncReplicas = 2 }},
		{"broker config unrelated", map[string]string{"num.partitions": "9"}, nil, func(*config.Topic) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := newBroker(t, tc.broker).ResolveTopic(tc.explicit)
			if err != nil {
				t.Fatal(err)
			}
			want := kafkaDefaults()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ResolveTopic\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every topic config reaches its field: set each to something other than
// its default and compare the whole struct.
func TestResolveTopicEveryField(t *testing.T) {
	t.Parallel()
	explicit := map[string]string{
		"cleanup.policy":                          "compact",
		"compression.gzip.level":                  "5",
		"compression.lz4.level":                   "12",
		"compression.type":                        "lz4",
		"compression.zstd.level":                  "-5",
		"confluent.key.schema.validation":         "true",
		"confluent.value.schema.validation":       "true",
		"delete.retention.ms":                     "1",
		"file.delete.delay.ms":                    "2",
		"flush.messages":                          "3",
		"flush.ms":                                "4",
		"follower.replication.throttled.replicas": "0:1,1:2",
		"index.interval.bytes":                    "5",
		"leader.replication.throttled.replicas":   "*",
		"local.retention.bytes":                   "6",
		"local.retention.ms":                      "7",
		"max.compaction.lag.ms":                   "8",
		"max.message.bytes":                       "9",
		"message.timestamp.after.max.ms":          "10",
		"message.timestamp.before.max.ms":         "11",
		"message.timestamp.type":                  "LogAppendTime",
		"min.cleanable.dirty.ratio":               "0.25",
		"min.compaction.lag.ms":                   "1",
		"min.insync.replicas":                     "2",
		"preallocate":                             "true",
		"remote.log.copy.disable":                 "true",
		"remote.log.delete.on.disable":            "true",
		"remote.storage.enable":                   "true",
		"retention.bytes":                         "12",
		"retention.ms":                            "13",
		"segment.bytes":                           "2097152",
		"segment.index.bytes":                     "14",
		"segment.jitter.ms":                       "15",
		"segment.ms":                              "16",
		"unclean.leader.election.enable":          "true",
	}
	for _, d := range config.TopicDefs() {
		if v, ok := explicit[d.Name]; !ok || v == *d.Default {
			t.Fatalf("the test does not move %s off its default", d.Name)
		}
	}
	want := config.Topic{
		CleanupCompact:                       true,
		CompressionType:                      "lz4",
		CompressionGzipLevel:                 5,
		CompressionLz4Level:                  12,
		CompressionZstdLevel:                 -5,
		KeySchemaValidation:                  true,
		ValueSchemaValidation:                true,
		DeleteRetentionMs:                    1,
		FileDeleteDelayMs:                    2,
		FlushMessages:                        3,
		FlushMs:                              4,
		FollowerReplicationThrottledReplicas: []string{"0:1", "1:2"},
		LeaderReplicationThrottledReplicas:   []string{"*"},
		IndexIntervalBytes:                   5,
		LocalRetentionBytes:                  6,
		LocalRetentionMs:                     7,
		MaxCompactionLagMs:                   8,
		MaxMessageBytes:                      9,
		MessageTimestampAfterMaxMs:           10,
		MessageTimestampBeforeMaxMs:          11,
		MessageTimestampType:                 "LogAppendTime",
		MinCleanableDirtyRatio:               0.25,
		MinCompactionLagMs:                   1,
		MinInsyncReplicas:                    2,
		Preallocate:                          true,
		RemoteLogCopyDisable:                 true,
		RemoteLogDeleteOnDisable:             true,
		RemoteStorageEnable:                  true,
		RetentionBytes:                       12,
		RetentionMs:                          13,
		SegmentBytes:                         2097152,
		SegmentIndexBytes:                    14,
		SegmentJitterMs:                      15,
		SegmentMs:                            16,
		UncleanLeaderElectionEnable:          true,
	}
	got, err := newBroker(t, nil).ResolveTopic(explicit)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ResolveTopic\n got %+v\nwant %+v", got, want)
	}
	if !got.LogAppendTime() {
		t.Error("LogAppendTime() = false")
	}
}

func TestResolveTopicInvalid(t *testing.T) {
	t.Parallel()
	_, err := newBroker(t, nil).ResolveTopic(map[string]string{"segment.ms": "soon"})
	wantErr(t, err, config.ErrInvalid, "Invalid value soon for configuration segment.ms: Not a number of type LONG")
}

// A Broker is shared by every connection; -race checks that reading it
// concurrently is safe.
func TestBrokerConcurrentUse(t *testing.T) {
	t.Parallel()
	b := newBroker(t, map[string]string{"log.retention.hours": "24"})
	explicit := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := b.ResolveTopic(explicit); err != nil {
					t.Error(err)
				}
				if _, err := b.DescribeTopic(explicit); err != nil {
					t.Error(err)
				}
				_ = b.DescribeBroker()
				_ = b.ValidateTopic(explicit)
				_, _, _ = b.Value("log.retention.hours")
			}
		})
	}
	wg.Wait()
}
