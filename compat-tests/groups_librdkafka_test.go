//go:build cgo

package compattests

// Consumer groups driven by librdkafka through confluent-kafka-go (cgo,
// with the librdkafka bundled in the module): two members subscribe, split
// the partitions, consume and commit; a third resumes from the commits.
// Without cgo the module cannot be built and this file is left out.

import (
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupsLibrdkafka produces with a librdkafka producer (no idempotence)
// and consumes with two librdkafka group members (range assignor, commits
// after each message): each partition goes to one of them (their rebalance
// callbacks and DescribeGroups agree), every record is consumed, and the
// committed offsets reach the end of every partition, as both kadm and the
// members' Committed see them. After both close, more records are
// produced and a third member consumes exactly those.
func TestGroupsLibrdkafka(t *testing.T) {
	t.Parallel()
	const (
		topic      = "librdkafka-group-topic"
		group      = "librdkafka-group"
		partitions = 4
	)
	b := grBroker(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	fgCreateTopic(t, adm, topic, partitions, nil)
	_, version := kafka.LibraryVersion()
	t.Logf("librdkafka %s", version)

	first := grRdProduce(t, addr, topic, partitions, 10, "first")

	tr := newGrTracker()
	c1 := grStartRdMember(t, addr, tr, "c1", group, topic)
	grWaitFor(t, "the first librdkafka member assigned every partition", func() (bool, string) {
		a := c1.assigned()
		return len(a) == partitions, fmt.Sprintf("c1 has %v; %s", a, tr.errors())
	})
	c2 := grStartRdMember(t, addr, tr, "c2", group, topic)
	grWaitFor(t, "the partitions split between the two librdkafka members", func() (bool, string) {
		a1, a2 := c1.assigned(), c2.assigned()
		all := append(slices.Clone(a1), a2...)
		slices.Sort(all)
		desc := fmt.Sprintf("c1 %v, c2 %v; %s", a1, a2, tr.errors())
		if len(a1) == 0 || len(a2) == 0 || !slices.Equal(all, []int32{0, 1, 2, 3}) {
			return false, desc
		}
		d, err := adm.DescribeGroups(fgCtx(t), group)
		if err != nil {
			return false, desc + fmt.Sprintf("; describe: %v", err)
		}
		dg := d[group]
		byClient := map[string][]int32{}
		as := grAssigned(dg, topic)
		for _, m := range dg.Members {
			byClient[m.ClientID] = as[m.MemberID]
		}
		desc += fmt.Sprintf("; described state %s protocol %q/%q assigned by client id %v", dg.State, dg.ProtocolType, dg.Protocol, byClient)
		ok := dg.State == "Stable" && dg.ProtocolType == "consumer" && dg.Protocol == "range" && len(dg.Members) == 2 &&
			slices.Equal(byClient[c1.clientID], a1) && slices.Equal(byClient[c2.clientID], a2)
		return ok, desc
	})
	grWaitConsumed(t, tr, first)
	ends := grWaitEnds(t, adm, topic, first)
	grWaitCommitted(t, adm, group, topic, ends)
	for _, c := range []*grRdMember{c1, c2} {
		c.checkCommitted(t, ends)
	}
	c1.stop(t)
	c2.stop(t)

	more := grRdProduce(t, addr, topic, partitions, 5, "more")
	end2 := grWaitEnds(t, adm, topic, more)
	tr3 := newGrTracker()
	c3 := grStartRdMember(t, addr, tr3, "c3", group, topic)
	grWaitConsumed(t, tr3, more)
	grCheckResumed(t, tr3, fgByPartition(more), ends, end2)
	grWaitCommitted(t, adm, group, topic, end2)
	c3.stop(t)
}

// grRdProduce produces n records to each partition with a librdkafka
// producer and returns them as kgo records (partition, offset, value).
func grRdProduce(t *testing.T, addr, topic string, partitions int32, n int, tag string) []*kgo.Record {
	t.Helper()
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":     addr,
		"client.id":             "streamhouse-compat-librdkafka",
		"enable.idempotence":    false,
		"acks":                  "all",
		"linger.ms":             0,
		"broker.address.family": "v4",
		"message.timeout.ms":    int(fgWait / time.Millisecond),
		"log_level":             4, // warnings and worse
	})
	if err != nil {
		t.Fatalf("kafka.NewProducer: %v", err)
	}
	defer p.Close()
	tp := topic
	deliveries := make(chan kafka.Event, int(partitions)*n)
	for i := range n {
		for part := range partitions {
			err := p.Produce(&kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &tp, Partition: part},
				Key:            fmt.Appendf(nil, "%s-%d", tag, i),
				Value:          fmt.Appendf(nil, "%s-%d-p%d", tag, i, part),
			}, deliveries)
			if err != nil {
				t.Fatalf("librdkafka produce: %v", err)
			}
		}
	}
	var recs []*kgo.Record
	timeout := time.After(fgWait)
	for len(recs) < int(partitions)*n {
		select {
		case ev := <-deliveries:
			m, ok := ev.(*kafka.Message)
			if !ok {
				t.Fatalf("librdkafka produce: unexpected event %v", ev)
			}
			if m.TopicPartition.Error != nil {
				t.Fatalf("librdkafka produce to %d: %v", m.TopicPartition.Partition, m.TopicPartition.Error)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Value: m.Value})
		case <-timeout:
			t.Fatalf("librdkafka produce: %d of %d delivered within %v", len(recs), int(partitions)*n, fgWait)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Offset < recs[j].Offset })
	return recs
}

// grRdMember is a librdkafka group consumer polling in a goroutine: it
// records every message in its tracker and commits it (synchronously)
// before polling again; commits that fail during a rebalance are noted as
// client errors (the records come again: at least once).
type grRdMember struct {
	c        *kafka.Consumer
	clientID string
	stopc    chan struct{}
	done     chan struct{}
	once     sync.Once

	mu     sync.Mutex
	assign []int32
}

func grStartRdMember(t *testing.T, addr string, tr *grTracker, name, group, topic string) *grRdMember {
	t.Helper()
	m := &grRdMember{clientID: "streamhouse-compat-librdkafka-" + name, stopc: make(chan struct{}), done: make(chan struct{})}
	c, err := kafka.NewConsumer(&kafka.ConfigMap{
		"bootstrap.servers":             addr,
		"client.id":                     m.clientID,
		"group.id":                      group,
		"session.timeout.ms":            int(grSession / time.Millisecond),
		"heartbeat.interval.ms":         int(grHeartbeat / time.Millisecond),
		"max.poll.interval.ms":          int(grRebalance / time.Millisecond),
		"partition.assignment.strategy": "range",
		"auto.offset.reset":             "earliest",
		"enable.auto.commit":            false,
		"fetch.wait.max.ms":             100,
		"broker.address.family":         "v4",
		"check.crcs":                    true,
		"log_level":                     4, // warnings and worse
	})
	if err != nil {
		t.Fatalf("kafka.NewConsumer for %s: %v", name, err)
	}
	m.c = c
	err = c.SubscribeTopics([]string{topic}, func(c *kafka.Consumer, ev kafka.Event) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			m.assign = nil
			for _, tp := range e.Partitions {
				m.assign = append(m.assign, tp.Partition)
			}
			slices.Sort(m.assign)
		case kafka.RevokedPartitions:
			m.assign = nil
		}
		return nil
	})
	if err != nil {
		c.Close()
		t.Fatalf("subscribe %s: %v", name, err)
	}
	go func() {
		defer close(m.done)
		deadline := time.Now().Add(3 * fgWait)
		for polls := 0; polls < 1_000_000 && time.Now().Before(deadline); polls++ {
			select {
			case <-m.stopc:
				return
			default:
			}
			switch e := c.Poll(100).(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					tr.clientErr(name, e.TopicPartition.Error)
					continue
				}
				tr.record(&kgo.Record{Topic: topic, Partition: e.TopicPartition.Partition, Offset: int64(e.TopicPartition.Offset), Value: e.Value})
				if _, err := c.CommitMessage(e); err != nil {
					tr.clientErr(name, fmt.Errorf("commit %d@%d: %w", e.TopicPartition.Partition, e.TopicPartition.Offset, err))
				}
			case kafka.Error:
				tr.clientErr(name, e)
			}
		}
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

func (m *grRdMember) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assign)
}

// checkCommitted compares the member's view of the committed offsets of
// its partitions (an OffsetFetch by librdkafka) with want.
func (m *grRdMember) checkCommitted(t *testing.T, want map[int32]int64) {
	t.Helper()
	var tps []kafka.TopicPartition
	a, err := m.c.Assignment()
	if err != nil {
		t.Fatalf("%s: assignment: %v", m.clientID, err)
	}
	tps = append(tps, a...)
	got, err := m.c.Committed(tps, int(fgWait/time.Millisecond))
	if err != nil {
		t.Fatalf("%s: committed: %v", m.clientID, err)
	}
	for _, tp := range got {
		if tp.Error != nil || int64(tp.Offset) != want[tp.Partition] {
			t.Errorf("%s: committed offset of partition %d is %v (%v), want %d", m.clientID, tp.Partition, tp.Offset, tp.Error, want[tp.Partition])
		}
	}
}

// stop stops polling and closes the consumer, which leaves the group.
func (m *grRdMember) stop(t *testing.T) {
	m.once.Do(func() {
		close(m.stopc)
		<-m.done
		if err := m.c.Close(); err != nil {
			t.Errorf("close %s: %v", m.clientID, err)
		}
	})
}
