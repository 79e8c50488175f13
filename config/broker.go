package config

import (
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// coreBrokerDefs and securityDefs (security.go) are the broker-level configs
// StreamHouse has, as Kafka 4.2 defines them, each sorted by name;
// brokerDefs is the two merged. It is never written: BrokerDef and
// BrokerDefs hand out clones. ReadOnly follows Kafka's dynamic update mode:
// configs that Kafka can change per broker or cluster-wide are not read-only.
var coreBrokerDefs = [...]Def{
	{
		Name: "advertised.listeners", Type: TypeString,
		check: advertisedListeners,
		Doc:   `Specifies the listener addresses that the Kafka brokers will advertise to clients and other brokers. The config is useful where the actual listeners configuration may not be appropriate for advertising to clients. If this is not set, the value for listeners will be used. Unlike listeners, it is not valid to advertise the 0.0.0.0 meta-address. Also unlike listeners, there can be duplicated ports in this property, so that one listener can be configured to advertise another listener's address.`,
	},
	{
		Name: "auto.create.topics.enable", Type: TypeBoolean, Default: ptr("true"), ReadOnly: true,
		Doc: `Enable auto creation of topic on the server.`,
	},
	{
		// The cluster mode (PostgreSQL + S3): how long a broker's
		// session lasts without a renewal, and how often it is renewed.
		Name: "broker.heartbeat.interval.ms", Type: TypeInt, Default: ptr("2000"), ReadOnly: true,
		Doc: `The length of time in milliseconds between broker heartbeats. Used in the cluster mode (PostgreSQL and S3): each broker renews its session in the catalog this often.`,
	},
	{
		Name: "broker.rack", Type: TypeString, ReadOnly: true,
		Doc: `Rack of the broker. This will be used in rack aware replication assignment for fault tolerance. Examples: RACK1, us-east-1d. In the cluster mode it is registered with the broker and listed in Metadata.`,
	},
	{
		Name: "broker.session.timeout.ms", Type: TypeInt, Default: ptr("9000"), ReadOnly: true,
		Doc: `The length of time in milliseconds that a broker lease lasts if no heartbeats are made. Used in the cluster mode (PostgreSQL and S3): a broker whose session expires, judged by the database's clock, loses its partitions to the others.`,
	},
	{
		Name: "compression.type", Type: TypeString, Default: ptr("producer"),
		check: oneOf(compressionTypes()...),
		Doc:   `Specify the final compression type for a given topic. This configuration accepts the standard compression codecs ('gzip', 'snappy', 'lz4', 'zstd'). It additionally accepts 'uncompressed' which is equivalent to no compression; and 'producer' which means retain the original compression codec set by the producer.`,
	},
	{
		Name: "connections.max.idle.ms", Type: TypeLong, Default: ptr("600000"), ReadOnly: true,
		Doc: `Idle connections timeout: the server socket processor threads close the connections that idle more than this`,
	},
	{
		// StreamHouse's own (Redpanda Console's and kafbat kafka-ui's
		// read-only and message-viewing switches are the model): the
		// web console on the HTTP listener.
		Name: "console.messages.enable", Type: TypeBoolean, Default: ptr("true"), ReadOnly: true,
		Doc: `Whether the web console on the HTTP listener shows messages: false turns its message browser (and its export) off, for brokers whose data the console's users must not read.`,
	},
	{
		Name: "console.read.only", Type: TypeBoolean, Default: ptr("false"), ReadOnly: true,
		Doc: `Whether the web console on the HTTP listener is read-only: true hides and refuses every change through it (creating, deleting or configuring topics, producing, resetting or deleting offsets and groups, ACLs, users, quotas).`,
	},
	{
		// Kafka has no validator here and fails at topic creation instead;
		// StreamHouse checks at startup that the value fits the INT16 that
		// CreateTopics carries.
		Name: "default.replication.factor", Type: TypeInt, Default: ptr("1"), ReadOnly: true,
		check: between(1, 32767),
		Doc:   `The replication factor for automatically created topics, and for topics created with -1 as the replication factor`,
	},
	{
		Name: "group.consumer.heartbeat.interval.ms", Type: TypeInt, Default: ptr("5000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The heartbeat interval given to the members of a consumer group.`,
	},
	{
		// Internal in Kafka (its DescribeConfigs leaves it out);
		// StreamHouse lists it with the others.
		Name: "group.consumer.migration.policy", Type: TypeString, Default: ptr("bidirectional"), ReadOnly: true,
		check: oneOfFold("disabled", "upgrade", "downgrade", "bidirectional"),
		Doc:   `The config that enables converting the non-empty classic group using the consumer embedded protocol to the non-empty consumer group using the consumer group protocol and vice versa; conversions of empty groups in both directions are always enabled regardless of this policy. bidirectional: both upgrade from classic group to consumer group and downgrade from consumer group to classic group are enabled, upgrade: only upgrade from classic group to consumer group is enabled, downgrade: only downgrade from consumer group to classic group is enabled, disabled: neither upgrade nor downgrade is enabled.`,
	},
	{
		Name: "group.consumer.session.timeout.ms", Type: TypeInt, Default: ptr("45000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The timeout to detect client failures when using the consumer group protocol.`,
	},
	{
		Name: "group.initial.rebalance.delay.ms", Type: TypeInt, Default: ptr("3000"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `The amount of time the group coordinator will wait for more consumers to join a new group before performing the first rebalance. A longer delay means potentially fewer rebalances, but increases the time until processing begins.`,
	},
	{
		Name: "group.max.session.timeout.ms", Type: TypeInt, Default: ptr("1800000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum allowed session timeout for registered consumers. Longer timeouts give consumers more time to process messages in between heartbeats at the cost of a longer time to detect failures.`,
	},
	{
		Name: "group.max.size", Type: TypeInt, Default: ptr("2147483647"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum number of consumers that a single consumer group can accommodate.`,
	},
	{
		Name: "group.min.session.timeout.ms", Type: TypeInt, Default: ptr("6000"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `The minimum allowed session timeout for registered consumers. Shorter timeouts result in quicker failure detection at the cost of more frequent consumer heartbeating, which can overwhelm broker resources.`,
	},
	{
		Name: "group.share.delivery.count.limit", Type: TypeInt, Default: ptr("5"), ReadOnly: true,
		check: between(2, 10),
		Doc:   `The maximum number of delivery attempts for a record delivered to a share group.`,
	},
	{
		Name: "group.share.heartbeat.interval.ms", Type: TypeInt, Default: ptr("5000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The heartbeat interval given to the members of a share group.`,
	},
	{
		Name: "group.share.max.delivery.count.limit", Type: TypeInt, Default: ptr("10"), ReadOnly: true,
		check: between(2, 10),
		Doc:   `The maximum value of a share group's share.delivery.count.limit.`,
	},
	{
		Name: "group.share.max.heartbeat.interval.ms", Type: TypeInt, Default: ptr("15000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum heartbeat interval for share group members.`,
	},
	{
		Name: "group.share.max.record.lock.duration.ms", Type: TypeInt, Default: ptr("60000"), ReadOnly: true,
		check: between(30000, 3600000),
		Doc:   `The record acquisition lock maximum duration in milliseconds for share groups.`,
	},
	{
		Name: "group.share.max.session.timeout.ms", Type: TypeInt, Default: ptr("60000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum allowed session timeout for share group members.`,
	},
	{
		Name: "group.share.max.share.sessions", Type: TypeInt, Default: ptr("2000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum number of share sessions per broker.`,
	},
	{
		Name: "group.share.max.size", Type: TypeInt, Default: ptr("200"), ReadOnly: true,
		check: between(1, 1000),
		Doc:   `The maximum number of members that a single share group can accommodate.`,
	},
	{
		Name: "group.share.min.delivery.count.limit", Type: TypeInt, Default: ptr("2"), ReadOnly: true,
		check: between(2, 10),
		Doc:   `The minimum value of a share group's share.delivery.count.limit.`,
	},
	{
		Name: "group.share.min.heartbeat.interval.ms", Type: TypeInt, Default: ptr("5000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The minimum heartbeat interval for share group members.`,
	},
	{
		Name: "group.share.min.record.lock.duration.ms", Type: TypeInt, Default: ptr("15000"), ReadOnly: true,
		check: between(1000, 30000),
		Doc:   `The record acquisition lock minimum duration in milliseconds for share groups.`,
	},
	{
		Name: "group.share.min.session.timeout.ms", Type: TypeInt, Default: ptr("45000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The minimum allowed session timeout for share group members.`,
	},
	{
		Name: "group.share.partition.max.record.locks", Type: TypeInt, Default: ptr("2000"), ReadOnly: true,
		check: between(100, 10000),
		Doc:   `Share-group record lock limit per share-partition.`,
	},
	{
		Name: "group.share.record.lock.duration.ms", Type: TypeInt, Default: ptr("30000"), ReadOnly: true,
		check: between(1000, 3600000),
		Doc:   `The record acquisition lock duration in milliseconds for share groups.`,
	},
	{
		Name: "group.share.session.timeout.ms", Type: TypeInt, Default: ptr("45000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The timeout to detect client failures when using the share group protocol.`,
	},
	{
		Name: "listeners", Type: TypeString, Default: ptr("PLAINTEXT://:9092"),
		check: listeners,
		Doc:   `Listener List - Comma-separated list of URIs we will listen on and the listener names. If the listener name is not a security protocol, listener.security.protocol.map must also be set. Listener names and port numbers must be unique unless one listener is an IPv4 address and the other listener is an IPv6 address (for the same port). Specify hostname as 0.0.0.0 to bind to all interfaces. Leave hostname empty to bind to default interface. Examples of legal listener lists: PLAINTEXT://myhost:9092,SSL://:9091 CLIENT://0.0.0.0:9092,REPLICATION://localhost:9093 PLAINTEXT://127.0.0.1:9092,SSL://[::1]:9092`,
	},
	{
		Name: "log.cleaner.backoff.ms", Type: TypeLong, Default: ptr("15000"),
		check: atLeast(0),
		Doc:   `The amount of time to sleep when there are no logs to clean`,
	},
	{
		Name: "log.cleaner.dedupe.buffer.size", Type: TypeLong, Default: ptr("134217728"),
		check: atLeast(1 << 20),
		Doc:   `The total memory used for log deduplication across all cleaner threads`,
	},
	{
		Name: "log.cleaner.delete.retention.ms", Type: TypeLong, Default: ptr("86400000"),
		check: atLeast(0),
		Doc:   `The amount of time to retain tombstone message markers for log compacted topics. This setting also gives a bound on the time in which a consumer must complete a read if they begin from offset 0 to ensure that they get a valid snapshot of the final stage (otherwise tombstones messages may be collected before a consumer completes their scan).`,
	},
	{
		Name: "log.cleaner.enable", Type: TypeBoolean, Default: ptr("true"), ReadOnly: true,
		Doc: `Enable the log cleaner process to run on the server. Should be enabled if using any topics with a cleanup.policy=compact including the internal offsets topic. If disabled those topics will not be compacted and continually grow in size.`,
	},
	{
		Name: "log.cleanup.policy", Type: TypeList, Default: ptr(CleanupPolicyDelete),
		check: listOf(true, CleanupPolicyCompact, CleanupPolicyDelete),
		Doc:   `This config designates the retention policy to use on log segments. The "delete" policy (which is the default) will discard old segments when their retention time or size limit has been reached. The "compact" policy will enable log compaction, which retains the latest value for each key. It is also possible to specify both policies in a comma-separated list (e.g. "delete,compact"). In this case, old segments will be discarded per the retention time and size configuration, while retained segments will be compacted. An empty list means infinite retention - no cleanup policies will be applied and log segments will be retained indefinitely.`,
	},
	{
		Name: "log.dirs", Type: TypeList, ReadOnly: true,
		check: listOf(false),
		Doc:   `A comma-separated list of the directories where the log data is stored. If not set, the value in log.dir is used.`,
	},
	{
		Name: "log.flush.interval.messages", Type: TypeLong, Default: ptr(maxLong),
		check: atLeast(1),
		Doc:   `The number of messages accumulated on a log partition before messages are flushed to disk.`,
	},
	{
		Name: "log.flush.interval.ms", Type: TypeLong,
		Synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		Doc:      `The maximum time in ms that a message in any topic is kept in memory before flushed to disk. If not set, the value in log.flush.scheduler.interval.ms is used`,
	},
	{
		Name: "log.flush.offset.checkpoint.interval.ms", Type: TypeInt, Default: ptr("60000"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `The frequency with which we update the persistent record of the last flush which acts as the log recovery point.`,
	},
	{
		Name: "log.index.interval.bytes", Type: TypeInt, Default: ptr("4096"),
		check: atLeast(0),
		Doc:   `The interval with which we add an entry to the offset index.`,
	},
	{
		Name: "log.message.timestamp.type", Type: TypeString, Default: ptr(TimestampCreateTime),
		check: oneOf(TimestampCreateTime, TimestampLogAppendTime),
		Doc:   `Define whether the timestamp in the message is message create time or log append time. The value should be either CreateTime or LogAppendTime.`,
	},
	{
		Name: "log.retention.bytes", Type: TypeLong, Default: ptr("-1"),
		Doc: `The maximum size of the log before deleting it`,
	},
	{
		Name: "log.retention.check.interval.ms", Type: TypeLong, Default: ptr("300000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion`,
	},
	{
		Name: "log.retention.hours", Type: TypeInt, Default: ptr("168"), ReadOnly: true,
		Synonyms: retentionGroup(),
		Doc:      `The number of hours to keep a log file before deleting it (in hours), tertiary to log.retention.ms property`,
	},
	{
		Name: "log.retention.minutes", Type: TypeInt, ReadOnly: true,
		Synonyms: retentionGroup(),
		Doc:      `The number of minutes to keep a log file before deleting it (in minutes), secondary to log.retention.ms property. If not set, the value in log.retention.hours is used`,
	},
	{
		Name: "log.retention.ms", Type: TypeLong,
		Synonyms: retentionGroup(),
		Doc:      `The number of milliseconds to keep a log file before deleting it (in milliseconds), If not set, the value in log.retention.minutes is used. If set to -1, no time limit is applied.`,
	},
	{
		Name: "log.roll.hours", Type: TypeInt, Default: ptr("168"), ReadOnly: true,
		Synonyms: rollGroup(),
		check:    atLeast(1),
		Doc:      `The maximum time before a new log segment is rolled out (in hours), secondary to log.roll.ms property`,
	},
	{
		Name: "log.roll.ms", Type: TypeLong,
		Synonyms: rollGroup(),
		Doc:      `The maximum time before a new log segment is rolled out (in milliseconds). If not set, the value in log.roll.hours is used`,
	},
	{
		Name: "log.segment.bytes", Type: TypeInt, Default: ptr(segment),
		check: atLeast(minSegment),
		Doc:   `The maximum size of a single log file`,
	},
	{
		Name: "max.connections", Type: TypeInt, Default: ptr("2147483647"),
		check: atLeast(0),
		Doc:   `The maximum number of connections we allow in the broker at any time. This limit is applied in addition to any per-ip limits configured using max.connections.per.ip. Listener-level limits may also be configured by prefixing the config name with the listener prefix, for example, <code>listener.name.internal.max.connections</code>. Broker-wide limit should be configured based on broker capacity while listener limits should be configured based on application requirements. New connections are blocked if either the listener or broker limit is reached. Connections on the inter-broker listener are permitted even if broker-wide limit is reached. The least recently used connection on another listener will be closed in this case.`,
	},
	{
		Name: "max.connections.per.ip", Type: TypeInt, Default: ptr("2147483647"),
		check: atLeast(0),
		Doc:   `The maximum number of connections we allow from each ip address. This can be set to 0 if there are overrides configured using max.connections.per.ip.overrides property. New connections from the ip address are dropped if the limit is reached.`,
	},
	{
		Name: "message.max.bytes", Type: TypeInt, Default: ptr(maxMessage),
		check: atLeast(0),
		Doc:   `The largest record batch size allowed by Kafka (after compression if compression is enabled). This can be set per topic with the topic level max.message.bytes config.`,
	},
	{
		Name: "min.insync.replicas", Type: TypeInt, Default: ptr("1"),
		check: atLeast(1),
		Doc:   `When a producer sets acks to "all" (or "-1"), this configuration specifies the minimum number of replicas that must acknowledge a write for the write to be considered successful. If this minimum cannot be met, then the producer will raise an exception (either NotEnoughReplicas or NotEnoughReplicasAfterAppend).`,
	},
	{
		Name: "node.id", Type: TypeInt, ReadOnly: true, required: true,
		check: atLeast(0),
		Doc:   `The node ID associated with the roles this process is playing when process.roles is non-empty. This is required configuration when running in KRaft mode.`,
	},
	{
		Name: "num.partitions", Type: TypeInt, Default: ptr("1"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The default number of log partitions per topic: for auto topic creation, and for topics created with -1 as the number of partitions.`,
	},
	{
		Name: "offset.metadata.max.bytes", Type: TypeInt, Default: ptr("4096"), ReadOnly: true,
		check: atLeast(0),
		Doc:   `The maximum size for a metadata entry associated with an offset commit.`,
	},
	{
		Name: "offsets.retention.check.interval.ms", Type: TypeLong, Default: ptr("600000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `Frequency at which to check for stale offsets`,
	},
	{
		Name: "offsets.retention.minutes", Type: TypeInt, Default: ptr("10080"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `For subscribed consumers, committed offset of a specific partition will be expired and discarded when 1) this retention period has elapsed after the consumer group loses all its consumers (i.e. becomes empty); 2) this retention period has elapsed since the last time an offset is committed for the partition and the group is no longer subscribed to the corresponding topic. For standalone consumers (using manual assignment), offsets will be expired after this retention period has elapsed since the time of last commit.`,
	},
	{
		Name: "offsets.topic.num.partitions", Type: TypeInt, Default: ptr("50"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The number of partitions for the offset commit topic (should not change after deployment).`,
	},
	{
		Name: "offsets.topic.segment.bytes", Type: TypeInt, Default: ptr("104857600"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The offsets topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads.`,
	},
	{
		Name: "producer.id.expiration.check.interval.ms", Type: TypeInt, Default: ptr("600000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The interval at which to remove producer IDs that have expired due to <code>producer.id.expiration.ms</code> passing.`,
	},
	{
		Name: "producer.id.expiration.ms", Type: TypeInt, Default: ptr("86400000"),
		check: atLeast(1),
		Doc:   `The time in ms that a topic partition leader will wait before expiring producer IDs. Producer IDs will not expire while a transaction associated to them is still ongoing. Note that producer IDs may expire sooner if the last write from the producer ID is deleted due to the topic's retention settings. Setting this value the same or higher than <code>delivery.timeout.ms</code> can help prevent expiration during retries and protect against message duplication, but the default should be reasonable for most use cases.`,
	},
	{
		Name: "queued.max.request.bytes", Type: TypeLong, Default: ptr("-1"), ReadOnly: true,
		Doc: `The number of queued bytes allowed before no more requests are read`,
	},
	{
		// Set by the process (--storage=s3), as Kafka's operator sets
		// it with a remote storage manager's class.
		Name: "remote.log.storage.system.enable", Type: TypeBoolean, Default: ptr("false"), ReadOnly: true,
		Doc: `Whether to enable tiered storage functionality in a broker or not. When it is true broker starts all the services required for the tiered storage functionality.`,
	},
	{
		Name: "sasl.server.max.receive.size", Type: TypeInt, Default: ptr("524288"), ReadOnly: true,
		Doc: `The maximum receive size allowed before and during initial SASL authentication. Default receive size is 512KB. GSSAPI limits requests to 64K, but we allow upto 512KB by default for custom SASL mechanisms. In practice, PLAIN, SCRAM and OAUTH mechanisms can use much smaller limits.`,
	},
	{
		Name: "socket.request.max.bytes", Type: TypeInt, Default: ptr("104857600"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum number of bytes in a socket request`,
	},
	{
		// StreamHouse's, not Kafka's (Redpanda's storage_min_free_bytes is
		// the model): Kafka lets a full disk take its log directory
		// offline. Null by default: the threshold is then a share of the
		// volume, which only the storage engine knows.
		Name: "storage.min.free.bytes", Type: TypeLong, ReadOnly: true,
		check: atLeast(0),
		Doc:   `The free space, in bytes, below which the broker refuses produce requests (and transaction markers) with the retriable error KAFKA_STORAGE_ERROR, so that the data directory's volume never fills: fetches, offset commits, DeleteRecords, topic deletion, retention and compaction go on, and produce resumes by itself once the free space is back above this plus a margin (a quarter of it, at most 256 MiB). If not set: 5% of the volume, at most 5 GiB. 0 turns the guard off.`,
	},
	{
		// StreamHouse's, not Kafka's: Kafka checks a batch's size as sent
		// (max.message.bytes) and then walks its records whatever they
		// expand to; this bounds the time that walk may take.
		Name: "streamhouse.batch.decompressed.max.bytes", Type: TypeLong, Default: ptr("2147483648"),
		check: atLeast(1),
		Doc:   `The most bytes a compressed record batch's records may expand to. The broker checks every record of a compressed batch by streaming through it (memory stays at a few MiB whatever the records expand to); this bounds the CPU time that costs. A batch whose records expand further is refused with MESSAGE_TOO_LARGE. Kafka has no such limit: it accepts any batch within max.message.bytes as sent. The default, 2 GiB, passes the largest record Kafka's format can hold.`,
	},
	{
		// StreamHouse's own, set by the process (--metadata), so that
		// a client can see which catalog a broker runs on
		// (streamctl cluster info).
		Name: "streamhouse.metadata", Type: TypeString, Default: ptr("sqlite"), ReadOnly: true,
		check: oneOf("sqlite", "postgres"),
		Doc:   `Where this broker keeps its catalog (topics, configs, offsets, transactions): sqlite, a file in its data directory, or postgres, a PostgreSQL database (--metadata).`,
	},
	{
		Name: "streamhouse.metadata.location", Type: TypeString, ReadOnly: true,
		Doc: `The catalog's location: the SQLite file's path, or PostgreSQL's host:port/database and schema (never the password).`,
	},
	{
		Name: "transaction.abort.timed.out.transaction.cleanup.interval.ms", Type: TypeInt, Default: ptr("10000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The interval at which to rollback transactions that have timed out`,
	},
	{
		Name: "transaction.max.timeout.ms", Type: TypeInt, Default: ptr("900000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The maximum allowed timeout for transactions. If a client’s requested transaction time exceed this, then the broker will return an error in InitProducerIdRequest. This prevents a client from too large of a timeout, which can stall consumers reading from topics included in the transaction.`,
	},
	{
		Name: "transaction.remove.expired.transaction.cleanup.interval.ms", Type: TypeInt, Default: ptr("3600000"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The interval at which to remove transactions that have expired due to <code>transactional.id.expiration.ms</code> passing`,
	},
	{
		Name: "transaction.state.log.num.partitions", Type: TypeInt, Default: ptr("50"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The number of partitions for the transaction topic (should not change after deployment).`,
	},
	{
		Name: "transaction.state.log.segment.bytes", Type: TypeInt, Default: ptr("104857600"), ReadOnly: true,
		check: atLeast(1),
		Doc:   `The transaction topic segment bytes should be kept relatively small in order to facilitate faster log compaction and cache loads`,
	},
	{
		Name: "transactional.id.expiration.ms", Type: TypeInt, Default: ptr("604800000"),
		check: atLeast(1),
		Doc:   `The time in ms that the transaction coordinator will wait without receiving any transaction status updates for the current transaction before expiring its transactional id. Transactional IDs will not expire while a the transaction is still ongoing.`,
	},
}

// retentionGroup and rollGroup are Kafka's brokerConfigSynonyms: the broker
// configs that set one value, in precedence order.
func retentionGroup() []string {
	return []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}
}

func rollGroup() []string { return []string{"log.roll.ms", "log.roll.hours"} }

// BrokerDefs returns every broker-level config StreamHouse has, sorted by
// name. The slice is the caller's.
func BrokerDefs() []Def { return cloneDefs(brokerDefs[:]) }

// lookupDef finds a broker config by name, listener-prefixed ones
// included.
func lookupDef(name string) (*Def, bool) {
	if d, ok := findDef(brokerDefs, name); ok {
		return d, true
	}
	return listenerDef(name)
}

// BrokerDef returns the broker-level config named name, and whether
// StreamHouse has one.
func BrokerDef(name string) (Def, bool) {
	d, ok := lookupDef(name)
	if !ok {
		return Def{}, false
	}
	return d.clone(), true
}

// brokerDefault is the default DescribeConfigs lists for a broker config
// named as a synonym: StreamHouse's definition when it has one, else Kafka's.
// ok is false for a null default.
func brokerDefault(name string) (string, bool) {
	if d, ok := findDef(brokerDefs[:], name); ok {
		if d.Default == nil {
			return "", false
		}
		return *d.Default, true
	}
	return kafkaBrokerDefault(name)
}

// Endpoint is one entry of listeners or advertised.listeners.
type Endpoint struct {
	Listener string // listener name, upper-cased as Kafka normalises it
	Host     string // empty: the default interface
	Port     int32
	// Protocol is the listener's security protocol (PLAINTEXT, SSL,
	// SASL_PLAINTEXT, SASL_SSL), from listener.security.protocol.map.
	Protocol string
}

// parseEndpoints parses a listener list as Kafka's
// SocketServerConfigs.listenerListToEndPoints does, with its messages, each
// listener's name mapped to its security protocol by protocols
// (listener.security.protocol.map). StreamHouse also refuses a port outside
// [0, 65535], which Kafka leaves to the socket.
func parseEndpoints(name, value string, protocols protocolMap) ([]Endpoint, error) {
	// Kafka's URI_PARSE_REGEXP, anchored as Matcher.matches anchors it.
	re := regexp.MustCompile(`^(.*)://\[?([0-9a-zA-Z\-%._:]*)\]?:(-?[0-9]+)$`)
	var eps []Endpoint
	for _, entry := range strings.Split(value, ",") {
		entry = strings.TrimFunc(entry, isJavaSpace)
		if entry == "" {
			continue // Kafka's parseCsvList drops empty entries
		}
		m := re.FindStringSubmatch(entry)
		var port int64
		var err error
		if m != nil {
			port, err = strconv.ParseInt(m[3], 10, 32)
		}
		if m == nil || err != nil || port < 0 || port > 65535 {
			return nil, invalidMsg(name, "Unable to parse "+entry+" to a broker endpoint")
		}
		l := strings.ToUpper(m[1])
		proto, ok := protocols.protocol(l)
		if !ok {
			return nil, invalidMsg(name, "No security protocol defined for listener "+l)
		}
		if slices.ContainsFunc(eps, func(e Endpoint) bool { return e.Listener == l }) {
			return nil, invalidMsg(name, "Each listener must have a different name, listeners: "+value)
		}
		eps = append(eps, Endpoint{Listener: l, Host: m[2], Port: int32(port), Protocol: proto})
	}
	return eps, nil
}

// listeners is the validator of listeners, on its own: names are checked
// against listener.security.protocol.map by NewBroker.
func listeners(name string, v any) error {
	_, err := parseEndpoints(name, v.(string), anyProtocol{})
	return err
}

// advertisedListeners is the validator of advertised.listeners, which may
// not advertise the meta-address.
func advertisedListeners(name string, v any) error {
	eps, err := parseEndpoints(name, v.(string), anyProtocol{})
	if err != nil {
		return err
	}
	for _, e := range eps {
		if e.Host == "0.0.0.0" {
			return invalidMsg(name, "advertised.listeners cannot use the nonroutable meta-address 0.0.0.0. Use a routable IP address.")
		}
	}
	return nil
}

// derived is what the broker's configs make of one topic config: its value
// when the topic does not set it, and whether a broker synonym was set.
type derived struct {
	v   any
	set bool
	src Source // the source of the synonym that set it, when set
}

// Broker is a broker's configuration: the broker configs set at startup (from
// flags, environment or file), and everything that follows from them.
//
// A Broker never changes after NewBroker, so it is safe for concurrent use;
// a broker that learns to alter its configs swaps in a new one.
type Broker struct {
	set        map[string]string  // rendered value of each config set, at any level
	src        map[string]Source  // where each config in set comes from
	layers     [3]layer           // static, dynamic default, dynamic for this broker
	vals       map[string]any     // parsed value of each config that has one: set, else default
	topic      map[string]derived // by topic config name
	listeners  []Endpoint
	advertised []Endpoint
}

// NewBroker validates the broker configs set at startup, by name, and returns
// the Broker they describe. Every name must be one of [BrokerDefs], every
// value valid, node.id present; the checks Kafka makes when it starts
// (log.retention.ms, log.roll.ms, listeners) apply, and so does topic-config
// validation of what the broker configs make the topic defaults (a
// log.flush.interval.ms of -1 is rejected as flush.ms), as Kafka rejects it
// when it builds its default LogConfig. A nil map sets nothing.
func NewBroker(set map[string]string) (*Broker, error) {
	return build([3]map[string]string{set})
}

// layer is the configs set at one level, rendered.
type layer struct {
	src  Source
	vals map[string]string
}

// layerSources are the levels of broker configs, lowest precedence first.
var layerSources = [3]Source{SourceStaticBroker, SourceDynamicDefaultBroker, SourceDynamicBroker}

// WithDynamic returns b with the dynamic broker configs set as Kafka's
// IncrementalAlterConfigs and AlterConfigs set them: def for every broker
// of the cluster (the resource with the empty name), node for this one.
// Precedence, highest first: node, def, the configs set at startup, the
// defaults. Only configs that are not read-only can be set dynamically
// ([ErrRequest]: "Cannot update these configs dynamically"); the result is
// checked as NewBroker checks its configs.
func (b *Broker) WithDynamic(def, node map[string]string) (*Broker, error) {
	for _, m := range []map[string]string{def, node} {
		var static []string
		for _, name := range slices.Sorted(maps.Keys(m)) {
			d, ok := lookupDef(name)
			if !ok {
				return nil, &Error{Name: name, Kind: ErrUnknown, Msg: "Unknown broker config name: " + name}
			}
			if d.ReadOnly {
				static = append(static, name)
			}
		}
		if len(static) > 0 {
			return nil, &Error{Name: static[0], Kind: ErrRequest, Msg: "Cannot update these configs dynamically: Set(" + strings.Join(static, ", ") + ")"}
		}
	}
	return build([3]map[string]string{b.layers[0].vals, def, node})
}

// Dynamic returns the dynamic configs of b: the cluster-wide defaults and
// this broker's, rendered.
func (b *Broker) Dynamic() (def, node map[string]string) {
	return maps.Clone(b.layers[1].vals), maps.Clone(b.layers[2].vals)
}

func build(levels [3]map[string]string) (*Broker, error) {
	b := &Broker{
		set:   make(map[string]string),
		src:   make(map[string]Source),
		vals:  make(map[string]any, len(brokerDefs)),
		topic: make(map[string]derived, len(topicDefs)),
	}
	for i, set := range levels {
		b.layers[i] = layer{src: layerSources[i], vals: make(map[string]string, len(set))}
		for _, name := range slices.Sorted(maps.Keys(set)) {
			d, ok := lookupDef(name)
			if !ok {
				return nil, &Error{Name: name, Kind: ErrUnknown, Msg: "Unknown broker config name: " + name}
			}
			v, err := d.parse(set[name])
			if err != nil {
				return nil, err
			}
			b.layers[i].vals[name] = render(v)
			b.set[name], b.src[name], b.vals[name] = render(v), layerSources[i], v
		}
	}
	for i := range brokerDefs {
		d := &brokerDefs[i]
		if _, ok := b.vals[d.Name]; ok {
			continue
		}
		if d.required {
			return nil, invalidMsg(d.Name, `Missing required configuration "`+d.Name+`" which has no default value.`)
		}
		if v := d.defaultValue(); v != nil {
			b.vals[d.Name] = v
		}
	}

	// KafkaConfig's startup requirements.
	if b.LogRollMs() < 1 {
		return nil, invalidMsg("log.roll.ms", "log.roll.ms must be greater than or equal to 1")
	}
	if ms := b.LogRetentionMs(); ms < 1 && ms != -1 {
		return nil, invalidMsg("log.retention.ms", "log.retention.ms must be unlimited (-1) or, greater than or equal to 1")
	}
	if err := b.buildListeners(); err != nil {
		return nil, err
	}

	for i := range topicDefs {
		d := &topicDefs[i]
		t := b.fromBroker(d)
		if t.set && d.check != nil {
			if err := d.check(d.Name, t.v); err != nil {
				return nil, err
			}
		}
		b.topic[d.Name] = t
	}
	return b, nil
}

// fromBroker computes what the broker configs make of topic config d, as
// Kafka's KafkaConfig.extractLogConfigMap does.
func (b *Broker) fromBroker(d *Def) derived {
	src := SourceDefault
	set := false
	for _, s := range d.Synonyms {
		if _, ok := b.set[s]; ok {
			src, set = b.src[s], true
			break
		}
	}
	switch d.Name {
	case "retention.ms": // its synonyms are in three units
		return derived{b.LogRetentionMs(), set, src}
	case "segment.ms":
		return derived{b.LogRollMs(), set, src}
	}
	for _, s := range d.Synonyms {
		if _, ok := b.set[s]; ok {
			return derived{b.vals[s], true, src}
		}
	}
	return derived{d.defaultValue(), false, src}
}

// setSynonyms lists the synonyms of group that are set, highest precedence
// level first (this broker's dynamic, the cluster's dynamic default, set at
// startup), in group order within a level.
func (b *Broker) setSynonyms(group []string) []Synonym {
	var out []Synonym
	for i := len(b.layers) - 1; i >= 0; i-- {
		for _, s := range group {
			if v, ok := b.layers[i].vals[s]; ok {
				out = append(out, Synonym{Name: s, Value: ptr(v), Source: b.layers[i].src})
			}
		}
	}
	return out
}

// get returns the parsed value of broker config name, the zero T when it has
// none.
func get[T any](b *Broker, name string) T {
	v, _ := b.vals[name].(T)
	return v
}

// Value returns the value of broker config name as DescribeConfigs shows it,
// and its source: DYNAMIC_BROKER_CONFIG or DYNAMIC_DEFAULT_BROKER_CONFIG
// when set dynamically, STATIC_BROKER_CONFIG when set at startup,
// DEFAULT_CONFIG otherwise. ok is false when name is not a broker config
// (source UNKNOWN) and when it has no value, being unset with a null default
// (source DEFAULT_CONFIG), as log.retention.ms usually is.
func (b *Broker) Value(name string) (value string, source Source, ok bool) {
	if v, ok := b.set[name]; ok {
		return v, b.src[name], true
	}
	d, ok := findDef(brokerDefs[:], name)
	if !ok {
		return "", SourceUnknown, false
	}
	if d.Default == nil {
		return "", SourceDefault, false
	}
	return *d.Default, SourceDefault, true
}

// NodeID is node.id.
func (b *Broker) NodeID() int32 { return get[int32](b, "node.id") }

// BrokerRack is broker.rack; empty when unset.
func (b *Broker) BrokerRack() string { return get[string](b, "broker.rack") }

// BrokerSessionTimeoutMs is broker.session.timeout.ms.
func (b *Broker) BrokerSessionTimeoutMs() int32 { return get[int32](b, "broker.session.timeout.ms") }

// BrokerHeartbeatIntervalMs is broker.heartbeat.interval.ms.
func (b *Broker) BrokerHeartbeatIntervalMs() int32 {
	return get[int32](b, "broker.heartbeat.interval.ms")
}

// AutoCreateTopics is auto.create.topics.enable.
func (b *Broker) AutoCreateTopics() bool { return get[bool](b, "auto.create.topics.enable") }

// ConsoleReadOnly is console.read.only.
func (b *Broker) ConsoleReadOnly() bool { return get[bool](b, "console.read.only") }

// ConsoleMessages is console.messages.enable.
func (b *Broker) ConsoleMessages() bool { return get[bool](b, "console.messages.enable") }

// NumPartitions is num.partitions: the partition count of a topic created
// automatically or with -1 partitions.
func (b *Broker) NumPartitions() int32 { return get[int32](b, "num.partitions") }

// DefaultReplicationFactor is default.replication.factor.
func (b *Broker) DefaultReplicationFactor() int16 {
	return int16(get[int32](b, "default.replication.factor"))
}

// SocketRequestMaxBytes is socket.request.max.bytes: the largest request
// frame the broker reads.
func (b *Broker) SocketRequestMaxBytes() int32 { return get[int32](b, "socket.request.max.bytes") }

// LogDirs is log.dirs, nil when unset.
func (b *Broker) LogDirs() []string { return slices.Clone(get[[]string](b, "log.dirs")) }

// Listeners is listeners, parsed.
func (b *Broker) Listeners() []Endpoint { return slices.Clone(b.listeners) }

// AdvertisedListeners is advertised.listeners, parsed, or listeners when it
// is unset, as in Kafka.
func (b *Broker) AdvertisedListeners() []Endpoint { return slices.Clone(b.advertised) }

// BatchDecompressedMaxBytes is streamhouse.batch.decompressed.max.bytes:
// the most a compressed batch's records may expand to.
func (b *Broker) BatchDecompressedMaxBytes() int64 {
	return get[int64](b, "streamhouse.batch.decompressed.max.bytes")
}

// MessageMaxBytes is message.max.bytes: the default max.message.bytes.
func (b *Broker) MessageMaxBytes() int32 { return get[int32](b, "message.max.bytes") }

// LogSegmentBytes is log.segment.bytes: the default segment.bytes.
func (b *Broker) LogSegmentBytes() int32 { return get[int32](b, "log.segment.bytes") }

// LogRetentionBytes is log.retention.bytes: the default retention.bytes.
func (b *Broker) LogRetentionBytes() int64 { return get[int64](b, "log.retention.bytes") }

// LogRetentionMs is the default retention.ms, computed as Kafka's
// KafkaConfig.logRetentionTimeMillis does: log.retention.ms if set, else
// log.retention.minutes, else log.retention.hours; any negative result is -1,
// no limit.
func (b *Broker) LogRetentionMs() int64 {
	var ms int64
	if v, ok := b.vals["log.retention.ms"]; ok {
		ms = v.(int64)
	} else if v, ok := b.vals["log.retention.minutes"]; ok {
		ms = int64(v.(int32)) * 60 * 1000
	} else {
		ms = int64(get[int32](b, "log.retention.hours")) * 60 * 60 * 1000
	}
	if ms < 0 {
		return -1
	}
	return ms
}

// LogRollMs is the default segment.ms: log.roll.ms if set, else
// log.roll.hours.
func (b *Broker) LogRollMs() int64 {
	if v, ok := b.vals["log.roll.ms"]; ok {
		return v.(int64)
	}
	return int64(get[int32](b, "log.roll.hours")) * 60 * 60 * 1000
}

// LogFlushOffsetCheckpointIntervalMs is
// log.flush.offset.checkpoint.interval.ms: how often each partition's
// recovery point is checkpointed.
func (b *Broker) LogFlushOffsetCheckpointIntervalMs() int32 {
	return get[int32](b, "log.flush.offset.checkpoint.interval.ms")
}

// GroupConsumerHeartbeatIntervalMs is group.consumer.heartbeat.interval.ms.
func (b *Broker) GroupConsumerHeartbeatIntervalMs() int32 {
	return get[int32](b, "group.consumer.heartbeat.interval.ms")
}

// GroupConsumerSessionTimeoutMs is group.consumer.session.timeout.ms.
func (b *Broker) GroupConsumerSessionTimeoutMs() int32 {
	return get[int32](b, "group.consumer.session.timeout.ms")
}

// GroupConsumerMigrationPolicy is group.consumer.migration.policy.
func (b *Broker) GroupConsumerMigrationPolicy() string {
	return get[string](b, "group.consumer.migration.policy")
}

// GroupInitialRebalanceDelayMs is group.initial.rebalance.delay.ms.
func (b *Broker) GroupInitialRebalanceDelayMs() int32 {
	return get[int32](b, "group.initial.rebalance.delay.ms")
}

// GroupMinSessionTimeoutMs is group.min.session.timeout.ms.
func (b *Broker) GroupMinSessionTimeoutMs() int32 {
	return get[int32](b, "group.min.session.timeout.ms")
}

// GroupMaxSessionTimeoutMs is group.max.session.timeout.ms.
func (b *Broker) GroupMaxSessionTimeoutMs() int32 {
	return get[int32](b, "group.max.session.timeout.ms")
}

// GroupMaxSize is group.max.size.
func (b *Broker) GroupMaxSize() int32 { return get[int32](b, "group.max.size") }

// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
func (b *Broker) OffsetMetadataMaxBytes() int32 { return get[int32](b, "offset.metadata.max.bytes") }

// OffsetsRetentionCheckIntervalMs is offsets.retention.check.interval.ms.
func (b *Broker) OffsetsRetentionCheckIntervalMs() int64 {
	return get[int64](b, "offsets.retention.check.interval.ms")
}

// ProducerIDExpirationMs is producer.id.expiration.ms.
func (b *Broker) ProducerIDExpirationMs() int32 { return get[int32](b, "producer.id.expiration.ms") }

// ProducerIDExpirationCheckIntervalMs is
// producer.id.expiration.check.interval.ms.
func (b *Broker) ProducerIDExpirationCheckIntervalMs() int32 {
	return get[int32](b, "producer.id.expiration.check.interval.ms")
}

// ConnectionsMaxIdleMs is connections.max.idle.ms.
func (b *Broker) ConnectionsMaxIdleMs() int64 { return get[int64](b, "connections.max.idle.ms") }

// MaxConnections is max.connections.
func (b *Broker) MaxConnections() int32 { return get[int32](b, "max.connections") }

// MaxConnectionsPerIP is max.connections.per.ip.
func (b *Broker) MaxConnectionsPerIP() int32 { return get[int32](b, "max.connections.per.ip") }

// QueuedMaxRequestBytes is queued.max.request.bytes: the bytes of requests
// the broker holds at once, -1 (or less than 1) for no limit.
func (b *Broker) QueuedMaxRequestBytes() int64 { return get[int64](b, "queued.max.request.bytes") }

// RemoteLogStorageSystemEnable is remote.log.storage.system.enable: tiered
// storage is on in this broker.
func (b *Broker) RemoteLogStorageSystemEnable() bool {
	return get[bool](b, "remote.log.storage.system.enable")
}

// RemoteCompaction reports whether compacted topics may be tiered: in the
// cluster mode (a PostgreSQL catalog and S3 storage) every topic's data is
// in the bucket, and the partitions' leaders clean compacted topics there,
// so Kafka's refusal of remote.storage.enable with compaction does not
// apply.
func (b *Broker) RemoteCompaction() bool {
	return b.RemoteLogStorageSystemEnable() && get[string](b, "streamhouse.metadata") == "postgres"
}

// StorageMinFreeBytes is storage.min.free.bytes; set is false when it is
// not set (the storage engine's default: 5% of the volume, at most 5 GiB).
func (b *Broker) StorageMinFreeBytes() (v int64, set bool) {
	v, set = b.vals["storage.min.free.bytes"].(int64)
	return v, set
}

// SaslServerMaxReceiveSize is sasl.server.max.receive.size: the largest
// frame a connection may send before its first request was served.
func (b *Broker) SaslServerMaxReceiveSize() int32 {
	return get[int32](b, "sasl.server.max.receive.size")
}

// TransactionMaxTimeoutMs is transaction.max.timeout.ms.
func (b *Broker) TransactionMaxTimeoutMs() int32 { return get[int32](b, "transaction.max.timeout.ms") }

// TransactionalIDExpirationMs is transactional.id.expiration.ms.
func (b *Broker) TransactionalIDExpirationMs() int32 {
	return get[int32](b, "transactional.id.expiration.ms")
}

// TransactionRemoveExpiredIntervalMs is
// transaction.remove.expired.transaction.cleanup.interval.ms.
func (b *Broker) TransactionRemoveExpiredIntervalMs() int32 {
	return get[int32](b, "transaction.remove.expired.transaction.cleanup.interval.ms")
}

// TransactionAbortTimedOutIntervalMs is
// transaction.abort.timed.out.transaction.cleanup.interval.ms.
func (b *Broker) TransactionAbortTimedOutIntervalMs() int32 {
	return get[int32](b, "transaction.abort.timed.out.transaction.cleanup.interval.ms")
}

// LogCleanerEnable is log.cleaner.enable.
func (b *Broker) LogCleanerEnable() bool { return get[bool](b, "log.cleaner.enable") }

// LogCleanerBackoffMs is log.cleaner.backoff.ms: how long the cleaner
// sleeps when no log is due a pass.
func (b *Broker) LogCleanerBackoffMs() int64 { return get[int64](b, "log.cleaner.backoff.ms") }

// LogCleanerDedupeBufferSize is log.cleaner.dedupe.buffer.size: the memory
// of the cleaner's key index.
func (b *Broker) LogCleanerDedupeBufferSize() int64 {
	return get[int64](b, "log.cleaner.dedupe.buffer.size")
}

// LogRetentionCheckIntervalMs is log.retention.check.interval.ms: how often
// retention runs.
func (b *Broker) LogRetentionCheckIntervalMs() int64 {
	return get[int64](b, "log.retention.check.interval.ms")
}

// OffsetsTopicNumPartitions is offsets.topic.num.partitions.
func (b *Broker) OffsetsTopicNumPartitions() int32 {
	return get[int32](b, "offsets.topic.num.partitions")
}

// OffsetsTopicSegmentBytes is offsets.topic.segment.bytes.
func (b *Broker) OffsetsTopicSegmentBytes() int32 {
	return get[int32](b, "offsets.topic.segment.bytes")
}

// TransactionStateLogNumPartitions is transaction.state.log.num.partitions.
func (b *Broker) TransactionStateLogNumPartitions() int32 {
	return get[int32](b, "transaction.state.log.num.partitions")
}

// TransactionStateLogSegmentBytes is transaction.state.log.segment.bytes.
func (b *Broker) TransactionStateLogSegmentBytes() int32 {
	return get[int32](b, "transaction.state.log.segment.bytes")
}

// OffsetsRetentionMs is offsets.retention.minutes in milliseconds, as Kafka's
// group coordinator uses it.
func (b *Broker) OffsetsRetentionMs() int64 {
	return int64(get[int32](b, "offsets.retention.minutes")) * 60 * 1000
}

// ShareGroup is the group.share.* broker configs: share groups' defaults
// and the bounds of their group configs.
type ShareGroup struct {
	HeartbeatIntervalMs, MinHeartbeatIntervalMs, MaxHeartbeatIntervalMs    int32
	SessionTimeoutMs, MinSessionTimeoutMs, MaxSessionTimeoutMs             int32
	RecordLockDurationMs, MinRecordLockDurationMs, MaxRecordLockDurationMs int32
	DeliveryCountLimit, MinDeliveryCountLimit, MaxDeliveryCountLimit       int32
	PartitionMaxRecordLocks, MaxSize, MaxShareSessions                     int32
}

// ShareGroup returns the group.share.* configs.
func (b *Broker) ShareGroup() ShareGroup {
	i := func(name string) int32 { return get[int32](b, name) }
	return ShareGroup{
		HeartbeatIntervalMs: i("group.share.heartbeat.interval.ms"), MinHeartbeatIntervalMs: i("group.share.min.heartbeat.interval.ms"),
		MaxHeartbeatIntervalMs: i("group.share.max.heartbeat.interval.ms"),
		SessionTimeoutMs:       i("group.share.session.timeout.ms"), MinSessionTimeoutMs: i("group.share.min.session.timeout.ms"),
		MaxSessionTimeoutMs:  i("group.share.max.session.timeout.ms"),
		RecordLockDurationMs: i("group.share.record.lock.duration.ms"), MinRecordLockDurationMs: i("group.share.min.record.lock.duration.ms"),
		MaxRecordLockDurationMs: i("group.share.max.record.lock.duration.ms"),
		DeliveryCountLimit:      i("group.share.delivery.count.limit"), MinDeliveryCountLimit: i("group.share.min.delivery.count.limit"),
		MaxDeliveryCountLimit:   i("group.share.max.delivery.count.limit"),
		PartitionMaxRecordLocks: i("group.share.partition.max.record.locks"), MaxSize: i("group.share.max.size"),
		MaxShareSessions: i("group.share.max.share.sessions"),
	}
}
