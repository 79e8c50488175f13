package group

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// memShares is meta.ShareStates in memory.
type memShares struct {
	mu     sync.Mutex
	states map[meta.SharePartitionKey]meta.ShareState
	fenced bool
}

func (s *memShares) PutShareStates(_ context.Context, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range states {
		s.states[meta.SharePartitionKey{Group: st.Group, TopicID: st.TopicID, Partition: st.Partition}] = st
	}
	for _, k := range deletes {
		delete(s.states, k)
	}
	return nil
}

// fenced, when set, fails every fenced write (a deposed leader).
func (s *memShares) PutShareStatesFenced(ctx context.Context, _ meta.Fence, states []meta.ShareState, deletes []meta.SharePartitionKey) error {
	s.mu.Lock()
	fenced := s.fenced
	s.mu.Unlock()
	if fenced {
		return meta.ErrFenced
	}
	return s.PutShareStates(ctx, states, deletes)
}

func (s *memShares) ShareState(_ context.Context, k meta.SharePartitionKey) (meta.ShareState, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.states[k]
	return st, ok, nil
}

func (s *memShares) ShareStates(context.Context) ([]meta.ShareState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []meta.ShareState
	for _, st := range s.states {
		out = append(out, st)
	}
	return out, nil
}

func openShareCoordinator(t *testing.T, st *memStore, sh *memShares) *Coordinator {
	t.Helper()
	c, err := New(t.Context(), Config{Store: st, Groups: st, ShareStates: sh, Topics: oneTopic{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func shareHeartbeat(c *Coordinator, member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.Version = 1
	req.GroupID, req.MemberID, req.MemberEpoch = "sg", member, epoch
	if topics != nil {
		req.SubscribedTopicNames = topics
	}
	return c.ShareGroupHeartbeat(context.Background(), req, "client", "/127.0.0.1")
}

// shareAssigned is the partitions of topic t each member holds, as
// ShareGroupDescribe answers.
func shareAssigned(t *testing.T, c *Coordinator) map[string][]int32 {
	t.Helper()
	req := kmsg.NewPtrShareGroupDescribeRequest()
	req.GroupIDs = []string{"sg"}
	g := c.ShareGroupDescribe(req).Groups[0]
	if g.ErrorCode != 0 {
		t.Fatalf("describe: %v", kerr.ErrorForCode(g.ErrorCode))
	}
	out := map[string][]int32{}
	for _, m := range g.Members {
		out[m.MemberID] = nil
		for _, tp := range m.Assignment.TopicPartitions {
			out[m.MemberID] = append(out[m.MemberID], tp.Partitions...)
		}
	}
	return out
}

// TestShareAssignor: the server-side assignor gives each of 4 partitions
// to one member while members are fewer, shares them when members are
// more, keeps partitions where they were, and a member that leaves loses
// its share to the others.
func TestShareAssignor(t *testing.T) {
	t.Parallel()
	c, _ := newCoordinator(t)
	for _, m := range []string{"a", "b", "c"} {
		if r := shareHeartbeat(c, m, 0, "t"); r.ErrorCode != 0 {
			t.Fatalf("join of %s: %v", m, kerr.ErrorForCode(r.ErrorCode))
		}
	}
	got := shareAssigned(t, c)
	var all []int32
	for m, ps := range got {
		if len(ps) < 1 || len(ps) > 2 {
			t.Errorf("member %s holds %v of 4 partitions among 3 members", m, ps)
		}
		all = append(all, ps...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3}) {
		t.Fatalf("partitions held: %v; want each of 0-3 once", all)
	}
	before := got["a"]

	// 6 members on 4 partitions: each has one, none is held by more
	// than two.
	for _, m := range []string{"d", "e", "f"} {
		shareHeartbeat(c, m, 0, "t")
	}
	holders := map[int32]int{}
	for m, ps := range shareAssigned(t, c) {
		if len(ps) != 1 {
			t.Errorf("member %s holds %v; want one partition", m, ps)
		}
		for _, p := range ps {
			holders[p]++
		}
	}
	for p := range int32(4) {
		if holders[p] < 1 || holders[p] > 2 {
			t.Errorf("partition %d held by %d members", p, holders[p])
		}
	}
	if a := shareAssigned(t, c)["a"]; len(a) != 1 || !slices.Contains(before, a[0]) {
		t.Errorf("a held %v, then %v: not sticky", before, a)
	}

	// Leaving (epoch -1) removes the member at once.
	for _, m := range []string{"d", "e", "f"} {
		if r := shareHeartbeat(c, m, -1); r.ErrorCode != 0 || r.MemberEpoch != -1 {
			t.Fatalf("leave of %s: %v, epoch %d", m, kerr.ErrorForCode(r.ErrorCode), r.MemberEpoch)
		}
	}
	if n := len(shareAssigned(t, c)); n != 3 {
		t.Fatalf("%d members after three left", n)
	}
}

// TestShareHeartbeatErrors: what Kafka refuses, refused with its codes.
func TestShareHeartbeatErrors(t *testing.T) {
	t.Parallel()
	c, _ := newCoordinator(t)
	r := shareHeartbeat(c, "a", 0, "t")
	if r.ErrorCode != 0 || r.Assignment == nil {
		t.Fatalf("join: %v, assignment %v", kerr.ErrorForCode(r.ErrorCode), r.Assignment)
	}
	for _, tc := range []struct {
		name   string
		member string
		epoch  int32
		topics []string
		want   *kerr.Error
	}{
		{"NoTopicsAtFirst", "b", 0, nil, kerr.InvalidRequest},
		{"UnknownMember", "z", 3, nil, kerr.UnknownMemberID},
		{"FencedEpoch", "a", r.MemberEpoch + 5, nil, kerr.FencedMemberEpoch},
		{"BadEpoch", "a", -2, nil, kerr.InvalidRequest},
		{"NoMemberID", "", 0, []string{"t"}, kerr.InvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shareHeartbeat(c, tc.member, tc.epoch, tc.topics...); got.ErrorCode != tc.want.Code {
				t.Fatalf("got %v, want %v", kerr.ErrorForCode(got.ErrorCode), tc.want)
			}
		})
	}
	// A share group's id is not a classic group's.
	if j := join(c, ""); j.ErrorCode == 0 {
		t.Fatal("a classic member joined a share group")
	}
	// A consumer group's id is not a share group's.
	c2, _ := newCoordinator(t)
	commitOffset(t, c2, "sg")
	if got := shareHeartbeat(c2, "a", 0, "t"); got.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("a share member joined a group with offsets: %v", kerr.ErrorForCode(got.ErrorCode))
	}
}

// commitOffset commits one simple (memberless) offset of group.
func commitOffset(t *testing.T, c *Coordinator, group string) {
	t.Helper()
	if e := offsetCommit(c, group, "", -1, 0, 1); e != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(e))
	}
}

// TestShareSurvivesReopen: a share group's members, epochs, assignments and
// partitions' states come back when the coordinator opens on the same
// catalog; members carry on with their epochs.
func TestShareSurvivesReopen(t *testing.T) {
	t.Parallel()
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}, groups: map[string]meta.GroupMetadata{}}
	sh := &memShares{states: map[meta.SharePartitionKey]meta.ShareState{}}
	c := openShareCoordinator(t, st, sh)
	ra := shareHeartbeat(c, "a", 0, "t")
	rb := shareHeartbeat(c, "b", 0, "t")
	ra = shareHeartbeat(c, "a", ra.MemberEpoch)
	before := shareAssigned(t, c)

	// One partition's state, as acknowledgements leave it.
	c.mu.Lock()
	g := c.groups["sg"]
	sp := c.sharePartLocked(g, sharePK{[16]byte{1}, 2})
	c.mu.Unlock()
	sp.mu.Lock()
	sp.loaded = true
	sp.acquireLocked(testBatches(10, 4), acquireOpts{member: "a", maxRecords: 10, limit: 100, maxLocks: 100, until: c.now().Add(10 * time.Second)})
	sp.ackLocked("a", 10, 11, []int8{ackAccept}, 5, c.now())
	seq := c.touchShareLocked(sp)
	sp.mu.Unlock()
	if e := c.durableShare(context.Background(), sp, seq); e != nil {
		t.Fatal(e)
	}
	c.Close()

	c2 := openShareCoordinator(t, st, sh)
	if got := shareAssigned(t, c2); !mapsEqual(got, before) {
		t.Fatalf("assignment after the reopen %v; before %v", got, before)
	}
	if r := shareHeartbeat(c2, "b", rb.MemberEpoch); r.ErrorCode != 0 {
		t.Fatalf("b's heartbeat with its epoch after the reopen: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	c2.mu.Lock()
	sp2 := c2.groups["sg"].shares[sharePK{[16]byte{1}, 2}]
	c2.mu.Unlock()
	if sp2 == nil {
		t.Fatal("the share partition's state was not loaded")
	}
	sp2.mu.Lock()
	defer sp2.mu.Unlock()
	// 10-11 accepted: the start is 12; 12-13 were acquired, now
	// available again with one delivery behind them.
	if sp2.start != 12 || len(sp2.recs) != 2 || sp2.recs[0].state != recAvailable || sp2.recs[0].count != 1 {
		t.Fatalf("loaded start %d, in flight %+v", sp2.start, sp2.recs)
	}
}

func mapsEqual(a, b map[string][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
