package compattests

// kcat's balanced consumer (-G, librdkafka's group consumer) against the
// broker: it joins, consumes every partition to its end (-e), commits on
// close, and kadm then shows the committed offsets; a second run of the
// same group starts from them.

import (
	"fmt"
	"maps"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatGroupOpts keep a kcat group member quick to join and to notice the
// end of its partitions: Kafka's lowest session timeout, fast heartbeats,
// short fetch waits, and the earliest offset for a group with no commits.
var kcatGroupOpts = []string{
	"-X", "session.timeout.ms=6000",
	"-X", "heartbeat.interval.ms=500",
	"-X", "auto.offset.reset=earliest",
	"-X", "fetch.wait.max.ms=10",
	"-X", "check.crcs=true",
}

// TestGroupsKcat runs `kcat -G group topic -e` twice on a three-partition
// topic. The first run consumes every record (each once: it is the only
// member) and commits on exit; kadm shows the committed offsets at the end
// of each partition and the group Empty. More records are produced; the
// second run consumes exactly those, from the committed offsets.
func TestGroupsKcat(t *testing.T) {
	t.Parallel()
	kcat := requireTool(t, "kcat")
	const (
		topic      = "kcat-group-topic"
		group      = "kcat-group"
		partitions = 3
	)
	b := grBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, topic, partitions, nil)

	run := func(want []*kgo.Record, from map[int32]int64) {
		t.Helper()
		args := append([]string{"-b", addr, "-G", group, "-q", "-e", "-f", kcatFormat}, kcatGroupOpts...)
		out := runTool(t, kcatTimeout, nil, kcat, append(args, topic)...)
		got := parseKcatRecords(t, out)
		if len(got) != len(want) {
			t.Errorf("kcat -G consumed %d records, want %d: first %v", len(got), len(want), kcatFirst(got))
		}
		tr := newGrTracker()
		seen := map[string]bool{}
		for _, r := range got {
			k := fmt.Sprintf("%d@%d", r.Partition, r.Offset)
			if seen[k] {
				t.Errorf("kcat -G consumed %s twice", k)
			}
			seen[k] = true
			tr.record(&kgo.Record{Partition: r.Partition, Offset: r.Offset, Value: []byte(r.Value)})
		}
		end := fgEndOffsets(t, adm, topic)
		grCheckResumed(t, tr, fgByPartition(want), from, end)
		// librdkafka commits the consumed offsets when kcat closes the
		// consumer, and leaves the group.
		grWaitCommitted(t, adm, group, topic, end)
		if d := grDescribe(t, adm, group); d.State != "Empty" || len(d.Members) != 0 || d.ProtocolType != "consumer" {
			t.Errorf("after kcat exited: state %s, %d members, protocol type %q; want Empty, none, consumer", d.State, len(d.Members), d.ProtocolType)
		}
	}

	first := grProduceEach(t, addr, topic, partitions, 20, "first")
	zero := map[int32]int64{0: 0, 1: 0, 2: 0}
	run(first, zero)
	committed := grCommitted(t, adm, group, topic)

	more := grProduceEach(t, addr, topic, partitions, 7, "more")
	run(more, committed)
	if got := grCommitted(t, adm, group, topic); maps.Equal(got, committed) {
		t.Errorf("the second run did not move the committed offsets: %v", got)
	}
}
