package broker

// ListOffsets: v1-v11.
//
// Special timestamps, answered as a Kafka broker answers them:
//   - -2 earliest: the log start offset
//   - -1 latest: the high watermark (the last stable offset under
//     read_committed, the same until transactions land)
//   - -3 max timestamp (v7+, KIP-734): the first record holding the
//     largest timestamp in the log
//   - -4 earliest local (v8+, KIP-405): the first offset on local disk
//     (the log start offset unless tiered storage holds older data)
//   - -5 latest tiered (v9+, KIP-1005): the last offset in object
//     storage, -1 when nothing is tiered
//   - -6 earliest pending upload (v11+, KIP-1023): the first offset not
//     uploaded yet, -1 when the topic is not tiered
//
// Any other timestamp is a time in milliseconds: the answer is the first
// record at or after the log start whose timestamp is at or after it
// (offset and timestamp -1 when there is none). The log finds the batch; the records are read here,
// a compressed batch's streamed through its decompressor. Any other negative
// timestamp, or a special one below the version that introduced it, is
// UNSUPPORTED_VERSION for that partition; a partition listed twice is
// INVALID_REQUEST for both entries. current_leader_epoch (v4+) larger than 0
// is UNKNOWN_LEADER_EPOCH. timeout_ms (v10+) needs nothing: no lookup waits
// on remote storage.

import (
	"context"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
)

// specialTimestampVersion is the request version each special timestamp
// needs.
func specialTimestampVersion(ts int64) (int16, bool) {
	switch ts {
	case -1, -2:
		return 1, true
	case -3:
		return 7, true
	case -4:
		return 8, true
	case -5:
		return 9, true
	case -6:
		return 11, true
	}
	return 0, false
}

func (s *Server) handleListOffsets(ctx context.Context, r *request) (kmsg.Response, error) {
	req := r.kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)

	type tp struct {
		t string
		p int32
	}
	seen := make(map[tp]int)
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			seen[tp{rt.Topic, rp.Partition}]++
		}
	}

	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, len(req.Topics))
	for i, rt := range req.Topics {
		st := &resp.Topics[i]
		st.Default()
		st.Topic = rt.Topic
		t := s.topics.get(rt.Topic)
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			sp.Default() // offset, timestamp and leader epoch -1
			sp.Partition = rp.Partition
			var p *partition
			if t != nil {
				p = t.partition(rp.Partition)
			}
			minVersion, special := specialTimestampVersion(rp.Timestamp)
			switch {
			case seen[tp{rt.Topic, rp.Partition}] > 1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case rp.Timestamp < 0 && (!special || req.Version < minVersion):
				sp.ErrorCode = kerr.UnsupportedVersion.Code
			case p == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case s.checkLeader(p, rp.CurrentLeaderEpoch) != nil:
				sp.ErrorCode = errorCode(s.checkLeader(p, rp.CurrentLeaderEpoch))
			default:
				if l, err := p.get(ctx); err != nil {
					sp.ErrorCode = errorCode(err)
				} else if err := s.listOffset(ctx, l, rp.Timestamp, req.IsolationLevel == readCommitted, sp); err != nil {
					sp.ErrorCode = logErrorCode(err)
				} else if e, _ := s.leaderEpochOf(p); sp.LeaderEpoch >= 0 {
					sp.LeaderEpoch = e // the cluster mode's lease epoch
				}
			}
		}
	}
	return resp, nil
}

func (s *Server) listOffset(ctx context.Context, l storage.Log, ts int64, committed bool, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	switch ts {
	case -2:
		sp.Offset, sp.LeaderEpoch = l.LogStartOffset(), leaderEpoch
		return nil
	case -4:
		// EARLIEST_LOCAL_TIMESTAMP (KIP-405): the first offset on the
		// local disk, the log start when nothing is tiered.
		sp.Offset, sp.LeaderEpoch = l.LogStartOffset(), leaderEpoch
		if tl, ok := l.(tieredLog); ok {
			sp.Offset = tl.LocalLogStartOffset()
		}
		return nil
	case -1:
		// read_committed: the last stable offset, as Kafka.
		sp.Offset, sp.LeaderEpoch = l.HighWatermark(), leaderEpoch
		if committed {
			sp.Offset = l.LastStableOffset()
		}
		return nil
	case -5:
		// LATEST_TIERED_TIMESTAMP (KIP-1005): the last offset in
		// object storage, -1 when none is.
		sp.Offset, sp.LeaderEpoch = -1, leaderEpoch
		if tl, ok := l.(tieredLog); ok && tl.RemoteSize() > 0 {
			sp.Offset = tl.RemoteEnd() - 1
		}
		return nil
	case -6:
		// EARLIEST_PENDING_UPLOAD_TIMESTAMP (KIP-1023): the first
		// offset not uploaded yet, -1 when the topic is not tiered.
		sp.Offset, sp.LeaderEpoch = -1, leaderEpoch
		if tl, ok := l.(tieredLog); ok && tl.RemoteEnabled() {
			sp.Offset = max(tl.RemoteEnd(), tl.LocalLogStartOffset())
		}
		return nil
	}
	var b []byte
	var err error
	if ts == -3 {
		b, err = l.MaxTimestamp(ctx, nil)
	} else {
		b, err = l.FindTimestamp(ctx, ts, nil)
	}
	if err != nil || len(b) == 0 {
		return err
	}
	h, err := batch.Parse(b)
	if err != nil {
		return kafkaError(kerr.CorruptMessage, "stored batch: %v", err)
	}
	target := ts
	if ts == -3 {
		target = h.MaxTimestamp
	}
	// Only fetchable records are an answer; -3 may name a record below
	// the log start, as Kafka's does. A time's answer is the first record
	// at or after the log start whose timestamp is at or after it, as
	// Kafka's: the log finds the batch by timestamp alone, and the log
	// start may lie inside it or after it (DeleteRecords to the middle of
	// a segment), so the search goes on from the log start.
	from := int64(math.MinInt64)
	if ts != -3 {
		from = l.LogStartOffset()
	}
	off, rts, found, err := s.findRecord(b, &h, target, ts == -3, from)
	if err == nil && !found && ts != -3 {
		off, rts, found, err = s.findFrom(ctx, l, max(from, h.NextOffset()), target)
	}
	if err != nil {
		return err
	}
	if !found || off >= l.HighWatermark() {
		return nil
	}
	sp.Offset, sp.Timestamp, sp.LeaderEpoch = off, rts, leaderEpoch
	return nil
}

// findFrom reads the log from offset on for the first record at or after
// it whose timestamp is at or after target.
func (s *Server) findFrom(ctx context.Context, l storage.Log, offset, target int64) (off, ts int64, found bool, err error) {
	var buf []byte
	for offset < l.HighWatermark() {
		buf, err = l.Read(ctx, offset, 1<<20, true, buf[:0])
		if err != nil || len(buf) == 0 {
			return 0, 0, false, err
		}
		before := offset
		for b := buf; len(b) >= batch.HeaderSize; {
			h, err := batch.ReadHeader(b)
			if err != nil {
				return 0, 0, false, kafkaError(kerr.CorruptMessage, "stored batch at %d: %v", offset, err)
			}
			if h.Size() > len(b) {
				break // cut at the read's end: read again from it
			}
			if h.MaxTimestamp >= target && h.NextOffset() > offset {
				if off, ts, found, err = s.findRecord(b[:h.Size()], &h, target, false, offset); err != nil || found {
					return off, ts, found, err
				}
			}
			offset = max(offset, h.NextOffset())
			b = b[h.Size():]
		}
		if offset == before {
			return 0, 0, false, kafkaError(kerr.CorruptMessage, "no whole batch at %d", offset)
		}
	}
	return 0, 0, false, nil
}

// findRecord returns the first record of the batch at or after offset from
// whose timestamp is at or after target (exact: equal to it). Records of a
// LogAppendTime batch all carry the batch's max timestamp.
func (s *Server) findRecord(b []byte, h *batch.Header, target int64, exact bool, from int64) (off, ts int64, found bool, err error) {
	if h.LogAppendTime() {
		if h.MaxTimestamp >= target && h.NextOffset() > from {
			return max(h.BaseOffset, from), h.MaxTimestamp, true, nil
		}
		return 0, 0, false, nil
	}
	look := func(tsDelta int64, offsetDelta int32) bool {
		rts := h.BaseTimestamp + tsDelta
		if h.BaseOffset+int64(offsetDelta) >= from && (rts == target || (!exact && rts > target)) {
			off, ts, found = h.BaseOffset+int64(offsetDelta), rts, true
		}
		return !found
	}
	recs := batch.RecordsSection(b, h)
	if h.Codec() == batch.CodecNone {
		err = batch.Records(recs, func(r batch.Record) bool { return look(r.TimestampDelta, r.OffsetDelta) })
	} else {
		// Streamed, as produce checked it: the records may expand far
		// past the batch (compression.go).
		var rd io.ReadCloser
		if rd, err = s.codecs.NewReader(int8(h.Codec()), recs, math.MaxInt64); err == nil {
			sc := scanners.Get().(*batch.Scanner)
			err = sc.Scan(rd, func(r *batch.RecordInfo) bool { return look(r.TimestampDelta, r.OffsetDelta) })
			scanners.Put(sc)
			rd.Close()
		}
	}
	if err != nil {
		return 0, 0, false, kafkaError(kerr.CorruptMessage, "stored batch: %v", err)
	}
	return off, ts, found, nil
}
