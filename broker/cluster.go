package broker

// Cluster-level admin APIs, answered as a single-node Kafka answers them:
// DescribeCluster v0-v2, OffsetForLeaderEpoch v0-v4, ElectLeaders v0-v2,
// AlterPartitionReassignments v0-v1, ListPartitionReassignments v0,
// DescribeLogDirs v0-v5.
//
// A single broker is the only replica of every partition and has always
// led it, at leader epoch 0 (in the cluster mode, the lease's holder and
// epoch: leaders.go; DescribeCluster lists the live brokers): an election
// is never needed (ELECTION_NOT_NEEDED: the leader is the first of the
// replicas Metadata gives, the preferred one), a reassignment can only
// name this broker (in the cluster mode, the replicas the placement gives
// now) and then has nothing to move, and no reassignment is ever in
// progress.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
	"github.com/streamhouse/streamhouse/storage"
)

// DescribeCluster endpoint types (KIP-919).
const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func (s *Server) handleDescribeCluster(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = endpointBrokers
	if req.Version >= 1 && req.EndpointType != endpointBrokers {
		// A broker answers for brokers only; controllers answer for
		// controllers, and this one is not reached as such.
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "The broker only handles DescribeCluster requests for the BROKERS endpoint type."
		resp.ErrorMessage = &msg
		resp.EndpointType = req.EndpointType
		return resp, nil
	}
	bs := s.brokers(r.conn)
	resp.ClusterID = s.clusterID
	resp.ControllerID = s.controllerID(bs)
	for _, ba := range bs {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = ba.node, ba.host, ba.port, ba.rack
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterAuthorizedOperations = opsOmitted
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOps
	}
	return resp, nil
}

// partitionOf returns the partition or the error to answer for it.
func (s *Server) partitionOf(topic string, p int32) (*partition, *kerr.Error) {
	t := s.topics.get(topic)
	if t == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	part := t.partition(p)
	if part == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	return part, nil
}

// logOf is partitionOf and then the partition's log (partition.get,
// opening it if need be); the error is what to answer for the partition.
func (s *Server) logOf(ctx context.Context, topic string, p int32) (storage.Log, error) {
	part, e := s.partitionOf(topic, p)
	if e != nil {
		return nil, e
	}
	return part.get(ctx)
}

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			current := int32(-1)
			if req.Version >= 2 {
				current = rp.CurrentLeaderEpoch
			}
			part, e := s.partitionOf(rt.Topic, rp.Partition)
			var l storage.Log
			var err error
			if e != nil {
				err = e
			} else if err = s.checkLeader(part, current); err == nil {
				l, err = part.get(ctx)
			}
			var epoch int32
			if err == nil {
				epoch, _ = s.leaderEpochOf(part)
			}
			switch {
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case rp.LeaderEpoch >= 0 && rp.LeaderEpoch <= epoch:
				// No epoch's records were ever truncated (a single
				// broker's one epoch; in the cluster mode every
				// leader continues from the committed end): the
				// current epoch ends at the log's end, and so does
				// an earlier one for a log that cannot tell its
				// batches' epochs.
				sp.LeaderEpoch, sp.EndOffset = rp.LeaderEpoch, l.NextOffset()
				if ee, ok := l.(storage.EpochEnder); ok && rp.LeaderEpoch < epoch {
					// An earlier epoch ends where a later one's
					// batches start, in either tier (tiered storage
					// keeps the epochs of what only the bucket holds).
					if e, end, err := ee.EndOffsetForEpoch(ctx, rp.LeaderEpoch); err != nil {
						sp.LeaderEpoch, sp.EndOffset, sp.ErrorCode = -1, -1, errorCode(err)
					} else {
						sp.LeaderEpoch, sp.EndOffset = e, end
					}
				}
			}
			// An epoch above ours is unknown: undefined epoch and offset,
			// no error, as Kafka.
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// eachPartition calls fn for every partition named, or for every partition
// of every topic when all is set (a null topic list), with the partition,
// or the error to answer when there is none.
func (s *Server) eachPartition(all bool, named map[string][]int32, order []string, fn func(topic string, p int32, part *partition, e *kerr.Error)) {
	if all {
		ts := s.topics.all()
		slices.SortFunc(ts, func(a, b *topic) int { return strings.Compare(a.Name, b.Name) })
		for _, t := range ts {
			for _, p := range t.parts {
				fn(t.Name, p.index, p, nil)
			}
		}
		return
	}
	for _, name := range order {
		for _, p := range named[name] {
			part, e := s.partitionOf(name, p)
			fn(name, p, part, e)
		}
	}
}

func (s *Server) handleElectLeaders(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if req.Version >= 1 && req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	named, order := namedPartitions(req.Topics, func(t kmsg.ElectLeadersRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
	if req.Topics == nil {
		// Every partition: Kafka answers only those it elected or
		// failed; here every one's election is not needed.
		resp.Topics = []kmsg.ElectLeadersResponseTopic{}
		return resp, nil
	}
	byTopic := map[string]int{}
	s.eachPartition(false, named, order, func(topic string, p int32, part *partition, e *kerr.Error) {
		i, ok := byTopic[topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[topic] = i
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = topic
			resp.Topics = append(resp.Topics, rt)
		}
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = p
		switch {
		case e != nil:
			sp.ErrorCode = e.Code
		case s.cfg.Cluster != nil && !s.hasLeader(part):
			// Nobody holds the partition yet: the placement gives it
			// to a live broker within a session; until then no replica
			// can be elected.
			sp.ErrorCode = kerr.PreferredLeaderNotAvailable.Code
			if req.ElectionType == 1 {
				sp.ErrorCode = kerr.EligibleLeadersNotAvailable.Code
			}
		case req.Version >= 1:
			// The only replica leads already (v0 knows no such error:
			// nothing to do is success there).
			sp.ErrorCode = kerr.ElectionNotNeeded.Code
		}
		if sp.ErrorCode != 0 {
			msg := kerr.ErrorForCode(sp.ErrorCode).(*kerr.Error).Description
			sp.ErrorMessage = &msg
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	})
	return resp, nil
}

func (s *Server) handleAlterPartitionAssignments(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			var e *kerr.Error
			var msg string
			var part *partition
			part, e = s.partitionOf(rt.Topic, rp.Partition)
			switch {
			case e != nil:
			case rp.Replicas == nil:
				e, msg = kerr.NoReassignmentInProgress, "No ongoing reassignment for this partition."
			case len(rp.Replicas) == 0:
				e, msg = kerr.InvalidReplicaAssignment, "The replica list is empty."
			case s.cfg.Cluster != nil:
				e, msg = s.clusterReassignment(r.conn, rt.Topic, part, rp.Replicas)
			case !slices.Equal(rp.Replicas, []int32{s.nodeID}):
				e, msg = kerr.InvalidReplicaAssignment, "The replica assignment names brokers other than this one, the only broker of the cluster."
			}
			// The only possible target is where the partition is: done.
			if e != nil {
				sp.ErrorCode = e.Code
				if msg == "" {
					msg = e.Description
				}
				sp.ErrorMessage = &msg
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// hasLeader reports whether some broker holds part's lease (the cluster
// mode).
func (s *Server) hasLeader(part *partition) bool {
	_, _, ok := s.cfg.Cluster.Leader(part.key())
	return ok
}

// clusterReassignment answers a reassignment of part to replicas in the
// cluster mode, where the placement decides a partition's replicas (the
// live brokers, by rendezvous hashing) and moves them as brokers come and
// go: the replicas Metadata gives now, in any order, have nothing to move
// (success); others are refused, saying which they are.
func (s *Server) clusterReassignment(c *conn, topic string, part *partition, replicas []int32) (*kerr.Error, string) {
	var rf int16
	if t := s.topics.get(topic); t != nil {
		rf = t.ReplicationFactor
	}
	bs := s.brokers(c)
	live := make([]int32, 0, len(bs))
	for _, b := range bs {
		live = append(live, b.node)
	}
	p := kmsg.NewMetadataResponseTopicPartition()
	s.clusterPartition(part, rf, &p, live)
	if p.Leader < 0 {
		return kerr.LeaderNotAvailable, ""
	}
	if slices.Equal(slices.Sorted(slices.Values(replicas)), slices.Sorted(slices.Values(p.Replicas))) {
		return nil, ""
	}
	return kerr.InvalidReplicaAssignment, fmt.Sprintf("In the cluster mode the placement decides a partition's replicas (the live brokers, by rendezvous hashing) and moves them as brokers come and go; this partition's are %v now, and a reassignment to others is not taken.", p.Replicas)
}

func (s *Server) handleListPartitionReassignments(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	// No reassignment is ever in progress: nothing to list, for every
	// partition asked about (Kafka lists only ongoing ones).
	resp.Topics = []kmsg.ListPartitionReassignmentsResponseTopic{}
	return resp, nil
}

func (s *Server) handleDescribeLogDirs(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	u, err := s.cfg.Store.Usage()
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir, dir.TotalBytes, dir.UsableBytes = u.Dir, u.TotalBytes, u.UsableBytes
	if err != nil {
		s.log.Warn("reading the data directory's space failed", "err", err)
	}
	named, order := namedPartitions(req.Topics, func(t kmsg.DescribeLogDirsRequestTopic) (string, []int32) { return t.Topic, t.Partitions })
	byTopic := map[string]int{}
	s.eachPartition(req.Topics == nil, named, order, func(topic string, p int32, part *partition, e *kerr.Error) {
		if e != nil {
			return // Kafka leaves out partitions it does not host
		}
		l, err := part.get(ctx)
		if err != nil {
			return // nor those of a log directory that failed
		}
		i, ok := byTopic[topic]
		if !ok {
			i = len(dir.Topics)
			byTopic[topic] = i
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic = topic
			dir.Topics = append(dir.Topics, dt)
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition, dp.Size = p, l.Size()
		if tl, ok := l.(tieredLog); ok {
			dp.Size = tl.LocalSize() // the directory's: the bucket holds the rest
			if r := tl.RemoteSize(); r > 0 && req.Version >= 2 {
				dp.UnknownTags.Set(protocol.TagRemoteLogSize, protocol.AppendInt64(nil, r))
			}
		}
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, dp)
	})
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp, nil
}

// namedPartitions gathers a request's topics' partitions by name (a topic
// may be listed twice) and the names in request order.
func namedPartitions[T any](topics []T, of func(T) (string, []int32)) (map[string][]int32, []string) {
	named := map[string][]int32{}
	var order []string
	for _, t := range topics {
		name, parts := of(t)
		if _, ok := named[name]; !ok {
			order = append(order, name)
		}
		named[name] = append(named[name], parts...)
	}
	return named, order
}
