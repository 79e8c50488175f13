package compattests

// Consumer groups driven by sarama's ConsumerGroup, with the request
// versions of Kafka 2.1 and with the newest sarama knows: two members
// split the partitions, consume everything, mark and commit their offsets;
// a third member started after them resumes from those offsets.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupsSaramaConsumerGroup runs two sarama ConsumerGroup members on a
// four-partition topic: once both are in, each holds a share of the
// partitions, every partition once (the members' claims and DescribeGroups
// agree), at one generation. Every record produced is consumed and marked,
// and the committed offsets reach the end of each partition. After both
// stop, more records are produced, and a third member consumes exactly
// those: from the committed offsets, nothing before, nothing missing.
func TestGroupsSaramaConsumerGroup(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		const (
			topic      = "sarama-group-topic"
			group      = "sarama-group"
			partitions = 4
		)
		b := grBroker(t)
		addr := b.Addr()
		adm := fgAdmin(t, addr)
		fgCreateTopic(t, adm, topic, partitions, nil)

		pc := saramaConfig(v)
		pc.Producer.Partitioner = sarama.NewManualPartitioner
		prod := newSaramaSyncProducer(t, addr, pc)
		send := func(n int, tag string) []*kgo.Record {
			t.Helper()
			var msgs []*sarama.ProducerMessage
			for i := range n {
				for p := range int32(partitions) {
					msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: p, Key: sarama.StringEncoder(fmt.Sprintf("%s-%d", tag, i)), Value: sarama.StringEncoder(fmt.Sprintf("%s-%d-p%d", tag, i, p))})
				}
			}
			saramaSendAll(t, prod, msgs)
			// As kgo records, for the shared checks.
			recs := make([]*kgo.Record, len(msgs))
			for i, m := range msgs {
				recs[i] = &kgo.Record{Topic: topic, Partition: m.Partition, Offset: m.Offset, Value: saramaEncoded(t, m.Value)}
			}
			return recs
		}
		first := send(10, "first")

		tr := newGrTracker()
		m1 := grStartSaramaMember(t, addr, v, tr, "m1", group, topic)
		grWaitFor(t, "the first sarama member claiming every partition", func() (bool, string) {
			c := m1.claims()
			return len(c) == partitions, fmt.Sprintf("claims %v; %s", c, tr.errors())
		})
		m2 := grStartSaramaMember(t, addr, v, tr, "m2", group, topic)
		grWaitFor(t, "the partitions split between the two sarama members", func() (bool, string) {
			c1, c2 := m1.claims(), m2.claims()
			g1, g2 := m1.generation(), m2.generation()
			all := append(slices.Clone(c1), c2...)
			slices.Sort(all)
			desc := fmt.Sprintf("m1 %v (generation %d), m2 %v (generation %d); %s", c1, g1, c2, g2, tr.errors())
			if len(c1) == 0 || len(c2) == 0 || g1 != g2 || !slices.Equal(all, []int32{0, 1, 2, 3}) {
				return false, desc
			}
			d, err := adm.DescribeGroups(fgCtx(t), group)
			if err != nil {
				return false, desc + fmt.Sprintf("; describe: %v", err)
			}
			dg := d[group]
			desc += fmt.Sprintf("; described state %s protocol %q/%q assigned %v", dg.State, dg.ProtocolType, dg.Protocol, grAssigned(dg, topic))
			as := grAssigned(dg, topic)
			ok := dg.State == "Stable" && dg.ProtocolType == "consumer" && dg.Protocol == "range" && len(dg.Members) == 2 &&
				slices.Equal(as[m1.memberID()], c1) && slices.Equal(as[m2.memberID()], c2)
			return ok, desc
		})
		grWaitConsumed(t, tr, first)
		ends := grWaitEnds(t, adm, topic, first)
		grWaitCommitted(t, adm, group, topic, ends)
		m1.stop(t)
		m2.stop(t)

		more := send(5, "more")
		end2 := grWaitEnds(t, adm, topic, more)
		tr3 := newGrTracker()
		m3 := grStartSaramaMember(t, addr, v, tr3, "m3", group, topic)
		grWaitConsumed(t, tr3, more)
		grCheckResumed(t, tr3, fgByPartition(more), ends, end2)
		grWaitCommitted(t, adm, group, topic, end2)
		m3.stop(t)
	})
}

// grSaramaMember is a sarama ConsumerGroup consuming one topic in a
// goroutine, marking every message it records in its tracker; sarama
// commits the marks every 100ms and when the member stops.
type grSaramaMember struct {
	cg       sarama.ConsumerGroup
	cancel   context.CancelFunc
	done     chan struct{}
	errsDone chan struct{}
	once     sync.Once

	mu     sync.Mutex
	claim  []int32 // partitions of the current session
	gen    int32
	member string
}

func grStartSaramaMember(t *testing.T, addr string, v sarama.KafkaVersion, tr *grTracker, name, group, topic string) *grSaramaMember {
	t.Helper()
	c := saramaConfig(v)
	c.Consumer.Group.Session.Timeout = grSession
	c.Consumer.Group.Heartbeat.Interval = grHeartbeat
	c.Consumer.Group.Rebalance.Timeout = grRebalance
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, c)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup for member %s: %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*fgWait)
	m := &grSaramaMember{cg: cg, cancel: cancel, done: make(chan struct{}), errsDone: make(chan struct{}), gen: -1}
	go func() {
		defer close(m.errsDone)
		for err := range cg.Errors() {
			tr.clientErr(name, err)
		}
	}()
	h := &grSaramaHandler{m: m, tr: tr}
	go func() {
		defer close(m.done)
		// Consume returns at every rebalance; bounded by the context and
		// by a count far above the rebalances of a test.
		for i := 0; i < 10_000 && ctx.Err() == nil; i++ {
			if err := cg.Consume(ctx, []string{topic}, h); err != nil {
				tr.clientErr(name, fmt.Errorf("consume: %w", err))
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(func() { m.stop(t) })
	return m
}

// stop ends the session (sarama commits the marked offsets) and closes the
// group, which leaves it.
func (m *grSaramaMember) stop(t *testing.T) {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		if err := m.cg.Close(); err != nil {
			t.Errorf("close consumer group: %v", err)
		}
		<-m.errsDone
	})
}

func (m *grSaramaMember) claims() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.claim)
}

func (m *grSaramaMember) generation() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

func (m *grSaramaMember) memberID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.member
}

type grSaramaHandler struct {
	m  *grSaramaMember
	tr *grTracker
}

func (h *grSaramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	var ps []int32
	for _, tps := range s.Claims() {
		ps = append(ps, tps...)
	}
	slices.Sort(ps)
	h.m.claim, h.m.gen, h.m.member = ps, s.GenerationID(), s.MemberID()
	return nil
}

func (h *grSaramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.m.mu.Lock()
	h.m.claim = nil
	h.m.mu.Unlock()
	s.Commit()
	return nil
}

func (h *grSaramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			h.tr.record(&kgo.Record{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Value: msg.Value})
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}
