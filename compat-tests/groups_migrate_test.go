package compattests

// Online migration of a running group between the classic protocol and
// KIP-848's, as Kafka 4's group.consumer.migration.policy=bidirectional
// (its default) allows: the consumers of a group move to the new protocol
// one restart at a time while they consume, and back again, with no stop:
// no partition is held by two members at once, and every record produced
// is consumed.

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/group"
)

// TestGroupOnlineMigration rolls a group of consumers from the classic
// protocol to KIP-848 (franz-go's) and back, one member at a time, while a
// producer writes to every partition: classic franz-go members
// (cooperative-sticky) and sarama ones (range, eager); the librdkafka case
// is in groups_migrate_librdkafka_test.go.
func TestGroupOnlineMigration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		classic rsStarter
	}{
		{"franzgo-cooperative-sticky", rsFranzGo(kgo.Balancers(kgo.CooperativeStickyBalancer()))},
		{"sarama-range", rsSarama},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			migrateScenario(t, c.classic, migrateFranzGo848)
		})
	}
}

// migrateFranzGo848 starts a franz-go KIP-848 member.
var migrateFranzGo848 = rsFranzGo(kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())

// migrateScenario rolls a group of two members started by classicStart to
// two KIP-848 members started by kip848Start, then back to two classic
// ones.
func migrateScenario(t *testing.T, classicStart, kip848Start rsStarter) {
	const (
		topic      = "migrate-orders"
		group      = "migrate-billing"
		partitions = 6
	)
	b := grBroker(t)
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, topic, partitions, nil)
	prod := grStartProducer(t, b.Addr(), topic, partitions)
	tr := newGrTracker()
	lister := fgClient(t, b.Addr())

	classic := func(name string) rsMember { return classicStart(t, b.Addr(), tr, name, group, topic) }
	start := func(name string) rsMember { return kip848Start(t, b.Addr(), tr, name, group, topic) }
	// step waits until members split the partitions, the group is of
	// type typ, and consumption goes on.
	step := func(what, typ string, members ...rsMember) {
		t.Helper()
		rsWaitSplit(t, tr, members, partitions)
		grWaitFor(t, what+": the group's type "+typ, func() (bool, string) {
			got := migrateGroupType(t, lister, group)
			return got == typ, "type " + got
		})
		n := tr.deliveryCount()
		grWaitFor(t, what+": consumption going on", func() (bool, string) {
			return tr.deliveryCount() >= n+2*partitions, fmt.Sprintf("%d records consumed", tr.deliveryCount())
		})
		if v := tr.violationsSoFar(); len(v) > 0 {
			t.Fatalf("%s: %s", what, strings.Join(v, "; "))
		}
		// __consumer_offsets follows: the group's classic record while
		// it is classic, a tombstone once it is not (as Kafka writes).
		want := map[string]string{"classic": "classic", "consumer": "tombstone"}[typ]
		grWaitFor(t, what+": the group's last record in "+itOffsets+" a "+want, func() (bool, string) {
			got := migrateLastGroupRecord(t, b.Addr(), group)
			return got == want, got
		})
		t.Logf("%s: type %s, %d records consumed", what, typ, tr.deliveryCount())
	}

	c1, c2 := classic("classic-1"), classic("classic-2")
	step("two classic members", "classic", c1, c2)

	// Upgrade, one member at a time.
	c1.stop(t)
	k1 := start("kip848-1")
	step("a KIP-848 member beside a classic one", "consumer", c2, k1)
	c2.stop(t)
	k2 := start("kip848-2")
	step("two KIP-848 members", "consumer", k1, k2)

	// And back.
	c3 := classic("classic-3")
	step("a classic member joins the KIP-848 ones", "consumer", k1, k2, c3)
	k1.stop(t)
	k2.stop(t)
	step("the last KIP-848 member left", "classic", c3)
	c4 := classic("classic-4")
	step("two classic members again", "classic", c3, c4)

	recs := prod.stop(t)
	grWaitConsumed(t, tr, recs)
	if v := tr.violationsSoFar(); len(v) > 0 {
		t.Fatalf("partitions held by two members at once: %s", strings.Join(v, "; "))
	}
	c3.stop(t)
	c4.stop(t)
}

// migrateLastGroupRecord is the kind of group's last membership record in
// __consumer_offsets: "classic", "tombstone" or "none".
func migrateLastGroupRecord(t *testing.T, addr, grp string) string {
	t.Helper()
	last := "none"
	for _, r := range itReadFranz(t, addr, group.OffsetsPartition(grp, 50)) {
		if _, md, name := itDecode(t, r); name == grp {
			last = "tombstone"
			if md != nil {
				last = "classic"
			}
		}
	}
	return last
}

// migrateGroupType is the group's type as ListGroups v5 gives it.
func migrateGroupType(t *testing.T, cl *kgo.Client, group string) string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.Version = 5
	ctx, cancel := context.WithTimeout(context.Background(), fgWait)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("ListGroups: %v", err)
	}
	i := slices.IndexFunc(resp.Groups, func(g kmsg.ListGroupsResponseGroup) bool { return g.Group == group })
	if i < 0 {
		return "none"
	}
	return resp.Groups[i].GroupType
}
