package compattests

// Consumer groups driven by franz-go (kgo group members, kadm, and kmsg
// requests on a plain connection), checked against Kafka's behaviour:
// rebalances with the eager range and the cooperative-sticky assignors,
// commits that survive a broker restart, static membership, session
// timeouts, the group administration APIs, the error codes of the classic
// group protocol, and KIP-848 when the broker advertises it.

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupsFranzGoRebalance runs three members on a six-partition topic
// while records are produced throughout: every partition is assigned to
// exactly one member (the callbacks and DescribeGroups agree), a fourth
// member joins and the first leaves, and after each rebalance the six
// partitions are again spread over the members with none lost or doubled,
// no partition ever being given to a member while another still holds it.
// Every record produced is consumed (at least once). Then everything is
// committed and the members stop; more records are produced; the broker
// restarts on the same data directory; the committed offsets are still
// there, and a new member resumes exactly from them: nothing before them
// comes again, nothing after them is missing.
//
// Once with the eager range assignor on an in-process broker
// (brokertest.Restart), once with the cooperative-sticky assignor on the
// streamhouse binary (stopped with SIGTERM and started again).
func TestGroupsFranzGoRebalance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		balancer kgo.GroupBalancer
		protocol string
		binary   bool
	}{
		{"range", kgo.RangeBalancer(), "range", false},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer(), "cooperative-sticky", true},
		// KIP-848: kgo maps its sticky balancer to the broker's
		// "uniform" assignor.
		{"kip848", kgo.CooperativeStickyBalancer(), grKIP848, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			grRebalanceScenario(t, c.balancer, c.protocol, c.binary)
		})
	}
}

func grRebalanceScenario(t *testing.T, balancer kgo.GroupBalancer, protocol string, binary bool) {
	const (
		topic      = "orders"
		group      = "billing"
		partitions = 6
	)
	var addr string
	var restart func()
	if binary {
		dir := t.TempDir()
		p := startProc(t, dir, "", grBrokerFlags()...)
		addr = p.addr
		restart = func() {
			p.stop()
			p = startProc(t, dir, "", grBrokerFlags()...)
			addr = p.addr
		}
	} else {
		b := grBroker(t)
		addr = b.Addr()
		restart = func() {
			b.Restart()
			addr = b.Addr()
		}
	}
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, topic, partitions, nil)

	tr := newGrTracker()
	prod := grStartProducer(t, addr, topic, partitions)
	opts := []kgo.Opt{kgo.Balancers(balancer)}
	if protocol == grKIP848 {
		opts = append(opts, kgo.ServerSideBalancer())
	}
	start := func(name string) *grMember {
		return grStartMember(t, addr, tr, name, group, topic, opts...)
	}

	m1, m2, m3 := start("m1"), start("m2"), start("m3")
	grWaitBalanced(t, adm, tr, group, topic, partitions, protocol, m1, m2, m3)
	// Records keep flowing while the group changes.
	grWaitFor(t, "background producer under way", func() (bool, string) {
		n := prod.count()
		return n >= 60, fmt.Sprintf("%d records produced", n)
	})

	m4 := start("m4")
	grWaitBalanced(t, adm, tr, group, topic, partitions, protocol, m1, m2, m3, m4)

	m1.stop() // leaves the group
	grWaitBalanced(t, adm, tr, group, topic, partitions, protocol, m2, m3, m4)

	recs := prod.stop(t)
	grWaitConsumed(t, tr, recs)
	ends := fgEndOffsets(t, adm, topic)
	for _, m := range []*grMember{m2, m3, m4} {
		if err := m.cl.CommitUncommittedOffsets(fgCtx(t)); err != nil {
			t.Fatalf("%s: commit: %v", m.name, err)
		}
	}
	grWaitCommitted(t, adm, group, topic, ends)
	if v := tr.violationsSoFar(); len(v) > 0 {
		t.Errorf("partitions held by two members at once: %v", v)
	}
	t.Logf("%s: %d records produced, %d deliveries across the rebalances", protocol, len(recs), tr.deliveryCount())

	for _, m := range []*grMember{m2, m3, m4} {
		m.stop()
	}
	if state, n := grState(t, adm, group, protocol); state != "Empty" || n != 0 {
		t.Errorf("after every member left: state %s with %d members, want Empty with none", state, n)
	}

	// Records the new member must read, after the committed offsets.
	more := grProduceEach(t, addr, topic, partitions, 10, "after")
	restart()
	adm = fgAdmin(t, addr)
	end2 := fgEndOffsets(t, adm, topic)
	if got := grCommitted(t, adm, group, topic); !maps.Equal(got, ends) {
		t.Fatalf("after the restart the committed offsets are %v, were %v", got, ends)
	}

	tr2 := newGrTracker()
	m5 := grStartMember(t, addr, tr2, "m5", group, topic, opts...)
	grWaitConsumed(t, tr2, more)
	grWaitBalanced(t, adm, tr2, group, topic, partitions, protocol, m5)
	grCheckResumed(t, tr2, fgByPartition(more), ends, end2)
}

// TestGroupsFranzGoStaticMembership runs two static members (kgo
// InstanceID, KIP-345) on a four-partition topic, then restarts the second
// within the session timeout: kgo sends no LeaveGroup for a static member,
// and the broker hands the new incarnation the old one's partitions without
// a rebalance. The generation stays the same for both members (DescribeGroups
// has no generation, so kgo's own view is compared), the other member's
// callbacks do not run again, DescribeGroups shows the same assignment per
// instance id, and the restarted member has a new member id (Kafka replaces
// the member id of a static member that rejoins).
func TestGroupsFranzGoStaticMembership(t *testing.T) {
	t.Parallel()
	const (
		topic      = "static"
		group      = "static-group"
		partitions = 4
	)
	b := grBroker(t)
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, topic, partitions, nil)
	tr := newGrTracker()
	// A session long enough that the restart below is well within it on a
	// loaded machine.
	session := kgo.SessionTimeout(20 * time.Second)
	static := func(name string) *grMember {
		return grStartMember(t, b.Addr(), tr, name, group, topic, kgo.Balancers(kgo.RangeBalancer()), kgo.InstanceID("instance-"+name), session)
	}
	a := static("a")
	grWaitBalanced(t, adm, tr, group, topic, partitions, "range", a)
	bm := static("b")
	grWaitBalanced(t, adm, tr, group, topic, partitions, "range", a, bm)

	gen := a.generation()
	if g := bm.generation(); g != gen {
		t.Fatalf("members disagree on the generation: a %d, b %d", gen, g)
	}
	before := grDescribe(t, adm, group)
	oldID := bm.memberID()
	bParts := tr.partitionsOf("b")
	aCallbacks := tr.callbacksOf("a")

	bm.stop() // static: no LeaveGroup
	if d := grDescribe(t, adm, group); len(d.Members) != 2 {
		t.Errorf("after the static member closed: %d members, want 2 (a static member stays until its session times out)", len(d.Members))
	}
	tr.revoked("b", topic, map[string][]int32{topic: bParts}, true) // the old incarnation is gone
	b2 := static("b")
	grWaitFor(t, "restarted static member b given its partitions back", func() (bool, string) {
		got := tr.partitionsOf("b")
		return slices.Equal(got, bParts), fmt.Sprintf("b has %v, had %v; %s", got, bParts, tr.errors())
	})
	// Give a rebalance, if the broker started one, time to reach a.
	time.Sleep(4 * grHeartbeat)

	if g := b2.generation(); g != gen {
		t.Errorf("restarted static member: generation %d, was %d (a rejoining static member must not cause a rebalance)", g, gen)
	}
	if g := a.generation(); g != gen {
		t.Errorf("other member: generation %d, was %d (a rejoining static member must not cause a rebalance)", g, gen)
	}
	if n := tr.callbacksOf("a"); n != aCallbacks {
		t.Errorf("other member: partition callbacks ran %d times more after the static member restarted; want none", n-aCallbacks)
	}
	after := grDescribe(t, adm, group)
	if after.State != "Stable" || len(after.Members) != 2 {
		t.Fatalf("after the restart: state %s, %d members; want Stable, 2", after.State, len(after.Members))
	}
	for i, m := range after.Members {
		prev := before.Members[i] // both sorted by instance id
		if m.InstanceID == nil || prev.InstanceID == nil || *m.InstanceID != *prev.InstanceID {
			t.Fatalf("member %d: instance id %v, was %v", i, m.InstanceID, prev.InstanceID)
		}
		was, now := grAssigned(before, topic)[prev.MemberID], grAssigned(after, topic)[m.MemberID]
		if !slices.Equal(was, now) {
			t.Errorf("instance %s: assigned %v, was %v", *m.InstanceID, now, was)
		}
		if *m.InstanceID == "instance-b" {
			if m.MemberID == oldID || m.MemberID != b2.memberID() {
				t.Errorf("instance-b: member id %q (old %q, the new client holds %q); Kafka gives a rejoining static member a new member id", m.MemberID, oldID, b2.memberID())
			}
		} else if m.MemberID != prev.MemberID {
			t.Errorf("instance %s: member id changed from %q to %q", *m.InstanceID, prev.MemberID, m.MemberID)
		}
	}
}

// TestGroupsFranzGoSessionTimeout runs two members; the second then stops
// heartbeating without leaving (its connections are cut and it cannot
// dial again). The broker must keep it (a closed connection is no reason
// to drop a member) until its session timeout passes, then remove it and
// rebalance, giving its partitions to the remaining member, which consumes
// them.
func TestGroupsFranzGoSessionTimeout(t *testing.T) {
	t.Parallel()
	const (
		topic      = "sessions"
		group      = "session-group"
		partitions = 4
	)
	b := grBroker(t)
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, topic, partitions, nil)
	tr := newGrTracker()
	m1 := grStartMember(t, b.Addr(), tr, "m1", group, topic, kgo.Balancers(kgo.RangeBalancer()))
	grWaitBalanced(t, adm, tr, group, topic, partitions, "range", m1)
	d := &grCutDialer{}
	m2 := grStartMember(t, b.Addr(), tr, "m2", group, topic, kgo.Balancers(kgo.RangeBalancer()), kgo.Dialer(d.dial))
	grWaitBalanced(t, adm, tr, group, topic, partitions, "range", m1, m2)
	frozenID := m2.memberID()
	t.Cleanup(func() {
		// Close without waiting for a LeaveGroup that cannot be sent.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m2.cl.LeaveGroupContext(ctx)
	})

	d.cutAll()
	cut := time.Now()
	// Well inside the session timeout the member must still be there.
	time.Sleep(grSession / 3)
	ds, err := adm.DescribeGroups(fgCtx(t), group)
	if elapsed := time.Since(cut); err == nil && elapsed < grSession-time.Second {
		if n := len(ds[group].Members); n != 2 {
			t.Errorf("%v after the member stopped heartbeating (session timeout %v): %d members, want 2", elapsed.Round(time.Millisecond), grSession, n)
		}
	}

	grWaitFor(t, "the silent member removed after its session timeout and m1 given all partitions", func() (bool, string) {
		d := grDescribe(t, adm, group)
		ids := []string{}
		for _, m := range d.Members {
			ids = append(ids, m.MemberID)
		}
		own := tr.partitionsOf("m1")
		ok := d.State == "Stable" && len(d.Members) == 1 && d.Members[0].MemberID == m1.memberID() && len(own) == partitions &&
			slices.Equal(grAssigned(d, topic)[m1.memberID()], own)
		return ok, fmt.Sprintf("state %s, members %v (silent one %s), m1 owns %v; %s", d.State, ids, frozenID, own, tr.errors())
	})
	// Its last heartbeat was at most one interval before the cut.
	if since := time.Since(cut); since < grSession-2*grHeartbeat {
		t.Errorf("the member was removed %v after it went silent, before its session timeout of %v", since.Round(time.Millisecond), grSession)
	}
	// m1 now consumes what is produced to every partition.
	more := grProduceEach(t, b.Addr(), topic, partitions, 3, "taken-over")
	grWaitConsumed(t, tr, more)
}

// TestGroupsFranzGoAdmin drives the group administration APIs through kadm
// against groups in known states: "active" (one member, Stable, subscribed
// to topic a, with offsets committed on a and, before it joined, on b),
// "left" (a member joined, committed and left: Empty, protocol type kept),
// "simple" (offsets committed with generation -1 and no member, as
// kadm.CommitOffsets does: Empty, no protocol type).
func TestGroupsFranzGoAdmin(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "a", 3, nil)
	fgCreateTopic(t, adm, "b", 2, nil)
	grProduceEach(t, addr, "a", 3, 10, "a")
	grProduceEach(t, addr, "b", 2, 10, "b")
	ctx := fgCtx(t)

	commit := func(group string, os map[string]map[int32]int64) {
		t.Helper()
		var o kadm.Offsets
		for topic, ps := range os {
			for p, at := range ps {
				o.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
			}
		}
		resp, err := adm.CommitOffsets(ctx, group, o)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit offsets to %s (generation -1, no member): %v", group, err)
		}
	}
	commit("simple", map[string]map[int32]int64{"a": {0: 1, 1: 2}})
	commit("active", map[string]map[int32]int64{"b": {0: 4, 1: 6}})

	// "left": a member that joins, commits and leaves.
	trL := newGrTracker()
	trL.manual = true
	left := grStartMember(t, addr, trL, "left", "left", "a", kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit())
	grWaitBalanced(t, adm, trL, "left", "a", 3, "range", left)
	if err := left.commit(map[string]map[int32]int64{"a": {2: 7}}); err != nil {
		t.Fatalf("member commit to group left: %v", err)
	}
	left.stop()

	// "active": one member, committing explicitly only.
	tr := newGrTracker()
	tr.manual = true
	active := grStartMember(t, addr, tr, "active", "active", "a", kgo.Balancers(kgo.RangeBalancer()), kgo.DisableAutoCommit())
	grWaitBalanced(t, adm, tr, "active", "a", 3, "range", active)
	if err := active.commit(map[string]map[int32]int64{"a": {0: 3, 1: 5, 2: 10}}); err != nil {
		t.Fatalf("member commit to group active: %v", err)
	}

	t.Run("ListGroups", func(t *testing.T) {
		all, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatalf("ListGroups: %v", err)
		}
		want := map[string][2]string{ // state, protocol type
			"active": {"Stable", "consumer"},
			"left":   {"Empty", "consumer"},
			"simple": {"Empty", ""},
		}
		for g, w := range want {
			l, ok := all[g]
			if !ok {
				t.Errorf("ListGroups: %s missing from %v", g, all.Groups())
				continue
			}
			if l.State != w[0] || l.ProtocolType != w[1] || l.Coordinator != fgNode {
				t.Errorf("ListGroups: %s is %q, protocol type %q, coordinator %d; want %q, %q, %d", g, l.State, l.ProtocolType, l.Coordinator, w[0], w[1], fgNode)
			}
		}
		if len(all) != len(want) {
			t.Errorf("ListGroups: %v, want the three groups %v", all.Groups(), slices.Sorted(maps.Keys(want)))
		}
		for _, c := range []struct {
			states []string
			want   []string
		}{
			{[]string{"Stable"}, []string{"active"}},
			{[]string{"Empty"}, []string{"left", "simple"}},
			{[]string{"Empty", "Stable"}, []string{"active", "left", "simple"}},
			{[]string{"PreparingRebalance"}, nil},
		} {
			got, err := adm.ListGroups(ctx, c.states...)
			if err != nil {
				t.Fatalf("ListGroups(%v): %v", c.states, err)
			}
			if g := got.Groups(); !slices.Equal(g, c.want) {
				t.Errorf("ListGroups filtered by states %v: %v, want %v", c.states, g, c.want)
			}
		}
	})

	t.Run("DescribeGroups", func(t *testing.T) {
		ds, err := adm.DescribeGroups(ctx, "active", "left", "simple", "never-existed")
		if err != nil {
			t.Fatalf("DescribeGroups: %v", err)
		}
		a := ds["active"]
		if a.Err != nil || a.State != "Stable" || a.ProtocolType != "consumer" || a.Protocol != "range" || len(a.Members) != 1 {
			t.Fatalf("active: error %v, state %q, protocol %q/%q, %d members; want none, Stable, consumer/range, 1", a.Err, a.State, a.ProtocolType, a.Protocol, len(a.Members))
		}
		m := a.Members[0]
		if m.MemberID != active.memberID() || m.ClientID != "streamhouse-compat-groups" || m.InstanceID != nil {
			t.Errorf("active member: id %q client %q instance %v; want %q, streamhouse-compat-groups, none", m.MemberID, m.ClientID, m.InstanceID, active.memberID())
		}
		if host := m.ClientHost; host != "/127.0.0.1" {
			t.Errorf("active member: client host %q, want /127.0.0.1 (Kafka prints the address with a leading slash)", host)
		}
		if j, ok := m.Join.AsConsumer(); !ok || !slices.Equal(j.Topics, []string{"a"}) {
			t.Errorf("active member: subscription %+v, want topic a", m.Join)
		}
		if got := grAssigned(a, "a")[m.MemberID]; !slices.Equal(got, []int32{0, 1, 2}) {
			t.Errorf("active member: assigned %v of a, want [0 1 2]", got)
		}
		for _, c := range []struct{ group, protocolType string }{{"left", "consumer"}, {"simple", ""}} {
			d := ds[c.group]
			if d.Err != nil || d.State != "Empty" || d.ProtocolType != c.protocolType || d.Protocol != "" || len(d.Members) != 0 {
				t.Errorf("%s: error %v, state %q, protocol %q/%q, %d members; want none, Empty, %q/\"\", 0", c.group, d.Err, d.State, d.ProtocolType, d.Protocol, len(d.Members), c.protocolType)
			}
		}
		// Kafka answers an unknown group with state Dead (DescribeGroups
		// v0-v5) or GROUP_ID_NOT_FOUND (v6, KIP-1043).
		if n := ds["never-existed"]; !(n.Err == nil && n.State == "Dead") && !fgIsErr(n.Err, kerr.GroupIDNotFound) {
			t.Errorf("never-existed: error %v, state %q; want Dead or GROUP_ID_NOT_FOUND", n.Err, n.State)
		}
	})

	t.Run("FetchOffsets", func(t *testing.T) {
		want := map[string]map[string]map[int32]int64{
			"active": {"a": {0: 3, 1: 5, 2: 10}, "b": {0: 4, 1: 6}},
			"left":   {"a": {2: 7}},
			"simple": {"a": {0: 1, 1: 2}},
		}
		for g, w := range want {
			got := map[string]map[int32]int64{}
			for topic := range w {
				got[topic] = grCommitted(t, adm, g, topic)
			}
			if !maps.EqualFunc(got, w, maps.Equal) {
				t.Errorf("FetchOffsets(%s): %v, want %v", g, got, w)
			}
		}
		os, err := adm.FetchOffsets(ctx, "never-existed")
		if err != nil || len(os) != 0 {
			t.Errorf("FetchOffsets of an unknown group: %v, %v; want nothing and no error", os, err)
		}
	})

	t.Run("Lag", func(t *testing.T) {
		grProduceEach(t, addr, "a", 3, 4, "lag") // ends 14, 14, 14
		ends := fgEndOffsets(t, adm, "a")
		lags, err := adm.Lag(ctx, "active")
		if err != nil {
			t.Fatalf("Lag: %v", err)
		}
		l := lags["active"]
		if err := l.Error(); err != nil {
			t.Fatalf("Lag(active): %v", err)
		}
		committed := map[int32]int64{0: 3, 1: 5, 2: 10}
		for p, c := range committed {
			ml, ok := l.Lag.Lookup("a", p)
			if !ok {
				t.Errorf("Lag: no lag for a/%d", p)
				continue
			}
			if ml.Err != nil || ml.Commit.At != c || ml.End.Offset != ends[p] || ml.Lag != ends[p]-c {
				t.Errorf("Lag a/%d: err %v, committed %d, end %d, lag %d; want committed %d, end %d, lag %d", p, ml.Err, ml.Commit.At, ml.End.Offset, ml.Lag, c, ends[p], ends[p]-c)
			}
			if ml.Member == nil || ml.Member.MemberID != active.memberID() {
				t.Errorf("Lag a/%d: member %v, want %s", p, ml.Member, active.memberID())
			}
		}
		// The same from the pieces: CalculateGroupLag.
		fetched, err := adm.FetchOffsets(ctx, "active")
		if err != nil {
			t.Fatal(err)
		}
		listed, err := adm.ListEndOffsets(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		calc := kadm.CalculateGroupLag(grDescribe(t, adm, "active"), fetched, listed)
		for p, c := range committed {
			if ml, ok := calc.Lookup("a", p); !ok || ml.Lag != ends[p]-c {
				t.Errorf("CalculateGroupLag a/%d: %+v, want lag %d", p, ml, ends[p]-c)
			}
		}
	})

	t.Run("DeleteOffsets", func(t *testing.T) {
		// b is not subscribed by the active group: its offsets go.
		resp, err := adm.DeleteOffsets(ctx, "active", kadm.TopicsSet{"b": {0: {}, 1: {}}})
		if err != nil || resp.Error() != nil {
			t.Fatalf("DeleteOffsets(active, b): %v, %v", err, resp.Error())
		}
		if got := grCommitted(t, adm, "active", "b"); len(got) != 0 {
			t.Errorf("after OffsetDelete, active still has offsets of b: %v", got)
		}
		// a is subscribed: GROUP_SUBSCRIBED_TO_TOPIC, offsets kept.
		resp, err = adm.DeleteOffsets(ctx, "active", kadm.TopicsSet{"a": {0: {}}})
		if err != nil {
			t.Fatalf("DeleteOffsets(active, a): %v", err)
		}
		if e, _ := resp.Lookup("a", 0); !fgIsErr(e, kerr.GroupSubscribedToTopic) {
			t.Errorf("DeleteOffsets of a topic the group consumes: %v, want GROUP_SUBSCRIBED_TO_TOPIC", e)
		}
		if got := grCommitted(t, adm, "active", "a"); got[0] != 3 {
			t.Errorf("a rejected OffsetDelete removed the offset: %v", got)
		}
		// An empty group: any topic.
		resp, err = adm.DeleteOffsets(ctx, "left", kadm.TopicsSet{"a": {2: {}}})
		if err != nil || resp.Error() != nil {
			t.Fatalf("DeleteOffsets(left, a): %v, %v", err, resp.Error())
		}
		if got := grCommitted(t, adm, "left", "a"); len(got) != 0 {
			t.Errorf("after OffsetDelete, left still has offsets of a: %v", got)
		}
	})

	t.Run("DeleteGroups", func(t *testing.T) {
		resp, err := adm.DeleteGroups(ctx, "simple", "active", "never-existed")
		if err != nil {
			t.Fatalf("DeleteGroups: %v", err)
		}
		for g, want := range map[string]*kerr.Error{"simple": nil, "active": kerr.NonEmptyGroup, "never-existed": kerr.GroupIDNotFound} {
			r, ok := resp[g]
			switch {
			case !ok:
				t.Errorf("DeleteGroups: no answer for %s", g)
			case want == nil && r.Err != nil:
				t.Errorf("DeleteGroups(%s): %v, want success (the group is empty)", g, r.Err)
			case want != nil && !fgIsErr(r.Err, want):
				t.Errorf("DeleteGroups(%s): %v, want %v", g, r.Err, want)
			}
		}
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := listed["simple"]; ok {
			t.Errorf("the deleted group is still listed: %v", listed.Groups())
		}
		if _, ok := listed["active"]; !ok {
			t.Errorf("the group that could not be deleted is gone: %v", listed.Groups())
		}
		if os, err := adm.FetchOffsets(ctx, "simple"); err != nil && !fgIsErr(err, kerr.GroupIDNotFound) || len(os) != 0 {
			t.Errorf("the deleted group still has offsets: %v (%v)", os, err)
		}
		if got := grCommitted(t, adm, "active", "a"); got[0] != 3 {
			t.Errorf("the group that could not be deleted lost its offsets: %v", got)
		}
	})
}

// TestGroupsRawProtocol speaks the classic group protocol on plain
// connections, at the highest version both the broker and kmsg know, and
// checks the answers Kafka gives: coordinator lookup at every
// FindCoordinator version, the KIP-394 member id handshake, heartbeat
// errors, a rebalance seen through heartbeats, a follower's SyncGroup
// waiting for the leader's, commits with a stale generation, static
// members coming back (KIP-345, with KIP-814's skip of the assignment),
// simple commits, batched OffsetFetch and session timeout limits.
func TestGroupsRawProtocol(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	const topic = "raw"
	fgCreateTopic(t, adm, topic, 2, nil)
	av := grAPIVersions(t, addr)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)

	g := newGrGroupReqs(t, av, topic)

	t.Run("FindCoordinator", func(t *testing.T) {
		r := fgDialRaw(t, addr)
		fc, ok := av[int16(kmsg.FindCoordinator)]
		if !ok || fc.MinVersion > 0 || fc.MaxVersion < 5 {
			t.Fatalf("the broker advertises FindCoordinator %+v; Kafka serves v0-v6", fc)
		}
		for v := int16(0); v <= 5; v++ {
			req := kmsg.NewPtrFindCoordinatorRequest()
			if v < 4 {
				req.CoordinatorKey = "some-group"
			} else {
				req.CoordinatorKeys = []string{"some-group", "other-group"}
			}
			resp := r.do(req, v).(*kmsg.FindCoordinatorResponse)
			if v < 4 {
				if resp.ErrorCode != 0 || resp.NodeID != fgNode || resp.Host != host || resp.Port != int32(port) {
					t.Errorf("FindCoordinator v%d: error %v, node %d at %s:%d; want this broker, node %d at %s", v, kerr.ErrorForCode(resp.ErrorCode), resp.NodeID, resp.Host, resp.Port, fgNode, addr)
				}
				continue
			}
			if len(resp.Coordinators) != 2 {
				t.Errorf("FindCoordinator v%d with two keys: %d coordinators", v, len(resp.Coordinators))
				continue
			}
			for i, c := range resp.Coordinators {
				if c.Key != req.CoordinatorKeys[i] || c.ErrorCode != 0 || c.NodeID != fgNode || c.Host != host || c.Port != int32(port) {
					t.Errorf("FindCoordinator v%d key %q: got key %q, error %v, node %d at %s:%d; want this broker", v, req.CoordinatorKeys[i], c.Key, kerr.ErrorForCode(c.ErrorCode), c.NodeID, c.Host, c.Port)
				}
			}
		}
	})

	t.Run("JoinSyncHeartbeat", func(t *testing.T) {
		const group = "raw-single"
		r := fgDialRaw(t, addr)
		id := g.joinNew(r, group)
		resp := g.join(r, group, id, 10_000)
		if resp.ErrorCode != 0 || resp.MemberID != id || resp.LeaderID != id || resp.Generation < 1 {
			t.Fatalf("JoinGroup with the given member id: error %v, member %q, leader %q, generation %d; want success, %q leading, generation >= 1",
				kerr.ErrorForCode(resp.ErrorCode), resp.MemberID, resp.LeaderID, resp.Generation, id)
		}
		if resp.Protocol == nil || *resp.Protocol != "range" || (g.vJoin >= 7 && (resp.ProtocolType == nil || *resp.ProtocolType != "consumer")) {
			t.Errorf("JoinGroup: protocol %v, type %v; want range, consumer", resp.Protocol, resp.ProtocolType)
		}
		if len(resp.Members) != 1 || resp.Members[0].MemberID != id || string(resp.Members[0].ProtocolMetadata) != string(g.meta) {
			t.Errorf("JoinGroup: the leader must be given every member with its metadata; got %+v", resp.Members)
		}
		gen := resp.Generation
		sresp := r.do(g.syncReq(group, id, gen, map[string][]byte{id: g.assignment(0, 1)}), g.vSync).(*kmsg.SyncGroupResponse)
		if sresp.ErrorCode != 0 || string(sresp.MemberAssignment) != string(g.assignment(0, 1)) {
			t.Fatalf("SyncGroup: error %v, assignment %x; want success and the assignment sent", kerr.ErrorForCode(sresp.ErrorCode), sresp.MemberAssignment)
		}
		if err := g.heartbeat(r, group, id, "", gen); err != nil {
			t.Errorf("Heartbeat of the member at its generation: %v", err)
		}
		if err := g.heartbeat(r, group, id, "", gen+1); !fgIsErr(err, kerr.IllegalGeneration) {
			t.Errorf("Heartbeat with generation %d (current %d): %v, want ILLEGAL_GENERATION", gen+1, gen, err)
		}
		if err := g.heartbeat(r, group, "no-such-member", "", gen); !fgIsErr(err, kerr.UnknownMemberID) {
			t.Errorf("Heartbeat of an unknown member: %v, want UNKNOWN_MEMBER_ID", err)
		}
		errs := g.commit(r, group, id, gen, map[string]map[int32]int64{topic: {0: 5}})
		if err := errs[topic+"/0"]; err != nil {
			t.Errorf("OffsetCommit by the member at its generation: %v", err)
		}
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Group = group
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = id
		leave.Members = append(leave.Members, lm)
		lresp := r.do(leave, g.vLeave).(*kmsg.LeaveGroupResponse)
		if lresp.ErrorCode != 0 || len(lresp.Members) != 1 || lresp.Members[0].ErrorCode != 0 {
			t.Errorf("LeaveGroup: error %v, members %+v", kerr.ErrorForCode(lresp.ErrorCode), lresp.Members)
		}
	})

	t.Run("Rebalance", func(t *testing.T) {
		const group = "raw-pair"
		ra, rb := fgDialRaw(t, addr), fgDialRaw(t, addr)
		a := g.joinNew(ra, group)
		ja := g.join(ra, group, a, 10_000)
		if ja.ErrorCode != 0 {
			t.Fatalf("JoinGroup of the first member: %v", kerr.ErrorForCode(ja.ErrorCode))
		}
		gen1 := ja.Generation
		if s := ra.do(g.syncReq(group, a, gen1, map[string][]byte{a: g.assignment(0, 1)}), g.vSync).(*kmsg.SyncGroupResponse); s.ErrorCode != 0 {
			t.Fatalf("SyncGroup of the first member: %v", kerr.ErrorForCode(s.ErrorCode))
		}
		if err := g.commit(ra, group, a, gen1, map[string]map[int32]int64{topic: {0: 1}})[topic+"/0"]; err != nil {
			t.Fatalf("OffsetCommit at generation %d: %v", gen1, err)
		}

		// A second member joins: its JoinGroup waits for the first to
		// rejoin, which learns of the rebalance from its heartbeat.
		bID := g.joinNew(rb, group)
		type joined struct {
			resp *kmsg.JoinGroupResponse
			err  error
		}
		bJoined := make(chan joined, 1)
		go func() {
			resp, err := g.joinTry(rb, group, bID, "", g.vJoin)
			bJoined <- joined{resp, err}
		}()
		grWaitFor(t, "Heartbeat answering REBALANCE_IN_PROGRESS once a second member joins", func() (bool, string) {
			err := g.heartbeat(ra, group, a, "", gen1)
			if err != nil && !fgIsErr(err, kerr.RebalanceInProgress) {
				t.Fatalf("Heartbeat of a member while another joins: %v, want none, then REBALANCE_IN_PROGRESS", err)
			}
			return err != nil, fmt.Sprintf("heartbeat: %v", err)
		})
		select {
		case j := <-bJoined:
			t.Fatalf("the second member's JoinGroup was answered (%+v, error %v) before the first member rejoined", j.resp, j.err)
		default:
		}
		ja2 := g.join(ra, group, a, 10_000)
		jb := <-bJoined
		if jb.err != nil {
			t.Fatalf("JoinGroup of the second member: %v", jb.err)
		}
		if ja2.ErrorCode != 0 || jb.resp.ErrorCode != 0 || ja2.Generation != jb.resp.Generation || ja2.Generation <= gen1 || ja2.LeaderID != jb.resp.LeaderID {
			t.Fatalf("rebalance: first member error %v generation %d leader %q, second error %v generation %d leader %q; want both success, one generation above %d, one leader",
				kerr.ErrorForCode(ja2.ErrorCode), ja2.Generation, ja2.LeaderID, kerr.ErrorForCode(jb.resp.ErrorCode), jb.resp.Generation, jb.resp.LeaderID, gen1)
		}
		gen2 := ja2.Generation
		leader, follower := ra, rb
		leaderID, followerID := a, bID
		lj, fj := ja2, jb.resp
		if ja2.LeaderID == bID {
			leader, follower, leaderID, followerID, lj, fj = rb, ra, bID, a, jb.resp, ja2
		} else if ja2.LeaderID != a {
			t.Fatalf("leader %q is neither member (%q, %q)", ja2.LeaderID, a, bID)
		}
		if len(lj.Members) != 2 || len(fj.Members) != 0 {
			t.Errorf("JoinGroup: the leader got %d members, the follower %d; want 2 and 0", len(lj.Members), len(fj.Members))
		}

		// The follower's SyncGroup waits for the leader's.
		type synced struct {
			resp *kmsg.SyncGroupResponse
			err  error
		}
		fSynced := make(chan synced, 1)
		go func() {
			resp, err := follower.try(g.syncReq(group, followerID, gen2, nil), g.vSync)
			if err != nil {
				fSynced <- synced{nil, err}
				return
			}
			fSynced <- synced{resp.(*kmsg.SyncGroupResponse), nil}
		}()
		select {
		case s := <-fSynced:
			t.Fatalf("the follower's SyncGroup was answered before the leader's SyncGroup: %+v, %v", s.resp, s.err)
		case <-time.After(500 * time.Millisecond):
		}
		assign := map[string][]byte{leaderID: g.assignment(0), followerID: g.assignment(1)}
		ls := leader.do(g.syncReq(group, leaderID, gen2, assign), g.vSync).(*kmsg.SyncGroupResponse)
		if ls.ErrorCode != 0 || string(ls.MemberAssignment) != string(assign[leaderID]) {
			t.Errorf("leader SyncGroup: error %v, assignment %x; want success and %x", kerr.ErrorForCode(ls.ErrorCode), ls.MemberAssignment, assign[leaderID])
		}
		fs := <-fSynced
		if fs.err != nil {
			t.Fatalf("follower SyncGroup: %v", fs.err)
		}
		if fs.resp.ErrorCode != 0 || string(fs.resp.MemberAssignment) != string(assign[followerID]) {
			t.Errorf("follower SyncGroup: error %v, assignment %x; want success and what the leader assigned it, %x", kerr.ErrorForCode(fs.resp.ErrorCode), fs.resp.MemberAssignment, assign[followerID])
		}

		// The old generation is now stale.
		if err := g.heartbeat(ra, group, a, "", gen1); !fgIsErr(err, kerr.IllegalGeneration) {
			t.Errorf("Heartbeat with the previous generation %d (now %d): %v, want ILLEGAL_GENERATION", gen1, gen2, err)
		}
		if err := g.commit(ra, group, a, gen1, map[string]map[int32]int64{topic: {0: 2}})[topic+"/0"]; !fgIsErr(err, kerr.IllegalGeneration) {
			t.Errorf("OffsetCommit with the previous generation %d (now %d): %v, want ILLEGAL_GENERATION", gen1, gen2, err)
		}
		for _, m := range []struct {
			r  *fgRaw
			id string
		}{{ra, a}, {rb, bID}} {
			if err := g.heartbeat(m.r, group, m.id, "", gen2); err != nil {
				t.Errorf("Heartbeat of %s at generation %d: %v", m.id, gen2, err)
			}
		}
		if err := g.commit(ra, group, a, gen2, map[string]map[int32]int64{topic: {0: 3}})[topic+"/0"]; err != nil {
			t.Errorf("OffsetCommit at the current generation %d: %v", gen2, err)
		}
		if got := grCommitted(t, adm, group, topic); got[0] != 3 {
			t.Errorf("committed offset of %s/0: %d, want 3 (the stale commit must not count)", topic, got[0])
		}
	})

	t.Run("StaticRejoin", func(t *testing.T) {
		// KIP-345 at the JoinGroup level: a static member (instance id,
		// JoinGroup v5+) that comes back with no member id while the
		// group is Stable takes its old place under a new member id,
		// at the same generation, without a rebalance. From v9 (KIP-814)
		// the answer tells the leader to skip the assignment; before v9
		// the leader is named by its previous member id, so that an old
		// client does not think it leads.
		const group = "raw-static"
		if g.vJoin < 5 {
			t.Fatalf("the broker serves JoinGroup up to v%d; static members need v5", g.vJoin)
		}
		joinStatic := func(r *fgRaw, member, instance string, v int16) (*kmsg.JoinGroupResponse, error) {
			return g.joinTry(r, group, member, instance, v)
		}
		must := func(resp *kmsg.JoinGroupResponse, err error) *kmsg.JoinGroupResponse {
			t.Helper()
			if err == nil && resp.ErrorCode != 0 {
				err = kerr.ErrorForCode(resp.ErrorCode)
			}
			if err != nil {
				t.Fatalf("static JoinGroup: %v", err)
			}
			return resp
		}
		staticHeartbeat := func(r *fgRaw, member, instance string, gen int32) error {
			return g.heartbeat(r, group, member, instance, gen)
		}
		sync := func(r *fgRaw, member, instance string, gen int32, assign map[string][]byte) []byte {
			t.Helper()
			req := g.syncReq(group, member, gen, assign)
			req.InstanceID = kmsg.StringPtr(instance)
			resp := r.do(req, g.vSync).(*kmsg.SyncGroupResponse)
			if resp.ErrorCode != 0 {
				t.Fatalf("SyncGroup of static member %s: %v", instance, kerr.ErrorForCode(resp.ErrorCode))
			}
			return resp.MemberAssignment
		}

		ra, rb := fgDialRaw(t, addr), fgDialRaw(t, addr)
		// A static member joins with no member id: no MEMBER_ID_REQUIRED.
		ja := must(joinStatic(ra, "", "ia", g.vJoin))
		a, gen1 := ja.MemberID, ja.Generation
		sync(ra, a, "ia", gen1, map[string][]byte{a: g.assignment(0, 1)})

		type joined struct {
			resp *kmsg.JoinGroupResponse
			err  error
		}
		bJoined := make(chan joined, 1)
		go func() {
			resp, err := joinStatic(rb, "", "ib", g.vJoin)
			bJoined <- joined{resp, err}
		}()
		grWaitFor(t, "Heartbeat answering REBALANCE_IN_PROGRESS once a second static member joins", func() (bool, string) {
			err := staticHeartbeat(ra, a, "ia", gen1)
			if err != nil && !fgIsErr(err, kerr.RebalanceInProgress) {
				t.Fatalf("Heartbeat while another static member joins: %v", err)
			}
			return err != nil, fmt.Sprintf("heartbeat: %v", err)
		})
		ja2 := must(joinStatic(ra, a, "ia", g.vJoin))
		jbr := <-bJoined
		jb := must(jbr.resp, jbr.err)
		gen2 := ja2.Generation
		ids := map[string]string{"ia": a, "ib": jb.MemberID}
		conns := map[string]*fgRaw{"ia": ra, "ib": rb}
		leaderInst, followerInst := "ia", "ib"
		if ja2.LeaderID == jb.MemberID {
			leaderInst, followerInst = "ib", "ia"
		}
		assign := map[string][]byte{ids[leaderInst]: g.assignment(0), ids[followerInst]: g.assignment(1)}
		sync(conns[leaderInst], ids[leaderInst], leaderInst, gen2, assign)
		sync(conns[followerInst], ids[followerInst], followerInst, gen2, nil)

		// The follower comes back.
		oldFollower := ids[followerInst]
		jf := must(joinStatic(conns[followerInst], "", followerInst, g.vJoin))
		if jf.MemberID == "" || jf.MemberID == oldFollower || jf.Generation != gen2 || jf.LeaderID != ids[leaderInst] || len(jf.Members) != 0 || jf.SkipAssignment {
			t.Errorf("JoinGroup v%d of a returning static follower: member %q (was %q), generation %d, leader %q, %d members, skip assignment %v; want a new member id, generation %d, leader %q, no members, no skip (Kafka sets it for the leader only)",
				g.vJoin, jf.MemberID, oldFollower, jf.Generation, jf.LeaderID, len(jf.Members), jf.SkipAssignment, gen2, ids[leaderInst])
		}
		ids[followerInst] = jf.MemberID
		if err := staticHeartbeat(conns[followerInst], oldFollower, followerInst, gen2); !fgIsErr(err, kerr.FencedInstanceID) {
			t.Errorf("Heartbeat of the replaced member id of a static member: %v, want FENCED_INSTANCE_ID", err)
		}
		if got := sync(conns[followerInst], jf.MemberID, followerInst, gen2, nil); string(got) != string(g.assignment(1)) {
			t.Errorf("SyncGroup of the returning static follower: assignment %x, want its old one %x", got, g.assignment(1))
		}

		// The leader comes back.
		oldLeader := ids[leaderInst]
		jl := must(joinStatic(conns[leaderInst], "", leaderInst, g.vJoin))
		wantSkip := g.vJoin >= 9
		if jl.MemberID == "" || jl.MemberID == oldLeader || jl.Generation != gen2 || jl.LeaderID != jl.MemberID || len(jl.Members) != 2 || jl.SkipAssignment != wantSkip {
			t.Errorf("JoinGroup v%d of a returning static leader: member %q (was %q), generation %d, leader %q, %d members, skip assignment %v; want a new member id, generation %d, itself as leader, both members, skip assignment %v",
				g.vJoin, jl.MemberID, oldLeader, jl.Generation, jl.LeaderID, len(jl.Members), jl.SkipAssignment, gen2, wantSkip)
		}
		ids[leaderInst] = jl.MemberID
		if got := sync(conns[leaderInst], jl.MemberID, leaderInst, gen2, nil); string(got) != string(g.assignment(0)) {
			t.Errorf("SyncGroup of the returning static leader (no assignments sent): %x, want its old one %x", got, g.assignment(0))
		}

		// Before v9 the leader's answer names its previous member id.
		if v := min(g.vJoin, 8); v >= 5 {
			prev := ids[leaderInst]
			jo := must(joinStatic(conns[leaderInst], "", leaderInst, v))
			if jo.MemberID == prev || jo.Generation != gen2 || jo.LeaderID != prev || len(jo.Members) != 0 {
				t.Errorf("JoinGroup v%d of a returning static leader: member %q, generation %d, leader %q, %d members; want a new member id, generation %d, leader %q (its previous id, so it does not reassign), no members",
					v, jo.MemberID, jo.Generation, jo.LeaderID, len(jo.Members), gen2, prev)
			}
			ids[leaderInst] = jo.MemberID
			sync(conns[leaderInst], jo.MemberID, leaderInst, gen2, nil)
		}
		for inst, id := range ids {
			if err := staticHeartbeat(conns[inst], id, inst, gen2); err != nil {
				t.Errorf("Heartbeat of static member %s at generation %d after the returns: %v (no rebalance should have happened)", inst, gen2, err)
			}
		}
	})

	t.Run("SimpleCommitAndBatchedFetch", func(t *testing.T) {
		r := fgDialRaw(t, addr)
		// Generation -1 and no member id: a commit outside group
		// management, which Kafka accepts for a group that does not exist.
		errs := g.commit(r, "raw-simple", "", -1, map[string]map[int32]int64{topic: {0: 11, 1: 12}})
		for k, err := range errs {
			if err != nil {
				t.Errorf("simple OffsetCommit v%d of %s to a new group: %v, want success", g.vCommit, k, err)
			}
		}
		errs = g.commit(r, "raw-simple", "", -1, map[string]map[int32]int64{"no-such-topic": {0: 1}})
		if err := errs["no-such-topic/0"]; !fgIsErr(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("OffsetCommit to a topic that does not exist: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}

		req := kmsg.NewPtrOffsetFetchRequest()
		for _, g := range []struct {
			name   string
			topics bool
		}{{"raw-simple", true}, {"raw-single", false}, {"raw-never", true}} {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group, rg.MemberEpoch = g.name, -1
			if g.topics {
				rt := kmsg.NewOffsetFetchRequestGroupTopic()
				rt.Topic, rt.Partitions = topic, []int32{0, 1}
				rg.Topics = append(rg.Topics, rt)
			} // else null: every committed partition
			req.Groups = append(req.Groups, rg)
		}
		want := map[string]map[int32]int64{
			"raw-simple": {0: 11, 1: 12},
			"raw-single": {0: 5},         // committed, then the member left
			"raw-never":  {0: -1, 1: -1}, // no offsets: -1, no error
		}
		for v := int16(8); v <= g.vFetch; v++ {
			resp := r.do(req, v).(*kmsg.OffsetFetchResponse)
			if len(resp.Groups) != 3 {
				t.Fatalf("OffsetFetch v%d for three groups: %d answered", v, len(resp.Groups))
			}
			grCheckFetched(t, v, topic, req, resp, want)
		}
	})

	t.Run("MemberIDRequiredByVersion", func(t *testing.T) {
		r := fgDialRaw(t, addr)
		for v := int16(4); v <= g.vJoin; v++ {
			resp, err := g.joinTry(r, "raw-versions", "", "", v)
			if err != nil {
				t.Fatal(err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); !fgIsErr(err, kerr.MemberIDRequired) || resp.MemberID == "" {
				t.Errorf("JoinGroup v%d with no member id: error %v, member id %q; want MEMBER_ID_REQUIRED and a member id (KIP-394)", v, err, resp.MemberID)
			}
		}
	})

	t.Run("InvalidSessionTimeout", func(t *testing.T) {
		r := fgDialRaw(t, addr)
		// Kafka's defaults: group.min.session.timeout.ms 6000,
		// group.max.session.timeout.ms 1800000.
		for _, ms := range []int32{1000, 5999, 1_800_001} {
			resp := g.join(r, "raw-session", "", ms)
			if err := kerr.ErrorForCode(resp.ErrorCode); !fgIsErr(err, kerr.InvalidSessionTimeout) {
				t.Errorf("JoinGroup v%d with session timeout %dms: %v, want INVALID_SESSION_TIMEOUT", g.vJoin, ms, err)
			}
		}
	})
}

// TestGroupsFranzGoNextGen runs two KIP-848 members (kgo's
// ServerSideBalancer: ConsumerGroupHeartbeat, the broker assigns) when the
// broker advertises ConsumerGroupHeartbeat v1+, and skips otherwise: the
// partitions are split between the members, each assigned once, the
// records are consumed and committed, and ConsumerGroupDescribe shows both
// members with their assignments.
func TestGroupsFranzGoNextGen(t *testing.T) {
	t.Parallel()
	b := grBroker(t)
	av := grAPIVersions(t, b.Addr())
	hb, ok := av[int16(kmsg.ConsumerGroupHeartbeat)]
	if !ok || hb.MaxVersion < 1 {
		t.Skipf("the broker does not advertise ConsumerGroupHeartbeat v1+ (KIP-848) in ApiVersions (%+v); nothing to test yet", hb)
	}
	const (
		topic      = "nextgen"
		group      = "nextgen-group"
		partitions = 4
	)
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, topic, partitions, nil)
	recs := grProduceEach(t, b.Addr(), topic, partitions, 5, "ng")
	tr := newGrTracker()
	log := &grLogger{watch: []string{"falling back"}}
	opts := []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.WithLogger(log)}
	m1 := grStartMember(t, b.Addr(), tr, "m1", group, topic, opts...)
	m2 := grStartMember(t, b.Addr(), tr, "m2", group, topic, opts...)
	grWaitFor(t, "KIP-848 group: partitions split between the two members", func() (bool, string) {
		p1, p2 := tr.partitionsOf("m1"), tr.partitionsOf("m2")
		all := append(slices.Clone(p1), p2...)
		slices.Sort(all)
		return len(p1) > 0 && len(p2) > 0 && slices.Equal(all, []int32{0, 1, 2, 3}), fmt.Sprintf("m1 %v, m2 %v; %s", p1, p2, tr.errors())
	})
	if msgs := log.messages(); len(msgs) > 0 {
		t.Fatalf("kgo fell back to the classic protocol although the broker advertises ConsumerGroupHeartbeat: %v", msgs)
	}
	grWaitConsumed(t, tr, recs)
	if v := tr.violationsSoFar(); len(v) > 0 {
		t.Errorf("partitions held by two members at once: %v", v)
	}
	for _, m := range []*grMember{m1, m2} {
		if err := m.cl.CommitUncommittedOffsets(fgCtx(t)); err != nil {
			t.Fatalf("%s: commit: %v", m.name, err)
		}
	}
	grWaitCommitted(t, adm, group, topic, fgEndOffsets(t, adm, topic))

	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(fgCtx(t), m1.cl)
	if err != nil {
		t.Fatalf("ConsumerGroupDescribe: %v", err)
	}
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("ConsumerGroupDescribe: %+v", resp.Groups)
	}
	g := resp.Groups[0]
	if len(g.Members) != 2 || g.State != "Stable" {
		t.Fatalf("ConsumerGroupDescribe: state %q, %d members; want Stable, 2", g.State, len(g.Members))
	}
	for _, m := range g.Members {
		var own []int32
		for _, at := range m.Assignment.TopicPartitions {
			own = append(own, at.Partitions...)
		}
		slices.Sort(own)
		var want []int32
		switch m.MemberID {
		case m1.memberID():
			want = tr.partitionsOf("m1")
		case m2.memberID():
			want = tr.partitionsOf("m2")
		default:
			t.Errorf("ConsumerGroupDescribe: unknown member %q", m.MemberID)
		}
		if !slices.Equal(own, want) {
			t.Errorf("ConsumerGroupDescribe: member %s assigned %v, the client has %v", m.MemberID, own, want)
		}
	}
}
