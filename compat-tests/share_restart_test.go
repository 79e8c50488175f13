package compattests

// A share group across broker restarts (issue 21, parts 1 and 6): the
// broker is the binary, restarted with SIGTERM and with kill -9 on the same
// data directory while a producer writes and two franz-go share consumers
// consume. The group keeps its members and their assignments; every record
// is delivered (nothing lost); no record whose acknowledgement the broker
// confirmed is delivered again (a record acquired but not yet acknowledged
// at a restart may come again: Kafka's at-least-once).

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestShareSurvivesRestart(t *testing.T) {
	t.Parallel()
	const (
		topic      = "share-restart"
		group      = "share-restart-workers"
		partitions = 3
	)
	b := newCrashBroker(t, binary(t))
	if err := b.start(nil, shBrokerFlags()...); err != nil {
		t.Fatal(err)
	}
	adm := fgAdmin(t, b.addr)
	fgCreateTopic(t, adm, topic, partitions, nil)
	shSetGroupConfig(t, b.addr, group, map[string]string{"share.auto.offset.reset": "earliest"})
	prod := rsStartProducer(t, b.addr, topic, partitions)
	log := newShLog()
	var started []*shMember
	for _, name := range []string{"m1", "m2"} {
		started = append(started, shStart(t, b.addr, name, group, []string{topic}, log, shMemberOpts{confirm: true, opts: []kgo.Opt{restartDialer()}}))
	}
	// The members leave while the broker runs: the restarts below
	// register the broker's cleanup after theirs, so it would stop first
	// and each member's Close would wait out its retries (two minutes).
	defer func() {
		for _, m := range started {
			m.stop()
		}
	}()
	grWaitFor(t, "consumption under way", func() (bool, string) {
		n := log.distinct()
		return n >= 10*partitions, fmt.Sprintf("%d records delivered", n)
	})
	members := func() (map[string]int32, string) {
		ds, err := adm.DescribeShareGroups(fgCtx(t), group)
		if err != nil {
			return nil, err.Error()
		}
		out := map[string]int32{}
		for _, m := range ds[group].Members {
			out[m.MemberID] = m.MemberEpoch
		}
		return out, fmt.Sprintf("%s, members %v", ds[group].GroupState, out)
	}
	var before map[string]int32
	grWaitFor(t, "two members", func() (bool, string) {
		var desc string
		before, desc = members()
		return len(before) == 2, desc
	})

	for _, kill := range []bool{false, true} {
		how := "SIGTERM"
		if kill {
			how = "kill -9"
		}
		n := log.distinct()
		answered := rsRestart(t, b, kill)
		// The members are the group's still, as they were: loaded,
		// not rejoined.
		after, desc := members()
		for id := range before {
			if _, ok := after[id]; !ok {
				t.Errorf("after the restart with %s: member %s gone; %s", how, id, desc)
			}
		}
		grWaitFor(t, "consumption resumed after "+how, func() (bool, string) {
			d := log.distinct()
			return d >= n+10*partitions, fmt.Sprintf("%d records delivered, %d before the restart", d, n)
		})
		t.Logf("%s: consumption resumed %v after the broker answered again", how, time.Since(answered).Round(time.Millisecond))
	}
	recs := prod.stop(t)
	shWaitDistinct(t, log, len(recs))
	seen := map[shKey]bool{}
	for _, d := range log.deliveries() {
		seen[d.shKey] = true
	}
	for _, r := range recs {
		if !seen[shKey{r.Partition, r.Offset}] {
			t.Errorf("record %d/%d (%s) never delivered", r.Partition, r.Offset, r.Value)
		}
	}
	log.mu.Lock()
	again := log.afterConfirm
	log.mu.Unlock()
	if len(again) > 0 {
		t.Errorf("%d records delivered again after the broker confirmed their acceptance: first %+v", len(again), again[0])
	}
	t.Logf("%d records produced, %d deliveries, %d delivered more than once (in flight at a restart)", len(recs), len(log.deliveries()), len(log.duplicates()))
	if n := rsLogCount(b, "share group member session expired"); n > 0 {
		t.Errorf("the broker expired %d share members' sessions:\n%s", n, rsLogLines(b, "share"))
	}
}
