package broker

// Authorization of the share group APIs, as Kafka's KafkaApis checks them:
//
//	ShareGroupHeartbeat        GROUP:READ, TOPIC:DESCRIBE of the subscribed topics
//	ShareGroupDescribe         GROUP:DESCRIBE
//	ShareFetch, ShareAcknowledge  GROUP:READ, TOPIC:READ (denied topics answered TOPIC_AUTHORIZATION_FAILED)
//	DescribeShareGroupOffsets  GROUP:DESCRIBE, TOPIC:DESCRIBE
//	AlterShareGroupOffsets     GROUP:READ, TOPIC:READ
//	DeleteShareGroupOffsets    GROUP:DELETE, TOPIC:READ

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/auth"
)

func authzShareGroupHeartbeat(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ShareGroupHeartbeatRequest)
	var code int16
	if !z.group(auth.OpRead, req.GroupID) {
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
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	resp.ErrorCode = code
	return resp
}

func authzShareGroupDescribe(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ShareGroupDescribeRequest)
	authzDescribeGroupList(z, r, &req.GroupIDs, req.IncludeAuthorizedOperations, kmsg.NewShareGroupDescribeResponseGroup,
		func(g *kmsg.ShareGroupDescribeResponseGroup) (*string, *int16, *int32) {
			return &g.GroupID, &g.ErrorCode, &g.AuthorizedOperations
		},
		func(resp kmsg.Response) *[]kmsg.ShareGroupDescribeResponseGroup {
			return &resp.(*kmsg.ShareGroupDescribeResponse).Groups
		})
	return nil
}

// shareTopicAllowed reports whether a topic named by ID may be read; an
// unknown ID is left to the handler (UNKNOWN_TOPIC_ID).
func shareTopicAllowed(z *authz, id [16]byte, op auth.Operation) bool {
	name, ok := z.topicName("", id, true)
	return !ok || z.topic(op, name)
}

func authzShareFetch(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ShareFetchRequest)
	if req.GroupID == nil || !z.group(auth.OpRead, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
		resp.ErrorCode = codeGroup
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.ShareFetchRequestTopic) bool { return shareTopicAllowed(z, t.TopicID, auth.OpRead) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		fr := resp.(*kmsg.ShareFetchResponse)
		for _, t := range denied {
			rt := kmsg.NewShareFetchResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewShareFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				if len(p.AcknowledgementBatches) > 0 {
					rp.AcknowledgeErrorCode = codeTopic
				}
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	}
	return nil
}

func authzShareAcknowledge(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.ShareAcknowledgeRequest)
	if req.GroupID == nil || !z.group(auth.OpRead, *req.GroupID) {
		resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
		resp.ErrorCode = codeGroup
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.ShareAcknowledgeRequestTopic) bool {
		return shareTopicAllowed(z, t.TopicID, auth.OpRead)
	})
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		ar := resp.(*kmsg.ShareAcknowledgeResponse)
		for _, t := range denied {
			rt := kmsg.NewShareAcknowledgeResponseTopic()
			rt.TopicID = t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewShareAcknowledgeResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			ar.Topics = append(ar.Topics, rt)
		}
	}
	return nil
}

func authzDescribeShareGroupOffsets(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DescribeShareGroupOffsetsRequest)
	var deniedGroups []kmsg.DescribeShareGroupOffsetsResponseGroup
	req.Groups = filterSlice(req.Groups, func(g *kmsg.DescribeShareGroupOffsetsRequestGroup) bool {
		if z.group(auth.OpDescribe, g.GroupID) {
			return true
		}
		d := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		d.GroupID, d.ErrorCode = g.GroupID, codeGroup
		deniedGroups = append(deniedGroups, d)
		return false
	})
	deniedTopics := map[string][]kmsg.DescribeShareGroupOffsetsRequestGroupTopic{}
	for i := range req.Groups {
		g := &req.Groups[i]
		if g.Topics == nil {
			continue
		}
		kept, denied := split(g.Topics, func(t *kmsg.DescribeShareGroupOffsetsRequestGroupTopic) bool {
			return z.topic(auth.OpDescribe, t.Topic)
		})
		g.Topics = kept
		if g.Topics == nil {
			g.Topics = []kmsg.DescribeShareGroupOffsetsRequestGroupTopic{}
		}
		if denied != nil {
			deniedTopics[g.GroupID] = denied
		}
	}
	r.post = func(resp kmsg.Response) {
		dr := resp.(*kmsg.DescribeShareGroupOffsetsResponse)
		for i := range dr.Groups {
			g := &dr.Groups[i]
			// A listing of every topic leaves out what the principal
			// may not describe.
			g.Topics = filterSlice(g.Topics, func(t *kmsg.DescribeShareGroupOffsetsResponseGroupTopic) bool {
				return z.quiet(auth.OpDescribe, auth.ResourceTopic, t.Topic)
			})
			for _, t := range deniedTopics[g.GroupID] {
				rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
					rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag, rp.ErrorCode = p, -1, -1, -1, codeTopic
					rt.Partitions = append(rt.Partitions, rp)
				}
				g.Topics = append(g.Topics, rt)
			}
		}
		dr.Groups = append(dr.Groups, deniedGroups...)
	}
	return nil
}

func authzAlterShareGroupOffsets(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.AlterShareGroupOffsetsRequest)
	if !z.group(auth.OpRead, req.GroupID) {
		resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
		resp.ErrorCode = codeGroup
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.AlterShareGroupOffsetsRequestTopic) bool { return z.topic(auth.OpRead, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		ar := resp.(*kmsg.AlterShareGroupOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, codeTopic
				rt.Partitions = append(rt.Partitions, rp)
			}
			ar.Topics = append(ar.Topics, rt)
		}
	}
	return nil
}

func authzDeleteShareGroupOffsets(z *authz, r *request) kmsg.Response {
	req := r.kreq.(*kmsg.DeleteShareGroupOffsetsRequest)
	if !z.group(auth.OpDelete, req.GroupID) {
		resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
		resp.ErrorCode = codeGroup
		return resp
	}
	kept, denied := split(req.Topics, func(t *kmsg.DeleteShareGroupOffsetsRequestTopic) bool { return z.topic(auth.OpRead, t.Topic) })
	if denied == nil {
		return nil
	}
	req.Topics = kept
	r.post = func(resp kmsg.Response) {
		dr := resp.(*kmsg.DeleteShareGroupOffsetsResponse)
		for _, t := range denied {
			rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, codeTopic
			dr.Topics = append(dr.Topics, rt)
		}
	}
	return nil
}
