package group

// Online migration between the classic protocol and KIP-848's, as Kafka 4
// does under group.consumer.migration.policy ("bidirectional" by default),
// so that a running group's consumers can move to the new protocol (or back)
// one restart at a time, without a stop:
//
//   - Upgrade: a ConsumerGroupHeartbeat that joins a classic group whose
//     members use the consumer protocol type turns it into a consumer
//     group. Each classic member becomes a consumer group member that
//     keeps its assignment (its target until the joiner moves the epoch),
//     at the classic generation as its member epoch.
//   - A classic member in a consumer group (classicMeta set) keeps
//     speaking JoinGroup, SyncGroup, Heartbeat and LeaveGroup: the broker
//     computes its assignment with everyone else's. JoinGroup reconciles
//     it (the owned partitions in its subscription confirm revocations)
//     and answers with no leader and its member epoch as the generation;
//     SyncGroup hands it its partitions; its Heartbeat answers
//     REBALANCE_IN_PROGRESS whenever it must rejoin to move on (the
//     group's epoch moved, it must revoke, or partitions it waits for are
//     free).
//   - Downgrade: when the last member using the consumer protocol leaves
//     (or is fenced) and classic members remain, the group turns classic
//     again, each member with its target as its assignment, and a
//     rebalance starts.

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerProtocolType is the classic protocol type of Kafka's consumers,
// the only one a consumer group can take members of.
const consumerProtocolType = "consumer"

// group.consumer.migration.policy's values.
const (
	MigrationBidirectional = "bidirectional"
	MigrationUpgrade       = "upgrade"
	MigrationDowngrade     = "downgrade"
	MigrationDisabled      = "disabled"
)

// classicMeta is what a consumer group keeps of a member that speaks the
// classic protocol.
type classicMeta struct {
	session   time.Duration
	protocols []protocol
	// joinTimer fences the member if it does not rejoin within its
	// rebalance timeout after being told to; syncTimer if it does not
	// send SyncGroup within it after its JoinGroup.
	joinTimer, syncTimer *timer
}

func (c *Coordinator) migrationAllows(direction string) bool {
	p := strings.ToLower(cmp.Or(c.cfg.MigrationPolicy, MigrationBidirectional))
	return p == MigrationBidirectional || p == direction
}

// parseSubscription reads a consumer protocol subscription.
func parseSubscription(b []byte) (*kmsg.ConsumerMemberMetadata, bool) {
	s := kmsg.NewConsumerMemberMetadata()
	if err := s.ReadFrom(b); err != nil {
		return nil, false
	}
	return &s, true
}

// upgradeLocked turns g, a classic group with members, into a consumer
// group (Kafka's convertToConsumerGroup). It reports false, leaving g as it
// is, when the policy, the protocol type or a member's subscription or
// assignment does not allow it.
func (c *Coordinator) upgradeLocked(g *group) bool {
	if !c.migrationAllows(MigrationUpgrade) || g.protocolType != consumerProtocolType || len(g.members) > c.cfg.MaxSize {
		return false
	}
	cms := make(map[string]*cmember, len(g.members))
	for _, m := range g.members {
		md := m.metadata(g.protocol)
		if md == nil && len(m.protocols) > 0 {
			md = m.protocols[0].metadata
		}
		sub, ok := parseSubscription(md)
		if !ok {
			c.log.Info("classic group not upgraded: a member's subscription does not parse", "group", g.name, "member", m.id)
			return false
		}
		assigned := make(assignment)
		if len(m.assignment) > 0 {
			a := kmsg.NewConsumerMemberAssignment()
			if err := a.ReadFrom(m.assignment); err != nil {
				c.log.Info("classic group not upgraded: a member's assignment does not parse", "group", g.name, "member", m.id)
				return false
			}
			for _, t := range a.Topics {
				if id, ok := c.cfg.Topics.TopicID(t.Topic); ok {
					assigned[id] = append(assigned[id], t.Partitions...)
					slices.Sort(assigned[id])
				}
			}
		}
		cm := &cmember{
			id: m.id, instanceID: m.instanceID, clientID: m.clientID, clientHost: m.clientHost,
			epoch: g.generation, prevEpoch: g.generation, rebalanceTimeout: m.rebalanceTimeout,
			names:    slices.Sorted(slices.Values(sub.Topics)),
			assigned: assigned, target: assigned.clone(),
			classic: &classicMeta{session: m.sessionTimeout, protocols: m.protocols},
		}
		if sub.Rack != nil {
			cm.rackID = *sub.Rack
		}
		cms[m.id] = cm
	}
	// Joins and syncs in flight are void: their members rejoin the
	// consumer group.
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
		}
		if m.join != nil {
			m.join <- joinResult{err: kerr.RebalanceInProgress, memberID: m.id}
			m.join = nil
		}
		if m.sync != nil {
			m.sync <- syncResult{err: kerr.RebalanceInProgress}
			m.sync = nil
		}
	}
	for id, t := range g.pending {
		t.Stop()
		delete(g.pending, id)
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	g.joinDeadline = time.Time{}
	g.typ, g.state, g.upgraded = typeConsumer, Empty, true
	g.members, g.static = make(map[string]*member), make(map[string]string)
	g.protocol, g.leader = "", ""
	g.cmembers = cms
	g.epoch, g.assignEpoch = g.generation, g.generation
	g.topicSig = c.topicSignatureLocked(g)
	for _, cm := range cms {
		c.consumerHeartbeatLocked(g, cm)
	}
	c.touchLocked(g)
	c.log.Info("classic group upgraded to a consumer group", "group", g.name, "members", len(cms), "epoch", g.epoch)
	return true
}

// leaveCMemberLocked removes m from its consumer group (it left, or was
// fenced); when every member left is classic, the group turns classic again
// if the policy allows (Kafka's consumerGroupFenceMember).
func (c *Coordinator) leaveCMemberLocked(g *group, m *cmember) {
	if len(g.cmembers) > 1 && len(g.cmembers)-1 <= c.cfg.MaxSize && c.migrationAllows(MigrationDowngrade) {
		all := true
		for _, o := range g.cmembers {
			if o != m && o.classic == nil {
				all = false
				break
			}
		}
		if all {
			c.downgradeLocked(g, m)
			return
		}
	}
	c.removeCMemberLocked(g, m)
}

// downgradeLocked turns g back into a classic group without leaving (Kafka's
// convertToClassicGroup): its members are the classic ones, each assigned
// its target, at the group epoch as the generation; a rebalance starts, so
// that they rejoin as a classic group.
func (c *Coordinator) downgradeLocked(g *group, leaving *cmember) {
	for _, cm := range g.cmembers {
		cm.stopTimers()
	}
	targets := make(map[string]assignment, len(g.cmembers))
	g.members, g.static = make(map[string]*member, len(g.cmembers)), make(map[string]string)
	for id, cm := range g.cmembers {
		if cm == leaving {
			continue
		}
		g.members[id] = &member{
			id: id, instanceID: cm.instanceID, clientID: cm.clientID, clientHost: cm.clientHost,
			sessionTimeout: cm.classic.session, rebalanceTimeout: cm.rebalanceTimeout,
			protocolType: consumerProtocolType, protocols: cm.classic.protocols,
		}
		if cm.instanceID != "" {
			g.static[cm.instanceID] = id
		}
		targets[id] = cm.target
	}
	g.typ, g.cmembers = typeClassic, nil
	g.protocolType, g.generation, g.leader = consumerProtocolType, g.epoch, ""
	g.protocol = g.selectProtocolLocked()
	for id, m := range g.members {
		m.assignment = c.classicAssignmentLocked(targets[id], m.metadata(g.protocol))
		c.heartbeatLocked(g, m)
	}
	g.state = Stable
	c.touchLocked(g)
	c.log.Info("consumer group downgraded to a classic group", "group", g.name, "members", len(g.members), "generation", g.generation)
	c.prepareRebalanceLocked(g)
}

// classicAssignmentLocked is a, as the consumer protocol's assignment, at
// the version of the subscription metadata md (as Kafka answers).
func (c *Coordinator) classicAssignmentLocked(a assignment, md []byte) []byte {
	out := kmsg.NewConsumerMemberAssignment()
	if len(md) >= 2 {
		out.Version = min(max(int16(md[0])<<8|int16(md[1]), 0), 3)
	}
	for _, id := range a.ids() {
		name, ok := c.cfg.Topics.TopicName(id)
		if !ok {
			continue
		}
		t := kmsg.NewConsumerMemberAssignmentTopic()
		t.Topic, t.Partitions = name, slices.Clone(a[id])
		out.Topics = append(out.Topics, t)
	}
	return out.AppendTo(nil)
}

func (m *cmember) stopTimers() {
	for _, t := range []*timer{m.session, m.revokeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	if m.classic != nil {
		for _, t := range []*timer{m.classic.joinTimer, m.classic.syncTimer} {
			if t != nil {
				t.Stop()
			}
		}
	}
}

// classicFenceAfterLocked fences m, a classic member, after d unless the
// timer is stopped first.
func (c *Coordinator) classicFenceAfterLocked(g *group, m *cmember, d time.Duration, why string) *timer {
	id := m.id
	return c.afterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if mm := g.cmembers[id]; mm != nil && !c.closed && g.typ == typeConsumer {
			c.log.Info("classic group member "+why+"; removing it", "group", g.name, "member", id)
			c.leaveCMemberLocked(g, mm)
		}
	})
}

// rejoinLocked reports whether the classic member m must rejoin to move
// on, and starts the timer that fences it if it does not.
func (c *Coordinator) rejoinLocked(g *group, m *cmember) bool {
	must := m.epoch < g.assignEpoch || len(m.revoking) > 0
	if !must {
		// Partitions of its target it waits for, all released now.
		if waiting := m.target.minus(m.assigned); len(waiting) > 0 {
			held := g.heldByOthersLocked(m)
			must = true
			for id, ps := range waiting {
				if slices.ContainsFunc(ps, func(p int32) bool { return held[id][p] }) {
					must = false
				}
			}
		}
	}
	if must && m.classic.joinTimer == nil && m.rebalanceTimeout > 0 {
		m.classic.joinTimer = c.classicFenceAfterLocked(g, m, m.rebalanceTimeout, "did not rejoin within its rebalance timeout")
	}
	return must
}

// confirmRevoked drops from m's revocations what owned no longer
// holds.
func (m *cmember) confirmRevoked(owned assignment) {
	for id, ps := range m.revoking {
		keep := ps[:0:0]
		for _, p := range ps {
			if slices.Contains(owned[id], p) {
				keep = append(keep, p)
			}
		}
		if len(keep) == 0 {
			delete(m.revoking, id)
		} else {
			m.revoking[id] = keep
		}
	}
}

// classicMemberLocked finds the classic member a request names: by its
// instance id for a static member (FENCED_INSTANCE_ID if another member
// id holds it), by its member id otherwise.
func (g *group) classicMemberLocked(memberID, instanceID string) (*cmember, *kerr.Error) {
	var m *cmember
	if instanceID != "" {
		m = g.staticCMemberLocked(instanceID)
		if m != nil && m.id != memberID {
			return nil, kerr.FencedInstanceID
		}
	} else {
		m = g.cmembers[memberID]
	}
	if m == nil || m.classic == nil {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// staticCMemberLocked is the member of consumer group g with that
// group.instance.id, nil if none.
func (g *group) staticCMemberLocked(instanceID string) *cmember {
	for _, o := range g.cmembers {
		if o.instanceID == instanceID {
			return o
		}
	}
	return nil
}

// joinConsumerLocked serves the JoinGroup of a classic member of consumer
// group g (Kafka's classicGroupJoinToConsumerGroup). It returns the answer
// and the state sequence that must be durable before it goes; or, with
// classic true, nothing: the join made the group classic, and the caller
// serves it as a classic group's.
func (c *Coordinator) joinConsumerLocked(g *group, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, clientID, clientHost, instanceID string, session, rebalance time.Duration, protos []protocol) (_ *kmsg.JoinGroupResponse, _ uint64, classic bool) {
	fail := func(e *kerr.Error) (*kmsg.JoinGroupResponse, uint64, bool) {
		resp.ErrorCode = e.Code
		return resp, 0, false
	}
	if req.ProtocolType != consumerProtocolType {
		return fail(kerr.InconsistentGroupProtocol)
	}
	sub, ok := parseSubscription(protos[0].metadata)
	if !ok {
		return fail(kerr.InconsistentGroupProtocol)
	}
	memberID := req.MemberID
	var m *cmember
	if instanceID != "" {
		m = g.staticCMemberLocked(instanceID)
	} else if memberID != "" {
		m = g.cmembers[memberID]
	}
	if !g.classicSupportsLocked(m, protos) {
		// As Kafka: the classic members must keep a protocol in
		// common, for the group to turn classic again.
		return fail(kerr.InconsistentGroupProtocol)
	}
	if m != nil && memberID == "" && m.classic == nil && c.downgradeOnReplaceLocked(g, m) {
		return nil, 0, true
	}
	switch {
	case m != nil && memberID != "" && memberID != m.id:
		return fail(kerr.FencedInstanceID)
	case m != nil && memberID == "":
		// A static member back with a new instance of its client: it
		// takes the old member's place and assignment.
		m.stopTimers()
		delete(g.cmembers, m.id)
		m.id = newMemberID(clientID)
		g.cmembers[m.id] = m
		c.touchLocked(g)
	case m != nil && m.classic == nil && instanceID == "":
		// A member of the consumer protocol's id.
		return fail(kerr.UnknownMemberID)
	case m != nil:
	case memberID == "" && instanceID == "" && req.Version >= 4:
		// KIP-394, as in a classic group (not for static members).
		if len(g.cmembers) >= c.cfg.MaxSize {
			return fail(kerr.GroupMaxSizeReached)
		}
		resp.MemberID = newMemberID(clientID)
		return fail(kerr.MemberIDRequired)
	case memberID == "":
		memberID = newMemberID(clientID)
	}
	changed := false
	if m == nil {
		if len(g.cmembers) >= c.cfg.MaxSize {
			return fail(kerr.GroupMaxSizeReached)
		}
		m = &cmember{id: memberID, instanceID: instanceID}
		g.cmembers[memberID] = m
		changed = true
	}
	if m.classic == nil {
		m.classic = &classicMeta{}
	} else if m.classic.joinTimer != nil {
		m.classic.joinTimer.Stop()
		m.classic.joinTimer = nil
	}
	m.classic.session, m.classic.protocols = session, protos
	m.clientID, m.clientHost, m.rebalanceTimeout = clientID, clientHost, rebalance
	if sub.Rack != nil {
		m.rackID = *sub.Rack
	}
	if names := slices.Sorted(slices.Values(sub.Topics)); !slices.Equal(names, m.names) || m.regex != "" {
		m.names, m.regex, m.re, changed = names, "", nil, true
	}
	if changed || c.topicSignatureLocked(g) != g.topicSig {
		g.epoch++
		c.computeTargetsLocked(g)
	}
	owned := make(assignment)
	for _, t := range sub.OwnedPartitions {
		if id, ok := c.cfg.Topics.TopicID(t.Topic); ok {
			owned[id] = append(owned[id], t.Partitions...)
		}
	}
	// Revoke, then (if the member holds none of what it must revoke:
	// an eager member gave up everything before it joined) move on at
	// once, as Kafka's reconciliation would on its next request.
	for range 2 {
		m.confirmRevoked(owned)
		c.reconcileLocked(g, m)
		if len(m.revoking) == 0 {
			break
		}
	}
	c.consumerHeartbeatLocked(g, m)
	if m.classic.syncTimer != nil {
		m.classic.syncTimer.Stop()
	}
	if rebalance > 0 {
		m.classic.syncTimer = c.classicFenceAfterLocked(g, m, rebalance, "did not sync within its rebalance timeout")
	}
	seq := c.touchLocked(g)
	resp.MemberID, resp.Generation = m.id, m.epoch
	pt, p := consumerProtocolType, protos[0].name
	resp.ProtocolType, resp.Protocol = &pt, &p
	return resp, seq, false
}

// downgradeOnReplaceLocked: a static classic member takes the place of m,
// a static member of the consumer protocol. When m is the last such member
// and the policy allows, g turns classic, without m (Kafka's downgrade on
// a replaced member), and the joiner joins it as a classic group: reported
// true. Kafka hands the joiner m's assignment without a rebalance; here
// the classic group rebalances, as after a downgrade on a leave, so that
// no partition is handed out before its holder gave it up.
func (c *Coordinator) downgradeOnReplaceLocked(g *group, m *cmember) bool {
	if !c.migrationAllows(MigrationDowngrade) || len(g.cmembers) > c.cfg.MaxSize {
		return false
	}
	for _, o := range g.cmembers {
		if o != m && o.classic == nil {
			return false
		}
	}
	if len(g.cmembers) == 1 {
		// Alone: the group is empty without it, and an empty group
		// takes any protocol.
		c.removeCMemberLocked(g, m)
		return true
	}
	c.downgradeLocked(g, m)
	return true
}

// classicSupportsLocked reports whether one of protos is supported by every
// classic member of consumer group g but self.
func (g *group) classicSupportsLocked(self *cmember, protos []protocol) bool {
	return slices.ContainsFunc(protos, func(p protocol) bool {
		for _, o := range g.cmembers {
			if o != self && o.classic != nil && !slices.ContainsFunc(o.classic.protocols, func(q protocol) bool { return q.name == p.name }) {
				return false
			}
		}
		return true
	})
}

// syncConsumerLocked serves the SyncGroup of a classic member of consumer
// group g: its partitions as the broker assigned them.
func (c *Coordinator) syncConsumerLocked(g *group, req *kmsg.SyncGroupRequest, resp *kmsg.SyncGroupResponse, instanceID string) (*kmsg.SyncGroupResponse, uint64) {
	m, e := g.classicMemberLocked(req.MemberID, instanceID)
	switch {
	case e != nil:
	case req.Generation != m.epoch:
		e = kerr.IllegalGeneration
	case req.ProtocolType != nil && *req.ProtocolType != consumerProtocolType,
		req.Protocol != nil && *req.Protocol != m.classic.protocols[0].name:
		e = kerr.InconsistentGroupProtocol
	case g.assignEpoch > m.epoch && len(m.revoking) == 0:
		// A rebalance started since its JoinGroup: it rejoins first.
		c.rejoinLocked(g, m)
		e = kerr.RebalanceInProgress
	}
	if e != nil {
		resp.ErrorCode = e.Code
		return resp, 0
	}
	if m.classic.syncTimer != nil {
		m.classic.syncTimer.Stop()
		m.classic.syncTimer = nil
	}
	c.consumerHeartbeatLocked(g, m)
	pt, p := consumerProtocolType, m.classic.protocols[0].name
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.MemberAssignment = c.classicAssignmentLocked(m.assigned, m.classic.protocols[0].metadata)
	return resp, g.seq
}

// heartbeatConsumerLocked serves the Heartbeat of a classic member of
// consumer group g.
func (c *Coordinator) heartbeatConsumerLocked(g *group, req *kmsg.HeartbeatRequest, instanceID string) *kerr.Error {
	m, e := g.classicMemberLocked(req.MemberID, instanceID)
	switch {
	case e != nil:
		return e
	case req.Generation != m.epoch:
		return kerr.IllegalGeneration
	}
	c.consumerHeartbeatLocked(g, m)
	if c.rejoinLocked(g, m) {
		return kerr.RebalanceInProgress
	}
	return nil
}

// leaveConsumerLocked serves the LeaveGroup of classic members of consumer
// group g.
func (c *Coordinator) leaveConsumerLocked(g *group, leaving []kmsg.LeaveGroupRequestMember) []kmsg.LeaveGroupResponseMember {
	var out []kmsg.LeaveGroupResponseMember
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		instanceID := ""
		if lm.InstanceID != nil {
			instanceID = *lm.InstanceID
		}
		id := lm.MemberID
		if instanceID != "" && id == "" {
			// An administrator's removal names the instance only.
			if o := g.staticCMemberLocked(instanceID); o != nil {
				id = o.id
			}
		}
		if m, e := g.classicMemberLocked(id, instanceID); e != nil {
			rm.ErrorCode = e.Code
		} else {
			c.log.Info("classic member left the consumer group", "group", g.name, "member", m.id)
			c.removeCMemberLocked(g, m)
		}
		out = append(out, rm)
	}
	return out
}
