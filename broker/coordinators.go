package broker

// Coordinator shards (the cluster mode): a group belongs to shard
// abs(hash(group id)) % offsets.topic.num.partitions and a transactional
// id to abs(hash(id)) % transaction.state.log.num.partitions, Java's
// String.hashCode as Kafka maps them to __consumer_offsets and
// __transaction_state partitions. Each shard is a lease (meta.LeaseGroupShard,
// meta.LeaseTxnShard) placed and taken like a partition's. FindCoordinator
// answers the shard's holder (COORDINATOR_NOT_AVAILABLE while nobody holds
// it); the group and transaction APIs answer NOT_COORDINATOR on any other
// broker, and clients look for the coordinator again. A broker that takes
// a group shard loads its groups from the catalog (group.Coordinator.Adopt);
// one that gives it up stores what it has not stored yet and forgets them
// (Abandon). A single broker coordinates everything.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// javaHash is Java's String.hashCode over s's UTF-16 code units.
func javaHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// shardOf is Kafka's partitionFor: Utils.abs(key.hashCode) % n.
func shardOf(key string, n int32) int32 {
	if n <= 0 {
		return 0
	}
	return (javaHash(key) & 0x7fffffff) % n
}

// groupShards and txnShards are how many shards there are of each.
func (s *Server) groupShards() int32 { return s.settings().OffsetsTopicNumPartitions() }
func (s *Server) txnShards() int32   { return s.settings().TransactionStateLogNumPartitions() }

// groupLease and txnLease are the leases of a group's and a transactional
// id's shards.
func (s *Server) groupLease(group string) meta.LeaseKey {
	return meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: shardOf(group, s.groupShards())}
}

func (s *Server) txnLease(id string) meta.LeaseKey {
	return meta.LeaseKey{Kind: meta.LeaseTxnShard, Partition: shardOf(id, s.txnShards())}
}

// shardKeys lists every coordinator shard's lease.
func (s *Server) shardKeys() []meta.LeaseKey {
	var keys []meta.LeaseKey
	for i := range s.groupShards() {
		keys = append(keys, meta.LeaseKey{Kind: meta.LeaseGroupShard, Partition: i})
	}
	for i := range s.txnShards() {
		keys = append(keys, meta.LeaseKey{Kind: meta.LeaseTxnShard, Partition: i})
	}
	return keys
}

// coordinates reports whether this broker coordinates what key's shard
// holds: always for a single broker.
func (s *Server) coordinates(key meta.LeaseKey) bool {
	if s.cfg.Cluster == nil {
		return true
	}
	_, ok := s.cfg.Cluster.Holds(key)
	return ok
}

// ownsGroup is group.Config.Owns: whether this broker coordinates group.
func (s *Server) ownsGroup(group string) bool { return s.coordinates(s.groupLease(group)) }

// ownsShard returns the group filter of group shard i.
func (s *Server) ownsShard(i int32) func(string) bool {
	n := s.groupShards()
	return func(group string) bool { return shardOf(group, n) == i }
}

// shardAcquired loads a group shard's groups from the catalog in the
// background; its groups' requests get COORDINATOR_LOAD_IN_PROGRESS
// meanwhile, as from Kafka's coordinator loading a partition.
func (s *Server) shardAcquired(key meta.LeaseKey) {
	if key.Kind == meta.LeaseTxnShard {
		// The transaction coordinator reads the shard's ids again (what
		// it read before is stale) and finishes their decided ends.
		s.background(func() {
			n := s.txnShards()
			owns := func(id string) bool { return shardOf(id, n) == key.Partition }
			if err := s.txns.Adopt(s.base, owns); err != nil && s.base.Err() == nil {
				s.log.Error("reading the transactions of a coordinator shard taken over failed; each is read again at its next conflicting write", "shard", key.Partition, "err", err)
			}
		})
		return
	}
	s.loadingShard(key.Partition, true)
	started := s.background(func() {
		defer s.loadingShard(key.Partition, false)
		if err := s.groups.Adopt(s.base, s.ownsShard(key.Partition)); err != nil && s.base.Err() == nil {
			s.log.Error("loading the groups of a coordinator shard taken over failed", "shard", key.Partition, "err", err)
		}
	})
	if !started {
		s.loadingShard(key.Partition, false)
	}
}

// shardReleasing gives a group shard's groups up.
func (s *Server) shardReleasing(ctx context.Context, key meta.LeaseKey) {
	if key.Kind != meta.LeaseGroupShard {
		return
	}
	s.groups.Abandon(ctx, s.ownsShard(key.Partition))
}

// loadingShard marks group shard i loading or loaded.
func (s *Server) loadingShard(i int32, loading bool) {
	s.shardsMu.Lock()
	defer s.shardsMu.Unlock()
	if s.shardsLoading == nil {
		s.shardsLoading = map[int32]bool{}
	}
	if loading {
		s.shardsLoading[i] = true
	} else {
		delete(s.shardsLoading, i)
	}
}

// groupCoordinatorErr is the error for a request about group on this
// broker: NOT_COORDINATOR when another broker coordinates it,
// COORDINATOR_LOAD_IN_PROGRESS while its shard loads here, nil when this
// broker answers it.
func (s *Server) groupCoordinatorErr(group string) *kerr.Error {
	key := s.groupLease(group)
	if !s.coordinates(key) {
		return kerr.NotCoordinator
	}
	s.shardsMu.Lock()
	loading := s.shardsLoading[key.Partition]
	s.shardsMu.Unlock()
	if loading {
		return kerr.CoordinatorLoadInProgress
	}
	return nil
}

// txnCoordinatorErr is NOT_COORDINATOR when another broker coordinates
// transactional id.
func (s *Server) txnCoordinatorErr(id string) *kerr.Error {
	if !s.coordinates(s.txnLease(id)) {
		return kerr.NotCoordinator
	}
	return nil
}

// coordinatorOf answers FindCoordinator for key's shard: the broker holding
// it, COORDINATOR_NOT_AVAILABLE while nobody does.
func (s *Server) coordinatorOf(c *conn, key meta.LeaseKey) (int32, string, int32, *kerr.Error) {
	if s.cfg.Cluster == nil {
		host, port := c.advertised()
		return s.nodeID, host, port, nil
	}
	node, _, ok := s.cfg.Cluster.Leader(key)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	b, ok := s.brokerOf(c, node)
	if !ok {
		return -1, "", -1, kerr.CoordinatorNotAvailable
	}
	return b.node, b.host, b.port, nil
}

// notCoordinatorResponse answers a request about one group or
// transactional id that this broker does not coordinate, nil when it does
// or the request names several (those are split: groupsFor).
func (s *Server) notCoordinatorResponse(req kmsg.Request) kmsg.Response {
	var e *kerr.Error
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.SyncGroupRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.HeartbeatRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.LeaveGroupRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.ShareGroupHeartbeatRequest:
		if e = s.groupCoordinatorErr(r.GroupID); e != nil {
			resp := r.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.AlterShareGroupOffsetsRequest:
		if e = s.groupCoordinatorErr(r.GroupID); e != nil {
			resp := r.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.DeleteShareGroupOffsetsRequest:
		if e = s.groupCoordinatorErr(r.GroupID); e != nil {
			resp := r.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.ConsumerGroupHeartbeatRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.TxnOffsetCommitRequest:
		// Sent to the group's coordinator, as Kafka's.
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewTxnOffsetCommitResponseTopic()
				st.Topic, st.TopicID = rt.Topic, rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, e.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp
		}
	case *kmsg.OffsetDeleteRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.OffsetCommitRequest:
		if e = s.groupCoordinatorErr(r.Group); e != nil {
			resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
			for _, rt := range r.Topics {
				st := kmsg.NewOffsetCommitResponseTopic()
				st.Topic, st.TopicID = rt.Topic, rt.TopicID
				for _, rp := range rt.Partitions {
					sp := kmsg.NewOffsetCommitResponseTopicPartition()
					sp.Partition, sp.ErrorCode = rp.Partition, e.Code
					st.Partitions = append(st.Partitions, sp)
				}
				resp.Topics = append(resp.Topics, st)
			}
			return resp
		}
	case *kmsg.OffsetFetchRequest:
		if r.Version < 8 {
			if e = s.groupCoordinatorErr(r.Group); e != nil {
				resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
				resp.ErrorCode = e.Code
				if r.Version < 2 {
					// v0-v1 have no group error: each
					// partition carries it.
					for _, rt := range r.Topics {
						st := kmsg.NewOffsetFetchResponseTopic()
						st.Topic = rt.Topic
						for _, p := range rt.Partitions {
							sp := kmsg.NewOffsetFetchResponseTopicPartition()
							sp.Partition, sp.ErrorCode = p, e.Code
							st.Partitions = append(st.Partitions, sp)
						}
						resp.Topics = append(resp.Topics, st)
					}
				}
				return resp
			}
		}
	case *kmsg.InitProducerIDRequest:
		if r.TransactionalID != nil {
			if e = s.txnCoordinatorErr(*r.TransactionalID); e != nil {
				resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
				resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = -1, -1, e.Code
				return resp
			}
		}
	case *kmsg.AddOffsetsToTxnRequest:
		if e = s.txnCoordinatorErr(r.TransactionalID); e != nil {
			resp := r.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.EndTxnRequest:
		if e = s.txnCoordinatorErr(r.TransactionalID); e != nil {
			resp := r.ResponseKind().(*kmsg.EndTxnResponse)
			resp.ErrorCode = e.Code
			return resp
		}
	case *kmsg.AddPartitionsToTxnRequest:
		if r.Version < 4 {
			if e = s.txnCoordinatorErr(r.TransactionalID); e != nil {
				resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
				for _, rt := range r.Topics {
					st := kmsg.NewAddPartitionsToTxnResponseTopic()
					st.Topic = rt.Topic
					for _, p := range rt.Partitions {
						sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
						sp.Partition, sp.ErrorCode = p, e.Code
						st.Partitions = append(st.Partitions, sp)
					}
					resp.Topics = append(resp.Topics, st)
				}
				return resp
			}
		}
	}
	return nil
}

// coordinated wraps the handlers of the group and transaction APIs in the
// cluster mode: a request about one group or transactional id another
// broker coordinates is answered NOT_COORDINATOR (notCoordinatorResponse);
// one about several groups is split (the coordinator answers for its own,
// NOT_COORDINATOR for the rest).
func (s *Server) coordinated(table map[int16]handler) {
	if !s.clustered() {
		return
	}
	for _, key := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.LeaveGroup, kmsg.OffsetCommit,
		kmsg.OffsetFetch, kmsg.OffsetDelete, kmsg.ConsumerGroupHeartbeat, kmsg.InitProducerID, kmsg.AddPartitionsToTxn,
		kmsg.AddOffsetsToTxn, kmsg.EndTxn, kmsg.TxnOffsetCommit, kmsg.ShareGroupHeartbeat, kmsg.AlterShareGroupOffsets,
		kmsg.DeleteShareGroupOffsets} {
		h := table[int16(key)]
		table[int16(key)] = func(ctx context.Context, r *request) (kmsg.Response, error) {
			if resp := s.notCoordinatorResponse(r.kreq); resp != nil {
				return resp, nil
			}
			return h(ctx, r)
		}
	}
}

// byCoordinator answers, in the cluster mode, the items of a request about
// several groups: those of the groups this broker coordinates go to serve
// as one request (mine, in the request's order), and each of the others is
// answered by a new result (newResult) carrying its group and its
// groupCoordinatorErr code (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
// The results come back in the request's order, serve's matched to the
// items by group (groupOf, and result's pointers to the result's group and
// error code).
func byCoordinator[I, O any](s *Server, items []I, groupOf func(I) string, serve func(mine []I) []O,
	newResult func() O, result func(*O) (group *string, code *int16)) []O {
	var mine []I
	others := map[string]*kerr.Error{}
	for _, it := range items {
		if e := s.groupCoordinatorErr(groupOf(it)); e != nil {
			others[groupOf(it)] = e
			continue
		}
		mine = append(mine, it)
	}
	byName := map[string]O{}
	for _, o := range serve(mine) {
		g, _ := result(&o)
		byName[*g] = o
	}
	var out []O
	for _, it := range items {
		name := groupOf(it)
		if e := others[name]; e != nil {
			o := newResult()
			g, code := result(&o)
			*g, *code = name, e.Code
			out = append(out, o)
			continue
		}
		out = append(out, byName[name])
	}
	return out
}

// groupName is byCoordinator's groupOf for requests that list group names.
func groupName(name string) string { return name }

// describeGroups is DescribeGroups split by coordinator.
func (s *Server) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	if !s.clustered() {
		return s.groups.DescribeGroups(req)
	}
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	resp.Groups = byCoordinator(s, req.Groups, groupName, func(mine []string) []kmsg.DescribeGroupsResponseGroup {
		sub := *req
		sub.Groups = mine
		got := s.groups.DescribeGroups(&sub)
		resp.ThrottleMillis = got.ThrottleMillis
		return got.Groups
	}, kmsg.NewDescribeGroupsResponseGroup, func(g *kmsg.DescribeGroupsResponseGroup) (*string, *int16) { return &g.Group, &g.ErrorCode })
	return resp
}

// deleteGroups is DeleteGroups split by coordinator.
func (s *Server) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	if !s.clustered() {
		return s.groups.DeleteGroups(ctx, req)
	}
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	resp.Groups = byCoordinator(s, req.Groups, groupName, func(mine []string) []kmsg.DeleteGroupsResponseGroup {
		sub := *req
		sub.Groups = mine
		return s.groups.DeleteGroups(ctx, &sub).Groups
	}, kmsg.NewDeleteGroupsResponseGroup, func(g *kmsg.DeleteGroupsResponseGroup) (*string, *int16) { return &g.Group, &g.ErrorCode })
	return resp
}

// consumerGroupDescribe is ConsumerGroupDescribe split by coordinator.
func (s *Server) consumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	if !s.clustered() {
		return s.groups.ConsumerGroupDescribe(req)
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	resp.Groups = byCoordinator(s, req.Groups, groupName, func(mine []string) []kmsg.ConsumerGroupDescribeResponseGroup {
		sub := *req
		sub.Groups = mine
		return s.groups.ConsumerGroupDescribe(&sub).Groups
	}, kmsg.NewConsumerGroupDescribeResponseGroup, func(g *kmsg.ConsumerGroupDescribeResponseGroup) (*string, *int16) { return &g.Group, &g.ErrorCode })
	return resp
}

// offsetFetch is OffsetFetch split by coordinator (v8+ names several
// groups; earlier versions are answered by notCoordinatorResponse).
func (s *Server) offsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	if !s.clustered() || req.Version < 8 {
		return s.groups.OffsetFetch(req)
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	resp.Groups = byCoordinator(s, req.Groups, func(g kmsg.OffsetFetchRequestGroup) string { return g.Group },
		func(mine []kmsg.OffsetFetchRequestGroup) []kmsg.OffsetFetchResponseGroup {
			sub := *req
			sub.Groups = mine
			return s.groups.OffsetFetch(&sub).Groups
		}, kmsg.NewOffsetFetchResponseGroup, func(g *kmsg.OffsetFetchResponseGroup) (*string, *int16) { return &g.Group, &g.ErrorCode })
	return resp
}
