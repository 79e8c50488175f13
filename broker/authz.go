package broker

// Authorization: one point per request, from one table of API to what Kafka
// checks for it.
//
// authorize runs before the handler. A request its principal may not make
// at all is answered here, in the API's own error shape, without reaching
// the handler. A request that names several resources (topics, groups,
// config resources) has the denied ones taken out before the handler sees
// it, and added back to the response with their error afterwards
// (request.post), so that a denied topic is TOPIC_AUTHORIZATION_FAILED
// whether it exists or not: authorization comes before existence, and no
// answer tells a principal that may not describe a topic whether it exists.
// Listings (Metadata for all topics, ListGroups, ListTransactions, OffsetFetch
// of all topics) leave out what the principal may not describe.
//
// The rules are Kafka's KafkaApis checks (4.x), with its error codes:
//
//	Produce            TRANSACTIONAL_ID:WRITE (transactional batches), TOPIC:WRITE
//	Fetch              TOPIC:READ (CLUSTER:CLUSTER_ACTION from a replica)
//	ListOffsets        TOPIC:DESCRIBE
//	Metadata           TOPIC:DESCRIBE (listings filtered), CLUSTER:CREATE or TOPIC:CREATE to auto-create
//	OffsetCommit       GROUP:READ, TOPIC:READ
//	OffsetFetch        GROUP:DESCRIBE, TOPIC:DESCRIBE
//	FindCoordinator    GROUP:DESCRIBE or TRANSACTIONAL_ID:DESCRIBE
//	Join/Sync/Heartbeat/LeaveGroup   GROUP:READ
//	DescribeGroups     GROUP:DESCRIBE; ListGroups CLUSTER:DESCRIBE or each GROUP:DESCRIBE
//	CreateTopics       CLUSTER:CREATE or TOPIC:CREATE; TOPIC:DESCRIBE_CONFIGS for the configs shown
//	DeleteTopics       TOPIC:DELETE; DeleteRecords TOPIC:DELETE; CreatePartitions TOPIC:ALTER
//	DescribeConfigs    TOPIC:DESCRIBE_CONFIGS, CLUSTER:DESCRIBE_CONFIGS (broker, broker logger), GROUP:DESCRIBE_CONFIGS
//	Share group APIs   see authz_share.go
//	(Incremental)AlterConfigs  TOPIC:ALTER_CONFIGS, CLUSTER:ALTER_CONFIGS
//	InitProducerId     TRANSACTIONAL_ID:WRITE, or CLUSTER:IDEMPOTENT_WRITE or WRITE on any topic
//	AddPartitionsToTxn TRANSACTIONAL_ID:WRITE, TOPIC:WRITE (v4+, from brokers: CLUSTER:CLUSTER_ACTION)
//	AddOffsetsToTxn    TRANSACTIONAL_ID:WRITE, GROUP:READ; EndTxn TRANSACTIONAL_ID:WRITE
//	TxnOffsetCommit    TRANSACTIONAL_ID:WRITE, GROUP:READ, TOPIC:READ
//	DescribeProducers  TOPIC:READ; DescribeTransactions and ListTransactions TRANSACTIONAL_ID:DESCRIBE
//	DeleteGroups       GROUP:DELETE; OffsetDelete GROUP:DELETE, TOPIC:READ
//	ConsumerGroupHeartbeat  GROUP:READ, TOPIC:DESCRIBE of the subscribed topics; ConsumerGroupDescribe GROUP:DESCRIBE
//	DescribeCluster, ListPartitionReassignments, DescribeLogDirs, DescribeAcls,
//	DescribeUserScramCredentials          CLUSTER:DESCRIBE
//	ElectLeaders, AlterPartitionReassignments, CreateAcls, DeleteAcls,
//	AlterUserScramCredentials             CLUSTER:ALTER
//	DescribeClientQuotas CLUSTER:DESCRIBE_CONFIGS; AlterClientQuotas CLUSTER:ALTER_CONFIGS
//	OffsetForLeaderEpoch TOPIC:DESCRIBE (CLUSTER:CLUSTER_ACTION from a replica)
//	CreateDelegationToken  USER:CREATE_TOKENS for another owner; DescribeDelegationToken
//	                   DELEGATION_TOKEN:DESCRIBE or USER:DESCRIBE_TOKENS (listing filtered);
//	                   Renew/ExpireDelegationToken the token's owner, requester or renewers
//	ApiVersions, SaslHandshake, SaslAuthenticate   none
//
// KIP-430: Metadata, DescribeCluster, DescribeGroups and
// ConsumerGroupDescribe report the operations the principal may do when
// asked. Each denial is counted (streamhouse_authorization_denials_total) and
// logged as an audit line, at most one a second with a count of the rest.

import (
	"context"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
	"github.com/streamhouse/streamhouse/meta"
)

// authzRule is one API's authorization: what it checks (for the table's
// completeness test and the documentation above) and the check itself,
// which answers a request denied whole, or trims the request and sets
// request.post; nil for APIs without checks.
type authzRule struct {
	checks string
	apply  func(z *authz, r *request) kmsg.Response
}

// authzInHandler are the APIs whose handler checks what their entry says,
// as it needs what the catalog holds (the delegation token APIs,
// delegationtoken.go): their entries have no apply.
var authzInHandler = map[int16]bool{
	int16(kmsg.CreateDelegationToken):   true,
	int16(kmsg.DescribeDelegationToken): true,
}

// authz is one request's authorization context.
type authz struct {
	s         *Server
	a         *auth.Authorizer
	principal string
	host      string
	api       string
}

// authorize applies the API's rule; a non-nil response answers the request
// without its handler.
func (s *Server) authorize(_ context.Context, r *request) kmsg.Response {
	if s.cfg.Authorizer == nil {
		return nil
	}
	rule := authzRules[r.header.Key]
	if rule.apply == nil {
		return nil
	}
	z := &authz{s: s, a: s.cfg.Authorizer, principal: r.conn.principal, host: r.conn.ip, api: kmsg.NameForKey(r.header.Key)}
	return rule.apply(z, r)
}

// can decides, and counts and logs a denial (Kafka's logIfDenied).
func (z *authz) can(op auth.Operation, rt auth.ResourceType, name string) bool {
	if z.a.Authorize(z.principal, z.host, op, rt, name) {
		return true
	}
	z.denied(op, rt, name)
	return false
}

// quiet decides without logging a denial: for listings filtered by what the
// principal may see, and for alternatives tried before the one that logs.
func (z *authz) quiet(op auth.Operation, rt auth.ResourceType, name string) bool {
	return z.a.Authorize(z.principal, z.host, op, rt, name)
}

func (z *authz) denied(op auth.Operation, rt auth.ResourceType, name string) {
	s := z.s
	s.cfg.Metrics.Denied(z.api, rt.String())
	if n, ok := s.denyLog.allow(s.now()); ok {
		s.log.Info("authorization denied", "principal", z.principal, "host", z.host, "operation", op.String(),
			"resource_type", rt.String(), "resource", name, "api", z.api, "suppressed_since_last", n)
	}
}

func (z *authz) cluster(op auth.Operation) bool {
	return z.can(op, auth.ResourceCluster, auth.ClusterName)
}

func (z *authz) topic(op auth.Operation, name string) bool {
	return z.can(op, auth.ResourceTopic, name)
}

func (z *authz) group(op auth.Operation, name string) bool {
	return z.can(op, auth.ResourceGroup, name)
}

func (z *authz) txn(op auth.Operation, id string) bool {
	return z.can(op, auth.ResourceTransactionalID, id)
}

// createTopic is Kafka's rule for creating a topic: CREATE on the cluster
// or on the topic.
func (z *authz) createTopic(name string) bool {
	return z.quiet(auth.OpCreate, auth.ResourceCluster, auth.ClusterName) || z.topic(auth.OpCreate, name)
}

// ops is the KIP-430 bit set of the operations the principal may do on a
// resource (bit n for operation n).
func (z *authz) ops(rt auth.ResourceType, name string) int32 {
	var bits int32
	for _, op := range auth.Operations(rt) {
		if z.quiet(op, rt, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// topicName names a topic given by name or, when byID, by its ID; ok is
// false for an unknown ID (left to the handler: UNKNOWN_TOPIC_ID).
func (z *authz) topicName(name string, id [16]byte, byID bool) (string, bool) {
	if !byID {
		return name, true
	}
	t := z.s.topics.getID(meta.TopicID(id))
	if t == nil {
		return "", false
	}
	return t.Name, true
}

// split keeps the elements ok allows and returns the others; it allocates
// only when something is denied.
func split[T any](xs []T, ok func(*T) bool) (kept, denied []T) {
	for i := range xs {
		if ok(&xs[i]) {
			if denied != nil {
				kept = append(kept, xs[i])
			}
			continue
		}
		if denied == nil {
			kept = append(make([]T, 0, len(xs)), xs[:i]...)
		}
		denied = append(denied, xs[i])
	}
	if denied == nil {
		return xs, nil
	}
	return kept, denied
}

func filterSlice[T any](xs []T, ok func(*T) bool) []T {
	kept, _ := split(xs, ok)
	return kept
}

var (
	codeTopic   = kerr.TopicAuthorizationFailed.Code
	codeGroup   = kerr.GroupAuthorizationFailed.Code
	codeCluster = kerr.ClusterAuthorizationFailed.Code
	codeTxn     = kerr.TransactionalIDAuthorizationFailed.Code
)

// authzRules is the table: every API the broker serves has an entry
// (TestAuthzTableComplete).
var authzRules = map[int16]authzRule{
	int16(kmsg.ApiVersions):      {checks: "none"},
	int16(kmsg.SASLHandshake):    {checks: "none"},
	int16(kmsg.SASLAuthenticate): {checks: "none"},

	int16(kmsg.Produce):                 {"TRANSACTIONAL_ID:WRITE TOPIC:WRITE", authzProduce},
	int16(kmsg.Fetch):                   {"TOPIC:READ CLUSTER:CLUSTER_ACTION", authzFetch},
	int16(kmsg.ListOffsets):             {"TOPIC:DESCRIBE", authzListOffsets},
	int16(kmsg.Metadata):                {"TOPIC:DESCRIBE TOPIC:CREATE CLUSTER:CREATE", authzMetadata},
	int16(kmsg.OffsetCommit):            {"GROUP:READ TOPIC:READ", authzOffsetCommit},
	int16(kmsg.OffsetFetch):             {"GROUP:DESCRIBE TOPIC:DESCRIBE", authzOffsetFetch},
	int16(kmsg.FindCoordinator):         {"GROUP:DESCRIBE TRANSACTIONAL_ID:DESCRIBE", authzFindCoordinator},
	int16(kmsg.JoinGroup):               {"GROUP:READ", authzGroupRead},
	int16(kmsg.SyncGroup):               {"GROUP:READ", authzGroupRead},
	int16(kmsg.Heartbeat):               {"GROUP:READ", authzGroupRead},
	int16(kmsg.LeaveGroup):              {"GROUP:READ", authzGroupRead},
	int16(kmsg.DescribeGroups):          {"GROUP:DESCRIBE", authzDescribeGroups},
	int16(kmsg.ListGroups):              {"CLUSTER:DESCRIBE GROUP:DESCRIBE", authzListGroups},
	int16(kmsg.CreateTopics):            {"CLUSTER:CREATE TOPIC:CREATE TOPIC:DESCRIBE_CONFIGS", authzCreateTopics},
	int16(kmsg.DeleteTopics):            {"TOPIC:DELETE", authzDeleteTopics},
	int16(kmsg.DeleteRecords):           {"TOPIC:DELETE", authzDeleteRecords},
	int16(kmsg.DescribeConfigs):         {"TOPIC:DESCRIBE_CONFIGS CLUSTER:DESCRIBE_CONFIGS", authzDescribeConfigs},
	int16(kmsg.AlterConfigs):            {"TOPIC:ALTER_CONFIGS CLUSTER:ALTER_CONFIGS", authzAlterConfigs},
	int16(kmsg.IncrementalAlterConfigs): {"TOPIC:ALTER_CONFIGS CLUSTER:ALTER_CONFIGS", authzIncrementalAlterConfigs},
	int16(kmsg.CreatePartitions):        {"TOPIC:ALTER", authzCreatePartitions},
	int16(kmsg.InitProducerID):          {"TRANSACTIONAL_ID:WRITE CLUSTER:IDEMPOTENT_WRITE TOPIC:WRITE", authzInitProducerID},
	int16(kmsg.OffsetForLeaderEpoch):    {"TOPIC:DESCRIBE CLUSTER:CLUSTER_ACTION", authzOffsetForLeaderEpoch},
	int16(kmsg.AddPartitionsToTxn):      {"TRANSACTIONAL_ID:WRITE TOPIC:WRITE CLUSTER:CLUSTER_ACTION", authzAddPartitionsToTxn},
	int16(kmsg.AddOffsetsToTxn):         {"TRANSACTIONAL_ID:WRITE GROUP:READ", authzAddOffsetsToTxn},
	int16(kmsg.EndTxn):                  {"TRANSACTIONAL_ID:WRITE", authzEndTxn},
	int16(kmsg.TxnOffsetCommit):         {"TRANSACTIONAL_ID:WRITE GROUP:READ TOPIC:READ", authzTxnOffsetCommit},
	int16(kmsg.DescribeProducers):       {"TOPIC:READ", authzDescribeProducers},
	int16(kmsg.DescribeTransactions):    {"TRANSACTIONAL_ID:DESCRIBE TOPIC:DESCRIBE", authzDescribeTransactions},
	int16(kmsg.ListTransactions):        {"TRANSACTIONAL_ID:DESCRIBE", authzListTransactions},
	int16(kmsg.DeleteGroups):            {"GROUP:DELETE", authzDeleteGroups},
	int16(kmsg.OffsetDelete):            {"GROUP:DELETE TOPIC:READ", authzOffsetDelete},
	int16(kmsg.ConsumerGroupHeartbeat):  {"GROUP:READ TOPIC:DESCRIBE", authzConsumerGroupHeartbeat},
	int16(kmsg.ConsumerGroupDescribe):   {"GROUP:DESCRIBE", authzConsumerGroupDescribe},
	int16(kmsg.DescribeCluster):         {"CLUSTER:DESCRIBE", authzDescribeCluster},
	int16(kmsg.ElectLeaders):            {"CLUSTER:ALTER", authzElectLeaders},
	int16(kmsg.AlterPartitionAssignments): {"CLUSTER:ALTER", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpAlter) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.ErrorCode = codeCluster
		return resp
	}},
	int16(kmsg.ListPartitionReassignments): {"CLUSTER:DESCRIBE", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpDescribe) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode = codeCluster
		return resp
	}},
	int16(kmsg.DescribeLogDirs): {"CLUSTER:DESCRIBE", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpDescribe) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.DescribeLogDirsResponse)
		resp.ErrorCode = codeCluster // v3+; older versions get no directories
		return resp
	}},
	int16(kmsg.DescribeClientQuotas): {"CLUSTER:DESCRIBE_CONFIGS", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpDescribeConfigs) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
		resp.ErrorCode = codeCluster
		return resp
	}},
	int16(kmsg.AlterClientQuotas): {"CLUSTER:ALTER_CONFIGS", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpAlterConfigs) {
			return nil
		}
		req := r.kreq.(*kmsg.AlterClientQuotasRequest)
		resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			re.ErrorCode = codeCluster
			for _, p := range e.Entity {
				en := kmsg.NewAlterClientQuotasResponseEntryEntity()
				en.Type, en.Name = p.Type, p.Name
				re.Entity = append(re.Entity, en)
			}
			resp.Entries = append(resp.Entries, re)
		}
		return resp
	}},
	int16(kmsg.DescribeACLs): {"CLUSTER:DESCRIBE", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpDescribe) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.DescribeACLsResponse)
		resp.ErrorCode = codeCluster
		return resp
	}},
	int16(kmsg.CreateACLs): {"CLUSTER:ALTER", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpAlter) {
			return nil
		}
		req := r.kreq.(*kmsg.CreateACLsRequest)
		resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
		resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
		for i := range resp.Results {
			resp.Results[i].ErrorCode = codeCluster
		}
		return resp
	}},
	int16(kmsg.DeleteACLs): {"CLUSTER:ALTER", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpAlter) {
			return nil
		}
		req := r.kreq.(*kmsg.DeleteACLsRequest)
		resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
		resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
		for i := range resp.Results {
			resp.Results[i].ErrorCode = codeCluster
		}
		return resp
	}},
	int16(kmsg.DescribeUserSCRAMCredentials): {"CLUSTER:DESCRIBE", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpDescribe) {
			return nil
		}
		resp := r.kreq.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
		resp.ErrorCode = codeCluster
		return resp
	}},
	int16(kmsg.AlterUserSCRAMCredentials): {"CLUSTER:ALTER", func(z *authz, r *request) kmsg.Response {
		if z.cluster(auth.OpAlter) {
			return nil
		}
		req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
		resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		seen := map[string]bool{}
		add := func(u string) {
			if !seen[u] {
				seen[u] = true
				res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				res.User, res.ErrorCode = u, codeCluster
				resp.Results = append(resp.Results, res)
			}
		}
		for _, d := range req.Deletions {
			add(d.Name)
		}
		for _, u := range req.Upsertions {
			add(u.Name)
		}
		return resp
	}},

	// Delegation tokens (delegationtoken.go): Renew and Expire check the
	// token's owner, requester and renewers, not ACLs.
	int16(kmsg.CreateDelegationToken):   {checks: "USER:CREATE_TOKENS (a token for another owner)"},
	int16(kmsg.RenewDelegationToken):    {checks: "none"},
	int16(kmsg.ExpireDelegationToken):   {checks: "none"},
	int16(kmsg.DescribeDelegationToken): {checks: "DELEGATION_TOKEN:DESCRIBE USER:DESCRIBE_TOKENS (tokens listed)"},

	// Share groups (authz_share.go).
	int16(kmsg.ShareGroupHeartbeat):       {"GROUP:READ TOPIC:DESCRIBE", authzShareGroupHeartbeat},
	int16(kmsg.ShareGroupDescribe):        {"GROUP:DESCRIBE", authzShareGroupDescribe},
	int16(kmsg.ShareFetch):                {"GROUP:READ TOPIC:READ", authzShareFetch},
	int16(kmsg.ShareAcknowledge):          {"GROUP:READ TOPIC:READ", authzShareAcknowledge},
	int16(kmsg.DescribeShareGroupOffsets): {"GROUP:DESCRIBE TOPIC:DESCRIBE", authzDescribeShareGroupOffsets},
	int16(kmsg.AlterShareGroupOffsets):    {"GROUP:READ TOPIC:READ", authzAlterShareGroupOffsets},
	int16(kmsg.DeleteShareGroupOffsets):   {"GROUP:DELETE TOPIC:READ", authzDeleteShareGroupOffsets},
}

// transactionalBatches reports whether any batch of a produce request is
// transactional (attributes bit 4 of a RecordBatch v2 header).
func transactionalBatches(req *kmsg.ProduceRequest) bool {
	for i := range req.Topics {
		for j := range req.Topics[i].Partitions {
			if b := req.Topics[i].Partitions[j].Records; len(b) >= 23 && binary.BigEndian.Uint16(b[21:23])&0x10 != 0 {
				return true
			}
		}
	}
	return false
}

func authzProduce(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ProduceRequest)
	byID := req.Version >= 13
	if req.TransactionID != nil || transactionalBatches(req) {
		if req.TransactionID == nil || !z.txn(auth.OpWrite, *req.TransactionID) {
			resp := req.ResponseKind().(*kmsg.ProduceResponse)
			for _, t := range req.Topics {
				resp.Topics = append(resp.Topics, produceDenied(t, kerr.TransactionalIDAuthorizationFailed.Code))
			}
			return resp
		}
	}
	kept, denied := split(req.Topics, func(t *kmsg.ProduceRequestTopic) bool {
		name, ok := z.topicName(t.Topic, t.TopicID, byID)
		return !ok || z.topic(auth.OpWrite, name)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		pr := resp.(*kmsg.ProduceResponse)
		for _, t := range denied {
			pr.Topics = append(pr.Topics, produceDenied(t, codeTopic))
		}
	}
	return nil
}

func produceDenied(t kmsg.ProduceRequestTopic, code int16) kmsg.ProduceResponseTopic {
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic, rt.TopicID = t.Topic, t.TopicID
	for _, p := range t.Partitions {
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.Partition, rp.ErrorCode = p.Partition, code
		rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	return rt
}

func authzFetch(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.FetchRequest)
	byID := req.Version >= 13
	follower := req.ReplicaID >= 0 || req.ReplicaState.ID >= 0
	allowedFollower := follower && z.cluster(auth.OpClusterAction)
	kept, denied := split(req.Topics, func(t *kmsg.FetchRequestTopic) bool {
		if follower {
			return allowedFollower
		}
		name, ok := z.topicName(t.Topic, t.TopicID, byID)
		return !ok || z.topic(auth.OpRead, name)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		fr := resp.(*kmsg.FetchResponse)
		for _, t := range denied {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	}
	return nil
}

func authzListOffsets(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	kept, denied := split(req.Topics, func(t *kmsg.ListOffsetsRequestTopic) bool { return z.topic(auth.OpDescribe, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Timestamp, rp.Offset, rp.LeaderEpoch = p.Partition, codeTopic, -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			lr.Topics = append(lr.Topics, rt)
		}
	}
	return nil
}

func authzMetadata(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.MetadataRequest)
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	var denied []kmsg.MetadataResponseTopic
	if !all {
		autoCreate := z.s.settings().AutoCreateTopics() && (req.Version < 4 || req.AllowAutoTopicCreation)
		req.Topics = filterSlice(req.Topics, func(t *kmsg.MetadataRequestTopic) bool {
			var name string
			if t.Topic != nil {
				name = *t.Topic
			} else if tp := z.s.topics.getID(meta.TopicID(t.TopicID)); tp != nil {
				name = tp.Name
			} else {
				return true // an unknown ID: the handler answers UNKNOWN_TOPIC_ID
			}
			ok := z.topic(auth.OpDescribe, name)
			if ok && autoCreate && t.Topic != nil && z.s.topics.get(name) == nil {
				// Kafka: a topic the principal may see but not
				// create is not auto-created.
				ok = z.createTopic(name)
			}
			if !ok {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic, mt.TopicID, mt.ErrorCode = t.Topic, t.TopicID, codeTopic
				mt.AuthorizedOperations = opsOmitted
				denied = append(denied, mt)
			}
			return ok
		})
	}
	r.post = func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		if all {
			mr.Topics = filterSlice(mr.Topics, func(t *kmsg.MetadataResponseTopic) bool {
				return t.Topic != nil && z.quiet(auth.OpDescribe, auth.ResourceTopic, *t.Topic)
			})
		}
		if req.IncludeTopicAuthorizedOperations {
			for i := range mr.Topics {
				if t := &mr.Topics[i]; t.ErrorCode == 0 && t.Topic != nil {
					t.AuthorizedOperations = z.ops(auth.ResourceTopic, *t.Topic)
				}
			}
		}
		if req.IncludeClusterAuthorizedOperations && req.Version <= 10 {
			mr.AuthorizedOperations = z.ops(auth.ResourceCluster, auth.ClusterName)
		}
		mr.Topics = append(mr.Topics, denied...)
	}
	return nil
}

func authzOffsetCommit(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetCommitRequest)
	byID := req.Version >= 10
	deny := func(topics []kmsg.OffsetCommitRequestTopic, code int16) []kmsg.OffsetCommitResponseTopic {
		var out []kmsg.OffsetCommitResponseTopic
		for _, t := range topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out = append(out, rt)
		}
		return out
	}
	if !z.group(auth.OpRead, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		resp.Topics = deny(req.Topics, codeGroup)
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.OffsetCommitRequestTopic) bool {
		name, ok := z.topicName(t.Topic, t.TopicID, byID)
		return !ok || z.topic(auth.OpRead, name)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetCommitResponse)
		or.Topics = append(or.Topics, deny(denied, codeTopic)...)
	}
	return nil
}

func authzOffsetFetch(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetFetchRequest)
	if req.Version <= 7 {
		if !z.group(auth.OpDescribe, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = codeGroup
			if req.Version < 2 {
				for _, t := range req.Topics {
					rt := kmsg.NewOffsetFetchResponseTopic()
					rt.Topic = t.Topic
					for _, p := range t.Partitions {
						rp := kmsg.NewOffsetFetchResponseTopicPartition()
						rp.Partition, rp.Offset, rp.ErrorCode = p, -1, codeGroup
						rt.Partitions = append(rt.Partitions, rp)
					}
					resp.Topics = append(resp.Topics, rt)
				}
			}
			return resp
		}
		allTopics := req.Topics == nil
		kept, denied := split(req.Topics, func(t *kmsg.OffsetFetchRequestTopic) bool { return z.topic(auth.OpDescribe, t.Topic) })
		req.Topics = kept
		r.post = func(resp kmsg.Response) {
			or := resp.(*kmsg.OffsetFetchResponse)
			if allTopics {
				or.Topics = filterSlice(or.Topics, func(t *kmsg.OffsetFetchResponseTopic) bool {
					return z.quiet(auth.OpDescribe, auth.ResourceTopic, t.Topic)
				})
			}
			for _, t := range denied {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, codeTopic
					rt.Partitions = append(rt.Partitions, rp)
				}
				or.Topics = append(or.Topics, rt)
			}
		}
		return nil
	}
	// v8+: several groups, each with its own error.
	byID := req.Version >= 10
	var deniedGroups []string
	type groupDenied struct {
		group  string
		all    bool
		topics []kmsg.OffsetFetchRequestGroupTopic
	}
	var perGroup []groupDenied
	req.Groups = filterSlice(req.Groups, func(g *kmsg.OffsetFetchRequestGroup) bool {
		if !z.group(auth.OpDescribe, g.Group) {
			deniedGroups = append(deniedGroups, g.Group)
			return false
		}
		all := g.Topics == nil
		kept, denied := split(g.Topics, func(t *kmsg.OffsetFetchRequestGroupTopic) bool {
			name, ok := z.topicName(t.Topic, t.TopicID, byID)
			return !ok || z.topic(auth.OpDescribe, name)
		})
		g.Topics = kept
		perGroup = append(perGroup, groupDenied{g.Group, all, denied})
		return true
	})
	r.post = func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		for _, pg := range perGroup {
			for i := range or.Groups {
				g := &or.Groups[i]
				if g.Group != pg.group {
					continue
				}
				if pg.all {
					g.Topics = filterSlice(g.Topics, func(t *kmsg.OffsetFetchResponseGroupTopic) bool {
						name, ok := z.topicName(t.Topic, t.TopicID, byID)
						return ok && z.quiet(auth.OpDescribe, auth.ResourceTopic, name)
					})
				}
				for _, t := range pg.topics {
					rt := kmsg.NewOffsetFetchResponseGroupTopic()
					rt.Topic, rt.TopicID = t.Topic, t.TopicID
					for _, p := range t.Partitions {
						rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
						rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, codeTopic
						rt.Partitions = append(rt.Partitions, rp)
					}
					g.Topics = append(g.Topics, rt)
				}
			}
		}
		for _, name := range deniedGroups {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = name, codeGroup
			or.Groups = append(or.Groups, g)
		}
	}
	return nil
}

func authzFindCoordinator(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.FindCoordinatorRequest)
	check := func(key string) (bool, int16) {
		if req.CoordinatorType == coordinatorTransaction {
			return z.txn(auth.OpDescribe, key), codeTxn
		}
		return z.group(auth.OpDescribe, key), codeGroup
	}
	if req.Version <= 3 {
		if ok, code := check(req.CoordinatorKey); !ok {
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			return resp
		}
		return nil
	}
	var denied []kmsg.FindCoordinatorResponseCoordinator
	req.CoordinatorKeys = filterSlice(req.CoordinatorKeys, func(k *string) bool {
		ok, code := check(*k)
		if !ok {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = *k, -1, -1, code
			denied = append(denied, c)
		}
		return ok
	})
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			fr := resp.(*kmsg.FindCoordinatorResponse)
			fr.Coordinators = append(fr.Coordinators, denied...)
		}
	}
	return nil
}

func authzGroupRead(z *authz, r *request) kmsg.Response {
	var group string
	switch req := r.kreq.(type) {
	case *kmsg.JoinGroupRequest:
		group = req.Group
	case *kmsg.SyncGroupRequest:
		group = req.Group
	case *kmsg.HeartbeatRequest:
		group = req.Group
	case *kmsg.LeaveGroupRequest:
		group = req.Group
	}
	if z.group(auth.OpRead, group) {
		return nil
	}
	switch resp := r.kreq.ResponseKind().(type) {
	case *kmsg.JoinGroupResponse:
		resp.ErrorCode, resp.Generation = codeGroup, -1
		return resp
	case *kmsg.SyncGroupResponse:
		resp.ErrorCode = codeGroup
		return resp
	case *kmsg.HeartbeatResponse:
		resp.ErrorCode = codeGroup
		return resp
	case *kmsg.LeaveGroupResponse:
		resp.ErrorCode = codeGroup
		return resp
	}
	return nil
}

func authzDescribeGroups(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeGroupsRequest)
	authzDescribeGroupList(z, r, &req.Groups, req.IncludeAuthorizedOperations, kmsg.NewDescribeGroupsResponseGroup,
		func(g *kmsg.DescribeGroupsResponseGroup) (*string, *int16, *int32) {
			return &g.Group, &g.ErrorCode, &g.AuthorizedOperations
		},
		func(resp kmsg.Response) *[]kmsg.DescribeGroupsResponseGroup {
			return &resp.(*kmsg.DescribeGroupsResponse).Groups
		})
	return nil
}

// authzDescribeGroupList is the check DescribeGroups, ConsumerGroupDescribe
// and ShareGroupDescribe share: a group the principal may not DESCRIBE is
// answered GROUP_AUTHORIZATION_FAILED here (newGroup makes its entry,
// fields names its id, error code and authorized operations), the others go
// to the handler, and those it answered without error get their
// authorized operations when the request asks for them.
func authzDescribeGroupList[G any](z *authz, r *request, ids *[]string, include bool, newGroup func() G,
	fields func(*G) (*string, *int16, *int32), groups func(kmsg.Response) *[]G) {
	var denied []G
	*ids = filterSlice(*ids, func(g *string) bool {
		ok := z.group(auth.OpDescribe, *g)
		if !ok {
			d := newGroup()
			id, code, ops := fields(&d)
			*id, *code, *ops = *g, codeGroup, opsOmitted
			denied = append(denied, d)
		}
		return ok
	})
	r.post = func(resp kmsg.Response) {
		gs := groups(resp)
		if include {
			for i := range *gs {
				if id, code, ops := fields(&(*gs)[i]); *code == 0 {
					*ops = z.ops(auth.ResourceGroup, *id)
				}
			}
		}
		*gs = append(*gs, denied...)
	}
}

func authzListGroups(z *authz, r *request) kmsg.Response {
	if z.quiet(auth.OpDescribe, auth.ResourceCluster, auth.ClusterName) {
		return nil
	}
	r.post = func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		lr.Groups = filterSlice(lr.Groups, func(g *kmsg.ListGroupsResponseGroup) bool {
			return z.quiet(auth.OpDescribe, auth.ResourceGroup, g.Group)
		})
	}
	return nil
}

func authzCreateTopics(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.CreateTopicsRequest)
	kept, denied := split(req.Topics, func(t *kmsg.CreateTopicsRequestTopic) bool { return z.createTopic(t.Topic) })
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		if req.Version >= 5 {
			for i := range cr.Topics {
				t := &cr.Topics[i]
				if t.ErrorCode == 0 && !z.quiet(auth.OpDescribeConfigs, auth.ResourceTopic, t.Topic) {
					t.NumPartitions, t.ReplicationFactor, t.Configs = -1, -1, nil
					t.ConfigErrorCode = codeTopic
				}
			}
		}
		for _, t := range denied {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode, rt.NumPartitions, rt.ReplicationFactor = t.Topic, codeTopic, -1, -1
			cr.Topics = append(cr.Topics, rt)
		}
	}
	return nil
}

func authzDeleteTopics(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	var denied []kmsg.DeleteTopicsResponseTopic
	deny := func(name *string, id [16]byte) {
		d := kmsg.NewDeleteTopicsResponseTopic()
		d.Topic, d.TopicID, d.ErrorCode = name, id, codeTopic
		denied = append(denied, d)
	}
	if req.Version <= 5 {
		req.TopicNames = filterSlice(req.TopicNames, func(n *string) bool {
			ok := z.topic(auth.OpDelete, *n)
			if !ok {
				name := *n
				deny(&name, [16]byte{})
			}
			return ok
		})
	} else {
		req.Topics = filterSlice(req.Topics, func(t *kmsg.DeleteTopicsRequestTopic) bool {
			if t.Topic != nil {
				ok := z.topic(auth.OpDelete, *t.Topic)
				if !ok {
					deny(t.Topic, t.TopicID)
				}
				return ok
			}
			tp := z.s.topics.getID(meta.TopicID(t.TopicID))
			if tp == nil {
				return true // UNKNOWN_TOPIC_ID from the handler
			}
			if !z.topic(auth.OpDescribe, tp.Name) {
				deny(nil, t.TopicID) // not even its name is told
				return false
			}
			if !z.topic(auth.OpDelete, tp.Name) {
				name := tp.Name
				deny(&name, t.TopicID)
				return false
			}
			return true
		})
	}
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			dr := resp.(*kmsg.DeleteTopicsResponse)
			dr.Topics = append(dr.Topics, denied...)
		}
	}
	return nil
}

func authzDeleteRecords(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	kept, denied := split(req.Topics, func(t *kmsg.DeleteRecordsRequestTopic) bool { return z.topic(auth.OpDelete, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	}
	return nil
}

// configResource decides a config resource (topic, broker, broker
// logger) and returns the error code of a denial.
func (z *authz) configResource(rtype kmsg.ConfigResourceType, name string, topicOp auth.Operation) (bool, int16) {
	switch rtype {
	case kmsg.ConfigResourceTypeTopic:
		return z.topic(topicOp, name), codeTopic
	case kmsg.ConfigResourceTypeGroupConfig:
		return z.group(topicOp, name), codeGroup
	}
	return z.cluster(topicOp), codeCluster
}

func authzDescribeConfigs(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeConfigsRequest)
	var denied []kmsg.DescribeConfigsResponseResource
	req.Resources = filterSlice(req.Resources, func(res *kmsg.DescribeConfigsRequestResource) bool {
		ok, code := z.configResource(res.ResourceType, res.ResourceName, auth.OpDescribeConfigs)
		if !ok {
			d := kmsg.NewDescribeConfigsResponseResource()
			d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
			denied = append(denied, d)
		}
		return ok
	})
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			dr := resp.(*kmsg.DescribeConfigsResponse)
			dr.Resources = append(dr.Resources, denied...)
		}
	}
	return nil
}

func authzAlterConfigs(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.AlterConfigsRequest)
	var denied []kmsg.AlterConfigsResponseResource
	req.Resources = filterSlice(req.Resources, func(res *kmsg.AlterConfigsRequestResource) bool {
		ok, code := z.configResource(res.ResourceType, res.ResourceName, auth.OpAlterConfigs)
		if !ok {
			d := kmsg.NewAlterConfigsResponseResource()
			d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
			denied = append(denied, d)
		}
		return ok
	})
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			ar := resp.(*kmsg.AlterConfigsResponse)
			ar.Resources = append(ar.Resources, denied...)
		}
	}
	return nil
}

func authzIncrementalAlterConfigs(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.IncrementalAlterConfigsRequest)
	var denied []kmsg.IncrementalAlterConfigsResponseResource
	req.Resources = filterSlice(req.Resources, func(res *kmsg.IncrementalAlterConfigsRequestResource) bool {
		ok, code := z.configResource(res.ResourceType, res.ResourceName, auth.OpAlterConfigs)
		if !ok {
			d := kmsg.NewIncrementalAlterConfigsResponseResource()
			d.ResourceType, d.ResourceName, d.ErrorCode = res.ResourceType, res.ResourceName, code
			denied = append(denied, d)
		}
		return ok
	})
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			ar := resp.(*kmsg.IncrementalAlterConfigsResponse)
			ar.Resources = append(ar.Resources, denied...)
		}
	}
	return nil
}

func authzCreatePartitions(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.CreatePartitionsRequest)
	kept, denied := split(req.Topics, func(t *kmsg.CreatePartitionsRequestTopic) bool { return z.topic(auth.OpAlter, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range denied {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, codeTopic
			cr.Topics = append(cr.Topics, rt)
		}
	}
	return nil
}

func authzInitProducerID(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.InitProducerIDRequest)
	var code int16
	if req.TransactionalID != nil {
		if !z.txn(auth.OpWrite, *req.TransactionalID) {
			code = codeTxn
		}
	} else if !z.quiet(auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterName) &&
		!z.a.AuthorizeAny(z.principal, z.host, auth.OpWrite, auth.ResourceTopic) {
		z.denied(auth.OpIdempotentWrite, auth.ResourceCluster, auth.ClusterName)
		code = codeCluster
	}
	if code == 0 {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	return resp
}

func authzOffsetForLeaderEpoch(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetForLeaderEpochRequest)
	follower := req.Version >= 3 && req.ReplicaID >= 0
	allowedFollower := follower && z.cluster(auth.OpClusterAction)
	kept, denied := split(req.Topics, func(t *kmsg.OffsetForLeaderEpochRequestTopic) bool {
		if follower {
			return allowedFollower
		}
		return z.topic(auth.OpDescribe, t.Topic)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, codeTopic, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
	return nil
}

func authzAddPartitionsToTxn(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.AddPartitionsToTxnRequest)
	if req.Version >= 4 {
		// Batched by brokers for verification (KIP-890): a broker's
		// right, CLUSTER_ACTION.
		if z.cluster(auth.OpClusterAction) {
			return nil
		}
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		resp.ErrorCode = codeCluster
		return resp
	}
	answer := func(code func(topic string) int16) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			c := code(t.Topic)
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, c
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if !z.txn(auth.OpWrite, req.TransactionalID) {
		return answer(func(string) int16 { return codeTxn })
	}
	denied := map[string]bool{}
	for _, t := range req.Topics {
		if !z.topic(auth.OpWrite, t.Topic) {
			denied[t.Topic] = true
		}
	}
	if len(denied) == 0 {
		return nil
	}
	// Kafka adds nothing when any topic is denied: the others are
	// OPERATION_NOT_ATTEMPTED.
	return answer(func(t string) int16 {
		if denied[t] {
			return codeTopic
		}
		return kerr.OperationNotAttempted.Code
	})
}

func authzAddOffsetsToTxn(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.AddOffsetsToTxnRequest)
	var code int16
	switch {
	case !z.txn(auth.OpWrite, req.TransactionalID):
		code = codeTxn
	case !z.group(auth.OpRead, req.Group):
		code = codeGroup
	default:
		return nil
	}
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	resp.ErrorCode = code
	return resp
}

func authzEndTxn(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.EndTxnRequest)
	if z.txn(auth.OpWrite, req.TransactionalID) {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = codeTxn, -1, -1
	return resp
}

func authzTxnOffsetCommit(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.TxnOffsetCommitRequest)
	byID := req.Version >= 6
	deny := func(topics []kmsg.TxnOffsetCommitRequestTopic, code int16) []kmsg.TxnOffsetCommitResponseTopic {
		var out []kmsg.TxnOffsetCommitResponseTopic
		for _, t := range topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			out = append(out, rt)
		}
		return out
	}
	var code int16
	switch {
	case !z.txn(auth.OpWrite, req.TransactionalID):
		code = codeTxn
	case !z.group(auth.OpRead, req.Group):
		code = codeGroup
	}
	if code != 0 {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		resp.Topics = deny(req.Topics, code)
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.TxnOffsetCommitRequestTopic) bool {
		name, ok := z.topicName(t.Topic, t.TopicID, byID)
		return !ok || z.topic(auth.OpRead, name)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		tr := resp.(*kmsg.TxnOffsetCommitResponse)
		tr.Topics = append(tr.Topics, deny(denied, codeTopic)...)
	}
	return nil
}

func authzDescribeProducers(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeProducersRequest)
	kept, denied := split(req.Topics, func(t *kmsg.DescribeProducersRequestTopic) bool { return z.topic(auth.OpRead, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeProducersResponse)
		for _, t := range denied {
			rt := kmsg.NewDescribeProducersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDescribeProducersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	}
	return nil
}

func authzDescribeTransactions(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeTransactionsRequest)
	var denied []kmsg.DescribeTransactionsResponseTransactionState
	req.TransactionalIDs = filterSlice(req.TransactionalIDs, func(id *string) bool {
		ok := z.txn(auth.OpDescribe, *id)
		if !ok {
			d := kmsg.NewDescribeTransactionsResponseTransactionState()
			d.TransactionalID, d.ErrorCode, d.ProducerID, d.ProducerEpoch = *id, codeTxn, -1, -1
			denied = append(denied, d)
		}
		return ok
	})
	r.post = func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeTransactionsResponse)
		for i := range dr.TransactionStates {
			st := &dr.TransactionStates[i]
			st.Topics = filterSlice(st.Topics, func(t *kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
				return z.quiet(auth.OpDescribe, auth.ResourceTopic, t.Topic)
			})
		}
		dr.TransactionStates = append(dr.TransactionStates, denied...)
	}
	return nil
}

func authzListTransactions(z *authz, r *request) kmsg.Response {
	r.post = func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListTransactionsResponse)
		lr.TransactionStates = filterSlice(lr.TransactionStates, func(t *kmsg.ListTransactionsResponseTransactionState) bool {
			return z.quiet(auth.OpDescribe, auth.ResourceTransactionalID, t.TransactionalID)
		})
	}
	return nil
}

func authzDeleteGroups(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteGroupsRequest)
	var denied []kmsg.DeleteGroupsResponseGroup
	req.Groups = filterSlice(req.Groups, func(g *string) bool {
		ok := z.group(auth.OpDelete, *g)
		if !ok {
			d := kmsg.NewDeleteGroupsResponseGroup()
			d.Group, d.ErrorCode = *g, codeGroup
			denied = append(denied, d)
		}
		return ok
	})
	if denied != nil {
		r.post = func(resp kmsg.Response) {
			dr := resp.(*kmsg.DeleteGroupsResponse)
			dr.Groups = append(dr.Groups, denied...)
		}
	}
	return nil
}

func authzOffsetDelete(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.OffsetDeleteRequest)
	if !z.group(auth.OpDelete, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = codeGroup
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.OffsetDeleteRequestTopic) bool { return z.topic(auth.OpRead, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetDeleteResponse)
		for _, t := range denied {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	}
	return nil
}

func authzConsumerGroupHeartbeat(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	var code int16
	if !z.group(auth.OpRead, req.Group) {
		code = codeGroup
	} else {
		for _, t := range req.SubscribedTopicNames {
			if !z.topic(auth.OpDescribe, t) {
				code = codeTopic
				break
			}
		}
	}
	if code == 0 {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = code
	return resp
}

func authzConsumerGroupDescribe(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ConsumerGroupDescribeRequest)
	authzDescribeGroupList(z, r, &req.Groups, req.IncludeAuthorizedOperations, kmsg.NewConsumerGroupDescribeResponseGroup,
		func(g *kmsg.ConsumerGroupDescribeResponseGroup) (*string, *int16, *int32) {
			return &g.Group, &g.ErrorCode, &g.AuthorizedOperations
		},
		func(resp kmsg.Response) *[]kmsg.ConsumerGroupDescribeResponseGroup {
			return &resp.(*kmsg.ConsumerGroupDescribeResponse).Groups
		})
	return nil
}

func authzDescribeCluster(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeClusterRequest)
	if !z.cluster(auth.OpDescribe) {
		resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
		resp.ErrorCode, resp.ClusterAuthorizedOperations, resp.ControllerID = codeCluster, opsOmitted, -1
		return resp
	}
	if req.IncludeClusterAuthorizedOperations {
		r.post = func(resp kmsg.Response) {
			dr := resp.(*kmsg.DescribeClusterResponse)
			if dr.ErrorCode == 0 {
				dr.ClusterAuthorizedOperations = z.ops(auth.ResourceCluster, auth.ClusterName)
			}
		}
	}
	return nil
}

func authzElectLeaders(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ElectLeadersRequest)
	if z.cluster(auth.OpAlter) {
		return nil
	}
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	resp.ErrorCode = codeCluster
	for _, t := range req.Topics {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, codeCluster
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
