package config

import (
	"maps"
	"slices"
	"strconv"
)

// Topic is the effective value of every topic config of one topic,
// typed: what the storage engine and the produce and fetch paths read. The
// types are Kafka's (INT is int32, LONG int64).
type Topic struct {
	// CleanupCompact and CleanupDelete say which policies cleanup.policy
	// lists. Neither (an empty list) means infinite retention.
	CleanupCompact bool
	CleanupDelete  bool

	CompressionType      string // uncompressed, zstd, lz4, snappy, gzip or producer
	CompressionGzipLevel int32
	CompressionLz4Level  int32
	CompressionZstdLevel int32

	// KeySchemaValidation and ValueSchemaValidation are Confluent
	// Server's confluent.key.schema.validation and
	// confluent.value.schema.validation.
	KeySchemaValidation   bool
	ValueSchemaValidation bool

	DeleteRetentionMs int64
	FileDeleteDelayMs int64
	FlushMessages     int64
	FlushMs           int64

	FollowerReplicationThrottledReplicas []string
	LeaderReplicationThrottledReplicas   []string

	IndexIntervalBytes int32

	// LocalRetentionBytes and LocalRetentionMs are -2 to mean "as
	// retention.bytes and retention.ms".
	LocalRetentionBytes int64
	LocalRetentionMs    int64

	MaxCompactionLagMs int64
	MaxMessageBytes    int32

	MessageTimestampAfterMaxMs  int64
	MessageTimestampBeforeMaxMs int64
	MessageTimestampType        string // TimestampCreateTime or TimestampLogAppendTime

	MinCleanableDirtyRatio float64
	MinCompactionLagMs     int64
	MinInsyncReplicas      int32
	Preallocate            bool

	RemoteLogCopyDisable     bool
	RemoteLogDeleteOnDisable bool
	RemoteStorageEnable      bool

	RetentionBytes int64 // negative: no size limit
	RetentionMs    int64 // -1: no time limit

	SegmentBytes      int32
	SegmentIndexBytes int32
	SegmentJitterMs   int64
	SegmentMs         int64

	UncleanLeaderElectionEnable bool
}

// LogAppendTime reports whether the broker stamps batches with its own time.
func (t *Topic) LogAppendTime() bool {
	return t.MessageTimestampType == TimestampLogAppendTime
}

// effective returns the value of topic config d for a topic that sets
// explicit, and its source.
func (b *Broker) effective(d *Def, explicit map[string]string) (any, Source, error) {
	if raw, ok := explicit[d.Name]; ok {
		v, err := d.parse(raw)
		return v, SourceDynamicTopic, err
	}
	t := b.topic[d.Name]
	if t.set {
		return t.v, t.src, nil
	}
	return t.v, SourceDefault, nil
}

// ValidateTopic validates the configs set on a topic, as Kafka validates
// CreateTopics, AlterConfigs and IncrementalAlterConfigs: every name must be
// a topic config ([ErrUnknown], "Unknown topic config name: x"), every value
// valid ([ErrInvalid]), and the result, with this broker's values for what
// the topic does not set, consistent: min.compaction.lag.ms no more than
// max.compaction.lag.ms; remote.storage.enable only on a broker with tiered
// storage (remote.log.storage.system.enable), never with compaction (but
// in the cluster mode, RemoteCompaction), and
// with local.retention.* within retention.*. For an alteration, pass the
// topic's configs as they would be after it, and check the change with
// ValidateTopicChange too. A nil or empty map is valid.
//
// A null value, which CreateTopics can carry, is for the caller to refuse;
// Kafka answers it with INVALID_CONFIG too.
func (b *Broker) ValidateTopic(explicit map[string]string) error {
	names := slices.Sorted(maps.Keys(explicit))
	for _, name := range names {
		if _, ok := findDef(topicDefs[:], name); !ok {
			return &Error{Name: name, Kind: ErrUnknown, Msg: "Unknown topic config name: " + name}
		}
	}
	for _, name := range names {
		d, _ := findDef(topicDefs[:], name)
		if _, err := d.parse(explicit[name]); err != nil {
			return err
		}
	}
	value := func(name string) any {
		d, _ := findDef(topicDefs[:], name)
		v, _, _ := b.effective(d, explicit) // parsed above
		return v
	}
	if lo, hi := value("min.compaction.lag.ms").(int64), value("max.compaction.lag.ms").(int64); lo > hi {
		return invalidMsg("min.compaction.lag.ms", "conflict topic config setting min.compaction.lag.ms ("+
			strconv.FormatInt(lo, 10)+") > max.compaction.lag.ms ("+strconv.FormatInt(hi, 10)+")")
	}
	if value("remote.storage.enable").(bool) {
		if !b.RemoteLogStorageSystemEnable() {
			return invalidMsg("remote.storage.enable", "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.")
		}
		if slices.Contains(value("cleanup.policy").([]string), CleanupPolicyCompact) && !b.RemoteCompaction() {
			return invalidMsg("remote.storage.enable", "Remote log storage is unsupported for the compacted topics")
		}
		// Kafka's LogConfig.validateRemoteStorageRetentionSize and
		// ...RetentionTime: the local part no larger than the whole.
		for _, pair := range [][2]string{{"retention.bytes", "local.retention.bytes"}, {"retention.ms", "local.retention.ms"}} {
			whole, local := value(pair[0]).(int64), value(pair[1]).(int64)
			if whole <= -1 || local == -2 {
				continue
			}
			if local == -1 {
				return invalid(pair[1], strconv.FormatInt(local, 10), "Value must not be -1 as "+pair[0]+" value is set as "+strconv.FormatInt(whole, 10)+".")
			}
			if local > whole {
				return invalid(pair[1], strconv.FormatInt(local, 10), "Value must not be more than "+pair[0]+" property value: "+strconv.FormatInt(whole, 10))
			}
		}
	}
	return nil
}

// ValidateTopicChange validates an alteration of a topic's configs from old
// to next (both as set on the topic) beyond what ValidateTopic(next) checks:
// as Kafka (KIP-950), tiered storage may be turned off only with
// remote.log.delete.on.disable=true, which gives up the remote data; to keep
// it readable, remote.log.copy.disable=true stops uploads instead.
func (b *Broker) ValidateTopicChange(old, next map[string]string) error {
	was, err := b.ResolveTopic(old)
	if err != nil {
		return nil // old no longer resolves: nothing to compare with
	}
	now, err := b.ResolveTopic(next)
	if err != nil {
		return err
	}
	if was.RemoteStorageEnable && !now.RemoteStorageEnable && !now.RemoteLogDeleteOnDisable {
		return invalidMsg("remote.storage.enable", "It is invalid to disable remote storage without deleting remote data. "+
			"If you want to keep the remote data and turn to read only, please set `remote.log.copy.disable=true`. "+
			"If you want to disable remote storage and delete all remote data, please set `remote.storage.enable=false, remote.log.delete.on.disable=true`.")
	}
	return nil
}

// ResolveTopic returns the effective topic configs of a topic that sets
// explicit: each one's value on the topic, else its broker synonym's, else
// Kafka's default. Names that are not topic configs are ignored, as Kafka
// ignores configs it removed that a topic still carries; a value that does
// not validate is an error, since explicit should have passed ValidateTopic.
func (b *Broker) ResolveTopic(explicit map[string]string) (Topic, error) {
	var t Topic
	for i := range topicDefs {
		d := &topicDefs[i]
		v, _, err := b.effective(d, explicit)
		if err != nil {
			return Topic{}, err
		}
		switch d.Name {
		case "cleanup.policy":
			l := v.([]string)
			t.CleanupCompact = slices.Contains(l, CleanupPolicyCompact)
			t.CleanupDelete = slices.Contains(l, CleanupPolicyDelete)
		case "compression.gzip.level":
			t.CompressionGzipLevel = v.(int32)
		case "compression.lz4.level":
			t.CompressionLz4Level = v.(int32)
		case "compression.type":
			t.CompressionType = v.(string)
		case "compression.zstd.level":
			t.CompressionZstdLevel = v.(int32)
		case "confluent.key.schema.validation":
			t.KeySchemaValidation = v.(bool)
		case "confluent.value.schema.validation":
			t.ValueSchemaValidation = v.(bool)
		case "delete.retention.ms":
			t.DeleteRetentionMs = v.(int64)
		case "file.delete.delay.ms":
			t.FileDeleteDelayMs = v.(int64)
		case "flush.messages":
			t.FlushMessages = v.(int64)
		case "flush.ms":
			t.FlushMs = v.(int64)
		case "follower.replication.throttled.replicas":
			t.FollowerReplicationThrottledReplicas = slices.Clone(v.([]string))
		case "index.interval.bytes":
			t.IndexIntervalBytes = v.(int32)
		case "leader.replication.throttled.replicas":
			t.LeaderReplicationThrottledReplicas = slices.Clone(v.([]string))
		case "local.retention.bytes":
			t.LocalRetentionBytes = v.(int64)
		case "local.retention.ms":
			t.LocalRetentionMs = v.(int64)
		case "max.compaction.lag.ms":
			t.MaxCompactionLagMs = v.(int64)
		case "max.message.bytes":
			t.MaxMessageBytes = v.(int32)
		case "message.timestamp.after.max.ms":
			t.MessageTimestampAfterMaxMs = v.(int64)
		case "message.timestamp.before.max.ms":
			t.MessageTimestampBeforeMaxMs = v.(int64)
		case "message.timestamp.type":
			t.MessageTimestampType = v.(string)
		case "min.cleanable.dirty.ratio":
			t.MinCleanableDirtyRatio = v.(float64)
		case "min.compaction.lag.ms":
			t.MinCompactionLagMs = v.(int64)
		case "min.insync.replicas":
			t.MinInsyncReplicas = v.(int32)
		case "preallocate":
			t.Preallocate = v.(bool)
		case "remote.log.copy.disable":
			t.RemoteLogCopyDisable = v.(bool)
		case "remote.log.delete.on.disable":
			t.RemoteLogDeleteOnDisable = v.(bool)
		case "remote.storage.enable":
			t.RemoteStorageEnable = v.(bool)
		case "retention.bytes":
			t.RetentionBytes = v.(int64)
		case "retention.ms":
			t.RetentionMs = v.(int64)
		case "segment.bytes":
			t.SegmentBytes = v.(int32)
		case "segment.index.bytes":
			t.SegmentIndexBytes = v.(int32)
		case "segment.jitter.ms":
			t.SegmentJitterMs = v.(int64)
		case "segment.ms":
			t.SegmentMs = v.(int64)
		case "unclean.leader.election.enable":
			t.UncleanLeaderElectionEnable = v.(bool)
		default:
			panic("config: ResolveTopic does not know " + d.Name)
		}
	}
	return t, nil
}
