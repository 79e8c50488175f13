//go:build cgo

package compattests

// The librdkafka cases of groups_restart_test.go: two confluent-kafka-go
// members (range assignor, and KIP-848's protocol; autocommit) keep their
// assignments across a SIGTERM restart and a kill -9 of the broker.

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestGroupsSurviveRestartLibrdkafka(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		start rsStarter
	}{
		{"range", rsLibrdkafka},
		{"kip848", rsLibrdkafka848},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rsScenario(t, c.start)
		})
	}
}

// rsRdMember is a librdkafka member: each AssignedPartitions event is one
// assignment.
type rsRdMember struct {
	c     *kafka.Consumer
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	assign  []int32
	assigns int
}

func (m *rsRdMember) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assign)
}

func (m *rsRdMember) rebalances() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.assigns
}

func (m *rsRdMember) stop(t *testing.T) {
	m.once.Do(func() {
		close(m.stopc)
		<-m.done
		if err := m.c.Close(); err != nil && t != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// rsLibrdkafka starts a librdkafka member of the classic protocol, range
// assignor.
func rsLibrdkafka(t *testing.T, addr string, tr *grTracker, name, group, topic string) rsMember {
	t.Helper()
	return rsLibrdkafkaWith(t, addr, tr, name, group, topic, kafka.ConfigMap{
		"session.timeout.ms":            int(grSession / time.Millisecond),
		"heartbeat.interval.ms":         int(grHeartbeat / time.Millisecond),
		"partition.assignment.strategy": "range",
	})
}

// rsLibrdkafka848 starts a librdkafka member of the KIP-848 protocol
// (group.protocol=consumer; the broker times its heartbeats and session).
func rsLibrdkafka848(t *testing.T, addr string, tr *grTracker, name, group, topic string) rsMember {
	t.Helper()
	return rsLibrdkafkaWith(t, addr, tr, name, group, topic, kafka.ConfigMap{"group.protocol": "consumer"})
}

// rsLibrdkafkaWith starts a librdkafka member with the settings of the
// other group tests and extra ones.
func rsLibrdkafkaWith(t *testing.T, addr string, tr *grTracker, name, group, topic string, extra kafka.ConfigMap) rsMember {
	t.Helper()
	m := &rsRdMember{stopc: make(chan struct{}), done: make(chan struct{})}
	conf := kafka.ConfigMap{
		"bootstrap.servers":    addr,
		"client.id":            "streamhouse-compat-restart-" + name,
		"group.id":             group,
		"max.poll.interval.ms": int(grRebalance / time.Millisecond),
		"auto.offset.reset":    "earliest",
		"enable.auto.commit":   true,
		// Offsets are stored for commit once the loop below has the
		// message (at least once): with librdkafka's default store on
		// delivery, Close serves the messages still queued, which the
		// application never sees, and commits past them.
		"enable.auto.offset.store": false,
		"auto.commit.interval.ms":  100,
		"fetch.wait.max.ms":        100,
		// Connect again quickly while the broker is down, as the
		// franz-go members do (restartDialer). librdkafka's backoff
		// otherwise doubles from 100 ms up to 10 s: after a restart
		// that took a few seconds on a loaded machine, a member
		// tried again only some 6 s after the broker answered, by
		// when the session timer started at the load had removed it.
		"reconnect.backoff.ms":     20,
		"reconnect.backoff.max.ms": 100,
		"broker.address.family":    "v4",
		"log_level":                3, // errors only: the restarts log warnings
	}
	for k, v := range extra {
		conf[k] = v
	}
	c, err := kafka.NewConsumer(&conf)
	if err != nil {
		t.Fatalf("kafka.NewConsumer for %s: %v", name, err)
	}
	m.c = c
	err = c.SubscribeTopics([]string{topic}, func(c *kafka.Consumer, ev kafka.Event) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		// Eager assignments name every partition, incremental ones
		// (KIP-848) what is added or taken away.
		switch e := ev.(type) {
		case kafka.AssignedPartitions:
			for _, tp := range e.Partitions {
				if !slices.Contains(m.assign, tp.Partition) {
					m.assign = append(m.assign, tp.Partition)
				}
			}
			slices.Sort(m.assign)
			m.assigns++
		case kafka.RevokedPartitions:
			m.assign = slices.DeleteFunc(m.assign, func(p int32) bool {
				return slices.ContainsFunc(e.Partitions, func(tp kafka.TopicPartition) bool { return tp.Partition == p })
			})
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
			switch e := c.Poll(20).(type) {
			case *kafka.Message:
				if e.TopicPartition.Error != nil {
					tr.clientErr(name, e.TopicPartition.Error)
					continue
				}
				tr.record(&kgo.Record{Topic: topic, Partition: e.TopicPartition.Partition, Offset: int64(e.TopicPartition.Offset), Value: e.Value})
				if _, err := c.StoreMessage(e); err != nil {
					tr.clientErr(name, fmt.Errorf("store offset: %w", err))
				}
			case kafka.Error:
				tr.clientErr(name, fmt.Errorf("%v (code %v)", e, e.Code()))
			}
		}
	}()
	t.Cleanup(func() { m.stop(nil) })
	return m
}
