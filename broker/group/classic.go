package group

import (
	"bytes"
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var errCoordinatorNotAvailable = kerr.CoordinatorNotAvailable

// errNotCoordinator: the group moved to another broker (Abandon).
var errNotCoordinator = kerr.NotCoordinator

type joinResult struct {
	err        *kerr.Error
	generation int32
	protocol   string
	leader     string
	memberID   string
	members    []kmsg.JoinGroupResponseMember
	skipAssign bool // v9: a static member's rejoin that keeps the assignment
}

type syncResult struct {
	err        *kerr.Error
	assignment []byte
	seq        uint64 // the membership state to be durable before the answer
}

// JoinGroup serves JoinGroup v0-v9. It blocks until the rebalance it takes
// part in completes, ctx is done, or the coordinator closes.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.Generation = -1
	fail := func(e *kerr.Error) *kmsg.JoinGroupResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	session := time.Duration(req.SessionTimeoutMillis) * time.Millisecond
	rebalance := session
	if req.Version >= 1 {
		rebalance = time.Duration(req.RebalanceTimeoutMillis) * time.Millisecond
	}
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	switch {
	case req.Group == "":
		return fail(kerr.InvalidGroupID)
	case session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout:
		return fail(kerr.InvalidSessionTimeout)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return fail(kerr.InconsistentGroupProtocol)
	}
	protos := make([]protocol, len(req.Protocols))
	for i, p := range req.Protocols {
		protos[i] = protocol{p.Name, bytes.Clone(p.Metadata)}
	}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(errCoordinatorNotAvailable)
	}
	g := c.groups[req.Group]
	if g == nil {
		if req.MemberID != "" {
			c.mu.Unlock()
			return fail(kerr.UnknownMemberID)
		}
		g = c.newGroupLocked(req.Group)
	}
	if g.typ == typeConsumer && len(g.cmembers) > 0 {
		// A classic member of a consumer group, unless its join turns
		// the group classic (it then joins it below).
		if r, seq, classic := c.joinConsumerLocked(g, req, resp, clientID, clientHost, instanceID, session, rebalance, protos); !classic {
			c.mu.Unlock()
			if r.ErrorCode == 0 {
				if e := c.durable(ctx, g, seq); e != nil {
					return fail(e)
				}
			}
			return r
		}
	}
	if g.typ == typeShare {
		c.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol)
	}
	g.typ = typeClassic
	if g.state != Empty && len(g.members) > 0 && (g.protocolType != req.ProtocolType || !g.supportsLocked(protos)) {
		c.mu.Unlock()
		return fail(kerr.InconsistentGroupProtocol)
	}

	var m *member
	var ch chan joinResult
	switch {
	case req.MemberID == "" && instanceID != "" && g.static[instanceID] != "":
		// A static member back with a new instance of its client: it
		// takes the old member's place.
		old := g.members[g.static[instanceID]]
		currentLeader := g.leader
		m = c.replaceStaticLocked(g, old, clientID, clientHost)
		m.sessionTimeout, m.rebalanceTimeout = session, rebalance
		if g.state == Stable && protocolsEqual(old.protocols, protos) {
			// Nothing changed: no rebalance; it gets its assignment
			// with the next SyncGroup. As Kafka, the answer names
			// the leader as it was, so that a returning leader does
			// not take itself for the leader and assign for nothing
			// (a stable group would not hand that assignment out);
			// from v9 the leader gets the members and
			// skip_assignment instead.
			c.heartbeatLocked(g, m)
			isLeader := m.id == g.leader
			r := joinResult{generation: g.generation, protocol: g.protocol, leader: currentLeader, memberID: m.id}
			if req.Version >= 9 {
				r.leader = g.leader
				if isLeader {
					r.members, r.skipAssign = g.memberListLocked(), true
				}
			}
			c.mu.Unlock()
			return joinResponse(resp, req, r)
		}
		m.protocols = protos
		ch = c.awaitJoinLocked(g, m)
	case req.MemberID == "" && instanceID == "" && req.Version >= 4:
		// KIP-394: hand out a member id and make the client join again
		// with it, so that a client that dies before it learns its id
		// leaves no member behind for a session timeout.
		if len(g.members)+len(g.pending) >= c.cfg.MaxSize {
			c.mu.Unlock()
			return fail(kerr.GroupMaxSizeReached)
		}
		id := newMemberID(clientID)
		g.pending[id] = c.afterFunc(session, func() { c.expirePending(g, id) })
		c.mu.Unlock()
		resp.MemberID = id
		return fail(kerr.MemberIDRequired)
	case req.MemberID == "":
		if len(g.members)+len(g.pending) >= c.cfg.MaxSize {
			c.mu.Unlock()
			return fail(kerr.GroupMaxSizeReached)
		}
		id := newMemberID(clientID)
		m = c.addMemberLocked(g, id, instanceID, clientID, clientHost, session, rebalance, req.ProtocolType, protos)
		ch = c.awaitJoinLocked(g, m)
	default:
		if t, ok := g.pending[req.MemberID]; ok {
			t.Stop()
			delete(g.pending, req.MemberID)
			m = c.addMemberLocked(g, req.MemberID, instanceID, clientID, clientHost, session, rebalance, req.ProtocolType, protos)
			ch = c.awaitJoinLocked(g, m)
			break
		}
		m = g.members[req.MemberID]
		if g.fencedLocked(req.MemberID, instanceID) {
			c.mu.Unlock()
			return fail(kerr.FencedInstanceID)
		}
		if m == nil {
			c.mu.Unlock()
			return fail(kerr.UnknownMemberID)
		}
		if m.sessionTimeout != session || m.rebalanceTimeout != rebalance || m.clientID != clientID || m.clientHost != clientHost {
			m.sessionTimeout, m.rebalanceTimeout = session, rebalance
			m.clientID, m.clientHost = clientID, clientHost
			c.touchLocked(g)
		}
		switch g.state {
		case CompletingRebalance, Stable:
			if protocolsEqual(m.protocols, protos) && (g.state == CompletingRebalance || m.id != g.leader) {
				// The same member with the same metadata: it gets
				// the current generation again, no rebalance.
				c.heartbeatLocked(g, m)
				r := joinResult{generation: g.generation, protocol: g.protocol, leader: g.leader, memberID: m.id}
				if m.id == g.leader {
					r.members = g.memberListLocked()
				}
				c.mu.Unlock()
				return joinResponse(resp, req, r)
			}
		}
		m.protocols = protos
		ch = c.awaitJoinLocked(g, m)
	}
	c.mu.Unlock()

	select {
	case r := <-ch:
		return joinResponse(resp, req, r)
	case <-ctx.Done():
		c.mu.Lock()
		if m.join == ch {
			m.join = nil
		}
		c.mu.Unlock()
		return fail(kerr.RebalanceInProgress)
	}
}

func joinResponse(resp *kmsg.JoinGroupResponse, req *kmsg.JoinGroupRequest, r joinResult) *kmsg.JoinGroupResponse {
	if r.err != nil {
		resp.ErrorCode = r.err.Code
		resp.MemberID = r.memberID
		return resp
	}
	resp.Generation = r.generation
	pt, p := req.ProtocolType, r.protocol
	resp.ProtocolType, resp.Protocol = &pt, &p
	resp.LeaderID = r.leader
	resp.MemberID = r.memberID
	resp.Members = r.members
	resp.SkipAssignment = r.skipAssign && req.Version >= 9
	return resp
}

func (c *Coordinator) addMemberLocked(g *group, id, instanceID, clientID, clientHost string, session, rebalance time.Duration, ptype string, protos []protocol) *member {
	m := &member{
		id: id, instanceID: instanceID, clientID: clientID, clientHost: clientHost,
		sessionTimeout: session, rebalanceTimeout: rebalance,
		protocolType: ptype, protocols: protos, isNew: true,
	}
	if len(g.members) == 0 {
		g.protocolType = ptype
	}
	g.members[id] = m
	if instanceID != "" {
		g.static[instanceID] = id
	}
	c.touchLocked(g)
	return m
}

// replaceStaticLocked gives a static member a new member id: the old id's
// waiting join or sync is fenced, and the assignment stays.
func (c *Coordinator) replaceStaticLocked(g *group, old *member, clientID, clientHost string) *member {
	m := *old
	m.id = newMemberID(clientID)
	m.clientID, m.clientHost = clientID, clientHost
	m.join, m.sync, m.session = nil, nil, nil
	if old.session != nil {
		old.session.Stop()
	}
	if old.join != nil {
		old.join <- joinResult{err: kerr.FencedInstanceID, memberID: old.id}
	}
	if old.sync != nil {
		old.sync <- syncResult{err: kerr.FencedInstanceID}
	}
	delete(g.members, old.id)
	g.members[m.id] = &m
	g.static[m.instanceID] = m.id
	if g.leader == old.id {
		g.leader = m.id
	}
	c.touchLocked(g)
	return &m
}

// fencedLocked reports whether a request naming memberID and instanceID
// comes from a static member that another member id has replaced.
func (g *group) fencedLocked(memberID, instanceID string) bool {
	if instanceID == "" {
		return false
	}
	known, ok := g.static[instanceID]
	return ok && known != memberID
}

func (g *group) checkInstanceLocked(m *member, instanceID string) *kerr.Error {
	if instanceID != "" && g.static[instanceID] != m.id {
		return kerr.FencedInstanceID
	}
	return nil
}

// supportsLocked reports whether some protocol of protos is supported by
// every current member.
func (g *group) supportsLocked(protos []protocol) bool {
	for _, p := range protos {
		all := true
		for _, m := range g.members {
			if !m.supports(p.name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (m *member) supports(name string) bool {
	for _, p := range m.protocols {
		if p.name == name {
			return true
		}
	}
	return false
}

func (m *member) metadata(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func protocolsEqual(a, b []protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].name != b[i].name || !bytes.Equal(a[i].metadata, b[i].metadata) {
			return false
		}
	}
	return true
}

// awaitJoinLocked registers m's JoinGroup as waiting and moves the group
// towards a rebalance.
func (c *Coordinator) awaitJoinLocked(g *group, m *member) chan joinResult {
	if m.join != nil {
		// A second JoinGroup of the same member replaces the first.
		m.join <- joinResult{err: kerr.RebalanceInProgress, memberID: m.id}
	}
	ch := make(chan joinResult, 1)
	m.join = ch
	c.heartbeatLocked(g, m)
	if g.state != PreparingRebalance {
		c.prepareRebalanceLocked(g)
	} else {
		c.maybeCompleteJoinLocked(g)
	}
	return ch
}

// prepareRebalanceLocked starts a rebalance: members must rejoin within the
// largest rebalance timeout; an empty group first waits the initial delay
// for more members.
func (c *Coordinator) prepareRebalanceLocked(g *group) {
	if g.state == CompletingRebalance {
		// Assignments being synced are void.
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				m.sync <- syncResult{err: kerr.RebalanceInProgress}
				m.sync = nil
			}
		}
	}
	wasEmpty := g.state == Empty
	g.state = PreparingRebalance
	c.touchLocked(g)
	if wasEmpty {
		// The initial delay extends only for members that come after.
		for _, m := range g.members {
			m.isNew = false
		}
	}
	if g.joinTimer != nil {
		g.joinTimer.Stop()
	}
	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.joinDeadline = c.now().Add(g.maxRebalanceTimeoutLocked())
		g.joinTimer = c.afterFunc(c.cfg.InitialRebalanceDelay, func() { c.initialDelayDone(g) })
		return
	}
	g.joinDeadline = time.Time{}
	g.joinTimer = c.afterFunc(g.maxRebalanceTimeoutLocked(), func() { c.joinTimeout(g) })
	c.maybeCompleteJoinLocked(g)
}

func (g *group) maxRebalanceTimeoutLocked() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// initialDelayDone: Kafka's InitialDelayedJoin waits again, up to the
// rebalance timeout, while members keep arriving.
func (c *Coordinator) initialDelayDone(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.state != PreparingRebalance || c.closed {
		return
	}
	if g.hasNewJoinerLocked() && c.now().Add(c.cfg.InitialRebalanceDelay).Before(g.joinDeadline) {
		for _, m := range g.members {
			m.isNew = false
		}
		g.joinTimer = c.afterFunc(c.cfg.InitialRebalanceDelay, func() { c.initialDelayDone(g) })
		return
	}
	g.joinDeadline = time.Time{}
	c.completeJoinLocked(g)
}

func (g *group) hasNewJoinerLocked() bool {
	for _, m := range g.members {
		if m.isNew {
			return true
		}
	}
	return false
}

func (c *Coordinator) joinTimeout(g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g.state == PreparingRebalance && !c.closed {
		c.completeJoinLocked(g)
	}
}

// maybeCompleteJoinLocked completes the join once every member has
// rejoined and no handed-out member id is still expected, unless the
// initial delay is running.
func (c *Coordinator) maybeCompleteJoinLocked(g *group) {
	if g.state != PreparingRebalance || !g.joinDeadline.IsZero() || len(g.pending) > 0 {
		return
	}
	for _, m := range g.members {
		if m.join == nil {
			return
		}
	}
	c.completeJoinLocked(g)
}

// completeJoinLocked ends the join phase: members that did not rejoin go, a
// new generation starts with a protocol every member supports, and every
// waiting JoinGroup is answered (the leader with the member list).
func (c *Coordinator) completeJoinLocked(g *group) {
	if g.joinTimer != nil {
		g.joinTimer.Stop()
		g.joinTimer = nil
	}
	for id, m := range g.members {
		if m.join == nil {
			c.removeMemberLocked(g, id)
		}
	}
	g.generation++
	c.touchLocked(g)
	if len(g.members) == 0 {
		// As Kafka, an empty group keeps its protocol type.
		g.state, g.protocol, g.leader = Empty, "", ""
		g.emptySince = c.now()
		return
	}
	g.protocol = g.selectProtocolLocked()
	if g.members[g.leader] == nil {
		g.leader = ""
		for id := range g.members {
			if g.leader == "" || id < g.leader {
				g.leader = id
			}
		}
	}
	g.state = CompletingRebalance
	list := g.memberListLocked()
	for _, m := range g.members {
		m.isNew = false
		r := joinResult{generation: g.generation, protocol: g.protocol, leader: g.leader, memberID: m.id}
		if m.id == g.leader {
			r.members = list
		}
		m.join <- r
		m.join = nil
		c.heartbeatLocked(g, m)
	}
}

// selectProtocolLocked picks the protocol every member supports with the
// most votes, each member voting for its first supported choice, as
// Kafka does.
func (g *group) selectProtocolLocked() string {
	var candidates []string
	first := true
	for _, m := range g.members {
		var names []string
		for _, p := range m.protocols {
			names = append(names, p.name)
		}
		if first {
			candidates, first = names, false
			continue
		}
		var keep []string
		for _, n := range candidates {
			if m.supports(n) {
				keep = append(keep, n)
			}
		}
		candidates = keep
	}
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := ""
	for _, n := range candidates {
		if best == "" || votes[n] > votes[best] {
			best = n
		}
	}
	return best
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (g *group) memberListLocked() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		if m.instanceID != "" {
			jm.InstanceID = &m.instanceID
		}
		jm.ProtocolMetadata = m.metadata(g.protocol)
		out = append(out, jm)
	}
	return out
}

// heartbeatLocked (re)starts m's session timer.
func (c *Coordinator) heartbeatLocked(g *group, m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	id := m.id
	m.session = c.afterFunc(m.sessionTimeout, func() { c.expireMember(g, id) })
}

func (c *Coordinator) expireMember(g *group, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := g.members[id]
	if m == nil || c.closed {
		return
	}
	if m.join != nil {
		// As Kafka, a member awaiting its JoinGroup answer has done
		// what its session asks: the join phase answers it, within
		// the rebalance timeout, and its session starts again then.
		// (Expiring it made a join phase longer than the session
		// timeout, as the initial delay extended by a later member
		// makes it, drop its members and start over, over and over.)
		c.heartbeatLocked(g, m)
		return
	}
	c.log.Info("group member session expired", "group", g.name, "member", id)
	c.removeMemberAndRebalanceLocked(g, id)
}

func (c *Coordinator) expirePending(g *group, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := g.pending[id]; ok {
		delete(g.pending, id)
		c.maybeCompleteJoinLocked(g)
	}
}

func (c *Coordinator) removeMemberLocked(g *group, id string) {
	m := g.members[id]
	if m == nil {
		return
	}
	if m.session != nil {
		m.session.Stop()
	}
	if m.join != nil {
		m.join <- joinResult{err: kerr.UnknownMemberID, memberID: id}
	}
	if m.sync != nil {
		m.sync <- syncResult{err: kerr.UnknownMemberID}
	}
	delete(g.members, id)
	if m.instanceID != "" && g.static[m.instanceID] == id {
		delete(g.static, m.instanceID)
	}
	c.touchLocked(g)
}

func (c *Coordinator) removeMemberAndRebalanceLocked(g *group, id string) {
	c.removeMemberLocked(g, id)
	c.rebalanceAfterRemovalLocked(g)
}

// rebalanceAfterRemovalLocked moves the group on after members went: a
// new rebalance, or the running join completes without them.
func (c *Coordinator) rebalanceAfterRemovalLocked(g *group) {
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalanceLocked(g)
	case PreparingRebalance:
		if len(g.members) == 0 && len(g.pending) == 0 {
			c.completeJoinLocked(g)
		} else {
			c.maybeCompleteJoinLocked(g)
		}
	}
}

// SyncGroup serves SyncGroup v0-v5. A member other than the leader waits
// for the leader's assignment.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(e *kerr.Error) *kmsg.SyncGroupResponse {
		resp.ErrorCode = e.Code
		return resp
	}
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return fail(errCoordinatorNotAvailable)
	}
	g := c.groups[req.Group]
	if g != nil && g.typ == typeConsumer {
		r, seq := c.syncConsumerLocked(g, req, resp, instanceID)
		c.mu.Unlock()
		if r.ErrorCode == 0 {
			if e := c.durable(ctx, g, seq); e != nil {
				return fail(e)
			}
		}
		return r
	}
	var m *member
	if g != nil {
		m = g.members[req.MemberID]
	}
	var e *kerr.Error
	switch {
	case g != nil && g.fencedLocked(req.MemberID, instanceID):
		e = kerr.FencedInstanceID
	case g == nil || m == nil:
		e = kerr.UnknownMemberID
	case req.Generation != g.generation:
		e = kerr.IllegalGeneration
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		e = kerr.InconsistentGroupProtocol
	case g.state == PreparingRebalance:
		e = kerr.RebalanceInProgress
	}
	if e != nil {
		c.mu.Unlock()
		return fail(e)
	}
	c.heartbeatLocked(g, m)
	if g.state == Stable {
		a, seq := m.assignment, g.seq
		pt, p := g.protocolType, g.protocol
		c.mu.Unlock()
		if e := c.durable(ctx, g, seq); e != nil {
			return fail(e)
		}
		resp.ProtocolType, resp.Protocol = &pt, &p
		return syncResponse(resp, syncResult{assignment: a})
	}
	// CompletingRebalance.
	if m.sync != nil {
		m.sync <- syncResult{err: kerr.RebalanceInProgress}
	}
	ch := make(chan syncResult, 1)
	m.sync = ch
	if m.id == g.leader {
		given := make(map[string][]byte, len(req.GroupAssignment))
		for _, a := range req.GroupAssignment {
			given[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
		g.state = Stable
		for _, mm := range g.members {
			mm.assignment = given[mm.id]
			if mm.assignment == nil {
				mm.assignment = []byte{}
			}
		}
		// Each answer waits until the assignments are durable, so
		// that the members find them again after a restart.
		seq := c.touchLocked(g)
		for _, mm := range g.members {
			if mm.sync != nil {
				mm.sync <- syncResult{assignment: mm.assignment, seq: seq}
				mm.sync = nil
			}
		}
	}
	protocolType, protocolName := g.protocolType, g.protocol
	c.mu.Unlock()

	select {
	case r := <-ch:
		if r.err == nil {
			if e := c.durable(ctx, g, r.seq); e != nil {
				return fail(e)
			}
			resp.ProtocolType, resp.Protocol = &protocolType, &protocolName
		}
		return syncResponse(resp, r)
	case <-ctx.Done():
		c.mu.Lock()
		if m.sync == ch {
			m.sync = nil
		}
		c.mu.Unlock()
		return fail(kerr.RebalanceInProgress)
	}
}

func syncResponse(resp *kmsg.SyncGroupResponse, r syncResult) *kmsg.SyncGroupResponse {
	if r.err != nil {
		resp.ErrorCode = r.err.Code
		return resp
	}
	resp.MemberAssignment = r.assignment
	return resp
}

// Heartbeat serves Heartbeat v0-v4.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	instanceID := ""
	if req.InstanceID != nil {
		instanceID = *req.InstanceID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = errCoordinatorNotAvailable.Code
		return resp
	}
	g := c.groups[req.Group]
	if g != nil && g.typ == typeConsumer {
		if e := c.heartbeatConsumerLocked(g, req, instanceID); e != nil {
			resp.ErrorCode = e.Code
		}
		return resp
	}
	var m *member
	if g != nil {
		m = g.members[req.MemberID]
	}
	switch {
	case g != nil && g.fencedLocked(req.MemberID, instanceID):
		resp.ErrorCode = kerr.FencedInstanceID.Code
	case g == nil || m == nil || g.state == Empty || g.state == Dead:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
	case g.state == PreparingRebalance:
		c.heartbeatLocked(g, m)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	default:
		c.heartbeatLocked(g, m)
	}
	return resp
}

// LeaveGroup serves LeaveGroup v0-v5 (a member list from v3).
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = req.MemberID
		leaving = []kmsg.LeaveGroupRequestMember{lm}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		resp.ErrorCode = errCoordinatorNotAvailable.Code
		return resp
	}
	g := c.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		if req.Version >= 3 {
			resp.ErrorCode = 0
			for _, lm := range leaving {
				rm := kmsg.NewLeaveGroupResponseMember()
				rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
				rm.ErrorCode = kerr.UnknownMemberID.Code
				resp.Members = append(resp.Members, rm)
			}
		}
		return resp
	}
	if g.typ == typeConsumer {
		resp.Members = c.leaveConsumerLocked(g, leaving)
		if req.Version < 3 {
			resp.ErrorCode = resp.Members[0].ErrorCode
			resp.Members = nil
		}
		return resp
	}
	removed := false
	for _, lm := range leaving {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		id := lm.MemberID
		var e *kerr.Error
		if lm.InstanceID != nil && *lm.InstanceID != "" {
			known, ok := g.static[*lm.InstanceID]
			switch {
			case !ok:
				e = kerr.UnknownMemberID
			case id != "" && id != known:
				e = kerr.FencedInstanceID
			default:
				id = known
			}
		}
		if e == nil {
			if t, ok := g.pending[id]; ok {
				t.Stop()
				delete(g.pending, id)
				c.maybeCompleteJoinLocked(g)
			} else if g.members[id] == nil {
				e = kerr.UnknownMemberID
			} else {
				c.removeMemberLocked(g, id)
				removed = true
			}
		}
		if e != nil {
			rm.ErrorCode = e.Code
		}
		resp.Members = append(resp.Members, rm)
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	if removed {
		c.rebalanceAfterRemovalLocked(g)
	}
	return resp
}
