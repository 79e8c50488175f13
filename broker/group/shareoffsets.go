package group

// The share group offset admin APIs: DescribeShareGroupOffsets v0-v1,
// AlterShareGroupOffsets v0 and DeleteShareGroupOffsets v0 (what
// kafka-share-groups --describe --offsets, --reset-offsets and
// --delete-offsets send).

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage"
)

// batchHeader reads the header of the first batch of b.
func batchHeader(b []byte) (batch.Header, error) { return batch.ReadHeader(b) }

// recordAtOrAfter is the offset of the first record of batch b (header h)
// stamped ts or later.
func recordAtOrAfter(b []byte, h batch.Header, ts int64) (int64, bool) {
	if h.Size() > len(b) || h.Codec() != batch.CodecNone {
		// A compressed batch: its records are not read here; the
		// batch's first offset is the nearest answer that loses
		// nothing.
		return h.BaseOffset, h.MaxTimestamp >= ts
	}
	var off int64
	found := false
	_ = batch.Records(batch.RecordsSection(b, &h), func(r batch.Record) bool {
		if h.BaseTimestamp+r.TimestampDelta >= ts {
			off, found = h.BaseOffset+int64(r.OffsetDelta), true
			return false
		}
		return true
	})
	return off, found
}

// ShareLag is a share partition's lag for DescribeShareGroupOffsets v1:
// the records from its start offset to the high watermark that are not
// done with.
func shareLag(sp *sharePart, hwm int64) int64 {
	if !sp.loaded {
		return -1
	}
	lag := hwm - sp.start - sp.doneLocked()
	return max(lag, 0)
}

// DescribeShareGroupOffsets serves DescribeShareGroupOffsets v0-v1: each
// partition's share-partition start offset (-1 when the group never
// fetched it) and, from v1, its lag.
func (c *Coordinator) DescribeShareGroupOffsets(ctx context.Context, req *kmsg.DescribeShareGroupOffsetsRequest) *kmsg.DescribeShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	for _, rg := range req.Groups {
		out := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		out.GroupID = rg.GroupID
		c.mu.Lock()
		g := c.groups[rg.GroupID]
		closed := c.closed
		var known map[sharePK]*sharePart
		if g != nil {
			known = maps.Clone(g.shares)
		}
		c.mu.Unlock()
		switch {
		case closed:
			out.ErrorCode = errCoordinatorNotAvailable.Code
		case rg.GroupID == "":
			out.ErrorCode = kerr.InvalidGroupID.Code
		case g != nil && g.typ != typeShare:
			out.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + rg.GroupID + " is not a share group."
			out.ErrorMessage = &msg
		}
		if out.ErrorCode == 0 && c.clustered() && c.cfg.ShareStates != nil {
			// The cluster mode: the partitions' leaders hold the
			// states; what they stored is read.
			stored, err := c.storedShares(ctx, rg.GroupID)
			if err != nil {
				c.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "reading share partitions' states failed", "group", rg.GroupID, "err", err)
				out.ErrorCode = kerr.KafkaStorageError.Code
			}
			known = make(map[sharePK]*sharePart, len(stored))
			for pk, st := range stored {
				sp := &sharePart{group: rg.GroupID, topicID: pk.topicID, partition: pk.partition}
				sp.loadLocked(st) // a state reset to nothing stays not loaded: not described
				known[pk] = sp
			}
		}
		if out.ErrorCode != 0 {
			resp.Groups = append(resp.Groups, out)
			continue
		}
		describe := func(name string, id [16]byte, p int32) kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
			sp := known[sharePK{id, p}]
			if sp == nil {
				return rp
			}
			hwm := c.partitionEnd(ctx, id, p)
			sp.mu.Lock()
			if sp.loaded && !sp.deleted {
				rp.StartOffset, rp.LeaderEpoch = sp.start, 0
				if hwm >= 0 {
					rp.Lag = shareLag(sp, hwm)
				}
			}
			sp.mu.Unlock()
			return rp
		}
		if rg.Topics == nil {
			// Every partition the group has a state of, by topic.
			byTopic := map[[16]byte][]int32{}
			for pk, sp := range known {
				sp.mu.Lock()
				ok := sp.loaded && !sp.deleted
				sp.mu.Unlock()
				if ok {
					byTopic[pk.topicID] = append(byTopic[pk.topicID], pk.partition)
				}
			}
			type named struct {
				name string
				id   [16]byte
			}
			var ts []named
			for id := range byTopic {
				if n, ok := c.cfg.Topics.TopicName(id); ok {
					ts = append(ts, named{n, id})
				}
			}
			slices.SortFunc(ts, func(a, b named) int {
				if a.name < b.name {
					return -1
				}
				if a.name > b.name {
					return 1
				}
				return 0
			})
			for _, t := range ts {
				rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
				rt.Topic, rt.TopicID = t.name, t.id
				ps := byTopic[t.id]
				slices.Sort(ps)
				for _, p := range ps {
					rt.Partitions = append(rt.Partitions, describe(t.name, t.id, p))
				}
				out.Topics = append(out.Topics, rt)
			}
			resp.Groups = append(resp.Groups, out)
			continue
		}
		for _, t := range rg.Topics {
			rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
			rt.Topic = t.Topic
			id, n, ok := c.cfg.Topics.Partitions(t.Topic)
			rt.TopicID = id
			for _, p := range t.Partitions {
				var rp kmsg.DescribeShareGroupOffsetsResponseGroupTopicPartition
				if !ok || p < 0 || p >= n {
					rp = kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
					rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					rp = describe(t.Topic, id, p)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			out.Topics = append(out.Topics, rt)
		}
		resp.Groups = append(resp.Groups, out)
	}
	return resp
}

// AlterShareGroupOffsets serves AlterShareGroupOffsets v0: while the share
// group has no members, each named partition starts again at the given
// offset (-1: the end of the partition), its in-flight state forgotten
// and its state epoch moved on. A group that does not exist is created, as
// Kafka does.
func (c *Coordinator) AlterShareGroupOffsets(ctx context.Context, req *kmsg.AlterShareGroupOffsetsRequest) *kmsg.AlterShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	fail := func(e *kerr.Error, msg string) *kmsg.AlterShareGroupOffsetsResponse {
		resp.ErrorCode = e.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if req.GroupID == "" {
		return fail(kerr.InvalidGroupID, "")
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(errCoordinatorNotAvailable, "")
	}
	g := c.shareGroupLocked(req.GroupID)
	switch {
	case g == nil:
		c.mu.Unlock()
		return fail(kerr.GroupIDNotFound, "Group "+req.GroupID+" is not a share group.")
	case len(g.smembers) > 0:
		c.mu.Unlock()
		return fail(kerr.NonEmptyGroup, "The group has active members: stop them first.")
	}
	if c.clustered() {
		c.mu.Unlock()
		return c.alterStoredShares(ctx, req, resp)
	}
	var touched []ackResult
	for _, rt := range req.Topics {
		st := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		id, n, ok := c.cfg.Topics.Partitions(rt.Topic)
		st.TopicID = id
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case !ok || rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.StartOffset < -1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			default:
				start := rp.StartOffset
				if c.cfg.ShareLogs != nil {
					if l, e := c.cfg.ShareLogs.Log(ctx, id, rp.Partition); e == nil {
						if start == -1 || start > l.HighWatermark() {
							start = l.HighWatermark()
						}
						start = max(start, l.LogStartOffset())
					}
				}
				if start < 0 {
					start = 0
				}
				part := c.sharePartLocked(g, sharePK{id, rp.Partition})
				part.mu.Lock()
				part.loaded, part.deleted = true, false
				part.stateEpoch++
				part.start, part.recs, part.acquired = start, nil, 0
				touched = append(touched, ackResult{pk: sharePK{id, rp.Partition}, sp: part, seq: c.touchShareLocked(part)})
				part.mu.Unlock()
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.mu.Unlock()
	for _, t := range touched {
		if e := c.durableShare(ctx, t.sp, t.seq); e != nil {
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					p := &resp.Topics[i].Partitions[j]
					if resp.Topics[i].TopicID == t.pk.topicID && p.Partition == t.pk.partition {
						p.ErrorCode = e.Code
					}
				}
			}
		}
	}
	return resp
}

// DeleteShareGroupOffsets serves DeleteShareGroupOffsets v0: while the
// share group has no members, its state of every partition of the named
// topics goes.
func (c *Coordinator) DeleteShareGroupOffsets(ctx context.Context, req *kmsg.DeleteShareGroupOffsetsRequest) *kmsg.DeleteShareGroupOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	fail := func(e *kerr.Error, msg string) *kmsg.DeleteShareGroupOffsetsResponse {
		resp.ErrorCode = e.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	if req.GroupID == "" {
		return fail(kerr.InvalidGroupID, "")
	}
	c.mu.Lock()
	g := c.groups[req.GroupID]
	switch {
	case c.closed:
		c.mu.Unlock()
		return fail(errCoordinatorNotAvailable, "")
	case g == nil:
		c.mu.Unlock()
		return fail(kerr.GroupIDNotFound, "")
	case g.typ != typeShare:
		c.mu.Unlock()
		return fail(kerr.GroupIDNotFound, "Group "+req.GroupID+" is not a share group.")
	case len(g.smembers) > 0:
		c.mu.Unlock()
		return fail(kerr.NonEmptyGroup, "The group has active members: stop them first.")
	}
	if c.clustered() {
		c.mu.Unlock()
		return c.deleteStoredShareOffsets(ctx, req, resp)
	}
	var touched []ackResult
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		id, _, ok := c.cfg.Topics.Partitions(rt.Topic)
		st.TopicID = id
		if !ok {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		for pk, sp := range g.shares {
			if pk.topicID != id {
				continue
			}
			sp.mu.Lock()
			sp.deleted, sp.loaded, sp.recs, sp.acquired = true, false, nil, 0
			touched = append(touched, ackResult{pk: pk, sp: sp, seq: c.touchShareLocked(sp)})
			sp.mu.Unlock()
			delete(g.shares, pk)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.mu.Unlock()
	for _, t := range touched {
		if e := c.durableShare(ctx, t.sp, t.seq); e != nil {
			for i := range resp.Topics {
				if resp.Topics[i].TopicID == t.pk.topicID {
					resp.Topics[i].ErrorCode = e.Code
				}
			}
		}
	}
	return resp
}

// deleteShareStatesLocked drops every partition state of g (a deleted
// group); the writer deletes them from the catalog. Caller holds c.mu.
func (c *Coordinator) deleteShareStatesLocked(g *group) []ackResult {
	var out []ackResult
	for pk, sp := range g.shares {
		sp.mu.Lock()
		sp.deleted, sp.loaded, sp.recs, sp.acquired = true, false, nil, 0
		if sp.lockTimer != nil {
			sp.lockTimer.Stop()
		}
		out = append(out, ackResult{pk: pk, sp: sp, seq: c.touchShareLocked(sp)})
		sp.mu.Unlock()
		delete(g.shares, pk)
	}
	return out
}

// alterStoredShares is AlterShareGroupOffsets in the cluster mode: the new
// states are written to the catalog under the group's shard lease, their
// state epochs moved on, and the partitions' leaders read them when the
// group's next share session opens with them.
func (c *Coordinator) alterStoredShares(ctx context.Context, req *kmsg.AlterShareGroupOffsetsRequest, resp *kmsg.AlterShareGroupOffsetsResponse) *kmsg.AlterShareGroupOffsetsResponse {
	stored, err := c.storedShares(ctx, req.GroupID)
	if err != nil {
		c.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "reading share partitions' states failed", "group", req.GroupID, "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	var states []meta.ShareState
	for _, rt := range req.Topics {
		st := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		id, n, ok := c.cfg.Topics.Partitions(rt.Topic)
		st.TopicID = id
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			start := rp.StartOffset
			var l storage.Log
			var le *kerr.Error = kerr.NotLeaderForPartition
			end := int64(-1)
			if ok && c.cfg.ShareLogs != nil && rp.Partition >= 0 && rp.Partition < n {
				l, le = c.cfg.ShareLogs.Log(ctx, id, rp.Partition)
				end = c.partitionEnd(ctx, id, rp.Partition)
			}
			switch {
			case !ok || rp.Partition < 0 || rp.Partition >= n:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case start < -1:
				sp.ErrorCode = kerr.InvalidRequest.Code
			case start == -1 && end < 0:
				// The end of the partition could not be read
				// (the catalog failed).
				sp.ErrorCode = kerr.KafkaStorageError.Code
			default:
				if end >= 0 && (start == -1 || start > end) {
					start = end
				}
				if le == nil {
					start = max(start, l.LogStartOffset())
				}
				// (Of a partition another broker leads, its
				// leader moves a start below the log's start
				// up when it serves it.)
				states = append(states, meta.ShareState{
					Group: req.GroupID, TopicID: id, Partition: rp.Partition,
					StateEpoch: stored[sharePK{id, rp.Partition}].StateEpoch + 1, StartOffset: start,
				})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if e := c.resetShares(ctx, req.GroupID, states, nil); e != nil {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == 0 {
					p.ErrorCode = e.Code
				}
			}
		}
	}
	return resp
}

// deleteStoredShareOffsets is DeleteShareGroupOffsets in the cluster mode:
// the catalog's states of the named topics' partitions go, under the
// group's shard lease.
func (c *Coordinator) deleteStoredShareOffsets(ctx context.Context, req *kmsg.DeleteShareGroupOffsetsRequest, resp *kmsg.DeleteShareGroupOffsetsResponse) *kmsg.DeleteShareGroupOffsetsResponse {
	topics := map[[16]byte]bool{}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		st.Topic = rt.Topic
		id, _, ok := c.cfg.Topics.Partitions(rt.Topic)
		st.TopicID = id
		if !ok {
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		} else {
			topics[id] = true
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(topics) == 0 {
		return resp
	}
	if e := c.deleteStoredShares(ctx, req.GroupID, topics); e != nil {
		for i := range resp.Topics {
			if resp.Topics[i].ErrorCode == 0 {
				resp.Topics[i].ErrorCode = e.Code
			}
		}
	}
	return resp
}

// ShareEnds is what ShareLogs may also give: a partition's end offset (its
// high watermark) whatever broker leads it (the cluster mode: the
// catalog's committed end), for the share group offsets APIs of a
// coordinator that does not lead the partition.
type ShareEnds interface {
	End(ctx context.Context, topicID [16]byte, partition int32) (int64, *kerr.Error)
}

// partitionEnd is the partition's high watermark, -1 when not known.
func (c *Coordinator) partitionEnd(ctx context.Context, id [16]byte, p int32) int64 {
	if c.cfg.ShareLogs == nil {
		return -1
	}
	if l, e := c.cfg.ShareLogs.Log(ctx, id, p); e == nil {
		return l.HighWatermark()
	}
	if se, ok := c.cfg.ShareLogs.(ShareEnds); ok {
		if end, e := se.End(ctx, id, p); e == nil {
			return end
		}
	}
	return -1
}
