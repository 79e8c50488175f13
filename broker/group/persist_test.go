package group

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// classicJoin joins group g as member with session ms of session timeout,
// waiting for the rebalance.
func classicJoin(t *testing.T, c *Coordinator, g, member string, session int32) *kmsg.JoinGroupResponse {
	t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = g, member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, 2_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{1}
	req.Protocols = append(req.Protocols, p)
	return c.JoinGroup(t.Context(), req, "client", "/127.0.0.1")
}

func classicSync(t *testing.T, c *Coordinator, g, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupResponse {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = g, member, gen
	for m, b := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, b
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return c.SyncGroup(t.Context(), req)
}

func classicHeartbeat(c *Coordinator, g, member string, gen int32) error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = g, member, gen
	return kerr.ErrorForCode(c.Heartbeat(req).ErrorCode)
}

func describeClassic(c *Coordinator, g string) kmsg.DescribeGroupsResponseGroup {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{g}
	return c.DescribeGroups(req).Groups[0]
}

// stableGroup makes a Stable classic group of two members, a the leader,
// with assignments; it returns their ids and the generation.
func stableGroup(t *testing.T, c *Coordinator, g string, session int32) (a, b string, gen int32) {
	t.Helper()
	a = classicJoin(t, c, g, "", session).MemberID
	b = classicJoin(t, c, g, "", session).MemberID
	type res struct{ r *kmsg.JoinGroupResponse }
	done := make(chan res, 1)
	go func() { done <- res{classicJoin(t, c, g, b, session)} }()
	ra := classicJoin(t, c, g, a, session)
	rb := (<-done).r
	if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != rb.Generation {
		t.Fatalf("joins: %+v %+v", ra, rb)
	}
	if ra.LeaderID != a {
		a, b = b, a
	}
	gen = ra.Generation
	synced := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { synced <- classicSync(t, c, g, b, gen, nil) }()
	if s := classicSync(t, c, g, a, gen, map[string][]byte{a: {1}, b: {2}}); s.ErrorCode != 0 || string(s.MemberAssignment) != "\x01" {
		t.Fatalf("leader's sync: %+v", s)
	}
	if s := <-synced; s.ErrorCode != 0 || string(s.MemberAssignment) != "\x02" {
		t.Fatalf("follower's sync: %+v", s)
	}
	return a, b, gen
}

// TestClassicSurvivesRestart: a Stable group stored by one coordinator is
// Stable in the next with its generation, leader and assignments; members
// carry on with heartbeats and syncs, no rebalance.
func TestClassicSurvivesRestart(t *testing.T) {
	c, st := newCoordinator(t)
	a, b, gen := stableGroup(t, c, "g", 10_000)
	c.Close()

	c2 := openCoordinator(t, st)
	for _, m := range []string{a, b} {
		if e := classicHeartbeat(c2, "g", m, gen); e != nil {
			t.Fatalf("heartbeat of %s after the restart: %v", m, e)
		}
	}
	d := describeClassic(c2, "g")
	if d.State != "Stable" || len(d.Members) != 2 || d.Protocol != "range" {
		t.Fatalf("after the restart: %+v", d)
	}
	if s := classicSync(t, c2, "g", b, gen, nil); s.ErrorCode != 0 || string(s.MemberAssignment) != "\x02" {
		t.Fatalf("sync after the restart: %+v", s)
	}
	// The leader rejoining with the same metadata in a Stable group:
	// Kafka's rule, a rebalance so that it can assign again.
	if r := classicJoin(t, c2, "g", b, 10_000); r.ErrorCode != 0 || r.Generation != gen {
		t.Fatalf("follower's rejoin: %+v", r)
	}
}

// TestClassicRestartExpiresAbsentMembers: session timers start at the load;
// a member that does not come back is removed and the others rebalance.
func TestClassicRestartExpiresAbsentMembers(t *testing.T) {
	c, st := newCoordinator(t)
	a, b, gen := stableGroup(t, c, "g", 300)
	c.Close()

	c2 := openCoordinator(t, st)
	deadline := time.Now().Add(5 * time.Second)
	for {
		e := classicHeartbeat(c2, "g", a, gen)
		if errors.Is(e, kerr.RebalanceInProgress) {
			break
		}
		if e != nil || time.Now().After(deadline) {
			t.Fatalf("heartbeat of a: %v; want REBALANCE_IN_PROGRESS once b expires", e)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r := classicJoin(t, c2, "g", a, 300)
	if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 {
		t.Fatalf("a rejoins alone: %+v", r)
	}
	if e := classicHeartbeat(c2, "g", b, gen); !errors.Is(e, kerr.UnknownMemberID) {
		t.Fatalf("heartbeat of the expired b: %v", e)
	}
}

// TestClassicRestartMidRebalance: a group stored while a rebalance ran
// comes back preparing one; the members rejoin into the next generation.
func TestClassicRestartMidRebalance(t *testing.T) {
	c, st := newCoordinator(t)
	a, b, gen := stableGroup(t, c, "g", 10_000)
	// A third member's join starts a rebalance; the broker stops before
	// it completes.
	third := classicJoin(t, c, "g", "", 10_000).MemberID
	go classicJoin(t, c, "g", third, 10_000)
	for describeClassic(c, "g").State != "PreparingRebalance" {
		time.Sleep(time.Millisecond)
	}
	c.Close()

	c2 := openCoordinator(t, st)
	if e := classicHeartbeat(c2, "g", a, gen); !errors.Is(e, kerr.RebalanceInProgress) {
		t.Fatalf("heartbeat after the restart: %v, want REBALANCE_IN_PROGRESS", e)
	}
	done := make(chan *kmsg.JoinGroupResponse, 2)
	for _, m := range []string{b, third} {
		go func() { done <- classicJoin(t, c2, "g", m, 10_000) }()
	}
	ra := classicJoin(t, c2, "g", a, 10_000)
	r1, r2 := <-done, <-done
	if ra.ErrorCode != 0 || r1.ErrorCode != 0 || r2.ErrorCode != 0 || ra.Generation != gen+1 || r1.Generation != ra.Generation {
		t.Fatalf("rejoins: %+v %+v %+v (generation before %d)", ra, r1, r2, gen)
	}
}

// TestClassicSyncWaitsForStore: the leader's assignment is answered only
// once stored; a failed store answers COORDINATOR_NOT_AVAILABLE and is
// retried, after which a sync gets the assignment.
func TestClassicSyncWaitsForStore(t *testing.T) {
	c, st := newCoordinator(t)
	a := classicJoin(t, c, "g", "", 10_000).MemberID
	r := classicJoin(t, c, "g", a, 10_000)
	st.mu.Lock()
	st.failing = errors.New("catalog down")
	st.mu.Unlock()
	if s := classicSync(t, c, "g", a, r.Generation, map[string][]byte{a: {9}}); s.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("sync while the catalog fails: %+v", s)
	}
	st.mu.Lock()
	st.failing = nil
	st.mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := classicSync(t, c, "g", a, r.Generation, nil)
		if s.ErrorCode == 0 {
			if string(s.MemberAssignment) != "\x09" {
				t.Fatalf("sync after the catalog came back: %+v", s)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync after the catalog came back: %v", kerr.ErrorForCode(s.ErrorCode))
		}
		time.Sleep(50 * time.Millisecond)
	}
	st.mu.Lock()
	stored := st.groups["g"]
	st.mu.Unlock()
	if stored.State != "Stable" || len(stored.Members) != 1 || string(stored.Members[0].Assignment) != "\x09" {
		t.Fatalf("stored: %+v", stored)
	}
}

func consumerHeartbeat(t *testing.T, c *Coordinator, member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	return groupHeartbeat(c, "cg", member, epoch, owned)
}

// groupHeartbeat is a ConsumerGroupHeartbeat of member of group subscribing
// to topic t, at epoch, owning owned (a leave, epoch < 0, names none).
func groupHeartbeat(c *Coordinator, group, member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatResponse {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = group, member, epoch
	if epoch == 0 {
		req.SubscribedTopicNames = []string{"t"}
		req.RebalanceTimeoutMillis = 10_000
	}
	if epoch >= 0 {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if len(owned) > 0 {
			rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
			rt.TopicID, rt.Partitions = [16]byte{1}, owned
			req.Topics = append(req.Topics, rt)
		}
	}
	return c.ConsumerGroupHeartbeat(context.Background(), req, "client", "/127.0.0.1")
}

func assigned(r *kmsg.ConsumerGroupHeartbeatResponse) []int32 {
	if r.Assignment == nil || len(r.Assignment.Topics) == 0 {
		return nil
	}
	return r.Assignment.Topics[0].Partitions
}

// TestConsumerGroupSurvivesRestart: KIP-848 members keep their epochs and
// partitions across a restart, and a member half way through a revocation
// finishes it.
func TestConsumerGroupSurvivesRestart(t *testing.T) {
	c, st := newCoordinator(t)
	ra := consumerHeartbeat(t, c, "a", 0, nil)
	rb := consumerHeartbeat(t, c, "b", 0, nil)
	ra = consumerHeartbeat(t, c, "a", ra.MemberEpoch, []int32{0, 1, 2, 3}) // told to revoke two
	kept := assigned(ra)
	if len(kept) != 2 {
		t.Fatalf("a should keep two: %v", kept)
	}
	c.Close()

	c2 := openCoordinator(t, st)
	// b still waits for a's release; a releases; both reach epoch 2.
	if r := consumerHeartbeat(t, c2, "b", rb.MemberEpoch, nil); r.ErrorCode != 0 || len(assigned(r)) != 0 {
		t.Fatalf("b after the restart: %+v", r)
	}
	ra = consumerHeartbeat(t, c2, "a", ra.MemberEpoch, kept)
	if ra.ErrorCode != 0 || ra.MemberEpoch != 2 {
		t.Fatalf("a releases after the restart: %+v", ra)
	}
	rb = consumerHeartbeat(t, c2, "b", rb.MemberEpoch, nil)
	if rb.ErrorCode != 0 || len(assigned(rb)) != 2 {
		t.Fatalf("b gets a's released partitions: %+v %v", rb, assigned(rb))
	}
	c2.Close()

	// A steady group: heartbeats after the restart change nothing.
	c3 := openCoordinator(t, st)
	st.mu.Lock()
	writes := st.writes
	st.mu.Unlock()
	for _, m := range []struct {
		id    string
		owned []int32
	}{{"a", kept}, {"b", assigned(rb)}} {
		r := consumerHeartbeat(t, c3, m.id, 2, m.owned)
		if r.ErrorCode != 0 || r.MemberEpoch != 2 || r.Assignment != nil {
			t.Fatalf("%s after the second restart: %+v", m.id, r)
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.writes != writes {
		t.Errorf("steady heartbeats wrote the group %d times", st.writes-writes)
	}
}

// TestDeleteGroupDeletesMembership: a deleted group is gone from the store
// and does not come back at the next start.
func TestDeleteGroupDeletesMembership(t *testing.T) {
	c, st := newCoordinator(t)
	a := classicJoin(t, c, "g", "", 10_000).MemberID
	r := classicJoin(t, c, "g", a, 10_000)
	classicSync(t, c, "g", a, r.Generation, map[string][]byte{a: {1}})
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", a
	c.LeaveGroup(leave)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Groups = []string{"g"}
	if d := c.DeleteGroups(t.Context(), del); d.Groups[0].ErrorCode != 0 {
		t.Fatalf("delete: %v", kerr.ErrorForCode(d.Groups[0].ErrorCode))
	}
	st.mu.Lock()
	_, ok := st.groups["g"]
	st.mu.Unlock()
	if ok {
		t.Fatal("the deleted group is still stored")
	}
	c.Close()
	c2 := openCoordinator(t, st)
	if d := describeClassic(c2, "g"); d.State != "Dead" {
		t.Fatalf("after a restart the deleted group is %+v", d)
	}
}

// TestDurableWhileWriting: an answer that waits for a state the writer is
// storing right now returns when that write ends, with nothing else
// changing afterwards.
func TestDurableWhileWriting(t *testing.T) {
	c, st := newCoordinator(t)
	a := classicJoin(t, c, "g", "", 10_000).MemberID
	r := classicJoin(t, c, "g", a, 10_000)
	// Everything so far stored: the sync's is the only write to come.
	for {
		c.mu.Lock()
		g := c.groups["g"]
		idle := g.written == g.seq
		c.mu.Unlock()
		if idle {
			break
		}
		time.Sleep(time.Millisecond)
	}
	gate, entered := make(chan struct{}), make(chan struct{}, 1)
	st.mu.Lock()
	st.gate, st.entered = gate, entered
	st.mu.Unlock()
	synced := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { synced <- classicSync(t, c, "g", a, r.Generation, map[string][]byte{a: {5}}) }()
	<-entered // the writer holds the Stable state, storing it
	// A wait that starts now, for the state being stored.
	c.mu.Lock()
	g := c.groups["g"]
	seq := g.seq
	c.mu.Unlock()
	waited := make(chan error, 1)
	go func() {
		if e := c.durable(context.Background(), g, seq); e != nil {
			waited <- e
			return
		}
		waited <- nil
	}()
	// Let it start waiting before the write ends (were it to start
	// later, the test would pass whatever the writer does, never fail
	// wrongly).
	time.Sleep(50 * time.Millisecond)
	st.mu.Lock()
	st.gate = nil
	st.mu.Unlock()
	close(gate)
	select {
	case s := <-synced:
		if s.ErrorCode != 0 || string(s.MemberAssignment) != "\x05" {
			t.Fatalf("sync: %+v", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the sync still waits after its state was stored")
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("durable: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a wait begun while its state was being stored still waits")
	}
}

// TestFencedMembership: a coordinator whose shard's lease moved on (the
// cluster mode) stores nothing more of its groups: membership changes,
// offset commits and deletes and a group's deletion are fenced, answered
// NOT_COORDINATOR, and leave what the new coordinator stored; a fenced
// membership write is not tried again.
func TestFencedMembership(t *testing.T) {
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}, groups: map[string]meta.GroupMetadata{}, epoch: 1}
	c, err := New(t.Context(), Config{
		Store: st, Groups: st, Topics: oneTopic{},
		MinSessionTimeout: 100 * time.Millisecond, MaxSessionTimeout: time.Minute,
		ConsumerHeartbeatInterval: 100 * time.Millisecond, ConsumerSessionTimeout: 10 * time.Second,
		Fence: func(string) (meta.Fence, bool) { return meta.Fence{Epoch: 1}, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	a, b, gen := stableGroup(t, c, "g", 10_000)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Version = 8
	commit.Group, commit.MemberID, commit.Generation = "g", a, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	for p := range int32(2) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, 10
		rt.Partitions = append(rt.Partitions, rp)
	}
	commit.Topics = append(commit.Topics, rt)
	if e := c.OffsetCommit(t.Context(), commit).Topics[0].Partitions[0].ErrorCode; e != 0 {
		t.Fatalf("commit under the lease: %v", kerr.ErrorForCode(e))
	}

	// Another coordinator takes the shard (epoch 2) and stores its own
	// state of g.
	st.mu.Lock()
	st.epoch = 2
	theirs := st.groups["g"]
	theirs.Generation = 99
	st.groups["g"] = theirs
	writes := st.writes
	st.mu.Unlock()

	if e := c.OffsetCommit(t.Context(), commit).Topics[0].Partitions[0].ErrorCode; e != kerr.NotCoordinator.Code {
		t.Fatalf("commit after the lease moved: %v, want NOT_COORDINATOR", kerr.ErrorForCode(e))
	}
	// b leaves: a membership change whose write is fenced.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Group, leave.MemberID = "g", b
	c.LeaveGroup(leave)
	// a's rejoin completes a rebalance; its sync waits for the store,
	// which is fenced.
	r := classicJoin(t, c, "g", a, 10_000)
	if r.ErrorCode != 0 {
		t.Fatalf("rejoin: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if s := classicSync(t, c, "g", a, r.Generation, map[string][]byte{a: {1}}); s.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("sync after the lease moved: %v, want NOT_COORDINATOR", kerr.ErrorForCode(s.ErrorCode))
	}
	del := kmsg.NewPtrOffsetDeleteRequest()
	del.Group = "g"
	dt := kmsg.NewOffsetDeleteRequestTopic()
	dt.Topic = "t"
	dp := kmsg.NewOffsetDeleteRequestTopicPartition()
	dp.Partition = 0
	dt.Partitions = append(dt.Partitions, dp)
	del.Topics = append(del.Topics, dt)
	// The group still has a member subscribed to t: leave it first so
	// that the delete reaches the catalog.
	leave.MemberID = a
	c.LeaveGroup(leave)
	if r := c.OffsetDelete(t.Context(), del); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("offset delete after the lease moved: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.ErrorCode))
	}
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"g"}
	if r := c.DeleteGroups(t.Context(), dg); r.Groups[0].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("group delete after the lease moved: %v, want NOT_COORDINATOR", kerr.ErrorForCode(r.Groups[0].ErrorCode))
	}
	time.Sleep(retryDelay + 200*time.Millisecond) // past the writer's retry delay
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.groups["g"].Generation != 99 || st.writes != writes {
		t.Fatalf("the deposed coordinator wrote: stored generation %d, %d writes after the takeover", st.groups["g"].Generation, st.writes-writes)
	}
	if len(st.offs["g"]) != 2 {
		t.Fatalf("the deposed coordinator deleted offsets: %v", st.offs["g"])
	}
}
