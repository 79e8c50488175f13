package group

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/meta"
)

// A classic member of group "mg" using the consumer protocol, as Kafka's
// consumers send it: a "cooperative-sticky" subscription to topic t, with
// the partitions it owns.
func migrateJoin(t *testing.T, c *Coordinator, member string, owned []int32) *kmsg.JoinGroupResponse {
	t.Helper()
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version, sub.Topics = 1, []string{"t"}
	if owned != nil {
		o := kmsg.NewConsumerMemberMetadataOwnedPartition()
		o.Topic, o.Partitions = "t", owned
		sub.OwnedPartitions = append(sub.OwnedPartitions, o)
	}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = "mg", member, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 5_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "cooperative-sticky", sub.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	return c.JoinGroup(t.Context(), req, "client", "/127.0.0.1")
}

// migrateSync is SyncGroup of member, the leader's assignment given when
// assign is set; it returns the partitions of t the member is given.
func migrateSync(t *testing.T, c *Coordinator, member string, gen int32, assign map[string][]int32) ([]int32, error) {
	t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = "mg", member, gen
	pt, p := "consumer", "cooperative-sticky"
	req.ProtocolType, req.Protocol = &pt, &p
	for m, ps := range assign {
		a := kmsg.NewConsumerMemberAssignment()
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = "t", ps
		a.Topics = append(a.Topics, at)
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, a.AppendTo(nil)
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	resp := c.SyncGroup(t.Context(), req)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	a := kmsg.NewConsumerMemberAssignment()
	if err := a.ReadFrom(resp.MemberAssignment); err != nil {
		t.Fatalf("the assignment SyncGroup gave does not parse: %v", err)
	}
	var out []int32
	for _, at := range a.Topics {
		if at.Topic != "t" {
			t.Fatalf("assignment names topic %q", at.Topic)
		}
		out = append(out, at.Partitions...)
	}
	slices.Sort(out)
	return out, nil
}

func migrateHeartbeat(c *Coordinator, member string, gen int32) error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = "mg", member, gen
	return kerr.ErrorForCode(c.Heartbeat(req).ErrorCode)
}

// migrateConsumer is a ConsumerGroupHeartbeat of group "mg" subscribing to t.
func migrateConsumer(t *testing.T, c *Coordinator, member string, epoch int32, owned []int32) *kmsg.ConsumerGroupHeartbeatResponse {
	t.Helper()
	return groupHeartbeat(c, "mg", member, epoch, owned)
}

func groupType(c *Coordinator) string {
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	for _, g := range c.ListGroups(req).Groups {
		if g.Group == "mg" {
			return g.GroupType
		}
	}
	return ""
}

// stableClassic makes group mg a Stable classic group of one member that
// owns all four partitions of t, and returns its id and generation.
func stableClassic(t *testing.T, c *Coordinator) (string, int32) {
	t.Helper()
	id := migrateJoin(t, c, "", nil).MemberID // MEMBER_ID_REQUIRED
	r := migrateJoin(t, c, id, nil)
	if r.ErrorCode != 0 || r.LeaderID != id {
		t.Fatalf("classic join: %v, leader %q", kerr.ErrorForCode(r.ErrorCode), r.LeaderID)
	}
	got, err := migrateSync(t, c, id, r.Generation, map[string][]int32{id: {0, 1, 2, 3}})
	if err != nil || len(got) != 4 {
		t.Fatalf("classic sync: %v %v", got, err)
	}
	return id, r.Generation
}

// TestOnlineUpgradeAndDowngrade follows Kafka's online migration: a KIP-848
// member joining a classic group turns it into a consumer group in which
// the classic member keeps its partitions until it revokes them through
// its own protocol; when the KIP-848 member leaves, the group is classic
// again and rebalances.
func TestOnlineUpgradeAndDowngrade(t *testing.T) {
	c, st := newCoordinator(t)
	a, gen := stableClassic(t, c)

	// A KIP-848 member joins: the group becomes a consumer group at the
	// classic generation, bumped for the joiner.
	rb := migrateConsumer(t, c, "b", 0, nil)
	if rb.ErrorCode != 0 {
		t.Fatalf("ConsumerGroupHeartbeat to a classic group: %v", kerr.ErrorForCode(rb.ErrorCode))
	}
	if groupType(c) != "consumer" || rb.MemberEpoch != gen+1 || len(assigned(rb)) != 0 {
		t.Fatalf("after the upgrade: type %q, b's epoch %d (classic generation %d), b assigned %v", groupType(c), rb.MemberEpoch, gen, assigned(rb))
	}
	// The classic member still heartbeats and commits with its
	// generation; its heartbeat tells it to rejoin.
	if err := migrateHeartbeat(c, a, gen); err != kerr.RebalanceInProgress {
		t.Fatalf("classic heartbeat after the upgrade: %v, want REBALANCE_IN_PROGRESS", err)
	}
	if e := commitAs(t, c, a, gen); e != nil {
		t.Fatalf("classic member's commit with its generation: %v", e)
	}
	if e := commitAs(t, c, a, gen+5); e != kerr.IllegalGeneration {
		t.Fatalf("classic member's commit with a wrong generation: %v, want ILLEGAL_GENERATION", e)
	}

	// It rejoins owning everything: it is told to keep two (no leader,
	// its member epoch as the generation), revokes, rejoins, moves on.
	r := migrateJoin(t, c, a, []int32{0, 1, 2, 3})
	if r.ErrorCode != 0 || r.Generation != gen || r.LeaderID != "" || len(r.Members) != 0 || r.Protocol == nil || *r.Protocol != "cooperative-sticky" {
		t.Fatalf("classic join into the consumer group: %v gen %d leader %q members %d", kerr.ErrorForCode(r.ErrorCode), r.Generation, r.LeaderID, len(r.Members))
	}
	kept, err := migrateSync(t, c, a, r.Generation, nil)
	if err != nil || len(kept) != 2 {
		t.Fatalf("classic sync while revoking: %v %v", kept, err)
	}
	r = migrateJoin(t, c, a, kept)
	if r.ErrorCode != 0 || r.Generation != gen+1 {
		t.Fatalf("classic rejoin after revoking: %v gen %d, want %d", kerr.ErrorForCode(r.ErrorCode), r.Generation, gen+1)
	}
	if got, err := migrateSync(t, c, a, r.Generation, nil); err != nil || !slices.Equal(got, kept) {
		t.Fatalf("classic sync after revoking: %v %v, want %v", got, err, kept)
	}
	if err := migrateHeartbeat(c, a, r.Generation); err != nil {
		t.Fatalf("classic heartbeat once reconciled: %v", err)
	}
	rb = migrateConsumer(t, c, "b", rb.MemberEpoch, nil)
	bGot := assigned(rb)
	if len(bGot) != 2 || slices.ContainsFunc(bGot, func(p int32) bool { return slices.Contains(kept, p) }) {
		t.Fatalf("b got %v; a keeps %v", bGot, kept)
	}
	d := describeConsumer(t, c)
	if len(d.Members) != 2 {
		t.Fatalf("ConsumerGroupDescribe: %d members", len(d.Members))
	}
	for _, m := range d.Members {
		if want := map[bool]int8{true: 0, false: 1}[m.MemberID == a]; m.MemberType != want {
			t.Errorf("member %s: type %d, want %d", m.MemberID, m.MemberType, want)
		}
	}

	// The classic member's place survives a restart of the coordinator.
	c.Close()
	c = openCoordinator(t, st)
	if err := migrateHeartbeat(c, a, r.Generation); err != nil {
		t.Fatalf("classic heartbeat after a restart: %v", err)
	}

	// The KIP-848 member leaves: the group is classic again, at the
	// group epoch, and rebalances; its member rejoins and leads.
	if rl := migrateConsumer(t, c, "b", -1, nil); rl.ErrorCode != 0 {
		t.Fatalf("leave: %v", kerr.ErrorForCode(rl.ErrorCode))
	}
	if groupType(c) != "classic" {
		t.Fatalf("after the last KIP-848 member left: type %q, want classic", groupType(c))
	}
	if err := migrateHeartbeat(c, a, r.Generation); err != kerr.RebalanceInProgress {
		t.Fatalf("classic heartbeat after the downgrade: %v, want REBALANCE_IN_PROGRESS", err)
	}
	r = migrateJoin(t, c, a, kept)
	if r.ErrorCode != 0 || r.LeaderID != a || len(r.Members) != 1 || r.Generation != gen+2 {
		t.Fatalf("join after the downgrade: %v leader %q members %d gen %d", kerr.ErrorForCode(r.ErrorCode), r.LeaderID, len(r.Members), r.Generation)
	}
	if got, err := migrateSync(t, c, a, r.Generation, map[string][]int32{a: {0, 1, 2, 3}}); err != nil || len(got) != 4 {
		t.Fatalf("sync after the downgrade: %v %v", got, err)
	}
}

// TestOnlineMigrationPolicy: group.consumer.migration.policy=disabled keeps
// a classic group with members classic (GROUP_ID_NOT_FOUND, as Kafka);
// "upgrade" upgrades but never downgrades.
func TestOnlineMigrationPolicy(t *testing.T) {
	for _, policy := range []string{MigrationDisabled, MigrationUpgrade} {
		t.Run(policy, func(t *testing.T) {
			c := migrateCoordinator(t, func(cfg *Config) { cfg.MigrationPolicy = policy })
			a, gen := stableClassic(t, c)
			rb := migrateConsumer(t, c, "b", 0, nil)
			if policy == MigrationDisabled {
				if rb.ErrorCode != kerr.GroupIDNotFound.Code || groupType(c) != "classic" {
					t.Fatalf("disabled: %v, type %q", kerr.ErrorForCode(rb.ErrorCode), groupType(c))
				}
				return
			}
			if rb.ErrorCode != 0 {
				t.Fatalf("upgrade: %v", kerr.ErrorForCode(rb.ErrorCode))
			}
			migrateConsumer(t, c, "b", -1, nil)
			if groupType(c) != "consumer" {
				t.Fatalf("upgrade only: the group went %q when the KIP-848 member left", groupType(c))
			}
			// The classic member moves on to the epoch of b's leaving.
			if err := migrateHeartbeat(c, a, gen); err != kerr.RebalanceInProgress {
				t.Fatalf("heartbeat: %v", err)
			}
			r := migrateJoin(t, c, a, []int32{0, 1, 2, 3})
			if got, err := migrateSync(t, c, a, r.Generation, nil); err != nil || len(got) != 4 {
				t.Fatalf("the lone classic member of a consumer group: %v %v", got, err)
			}
		})
	}
}

// TestEagerMemberInConsumerGroup: a member that gave up its partitions
// before it rejoined (eager, owning none) moves on with one JoinGroup, and
// one that never syncs is removed after its rebalance timeout.
func TestEagerMemberInConsumerGroup(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	c := migrateCoordinator(t, func(cfg *Config) { cfg.Clock = clock })
	a, gen := stableClassic(t, c)
	rb := migrateConsumer(t, c, "b", 0, nil)
	r := migrateJoin(t, c, a, []int32{})
	if r.ErrorCode != 0 || r.Generation != gen+1 {
		t.Fatalf("eager rejoin: %v gen %d, want %d", kerr.ErrorForCode(r.ErrorCode), r.Generation, gen+1)
	}
	rb = migrateConsumer(t, c, "b", rb.MemberEpoch, nil)
	if len(assigned(rb)) != 2 {
		t.Fatalf("b got %v once the eager member gave its partitions up", assigned(rb))
	}
	// No SyncGroup within the rebalance timeout (5 s): a goes.
	clock.Advance(6 * time.Second)
	d := describeConsumer(t, c)
	if len(d.Members) != 1 || d.Members[0].MemberID != "b" {
		t.Fatalf("members after a's sync timeout: %+v", d.Members)
	}
}

// migrateCoordinator is openCoordinator's coordinator with set's changes
// to its config.
func migrateCoordinator(t *testing.T, set func(*Config)) *Coordinator {
	t.Helper()
	st := &memStore{offs: map[string]map[tp]meta.GroupOffset{}, groups: map[string]meta.GroupMetadata{}}
	cfg := testConfig(st)
	set(&cfg)
	c, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func commitAs(t *testing.T, c *Coordinator, member string, gen int32) *kerr.Error {
	t.Helper()
	if code := offsetCommit(c, "mg", member, gen, 0, 1); code != 0 {
		e, _ := kerr.ErrorForCode(code).(*kerr.Error)
		return e
	}
	return nil
}

func describeConsumer(t *testing.T, c *Coordinator) kmsg.ConsumerGroupDescribeResponseGroup {
	t.Helper()
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 1
	req.Groups = []string{"mg"}
	g := c.ConsumerGroupDescribe(req).Groups[0]
	if g.ErrorCode != 0 {
		t.Fatalf("ConsumerGroupDescribe: %v", kerr.ErrorForCode(g.ErrorCode))
	}
	return g
}

// TestClassicProtocolInCommon: a classic member joining a consumer group
// must share a protocol with the classic members there (Kafka's
// INCONSISTENT_GROUP_PROTOCOL otherwise), so that the group can turn
// classic again.
func TestClassicProtocolInCommon(t *testing.T) {
	c, _ := newCoordinator(t)
	stableClassic(t, c)
	if rb := migrateConsumer(t, c, "b", 0, nil); rb.ErrorCode != 0 {
		t.Fatalf("upgrade: %v", kerr.ErrorForCode(rb.ErrorCode))
	}
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Topics = []string{"t"}
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.ProtocolType = "mg", "other", "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 5_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", sub.AppendTo(nil)
	req.Protocols = append(req.Protocols, p)
	if r := c.JoinGroup(t.Context(), req, "client", "/127.0.0.1"); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("a range-only member beside a cooperative-sticky one: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(r.ErrorCode))
	}
	req.ProtocolType = "connect"
	if r := c.JoinGroup(t.Context(), req, "client", "/127.0.0.1"); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("another protocol type: %v, want INCONSISTENT_GROUP_PROTOCOL", kerr.ErrorForCode(r.ErrorCode))
	}
}

// TestStaticReplacementDowngrades: a static classic member that takes the
// place of the last static member of the consumer protocol turns the group
// classic, and joins its rebalance with the classic members.
func TestStaticReplacementDowngrades(t *testing.T) {
	c, _ := newCoordinator(t)
	a, _ := stableClassic(t, c)
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch = "mg", "s", 0
	iid := "instance-1"
	req.InstanceID = &iid
	req.SubscribedTopicNames, req.RebalanceTimeoutMillis = []string{"t"}, 10_000
	if r := c.ConsumerGroupHeartbeat(t.Context(), req, "client", "/127.0.0.1"); r.ErrorCode != 0 || groupType(c) != "consumer" {
		t.Fatalf("static KIP-848 member: %v, type %q", kerr.ErrorForCode(r.ErrorCode), groupType(c))
	}

	// The same instance comes back speaking the classic protocol.
	sub := kmsg.NewConsumerMemberMetadata()
	sub.Version, sub.Topics = 1, []string{"t"}
	jreq := kmsg.NewPtrJoinGroupRequest()
	jreq.Version = 9
	jreq.Group, jreq.ProtocolType, jreq.InstanceID = "mg", "consumer", &iid
	jreq.SessionTimeoutMillis, jreq.RebalanceTimeoutMillis = 10_000, 5_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "cooperative-sticky", sub.AppendTo(nil)
	jreq.Protocols = append(jreq.Protocols, p)
	joined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { joined <- c.JoinGroup(t.Context(), jreq, "client", "/127.0.0.1") }()
	grWait(t, "the group classic again", func() bool { return groupType(c) == "classic" })

	// The classic member rejoins; the rebalance completes with both.
	ra := migrateJoin(t, c, a, []int32{0, 1, 2, 3})
	rs := <-joined
	if ra.ErrorCode != 0 || rs.ErrorCode != 0 || ra.Generation != rs.Generation {
		t.Fatalf("joins after the downgrade: %v gen %d, %v gen %d", kerr.ErrorForCode(ra.ErrorCode), ra.Generation, kerr.ErrorForCode(rs.ErrorCode), rs.Generation)
	}
	if d := describeClassic(c, "mg"); len(d.Members) != 2 {
		t.Fatalf("classic group after the downgrade: %d members", len(d.Members))
	}
}

// grWait polls cond until it holds, failing after a minute (a hang
// detector, not a timing assertion).
func grWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within a minute", what)
		}
	}
}

// TestStaticClassicJoinsConsumerGroup: a static classic member joins a
// consumer group at once (KIP-394's MEMBER_ID_REQUIRED is for dynamic
// members), and a join refused for its protocols leaves its place as it
// was.
func TestStaticClassicJoinsConsumerGroup(t *testing.T) {
	c, _ := newCoordinator(t)
	stableClassic(t, c)
	if rb := migrateConsumer(t, c, "b", 0, nil); rb.ErrorCode != 0 {
		t.Fatalf("upgrade: %v", kerr.ErrorForCode(rb.ErrorCode))
	}
	join := func(proto string) *kmsg.JoinGroupResponse {
		sub := kmsg.NewConsumerMemberMetadata()
		sub.Version, sub.Topics = 1, []string{"t"}
		req := kmsg.NewPtrJoinGroupRequest()
		req.Version = 9
		iid := "static-1"
		req.Group, req.ProtocolType, req.InstanceID = "mg", "consumer", &iid
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10_000, 5_000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = proto, sub.AppendTo(nil)
		req.Protocols = append(req.Protocols, p)
		return c.JoinGroup(t.Context(), req, "client", "/127.0.0.1")
	}
	r := join("cooperative-sticky")
	if r.ErrorCode != 0 || r.MemberID == "" {
		t.Fatalf("static classic join: %v, member %q", kerr.ErrorForCode(r.ErrorCode), r.MemberID)
	}
	if r2 := join("range"); r2.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("a join with no protocol in common: %v", kerr.ErrorForCode(r2.ErrorCode))
	}
	if err := migrateHeartbeat(c, r.MemberID, r.Generation); err != nil && err != kerr.RebalanceInProgress {
		t.Fatalf("the static member after a refused join of its instance: %v", err)
	}
}
