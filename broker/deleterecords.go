package broker

// DeleteRecords: v0-v2.
//
// Each partition's log start offset moves up to the requested offset (-1:
// the high watermark), durably, and segments wholly below it are removed;
// the answer's low_watermark is the log start offset after. An offset
// above the high watermark is OFFSET_OUT_OF_RANGE; one at or below the log
// start offset changes nothing. As Kafka, a topic whose cleanup.policy
// does not include delete refuses with POLICY_VIOLATION. timeout_ms needs
// nothing: there are no replicas to wait for.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/storage"
)

func (s *Server) handleDeleteRecords(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	resp.Topics = make([]kmsg.DeleteRecordsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		st.Default()
		st.Topic = rt.Topic
		t := s.topics.get(rt.Topic)
		st.Partitions = make([]kmsg.DeleteRecordsResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			sp.Default()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			var p *partition
			if t != nil {
				p = t.partition(rp.Partition)
			}
			var l storage.Log
			var err error
			if p != nil {
				l, err = p.get(ctx)
			}
			switch {
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case err != nil:
				sp.ErrorCode = errorCode(err)
			case isInternal(t.Name):
				// As Kafka: "Cannot delete records of internal topic".
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case !t.cfg.CleanupDelete:
				sp.ErrorCode = kerr.PolicyViolation.Code
			case rp.Offset < -1:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				off := rp.Offset
				if off == -1 {
					off = l.HighWatermark()
				}
				low, err := l.DeleteRecords(ctx, off)
				if err != nil {
					sp.ErrorCode = logErrorCode(err)
					continue
				}
				sp.LowWatermark = low
			}
		}
	}
	return resp, nil
}
