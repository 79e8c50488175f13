package broker

// Consumer groups: FindCoordinator v0-v6 and the group APIs, served by the
// group coordinator (package broker/group). A single broker coordinates
// every group; in the cluster mode each group's shard holder does
// (coordinators.go), and a share partition's state is kept by the
// partition's leader (share.go). The first FindCoordinator of a kind
// creates its internal topic (internal_topics.go).

import (
	"context"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/fault"

	"github.com/streamhouse/streamhouse/broker/group"
	"github.com/streamhouse/streamhouse/meta"
)

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
	coordinatorShare       = 2 // KIP-932: a share group's partition's state ("group:topicID:partition")
)

// groupTopics answers the coordinator's questions about topics.
type groupTopics struct{ ts *topics }

func (g groupTopics) PartitionExists(topic string, p int32) bool {
	t := g.ts.get(topic)
	return t != nil && t.partition(p) != nil
}

func (g groupTopics) TopicName(id [16]byte) (string, bool) {
	if t := g.ts.getID(meta.TopicID(id)); t != nil {
		return t.Name, true
	}
	return "", false
}

func (g groupTopics) TopicID(name string) ([16]byte, bool) {
	if t := g.ts.get(name); t != nil {
		return t.ID, true
	}
	return [16]byte{}, false
}

func (g groupTopics) Partitions(name string) ([16]byte, int32, bool) {
	t := g.ts.get(name)
	if t == nil {
		return [16]byte{}, 0, false
	}
	return t.ID, int32(len(t.parts)), true
}

// Names is every topic's name but the internal ones, which regex
// subscriptions skip, as Kafka's do.
func (g groupTopics) Names() []string {
	all := g.ts.all()
	out := make([]string, 0, len(all))
	for _, t := range all {
		if !isInternal(t.Name) {
			out = append(out, t.Name)
		}
	}
	return out
}

func (s *Server) newCoordinator(ctx context.Context) (*group.Coordinator, error) {
	set := s.settings()
	var owns func(string) bool
	if s.clustered() {
		owns = s.ownsGroup // none until its shards are taken (coordinators.go)
	}
	return group.New(ctx, group.Config{
		Store:                        s.cfg.Catalog,
		Groups:                       s.cfg.Catalog,
		OffsetsLog:                   offsetsLog{s},
		ShareLogs:                    shareLogs{s},
		ShareStates:                  s.cfg.Catalog,
		GroupConfigs:                 s.cfg.Catalog,
		ResolveShare:                 s.resolveShare,
		ShareMaxSize:                 int(set.ShareGroup().MaxSize),
		SharePartitionMaxRecordLocks: int(set.ShareGroup().PartitionMaxRecordLocks),
		ShareMaxSessions:             int(set.ShareGroup().MaxShareSessions),
		Topics:                       groupTopics{s.topics},
		InitialRebalanceDelay:        time.Duration(set.GroupInitialRebalanceDelayMs()) * time.Millisecond,
		MinSessionTimeout:            time.Duration(set.GroupMinSessionTimeoutMs()) * time.Millisecond,
		MaxSessionTimeout:            time.Duration(set.GroupMaxSessionTimeoutMs()) * time.Millisecond,
		MaxSize:                      int(set.GroupMaxSize()),
		OffsetsRetention:             time.Duration(set.OffsetsRetentionMs()) * time.Millisecond,
		OffsetMetadataMaxBytes:       int(set.OffsetMetadataMaxBytes()),
		ConsumerHeartbeatInterval:    time.Duration(set.GroupConsumerHeartbeatIntervalMs()) * time.Millisecond,
		ConsumerSessionTimeout:       time.Duration(set.GroupConsumerSessionTimeoutMs()) * time.Millisecond,
		MigrationPolicy:              set.GroupConsumerMigrationPolicy(),
		// s.txns is set before the broker serves.
		PendingTxnOffset: func(group, topic string, partition int32) bool {
			return s.txns.PendingOffset(group, topic, partition) || s.remoteTxns.pendingOffset(group, topic, partition)
		},
		Owns:       owns,
		Fence:      s.groupFence(),
		ShareFence: s.shareFence(),
		Logger:     s.log,
		Now:        s.now,
		Clock:      s.cfg.Clock,
	})
}

// offsetExpiryLoop applies offsets.retention.minutes every
// offsets.retention.check.interval.ms until Shutdown.
func (s *Server) offsetExpiryLoop() {
	defer s.bg.Done()
	every := time.Duration(s.settings().OffsetsRetentionCheckIntervalMs()) * time.Millisecond
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-s.shutdown:
			return
		case <-tick.C:
			s.groups.ExpireOffsets(s.base)
		}
	}
}

func (s *Server) handleFindCoordinator(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := r.conn.advertised()
	// Kafka creates its internal topics when their coordinators are first
	// looked for. The coordinators here work without them (the catalog
	// holds their state), so a failure is logged and the answer stands.
	switch req.CoordinatorType {
	case coordinatorGroup:
		s.internalTopic(ctx, offsetsTopic)
	case coordinatorTransaction:
		s.internalTopic(ctx, txnTopic)
	}
	answer := func(key string) (int32, string, int32, *kerr.Error) {
		switch req.CoordinatorType {
		case coordinatorGroup:
			if key == "" && req.Version < 4 {
				return -1, "", -1, kerr.InvalidRequest
			}
			return s.coordinatorOf(r.conn, s.groupLease(key))
		case coordinatorTransaction:
			if key == "" {
				return -1, "", -1, kerr.InvalidRequest
			}
			return s.coordinatorOf(r.conn, s.txnLease(key))
		case coordinatorShare:
			// The broker that keeps the share partition's state:
			// this one for a single broker, the partition's leader
			// in the cluster mode (share.go).
			if key == "" || req.Version < 6 {
				return -1, "", -1, kerr.InvalidRequest
			}
			if !s.clustered() {
				return s.nodeID, host, port, nil
			}
			lease, ok := sharePartitionLease(key)
			if !ok {
				return -1, "", -1, kerr.InvalidRequest
			}
			return s.coordinatorOf(r.conn, lease)
		default:
			return -1, "", -1, kerr.InvalidRequest
		}
	}
	if req.Version < 4 {
		node, h, p, e := answer(req.CoordinatorKey)
		resp.NodeID, resp.Host, resp.Port = node, h, p
		if e != nil {
			resp.ErrorCode = e.Code
			msg := e.Description
			resp.ErrorMessage = &msg
		}
		return resp, nil
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = key
		c.NodeID, c.Host, c.Port, _ = answer(key)
		if _, _, _, e := answer(key); e != nil {
			c.ErrorCode = e.Code
			msg := e.Description
			c.ErrorMessage = &msg
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

func clientHost(r *request) string {
	host, _, err := net.SplitHostPort(r.conn.remote)
	if err != nil {
		return "/" + r.conn.remote
	}
	return "/" + host
}

func (s *Server) handleJoinGroup(ctx context.Context, r *request) (kmsg.Response, error) {
	ctx, cancel := s.untilShutdown(ctx)
	defer cancel()
	return s.groups.JoinGroup(ctx, r.kreq.(*kmsg.JoinGroupRequest), r.header.ClientID, clientHost(r)), nil
}

func (s *Server) handleSyncGroup(ctx context.Context, r *request) (kmsg.Response, error) {
	ctx, cancel := s.untilShutdown(ctx)
	defer cancel()
	return s.groups.SyncGroup(ctx, r.kreq.(*kmsg.SyncGroupRequest)), nil
}

func (s *Server) handleHeartbeat(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.Heartbeat(r.kreq.(*kmsg.HeartbeatRequest)), nil
}

func (s *Server) handleLeaveGroup(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.LeaveGroup(r.kreq.(*kmsg.LeaveGroupRequest)), nil
}

func (s *Server) handleOffsetCommit(ctx context.Context, r *request) (kmsg.Response, error) {
	resp := s.groups.OffsetCommit(ctx, r.kreq.(*kmsg.OffsetCommitRequest))
	stored := len(resp.Topics) > 0
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			stored = stored && p.ErrorCode == 0
		}
	}
	if stored {
		fault.Crash("catalog-answer")
	}
	return resp, nil
}

func (s *Server) handleOffsetFetch(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.offsetFetch(r.kreq.(*kmsg.OffsetFetchRequest)), nil
}

func (s *Server) handleOffsetDelete(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.OffsetDelete(ctx, r.kreq.(*kmsg.OffsetDeleteRequest)), nil
}

func (s *Server) handleDescribeGroups(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.describeGroups(r.kreq.(*kmsg.DescribeGroupsRequest)), nil
}

func (s *Server) handleListGroups(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.ListGroups(r.kreq.(*kmsg.ListGroupsRequest)), nil
}

func (s *Server) handleDeleteGroups(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.deleteGroups(ctx, r.kreq.(*kmsg.DeleteGroupsRequest)), nil
}

func (s *Server) handleConsumerGroupHeartbeat(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.groups.ConsumerGroupHeartbeat(ctx, r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest), r.header.ClientID, clientHost(r)), nil
}

func (s *Server) handleConsumerGroupDescribe(ctx context.Context, r *request) (kmsg.Response, error) {
	return s.consumerGroupDescribe(r.kreq.(*kmsg.ConsumerGroupDescribeRequest)), nil
}

// untilShutdown is ctx ended at Shutdown too: a waiting JoinGroup or
// SyncGroup ends when the connection goes or the broker stops, background
// work when the broker stops. The caller cancels it when done.
func (s *Server) untilShutdown(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.base, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// groupFence is group.Config.Fence: in the cluster mode, a group's offset
// commits are fenced by its shard's lease (nil otherwise).
func (s *Server) groupFence() func(group string) (meta.Fence, bool) {
	return s.shardFence(s.groupLease)
}

// shardFence is the fence of the shard lease names map to (groupLease,
// txnLease), as this broker holds it; nil outside the cluster mode.
func (s *Server) shardFence(lease func(name string) meta.LeaseKey) func(name string) (meta.Fence, bool) {
	if !s.clustered() {
		return nil
	}
	return func(name string) (meta.Fence, bool) {
		key := lease(name)
		session, epoch, ok := s.cfg.Cluster.Lease(key)
		return meta.Fence{Key: key, Node: s.nodeID, SessionEpoch: session, Epoch: epoch}, ok
	}
}

// sharePartitionLease is the partition lease of a share coordinator key,
// Kafka's "group:topicID:partition" (the topic id in Kafka's base64 form);
// false when the key is not one.
func sharePartitionLease(key string) (meta.LeaseKey, bool) {
	i := strings.LastIndexByte(key, ':')
	if i <= 0 {
		return meta.LeaseKey{}, false
	}
	p, err := strconv.ParseInt(key[i+1:], 10, 32)
	j := strings.LastIndexByte(key[:i], ':')
	if err != nil || p < 0 || j < 0 {
		return meta.LeaseKey{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(key[j+1 : i])
	if err != nil || len(raw) != 16 {
		return meta.LeaseKey{}, false
	}
	var id meta.TopicID
	copy(id[:], raw)
	return meta.LeaseKey{Kind: meta.LeasePartition, TopicID: id, Partition: int32(p)}, true
}
