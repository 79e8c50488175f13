package group

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// OffsetCommit serves OffsetCommit v0-v10. The offsets are durable in the
// catalog before it returns.
//
// As Kafka: a commit with generation -1 and no member id (a consumer that
// assigns partitions itself, or an admin tool) is accepted while the group
// has no members, and creates the group; otherwise the member and
// generation must be current (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION,
// FENCED_INSTANCE_ID, REBALANCE_IN_PROGRESS while assignments are being
// handed out). Partitions that do not exist get UNKNOWN_TOPIC_OR_PARTITION
// (UNKNOWN_TOPIC_ID by ID from v10); metadata over
// offset.metadata.max.bytes gets OFFSET_METADATA_TOO_LARGE.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// Every partition answers; groupErr, when set, answers all of them.
	answer := func(groupErr *kerr.Error, perPart func(t *kmsg.OffsetCommitRequestTopic, p *kmsg.OffsetCommitRequestTopicPartition) *kerr.Error) {
		resp.Topics = make([]kmsg.OffsetCommitResponseTopic, len(req.Topics))
		for i := range req.Topics {
			rt := &req.Topics[i]
			st := &resp.Topics[i]
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			st.Partitions = make([]kmsg.OffsetCommitResponseTopicPartition, len(rt.Partitions))
			for j := range rt.Partitions {
				sp := &st.Partitions[j]
				sp.Partition = rt.Partitions[j].Partition
				e := groupErr
				if e == nil && perPart != nil {
					e = perPart(rt, &rt.Partitions[j])
				}
				if e != nil {
					sp.ErrorCode = e.Code
				}
			}
		}
	}
	if req.Group == "" {
		answer(kerr.InvalidGroupID, nil)
		return resp
	}
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		answer(errCoordinatorNotAvailable, nil)
		return resp
	}
	g := c.groups[req.Group]
	// v0 has no generation or member: always a simple commit.
	simple := req.Version == 0 || req.Generation < 0 && req.MemberID == "" && instanceID == ""
	if g == nil {
		if !simple {
			c.mu.Unlock()
			answer(kerr.IllegalGeneration, nil)
			return resp
		}
		g = c.newGroupLocked(req.Group)
	}
	c.mu.Unlock()

	g.commitMu.Lock()
	defer g.commitMu.Unlock()

	c.mu.Lock()
	gerr := g.commitErrLocked(req.MemberID, instanceID, req.Generation, simple, false)
	if m := g.members[req.MemberID]; gerr == nil && !simple && g.typ != typeConsumer && m != nil {
		c.heartbeatLocked(g, m)
	}
	c.mu.Unlock()
	if gerr != nil {
		answer(gerr, nil)
		return resp
	}

	now := c.now().Truncate(time.Millisecond)
	var commits []meta.GroupOffset
	check := func(rt *kmsg.OffsetCommitRequestTopic, rp *kmsg.OffsetCommitRequestTopicPartition) *kerr.Error {
		name := rt.Topic
		if req.Version >= 10 {
			n, ok := c.cfg.Topics.TopicName(rt.TopicID)
			if !ok {
				return kerr.UnknownTopicID
			}
			name = n
		}
		if !c.cfg.Topics.PartitionExists(name, rp.Partition) {
			return kerr.UnknownTopicOrPartition
		}
		md := ""
		if rp.Metadata != nil {
			md = *rp.Metadata
		}
		if len(md) > c.cfg.OffsetMetadataMaxBytes {
			return kerr.OffsetMetadataTooLarge
		}
		epoch := int32(-1)
		if req.Version >= 6 {
			epoch = rp.LeaderEpoch
		}
		commits = append(commits, meta.GroupOffset{
			Group: req.Group, Topic: name, Partition: rp.Partition,
			Offset: rp.Offset, LeaderEpoch: epoch, Metadata: md, CommitTime: now,
		})
		return nil
	}
	answer(nil, check)
	if len(commits) == 0 {
		return resp
	}
	if err := c.storeCommits(ctx, req.Group, commits); err != nil {
		// Nothing stored for sure: every partition that passed its
		// checks fails. KAFKA_STORAGE_ERROR is not an OffsetCommit
		// error clients know; COORDINATOR_NOT_AVAILABLE makes them
		// retry; NOT_COORDINATOR sends them to the shard's new holder.
		code := errCoordinatorNotAvailable.Code
		if errors.Is(err, meta.ErrFenced) {
			c.log.Warn("an offset commit was fenced: this broker no longer holds the group's coordinator shard", "group", req.Group, "err", err)
			code = kerr.NotCoordinator.Code
		} else {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "storing committed offsets failed", "group", req.Group, "err", err)
		}
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp
	}
	c.mu.Lock()
	for _, o := range commits {
		g.offsets[tp{o.Topic, o.Partition}] = offset{o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime}
	}
	c.mu.Unlock()
	c.mirrorOffsets(ctx, commits)
	return resp
}

// OffsetFetch serves OffsetFetch v0-v10 (several groups from v8). A group
// or partition without a commit answers offset -1, as Kafka.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.Version < 8 {
		topics := make([]kmsg.OffsetFetchRequestGroupTopic, len(req.Topics))
		for i, t := range req.Topics {
			topics[i].Topic, topics[i].Partitions = t.Topic, t.Partitions
		}
		if req.Topics == nil && req.Version >= 2 {
			topics = nil
		}
		rg := c.fetchGroupLocked(req.Group, topics, req.Topics == nil && req.Version >= 2, req.Version, req.RequireStable)
		resp.ErrorCode = rg.ErrorCode
		for _, t := range rg.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = p.Partition, p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		if req.Version < 2 && resp.ErrorCode != 0 {
			// v0-v1 have no group error: each partition carries it.
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					resp.Topics[i].Partitions[j].ErrorCode = resp.ErrorCode
				}
			}
		}
		return resp
	}
	for _, rg := range req.Groups {
		out := c.fetchGroupLocked(rg.Group, rg.Topics, rg.Topics == nil, req.Version, req.RequireStable)
		if g := c.groups[rg.Group]; g != nil && g.typ == typeConsumer && rg.MemberID != nil && *rg.MemberID != "" {
			// KIP-848 members fetch with their id and epoch.
			m := g.cmembers[*rg.MemberID]
			switch {
			case m == nil:
				out = kmsg.NewOffsetFetchResponseGroup()
				out.Group, out.ErrorCode = rg.Group, kerr.UnknownMemberID.Code
			case rg.MemberEpoch != m.epoch && rg.MemberEpoch != m.prevEpoch:
				out = kmsg.NewOffsetFetchResponseGroup()
				out.Group, out.ErrorCode = rg.Group, kerr.StaleMemberEpoch.Code
			}
		}
		resp.Groups = append(resp.Groups, out)
	}
	return resp
}

func (c *Coordinator) fetchGroupLocked(name string, topics []kmsg.OffsetFetchRequestGroupTopic, all bool, version int16, stable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = name
	if c.closed {
		out.ErrorCode = errCoordinatorNotAvailable.Code
		return out
	}
	if name == "" && version < 8 {
		out.ErrorCode = kerr.InvalidGroupID.Code
	}
	g := c.groups[name]
	part := func(topic string, p int32) kmsg.OffsetFetchResponseGroupTopicPartition {
		rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		rp.Partition = p
		rp.Offset, rp.LeaderEpoch = -1, -1
		empty := ""
		rp.Metadata = &empty
		if g != nil {
			if o, ok := g.offsets[tp{topic, p}]; ok {
				md := o.metadata
				rp.Offset, rp.LeaderEpoch, rp.Metadata = o.offset, o.leaderEpoch, &md
			}
		}
		if stable && version >= 7 && c.cfg.PendingTxnOffset != nil && c.cfg.PendingTxnOffset(name, topic, p) {
			// KIP-447: a transaction is about to commit this offset.
			rp.ErrorCode = kerr.UnstableOffsetCommit.Code
			rp.Offset = -1
		}
		return rp
	}
	if all {
		if g == nil {
			out.Topics = []kmsg.OffsetFetchResponseGroupTopic{}
			return out
		}
		byTopic := make(map[string][]int32)
		for k := range g.offsets {
			byTopic[k.topic] = append(byTopic[k.topic], k.partition)
		}
		names := slices.Sorted(maps.Keys(byTopic))
		for _, n := range names {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = n
			if id, ok := c.cfg.Topics.TopicID(n); ok {
				rt.TopicID = id
			}
			ps := byTopic[n]
			slices.Sort(ps)
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, part(n, p))
			}
			out.Topics = append(out.Topics, rt)
		}
		return out
	}
	for _, t := range topics {
		rt := kmsg.NewOffsetFetchResponseGroupTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name := t.Topic
		var unknownID bool
		if version >= 10 {
			n, ok := c.cfg.Topics.TopicName(t.TopicID)
			name, unknownID = n, !ok
		}
		for _, p := range t.Partitions {
			rp := part(name, p)
			if unknownID {
				rp.ErrorCode = kerr.UnknownTopicID.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		out.Topics = append(out.Topics, rt)
	}
	return out
}

// subscribedLocked reports whether a member of g subscribes to topic, as
// its consumer protocol metadata says.
func (g *group) subscribedLocked(topic string) bool {
	if g.protocolType != consumerProtocolType {
		return false
	}
	for _, m := range g.members {
		if md, ok := parseSubscription(m.metadata(g.protocol)); ok && slices.Contains(md.Topics, topic) {
			return true
		}
	}
	return false
}

// OffsetDelete serves OffsetDelete v0: offsets of topics no member
// subscribes to may go.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	c.mu.Lock()
	g := c.groups[req.Group]
	switch {
	case c.closed:
		resp.ErrorCode = errCoordinatorNotAvailable.Code
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case g == nil || g.state == Dead:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
	case g.protocolType != "" && g.protocolType != consumerProtocolType && len(g.members) > 0:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
	}
	if resp.ErrorCode != 0 {
		c.mu.Unlock()
		return resp
	}
	var del []meta.TopicPartition
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		subscribed := len(g.members) > 0 && g.subscribedLocked(rt.Topic) ||
			len(g.cmembers) > 0 && c.consumerSubscribedLocked(g, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case subscribed:
				sp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case !c.cfg.Topics.PartitionExists(rt.Topic, rp.Partition):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				del = append(del, meta.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	c.mu.Unlock()
	if len(del) == 0 {
		return resp
	}
	g.commitMu.Lock()
	defer g.commitMu.Unlock()
	if err := c.deleteOffsets(ctx, req.Group, del); err != nil {
		resp.ErrorCode, resp.Topics = errCoordinatorNotAvailable.Code, nil
		if errors.Is(err, meta.ErrFenced) {
			c.log.Warn("an offset delete was fenced: this broker no longer holds the group's coordinator shard", "group", req.Group, "err", err)
			resp.ErrorCode = kerr.NotCoordinator.Code
		} else {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "deleting committed offsets failed", "group", req.Group, "err", err)
		}
		return resp
	}
	c.mu.Lock()
	for _, d := range del {
		delete(g.offsets, tp{d.Topic, d.Partition})
	}
	c.mu.Unlock()
	c.mirrorDeletes(ctx, req.Group, del)
	return resp
}

// ExpireOffsets applies offsets.retention.minutes: a group empty for that
// long loses the offsets it has not committed for as long, and goes when
// it has none left. The broker calls it periodically.
func (c *Coordinator) ExpireOffsets(ctx context.Context) {
	if c.cfg.OffsetsRetention <= 0 {
		return
	}
	now := c.now()
	type expiry struct {
		g    *group
		del  []meta.TopicPartition
		gone bool
	}
	var todo []expiry
	c.mu.Lock()
	for _, g := range c.groups {
		if g.state != Empty || !g.empty() || now.Sub(g.emptySince) < c.cfg.OffsetsRetention || g.typ == typeShare {
			// A share group keeps its partitions' states until it is
			// deleted, as Kafka's does.
			continue
		}
		var e expiry
		e.g = g
		for k, o := range g.offsets {
			if now.Sub(o.commitTime) >= c.cfg.OffsetsRetention {
				e.del = append(e.del, meta.TopicPartition{Topic: k.topic, Partition: k.partition})
			}
		}
		e.gone = len(e.del) == len(g.offsets)
		if len(e.del) > 0 || e.gone {
			todo = append(todo, e)
		}
	}
	c.mu.Unlock()
	for _, e := range todo {
		e.g.commitMu.Lock()
		err := c.deleteOffsets(ctx, e.g.name, e.del)
		if err == nil {
			c.mu.Lock()
			for _, d := range e.del {
				delete(e.g.offsets, tp{d.Topic, d.Partition})
			}
			if e.g.state == Empty && len(e.g.offsets) == 0 && e.g.empty() {
				e.g.state = Dead
				delete(c.groups, e.g.name)
				c.touchLocked(e.g)
			}
			c.mu.Unlock()
			c.mirrorDeletes(ctx, e.g.name, e.del)
			c.log.Info("expired committed offsets", "group", e.g.name, "partitions", len(e.del))
		} else {
			c.log.Log(ctx, meta.LogLevel(err, slog.LevelWarn), "expiring committed offsets failed", "group", e.g.name, "err", err)
		}
		e.g.commitMu.Unlock()
	}
}

// DescribeGroups serves DescribeGroups v0-v6. A group that does not exist
// is reported Dead (and, from v6, GROUP_ID_NOT_FOUND), as Kafka.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = -2147483648
		g := c.groups[name]
		switch {
		case c.closed:
			rg.ErrorCode = errCoordinatorNotAvailable.Code
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case g != nil && (g.typ == typeConsumer || g.typ == typeShare):
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " is not a classic group."
			rg.ErrorMessage = &msg
		case g == nil:
			rg.State = Dead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "Group " + name + " not found."
				rg.ErrorMessage = &msg
			}
		default:
			rg.State = g.state.String()
			rg.ProtocolType = g.protocolType
			stable := g.state == Stable
			if stable {
				rg.Protocol = g.protocol
			}
			ids := slices.Sorted(maps.Keys(g.members))
			for _, id := range ids {
				m := g.members[id]
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.ClientID, dm.ClientHost = m.id, m.clientID, m.clientHost
				if m.instanceID != "" {
					iid := m.instanceID
					dm.InstanceID = &iid
				}
				if stable {
					dm.ProtocolMetadata = m.metadata(g.protocol)
					dm.MemberAssignment = m.assignment
				}
				rg.Members = append(rg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ListGroups serves ListGroups v0-v5: states filter from v4 (names match
// case-insensitively, as Kafka), types filter from v5 ("classic" or
// "consumer" for KIP-848 groups).
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = errCoordinatorNotAvailable.Code
		return resp
	}
	names := slices.Sorted(maps.Keys(c.groups))
	for _, n := range names {
		g := c.groups[n]
		state, typ, ptype := g.state.String(), typeClassic, g.protocolType
		switch g.typ {
		case typeConsumer:
			state, typ, ptype = g.consumerStateLocked(), typeConsumer, consumerProtocolType
		case typeShare:
			state, typ, ptype = g.shareStateLocked(), typeShare, "share"
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(s string) bool { return strings.EqualFold(s, state) }) {
			continue
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(s string) bool { return strings.EqualFold(s, typ) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = n, ptype, state, typ
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DeleteGroups serves DeleteGroups v0-v3: an empty group goes with its
// offsets; one with members gets NON_EMPTY_GROUP.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		c.mu.Lock()
		g := c.groups[name]
		var e *kerr.Error
		switch {
		case c.closed:
			e = errCoordinatorNotAvailable
		case name == "":
			e = kerr.InvalidGroupID
		case g == nil || g.state == Dead:
			e = kerr.GroupIDNotFound
		case g.state != Empty || !g.empty():
			e = kerr.NonEmptyGroup
		}
		c.mu.Unlock()
		if e == nil {
			g.commitMu.Lock()
			if err := c.deleteGroupOffsets(ctx, name); err != nil {
				e = errCoordinatorNotAvailable
				if errors.Is(err, meta.ErrFenced) {
					c.log.Warn("a group delete was fenced: this broker no longer holds the group's coordinator shard", "group", name, "err", err)
					e = kerr.NotCoordinator
				} else {
					c.log.Log(ctx, meta.LogLevel(err, slog.LevelError), "deleting a group's offsets failed", "group", name, "err", err)
				}
			} else {
				c.mu.Lock()
				var gone []meta.TopicPartition
				for k := range g.offsets {
					gone = append(gone, meta.TopicPartition{Topic: k.topic, Partition: k.partition})
				}
				g.offsets = map[tp]offset{}
				var seq uint64
				var shares []ackResult
				unshare := false
				if g.state == Empty && g.empty() {
					g.state = Dead
					delete(c.groups, name)
					seq = c.touchLocked(g)
					shares = c.deleteShareStatesLocked(g)
					unshare = g.typ == typeShare && c.clustered()
				}
				// else a member joined meanwhile: the group stays,
				// without the offsets, which are gone from the store.
				c.mu.Unlock()
				c.mirrorDeletes(ctx, name, gone)
				e = c.durable(ctx, g, seq)
				for _, s := range shares {
					if e == nil {
						e = c.durableShare(ctx, s.sp, s.seq)
					}
				}
				if e == nil && unshare {
					// The cluster mode: the leaders' states of its
					// partitions go from the catalog.
					e = c.deleteStoredShares(ctx, name, nil)
				}
			}
			g.commitMu.Unlock()
		}
		if e != nil {
			rg.ErrorCode = e.Code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// ApplyTxnOffsets makes offsets that a committed transaction stored in the
// catalog (with its end) visible to OffsetFetch.
func (c *Coordinator) ApplyTxnOffsets(offsets []meta.GroupOffset) {
	c.mu.Lock()
	for _, o := range offsets {
		g := c.groups[o.Group]
		if g == nil {
			g = c.newGroupLocked(o.Group)
		}
		g.offsets[tp{o.Topic, o.Partition}] = offset{o.Offset, o.LeaderEpoch, o.Metadata, o.CommitTime}
	}
	c.mu.Unlock()
	c.mirrorOffsets(context.Background(), offsets)
}

// ValidateTxnCommit checks a TxnOffsetCommit's member, instance and
// generation against the group as OffsetCommit does (KIP-447, v3+); a
// request without them (generation -1, no member) is not checked.
func (c *Coordinator) ValidateTxnCommit(name, memberID string, instanceID *string, generation int32) *kerr.Error {
	if name == "" {
		return kerr.InvalidGroupID
	}
	if generation < 0 && memberID == "" && instanceID == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errCoordinatorNotAvailable
	}
	g := c.groups[name]
	if g == nil {
		return kerr.IllegalGeneration
	}
	inst := ""
	if instanceID != nil {
		inst = *instanceID
	}
	return g.commitErrLocked(memberID, inst, generation, false, true)
}

// commitErrLocked validates an offset commit's member, static instance and
// generation against g, as Kafka's validateOffsetCommit: simple is a commit
// without member or generation (allowed while the group is empty); txn is a
// TxnOffsetCommit, which a rebalance in progress does not refuse. KIP-848
// groups carry the member epoch in the generation field. Caller holds mu.
func (g *group) commitErrLocked(memberID, instanceID string, generation int32, simple, txn bool) *kerr.Error {
	if g.typ == typeShare {
		// A share group keeps no committed offsets.
		return kerr.GroupIDNotFound
	}
	if g.typ == typeConsumer {
		cm := g.cmembers[memberID]
		switch {
		case simple && len(g.cmembers) == 0:
		case simple || cm == nil:
			return kerr.UnknownMemberID
		case cm.classic != nil && generation != cm.epoch:
			// A classic member commits with the generation its
			// JoinGroup gave it, its member epoch.
			return kerr.IllegalGeneration
		case generation != cm.epoch && generation != cm.prevEpoch:
			return kerr.StaleMemberEpoch
		}
		return nil
	}
	switch {
	case g.state == Dead:
		return errCoordinatorNotAvailable
	case simple && g.state == Empty:
	case simple:
		return kerr.UnknownMemberID
	case g.fencedLocked(memberID, instanceID):
		return kerr.FencedInstanceID
	case !txn && g.state == CompletingRebalance:
		return kerr.RebalanceInProgress
	case g.members[memberID] == nil:
		return kerr.UnknownMemberID
	case generation != g.generation:
		return kerr.IllegalGeneration
	}
	return nil
}

// storeCommits stores group's commits, fenced by its shard's lease when
// Config.Fence says so (meta.ErrFenced once that lease is lost).
func (c *Coordinator) storeCommits(ctx context.Context, group string, commits []meta.GroupOffset) error {
	if c.cfg.Fence == nil {
		return c.cfg.Store.CommitOffsets(ctx, commits)
	}
	f, ok := c.cfg.Fence(group)
	if !ok {
		return fmt.Errorf("group %q: its coordinator shard is not held here: %w", group, meta.ErrFenced)
	}
	return c.cfg.Store.CommitOffsetsFenced(ctx, f, commits)
}

// deleteOffsets deletes group's offsets of parts, fenced by its shard's
// lease when Config.Fence says so.
func (c *Coordinator) deleteOffsets(ctx context.Context, group string, parts []meta.TopicPartition) error {
	if c.cfg.Fence == nil {
		return c.cfg.Store.DeleteOffsets(ctx, group, parts)
	}
	f, ok := c.cfg.Fence(group)
	if !ok {
		return fmt.Errorf("group %q: its coordinator shard is not held here: %w", group, meta.ErrFenced)
	}
	return c.cfg.Store.DeleteOffsetsFenced(ctx, f, group, parts)
}

// deleteGroupOffsets deletes every offset of group, fenced by its shard's
// lease when Config.Fence says so.
func (c *Coordinator) deleteGroupOffsets(ctx context.Context, group string) error {
	if c.cfg.Fence == nil {
		return c.cfg.Store.DeleteGroupOffsets(ctx, group)
	}
	f, ok := c.cfg.Fence(group)
	if !ok {
		return fmt.Errorf("group %q: its coordinator shard is not held here: %w", group, meta.ErrFenced)
	}
	return c.cfg.Store.DeleteGroupOffsetsFenced(ctx, f, group)
}
