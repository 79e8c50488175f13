package compattests

// TestClusterShareGroups: share groups (KIP-932) in the cluster mode, on
// three real brokers over one PostgreSQL and one versitygw. Two franz-go
// share consumers, bootstrapped at different brokers, read a topic whose
// partitions are led by several; the share group's heartbeats go to its
// coordinator and each partition's fetches and acknowledgements to its
// leader (checked: another broker answers NOT_COORDINATOR and
// NOT_LEADER_OR_FOLLOWER). Then a broker leading share partitions is
// killed with kill -9 while records are still produced: its partitions'
// new leaders load the stored share states, so every record is delivered
// (nothing lost) and no record whose acceptance a leader confirmed is
// delivered again (at least once for the rest). Last,
// DescribeShareGroupOffsets through a broker that is not the coordinator
// (kadm finds it) gives every partition's start offset at its end, and
// AlterShareGroupOffsets through it moves a partition back: its records
// from there are delivered again.

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClusterShareGroups(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	c.extra = shBrokerFlags()
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	const topic, group, parts = "cluster-share", "cluster-share-workers", int32(6)
	adm := fgAdmin(t, c.brokers[1].addr)
	fgCreateTopic(t, adm, topic, parts, nil)
	var leaders map[int32]int32
	// The placement is a hash of the topic's random id: the partitions
	// are led by two brokers or three.
	grWaitFor(t, "partitions led by several brokers", func() (bool, string) {
		var err error
		leaders, err = clusterLeaders(fgCtx(t), adm, topic)
		nodes := map[int32]bool{}
		for _, n := range leaders {
			nodes[n] = true
		}
		return err == nil && len(leaders) == int(parts) && len(nodes) >= 2, fmt.Sprintf("leaders %v, %v", leaders, err)
	})
	shSetGroupConfig(t, c.brokers[2].addr, group, map[string]string{"share.auto.offset.reset": "earliest"})
	// Every broker has the group's configs (the change feed): the leaders
	// read them.
	for node := 1; node <= 3; node++ {
		r := fgDialRaw(t, c.brokers[node].addr)
		grWaitFor(t, fmt.Sprintf("broker %d's share.auto.offset.reset of the group", node), func() (bool, string) {
			req := kmsg.NewPtrDescribeConfigsRequest()
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeGroupConfig, group, []string{"share.auto.offset.reset"}
			req.Resources = append(req.Resources, rr)
			resp := r.do(req, 4).(*kmsg.DescribeConfigsResponse)
			if len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1 || resp.Resources[0].Configs[0].Value == nil {
				return false, fmt.Sprintf("%+v", resp.Resources)
			}
			v := *resp.Resources[0].Configs[0].Value
			return v == "earliest", v
		})
	}

	// The group's coordinator, and the routing checks.
	r1 := fgDialRaw(t, c.brokers[1].addr)
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKeys = []string{group}
	var coord int32
	grWaitFor(t, "the group's coordinator", func() (bool, string) {
		co := r1.do(fc, 4).(*kmsg.FindCoordinatorResponse).Coordinators[0]
		coord = co.NodeID
		return co.ErrorCode == 0, fmt.Sprintf("error %d", co.ErrorCode)
	})
	other := 1 + int(coord)%3
	{
		r := fgDialRaw(t, c.brokers[other].addr)
		hb := kmsg.NewPtrShareGroupHeartbeatRequest()
		hb.GroupID, hb.MemberID, hb.MemberEpoch, hb.SubscribedTopicNames = group, "routing-check-member-0000000000000", 0, []string{topic}
		if code := r.do(hb, 1).(*kmsg.ShareGroupHeartbeatResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Errorf("ShareGroupHeartbeat to broker %d, not the coordinator (%d): error %d, want NOT_COORDINATOR", other, coord, code)
		}
		var notLed int32 = -1
		for p, n := range leaders {
			if int(n) != other {
				notLed = p
			}
		}
		md := r.metadata(false, topic)
		sf := kmsg.NewPtrShareFetchRequest()
		sf.GroupID, sf.MemberID = kmsg.StringPtr(group), kmsg.StringPtr("routing-check-member-0000000000000")
		sf.ShareSessionEpoch, sf.MaxBytes, sf.MaxRecords = 0, 1<<20, 10
		st := kmsg.NewShareFetchRequestTopic()
		st.TopicID = md.Topics[0].TopicID
		sp := kmsg.NewShareFetchRequestTopicPartition()
		sp.Partition = notLed
		st.Partitions = append(st.Partitions, sp)
		sf.Topics = append(sf.Topics, st)
		resp := r.do(sf, 1).(*kmsg.ShareFetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.NotLeaderForPartition.Code {
			t.Errorf("ShareFetch of partition %d (led by %d) from broker %d: %+v, want NOT_LEADER_OR_FOLLOWER", notLed, leaders[notLed], other, resp)
		}
		end := *sf
		end.ShareSessionEpoch, end.Topics = -1, nil
		r.do(&end, 1)
	}

	// Each member knows every broker (in a different order), so that
	// either keeps one to ask whichever is killed.
	seeds := func(nodes ...int) kgo.Opt {
		var addrs []string
		for _, n := range nodes {
			addrs = append(addrs, c.brokers[n].addr)
		}
		return kgo.SeedBrokers(addrs...)
	}
	log := newShLog()
	m1 := shStart(t, c.brokers[1].addr, "m1", group, []string{topic}, log, shMemberOpts{confirm: true, opts: []kgo.Opt{seeds(1, 2, 3)}})
	m2 := shStart(t, c.brokers[3].addr, "m2", group, []string{topic}, log, shMemberOpts{confirm: true, opts: []kgo.Opt{seeds(3, 2, 1)}})
	defer m1.stop()
	defer m2.stop()
	grWaitFor(t, "two members with partitions", func() (bool, string) {
		ds, err := adm.DescribeShareGroups(fgCtx(t), group)
		if err != nil {
			return false, err.Error()
		}
		with := 0
		for _, m := range ds[group].Members {
			if len(m.Assignment) > 0 {
				with++
			}
		}
		return with == 2, fmt.Sprintf("%s: %d members, %d with partitions", ds[group].GroupState, len(ds[group].Members), with)
	})
	prod := fgClient(t, c.brokers[1].addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), seeds(1, 2, 3))
	shProduce(t, prod, topic, parts, "a", 600)
	shWaitDistinct(t, log, 300)

	// Kill a broker leading share partitions (not the first member's
	// bootstrap broker, so that its client keeps a broker to ask).
	victim := int(leaders[0])
	if victim == 1 {
		for _, n := range leaders {
			if n != 1 {
				victim = int(n)
			}
		}
	}
	var led []int32
	for p, n := range leaders {
		if int(n) == victim {
			led = append(led, p)
		}
	}
	slices.Sort(led)
	killed := time.Now()
	c.brokers[victim].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[victim].done
	shProduce(t, prod, topic, parts, "b", 600)
	shWaitDistinct(t, log, 1200)
	t.Logf("broker %d (leader of partitions %v; the group's coordinator is %d) killed: all 1,200 records delivered %v after the kill",
		victim, led, coord, time.Since(killed).Round(time.Millisecond))

	log.mu.Lock()
	again := slices.Clone(log.afterConfirm)
	log.mu.Unlock()
	if len(again) > 0 {
		t.Errorf("%d records delivered again after their acceptance was confirmed: first %+v", len(again), again[0])
	}
	byMember := log.byMember()
	if byMember["m1"] == 0 || byMember["m2"] == 0 {
		t.Errorf("one member got nothing: %v", byMember)
	}
	t.Logf("%d deliveries of 1,200 records (%d again: in flight at the kill), by member %v", len(log.deliveries()), len(log.duplicates()), byMember)

	// Every record accepted: each partition's share-partition start
	// offset reaches its end, as the coordinator reads the leaders'
	// stored states, through a broker that need not coordinate it.
	alive := 1
	if victim == 1 {
		alive = 2
	}
	grWaitFor(t, "every start offset at its partition's end", func() (bool, string) {
		// A new client each time: kadm keeps asking a coordinator it
		// cannot dial (the killed broker may have been the group's).
		adm := fgAdmin(t, c.brokers[alive].addr)
		defer adm.Close()
		offs, err := adm.DescribeShareGroupOffsets(fgCtx(t), group)
		if err != nil {
			return false, err.Error()
		}
		g, ok := offs[group]
		if !ok || g.Err != nil {
			return false, fmt.Sprintf("%v", g.Err)
		}
		var total, lag int64
		n := 0
		for _, ps := range g.Offsets {
			for _, o := range ps {
				total += o.StartOffset
				lag += o.Lag
				n++
			}
		}
		return n == int(parts) && total == 1200 && lag == 0, fmt.Sprintf("%d partitions, start offsets summing to %d of 1200, lags to %d", n, total, lag)
	})

	// The members stop (the group is empty); through a broker the group's
	// coordinator need not be, partition 0 goes back to offset 150 and
	// partition 1 to its end (AlterShareGroupOffsets): a new member gets
	// partition 0's records from 150 again, as its leader reads the reset
	// state.
	m1.stop()
	m2.stop()
	grWaitFor(t, "the group empty", func() (bool, string) {
		ds, err := fgAdmin(t, c.brokers[alive].addr).DescribeShareGroups(fgCtx(t), group)
		if err != nil {
			return false, err.Error()
		}
		return len(ds[group].Members) == 0, fmt.Sprintf("%d members", len(ds[group].Members))
	})
	ar, err := fgAdmin(t, c.brokers[alive].addr).AlterShareGroupOffsets(fgCtx(t), group, kadm.Offsets{topic: {
		0: {Topic: topic, Partition: 0, At: 150},
		1: {Topic: topic, Partition: 1, At: -1}, // its end: nothing again
	}})
	if err != nil || ar.Error() != nil {
		t.Fatalf("alter: %v %v", err, ar.Error())
	}
	offs, err := fgAdmin(t, c.brokers[alive].addr).DescribeShareGroupOffsets(fgCtx(t), group)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32][2]int64{0: {150, 50}, 1: {200, 0}} {
		if o := offs[group].Offsets[topic][p]; o.StartOffset != want[0] || o.Lag != want[1] {
			t.Errorf("after the alter, partition %d: start %d, lag %d; want %d, %d", p, o.StartOffset, o.Lag, want[0], want[1])
		}
	}
	reread := newShLog()
	shStart(t, c.brokers[alive].addr, "m3", group, []string{topic}, reread, shMemberOpts{confirm: true, opts: []kgo.Opt{seeds(alive)}})
	shWaitDistinct(t, reread, 50)
	time.Sleep(500 * time.Millisecond) // anything else it would get
	for _, d := range reread.deliveries() {
		if d.partition != 0 || d.offset < 150 {
			t.Errorf("after the alter, delivered %+v; want partition 0 from offset 150 only", d)
		}
	}
	t.Logf("after AlterShareGroupOffsets, %d records of partition 0 delivered again", reread.distinct())
}
