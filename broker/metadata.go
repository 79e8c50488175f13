package broker

// Metadata: v0-v13.
//
// A single broker is the only broker, the controller and the leader of
// every partition, with leader epoch 0 and itself as the only replica and
// ISR. In the cluster mode the brokers are the live ones (each with its
// advertised listener of the connection's listener name), and each
// partition's leader and leader epoch are its lease's; its replicas and
// ISR are every live broker, the leader first, then the others in the
// order the placement would hand the partition on (leaders.go replicasOf):
// the data is in the bucket, and any live broker can take the partition
// over from there. A partition nobody holds is LEADER_NOT_AVAILABLE.
// Topics are answered sorted by name.
//
// Topics asked for by name that do not exist are created when
// auto.create.topics.enable is true and the request allows it (always before
// v4; allow_auto_topic_creation from v4), with num.partitions partitions;
// otherwise UNKNOWN_TOPIC_OR_PARTITION. Invalid names get
// INVALID_TOPIC_EXCEPTION. Topics asked for by ID (v12+) are looked up, never
// created: UNKNOWN_TOPIC_ID when absent. An ID or a null name before v12 is
// INVALID_REQUEST, as Kafka answers it.
//
// Authorized operations (v8+) are reported when asked for; without ACLs
// (not implemented yet) every operation on a topic or the cluster is
// allowed, which is what Kafka reports with no authorizer configured.

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// Authorized-operation bit sets (bit n is AclOperation n), as Kafka reports
// them when no authorizer restricts anything.
const (
	topicOps = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11 // READ WRITE CREATE DELETE ALTER DESCRIBE DESCRIBE_CONFIGS ALTER_CONFIGS
	// CREATE ALTER DESCRIBE CLUSTER_ACTION DESCRIBE_CONFIGS ALTER_CONFIGS IDEMPOTENT_WRITE CREATE_TOKENS DESCRIBE_TOKENS
	clusterOps  = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<13 | 1<<14
	opsOmitted  = -2147483648
	leaderEpoch = 0
)

func (s *Server) handleMetadata(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)

	bs := s.brokers(r.conn)
	live := make([]int32, 0, len(bs))
	for _, ba := range bs {
		live = append(live, ba.node)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = ba.node, ba.host, ba.port, ba.rack
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID = &s.clusterID
	resp.ControllerID = s.controllerID(bs)
	if req.IncludeClusterAuthorizedOperations && req.Version <= 10 {
		resp.AuthorizedOperations = clusterOps
	}

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if allTopics {
		ts := s.topics.all()
		slices.SortFunc(ts, func(a, b *topic) int { return strings.Compare(a.Name, b.Name) })
		for _, t := range ts {
			resp.Topics = append(resp.Topics, s.metadataTopic(ctx, req, t, live))
		}
		return resp, nil
	}

	if req.Version < 12 {
		for _, rt := range req.Topics {
			if rt.Topic == nil || rt.TopicID != (meta.TopicID{}) {
				return metadataError(req, resp, kerr.InvalidRequest.Code), nil
			}
		}
	}

	autoCreate := s.settings().AutoCreateTopics() && (req.Version < 4 || req.AllowAutoTopicCreation)
	seenName := make(map[string]bool, len(req.Topics))
	seenID := make(map[meta.TopicID]bool)
	for _, rt := range req.Topics {
		if rt.TopicID != (meta.TopicID{}) {
			if seenID[rt.TopicID] {
				continue
			}
			seenID[rt.TopicID] = true
			t := s.topics.getID(rt.TopicID)
			if t == nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.TopicID = rt.TopicID
				mt.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(ctx, req, t, live))
			continue
		}
		name := *rt.Topic
		if seenName[name] {
			continue
		}
		seenName[name] = true
		t := s.topics.get(name)
		if t == nil {
			var err error
			switch {
			case validTopicName(name) != nil:
				err = validTopicName(name)
			case !autoCreate:
				err = kerr.UnknownTopicOrPartition
			case isInternal(name):
				t, err = s.internalTopic(ctx, name)
			default:
				t, err = s.autoCreate(ctx, name)
			}
			if err != nil {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic = kmsg.StringPtr(name)
				mt.IsInternal = isInternal(name)
				mt.ErrorCode = errorCode(err)
				if errors.Is(err, meta.ErrUnavailable) || errors.Is(err, meta.ErrOutcomeUnknown) || errors.Is(err, meta.ErrTopicExists) {
					// Being created (here or through another
					// broker), or the catalog is down: Kafka's
					// answer for a topic not ready yet, which
					// clients retry.
					mt.ErrorCode = kerr.LeaderNotAvailable.Code
				}
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(ctx, req, t, live))
	}
	slices.SortStableFunc(resp.Topics, func(a, b kmsg.MetadataResponseTopic) int {
		return strings.Compare(deref(a.Topic), deref(b.Topic))
	})
	return resp, nil
}

// autoCreate creates a topic with the broker's defaults, as a Metadata or
// (later) FindCoordinator request may. A concurrent creation of the same
// topic is not an error.
func (s *Server) autoCreate(ctx context.Context, name string) (*topic, error) {
	t, err := s.topics.create(ctx, createSpec{name: name, partitions: s.settings().NumPartitions()})
	if errors.Is(err, meta.ErrTopicExists) {
		if t = s.topics.get(name); t != nil {
			return t, nil
		}
	}
	if err != nil {
		s.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "auto-creating topic failed", "topic", name, "err", err)
	}
	return t, err
}

// metadataTopic answers for t; live lists the brokers of the answer.
func (s *Server) metadataTopic(ctx context.Context, req *kmsg.MetadataRequest, t *topic, live []int32) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.Name)
	mt.TopicID = t.ID
	mt.IsInternal = isInternal(t.Name)
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = topicOps
	} else {
		mt.AuthorizedOperations = opsOmitted
	}
	// A log not opened yet (after a restart) is opened now, so that the
	// answer says whether it can be served.
	openNeeded(ctx, t.parts)
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.parts))
	replicas := []int32{s.nodeID}
	for i := range t.parts {
		p := &mt.Partitions[i]
		p.Default()
		p.Partition = int32(i)
		p.Leader = s.nodeID
		p.LeaderEpoch = leaderEpoch
		p.Replicas = replicas
		p.ISR = replicas
		p.OfflineReplicas = []int32{}
		if s.clustered() {
			s.clusterPartition(t.parts[i], t.ReplicationFactor, p, live)
			continue
		}
		if _, err := t.parts[i].opened(); err != nil && !errors.Is(err, errNotOpened) {
			// Its only replica is offline (corrupt data, a failed
			// write or fsync): as Kafka
			// after a log directory failure, no leader, the replica
			// listed offline. Requests sent anyway get
			// KAFKA_STORAGE_ERROR.
			p.ErrorCode = kerr.LeaderNotAvailable.Code
			p.Leader = -1
			p.ISR = []int32{}
			p.OfflineReplicas = replicas
		}
	}
	return mt
}

// metadataError answers a malformed request as Kafka's error response does:
// the error on every requested topic, and at the top level from v13.
func metadataError(req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse, code int16) *kmsg.MetadataResponse {
	resp.ErrorCode = code
	for _, rt := range req.Topics {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = rt.Topic
		mt.TopicID = rt.TopicID
		mt.ErrorCode = code
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// clusterPartition fills p, the answer for part in the cluster mode: its
// lease's holder and epoch; as its replicas and ISR, rf live brokers (all
// for rf 0) in the order the placement would hand the partition on
// (replicasOf), the holder first.
func (s *Server) clusterPartition(part *partition, rf int16, p *kmsg.MetadataResponseTopicPartition, live []int32) {
	key := part.key()
	node, epoch, ok := s.cfg.Cluster.Leader(key)
	if !ok {
		p.ErrorCode = kerr.LeaderNotAvailable.Code
		p.Leader, p.LeaderEpoch = -1, -1
		p.Replicas, p.ISR = []int32{}, []int32{}
		return
	}
	p.Leader, p.LeaderEpoch = node, epoch
	// The replication factor asked at creation (every live broker for a
	// topic created before it was kept), as far as live brokers go.
	n := len(live) + 1
	if rf > 0 {
		n = min(n, int(rf))
	}
	p.Replicas = s.replicasOf(key, node, live, n)
	p.ISR = p.Replicas
	if node != s.nodeID {
		return
	}
	if _, err := part.opened(); err != nil && !errors.Is(err, errNotOpened) && !errors.Is(err, storage.ErrNotLeader) {
		// Offline here (see metadataTopic): the others are in sync
		// still, and take it over once this broker gives it up.
		p.ErrorCode = kerr.LeaderNotAvailable.Code
		p.Leader = -1
		p.ISR = p.Replicas[1:]
		p.OfflineReplicas = []int32{node}
	}
}
