package broker_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareMatrixCases are the share group APIs' cases of the authorization
// matrix (authz_matrix_test.go). Each asks what changes nothing whoever
// asks, or puts the group back first (prepare).
func shareMatrixCases() []matrixCase {
	topic, group := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup
	gAuth := kerr.GroupAuthorizationFailed.Code
	reset := func(t *testing.T, admin *rawConn, name string, exists bool) { groupState(t, admin, name, exists) }
	return []matrixCase{
		{name: "ShareGroupHeartbeat", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrShareGroupHeartbeatRequest(), 1)
			req.GroupID, req.MemberID, req.MemberEpoch = n, "mx-share-member", -1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupHeartbeatResponse).ErrorCode }},
		{name: "ShareGroupDescribe", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrShareGroupDescribeRequest(), 1)
			req.GroupIDs = []string{n}
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareGroupDescribeResponse).Groups[0].ErrorCode }},
		{name: "ShareFetch", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrShareFetchRequest(), 1)
			req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(n), kmsg.StringPtr("mx-share-member"), -1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareFetchResponse).ErrorCode }},
		{name: "ShareAcknowledge", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrShareAcknowledgeRequest(), 1)
			req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(n), kmsg.StringPtr("mx-share-member"), -1
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.ShareAcknowledgeResponse).ErrorCode }},
		{name: "DescribeShareGroupOffsets", rt: group, op: kmsg.ACLOperationDescribe, deny: gAuth, req: func(n string) kmsg.Request {
			req := at(kmsg.NewPtrDescribeShareGroupOffsetsRequest(), 1)
			g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
			g.GroupID = n
			req.Groups = append(req.Groups, g)
			return req
		}, code: func(r kmsg.Response) int16 { return r.(*kmsg.DescribeShareGroupOffsetsResponse).Groups[0].ErrorCode }},
		{name: "AlterShareGroupOffsets", rt: group, op: kmsg.ACLOperationRead, deny: gAuth, prepare: reset,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationRead}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrAlterShareGroupOffsetsRequest(), 0)
				req.GroupID = n
				rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
				rt.Topic = mxTopic
				rp := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 {
				ar := r.(*kmsg.AlterShareGroupOffsetsResponse)
				if ar.ErrorCode != 0 || len(ar.Topics) == 0 {
					return ar.ErrorCode
				}
				return ar.Topics[0].Partitions[0].ErrorCode
			}},
		{name: "DeleteShareGroupOffsets", rt: group, op: kmsg.ACLOperationDelete, deny: gAuth, prepare: reset,
			extra: []matrixACL{{topic, mxTopic, kmsg.ACLOperationRead}}, req: func(n string) kmsg.Request {
				req := at(kmsg.NewPtrDeleteShareGroupOffsetsRequest(), 0)
				req.GroupID = n
				rt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
				rt.Topic = mxTopic
				req.Topics = append(req.Topics, rt)
				return req
			}, code: func(r kmsg.Response) int16 {
				dr := r.(*kmsg.DeleteShareGroupOffsetsResponse)
				if dr.ErrorCode != 0 || len(dr.Topics) == 0 {
					return dr.ErrorCode
				}
				return dr.Topics[0].ErrorCode
			}},
	}
}
