package config

import (
	"slices"
	"strings"
)

// Kafka's values behind the topic defaults, where more than one config uses
// them.
const (
	maxLong    = "9223372036854775807" // Long.MAX_VALUE: "never"
	week       = "604800000"           // 7 days in ms
	maxMessage = "1048588"             // 1 MiB + the 12-byte log overhead
	segment    = "1073741824"          // 1 GiB
	minSegment = 1 << 20               // KIP-1030: segment.bytes >= 1 MiB in 4.0
)

// Values of the enumerated topic configs.
const (
	CleanupPolicyCompact = "compact"
	CleanupPolicyDelete  = "delete"

	TimestampCreateTime    = "CreateTime"
	TimestampLogAppendTime = "LogAppendTime"
)

// compressionTypes is Kafka's BrokerCompressionType, in Kafka's order, which
// its error message repeats.
func compressionTypes() []string {
	return []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}
}

// topicDefs is Kafka 4.2's topic-level configs (LogConfig), sorted by name.
// It is never written: TopicDef and TopicDefs hand out clones.
var topicDefs = [...]Def{
	{
		Name: "cleanup.policy", Type: TypeList, Default: ptr(CleanupPolicyDelete),
		Synonyms: []string{"log.cleanup.policy"},
		check:    listOf(true, CleanupPolicyCompact, CleanupPolicyDelete),
		Doc:      `This config designates the retention policy to use on log segments. The "delete" policy (which is the default) will discard old segments when their retention time or size limit has been reached. The "compact" policy will enable log compaction, which retains the latest value for each key. It is also possible to specify both policies in a comma-separated list (e.g. "delete,compact"). In this case, old segments will be discarded per the retention time and size configuration, while retained segments will be compacted. An empty list means infinite retention - no cleanup policies will be applied and log segments will be retained indefinitely. Note that with remote storage enabled, local retention limits (log.local.retention.ms and log.local.retention.bytes) are still applied to local segments.`,
	},
	{
		Name: "compression.gzip.level", Type: TypeInt, Default: ptr("-1"),
		Synonyms: []string{"compression.gzip.level"},
		check:    gzipLevel,
		Doc:      `The compression level to use if compression.type is set to gzip.`,
	},
	{
		Name: "compression.lz4.level", Type: TypeInt, Default: ptr("9"),
		Synonyms: []string{"compression.lz4.level"},
		check:    between(1, 17),
		Doc:      `The compression level to use if compression.type is set to lz4.`,
	},
	{
		Name: "compression.type", Type: TypeString, Default: ptr("producer"),
		Synonyms: []string{"compression.type"},
		check:    oneOf(compressionTypes()...),
		Doc:      `Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer.`,
	},
	{
		// zstd-jni's ZSTD_minCLevel() is -(1<<17); its maximum is 22.
		Name: "compression.zstd.level", Type: TypeInt, Default: ptr("3"),
		Synonyms: []string{"compression.zstd.level"},
		check:    between(-131072, 22),
		Doc:      `The compression level to use if compression.type is set to zstd.`,
	},
	{
		// Confluent Server's broker-side schema validation, acted on when
		// the broker runs its schema registry: a record's key must carry
		// the Confluent wire header (magic byte 0, a 4-byte schema id)
		// with an id registered under the subject <topic>-key.
		Name: "confluent.key.schema.validation", Type: TypeBoolean, Default: ptr("false"),
		Doc: `True if schema validation at broker side is enabled for the key: a record whose key does not start with the Confluent wire header naming a schema id registered under the subject <topic>-key (TopicNameStrategy) is refused with INVALID_RECORD. Null keys are accepted.`,
	},
	{
		Name: "confluent.value.schema.validation", Type: TypeBoolean, Default: ptr("false"),
		Doc: `True if schema validation at broker side is enabled for the value: a record whose value does not start with the Confluent wire header naming a schema id registered under the subject <topic>-value (TopicNameStrategy) is refused with INVALID_RECORD. Null values (tombstones) are accepted.`,
	},
	{
		Name: "delete.retention.ms", Type: TypeLong, Default: ptr("86400000"),
		Synonyms: []string{"log.cleaner.delete.retention.ms"},
		check:    atLeast(0),
		Doc:      `The amount of time to retain delete tombstone markers for log compacted topics. This setting also gives a bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get a valid snapshot of the final stage (otherwise delete tombstones may be collected before they complete their scan).`,
	},
	{
		Name: "file.delete.delay.ms", Type: TypeLong, Default: ptr("60000"),
		Synonyms: []string{"log.segment.delete.delay.ms"},
		check:    atLeast(0),
		Doc:      `The time to wait before deleting a file from the filesystem`,
	},
	{
		Name: "flush.messages", Type: TypeLong, Default: ptr(maxLong),
		Synonyms: []string{"log.flush.interval.messages"},
		check:    atLeast(1),
		Doc:      `This setting allows specifying an interval at which we will force an fsync of data written to the log. For example if this was set to 1 we would fsync after every message; if it were 5 we would fsync after every five messages. In general we recommend you not set this and use replication for durability and allow the operating system's background flush capabilities as it is more efficient.`,
	},
	{
		Name: "flush.ms", Type: TypeLong, Default: ptr(maxLong),
		Synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		check:    atLeast(0),
		Doc:      `This setting allows specifying a time interval at which we will force an fsync of data written to the log. For example if this was set to 1000 we would fsync after 1000 ms had passed. In general we recommend you not set this and use replication for durability and allow the operating system's background flush capabilities as it is more efficient.`,
	},
	{
		Name: "follower.replication.throttled.replicas", Type: TypeList, Default: ptr(""),
		check: throttledReplicas,
		Doc:   `A list of replicas for which log replication should be throttled on the follower side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.`,
	},
	{
		Name: "index.interval.bytes", Type: TypeInt, Default: ptr("4096"),
		Synonyms: []string{"log.index.interval.bytes"},
		check:    atLeast(0),
		Doc:      `This setting controls how frequently Kafka adds an index entry to its offset index. The default setting ensures that we index a message roughly every 4096 bytes. More indexing allows reads to jump closer to the exact position in the log but makes the index larger. You probably don't need to change this.`,
	},
	{
		Name: "leader.replication.throttled.replicas", Type: TypeList, Default: ptr(""),
		check: throttledReplicas,
		Doc:   `A list of replicas for which log replication should be throttled on the leader side. The list should describe a set of replicas in the form [PartitionId]:[BrokerId],[PartitionId]:[BrokerId]:... or alternatively the wildcard '*' can be used to throttle all replicas for this topic.`,
	},
	{
		Name: "local.retention.bytes", Type: TypeLong, Default: ptr("-2"),
		Synonyms: []string{"log.local.retention.bytes"},
		check:    atLeast(-2),
		Doc:      "The maximum size of local log segments that can grow for a partition before it deletes the old segments. Default value is -2, it represents `retention.bytes` value to be used. The effective value should always be less than or equal to `retention.bytes` value.",
	},
	{
		Name: "local.retention.ms", Type: TypeLong, Default: ptr("-2"),
		Synonyms: []string{"log.local.retention.ms"},
		check:    atLeast(-2),
		Doc:      "The number of milliseconds to keep the local log segment before it gets deleted. Default value is -2, it represents `retention.ms` value is to be used. The effective value should always be less than or equal to `retention.ms` value.",
	},
	{
		Name: "max.compaction.lag.ms", Type: TypeLong, Default: ptr(maxLong),
		Synonyms: []string{"log.cleaner.max.compaction.lag.ms"},
		check:    atLeast(1),
		Doc:      `The maximum time a message will remain ineligible for compaction in the log. Only applicable for logs that are being compacted.`,
	},
	{
		Name: "max.message.bytes", Type: TypeInt, Default: ptr(maxMessage),
		Synonyms: []string{"message.max.bytes"},
		check:    atLeast(0),
		Doc:      `The largest record batch size allowed by Kafka (after compression if compression is enabled).`,
	},
	{
		// Kafka 4.0 lowered the default from Long.MAX_VALUE to one hour.
		Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: ptr("3600000"),
		Synonyms: []string{"log.message.timestamp.after.max.ms"},
		check:    atLeast(0),
		Doc:      `This configuration sets the allowable timestamp difference between the message timestamp and the broker's timestamp. The message timestamp can be later than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if message.timestamp.type=LogAppendTime.`,
	},
	{
		Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: ptr(maxLong),
		Synonyms: []string{"log.message.timestamp.before.max.ms"},
		check:    atLeast(0),
		Doc:      `This configuration sets the allowable timestamp difference between the broker's timestamp and the message timestamp. The message timestamp can be earlier than or equal to the broker's timestamp, with the maximum allowable difference determined by the value set in this configuration. If message.timestamp.type=CreateTime, the message will be rejected if the difference in timestamps exceeds this specified threshold. This configuration is ignored if message.timestamp.type=LogAppendTime.`,
	},
	{
		Name: "message.timestamp.type", Type: TypeString, Default: ptr(TimestampCreateTime),
		Synonyms: []string{"log.message.timestamp.type"},
		check:    oneOf(TimestampCreateTime, TimestampLogAppendTime),
		Doc:      `Define whether the timestamp in the message is message create time or log append time.`,
	},
	{
		Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: ptr("0.5"),
		Synonyms: []string{"log.cleaner.min.cleanable.ratio"},
		check:    between(0, 1),
		Doc:      `This configuration controls how frequently the log compactor will attempt to clean the log (assuming log compaction is enabled). By default we will avoid cleaning a log where more than 50% of the log has been compacted. This ratio bounds the maximum space wasted in the log by duplicates (at 50% at most 50% of the log could be duplicates). A higher ratio will mean fewer, more efficient cleanings but will mean more wasted space in the log. If the max.compaction.lag.ms or the min.compaction.lag.ms configurations are also specified, then the log compactor considers the log to be eligible for compaction as soon as either: (i) the dirty ratio threshold has been met and the log has had dirty (uncompacted) records for at least the min.compaction.lag.ms duration, or (ii) if the log has had dirty (uncompacted) records for at most the max.compaction.lag.ms period.`,
	},
	{
		Name: "min.compaction.lag.ms", Type: TypeLong, Default: ptr("0"),
		Synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		check:    atLeast(0),
		Doc:      `The minimum time a message will remain uncompacted in the log. Only applicable for logs that are being compacted.`,
	},
	{
		Name: "min.insync.replicas", Type: TypeInt, Default: ptr("1"),
		Synonyms: []string{"min.insync.replicas"},
		check:    atLeast(1),
		Doc:      `When a producer sets acks to "all" (or "-1"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful. If this minimum cannot be met, then the producer will raise an exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend). When used together, min.insync.replicas and acks allow you to enforce greater durability guarantees. A typical scenario would be to create a topic with a replication factor of 3, set min.insync.replicas to 2, and produce with acks of "all". This will ensure that the producer raises an exception if a majority of replicas do not receive a write.`,
	},
	{
		Name: "preallocate", Type: TypeBoolean, Default: ptr("false"),
		Synonyms: []string{"log.preallocate"},
		Doc:      `True if we should preallocate the file on disk when creating a new log segment.`,
	},
	{
		Name: "remote.log.copy.disable", Type: TypeBoolean, Default: ptr("false"),
		Doc: `Determines whether tiered data for a topic should become read only, and no more data uploading on a topic. Once this config is set to true, the local retention configuration (i.e. local.retention.ms/bytes) becomes irrelevant, and all data expiration follows the topic-wide retention configuration(i.e. retention.ms/bytes).`,
	},
	{
		Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: ptr("false"),
		Doc: "Determines whether tiered data for a topic should be deleted after tiered storage is disabled on a topic. This configuration should be enabled when trying to set `remote.storage.enable` from true to false",
	},
	{
		Name: "remote.storage.enable", Type: TypeBoolean, Default: ptr("false"),
		Doc: `To enable tiered storage for a topic, set this configuration to true. To disable tiered storage for a topic that has it enabled, set this configuration to false. When disabling, you must also set remote.log.delete.on.disable to true.`,
	},
	{
		// No validator: a negative value means no limit.
		Name: "retention.bytes", Type: TypeLong, Default: ptr("-1"),
		Synonyms: []string{"log.retention.bytes"},
		Doc:      `This configuration controls the maximum size a partition (which consists of log segments) can grow to before we will discard old log segments to free up space if we are using the "delete" retention policy. By default there is no size limit only a time limit. Since this limit is enforced at the partition level, multiply it by the number of partitions to compute the topic retention in bytes. Additionally, retention.bytes configuration operates independently of "segment.ms" and "segment.bytes" configurations. Moreover, it triggers the rolling of new segment if the retention.bytes is configured to zero.`,
	},
	{
		Name: "retention.ms", Type: TypeLong, Default: ptr(week),
		Synonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"},
		check:    atLeast(-1),
		Doc:      `This configuration controls the maximum time we will retain a log before we will discard old log segments to free up space if we are using the "delete" retention policy. This represents an SLA on how soon consumers must read their data. If set to -1, no time limit is applied. Additionally, retention.ms configuration operates independently of "segment.ms" and "segment.bytes" configurations. Moreover, it triggers the rolling of new segment if the retention.ms condition is satisfied.`,
	},
	{
		Name: "segment.bytes", Type: TypeInt, Default: ptr(segment),
		Synonyms: []string{"log.segment.bytes"},
		check:    atLeast(minSegment),
		Doc:      `This configuration controls the segment file size for the log. Retention and cleaning is always done a file at a time so a larger segment size means fewer files but less granular control over retention.`,
	},
	{
		Name: "segment.index.bytes", Type: TypeInt, Default: ptr("10485760"),
		Synonyms: []string{"log.index.size.max.bytes"},
		check:    atLeast(4),
		Doc:      `This configuration controls the size of the index that maps offsets to file positions. We preallocate this index file and shrink it only after log rolls. You generally should not need to change this setting.`,
	},
	{
		Name: "segment.jitter.ms", Type: TypeLong, Default: ptr("0"),
		Synonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"},
		check:    atLeast(0),
		Doc:      `The maximum random jitter subtracted from the scheduled segment roll time to avoid thundering herds of segment rolling`,
	},
	{
		Name: "segment.ms", Type: TypeLong, Default: ptr(week),
		Synonyms: []string{"log.roll.ms", "log.roll.hours"},
		check:    atLeast(1),
		Doc:      `This configuration controls the period of time after which Kafka will force the log to roll even if the segment file isn't full to ensure that retention can delete or compact old data.`,
	},
	{
		Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: ptr("false"),
		Synonyms: []string{"unclean.leader.election.enable"},
		Doc:      `Indicates whether to enable replicas not in the ISR set to be elected as leader as a last resort, even though doing so may result in data loss.`,
	},
}

// kafkaBrokerDefault is Kafka's default for a broker config that is a synonym
// of a topic config but that StreamHouse does not take, so that
// DescribeConfigs can list it among the synonyms as Kafka does. ok is false
// for a null default and for names it does not know.
func kafkaBrokerDefault(name string) (string, bool) {
	switch name {
	case "compression.gzip.level":
		return "-1", true
	case "compression.lz4.level":
		return "9", true
	case "compression.zstd.level":
		return "3", true
	case "log.cleaner.max.compaction.lag.ms", "log.flush.scheduler.interval.ms",
		"log.message.timestamp.before.max.ms":
		return maxLong, true
	case "log.cleaner.min.cleanable.ratio":
		return "0.5", true
	case "log.cleaner.min.compaction.lag.ms", "log.roll.jitter.hours":
		return "0", true
	case "log.index.size.max.bytes":
		return "10485760", true
	case "log.local.retention.bytes", "log.local.retention.ms":
		return "-2", true
	case "log.message.timestamp.after.max.ms":
		return "3600000", true
	case "log.preallocate", "unclean.leader.election.enable":
		return "false", true
	case "log.segment.delete.delay.ms":
		return "60000", true
	}
	return "", false // log.roll.jitter.ms has a null default
}

// findDef returns the entry of sorted defs named name.
func findDef(defs []Def, name string) (*Def, bool) {
	i, ok := slices.BinarySearchFunc(defs, name, func(d Def, n string) int { return strings.Compare(d.Name, n) })
	if !ok {
		return nil, false
	}
	return &defs[i], true
}

// cloneDefs returns clones of defs.
func cloneDefs(defs []Def) []Def {
	out := make([]Def, len(defs))
	for i := range defs {
		out[i] = defs[i].clone()
	}
	return out
}

// TopicDefs returns every topic-level config of Kafka 4.2, sorted by name.
// The slice is the caller's.
func TopicDefs() []Def { return cloneDefs(topicDefs[:]) }

// TopicDef returns the topic-level config named name, and whether Kafka 4.2 has
// one. Configs that Kafka 4.0 removed (message.format.version,
// message.downconversion.enable, message.timestamp.difference.max.ms) are
// unknown.
func TopicDef(name string) (Def, bool) {
	d, ok := findDef(topicDefs[:], name)
	if !ok {
		return Def{}, false
	}
	return d.clone(), true
}
