package group

// KIP-848 consumer groups: ConsumerGroupHeartbeat and ConsumerGroupDescribe.
//
// The broker computes each member's target assignment (the "uniform"
// assignor, sticky, or "range") whenever the group epoch moves: a member
// joins, leaves, expires or changes its subscription, or a subscribed
// topic changes. Each heartbeat then reconciles the member towards its
// target as Kafka's CurrentAssignmentBuilder does: partitions it must give
// up are revoked first (its epoch stays until it reports them released);
// then it gets the target's partitions that no other member still owns or
// is releasing, and its epoch moves to the target's. Partitions still held
// elsewhere follow on a later heartbeat, once released.

import (
	"bytes"
	"context"
	"encoding/binary"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

const (
	typeClassic  = "classic"
	typeConsumer = "consumer"
)

// assignment maps topic IDs to sorted partitions.
type assignment map[[16]byte][]int32

type cmember struct {
	id, instanceID, rackID string
	clientID, clientHost   string
	epoch, prevEpoch       int32
	rebalanceTimeout       time.Duration
	names                  []string
	regex                  string
	re                     *regexp.Regexp // regex, compiled
	assignor               string

	assigned assignment // what the member was told it owns
	revoking assignment // what it must release before it moves on
	target   assignment
	session  *timer
	// revokeTimer removes the member if it has not revoked partitions
	// within its rebalance timeout.
	revokeTimer *timer
	// classic is set for a member that speaks the classic protocol
	// (migrate.go).
	classic *classicMeta
}

// consumerState is the group's state as ConsumerGroupDescribe and
// ListGroups name it.
func (g *group) consumerStateLocked() string {
	if len(g.cmembers) == 0 {
		return "Empty"
	}
	if g.assignEpoch != g.epoch {
		return "Assigning"
	}
	for _, m := range g.cmembers {
		if m.epoch != g.assignEpoch || len(m.revoking) > 0 || !m.assigned.equal(m.target) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// ConsumerGroupHeartbeat serves ConsumerGroupHeartbeat v0-v1. An answer
// that changed the group's state waits until the state is stored.
func (c *Coordinator) ConsumerGroupHeartbeat(ctx context.Context, req *kmsg.ConsumerGroupHeartbeatRequest, clientID, clientHost string) *kmsg.ConsumerGroupHeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	fail := func(e *kerr.Error, msg string) *kmsg.ConsumerGroupHeartbeatResponse {
		resp.ErrorCode = e.Code
		if msg != "" {
			resp.ErrorMessage = &msg
		}
		return resp
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidRequest, "GroupId can't be empty.")
	case req.MemberEpoch < -2:
		return fail(kerr.InvalidRequest, "MemberEpoch is invalid.")
	case req.MemberEpoch == 0 && req.Version >= 1 && req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.MemberEpoch == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return fail(kerr.InvalidRequest, "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case req.MemberEpoch == 0 && len(req.Topics) > 0:
		return fail(kerr.InvalidRequest, "Topics must be empty when (re-)joining.")
	case req.MemberEpoch != 0 && req.MemberID == "":
		return fail(kerr.InvalidRequest, "MemberId can't be empty.")
	case req.ServerAssignor != nil && *req.ServerAssignor != "" && *req.ServerAssignor != "uniform" && *req.ServerAssignor != "range":
		return fail(kerr.UnsupportedAssignor, "Assignor "+*req.ServerAssignor+" is not supported. Supported assignors: uniform, range.")
	}
	var re *regexp.Regexp
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != "" {
		// Kafka uses RE2J, whose syntax Go's regexp shares; it matches
		// whole topic names.
		var err error
		if re, err = regexp.Compile("^(?:" + *req.SubscribedTopicRegex + ")$"); err != nil {
			return fail(kerr.InvalidRegularExpression, err.Error())
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(errCoordinatorNotAvailable, "")
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberEpoch != 0 {
			return fail(kerr.UnknownMemberID, "")
		}
		g = c.newGroupLocked(req.Group)
	}
	if g.typ == typeClassic && len(g.members) > 0 && (req.MemberEpoch != 0 || !c.upgradeLocked(g)) || g.typ == typeShare {
		return fail(kerr.GroupIDNotFound, "Group "+req.Group+" is not a consumer group.")
	}
	if g.typ != typeConsumer {
		g.typ = typeConsumer
		g.cmembers = make(map[string]*cmember)
	}

	memberID := req.MemberID
	if req.MemberEpoch < 0 {
		m := g.cmembers[memberID]
		if m == nil {
			return fail(kerr.UnknownMemberID, "")
		}
		c.leaveCMemberLocked(g, m)
		if e := c.durableLocked(ctx, g); e != nil {
			return fail(e, "")
		}
		resp.MemberID, resp.MemberEpoch = &memberID, req.MemberEpoch
		return resp
	}

	m := g.cmembers[memberID]
	changed := false
	groupEpoch := g.epoch
	var was meta.GroupMember
	if m != nil {
		was = m.stored()
	}
	switch {
	case req.MemberEpoch == 0:
		if memberID == "" {
			memberID = newMemberID(clientID)
		}
		instanceID := ""
		if req.InstanceID != nil {
			instanceID = *req.InstanceID
		}
		if m == nil && instanceID != "" {
			// A static member back: it takes over its predecessor's
			// place and assignment.
			if m = g.staticCMemberLocked(instanceID); m != nil {
				m.stopTimers()
				delete(g.cmembers, m.id)
				m.id = memberID
				// A classic member's successor may speak the
				// consumer protocol.
				m.classic = nil
				g.cmembers[memberID] = m
				if len(m.revoking) > 0 {
					c.revocationTimerLocked(g, m)
				}
			}
		}
		if m == nil {
			m = &cmember{id: memberID, instanceID: instanceID}
			g.cmembers[memberID] = m
			changed = true
		} else if req.MemberID == m.id && m.epoch > 0 && m.instanceID == "" {
			// A dynamic member that joins again starts over.
			m.assigned, m.revoking, m.epoch, m.prevEpoch = nil, nil, 0, 0
			changed = true
		}
		m.clientID, m.clientHost = clientID, clientHost
	case m == nil:
		return fail(kerr.UnknownMemberID, "")
	case req.MemberEpoch != m.epoch && req.MemberEpoch != m.prevEpoch:
		return fail(kerr.FencedMemberEpoch, "")
	}
	if req.RackID != nil {
		m.rackID = *req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.rebalanceTimeout = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	if req.SubscribedTopicNames != nil {
		names := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(names)
		if !slices.Equal(names, m.names) {
			m.names, changed = names, true
		}
	}
	if req.SubscribedTopicRegex != nil && *req.SubscribedTopicRegex != m.regex {
		m.regex, m.re, changed = *req.SubscribedTopicRegex, re, true
	}
	if req.ServerAssignor != nil && *req.ServerAssignor != m.assignor {
		m.assignor, changed = *req.ServerAssignor, true
	}
	if req.Topics != nil {
		// What the member reports owning confirms revocations.
		owned := make(assignment)
		for _, t := range req.Topics {
			owned[t.TopicID] = append(owned[t.TopicID], t.Partitions...)
		}
		m.confirmRevoked(owned)
	}
	if changed || c.topicSignatureLocked(g) != g.topicSig {
		g.epoch++
		c.computeTargetsLocked(g)
	}
	c.consumerHeartbeatLocked(g, m)

	before := m.assigned.clone()
	epochBefore := m.epoch
	c.reconcileLocked(g, m)
	if g.epoch != groupEpoch || !reflect.DeepEqual(was, m.stored()) {
		c.touchLocked(g)
	}
	if e := c.durableLocked(ctx, g); e != nil {
		return fail(e, "")
	}
	if g.cmembers[m.id] != m {
		// Removed while the state was stored (a timer).
		return fail(kerr.UnknownMemberID, "")
	}
	resp.MemberID = &m.id
	resp.MemberEpoch = m.epoch
	resp.HeartbeatIntervalMillis = int32(c.cfg.ConsumerHeartbeatInterval.Milliseconds())
	full := req.Topics != nil && !m.assigned.equal(fromRequest(req.Topics))
	if req.MemberEpoch == 0 || full || !before.equal(m.assigned) || epochBefore != m.epoch {
		a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
		ids := m.assigned.ids()
		for _, id := range ids {
			t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
			t.TopicID, t.Partitions = id, slices.Clone(m.assigned[id])
			a.Topics = append(a.Topics, t)
		}
		resp.Assignment = &a
	}
	return resp
}

// stored is what the catalog keeps of m, to tell whether a heartbeat
// changed it.
func (m *cmember) stored() meta.GroupMember {
	sm := meta.GroupMember{
		ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, RackID: m.rackID,
		RebalanceTimeoutMs: int32(m.rebalanceTimeout.Milliseconds()),
		Epoch:              m.epoch, PreviousEpoch: m.prevEpoch,
		SubscribedTopics: m.names, SubscribedRegex: m.regex, ServerAssignor: m.assignor,
		Assigned: m.assigned.toMeta(), Revoking: m.revoking.toMeta(), Target: m.target.toMeta(),
	}
	if m.classic != nil {
		sm.SessionTimeoutMs, sm.ProtocolType = int32(m.classic.session.Milliseconds()), consumerProtocolType
		for _, p := range m.classic.protocols {
			sm.Protocols = append(sm.Protocols, meta.GroupProtocol{Name: p.name, Metadata: p.metadata})
		}
	}
	return sm
}

// sameMap reports whether a and b are the same map value (the revocation a
// timer was set for).
func sameMap(a, b assignment) bool {
	return len(a) == len(b) && a.equal(b)
}

func fromRequest(ts []kmsg.ConsumerGroupHeartbeatRequestTopic) assignment {
	a := make(assignment)
	for _, t := range ts {
		if len(t.Partitions) > 0 {
			a[t.TopicID] = append(a[t.TopicID], t.Partitions...)
			slices.Sort(a[t.TopicID])
		}
	}
	return a
}

func (c *Coordinator) consumerHeartbeatLocked(g *group, m *cmember) {
	if m.session != nil {
		m.session.Stop()
	}
	id := m.id
	timeout := c.cfg.ConsumerSessionTimeout
	if m.classic != nil {
		timeout = m.classic.session
	}
	m.session = c.afterFunc(timeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if mm := g.cmembers[id]; mm != nil && !c.closed && g.typ == typeConsumer {
			c.log.Info("group member session expired", "group", g.name, "member", id)
			c.leaveCMemberLocked(g, mm)
		}
	})
}

func (c *Coordinator) removeCMemberLocked(g *group, m *cmember) {
	m.stopTimers()
	delete(g.cmembers, m.id)
	c.touchLocked(g)
	g.epoch++
	c.computeTargetsLocked(g)
	if len(g.cmembers) == 0 {
		g.emptySince = c.now()
	}
}

// revocationTimerLocked removes m, as Kafka does, if it has not released
// the partitions it is revoking within its rebalance timeout, so the others
// can have them.
func (c *Coordinator) revocationTimerLocked(g *group, m *cmember) {
	if m.rebalanceTimeout <= 0 {
		return
	}
	id, revoking := m.id, m.revoking
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
	}
	m.revokeTimer = c.afterFunc(m.rebalanceTimeout, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if mm := g.cmembers[id]; mm != nil && !c.closed && len(mm.revoking) > 0 && sameMap(mm.revoking, revoking) {
			c.log.Info("group member did not revoke partitions within its rebalance timeout; removing it", "group", g.name, "member", id)
			c.leaveCMemberLocked(g, mm)
		}
	})
}

// reconcileLocked moves m towards its target: revoke first, then assign
// what is free, then take the target's epoch.
func (c *Coordinator) reconcileLocked(g *group, m *cmember) {
	if len(m.revoking) > 0 {
		return
	}
	revoke := m.assigned.minus(m.target)
	if len(revoke) > 0 {
		m.assigned = m.assigned.minus(revoke)
		m.revoking = revoke
		c.revocationTimerLocked(g, m)
		return
	}
	held := g.heldByOthersLocked(m)
	next := m.assigned.clone()
	for id, ps := range m.target {
		for _, p := range ps {
			if !held[id][p] && !slices.Contains(next[id], p) {
				next[id] = append(next[id], p)
			}
		}
		slices.Sort(next[id])
	}
	m.assigned = next
	if m.epoch != g.assignEpoch {
		m.prevEpoch, m.epoch = m.epoch, g.assignEpoch
	}
}

// heldByOthersLocked is the partitions the members of g other than m own
// or are releasing.
func (g *group) heldByOthersLocked(m *cmember) map[[16]byte]map[int32]bool {
	held := make(map[[16]byte]map[int32]bool)
	for _, o := range g.cmembers {
		if o == m {
			continue
		}
		for _, a := range []assignment{o.assigned, o.revoking} {
			for id, ps := range a {
				if held[id] == nil {
					held[id] = make(map[int32]bool)
				}
				for _, p := range ps {
					held[id][p] = true
				}
			}
		}
	}
	return held
}

type topicInfo struct {
	name string
	id   [16]byte
	n    int32
}

// subscribedTopicsLocked resolves every member's subscription against the
// broker's topics, sorted by name.
func (c *Coordinator) subscribedTopicsLocked(g *group) ([]topicInfo, map[string]map[string]bool) {
	subs := make(map[string]map[string]bool) // member -> topic names
	all := make(map[string]bool)
	var names []string
	for _, m := range g.cmembers {
		s := make(map[string]bool)
		for _, n := range m.names {
			s[n] = true
		}
		if m.re != nil {
			if names == nil {
				names = c.cfg.Topics.Names()
			}
			for _, n := range names {
				if m.re.MatchString(n) {
					s[n] = true
				}
			}
		}
		subs[m.id] = s
		for n := range s {
			all[n] = true
		}
	}
	var out []topicInfo
	for n := range all {
		if id, parts, ok := c.cfg.Topics.Partitions(n); ok {
			out = append(out, topicInfo{n, id, parts})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, subs
}

// topicSignatureLocked identifies the subscribed topics' IDs and sizes, to
// notice on a heartbeat that one was created, deleted or grew.
func (c *Coordinator) topicSignatureLocked(g *group) string {
	ts, _ := c.subscribedTopicsLocked(g)
	return signature(ts)
}

func signature(ts []topicInfo) string {
	var b []byte
	for _, t := range ts {
		b = append(b, t.id[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(t.n))
	}
	return string(b)
}

// computeTargetsLocked recomputes every member's target assignment for the
// group epoch.
func (c *Coordinator) computeTargetsLocked(g *group) {
	g.assignEpoch = g.epoch
	topics, subs := c.subscribedTopicsLocked(g)
	g.topicSig = signature(topics)
	ids := slices.Sorted(maps.Keys(g.cmembers))
	// As Kafka: the assignor most members ask for, else the default.
	votes := map[string]int{}
	assignor := "uniform"
	for _, id := range ids {
		if a := g.cmembers[id].assignor; a != "" {
			if votes[a]++; votes[a] > votes[assignor] {
				assignor = a
			}
		}
	}
	g.assignor = assignor
	targets := make(map[string]assignment, len(ids))
	for _, id := range ids {
		targets[id] = make(assignment)
	}
	if assignor == "range" {
		for _, t := range topics {
			var ms []string
			for _, id := range ids {
				if subs[id][t.name] {
					ms = append(ms, id)
				}
			}
			if len(ms) == 0 {
				continue
			}
			per, extra := int(t.n)/len(ms), int(t.n)%len(ms)
			p := int32(0)
			for i, id := range ms {
				n := per
				if i < extra {
					n++
				}
				for range n {
					targets[id][t.id] = append(targets[id][t.id], p)
					p++
				}
			}
		}
	} else {
		// Uniform, sticky: each member's fair share is total/n, and
		// total%n members may have one more. A partition stays with
		// its previous target owner while that owner is within its
		// share; the rest go to the least loaded subscribed member.
		total := 0
		for _, t := range topics {
			total += int(t.n)
		}
		base, extra := 0, 0
		if len(ids) > 0 {
			base, extra = total/len(ids), total%len(ids)
		}
		load := make(map[string]int)
		owner := make(map[[16]byte]map[int32]string)
		for _, id := range ids {
			for tid, ps := range g.cmembers[id].target {
				for _, p := range ps {
					if owner[tid] == nil {
						owner[tid] = make(map[int32]string)
					}
					owner[tid][p] = id
				}
			}
		}
		type tpart struct {
			t topicInfo
			p int32
		}
		var moved, rest []tpart
		for _, t := range topics {
			for p := range t.n {
				if o, ok := owner[t.id][p]; ok && subs[o][t.name] && load[o] < base {
					targets[o][t.id] = append(targets[o][t.id], p)
					load[o]++
					continue
				}
				moved = append(moved, tpart{t, p})
			}
		}
		for _, r := range moved {
			if o, ok := owner[r.t.id][r.p]; ok && subs[o][r.t.name] && load[o] == base && extra > 0 {
				targets[o][r.t.id] = append(targets[o][r.t.id], r.p)
				load[o]++
				extra--
				continue
			}
			rest = append(rest, r)
		}
		for _, r := range rest {
			best := ""
			for _, id := range ids {
				if subs[id][r.t.name] && (best == "" || load[id] < load[best]) {
					best = id
				}
			}
			if best != "" {
				targets[best][r.t.id] = append(targets[best][r.t.id], r.p)
				load[best]++
			}
		}
	}
	for _, id := range ids {
		for tid := range targets[id] {
			slices.Sort(targets[id][tid])
		}
		g.cmembers[id].target = targets[id]
	}
}

// ConsumerGroupDescribe serves ConsumerGroupDescribe v0-v1.
func (c *Coordinator) ConsumerGroupDescribe(req *kmsg.ConsumerGroupDescribeRequest) *kmsg.ConsumerGroupDescribeResponse {
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, name := range req.Groups {
		rg := kmsg.NewConsumerGroupDescribeResponseGroup()
		rg.Group = name
		rg.AuthorizedOperations = -2147483648
		g := c.groups[name]
		switch {
		case c.closed:
			rg.ErrorCode = errCoordinatorNotAvailable.Code
		case g == nil:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " not found."
			rg.ErrorMessage = &msg
		case g.typ != typeConsumer:
			rg.ErrorCode = kerr.GroupIDNotFound.Code
			msg := "Group " + name + " is not a consumer group."
			rg.ErrorMessage = &msg
		default:
			rg.State = g.consumerStateLocked()
			rg.Epoch, rg.AssignmentEpoch, rg.AssignorName = g.epoch, g.assignEpoch, g.assignor
			ids := slices.Sorted(maps.Keys(g.cmembers))
			for _, id := range ids {
				m := g.cmembers[id]
				dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
				dm.MemberID, dm.MemberEpoch, dm.ClientID, dm.ClientHost = m.id, m.epoch, m.clientID, m.clientHost
				if m.instanceID != "" {
					iid := m.instanceID
					dm.InstanceID = &iid
				}
				if m.rackID != "" {
					r := m.rackID
					dm.RackID = &r
				}
				dm.SubscribedTopics = slices.Clone(m.names)
				if m.regex != "" {
					r := m.regex
					dm.SubscribedTopicRegex = &r
				}
				dm.Assignment = m.assigned.toKmsg(c.cfg.Topics)
				dm.TargetAssignment = m.target.toKmsg(c.cfg.Topics)
				dm.MemberType = 1 // consumer protocol
				if m.classic != nil {
					dm.MemberType = 0
				}
				rg.Members = append(rg.Members, dm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (a assignment) ids() [][16]byte {
	ids := make([][16]byte, 0, len(a))
	for id, ps := range a {
		if len(ps) > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return bytes.Compare(x[:], y[:]) })
	return ids
}

// toKmsg describes the assignment with the topics' names beside their IDs,
// as Kafka does.
func (a assignment) toKmsg(topics Topics) kmsg.Assignment {
	out := kmsg.NewAssignment()
	for _, id := range a.ids() {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Partitions = id, slices.Clone(a[id])
		tp.Topic, _ = topics.TopicName(id)
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

func (a assignment) clone() assignment {
	out := make(assignment, len(a))
	for id, ps := range a {
		if len(ps) > 0 {
			out[id] = slices.Clone(ps)
		}
	}
	return out
}

func (a assignment) minus(b assignment) assignment {
	out := make(assignment)
	for id, ps := range a {
		for _, p := range ps {
			if !slices.Contains(b[id], p) {
				out[id] = append(out[id], p)
			}
		}
	}
	return out
}

func (a assignment) equal(b assignment) bool {
	ai, bi := a.ids(), b.ids()
	if len(ai) != len(bi) {
		return false
	}
	for i, id := range ai {
		if bi[i] != id || !slices.Equal(a[id], b[id]) {
			return false
		}
	}
	return true
}

// consumerSubscribedLocked reports whether a KIP-848 member subscribes to
// topic.
func (c *Coordinator) consumerSubscribedLocked(g *group, topic string) bool {
	_, subs := c.subscribedTopicsLocked(g)
	for _, s := range subs {
		if s[topic] {
			return true
		}
	}
	return false
}
