package group

// Share groups (KIP-932): membership (ShareGroupHeartbeat,
// ShareGroupDescribe) and the server-side assignor.
//
// A share group's members name the topics they subscribe to; the
// coordinator spreads the partitions of each topic over its subscribers:
// each partition to one member while there are at least as many partitions
// as members, else each to as many members as it takes for every member to
// have one (records are locked one by one, so members of a partition never
// get the same record at once). Assignments are sticky: a partition stays
// with a member while the member is within its share. Members need no
// revocation: the assignment moves at once, and a member's epoch moves to
// the group's at its next heartbeat, which carries the new assignment.
//
// The group's membership is stored as the other kinds' is (persist.go),
// with each member's assigned partitions; sessions time out as
// share.session.timeout.ms says (group.share.session.timeout.ms by
// default), counted from the load after a restart.

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const typeShare = "share"

// ShareConfig is a share group's effective configs (its GROUP configs over
// the broker's group.share.* defaults).
type ShareConfig struct {
	RecordLockDuration time.Duration
	DeliveryCountLimit int32
	HeartbeatInterval  time.Duration
	SessionTimeout     time.Duration
	// AutoOffsetReset is "latest", "earliest" or "by_duration" (then
	// ResetDuration is the duration).
	AutoOffsetReset string
	ResetDuration   time.Duration
	ReadCommitted   bool
}

// defaultShareConfig is Kafka's defaults, for a coordinator built without
// Config.ShareConfig.
func defaultShareConfig(string) ShareConfig {
	return ShareConfig{RecordLockDuration: 30 * time.Second, DeliveryCountLimit: 5, HeartbeatInterval: 5 * time.Second,
		SessionTimeout: 45 * time.Second, AutoOffsetReset: "latest"}
}

// smember is one member of a share group.
type smember struct {
	id, rackID           string
	clientID, clientHost string
	epoch, prevEpoch     int32
	names                []string   // subscribed topics, sorted
	assigned             assignment // its partitions, by topic ID
	session              *timer
}

// ShareGroupHeartbeat serves ShareGroupHeartbeat v1.
func (c *Coordinator) ShareGroupHeartbeat(ctx context.Context, req *kmsg.ShareGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ShareGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupHeartbeatResponse)
	fail := func(e *kerr.Error, msg string) *kmsg.ShareGroupHeartbeatResponse {
		resp.ErrorCode = e.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	switch {
	case strings.TrimSpace(req.GroupID) == "":
		return fail(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.MemberID == "" || len(req.MemberID) > 36:
		return fail(kerr.InvalidRequest, "MemberId can't be empty, nor longer than 36 characters.")
	case req.MemberEpoch < -1:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.RackID != nil && strings.TrimSpace(*req.RackID) == "":
		return fail(kerr.InvalidRequest, "RackId can't be empty.")
	case req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		return fail(kerr.InvalidRequest, "SubscribedTopicNames must be set in first request.")
	}
	cfg := c.shareConfig(req.GroupID)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(errCoordinatorNotAvailable, "")
	}
	g := c.groups[req.GroupID]
	if g == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID, "")
		}
		g = c.newGroupLocked(req.GroupID)
	}
	switch {
	case g.typ == typeShare:
	case g.typ == "" && len(g.offsets) == 0:
		// A new group. One that holds offsets is a consumer group,
		// whose id a share group may not take, as in Kafka.
		g.typ = typeShare
	default:
		return fail(kerr.GroupIDNotFound, "Group "+req.GroupID+" is not a share group.")
	}
	resp.HeartbeatIntervalMillis = int32(cfg.HeartbeatInterval.Milliseconds())

	m := g.smembers[req.MemberID]
	if req.MemberEpoch == -1 {
		if m == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		c.removeSMemberLocked(g, m)
		if e := c.durableLocked(ctx, g); e != nil {
			return fail(e, "")
		}
		resp.MemberID, resp.MemberEpoch = &m.id, -1
		return resp
	}
	full := req.SubscribedTopicNames != nil
	bump := false // the group epoch moves once for all of this heartbeat's changes
	switch {
	case m == nil && req.MemberEpoch != 0:
		return fail(kerr.UnknownMemberID, "")
	case m == nil:
		if len(g.smembers) >= c.cfg.ShareMaxSize {
			return fail(kerr.GroupMaxSizeReached, "")
		}
		m = &smember{id: req.MemberID, assigned: make(assignment)}
		g.smembers[m.id] = m
		bump = true
	case req.MemberEpoch != 0 && req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch:
		return fail(kerr.FencedMemberEpoch, "")
	}
	changed := m.clientID != clientID || m.clientHost != clientHost
	m.clientID, m.clientHost = clientID, clientHost
	if req.RackID != nil && *req.RackID != m.rackID {
		m.rackID, changed = *req.RackID, true
	}
	if full {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		names = slices.Compact(names)
		if !slices.Equal(names, m.names) {
			m.names = names
			bump = true
		}
	}
	if bump || c.topicSigShareLocked(g) != g.topicSig {
		g.epoch++
	}
	if g.epoch != g.assignEpoch {
		c.assignShareLocked(g)
		changed = true
	}
	epochBefore := m.epoch
	if m.epoch != g.assignEpoch {
		m.prevEpoch, m.epoch = m.epoch, g.assignEpoch
		changed = true
	}
	if changed {
		c.touchLocked(g)
	}
	c.shareHeartbeatLocked(g, m, cfg.SessionTimeout)
	if e := c.durableLocked(ctx, g); e != nil {
		return fail(e, "")
	}
	if g.smembers[m.id] != m {
		return fail(kerr.UnknownMemberID, "") // expired meanwhile
	}
	resp.MemberID, resp.MemberEpoch = &m.id, m.epoch
	if full || m.epoch != epochBefore || req.MemberEpoch == 0 {
		a := kmsg.NewShareGroupHeartbeatResponseAssignment()
		for _, id := range m.assigned.ids() {
			tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = id, slices.Clone(m.assigned[id])
			a.TopicPartitions = append(a.TopicPartitions, tp)
		}
		resp.Assignment = &a
	}
	return resp
}

// shareHeartbeatLocked (re)starts m's session timer.
func (c *Coordinator) shareHeartbeatLocked(g *group, m *smember, timeout time.Duration) {
	if m.session != nil {
		m.session.Stop()
	}
	id := m.id
	m.session = c.afterFunc(timeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if mm := g.smembers[id]; mm != nil && !c.closed {
			c.log.Info("share group member session expired", "group", g.name, "member", id)
			c.removeSMemberLocked(g, mm)
		}
	})
}

// removeSMemberLocked removes m: its sessions close, the records it holds
// are released, and the others get its partitions.
func (c *Coordinator) removeSMemberLocked(g *group, m *smember) {
	if m.session != nil {
		m.session.Stop()
	}
	delete(g.smembers, m.id)
	c.closeMemberSessionsLocked(g.name, m.id)
	c.releaseMemberLocked(g.name, m.id)
	g.epoch++
	c.assignShareLocked(g)
	c.touchLocked(g)
	if len(g.smembers) == 0 {
		g.emptySince = c.now()
	}
}

// topicSigShareLocked identifies the subscribed topics' IDs and partition
// counts, to notice a topic created, deleted or grown.
func (c *Coordinator) topicSigShareLocked(g *group) string {
	return signature(c.shareTopicsLocked(g))
}

// shareTopicsLocked is every topic a member of g subscribes to that
// exists, by name.
func (c *Coordinator) shareTopicsLocked(g *group) []topicInfo {
	all := map[string]bool{}
	for _, m := range g.smembers {
		for _, n := range m.names {
			all[n] = true
		}
	}
	var out []topicInfo
	for _, n := range slices.Sorted(maps.Keys(all)) {
		if id, parts, ok := c.cfg.Topics.Partitions(n); ok {
			out = append(out, topicInfo{n, id, parts})
		}
	}
	return out
}

// assignShareLocked computes every member's partitions for the group
// epoch, keeping what each had while it is within its share.
func (c *Coordinator) assignShareLocked(g *group) {
	g.assignEpoch = g.epoch
	topics := c.shareTopicsLocked(g)
	g.topicSig = signature(topics)
	ids := slices.Sorted(maps.Keys(g.smembers))
	next := make(map[string]assignment, len(ids))
	for _, id := range ids {
		next[id] = make(assignment)
	}
	for _, t := range topics {
		var subs []string
		for _, id := range ids {
			if _, ok := slices.BinarySearch(g.smembers[id].names, t.name); ok {
				subs = append(subs, id)
			}
		}
		if len(subs) == 0 || t.n == 0 {
			continue
		}
		// Each partition has capacity for one member while members
		// are no more than partitions (each member then takes its
		// even share of them), else for its share of the members
		// (each member then takes one partition).
		capOf := make([]int, t.n)
		quota := make(map[string]int, len(subs))
		if len(subs) <= int(t.n) {
			for p := range capOf {
				capOf[p] = 1
			}
			for i, id := range subs {
				quota[id] = int(t.n) / len(subs)
				if i < int(t.n)%len(subs) {
					quota[id]++
				}
			}
		} else {
			for p := range capOf {
				capOf[p] = len(subs) / int(t.n)
				if p < len(subs)%int(t.n) {
					capOf[p]++
				}
			}
			for _, id := range subs {
				quota[id] = 1
			}
		}
		holders := make([]int, t.n)
		// Sticky first: what each had, within its quota and the
		// partition's capacity.
		for _, id := range subs {
			for _, p := range g.smembers[id].assigned[t.id] {
				if p < t.n && len(next[id][t.id]) < quota[id] && holders[p] < capOf[p] {
					next[id][t.id] = append(next[id][t.id], p)
					holders[p]++
				}
			}
		}
		// Then the rest, partition by partition, to the members with
		// the most room left that do not have it yet.
		for p := range t.n {
			for holders[p] < capOf[p] {
				best := ""
				for _, id := range subs {
					room := quota[id] - len(next[id][t.id])
					if room > 0 && !slices.Contains(next[id][t.id], p) && (best == "" || room > quota[best]-len(next[best][t.id])) {
						best = id
					}
				}
				if best == "" {
					break
				}
				next[best][t.id] = append(next[best][t.id], p)
				holders[p]++
			}
		}
	}
	for _, id := range ids {
		for tid := range next[id] {
			slices.Sort(next[id][tid])
		}
		g.smembers[id].assigned = next[id]
	}
}

// shareStateLocked is the group's state as ShareGroupDescribe and
// ListGroups name it.
func (g *group) shareStateLocked() string {
	if len(g.smembers) == 0 {
		return "Empty"
	}
	return "Stable"
}

// ShareGroupDescribe serves ShareGroupDescribe v1.
func (c *Coordinator) ShareGroupDescribe(req *kmsg.ShareGroupDescribeRequest) *kmsg.ShareGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ShareGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range req.GroupIDs {
		rg := kmsg.NewShareGroupDescribeResponseGroup()
		rg.GroupID = name
		rg.AuthorizedOperations = -2147483648
		g := c.groups[name]
		switch {
		case c.closed:
			rg.ErrorCode = errCoordinatorNotAvailable.Code
		case name == "":
			rg.ErrorCode = kerr.InvalidGroupID.Code
		case g == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			rg.ErrorMessage = &msg
		case g.typ != typeShare:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " is not a share group."
			rg.ErrorMessage = &msg
		default:
			rg.GroupState = g.shareStateLocked()
			rg.GroupEpoch, rg.AssignmentEpoch, rg.Assignor = g.epoch, g.assignEpoch, "simple"
			for _, id := range slices.Sorted(maps.Keys(g.smembers)) {
				m := g.smembers[id]
				dm := kmsg.NewShareGroupDescribeResponseGroupMember()
				dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.epoch, m.clientID, m.clientHost
				if m.rackID != "" {
					r := m.rackID
					dm.RackID = &r
				}
				dm.SubscribedTopicNames = slices.Clone(m.names)
				for _, tid := range m.assigned.ids() {
					tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
					tp.TopicID, tp.Partitions = tid, slices.Clone(m.assigned[tid])
					tp.Topic, _ = c.cfg.Topics.TopicName(tid)
					dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
				}
				rg.Members = append(rg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}
