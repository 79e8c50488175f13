package broker

// Internal topics: __consumer_offsets and __transaction_state, as Kafka
// lists them (is_internal in Metadata), with offsets.topic.num.partitions
// and transaction.state.log.num.partitions partitions (50 each by default)
// and Kafka's topic configs (compacted, 100 MiB segments).
//
// They are ordinary topics of the catalog and the store, created when first
// needed as Kafka creates them (internalTopic: the first FindCoordinator for
// a group or a transactional id, or a Metadata request naming the topic),
// so that Metadata, Fetch, ListOffsets, DescribeConfigs, the log cleaner
// and every tool treat them as any topic.
// The catalog stays the source of truth for committed offsets, groups and
// transactions: the group coordinator writes Kafka's records of each
// commit and classic group change to __consumer_offsets after the catalog
// has it (broker/group/offsetslog.go), for the tools that read the topic
// (lag monitors). __transaction_state holds no records: the transaction
// coordinator keeps its state in the catalog only.
//
// Clients may not write to them, delete them, delete their records or add
// partitions (INVALID_TOPIC_EXCEPTION, with a message saying why). Kafka
// refuses the writes and DeleteRecords the same way; it leaves deleting
// the topics and adding partitions to its command-line tools to prevent,
// which a client that skips them defeats, so StreamHouse refuses those
// too. Their configs may change (AlterConfigs), as in Kafka.

import (
	"context"
	"errors"
	"log/slog"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/broker/group"
	"github.com/streamhouse/streamhouse/meta"
)

// The internal topics' names.
const (
	offsetsTopic = "__consumer_offsets"
	txnTopic     = "__transaction_state"
)

// isInternal reports whether a topic is one of Kafka's internal topics.
func isInternal(name string) bool { return name == offsetsTopic || name == txnTopic }

// internalTopicErr is the error for an operation (“write to”, “delete”,
// ...) a client may not do to the internal topic name.
func internalTopicErr(op, name string) error {
	return kafkaError(kerr.InvalidTopicException, "Cannot %s internal topic %s", op, name)
}

// internalSpec is how the broker creates an internal topic: Kafka's
// partition count and configs (compacted, in the cluster mode too, where
// the leader cleans what is in the bucket).
func (s *Server) internalSpec(name string) createSpec {
	set := s.settings()
	const policy = "compact"
	if name == offsetsTopic {
		return createSpec{name: offsetsTopic, partitions: set.OffsetsTopicNumPartitions(), configs: map[string]string{
			"cleanup.policy": policy, "compression.type": "producer",
			"segment.bytes": strconv.Itoa(int(set.OffsetsTopicSegmentBytes())),
		}}
	}
	return createSpec{name: txnTopic, partitions: set.TransactionStateLogNumPartitions(), configs: map[string]string{
		"cleanup.policy": policy, "compression.type": "uncompressed",
		"segment.bytes": strconv.Itoa(int(set.TransactionStateLogSegmentBytes())),
	}}
}

// internalTopic returns the internal topic name, creating it first when it
// does not exist yet, as Kafka creates it when first needed (the first
// FindCoordinator of its kind, or a Metadata request that names it). A
// new __consumer_offsets gets the records of every offset and classic group
// the catalog holds already.
func (s *Server) internalTopic(ctx context.Context, name string) (*topic, error) {
	if t := s.topics.get(name); t != nil {
		return t, nil
	}
	t, err := s.topics.create(ctx, s.internalSpec(name))
	if errors.Is(err, meta.ErrTopicExists) {
		// Created meanwhile, here or through another broker sharing
		// the catalog (create read it in).
		if t = s.topics.get(name); t != nil {
			return t, nil
		}
	}
	if err != nil {
		s.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "creating internal topic failed", "topic", name, "err", err)
		return nil, err
	}
	if name == offsetsTopic {
		s.groups.MirrorAll(ctx)
	}
	return t, nil
}

// offsetsLog is __consumer_offsets as the group coordinator writes it.
type offsetsLog struct{ s *Server }

var _ group.OffsetsLog = offsetsLog{}

func (o offsetsLog) Partitions() int32 {
	if t := o.s.topics.get(offsetsTopic); t != nil {
		return int32(len(t.parts))
	}
	return 1
}

func (o offsetsLog) Append(ctx context.Context, partition int32, records []batch.KeyValue, ts int64) error {
	if len(records) == 0 {
		return nil
	}
	if o.s.topics.get(offsetsTopic) == nil {
		// Not created yet: it gets every record when it is.
		return nil
	}
	if o.s.clustered() {
		// The cluster mode: the partition is written by its leader,
		// which need not be this coordinator; the catalog has the
		// commit either way, and the records are a copy for tools.
		if p, e := o.s.partitionOf(offsetsTopic, partition); e != nil {
			return nil
		} else if _, lead := o.s.leaderEpochOf(p); !lead {
			return nil
		}
	}
	l, err := o.s.logOf(ctx, offsetsTopic, partition)
	if err != nil {
		return err
	}
	_, err = l.Append(ctx, batch.Make(records, ts))
	return err
}
