package broker

// CreateTopics: v2-v7.
//
// Kafka's rules: names of 1 to 249 characters from [a-zA-Z0-9._-], not "."
// or "..", and not colliding with an existing topic once '.' and '_' are
// taken as the same (INVALID_TOPIC_EXCEPTION); partitions positive or -1 for
// num.partitions (INVALID_PARTITIONS); a replication factor from 1 to the
// number of live brokers, or -1 for default.replication.factor, else
// INVALID_REPLICATION_FACTOR, as Kafka: a single broker takes 1 only; the
// cluster mode up to its live brokers, each of which can take a partition
// over from the bucket (Metadata lists them all as replicas). A manual
// replica assignment must give partitions 0..n-1 each exactly this broker
// (INVALID_REPLICA_ASSIGNMENT), with partitions and replication factor left
// at -1 (INVALID_REQUEST otherwise); the cluster mode places partitions
// itself and refuses one (INVALID_REPLICA_ASSIGNMENT). Configs must be
// Kafka topic configs with valid values (INVALID_CONFIG). A name twice in
// one request is INVALID_REQUEST for each.
// An existing topic is TOPIC_ALREADY_EXISTS. validate_only runs every check
// and creates nothing.
//
// From v5 the answer carries the partition count, replication factor and the
// topic's full configuration with sources; from v7 its topic ID.
// timeout_ms needs nothing: creation is synchronous.

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/fault"

	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
)

// maxPartitions bounds one topic's partition count so that a typo cannot
// make the broker open millions of logs.
const maxPartitions = 100_000

func (s *Server) handleCreateTopics(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)

	count := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	resp.Topics = make([]kmsg.CreateTopicsResponseTopic, len(req.Topics))
	mq := s.mutationQuota(r, req.Version >= 6)
	defer func() { mq.throttle(r, resp, s.now()) }()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := &resp.Topics[i]
		st.Default() // partitions and replication factor -1
		st.Topic = rt.Topic

		var err error
		var spec createSpec
		if count[rt.Topic] > 1 {
			err = kafkaError(kerr.InvalidRequest, "topic %q is listed more than once in the request", rt.Topic)
		} else {
			spec, err = s.createSpec(rt)
		}
		var t *topic
		if err == nil {
			if req.ValidateOnly {
				err = s.topics.checkNew(spec.name)
			} else if err = mq.admit(int(spec.partitions), s.now()); err == nil {
				t, err = s.topics.create(ctx, spec)
			}
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = createTopicsMessage(rt.Topic, err)
			continue
		}
		st.NumPartitions = spec.partitions
		st.ReplicationFactor = s.replicationFactor(rt)
		if t != nil {
			st.TopicID = t.ID
		}
		if req.Version >= 5 {
			entries, err := s.settings().DescribeTopic(spec.configs)
			if err != nil {
				s.log.Error("describe new topic configs", "topic", spec.name, "err", err)
			}
			for _, e := range entries {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name = e.Name
				c.Value = e.Value
				c.ReadOnly = e.ReadOnly
				c.Source = int8(e.Source)
				c.IsSensitive = e.Sensitive
				st.Configs = append(st.Configs, c)
			}
		}
	}
	for _, st := range resp.Topics {
		if st.ErrorCode == 0 && !req.ValidateOnly {
			fault.Crash("catalog-answer")
			break
		}
	}
	return resp, nil
}

// createSpec validates one topic of a CreateTopics request.
func (s *Server) createSpec(rt *kmsg.CreateTopicsRequestTopic) (createSpec, error) {
	spec := createSpec{name: rt.Topic, partitions: rt.NumPartitions}
	if err := validTopicName(rt.Topic); err != nil {
		return spec, err
	}
	if isInternal(rt.Topic) {
		if s.topics.get(rt.Topic) != nil {
			return spec, kafkaError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", rt.Topic)
		}
		return spec, kafkaError(kerr.InvalidTopicException, "%s is an internal topic: the broker creates it when first needed", rt.Topic)
	}
	if len(rt.ReplicaAssignment) > 0 {
		if s.clustered() {
			return spec, kafkaError(kerr.InvalidReplicaAssignment, "the cluster mode places partitions itself (rendezvous hashing over the live brokers): "+
				"give a partition count and replication factor instead of a replica assignment")
		}
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return spec, kafkaError(kerr.InvalidRequest, "both a replica assignment and a partition count or replication factor were given")
		}
		// A set, as Kafka's ReplicationControlManager takes it: any
		// order, each partition once, together 0..n-1.
		n := len(rt.ReplicaAssignment)
		if n > maxPartitions {
			return spec, kafkaError(kerr.InvalidPartitions, "%d partitions is more than this broker allows in one topic (%d)", n, maxPartitions)
		}
		seen := make([]bool, n)
		for _, a := range rt.ReplicaAssignment {
			if a.Partition >= 0 && int(a.Partition) < n && seen[a.Partition] {
				return spec, kafkaError(kerr.InvalidReplicaAssignment, "Found multiple manual partition assignments for partition %d", a.Partition)
			}
			if a.Partition < 0 || int(a.Partition) >= n {
				return spec, kafkaError(kerr.InvalidReplicaAssignment, "partitions should be a consecutive 0-based integer sequence")
			}
			seen[a.Partition] = true
			if len(a.Replicas) != 1 || a.Replicas[0] != s.nodeID {
				return spec, kafkaError(kerr.InvalidReplicaAssignment, "partition %d: replicas %v; this cluster has one broker, %d", a.Partition, a.Replicas, s.nodeID)
			}
		}
		spec.partitions = int32(n)
	} else {
		switch {
		case rt.NumPartitions == -1:
			spec.partitions = s.settings().NumPartitions()
		case rt.NumPartitions <= 0:
			return spec, kafkaError(kerr.InvalidPartitions, "number of partitions was set to an invalid non-positive value")
		case rt.NumPartitions > maxPartitions:
			return spec, kafkaError(kerr.InvalidPartitions, "%d partitions is more than this broker allows in one topic (%d)", rt.NumPartitions, maxPartitions)
		}
		rf := s.replicationFactor(rt)
		if live := len(s.liveNodes()); rf <= 0 || int(rf) > live {
			if rf <= 0 {
				return spec, kafkaError(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0, or -1 to use the default value.")
			}
			return spec, kafkaError(kerr.InvalidReplicationFactor, "Unable to replicate the partition %d time(s): The target replication factor of %d cannot be reached because only %d broker(s) are registered.", rf, rf, live)
		}
		spec.rf = rf
	}
	if len(rt.Configs) > 0 {
		spec.configs = make(map[string]string, len(rt.Configs))
		for _, c := range rt.Configs {
			if c.Value == nil {
				return spec, fmt.Errorf("%w: null value not supported for topic configs: %s", config.ErrInvalid, c.Name)
			}
			spec.configs[c.Name] = *c.Value
		}
		if err := s.settings().ValidateTopic(spec.configs); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

// replicationFactor is the replication factor rt asks for:
// default.replication.factor for -1; 1 with a manual assignment (a single
// broker's only).
func (s *Server) replicationFactor(rt *kmsg.CreateTopicsRequestTopic) int16 {
	switch {
	case len(rt.ReplicaAssignment) > 0:
		return 1
	case rt.ReplicationFactor == -1:
		return s.settings().DefaultReplicationFactor()
	}
	return rt.ReplicationFactor
}

// checkNew reports whether a topic of that name could be created now.
func (ts *topics) checkNew(name string) error {
	ts.mu.RLock()
	defer ts.mu.RUnlock()
	return ts.checkNewLocked(name)
}

// checkNewLocked is checkNew; the caller holds mu.
func (ts *topics) checkNewLocked(name string) error {
	if _, ok := ts.byName[name]; ok {
		return meta.ErrTopicExists
	}
	// Metric names replace '.' with '_', so Kafka refuses topics that
	// differ only there.
	folded := strings.ReplaceAll(name, ".", "_")
	for other := range ts.byName {
		if strings.ReplaceAll(other, ".", "_") == folded {
			return fmt.Errorf("%w: topic %q collides with existing topic %q", errTopicInvalid, name, other)
		}
	}
	return nil
}

func createTopicsMessage(name string, err error) *string {
	var m string
	switch errorCode(err) {
	case kerr.TopicAlreadyExists.Code:
		m = fmt.Sprintf("Topic '%s' already exists.", name)
	default:
		m = err.Error()
	}
	return &m
}
