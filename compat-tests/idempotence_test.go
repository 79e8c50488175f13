package compattests

// Idempotent producers (the exactly-once issue): franz-go (its default),
// sarama and librdkafka produce with producer ids and sequences, and what
// they send is stored exactly once; a batch whose acknowledgement was lost
// to kill -9 is retried after the restart and stored once.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// idemCheck reads topic back and checks that it holds exactly values, each
// once, in the order each partition got them, every batch with a producer
// id.
func idemCheck(t *testing.T, addr, topic string, partitions int32, values map[int32][]string) {
	t.Helper()
	n := 0
	for _, vs := range values {
		n += len(vs)
	}
	got := fgConsume(t, addr, topic, partitions, n)
	for p := range partitions {
		var vs []string
		for _, r := range got[p] {
			if r.ProducerID < 0 {
				t.Fatalf("partition %d offset %d: stored without a producer id", p, r.Offset)
			}
			vs = append(vs, string(r.Value))
		}
		if !slices.Equal(vs, values[p]) {
			t.Fatalf("partition %d holds %d values %q..., want %d %q...", p, len(vs), head(vs), len(values[p]), head(values[p]))
		}
	}
	fgCheckEnds(t, addr, topic, partitions, values)
}

func head(vs []string) []string { return vs[:min(len(vs), 3)] }

// fgCheckEnds checks that each partition ends after exactly its values.
func fgCheckEnds(t *testing.T, addr, topic string, partitions int32, values map[int32][]string) {
	t.Helper()
	ends, err := fgAdmin(t, addr).ListEndOffsets(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	for p := range partitions {
		o, _ := ends.Lookup(topic, p)
		if o.Offset != int64(len(values[p])) {
			t.Fatalf("partition %d ends at %d, want %d", p, o.Offset, len(values[p]))
		}
	}
}

func TestIdempotentFranzGo(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	const topic, partitions = "idem-franzgo", 3
	fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, partitions, nil)
	cl := fgClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	values := map[int32][]string{}
	var recs []*kgo.Record
	for i := range 600 {
		p := int32(i % partitions)
		v := fmt.Sprintf("franzgo-%d", i)
		values[p] = append(values[p], v)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
	}
	fgProduceAll(t, cl, recs)
	idemCheck(t, b.Addr(), topic, partitions, values)
}

func TestIdempotentSarama(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		topic := saramaTopicName("idem", v.String())
		const partitions = 3
		fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, partitions, nil)
		c := saramaConfig(v)
		c.Producer.Idempotent = true
		c.Producer.RequiredAcks = sarama.WaitForAll
		c.Producer.Retry.Max = 5 // sarama requires retries with idempotence
		c.Net.MaxOpenRequests = 1
		c.Producer.Partitioner = sarama.NewManualPartitioner
		p := newSaramaSyncProducer(t, b.Addr(), c)
		values := map[int32][]string{}
		var msgs []*sarama.ProducerMessage
		for i := range 300 {
			part := int32(i % partitions)
			v := fmt.Sprintf("sarama-%d", i)
			values[part] = append(values[part], v)
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: part, Value: sarama.StringEncoder(v)})
		}
		saramaSendAll(t, p, msgs)
		idemCheck(t, b.Addr(), topic, partitions, values)
	})
}

func TestIdempotentLibrdkafka(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	const topic, partitions = "idem-librdkafka", 3
	fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, partitions, nil)
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":     b.Addr(),
		"client.id":             "streamhouse-compat-librdkafka",
		"enable.idempotence":    true,
		"linger.ms":             5,
		"broker.address.family": "v4",
		"message.timeout.ms":    int(fgWait / time.Millisecond),
		"log_level":             4,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tp := topic
	values := map[int32][]string{}
	deliveries := make(chan kafka.Event, 600)
	for i := range 600 {
		part := int32(i % partitions)
		v := fmt.Sprintf("librdkafka-%d", i)
		values[part] = append(values[part], v)
		if err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &tp, Partition: part}, Value: []byte(v)}, deliveries); err != nil {
			t.Fatal(err)
		}
	}
	for range 600 {
		select {
		case ev := <-deliveries:
			if m := ev.(*kafka.Message); m.TopicPartition.Error != nil {
				t.Fatalf("delivery: %v", m.TopicPartition.Error)
			}
		case <-time.After(fgWait):
			t.Fatal("deliveries did not arrive")
		}
	}
	idemCheck(t, b.Addr(), topic, partitions, values)
}

// TestIdempotenceAcrossCrash: the broker fsyncs a batch and is killed
// before it answers (crash point sync-before-ack). The producer retries the
// batch against the restarted broker, which recognises it from the
// producer state it rebuilt and answers with the offset the batch got: the
// record is stored once.
func TestIdempotenceAcrossCrash(t *testing.T) {
	t.Parallel()
	b := newCrashBroker(t, binaryFaults(t))
	const topic = "idem-crash"
	if err := b.start(nil); err != nil {
		t.Fatal(err)
	}
	fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, nil)
	cl := fgClient(t, b.addr, kgo.RecordDeliveryTimeout(2*fgWait))
	fgProduceAll(t, cl, []*kgo.Record{{Topic: topic, Value: []byte("before")}})
	if _, err := b.runFor(0); err != nil {
		t.Fatal(err)
	}
	if err := b.start([]string{"STREAMHOUSE_CRASH_AT=sync-before-ack:1"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan kgo.ProduceResults, 1)
	go func() {
		done <- cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: []byte("lost ack")})
	}()
	if exited, _ := b.runFor(fgWait); !exited {
		t.Fatalf("the broker did not reach its crash point:\n%s", b.lastLogs())
	}
	if err := b.start(nil); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if err := res.FirstErr(); err != nil {
		t.Fatalf("the retried produce failed: %v", err)
	}
	if off := res[0].Record.Offset; off != 1 {
		t.Fatalf("the retried batch was answered with offset %d, want 1", off)
	}
	idemCheck(t, b.addr, topic, 1, map[int32][]string{0: {"before", "lost ack"}})
}
