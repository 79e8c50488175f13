package broker

// DeleteTopics: v1-v6.
//
// Up to v5 topics are named; from v6 each is a name or a topic ID (both, or
// neither, is INVALID_REQUEST). Unknown names get UNKNOWN_TOPIC_OR_PARTITION,
// unknown IDs UNKNOWN_TOPIC_ID. Deletion removes the topic from the catalog
// and then its logs from storage; requests in flight on its partitions fail
// and clients see the topic gone on their next metadata refresh. timeout_ms
// needs nothing: deletion is synchronous.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

func (s *Server) handleDeleteTopics(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)

	wanted := req.Topics
	if req.Version < 6 {
		wanted = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			wanted[i].Topic = &req.TopicNames[i]
		}
	}
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(wanted))
	mq := s.mutationQuota(r, req.Version >= 5)
	defer func() { mq.throttle(r, resp, s.now()) }()
	for i, rt := range wanted {
		st := &resp.Topics[i]
		st.Default()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID

		var t *topic
		var err error
		byID := rt.TopicID != (meta.TopicID{})
		switch {
		case byID && rt.Topic != nil:
			err = kafkaError(kerr.InvalidRequest, "give a topic name or a topic ID, not both")
		case byID:
			if t = s.topics.getID(rt.TopicID); t == nil {
				err = kerr.UnknownTopicID
			}
		case rt.Topic == nil:
			err = kafkaError(kerr.InvalidRequest, "neither a topic name nor a topic ID was given")
		default:
			if t = s.topics.get(*rt.Topic); t == nil {
				err = kerr.UnknownTopicOrPartition
			}
		}
		if err == nil {
			name := t.Name
			st.Topic, st.TopicID = &name, t.ID
			if isInternal(name) {
				err = internalTopicErr("delete", name)
			} else if err = mq.admit(len(t.parts), s.now()); err == nil {
				err = s.topics.delete(ctx, t)
			}
		}
		if err != nil {
			st.ErrorCode = errorCode(err)
			if req.Version >= 5 {
				st.ErrorMessage = errMessage(err)
			}
		}
	}
	return resp, nil
}
