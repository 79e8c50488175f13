package broker

// CreatePartitions: v0-v3.
//
// A topic only grows: a count at or below the current one is
// INVALID_PARTITIONS, as is one above maxPartitions. A manual assignment
// must list one replica set per new partition, each exactly this broker
// (INVALID_REPLICA_ASSIGNMENT otherwise); the cluster mode places
// partitions itself and refuses one (INVALID_REPLICA_ASSIGNMENT). A topic
// twice in one request is INVALID_REQUEST, an unknown one
// UNKNOWN_TOPIC_OR_PARTITION. validate_only checks and changes nothing. The catalog's count moves first; the new
// logs are opened before the topic is published with them.

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

func (s *Server) handleCreatePartitions(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	count := map[string]int{}
	for _, rt := range req.Topics {
		count[rt.Topic]++
	}
	mq := s.mutationQuota(r, req.Version >= 3)
	defer func() { mq.throttle(r, resp, s.now()) }()
	for i := range req.Topics {
		rt := &req.Topics[i]
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if count[rt.Topic] > 1 {
			err = kafkaError(kerr.InvalidRequest, "Duplicate topic in request.")
		} else {
			err = s.createPartitions(ctx, rt, req.ValidateOnly, mq)
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) createPartitions(ctx context.Context, rt *kmsg.CreatePartitionsRequestTopic, validateOnly bool, mq *mutationQuota) error {
	t := s.topics.get(rt.Topic)
	if t == nil {
		return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", rt.Topic)
	}
	if isInternal(t.Name) {
		return internalTopicErr("add partitions to", t.Name)
	}
	if rt.Assignment != nil && s.clustered() {
		count := *rt
		count.Assignment = nil
		if err := checkGrow(t, &count, s.nodeID); err != nil {
			return err
		}
		return kafkaError(kerr.InvalidReplicaAssignment, "the cluster mode places partitions itself (rendezvous hashing over the live brokers): give the new count without an assignment")
	}
	if err := checkGrow(t, rt, s.nodeID); err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := mq.admit(int(rt.Count)-len(t.parts), s.now()); err != nil {
		return err
	}
	return s.topics.grow(ctx, t, rt.Count)
}

func checkGrow(t *topic, rt *kmsg.CreatePartitionsRequestTopic, node int32) error {
	have := int32(len(t.parts))
	switch {
	case rt.Count < have:
		return kafkaError(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", have, rt.Count)
	case rt.Count == have:
		return kafkaError(kerr.InvalidPartitions, "Topic already has %d partitions.", have)
	case rt.Count > maxPartitions:
		return kafkaError(kerr.InvalidPartitions, "Topic would have %d partitions; this broker allows at most %d.", rt.Count, maxPartitions)
	}
	if rt.Assignment != nil {
		if len(rt.Assignment) != int(rt.Count-have) {
			return kafkaError(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", rt.Count-have, len(rt.Assignment))
		}
		for i, a := range rt.Assignment {
			if !slices.Equal(a.Replicas, []int32{node}) {
				return kafkaError(kerr.InvalidReplicaAssignment, "Assignment of new partition %d is %v; this single-broker cluster can only assign [%d].", int(have)+i, a.Replicas, node)
			}
		}
	}
	return nil
}

// grow raises t's partition count to n: the catalog, then the topic is
// published with them. Their logs open lazily, as a new topic's do
// (topics.create).
func (ts *topics) grow(ctx context.Context, t *topic, n int32) error {
	ts.adminMu.Lock()
	defer ts.adminMu.Unlock()
	for try := 1; ; try++ {
		cur := ts.getID(t.ID)
		if cur == nil {
			return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", t.Name)
		}
		t = cur // the latest value: a config change may have published one
		old := int32(len(t.parts))
		if n <= old {
			return kafkaError(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", old, n)
		}
		if err := ts.clearLeftovers(ctx, t.Name, old, n); err != nil {
			return err
		}
		err := ts.s.cfg.Catalog.SetPartitions(ctx, t.ID, t.Version, n)
		switch {
		case errors.Is(err, meta.ErrConflict) && try < maxConflicts:
			if err := ts.syncLocked(ctx, t.ID); err != nil {
				return err
			}
			continue
		case errors.Is(err, meta.ErrTopicNotFound):
			ts.removeLocked(ctx, t, "deleted through another broker")
			return kafkaError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", t.Name)
		case err != nil:
			return err
		}
		nt := &topic{Topic: t.Topic, cfg: t.cfg, src: t.src, parts: slices.Clone(t.parts)}
		nt.Partitions = n
		nt.Version++
		for i := old; i < n; i++ {
			nt.parts = append(nt.parts, &partition{index: i, src: t.src})
		}
		ts.publish(nt)
		ts.warmNew(nt.parts[old:])
		ts.s.log.Info("partitions added", "topic", t.Name, "partitions", n, "was", old)
		return nil
	}
}
