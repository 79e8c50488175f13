package group

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// memStore is meta.Offsets and meta.Groups in memory; failing, when set,
// fails the Groups writes.
type memStore struct {
	mu      sync.Mutex
	offs    map[string]map[tp]meta.GroupOffset
	groups  map[string]meta.GroupMetadata
	failing error
	writes  int
	// gate, when set, holds PutGroups until it is closed; entered
	// gets a value as each such call starts.
	gate, entered chan struct{}
	// epoch is the epoch of the shards' lease: a fenced write at
	// another fails with meta.ErrFenced (0: every fence holds).
	epoch int32
}

// fenced is meta.ErrFenced when f is not the lease's epoch.
func (s *memStore) fenced(f meta.Fence) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.epoch != 0 && f.Epoch != s.epoch {
		return meta.ErrFenced
	}
	return nil
}

func (s *memStore) PutGroupsFenced(ctx context.Context, f meta.Fence, gs []meta.GroupMetadata) error {
	if err := s.fenced(f); err != nil {
		return err
	}
	return s.PutGroups(ctx, gs)
}

func (s *memStore) DeleteGroupsFenced(ctx context.Context, f meta.Fence, gs []string) error {
	if err := s.fenced(f); err != nil {
		return err
	}
	return s.DeleteGroups(ctx, gs)
}

func (s *memStore) DeleteOffsetsFenced(ctx context.Context, f meta.Fence, g string, ps []meta.TopicPartition) error {
	if err := s.fenced(f); err != nil {
		return err
	}
	return s.DeleteOffsets(ctx, g, ps)
}

func (s *memStore) DeleteGroupOffsetsFenced(ctx context.Context, f meta.Fence, g string) error {
	if err := s.fenced(f); err != nil {
		return err
	}
	return s.DeleteGroupOffsets(ctx, g)
}

func (s *memStore) PutGroups(_ context.Context, gs []meta.GroupMetadata) error {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return s.failing
	}
	s.writes++
	for _, g := range gs {
		s.groups[g.Group] = g
	}
	return nil
}

func (s *memStore) Groups(context.Context) ([]meta.GroupMetadata, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.GroupMetadata
	for _, g := range s.groups {
		out = append(out, g)
	}
	return out, nil
}

func (s *memStore) DeleteGroups(_ context.Context, gs []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return s.failing
	}
	for _, g := range gs {
		delete(s.groups, g)
	}
	return nil
}

func (s *memStore) CommitOffsetsFenced(ctx context.Context, f meta.Fence, offs []meta.GroupOffset) error {
	if err := s.fenced(f); err != nil {
		return err
	}
	return s.CommitOffsets(ctx, offs)
}

func (s *memStore) CommitOffsets(_ context.Context, offs []meta.GroupOffset) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range offs {
		if s.offs[o.Group] == nil {
			s.offs[o.Group] = map[tp]meta.GroupOffset{}
		}
		s.offs[o.Group][tp{o.Topic, o.Partition}] = o
	}
	return nil
}

func (s *memStore) GroupOffsets(_ context.Context, g string) ([]meta.GroupOffset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.GroupOffset
	for _, o := range s.offs[g] {
		out = append(out, o)
	}
	return out, nil
}

func (s *memStore) OffsetGroups(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for g := range s.offs {
		out = append(out, g)
	}
	return out, nil
}

func (s *memStore) DeleteOffsets(_ context.Context, g string, ps []meta.TopicPartition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		delete(s.offs[g], tp{p.Topic, p.Partition})
	}
	return nil
}

func (s *memStore) DeleteGroupOffsets(_ context.Context, g string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.offs, g)
	return nil
}

// oneTopic is a broker with topic "t" of 4 partitions.
type oneTopic struct{}

func (oneTopic) PartitionExists(topic string, p int32) bool { return topic == "t" && p >= 0 && p < 4 }
func (oneTopic) TopicName(id [16]byte) (string, bool)       { return "t", id == [16]byte{1} }
func (oneTopic) TopicID(name string) ([16]byte, bool)       { return [16]byte{1}, name == "t" }
func (oneTopic) Partitions(name string) ([16]byte, int32, bool) {
	return [16]byte{1}, 4, name == "t"
}
func (oneTopic) Names() []string { return []string{"t"} }

func newCoordinator(t *testing.T) (*Coordinator, *memStore) {
	t.Helper()
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}, groups: map[string]meta.GroupMetadata{}}
	return openCoordinator(t, st), st
}

// openCoordinator starts a coordinator on st, as a broker does at start.
func openCoordinator(t *testing.T, st *memStore) *Coordinator {
	t.Helper()
	c, err := New(t.Context(), testConfig(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// offsetCommit commits offset of partition of topic t for member of group
// at generation (OffsetCommit v8), and returns the partition's error code.
func offsetCommit(c *Coordinator, group, member string, gen, partition int32, offset int64) int16 {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version = 8
	req.Group, req.MemberID, req.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return c.OffsetCommit(context.Background(), req).Topics[0].Partitions[0].ErrorCode
}

// testConfig is the tests' coordinator config over st.
func testConfig(st *memStore) Config {
	return Config{
		Store: st, Groups: st, Topics: oneTopic{},
		MinSessionTimeout: 100 * time.Millisecond, MaxSessionTimeout: time.Minute,
		ConsumerHeartbeatInterval: 100 * time.Millisecond, ConsumerSessionTimeout: 10 * time.Second,
	}
}

func join(c *Coordinator, member string) *kmsg.JoinGroupResponse {
	return joinSession(c, member, 10_000)
}

// joinSession is join with a session timeout of sessionMs.
func joinSession(c *Coordinator, member string, sessionMs int32) *kmsg.JoinGroupResponse {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = "g", member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = sessionMs, 5_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", []byte{1}
	req.Protocols = append(req.Protocols, p)
	return c.JoinGroup(context.Background(), req, "client", "/127.0.0.1")
}

// TestClassicJoinSyncHeartbeat walks two members through KIP-394 member
// ids, one rebalance, the leader's assignment, heartbeats and commits.
func TestClassicJoinSyncHeartbeat(t *testing.T) {
	c, st := newCoordinator(t)
	r := join(c, "")
	if r.ErrorCode != kerr.MemberIDRequired.Code || r.MemberID == "" {
		t.Fatalf("first join: %v, member %q; want MEMBER_ID_REQUIRED with an id", kerr.ErrorForCode(r.ErrorCode), r.MemberID)
	}
	a := r.MemberID
	ra := join(c, a)
	if ra.ErrorCode != 0 || ra.Generation != 1 || ra.LeaderID != a || len(ra.Members) != 1 {
		t.Fatalf("join of a: %+v", ra)
	}
	sync := func(member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupResponse {
		req := kmsg.NewPtrSyncGroupRequest()
		req.Version = 5
		req.Group, req.MemberID, req.Generation = "g", member, gen
		for m, b := range assign {
			ga := kmsg.NewSyncGroupRequestGroupAssignment()
			ga.MemberID, ga.MemberAssignment = m, b
			req.GroupAssignment = append(req.GroupAssignment, ga)
		}
		return c.SyncGroup(context.Background(), req)
	}
	if s := sync(a, 1, map[string][]byte{a: {7}}); s.ErrorCode != 0 || string(s.MemberAssignment) != "\x07" {
		t.Fatalf("sync of a: %+v", s)
	}
	hb := func(member string, gen int32) int16 {
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = "g", member, gen
		return c.Heartbeat(req).ErrorCode
	}
	if e := hb(a, 1); e != 0 {
		t.Fatalf("heartbeat: %v", kerr.ErrorForCode(e))
	}
	if e := hb(a, 0); e != kerr.IllegalGeneration.Code {
		t.Fatalf("heartbeat of an old generation: %v", kerr.ErrorForCode(e))
	}
	if e := hb("nobody", 1); e != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of an unknown member: %v", kerr.ErrorForCode(e))
	}

	// b joins: a learns of the rebalance from its heartbeat and rejoins.
	b := join(c, "").MemberID
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- join(c, b) }()
	for hb(a, 1) != kerr.RebalanceInProgress.Code {
		time.Sleep(time.Millisecond)
	}
	ra = join(c, a)
	rb := <-done
	if ra.Generation != 2 || rb.Generation != 2 || ra.LeaderID != a || len(ra.Members) != 2 || len(rb.Members) != 0 {
		t.Fatalf("second generation: a %+v, b %+v", ra, rb)
	}
	// The follower's sync waits for the leader's.
	got := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { got <- sync(b, 2, nil) }()
	select {
	case s := <-got:
		t.Fatalf("follower's sync answered before the leader's: %+v", s)
	case <-time.After(20 * time.Millisecond):
	}
	sync(a, 2, map[string][]byte{a: {1}, b: {2}})
	if s := <-got; s.ErrorCode != 0 || string(s.MemberAssignment) != "\x02" {
		t.Fatalf("follower's sync: %+v", s)
	}

	// Commits: the current generation only; stored before the answer.
	commit := func(member string, gen int32) int16 {
		return offsetCommit(c, "g", member, gen, 1, 42)
	}
	if e := commit(b, 1); e != kerr.IllegalGeneration.Code {
		t.Fatalf("commit of an old generation: %v", kerr.ErrorForCode(e))
	}
	if e := commit(b, 2); e != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(e))
	}
	if o := st.offs["g"][tp{"t", 1}]; o.Offset != 42 {
		t.Fatalf("stored offset %+v", o)
	}

	// Leaving: the group rebalances; the last one out leaves it Empty
	// with its protocol type and offsets.
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version = 5
	leave.Group = "g"
	for _, m := range []string{a, b} {
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m
		leave.Members = append(leave.Members, lm)
	}
	if r := c.LeaveGroup(leave); r.ErrorCode != 0 || r.Members[0].ErrorCode != 0 || r.Members[1].ErrorCode != 0 {
		t.Fatalf("leave: %+v", r)
	}
	lg := c.ListGroups(kmsg.NewPtrListGroupsRequest())
	if len(lg.Groups) != 1 || lg.Groups[0].GroupState != "Empty" || lg.Groups[0].ProtocolType != "consumer" {
		t.Fatalf("after leaving: %+v", lg.Groups)
	}
}

// TestJoinOutlastsSession: a join phase longer than the members' session
// timeout (the initial delay, extended by a member that came later) drops
// nobody: members awaiting their JoinGroup answer are not expired, as in
// Kafka, and all get the first generation.
func TestJoinOutlastsSession(t *testing.T) {
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}, groups: map[string]meta.GroupMetadata{}}
	c, err := New(t.Context(), Config{
		Store: st, Groups: st, Topics: oneTopic{},
		MinSessionTimeout: 100 * time.Millisecond, MaxSessionTimeout: time.Minute,
		ConsumerHeartbeatInterval: 100 * time.Millisecond, ConsumerSessionTimeout: 10 * time.Second,
		InitialRebalanceDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	joinShort := func(member string) *kmsg.JoinGroupResponse { return joinSession(c, member, 150) }
	a, b := joinShort("").MemberID, joinShort("").MemberID
	got := make(chan *kmsg.JoinGroupResponse, 2)
	go func() { got <- joinShort(a) }()
	time.Sleep(100 * time.Millisecond) // b comes later: the delay is extended past a's session
	go func() { got <- joinShort(b) }()
	for range 2 {
		r := <-got
		if r.ErrorCode != 0 || r.Generation != 1 {
			t.Fatalf("join: %v, generation %d; want the first generation for both", kerr.ErrorForCode(r.ErrorCode), r.Generation)
		}
	}
}

// TestConsumerGroupReconcile checks KIP-848 revoke-before-assign: when a
// second member joins, the first gives partitions up before the second
// gets them, and the epochs move to the group's.
func TestConsumerGroupReconcile(t *testing.T) {
	c, _ := newCoordinator(t)
	hb := func(member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version = 1
		req.Group, req.MemberID, req.MemberEpoch = "cg", member, epoch
		if epoch == 0 {
			req.SubscribedTopicNames = []string{"t"}
			req.RebalanceTimeoutMillis = 10_000
		}
		rt := kmsg.NewConsumerGroupHeartbeatRequestTopic()
		rt.TopicID, rt.Partitions = [16]byte{1}, owned
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if len(owned) > 0 {
			req.Topics = append(req.Topics, rt)
		}
		return c.ConsumerGroupHeartbeat(context.Background(), req, "client", "/127.0.0.1")
	}
	parts := func(r *kmsg.ConsumerGroupHeartbeatResponse) []int32 {
		if r.Assignment == nil || len(r.Assignment.Topics) == 0 {
			return nil
		}
		return r.Assignment.Topics[0].Partitions
	}
	r := hb("a", 0, nil)
	if r.ErrorCode != 0 || r.MemberEpoch != 1 || len(parts(r)) != 4 {
		t.Fatalf("a joins: %+v %v", r, parts(r))
	}
	r = hb("b", 0, nil)
	if r.ErrorCode != 0 || len(parts(r)) != 0 || r.MemberEpoch != 2 {
		t.Fatalf("b joins and must wait for a to release: %+v %v", r, parts(r))
	}
	r = hb("a", 1, []int32{0, 1, 2, 3})
	if got := parts(r); len(got) != 2 || r.MemberEpoch != 1 {
		t.Fatalf("a told to revoke two: %v, epoch %d", got, r.MemberEpoch)
	}
	kept := parts(r)
	r = hb("b", 2, nil)
	if len(parts(r)) != 0 {
		t.Fatalf("b got partitions a has not released: %v", parts(r))
	}
	r = hb("a", 1, kept) // released
	if r.MemberEpoch != 2 {
		t.Fatalf("a after releasing: epoch %d, want 2", r.MemberEpoch)
	}
	r = hb("b", 2, nil)
	if got := parts(r); len(got) != 2 || r.MemberEpoch != 2 {
		t.Fatalf("b after a released: %v, epoch %d", got, r.MemberEpoch)
	}
	if e := hb("a", 7, kept).ErrorCode; e != kerr.FencedMemberEpoch.Code {
		t.Fatalf("heartbeat with a wrong epoch: %v", kerr.ErrorForCode(e))
	}
}
