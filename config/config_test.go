package config_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/config"
)

// The expected numbers are kmsg's ConfigType and ConfigSource (kmsg v1.15.1,
// generated.go), written out so that this package stays stdlib only.
func TestTypeNumbering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		typ  config.Type
		num  int8
		name string
	}{
		{config.TypeUnknown, 0, "UNKNOWN"},
		{config.TypeBoolean, 1, "BOOLEAN"},
		{config.TypeString, 2, "STRING"},
		{config.TypeInt, 3, "INT"},
		{config.TypeShort, 4, "SHORT"},
		{config.TypeLong, 5, "LONG"},
		{config.TypeDouble, 6, "DOUBLE"},
		{config.TypeList, 7, "LIST"},
		{config.TypeClass, 8, "CLASS"},
		{config.TypePassword, 9, "PASSWORD"},
		{config.Type(42), 42, "UNKNOWN"},
	} {
		if int8(tc.typ) != tc.num || tc.typ.String() != tc.name {
			t.Errorf("%d %s: want %d %s", int8(tc.typ), tc.typ, tc.num, tc.name)
		}
	}
}

func TestSourceNumbering(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src  config.Source
		num  int8
		name string
	}{
		{config.SourceUnknown, 0, "UNKNOWN"},
		{config.SourceDynamicTopic, 1, "DYNAMIC_TOPIC_CONFIG"},
		{config.SourceDynamicBroker, 2, "DYNAMIC_BROKER_CONFIG"},
		{config.SourceDynamicDefaultBroker, 3, "DYNAMIC_DEFAULT_BROKER_CONFIG"},
		{config.SourceStaticBroker, 4, "STATIC_BROKER_CONFIG"},
		{config.SourceDefault, 5, "DEFAULT_CONFIG"},
		{config.SourceDynamicBrokerLogger, 6, "DYNAMIC_BROKER_LOGGER_CONFIG"},
		{config.SourceClientMetrics, 7, "CLIENT_METRICS_CONFIG"},
		{config.SourceGroup, 8, "GROUP_CONFIG"},
		{config.Source(-1), -1, "UNKNOWN"},
	} {
		if int8(tc.src) != tc.num || tc.src.String() != tc.name {
			t.Errorf("%d %s: want %d %s", int8(tc.src), tc.src, tc.num, tc.name)
		}
	}
}

// wantErr checks that err is an *config.Error of kind with message msg, or
// nil when msg is empty.
func wantErr(t *testing.T, err error, kind error, msg string) {
	t.Helper()
	if msg == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", msg)
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v is not a *config.Error", err, err)
	}
	if !errors.Is(err, kind) {
		t.Errorf("error %q is not %v", err, kind)
	}
	if err.Error() != msg {
		t.Errorf("message\n got %q\nwant %q", err.Error(), msg)
	}
}

// Messages are Kafka's, character for character: the broker sends them to
// clients as they are.
func TestTopicDefValidate(t *testing.T) {
	t.Parallel()
	const throttled = " must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
	for _, tc := range []struct {
		name, value, err string
	}{
		// INT ranges and parsing.
		{"segment.bytes", "12", "Invalid value 12 for configuration segment.bytes: Value must be at least 1048576"},
		{"segment.bytes", "1048575", "Invalid value 1048575 for configuration segment.bytes: Value must be at least 1048576"},
		{"segment.bytes", "1048576", ""},
		{"segment.bytes", " 1048576\t", ""},
		{"segment.bytes", "+1048576", ""},
		{"segment.bytes", "abc", "Invalid value abc for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", " abc ", "Invalid value  abc  for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", "1.5", "Invalid value 1.5 for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", "", "Invalid value  for configuration segment.bytes: Not a number of type INT"},
		{"segment.bytes", "0x100000", "Invalid value 0x100000 for configuration segment.bytes: Not a number of type INT"},
		{"max.message.bytes", "0", ""},
		{"max.message.bytes", "-1", "Invalid value -1 for configuration max.message.bytes: Value must be at least 0"},
		{"index.interval.bytes", "-1", "Invalid value -1 for configuration index.interval.bytes: Value must be at least 0"},
		{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
		{"segment.index.bytes", "3", "Invalid value 3 for configuration segment.index.bytes: Value must be at least 4"},
		{"segment.index.bytes", "4", ""},
		{"compression.gzip.level", "-1", ""},
		{"compression.gzip.level", "1", ""},
		{"compression.gzip.level", "9", ""},
		{"compression.gzip.level", "0", "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.lz4.level", "0", "Invalid value 0 for configuration compression.lz4.level: Value must be at least 1"},
		{"compression.lz4.level", "17", ""},
		{"compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{"compression.zstd.level", "-131072", ""},
		{"compression.zstd.level", "-131073", "Invalid value -131073 for configuration compression.zstd.level: Value must be at least -131072"},
		{"compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"},

		// LONG ranges and parsing.
		{"retention.ms", "-1", ""},
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "9223372036854775807", ""},
		{"retention.ms", "9223372036854775808", "Invalid value 9223372036854775808 for configuration retention.ms: Not a number of type LONG"},
		{"retention.bytes", "-5", ""},
		{"segment.ms", "0", "Invalid value 0 for configuration segment.ms: Value must be at least 1"},
		{"segment.jitter.ms", "-1", "Invalid value -1 for configuration segment.jitter.ms: Value must be at least 0"},
		{"flush.messages", "0", "Invalid value 0 for configuration flush.messages: Value must be at least 1"},
		{"flush.ms", "0", ""},
		{"flush.ms", "-1", "Invalid value -1 for configuration flush.ms: Value must be at least 0"},
		{"delete.retention.ms", "-1", "Invalid value -1 for configuration delete.retention.ms: Value must be at least 0"},
		{"file.delete.delay.ms", "-1", "Invalid value -1 for configuration file.delete.delay.ms: Value must be at least 0"},
		{"min.compaction.lag.ms", "-1", "Invalid value -1 for configuration min.compaction.lag.ms: Value must be at least 0"},
		{"max.compaction.lag.ms", "0", "Invalid value 0 for configuration max.compaction.lag.ms: Value must be at least 1"},
		{"local.retention.ms", "-2", ""},
		{"local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: Value must be at least -2"},
		{"local.retention.bytes", "-3", "Invalid value -3 for configuration local.retention.bytes: Value must be at least -2"},
		{"message.timestamp.after.max.ms", "-1", "Invalid value -1 for configuration message.timestamp.after.max.ms: Value must be at least 0"},
		{"message.timestamp.before.max.ms", "0", ""},

		// DOUBLE: the value is quoted as Java prints the parsed double.
		{"min.cleanable.dirty.ratio", "0", ""},
		{"min.cleanable.dirty.ratio", "1", ""},
		{"min.cleanable.dirty.ratio", "0.5d", ""},
		{"min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "2", "Invalid value 2.0 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
		{"min.cleanable.dirty.ratio", "-0.1", "Invalid value -0.1 for configuration min.cleanable.dirty.ratio: Value must be at least 0"},
		{"min.cleanable.dirty.ratio", "half", "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE"},
		{"min.cleanable.dirty.ratio", "NaN", ""}, // Kafka's Range compares doubles: NaN passes

		// BOOLEAN.
		{"preallocate", "true", ""},
		{"preallocate", " TRUE ", ""},
		{"preallocate", "False", ""},
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{"preallocate", "1", "Invalid value 1 for configuration preallocate: Expected value to be either true or false"},

		// STRING enumerations, case-sensitive as in Kafka.
		{"compression.type", "zstd", ""},
		{"compression.type", " producer ", ""},
		{"compression.type", "GZIP", "Invalid value GZIP for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"compression.type", "none", "Invalid value none for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"message.timestamp.type", "LogAppendTime", ""},
		{"message.timestamp.type", "logappendtime", "Invalid value logappendtime for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},

		// LIST with members (Kafka 4.2's ValidList).
		{"cleanup.policy", "delete", ""},
		{"cleanup.policy", "compact,delete", ""},
		{"cleanup.policy", " delete , compact ", ""},
		{"cleanup.policy", "", ""}, // infinite retention
		{"cleanup.policy", "  ", ""},
		{"cleanup.policy", "foo", "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "compact,Delete", "Invalid value Delete for configuration cleanup.policy: String must be one of: compact, delete"},
		{"cleanup.policy", "compact,compact", "Configuration 'cleanup.policy' values must not be duplicated."},
		{"cleanup.policy", "compact,", "Configuration 'cleanup.policy' values must not be empty."},
		{"cleanup.policy", "compact,,delete", "Configuration 'cleanup.policy' values must not be empty."},

		// Throttled replica lists.
		{"leader.replication.throttled.replicas", "", ""},
		{"leader.replication.throttled.replicas", "*", ""},
		{"leader.replication.throttled.replicas", "0:1, 1:2", ""},
		{"leader.replication.throttled.replicas", "0:1,foo", "Invalid value [0:1, foo] for configuration leader.replication.throttled.replicas: leader.replication.throttled.replicas" + throttled},
		{"follower.replication.throttled.replicas", "*,0:1", "Invalid value [*, 0:1] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas" + throttled},
		{"follower.replication.throttled.replicas", "0:", "Invalid value [0:] for configuration follower.replication.throttled.replicas: follower.replication.throttled.replicas" + throttled},

		{"unclean.leader.election.enable", "true", ""},
		{"remote.storage.enable", "true", ""}, // alone it is a valid value; ValidateTopic refuses it
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			d, ok := config.TopicDef(tc.name)
			if !ok {
				t.Fatalf("no topic config %s", tc.name)
			}
			err := d.Validate(tc.value)
			wantErr(t, err, config.ErrInvalid, tc.err)
			if tc.err != "" {
				var ce *config.Error
				if errors.As(err, &ce); ce.Name != tc.name || ce.Kind != config.ErrInvalid {
					t.Errorf("Error{Name: %q, Kind: %v}, want %q, ErrInvalid", ce.Name, ce.Kind, tc.name)
				}
			}
		})
	}
}

func TestTopicDefs(t *testing.T) {
	t.Parallel()
	defs := TopicDefsByName(t)
	names := make([]string, 0, len(defs))
	for _, d := range config.TopicDefs() {
		names = append(names, d.Name)
	}
	want := []string{
		"cleanup.policy", "compression.gzip.level", "compression.lz4.level", "compression.type",
		"compression.zstd.level", "confluent.key.schema.validation", "confluent.value.schema.validation", "delete.retention.ms", "file.delete.delay.ms", "flush.messages",
		"flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
		"leader.replication.throttled.replicas", "local.retention.bytes", "local.retention.ms",
		"max.compaction.lag.ms", "max.message.bytes", "message.timestamp.after.max.ms",
		"message.timestamp.before.max.ms", "message.timestamp.type", "min.cleanable.dirty.ratio",
		"min.compaction.lag.ms", "min.insync.replicas", "preallocate", "remote.log.copy.disable",
		"remote.log.delete.on.disable", "remote.storage.enable", "retention.bytes", "retention.ms",
		"segment.bytes", "segment.index.bytes", "segment.jitter.ms", "segment.ms",
		"unclean.leader.election.enable",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("TopicDefs names\n got %q\nwant %q", names, want)
	}

	for _, tc := range []struct {
		name     string
		typ      config.Type
		def      string
		synonyms []string
	}{
		{"cleanup.policy", config.TypeList, "delete", []string{"log.cleanup.policy"}},
		{"compression.gzip.level", config.TypeInt, "-1", []string{"compression.gzip.level"}},
		{"compression.lz4.level", config.TypeInt, "9", []string{"compression.lz4.level"}},
		{"compression.type", config.TypeString, "producer", []string{"compression.type"}},
		{"compression.zstd.level", config.TypeInt, "3", []string{"compression.zstd.level"}},
		{"delete.retention.ms", config.TypeLong, "86400000", []string{"log.cleaner.delete.retention.ms"}},
		{"file.delete.delay.ms", config.TypeLong, "60000", []string{"log.segment.delete.delay.ms"}},
		{"flush.messages", config.TypeLong, "9223372036854775807", []string{"log.flush.interval.messages"}},
		{"flush.ms", config.TypeLong, "9223372036854775807", []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"}},
		{"follower.replication.throttled.replicas", config.TypeList, "", nil},
		{"index.interval.bytes", config.TypeInt, "4096", []string{"log.index.interval.bytes"}},
		{"leader.replication.throttled.replicas", config.TypeList, "", nil},
		{"local.retention.bytes", config.TypeLong, "-2", []string{"log.local.retention.bytes"}},
		{"local.retention.ms", config.TypeLong, "-2", []string{"log.local.retention.ms"}},
		{"max.compaction.lag.ms", config.TypeLong, "9223372036854775807", []string{"log.cleaner.max.compaction.lag.ms"}},
		{"max.message.bytes", config.TypeInt, "1048588", []string{"message.max.bytes"}},
		{"message.timestamp.after.max.ms", config.TypeLong, "3600000", []string{"log.message.timestamp.after.max.ms"}},
		{"message.timestamp.before.max.ms", config.TypeLong, "9223372036854775807", []string{"log.message.timestamp.before.max.ms"}},
		{"message.timestamp.type", config.TypeString, "CreateTime", []string{"log.message.timestamp.type"}},
		{"min.cleanable.dirty.ratio", config.TypeDouble, "0.5", []string{"log.cleaner.min.cleanable.ratio"}},
		{"min.compaction.lag.ms", config.TypeLong, "0", []string{"log.cleaner.min.compaction.lag.ms"}},
		{"min.insync.replicas", config.TypeInt, "1", []string{"min.insync.replicas"}},
		{"preallocate", config.TypeBoolean, "false", []string{"log.preallocate"}},
		{"remote.log.copy.disable", config.TypeBoolean, "false", nil},
		{"remote.log.delete.on.disable", config.TypeBoolean, "false", nil},
		{"remote.storage.enable", config.TypeBoolean, "false", nil},
		{"retention.bytes", config.TypeLong, "-1", []string{"log.retention.bytes"}},
		{"retention.ms", config.TypeLong, "604800000", []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}},
		{"segment.bytes", config.TypeInt, "1073741824", []string{"log.segment.bytes"}},
		{"segment.index.bytes", config.TypeInt, "10485760", []string{"log.index.size.max.bytes"}},
		{"segment.jitter.ms", config.TypeLong, "0", []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}},
		{"segment.ms", config.TypeLong, "604800000", []string{"log.roll.ms", "log.roll.hours"}},
		{"unclean.leader.election.enable", config.TypeBoolean, "false", []string{"unclean.leader.election.enable"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := defs[tc.name]
			if d.Type != tc.typ || d.Default == nil || *d.Default != tc.def || !slices.Equal(d.Synonyms, tc.synonyms) {
				t.Errorf("got %s %v %q, want %s %q %q", d.Type, deref(d.Default), d.Synonyms, tc.typ, tc.def, tc.synonyms)
			}
			if d.ReadOnly || d.Sensitive || d.Doc == "" {
				t.Errorf("ReadOnly %v Sensitive %v Doc %q", d.ReadOnly, d.Sensitive, d.Doc)
			}
			if err := d.Validate(*d.Default); err != nil {
				t.Errorf("default does not validate: %v", err)
			}
			// A broker synonym StreamHouse has must agree with the topic
			// config on type and default, or the topic default would
			// depend on which one is read. Only the unit groups differ.
			if len(d.Synonyms) == 0 {
				return
			}
			bd, ok := config.BrokerDef(d.Synonyms[0])
			if !ok {
				return
			}
			if bd.Type != d.Type {
				t.Errorf("broker synonym %s is %s, topic config %s", bd.Name, bd.Type, d.Type)
			}
			if bd.Default != nil && *bd.Default != *d.Default {
				t.Errorf("broker synonym %s defaults to %s, topic config to %s", bd.Name, *bd.Default, *d.Default)
			}
		})
	}
}

// TopicDefsByName indexes TopicDefs.
func TopicDefsByName(t *testing.T) map[string]config.Def {
	t.Helper()
	m := map[string]config.Def{}
	for _, d := range config.TopicDefs() {
		m[d.Name] = d
	}
	return m
}

func deref(s *string) string {
	if s == nil {
		return "<null>"
	}
	return *s
}

func sp(s string) *string { return &s }

// Configs that Kafka 4.0 removed, and broker names, are not topic configs.
func TestTopicUnknown(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"message.downconversion.enable", "message.timestamp.difference.max.ms", "message.format.version",
		"log.retention.ms", "internal.segment.bytes", "", "Segment.Bytes",
	} {
		if _, ok := config.TopicDef(name); ok {
			t.Errorf("Topic(%q) found", name)
		}
	}
}

// Defs are handed out as copies: changing one must not change the tables.
func TestDefsAreCopies(t *testing.T) {
	t.Parallel()
	d, _ := config.TopicDef("retention.ms")
	*d.Default = "1"
	d.Synonyms[0] = "changed"
	defs := config.TopicDefs()
	*defs[0].Default = "changed"
	defs[0].Synonyms[0] = "changed"
	b, _ := config.BrokerDef("log.retention.hours")
	b.Synonyms[0] = "changed"

	d, _ = config.TopicDef("retention.ms")
	if *d.Default != "604800000" || d.Synonyms[0] != "log.retention.ms" {
		t.Errorf("retention.ms changed: %s %q", *d.Default, d.Synonyms)
	}
	c, _ := config.TopicDef("cleanup.policy")
	if *c.Default != "delete" || c.Synonyms[0] != "log.cleanup.policy" {
		t.Errorf("cleanup.policy changed: %s %q", *c.Default, c.Synonyms)
	}
	b, _ = config.BrokerDef("log.retention.hours")
	if b.Synonyms[0] != "log.retention.ms" {
		t.Errorf("log.retention.hours changed: %q", b.Synonyms)
	}
}

func TestBrokerDefs(t *testing.T) {
	t.Parallel()
	var names []string
	for _, d := range config.BrokerDefs() {
		names = append(names, d.Name)
	}
	want := []string{
		"advertised.listeners", "allow.everyone.if.no.acl.found", "authorizer.class.name", "auto.create.topics.enable",
		"broker.heartbeat.interval.ms", "broker.rack", "broker.session.timeout.ms", "compression.type",
		"connection.failed.authentication.delay.ms", "connections.max.idle.ms", "connections.max.reauth.ms", "console.messages.enable", "console.read.only", "default.replication.factor",
		"delegation.token.expiry.check.interval.ms", "delegation.token.expiry.time.ms", "delegation.token.master.key", "delegation.token.max.lifetime.ms", "delegation.token.secret.key", "group.consumer.heartbeat.interval.ms", "group.consumer.migration.policy",
		"group.consumer.session.timeout.ms", "group.initial.rebalance.delay.ms",
		"group.max.session.timeout.ms", "group.max.size", "group.min.session.timeout.ms",
		"group.share.delivery.count.limit", "group.share.heartbeat.interval.ms", "group.share.max.delivery.count.limit",
		"group.share.max.heartbeat.interval.ms", "group.share.max.record.lock.duration.ms", "group.share.max.session.timeout.ms",
		"group.share.max.share.sessions", "group.share.max.size", "group.share.min.delivery.count.limit",
		"group.share.min.heartbeat.interval.ms", "group.share.min.record.lock.duration.ms", "group.share.min.session.timeout.ms",
		"group.share.partition.max.record.locks", "group.share.record.lock.duration.ms", "group.share.session.timeout.ms",
		"listener.security.protocol.map", "listeners", "log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size", "log.cleaner.delete.retention.ms", "log.cleaner.enable",
		"log.cleanup.policy", "log.dirs", "log.flush.interval.messages", "log.flush.interval.ms",
		"log.flush.offset.checkpoint.interval.ms", "log.index.interval.bytes", "log.message.timestamp.type", "log.retention.bytes",
		"log.retention.check.interval.ms", "log.retention.hours", "log.retention.minutes",
		"log.retention.ms", "log.roll.hours", "log.roll.ms", "log.segment.bytes",
		"max.connections", "max.connections.per.ip", "message.max.bytes", "min.insync.replicas", "node.id", "num.partitions",
		"offset.metadata.max.bytes", "offsets.retention.check.interval.ms",
		"offsets.retention.minutes", "offsets.topic.num.partitions", "offsets.topic.segment.bytes", "producer.id.expiration.check.interval.ms",
		"producer.id.expiration.ms", "queued.max.request.bytes", "remote.log.storage.system.enable", "sasl.enabled.mechanisms",
		"sasl.oauthbearer.clock.skew.seconds", "sasl.oauthbearer.expected.audience", "sasl.oauthbearer.expected.issuer",
		"sasl.oauthbearer.jwks.endpoint.refresh.ms", "sasl.oauthbearer.jwks.endpoint.url", "sasl.oauthbearer.scope.claim.name",
		"sasl.oauthbearer.sub.claim.name", "sasl.server.max.receive.size", "socket.request.max.bytes",
		"ssl.cipher.suites", "ssl.client.auth", "ssl.enabled.protocols", "ssl.key.password", "ssl.keystore.certificate.chain",
		"ssl.keystore.key", "ssl.keystore.location", "ssl.keystore.password", "ssl.keystore.type", "ssl.principal.mapping.rules",
		"ssl.truststore.certificates", "ssl.truststore.location", "ssl.truststore.type",
		"storage.min.free.bytes", "streamhouse.batch.decompressed.max.bytes", "streamhouse.metadata", "streamhouse.metadata.location",
		"super.users",
		"transaction.abort.timed.out.transaction.cleanup.interval.ms", "transaction.max.timeout.ms",
		"transaction.remove.expired.transaction.cleanup.interval.ms", "transaction.state.log.num.partitions", "transaction.state.log.segment.bytes",
		"transactional.id.expiration.ms",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("BrokerDefs names\n got %q\nwant %q", names, want)
	}
	for _, tc := range []struct {
		name     string
		typ      config.Type
		def      *string
		readOnly bool
	}{
		{"advertised.listeners", config.TypeString, nil, false},
		{"auto.create.topics.enable", config.TypeBoolean, sp("true"), true},
		{"compression.type", config.TypeString, sp("producer"), false},
		{"default.replication.factor", config.TypeInt, sp("1"), true},
		{"listeners", config.TypeString, sp("PLAINTEXT://:9092"), false},
		{"log.cleaner.backoff.ms", config.TypeLong, sp("15000"), false},
		{"log.cleaner.dedupe.buffer.size", config.TypeLong, sp("134217728"), false},
		{"log.cleaner.delete.retention.ms", config.TypeLong, sp("86400000"), false},
		{"log.cleaner.enable", config.TypeBoolean, sp("true"), true},
		{"log.cleanup.policy", config.TypeList, sp("delete"), false},
		{"log.dirs", config.TypeList, nil, true},
		{"log.flush.interval.messages", config.TypeLong, sp("9223372036854775807"), false},
		{"log.flush.interval.ms", config.TypeLong, nil, false},
		{"log.flush.offset.checkpoint.interval.ms", config.TypeInt, sp("60000"), true},
		{"log.index.interval.bytes", config.TypeInt, sp("4096"), false},
		{"log.message.timestamp.type", config.TypeString, sp("CreateTime"), false},
		{"log.retention.bytes", config.TypeLong, sp("-1"), false},
		{"log.retention.check.interval.ms", config.TypeLong, sp("300000"), true},
		{"log.retention.hours", config.TypeInt, sp("168"), true},
		{"log.retention.minutes", config.TypeInt, nil, true},
		{"log.retention.ms", config.TypeLong, nil, false},
		{"log.roll.hours", config.TypeInt, sp("168"), true},
		{"log.roll.ms", config.TypeLong, nil, false},
		{"log.segment.bytes", config.TypeInt, sp("1073741824"), false},
		{"message.max.bytes", config.TypeInt, sp("1048588"), false},
		{"min.insync.replicas", config.TypeInt, sp("1"), false},
		{"node.id", config.TypeInt, nil, true},
		{"num.partitions", config.TypeInt, sp("1"), true},
		{"offsets.retention.minutes", config.TypeInt, sp("10080"), true},
		{"socket.request.max.bytes", config.TypeInt, sp("104857600"), true},
		{"streamhouse.batch.decompressed.max.bytes", config.TypeLong, sp("2147483648"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, ok := config.BrokerDef(tc.name)
			if !ok {
				t.Fatal("missing")
			}
			if d.Type != tc.typ || deref(d.Default) != deref(tc.def) || d.ReadOnly != tc.readOnly {
				t.Errorf("got %s %s readOnly=%v, want %s %s readOnly=%v",
					d.Type, deref(d.Default), d.ReadOnly, tc.typ, deref(tc.def), tc.readOnly)
			}
			if d.Doc == "" || d.Sensitive {
				t.Errorf("Doc %q Sensitive %v", d.Doc, d.Sensitive)
			}
			if d.Default != nil {
				if err := d.Validate(*d.Default); err != nil {
					t.Errorf("default does not validate: %v", err)
				}
			}
		})
	}
	for _, name := range []string{"segment.bytes", "log.dir", "broker.id", "log.roll.jitter.ms"} {
		if _, ok := config.BrokerDef(name); ok {
			t.Errorf("BrokerDef(%q) found", name)
		}
	}
}

func TestBrokerDefValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, value, err string
	}{
		{"node.id", "0", ""},
		{"node.id", "-1", "Invalid value -1 for configuration node.id: Value must be at least 0"},
		{"num.partitions", "0", "Invalid value 0 for configuration num.partitions: Value must be at least 1"},
		{"default.replication.factor", "0", "Invalid value 0 for configuration default.replication.factor: Value must be at least 1"},
		{"default.replication.factor", "32768", "Invalid value 32768 for configuration default.replication.factor: Value must be no more than 32767"},
		{"socket.request.max.bytes", "0", "Invalid value 0 for configuration socket.request.max.bytes: Value must be at least 1"},
		{"log.segment.bytes", "1000", "Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"},
		{"log.roll.hours", "0", "Invalid value 0 for configuration log.roll.hours: Value must be at least 1"},
		{"log.retention.hours", "-1", ""},
		{"log.retention.check.interval.ms", "0", "Invalid value 0 for configuration log.retention.check.interval.ms: Value must be at least 1"},
		{"offsets.retention.minutes", "0", "Invalid value 0 for configuration offsets.retention.minutes: Value must be at least 1"},
		{"auto.create.topics.enable", "maybe", "Invalid value maybe for configuration auto.create.topics.enable: Expected value to be either true or false"},
		{"log.cleanup.policy", "bogus", "Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete"},
		{"log.message.timestamp.type", "Now", "Invalid value Now for configuration log.message.timestamp.type: String must be one of: CreateTime, LogAppendTime"},
		{"log.dirs", "/data", ""},
		{"log.dirs", "/a, /b", ""},
		{"log.dirs", "", "Configuration 'log.dirs' must not be empty. Valid values include: any non-empty value"},
		{"log.dirs", "/a,/a", "Configuration 'log.dirs' values must not be duplicated."},
		{"listeners", "PLAINTEXT://:9092", ""},
		{"listeners", "PLAINTEXT://localhost:9092,SSL://[::1]:9093", ""},
		{"listeners", "plaintext://0.0.0.0:9092,", ""},
		{"listeners", "localhost:9092", "Unable to parse localhost:9092 to a broker endpoint"},
		{"listeners", "PLAINTEXT://host", "Unable to parse PLAINTEXT://host to a broker endpoint"},
		{"listeners", "PLAINTEXT://:70000", "Unable to parse PLAINTEXT://:70000 to a broker endpoint"},
		// CLIENT is checked against listener.security.protocol.map by
		// NewBroker (config/security_test.go).
		{"listeners", "CLIENT://:9092", ""},
		{"listeners", "PLAINTEXT://:9092,plaintext://:9093", "Each listener must have a different name, listeners: PLAINTEXT://:9092,plaintext://:9093"},
		{"advertised.listeners", "PLAINTEXT://broker1:9092", ""},
		{"advertised.listeners", "PLAINTEXT://0.0.0.0:9092", "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address."},
	} {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			t.Parallel()
			d, ok := config.BrokerDef(tc.name)
			if !ok {
				t.Fatalf("no broker config %s", tc.name)
			}
			wantErr(t, d.Validate(tc.value), config.ErrInvalid, tc.err)
		})
	}
}

// TestValidateTieredTopic: remote.storage.enable as Kafka's LogConfig
// validates it: refused while the broker has no tiered storage, with a
// compacted topic, and with a local retention larger than the whole.
func TestValidateTieredTopic(t *testing.T) {
	t.Parallel()
	off, err := config.NewBroker(map[string]string{"node.id": "1"})
	if err != nil {
		t.Fatal(err)
	}
	on, err := config.NewBroker(map[string]string{"node.id": "1", "remote.log.storage.system.enable": "true"})
	if err != nil {
		t.Fatal(err)
	}
	// The cluster mode (a PostgreSQL catalog and S3): its leaders clean
	// compacted topics in the bucket.
	cluster, err := config.NewBroker(map[string]string{"node.id": "1", "remote.log.storage.system.enable": "true", "streamhouse.metadata": "postgres"})
	if err != nil {
		t.Fatal(err)
	}
	if on.RemoteCompaction() || !cluster.RemoteCompaction() {
		t.Errorf("RemoteCompaction: %v on a tiered single broker, %v in the cluster mode; want false, true", on.RemoteCompaction(), cluster.RemoteCompaction())
	}
	for _, tc := range []struct {
		name    string
		b       *config.Broker
		configs map[string]string
		want    string
	}{
		{"system off", off, map[string]string{"remote.storage.enable": "true"}, "Tiered Storage functionality is disabled in the broker"},
		{"system on", on, map[string]string{"remote.storage.enable": "true"}, ""},
		{"compacted", on, map[string]string{"remote.storage.enable": "true", "cleanup.policy": "compact"}, "Remote log storage is unsupported for the compacted topics"},
		{"compacted in the cluster mode", cluster, map[string]string{"remote.storage.enable": "true", "cleanup.policy": "compact"}, ""},
		{"local bytes above the whole", on, map[string]string{"remote.storage.enable": "true", "retention.bytes": "100", "local.retention.bytes": "200"},
			"Invalid value 200 for configuration local.retention.bytes: Value must not be more than retention.bytes property value: 100"},
		{"local ms unlimited under a limit", on, map[string]string{"remote.storage.enable": "true", "retention.ms": "1000", "local.retention.ms": "-1"},
			"Invalid value -1 for configuration local.retention.ms: Value must not be -1 as retention.ms value is set as 1000."},
		{"local within", on, map[string]string{"remote.storage.enable": "true", "retention.bytes": "1000", "local.retention.bytes": "100"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.ValidateTopic(tc.configs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestValidateTieredTopicChange: tiered storage turns off only with
// remote.log.delete.on.disable (KIP-950).
func TestValidateTieredTopicChange(t *testing.T) {
	t.Parallel()
	b, err := config.NewBroker(map[string]string{"node.id": "1", "remote.log.storage.system.enable": "true"})
	if err != nil {
		t.Fatal(err)
	}
	on := map[string]string{"remote.storage.enable": "true"}
	for _, tc := range []struct {
		name      string
		old, next map[string]string
		ok        bool
	}{
		{"off without delete", on, map[string]string{"remote.storage.enable": "false"}, false},
		{"unset without delete", on, nil, false},
		{"off with delete", on, map[string]string{"remote.storage.enable": "false", "remote.log.delete.on.disable": "true"}, true},
		{"copy off", on, map[string]string{"remote.storage.enable": "true", "remote.log.copy.disable": "true"}, true},
		{"on", nil, on, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.ValidateTopicChange(tc.old, tc.next)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "remote.log.delete.on.disable=true") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
