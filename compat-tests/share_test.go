package compattests

// Share groups (KIP-932, issue 21 part 1) driven by franz-go's share
// consumers and kadm's share group admin calls: several members on one
// partition and on many, the admin calls, a hung member whose records
// another gets once their locks expire, a member cut off (its records go
// back when its connection closes), RELEASE and REJECT, the delivery count
// limit, and a broker restarted mid-stream (share_restart_test.go).

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

func shBroker(t *testing.T) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, brokertest.Options{Settings: shSettings()})
}

// TestShareMembers: members of one share group split a topic's records
// between them, each record delivered once, on one partition (every member
// holds it; records are locked one by one) and on many (the assignor
// spreads the partitions).
func TestShareMembers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name              string
		partitions        int32
		members, records  int
		maxRecords        int32
		wantAllAssignedTo bool // every member holds every partition
	}{
		{"OnePartition", 1, 3, 300, 5, true},
		{"ManyPartitions", 6, 4, 600, 50, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := shBroker(t)
			addr := b.Addr()
			adm := fgAdmin(t, addr)
			fgCreateTopic(t, adm, "jobs", c.partitions, nil)
			log := newShLog()
			var names []string
			for i := range c.members {
				name := fmt.Sprintf("m%d", i+1)
				names = append(names, name)
				shStart(t, addr, name, "workers", []string{"jobs"}, log, shMemberOpts{opts: []kgo.Opt{kgo.ShareMaxRecords(c.maxRecords)}})
			}
			// Every member in, the partitions spread, before records
			// arrive (the group starts at the latest offset).
			grWaitFor(t, "every member assigned", func() (bool, string) {
				ds, err := adm.DescribeShareGroups(fgCtx(t), "workers")
				if err != nil {
					return false, err.Error()
				}
				d := ds["workers"]
				held := map[int32]int{}
				ok := len(d.Members) == c.members
				for _, m := range d.Members {
					ps := m.Assignment["jobs"]
					ok = ok && len(ps) > 0
					if c.wantAllAssignedTo {
						ok = ok && len(ps) == int(c.partitions)
					} else {
						ok = ok && len(ps) <= 2
					}
					for p := range ps {
						held[p]++
					}
				}
				if !c.wantAllAssignedTo {
					for p := range c.partitions {
						ok = ok && held[p] == 1
					}
				}
				return ok && d.GroupState == "Stable", fmt.Sprintf("%s: %d members, holders by partition %v", d.GroupState, len(d.Members), held)
			})
			prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			// In rounds, so that every member is fetching meanwhile.
			for r := range 10 {
				shProduce(t, prod, "jobs", c.partitions, fmt.Sprintf("r%d", r), c.records/10)
				time.Sleep(20 * time.Millisecond)
			}
			shWaitDistinct(t, log, c.records)
			if d := log.duplicates(); len(d) > 0 {
				t.Errorf("%d records delivered twice with no member failing: first %+v", len(d), d[0])
			}
			by := log.byMember()
			busy := 0
			for _, n := range names {
				if by[n] > 0 {
					busy++
				}
			}
			if busy < 2 {
				t.Errorf("deliveries by member %v: one member got every record", by)
			}
			t.Logf("deliveries by member: %v", by)

			// Every record accepted: the start offsets reach the ends,
			// nothing lags.
			grWaitFor(t, "start offsets at the end", func() (bool, string) {
				o, err := adm.DescribeShareGroupOffsets(fgCtx(t), "workers")
				if err != nil {
					return false, err.Error()
				}
				ok := true
				var desc []string
				for p := range c.partitions {
					po := o["workers"].Offsets["jobs"][p]
					want := int64(c.records) / int64(c.partitions)
					ok = ok && po.StartOffset == want && po.Lag == 0
					desc = append(desc, fmt.Sprintf("%d: start %d lag %d", p, po.StartOffset, po.Lag))
				}
				return ok, strings.Join(desc, ", ")
			})
		})
	}
}

// TestShareAdmin: kadm's share group calls and the group APIs that list,
// describe and delete groups of every type.
func TestShareAdmin(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "ledger", 2, nil)
	prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	shProduce(t, prod, "ledger", 2, "a", 20) // offsets 0-9 of each partition
	shSetGroupConfig(t, addr, "auditors", map[string]string{"share.auto.offset.reset": "earliest"})

	log := newShLog()
	m := shStart(t, addr, "m1", "auditors", []string{"ledger"}, log, shMemberOpts{})
	shWaitDistinct(t, log, 20)

	// Listed with its type and state, among a classic group.
	classic := fgClient(t, addr, kgo.ConsumerGroup("bookkeepers"), kgo.ConsumeTopics("ledger"))
	classic.PollFetches(fgCtx(t))
	grWaitFor(t, "both groups listed", func() (bool, string) {
		ls, err := adm.ListGroups(fgCtx(t))
		if err != nil {
			return false, err.Error()
		}
		sh, cg := ls["auditors"], ls["bookkeepers"]
		return sh.GroupType == "share" && sh.State == "Stable" && sh.ProtocolType == "share" && cg.GroupType != "" && cg.GroupType != "share",
			fmt.Sprintf("%+v", ls)
	})
	if ls, err := adm.ListGroupsByType(fgCtx(t), []string{"share"}); err != nil || len(ls) != 1 || ls["auditors"].Group == "" {
		t.Errorf("share groups listed: %+v, %v; want auditors alone", ls, err)
	}
	ds, err := adm.DescribeShareGroups(fgCtx(t), "auditors", "bookkeepers")
	if err != nil && !shIsErr(err, kerr.GroupIDNotFound) {
		t.Fatal(err)
	}
	if d := ds["auditors"]; d.Err != nil || len(d.Members) != 1 || d.Members[0].ClientID != "m1" || len(d.Members[0].Assignment["ledger"]) != 2 {
		t.Errorf("described: %+v", d)
	}
	if d := ds["bookkeepers"]; !shIsErr(d.Err, kerr.GroupIDNotFound) {
		t.Errorf("a classic group described as a share group: %v", d.Err)
	}
	// DescribeGroups is the classic groups' call, as in Kafka.
	if dg, _ := adm.DescribeGroups(fgCtx(t), "auditors"); !shIsErr(dg["auditors"].Err, kerr.GroupIDNotFound) {
		t.Errorf("DescribeGroups of a share group: %+v", dg["auditors"])
	}

	// Offsets cannot move under members.
	if _, err := adm.AlterShareGroupOffsets(fgCtx(t), "auditors", kadm.Offsets{"ledger": {0: {Topic: "ledger", Partition: 0, At: 3}}}); !shIsErr(err, kerr.NonEmptyGroup) {
		t.Errorf("alter with a member in the group: %v, want NON_EMPTY_GROUP", err)
	}
	m.stop()
	grWaitFor(t, "the group empty", func() (bool, string) {
		ds, err := adm.DescribeShareGroups(fgCtx(t), "auditors")
		if err != nil {
			return false, err.Error()
		}
		return ds["auditors"].GroupState == "Empty", ds["auditors"].GroupState
	})
	o, err := adm.DescribeShareGroupOffsets(fgCtx(t), "auditors")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(2) {
		if po := o["auditors"].Offsets["ledger"][p]; po.StartOffset != 10 || po.Lag != 0 {
			t.Errorf("partition %d: start %d, lag %d; want 10, 0", p, po.StartOffset, po.Lag)
		}
	}

	// Back to offset 3 of partition 0: its records from 3 come again.
	ar, err := adm.AlterShareGroupOffsets(fgCtx(t), "auditors", kadm.Offsets{"ledger": {0: {Topic: "ledger", Partition: 0, At: 3}}})
	if err != nil || ar.Error() != nil {
		t.Fatalf("alter: %v %v", err, ar.Error())
	}
	o, _ = adm.DescribeShareGroupOffsets(fgCtx(t), "auditors")
	if po := o["auditors"].Offsets["ledger"][0]; po.StartOffset != 3 || po.Lag != 7 {
		t.Errorf("after the alter: start %d, lag %d; want 3, 7", po.StartOffset, po.Lag)
	}
	again := newShLog()
	m2 := shStart(t, addr, "m2", "auditors", []string{"ledger"}, again, shMemberOpts{})
	shWaitDistinct(t, again, 7)
	for _, d := range again.deliveries() {
		if d.partition != 0 || d.offset < 3 {
			t.Errorf("after the alter, delivered %+v; want partition 0 from offset 3 only", d)
		}
	}
	m2.stop()

	// Deleting the offsets forgets the partitions' states.
	grWaitFor(t, "the group empty again", func() (bool, string) {
		ds, _ := adm.DescribeShareGroups(fgCtx(t), "auditors")
		return ds["auditors"].GroupState == "Empty", ds["auditors"].GroupState
	})
	dr, err := adm.DeleteShareGroupOffsets(fgCtx(t), "auditors", "ledger")
	if err != nil || dr.Error() != nil {
		t.Fatalf("delete offsets: %v %v", err, dr.Error())
	}
	o, _ = adm.DescribeShareGroupOffsets(fgCtx(t), "auditors")
	if n := len(o["auditors"].Offsets["ledger"]); n != 0 {
		t.Errorf("after the delete, offsets of %d partitions: %+v", n, o["auditors"].Offsets)
	}

	// And the group goes.
	if r, err := adm.DeleteGroup(fgCtx(t), "auditors"); err != nil || r.Err != nil {
		t.Fatalf("delete group: %v %v", err, r.Err)
	}
	ls, _ := adm.ListGroups(fgCtx(t))
	if _, ok := ls["auditors"]; ok {
		t.Errorf("deleted share group still listed: %+v", ls)
	}
}

// TestShareLockExpiry: a member that stops polling (hung, its connection
// open) holds its records until their locks expire; then another member
// gets them, their delivery count one higher.
func TestShareLockExpiry(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "tasks", 1, nil)
	shSetGroupConfig(t, addr, "crew", map[string]string{
		"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": fmt.Sprint(shLock.Milliseconds()),
	})
	prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	shProduce(t, prod, "tasks", 1, "t", 10)

	hungLog := newShLog()
	hung := shStart(t, addr, "hung", "crew", []string{"tasks"}, hungLog, shMemberOpts{hangAfter: 1})
	grWaitFor(t, "the hung member holds records", func() (bool, string) {
		return hung.hung.Load(), fmt.Sprintf("%d delivered", hungLog.distinct())
	})
	held := hungLog.deliveries()
	start := time.Now()
	log := newShLog()
	shStart(t, addr, "healthy", "crew", []string{"tasks"}, log, shMemberOpts{})
	shWaitDistinct(t, log, 10)
	for _, d := range log.deliveries() {
		if slices.ContainsFunc(held, func(h shDelivery) bool { return h.shKey == d.shKey }) && d.count < 2 {
			t.Errorf("record %d, held by the hung member, came again with delivery count %d", d.offset, d.count)
		}
	}
	t.Logf("the hung member held %d records; the healthy one had all 10 %v after it started (lock %v)", len(held), time.Since(start).Round(time.Millisecond), shLock)
}

// TestShareMemberCutOff: a member whose connections close without it
// leaving (a killed process) loses its records at once: another member
// gets them without waiting for their locks (30 s here).
func TestShareMemberCutOff(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "tasks", 1, nil)
	shSetGroupConfig(t, addr, "crew", map[string]string{"share.auto.offset.reset": "earliest"})
	prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	shProduce(t, prod, "tasks", 1, "t", 10)

	var cut rsCutDialer
	goneLog := newShLog()
	gone := shStart(t, addr, "gone", "crew", []string{"tasks"}, goneLog, shMemberOpts{hangAfter: 1, opts: []kgo.Opt{cut.opt(), kgo.RetryTimeout(time.Second)}})
	grWaitFor(t, "the member holds records", func() (bool, string) {
		return gone.hung.Load(), fmt.Sprintf("%d delivered", goneLog.distinct())
	})
	cut.cutOff()
	start := time.Now()
	log := newShLog()
	shStart(t, addr, "healthy", "crew", []string{"tasks"}, log, shMemberOpts{})
	shWaitDistinct(t, log, 10)
	if d := time.Since(start); d > 20*time.Second {
		// Not a speed claim: past 20 s the records came back by
		// their locks (30 s), not by the connection closing.
		t.Errorf("the cut-off member's records came back after %v", d)
	}
}

// TestShareReleaseRejectLimit: RELEASE gives a record back (delivered
// again, its count one higher), REJECT archives it (never delivered
// again), and a record released share.delivery.count.limit times is
// archived.
func TestShareReleaseRejectLimit(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "mail", 1, nil)
	shSetGroupConfig(t, addr, "postmen", map[string]string{"share.auto.offset.reset": "earliest", "share.delivery.count.limit": "3"})
	prod := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	// Values: "keep-..." accepted, "retry-..." released twice then
	// accepted, "bad-..." rejected, "poison-..." always released.
	var recs []*kgo.Record
	for i, v := range []string{"keep", "retry", "bad", "poison", "keep", "retry", "bad", "poison"} {
		recs = append(recs, &kgo.Record{Topic: "mail", Value: fmt.Appendf(nil, "%s-%d", v, i)})
	}
	fgProduceAll(t, prod, recs)

	log := newShLog()
	shStart(t, addr, "m1", "postmen", []string{"mail"}, log, shMemberOpts{ack: func(r *kgo.Record) kgo.AckStatus {
		switch v := string(r.Value); {
		case strings.HasPrefix(v, "retry") && r.DeliveryCount() < 3, strings.HasPrefix(v, "poison"):
			return kgo.AckRelease
		case strings.HasPrefix(v, "bad"):
			return kgo.AckReject
		}
		return kgo.AckAccept
	}})
	// Everything done with: the start offset passes all 8.
	grWaitFor(t, "every record done with", func() (bool, string) {
		o, err := adm.DescribeShareGroupOffsets(fgCtx(t), "postmen")
		if err != nil {
			return false, err.Error()
		}
		po := o["postmen"].Offsets["mail"][0]
		return po.StartOffset == 8 && po.Lag == 0, fmt.Sprintf("start %d, lag %d", po.StartOffset, po.Lag)
	})
	counts := map[string][]int32{}
	for _, d := range log.deliveries() {
		counts[d.value] = append(counts[d.value], d.count)
	}
	for v, cs := range counts {
		want := []int32{1}
		switch {
		case strings.HasPrefix(v, "retry"), strings.HasPrefix(v, "poison"):
			want = []int32{1, 2, 3} // the limit: archived after the third
		}
		if !slices.Equal(cs, want) {
			t.Errorf("%s delivered with counts %v, want %v", v, cs, want)
		}
	}
	if len(counts) != 8 {
		t.Errorf("%d records delivered, want 8: %v", len(counts), counts)
	}
}

// TestShareReadCommitted: a read_committed share group delivers committed
// transactions' records only; an aborted transaction's records and the
// control records are archived, and the start offset passes them all.
func TestShareReadCommitted(t *testing.T) {
	t.Parallel()
	b := shBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, "txns", 1, nil)
	shSetGroupConfig(t, addr, "committed-only", map[string]string{"share.auto.offset.reset": "earliest", "share.isolation.level": "read_committed"})
	shSetGroupConfig(t, addr, "everything", map[string]string{"share.auto.offset.reset": "earliest"})
	prod := fgClient(t, addr, kgo.TransactionalID("share-txn"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for _, c := range []struct {
		prefix string
		end    kgo.TransactionEndTry
	}{{"aborted", kgo.TryAbort}, {"committed", kgo.TryCommit}} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		shProduce(t, prod, "txns", 1, c.prefix, 5)
		if err := prod.EndTransaction(fgCtx(t), c.end); err != nil {
			t.Fatal(err)
		}
	}
	// 5 aborted (0-4), a marker (5), 5 committed (6-10), a marker (11).
	for _, c := range []struct {
		group string
		want  int
	}{{"committed-only", 5}, {"everything", 10}} {
		log := newShLog()
		shStart(t, addr, c.group, c.group, []string{"txns"}, log, shMemberOpts{})
		shWaitDistinct(t, log, c.want)
		grWaitFor(t, c.group+": start offset past the last marker", func() (bool, string) {
			o, err := adm.DescribeShareGroupOffsets(fgCtx(t), c.group)
			if err != nil {
				return false, err.Error()
			}
			po := o[c.group].Offsets["txns"][0]
			return po.StartOffset == 12 && po.Lag == 0, fmt.Sprintf("start %d, lag %d", po.StartOffset, po.Lag)
		})
		for _, d := range log.deliveries() {
			if c.group == "committed-only" && !strings.HasPrefix(d.value, "committed") {
				t.Errorf("read_committed share group delivered %q", d.value)
			}
		}
		if n := log.distinct(); n != c.want {
			t.Errorf("%s: %d records delivered, want %d", c.group, n, c.want)
		}
	}
}
