package broker

// Share groups (KIP-932, queues): ShareGroupHeartbeat v1, ShareGroupDescribe
// v1, ShareFetch v1-v2, ShareAcknowledge v1-v2, DescribeShareGroupOffsets
// v0-v1, AlterShareGroupOffsets v0 and DeleteShareGroupOffsets v0, served
// by the group coordinator (broker/group: share.go, sharefetch.go,
// sharepart.go, shareoffsets.go, leadshare.go); and the GROUP config
// resource (DescribeConfigs, IncrementalAlterConfigs, AlterConfigs) that
// holds a share group's share.* configs.
//
// In the cluster mode, as Kafka routes them: ShareGroupHeartbeat,
// ShareGroupDescribe and the share group offsets APIs go to the group's
// coordinator (its shard's holder; NOT_COORDINATOR elsewhere,
// coordinators.go); ShareFetch and ShareAcknowledge go to each partition's
// leader, which holds the share groups' states of it and stores them
// fenced by its partition lease (shareFence; NOT_LEADER_OR_FOLLOWER for a
// partition led elsewhere).

import (
	"context"
	"errors"
	"maps"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/group"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// shareLogs gives share fetches the partitions' logs.
type shareLogs struct{ s *Server }

var (
	_ group.ShareLogs = shareLogs{}
	_ group.ShareEnds = shareLogs{}
)

func (l shareLogs) Log(ctx context.Context, id [16]byte, p int32) (storage.Log, *kerr.Error) {
	t := l.s.topics.getID(meta.TopicID(id))
	if t == nil {
		return nil, kerr.UnknownTopicID
	}
	part := t.partition(p)
	if part == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	lg, err := part.get(ctx)
	if err != nil {
		if e, ok := kerr.ErrorForCode(errorCode(err)).(*kerr.Error); ok {
			return nil, e
		}
		return nil, kerr.KafkaStorageError
	}
	return lg, nil
}

// End is a partition's high watermark whatever broker leads it
// (group.ShareEnds): its log's for a single broker or its leader, else
// the catalog's committed end (the cluster mode acknowledges only what is
// committed).
func (l shareLogs) End(ctx context.Context, id [16]byte, p int32) (int64, *kerr.Error) {
	t := l.s.topics.getID(meta.TopicID(id))
	if t == nil {
		return -1, kerr.UnknownTopicID
	}
	if t.partition(p) == nil {
		return -1, kerr.UnknownTopicOrPartition
	}
	if lg, e := l.Log(ctx, id, p); e == nil {
		return lg.HighWatermark(), nil
	}
	if !l.s.clustered() {
		return -1, kerr.KafkaStorageError
	}
	end, err := l.s.cfg.Catalog.WALEnd(ctx, meta.TopicID(id), p)
	if err != nil {
		return -1, kerr.KafkaStorageError
	}
	return end, nil
}

// shareFence is group.Config.ShareFence: in the cluster mode, the lease of
// a partition this broker leads, which its share states are stored under
// (nil otherwise).
func (s *Server) shareFence() func(id [16]byte, p int32) (meta.Fence, bool) {
	if !s.clustered() {
		return nil
	}
	return func(id [16]byte, p int32) (meta.Fence, bool) {
		key := meta.LeaseKey{Kind: meta.LeasePartition, TopicID: meta.TopicID(id), Partition: p}
		if _, ok := s.cfg.Cluster.Holds(key); !ok {
			return meta.Fence{}, false
		}
		session, epoch, ok := s.cfg.Cluster.Lease(key)
		return meta.Fence{Key: key, Node: s.nodeID, SessionEpoch: session, Epoch: epoch}, ok
	}
}

// resolveShare is a share group's configs: its explicit ones over the
// broker's group.share.* defaults. Explicit ones that no longer validate
// (the broker's bounds changed) are left out.
func (s *Server) resolveShare(explicit map[string]string) group.ShareConfig {
	set := s.settings()
	g, err := set.ResolveGroup(explicit)
	if err != nil {
		g, _ = set.ResolveGroup(nil)
	}
	return group.ShareConfig{
		RecordLockDuration: g.RecordLockDuration, DeliveryCountLimit: g.DeliveryCountLimit,
		HeartbeatInterval: g.HeartbeatInterval, SessionTimeout: g.SessionTimeout,
		AutoOffsetReset: g.AutoOffsetReset, ResetDuration: g.ResetDuration, ReadCommitted: g.ReadCommitted,
	}
}

func (s *Server) handleShareGroupHeartbeat(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.ShareGroupHeartbeat(ctx, r.kreq.(*kmsg.ShareGroupHeartbeatRequest), r.header.ClientID, clientHost(r)), nil
}

func (s *Server) handleShareGroupDescribe(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.shareGroupDescribe(r.kreq.(*kmsg.ShareGroupDescribeRequest)), nil
}

func (s *Server) handleShareFetch(ctx context.Context, r *request) (kmsg.Response, error) {
	ctx, cancel := s.untilShutdown(ctx)
	defer cancel()
	return s.groups.ShareFetch(ctx, r.kreq.(*kmsg.ShareFetchRequest), r.conn), nil
}

func (s *Server) handleShareAcknowledge(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.ShareAcknowledge(ctx, r.kreq.(*kmsg.ShareAcknowledgeRequest), r.conn), nil
}

func (s *Server) handleDescribeShareGroupOffsets(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.describeShareGroupOffsets(ctx, r.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)), nil
}

func (s *Server) handleAlterShareGroupOffsets(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.AlterShareGroupOffsets(ctx, r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)), nil
}

func (s *Server) handleDeleteShareGroupOffsets(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.DeleteShareGroupOffsets(ctx, r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)), nil
}

// describeGroupConfigs describes a GROUP config resource: every group
// config with its value and source, whether the group exists or not, as
// Kafka answers.
func (s *Server) describeGroupConfigs(name string) ([]config.Entry, error) {
	if name == "" {
		return nil, kafkaError(kerr.InvalidGroupID, "the group id is empty")
	}
	explicit, _ := s.groups.GroupConfig(name)
	return s.settings().DescribeGroup(explicit), nil
}

// alterGroupConfigs changes a GROUP config resource's configs to what
// change makes of them, validated as Kafka validates them (unknown names
// and bad values: INVALID_CONFIG).
func (s *Server) alterGroupConfigs(ctx context.Context, name string, validateOnly bool, change func(map[string]string) (map[string]string, error)) error {
	if name == "" {
		return kafkaError(kerr.InvalidGroupID, "the group id is empty")
	}
	for try := 1; ; try++ {
		cur, version := s.groups.GroupConfig(name)
		next, err := change(maps.Clone(cur))
		if err != nil {
			return err
		}
		if _, err := s.settings().ResolveGroup(next); err != nil {
			return err
		}
		if validateOnly {
			return nil
		}
		err = s.groups.SetGroupConfig(ctx, name, version, next)
		if errors.Is(err, meta.ErrConflict) && try < maxConflicts {
			continue
		}
		if err != nil {
			return err
		}
		s.log.Info("group configs altered", "group", name, "configs", next)
		return nil
	}
}

// shareGroupDescribe is ShareGroupDescribe split by coordinator.
func (s *Server) shareGroupDescribe(req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	if !s.clustered() {
		return s.groups.ShareGroupDescribe(req)
	}
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	resp.Groups = byCoordinator(s, req.GroupIDs, groupName, func(mine []string) []kmsg.ShareGroupDescribeResponseGroup {
		sub := *req
		sub.GroupIDs = mine
		return s.groups.ShareGroupDescribe(&sub).Groups
	}, kmsg.NewShareGroupDescribeResponseGroup, func(g *kmsg.ShareGroupDescribeResponseGroup) (*string, *int16) { return &g.GroupID, &g.ErrorCode })
	return resp
}

// describeShareGroupOffsets is DescribeShareGroupOffsets split by
// coordinator.
func (s *Server) describeShareGroupOffsets(ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest) *kmsg.DescribeShareGroupOffsetsResponse {
	if !s.clustered() {
		return s.groups.DescribeShareGroupOffsets(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	resp.Groups = byCoordinator(s, req.Groups, func(g kmsg.DescribeShareGroupOffsetsRequestGroup) string { return g.GroupID },
		func(mine []kmsg.DescribeShareGroupOffsetsRequestGroup) []kmsg.DescribeShareGroupOffsetsResponseGroup {
			sub := *req
			sub.Groups = mine
			return s.groups.DescribeShareGroupOffsets(ctx, &sub).Groups
		}, kmsg.NewDescribeShareGroupOffsetsResponseGroup, func(g *kmsg.DescribeShareGroupOffsetsResponseGroup) (*string, *int16) {
			return &g.GroupID, &g.ErrorCode
		})
	return resp
}
