package broker_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/protocol"
)

// The authorization matrix, as Kafka's AuthorizerIntegrationTest: each API
// x {no ACL, DESCRIBE only, the ACL it needs, a DENY beside that ALLOW} x
// {the resource exists, it does not}. A request alice may make is answered
// as the super user's same request is (what the API does when allowed);
// one she may not is answered with the API's authorization error, the same
// whether the resource exists or not, so no answer tells her which.

// matrixCase is one API.
type matrixCase struct {
	name string
	rt   kmsg.ACLResourceType
	op   kmsg.ACLOperation // what the API needs on the resource
	deny int16             // the API's authorization error
	// extra are ACLs alice always has (the other resources a request
	// names, e.g. the topic of an OffsetCommit), as (type, name, op).
	extra []matrixACL
	// req builds the request for the resource named name.
	req func(name string) kmsg.Request
	// code extracts the answer's error code.
	code func(kmsg.Response) int16
	// noMissing: the resource always exists (the cluster).
	noMissing bool
	// prepare, when set, puts the resource in its state before each
	// request (the API changes it: DeleteGroups).
	prepare func(t *testing.T, admin *rawConn, name string, exists bool)
}

type matrixACL struct {
	rt   kmsg.ACLResourceType
	name string
	op   kmsg.ACLOperation
}

const (
	mxTopic        = "mx-topic"
	mxMissingTopic = "mx-missing"
	mxGroup        = "mx-group"
	mxMissingGroup = "mx-missing-group"
	mxTxn          = "mx-txn"
	mxMissingTxn   = "mx-missing-txn"
)

func matrixCases() []matrixCase {
	topic, group, txn, cluster := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeCluster
	tAuth, gAuth, xAuth, cAuth := kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.TransactionalIDAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code
	return append([]matrixCase{
		{name: "Produce", rt: topic, op: kmsg.ACLOperationWrite, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrProduceRequest(), 9)
			req.Acks, req.TimeoutMillis = 1, 5000
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = n
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Records = makeBatch(1, time.Now().UnixMilli())
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "Fetch", rt: topic, op: kmsg.ACLOperationRead, deny: tAuth, req: func(n string) kmsg.Request {
			return fetchReq(11, n, [16]byte{}, 0, 0)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "ListOffsets", rt: topic, op: kmsg.ACLOperationDescribe, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrListOffsetsRequest(), 5)
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = n
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "Metadata", rt: topic, op: kmsg.ACLOperationDescribe, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrMetadataRequest(), 9)
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = kmsg.StringPtr(n)
			req.Topics = append(req.Topics, mt)
			req.AllowAutoTopicCreation = false
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.MetadataResponse).Topics[0].ErrorCode }},
		{name: "OffsetForLeaderEpoch", rt: topic, op: kmsg.ACLOperationDescribe, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrOffsetForLeaderEpochRequest(), 3)
			req.ReplicaID = -1
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = n
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
		}},
		{name: "DeleteRecords", rt: topic, op: kmsg.ACLOperationDelete, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDeleteRecordsRequest(), 1)
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = n
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Offset = 0
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			req.TimeoutMillis = 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "CreatePartitions", rt: topic, op: kmsg.ACLOperationAlter, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrCreatePartitionsRequest(), 2)
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = n, 3
			req.Topics, req.ValidateOnly, req.TimeoutMillis = append(req.Topics, rt), true, 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode }},
		{name: "DescribeConfigs", rt: topic, op: kmsg.ACLOperationDescribeConfigs, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeConfigsRequest(), 3)
			res := kmsg.NewDescribeConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, n
			req.Resources = append(req.Resources, res)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode }},
		{name: "IncrementalAlterConfigs", rt: topic, op: kmsg.ACLOperationAlterConfigs, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrIncrementalAlterConfigsRequest(), 1)
			res := kmsg.NewIncrementalAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, n
			c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			c.Name, c.Value = "retention.ms", kmsg.StringPtr("60000")
			res.Configs = append(res.Configs, c)
			req.Resources, req.ValidateOnly = append(req.Resources, res), true
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
		}},
		{name: "CreateTopics", rt: topic, op: kmsg.ACLOperationCreate, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrCreateTopicsRequest(), 5)
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = n, 1, 1
			req.Topics, req.ValidateOnly, req.TimeoutMillis = append(req.Topics, rt), true, 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode }},
		{name: "OffsetCommit", rt: group, op: kmsg.ACLOperationRead, deny: gAuth,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationRead}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrOffsetCommitRequest(), 7)
				req.Group, req.Generation = n, -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic = mxTopic
				rp := kmsg.NewOffsetCommitRequestTopicPartition()
				rp.Offset = 0
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode }},
		{name: "OffsetFetch", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationDescribe}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrOffsetFetchRequest(), 7)
				req.Group = n
				rt := kmsg.NewOffsetFetchRequestTopic()
				rt.Topic, rt.Partitions = mxTopic, []int32{0}
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).ErrorCode }},
		{name: "FindCoordinator", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrFindCoordinatorRequest(), 3)
			req.CoordinatorKey = n
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.FindCoordinatorResponse).ErrorCode }},
		{name: "Heartbeat", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrHeartbeatRequest(), 3)
			req.Group, req.Generation, req.MemberID = n, 1, "nobody"
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{name: "DescribeGroups", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeGroupsRequest(), 4)
			req.Groups = []string{n}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{name: "DeleteGroups", rt: group, op: kmsg.ACLOperationDelete, deny: gAuth, prepare: groupState, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDeleteGroupsRequest(), 2)
			req.Groups = []string{n}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{name: "InitProducerID", rt: txn, op: kmsg.ACLOperationWrite, deny: xAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrInitProducerIDRequest(), 3)
			req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(n), 60000
			req.ProducerID, req.ProducerEpoch = -1, -1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.InitProducerIDResponse).ErrorCode }},
		{name: "EndTxn", rt: txn, op: kmsg.ACLOperationWrite, deny: xAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrEndTxnRequest(), 3)
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = n, 999999, 0
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.EndTxnResponse).ErrorCode }},
		{name: "AddOffsetsToTxn", rt: txn, op: kmsg.ACLOperationWrite, deny: xAuth,
			extra: []matrixACL{{group, mxGroup, kmsg.ACLOperationRead}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrAddOffsetsToTxnRequest(), 3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = n, 999999, 0, mxGroup
				return req
			}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AddOffsetsToTxnResponse).ErrorCode }},
		{name: "DescribeTransactions", rt: txn, op: kmsg.ACLOperationDescribe, deny: xAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeTransactionsRequest(), 0)
			req.TransactionalIDs = []string{n}
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
		}},
		{name: "JoinGroup", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrJoinGroupRequest(), 5)
			// A static member id the group does not know: answered
			// at once (UNKNOWN_MEMBER_ID) when allowed.
			req.Group, req.MemberID, req.ProtocolType = n, "nobody", "consumer"
			req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 10000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			req.Protocols = append(req.Protocols, p)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{name: "SyncGroup", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrSyncGroupRequest(), 3)
			req.Group, req.Generation, req.MemberID = n, 1, "nobody"
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{name: "LeaveGroup", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrLeaveGroupRequest(), 2)
			req.Group, req.MemberID = n, "nobody"
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{name: "OffsetDelete", rt: group, op: kmsg.ACLOperationDelete, deny: gAuth,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationRead}}, prepare: groupState, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrOffsetDeleteRequest(), 0)
				req.Group = n
				rt := kmsg.NewOffsetDeleteRequestTopic()
				rt.Topic = mxTopic
				rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 {
				od := r.(*kmsg.OffsetDeleteResponse)
				if od.ErrorCode != 0 || len(od.Topics) == 0 {
					return od.ErrorCode
				}
				return od.Topics[0].Partitions[0].ErrorCode
			}},
		{name: "ConsumerGroupDescribe", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrConsumerGroupDescribeRequest(), 0)
			req.Groups = []string{n}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupDescribeResponse).Groups[0].ErrorCode }},
		{name: "AlterConfigs", rt: topic, op: kmsg.ACLOperationAlterConfigs, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrAlterConfigsRequest(), 1)
			res := kmsg.NewAlterConfigsRequestResource()
			res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, n
			req.Resources, req.ValidateOnly = append(req.Resources, res), true
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode }},
		{name: "DescribeProducers", rt: topic, op: kmsg.ACLOperationRead, deny: tAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeProducersRequest(), 0)
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = n, []int32{0}
			req.Topics = append(req.Topics, rt)
			return req
		}, code: func(r kmsg.Response) int16 {
			return r.(*kmsg.DescribeProducersResponse).Topics[0].Partitions[0].ErrorCode
		}},
		{name: "DeleteTopics", rt: topic, op: kmsg.ACLOperationDelete, deny: tAuth, prepare: topicState, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDeleteTopicsRequest(), 5)
			req.TopicNames, req.TimeoutMillis = []string{n}, 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode }},
		{name: "AddPartitionsToTxn", rt: txn, op: kmsg.ACLOperationWrite, deny: xAuth,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationWrite}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrAddPartitionsToTxnRequest(), 3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = n, 999999, 0
				rt := kmsg.NewAddPartitionsToTxnRequestTopic()
				rt.Topic, rt.Partitions = mxTopic, []int32{0}
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 {
				return r.(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{name: "TxnOffsetCommit", rt: txn, op: kmsg.ACLOperationWrite, deny: xAuth,
			extra: []matrixACL{{group, mxGroup, kmsg.ACLOperationRead}, {topic, mxTopic, kmsg.ACLOperationRead}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrTxnOffsetCommitRequest(), 3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group, req.Generation = n, 999999, 0, mxGroup, -1
				rt := kmsg.NewTxnOffsetCommitRequestTopic()
				rt.Topic = mxTopic
				rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 {
				return r.(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			}},
		{name: "AlterPartitionAssignments", rt: cluster, op: kmsg.ACLOperationAlter, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrAlterPartitionAssignmentsRequest(), 0)
			req.TimeoutMillis = 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterPartitionAssignmentsResponse).ErrorCode }},
		{name: "AlterClientQuotas", rt: cluster, op: kmsg.ACLOperationAlterConfigs, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrAlterClientQuotasRequest(), 1)
			e := kmsg.NewAlterClientQuotasRequestEntry()
			en := kmsg.NewAlterClientQuotasRequestEntryEntity()
			en.Type, en.Name = "client-id", kmsg.StringPtr("mx")
			op := kmsg.NewAlterClientQuotasRequestEntryOp()
			op.Key, op.Value = "producer_byte_rate", 1e6
			e.Entity, e.Ops = append(e.Entity, en), append(e.Ops, op)
			req.Entries, req.ValidateOnly = append(req.Entries, e), true
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode }},
		{name: "CreateACLs", rt: cluster, op: kmsg.ACLOperationAlter, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrCreateACLsRequest(), 2)
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, "mx-other", kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = "User:nobody", "*", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
			req.Creations = append(req.Creations, c)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode }},
		{name: "DeleteACLs", rt: cluster, op: kmsg.ACLOperationAlter, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrDeleteACLsRequest(), 2)
			f := kmsg.NewDeleteACLsRequestFilter()
			f.ResourceType, f.ResourceName, f.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("mx-other"), kmsg.ACLResourcePatternTypeLiteral
			f.Principal, f.Operation, f.PermissionType = kmsg.StringPtr("User:nobody"), kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			req.Filters = append(req.Filters, f)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DeleteACLsResponse).Results[0].ErrorCode }},
		{name: "AlterUserSCRAMCredentials", rt: cluster, op: kmsg.ACLOperationAlter, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrAlterUserSCRAMCredentialsRequest(), 0)
			d := kmsg.NewAlterUserSCRAMCredentialsRequestDeletion()
			d.Name, d.Mechanism = "nobody", 1
			req.Deletions = append(req.Deletions, d)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode }},
		{name: "ConsumerGroupHeartbeat", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			// A member that leaves (epoch -1) without having joined:
			// nothing changes whoever asks.
			req := at(kmsg.NewPtrConsumerGroupHeartbeatRequest(), 0)
			req.Group, req.MemberID, req.MemberEpoch = n, "mx-member-0000000000", -1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode }},
		{name: "DescribeCluster", rt: cluster, op: kmsg.ACLOperationDescribe, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			return at(kmsg.NewPtrDescribeClusterRequest(), 1)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClusterResponse).ErrorCode }},
		{name: "DescribeACLs", rt: cluster, op: kmsg.ACLOperationDescribe, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeACLsRequest(), 2)
			req.ResourceType, req.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
			req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeACLsResponse).ErrorCode }},
		{name: "DescribeUserSCRAMCredentials", rt: cluster, op: kmsg.ACLOperationDescribe, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			return at(kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(), 0)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeUserSCRAMCredentialsResponse).ErrorCode }},
		{name: "DescribeLogDirs", rt: cluster, op: kmsg.ACLOperationDescribe, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			return at(kmsg.NewPtrDescribeLogDirsRequest(), 4)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeLogDirsResponse).ErrorCode }},
		{name: "ListPartitionReassignments", rt: cluster, op: kmsg.ACLOperationDescribe, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			return at(kmsg.NewPtrListPartitionReassignmentsRequest(), 0)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ListPartitionReassignmentsResponse).ErrorCode }},
		{name: "DescribeClientQuotas", rt: cluster, op: kmsg.ACLOperationDescribeConfigs, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			return at(kmsg.NewPtrDescribeClientQuotasRequest(), 1)
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeClientQuotasResponse).ErrorCode }},
		{name: "ElectLeaders", rt: cluster, op: kmsg.ACLOperationAlter, deny: cAuth, noMissing: true, req: func(string) kmsg.Request {
			req := at(kmsg.NewPtrElectLeadersRequest(), 1)
			req.TimeoutMillis = 5000
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ElectLeadersResponse).ErrorCode }},
	}, shareMatrixCases()...)
}

// groupState makes the group exist (an offset committed) or not (deleted).
func groupState(t *testing.T, admin *rawConn, name string, exists bool) {
	t.Helper()
	if !exists {
		req := at(kmsg.NewPtrDeleteGroupsRequest(), 2)
		req.Groups = []string{name}
		admin.do(req)
		return
	}
	oc := at(kmsg.NewPtrOffsetCommitRequest(), 7)
	oc.Group, oc.Generation = name, -1
	ot := kmsg.NewOffsetCommitRequestTopic()
	ot.Topic = mxTopic
	ot.Partitions = append(ot.Partitions, kmsg.NewOffsetCommitRequestTopicPartition())
	oc.Topics = append(oc.Topics, ot)
	if code := admin.do(oc).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("admin commit to %s: %v", name, kerr.ErrorForCode(code))
	}
}

// topicState makes the topic exist or not.
func topicState(t *testing.T, admin *rawConn, name string, exists bool) {
	t.Helper()
	if exists {
		req := at(kmsg.NewPtrCreateTopicsRequest(), 7)
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
		if code := admin.do(req).(*kmsg.CreateTopicsResponse).Topics[0].ErrorCode; code != 0 && code != kerr.TopicAlreadyExists.Code {
			t.Fatalf("create %s: %v", name, kerr.ErrorForCode(code))
		}
		return
	}
	req := at(kmsg.NewPtrDeleteTopicsRequest(), 5)
	req.TopicNames, req.TimeoutMillis = []string{name}, 5000
	admin.do(req)
}

// TestAuthorizationMatrixCoversEveryAPI: every API with checks in the
// authorization table has a case in the matrix, or is a listing tested
// below (Metadata for all topics, ListGroups, ListTransactions).
func TestAuthorizationMatrixCoversEveryAPI(t *testing.T) {
	t.Parallel()
	have := map[string]bool{"ApiVersions": true, "SASLHandshake": true, "SASLAuthenticate": true,
		"ListGroups": true, "ListTransactions": true,
		// Their checks need tokens: delegationtoken_test.go.
		"CreateDelegationToken": true, "RenewDelegationToken": true, "ExpireDelegationToken": true, "DescribeDelegationToken": true}
	for _, mc := range matrixCases() {
		have[mc.name] = true
	}
	for _, r := range protocol.Implemented() {
		name := kmsg.NameForKey(r.Key)
		if !have[name] {
			t.Errorf("%s has no case in the authorization matrix", name)
		}
	}
}

func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:admin",
	})
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	admin := dialRaw(t, addr)
	saslPlain(t, admin, "", "admin", "admin-secret")
	alice := dialRaw(t, addr)
	saslPlain(t, alice, "", "alice", "alice-secret")

	// The resources that exist: a topic, a group with a committed
	// offset, a transactional id.
	createTopic(t, admin, mxTopic, 1, nil)
	groupState(t, admin, mxGroup, true)
	ip := at(kmsg.NewPtrInitProducerIDRequest(), 3)
	ip.TransactionalID, ip.TransactionTimeoutMillis, ip.ProducerID, ip.ProducerEpoch = kmsg.StringPtr(mxTxn), 60000, -1, -1
	if code := admin.do(ip).(*kmsg.InitProducerIDResponse).ErrorCode; code != 0 {
		t.Fatalf("admin init producer id: %v", kerr.ErrorForCode(code))
	}

	setACLs := func(acls []matrixACL, denyOp kmsg.ACLOperation, denyOn *matrixACL) {
		t.Helper()
		del := at(kmsg.NewPtrDeleteACLsRequest(), 2)
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourcePatternType, f.Operation, f.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
		f.Principal = kmsg.StringPtr("User:alice")
		del.Filters = append(del.Filters, f)
		admin.do(del)
		cr := at(kmsg.NewPtrCreateACLsRequest(), 2)
		add := func(a matrixACL, perm kmsg.ACLPermissionType) {
			c := kmsg.NewCreateACLsRequestCreation()
			c.ResourceType, c.ResourceName, c.ResourcePatternType = a.rt, a.name, kmsg.ACLResourcePatternTypeLiteral
			c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", a.op, perm
			cr.Creations = append(cr.Creations, c)
		}
		for _, a := range acls {
			add(a, kmsg.ACLPermissionTypeAllow)
		}
		if denyOn != nil {
			add(matrixACL{denyOn.rt, denyOn.name, denyOp}, kmsg.ACLPermissionTypeDeny)
		}
		if len(cr.Creations) == 0 {
			return
		}
		for i, r := range admin.do(cr).(*kmsg.CreateACLsResponse).Results {
			if r.ErrorCode != 0 {
				t.Fatalf("create acl %+v: %v", cr.Creations[i], kerr.ErrorForCode(r.ErrorCode))
			}
		}
	}

	names := map[kmsg.ACLResourceType][2]string{
		kmsg.ACLResourceTypeTopic:           {mxTopic, mxMissingTopic},
		kmsg.ACLResourceTypeGroup:           {mxGroup, mxMissingGroup},
		kmsg.ACLResourceTypeTransactionalId: {mxTxn, mxMissingTxn},
		kmsg.ACLResourceTypeCluster:         {"kafka-cluster", "kafka-cluster"},
	}
	for _, mc := range matrixCases() {
		for i, exists := range []bool{true, false} {
			if !exists && mc.noMissing {
				continue
			}
			name := names[mc.rt][i]
			// What the API answers when allowed: the super user's
			// answer to the same request.
			prepare := func() {
				if mc.prepare != nil {
					mc.prepare(t, admin, name, exists)
				}
			}
			prepare()
			allowed := mc.code(admin.do(mc.req(name)))
			for _, state := range []string{"none", "describe", "needed", "deny-beside-allow"} {
				res := matrixACL{mc.rt, name, mc.op}
				var acls []matrixACL
				var denyOn *matrixACL
				switch state {
				case "describe":
					acls = []matrixACL{{mc.rt, name, kmsg.ACLOperationDescribe}}
				case "needed":
					acls = []matrixACL{res}
				case "deny-beside-allow":
					acls, denyOn = []matrixACL{res}, &res
				}
				if state != "none" {
					acls = append(acls, mc.extra...)
				}
				setACLs(acls, mc.op, denyOn)
				prepare()
				want := mc.deny
				if state == "needed" || state == "describe" && mc.op == kmsg.ACLOperationDescribe {
					want = allowed
				}
				got := mc.code(alice.do(mc.req(name)))
				if got != want {
					t.Errorf("%s on %s (exists %v), ACLs %s: %v, want %v", mc.name, name, exists, state,
						kerr.ErrorForCode(got), kerr.ErrorForCode(want))
				}
			}
		}
	}

	// Listings leave out what alice may not describe.
	for _, grant := range []bool{false, true} {
		var acls []matrixACL
		if grant {
			acls = []matrixACL{{kmsg.ACLResourceTypeGroup, mxGroup, kmsg.ACLOperationDescribe},
				{kmsg.ACLResourceTypeTransactionalId, mxTxn, kmsg.ACLOperationDescribe}}
		}
		setACLs(acls, 0, nil)
		var groups, txns []string
		for _, g := range alice.do(at(kmsg.NewPtrListGroupsRequest(), 4)).(*kmsg.ListGroupsResponse).Groups {
			groups = append(groups, g.Group)
		}
		for _, x := range alice.do(at(kmsg.NewPtrListTransactionsRequest(), 0)).(*kmsg.ListTransactionsResponse).TransactionStates {
			txns = append(txns, x.TransactionalID)
		}
		want := 0
		if grant {
			want = 1
		}
		if len(groups) != want || len(txns) != want || grant && (groups[0] != mxGroup || txns[0] != mxTxn) {
			t.Errorf("listings with DESCRIBE=%v: groups %v, transactions %v", grant, groups, txns)
		}
	}
}

// TestAuthorizedOperations: KIP-430's bit sets in Metadata, DescribeCluster
// and DescribeGroups say what the principal may do.
func TestAuthorizedOperations(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:admin",
	})
	addr := b.ListenerAddr("SASL_PLAINTEXT")
	admin := dialRaw(t, addr)
	saslPlain(t, admin, "", "admin", "admin-secret")
	createTopic(t, admin, mxTopic, 1, nil)
	createTopic(t, admin, "ops", 1, nil)
	groupState(t, admin, "ops-group", true)
	cr := at(kmsg.NewPtrCreateACLsRequest(), 2)
	for _, a := range []matrixACL{
		{kmsg.ACLResourceTypeTopic, "ops", kmsg.ACLOperationRead},
		{kmsg.ACLResourceTypeTopic, "ops", kmsg.ACLOperationAlterConfigs},
		{kmsg.ACLResourceTypeGroup, "ops-group", kmsg.ACLOperationRead},
		{kmsg.ACLResourceTypeCluster, "kafka-cluster", kmsg.ACLOperationDescribe},
	} {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = a.rt, a.name, kmsg.ACLResourcePatternTypeLiteral
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", a.op, kmsg.ACLPermissionTypeAllow
		cr.Creations = append(cr.Creations, c)
	}
	admin.do(cr)
	alice := dialRaw(t, addr)
	saslPlain(t, alice, "", "alice", "alice-secret")
	bits := func(ops ...kmsg.ACLOperation) int32 {
		var b int32
		for _, op := range ops {
			b |= 1 << op
		}
		return b
	}
	md := at(kmsg.NewPtrMetadataRequest(), 10)
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("ops")
	md.Topics, md.IncludeTopicAuthorizedOperations, md.IncludeClusterAuthorizedOperations = append(md.Topics, mt), true, true
	mr := alice.do(md).(*kmsg.MetadataResponse)
	// READ implies DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS.
	if want := bits(kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationDescribeConfigs); mr.Topics[0].AuthorizedOperations != want {
		t.Errorf("topic operations %b, want %b", mr.Topics[0].AuthorizedOperations, want)
	}
	if want := bits(kmsg.ACLOperationDescribe); mr.AuthorizedOperations != want {
		t.Errorf("cluster operations (Metadata v10) %b, want %b", mr.AuthorizedOperations, want)
	}
	dc := at(kmsg.NewPtrDescribeClusterRequest(), 1)
	dc.IncludeClusterAuthorizedOperations = true
	if got := alice.do(dc).(*kmsg.DescribeClusterResponse).ClusterAuthorizedOperations; got != bits(kmsg.ACLOperationDescribe) {
		t.Errorf("DescribeCluster operations %b", got)
	}
	dg := at(kmsg.NewPtrDescribeGroupsRequest(), 4)
	dg.Groups, dg.IncludeAuthorizedOperations = []string{"ops-group"}, true
	if got := alice.do(dg).(*kmsg.DescribeGroupsResponse).Groups[0].AuthorizedOperations; got != bits(kmsg.ACLOperationRead, kmsg.ACLOperationDescribe) {
		t.Errorf("group operations %b", got)
	}
}
