package compattests

// sarama (github.com/IBM/sarama) against a real broker over TCP. Every test
// runs twice, with config.Version = sarama.V2_1_0_0 and sarama.MaxVersion
// (see saramaVersions), each on its own broker. Helpers are in
// sarama_helpers_test.go.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// TestSaramaSyncProducer sends 1,000 keyed records with headers through a
// SyncProducer for every codec sarama has and both RequiredAcks that need an
// answer: 100 one at a time with SendMessage, then 900 in SendMessages
// batches. The partitions and offsets sarama reports must be contiguous from
// 0 per partition and stable per key; a consumer must read every record back
// at the offset reported, and the stored batches must carry the producer's
// codec (the broker stores batches as sent).
func TestSaramaSyncProducer(t *testing.T) {
	t.Parallel()
	codecs := []sarama.CompressionCodec{
		sarama.CompressionNone, sarama.CompressionGZIP, sarama.CompressionSnappy,
		sarama.CompressionLZ4, sarama.CompressionZSTD, // zstd needs Version >= V2_1_0_0
	}
	acks := []struct {
		name string
		acks sarama.RequiredAcks
	}{{"all", sarama.WaitForAll}, {"local", sarama.WaitForLocal}}

	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		admin := newSaramaAdmin(t, b.Addr(), saramaConfig(v))
		for _, codec := range codecs {
			for _, ack := range acks {
				t.Run(codec.String()+"/acks-"+ack.name, func(t *testing.T) {
					t.Parallel()
					topic := saramaTopicName("sync", codec.String(), ack.name)
					saramaCreateTopic(t, admin, topic, 3, nil)

					c := saramaConfig(v)
					c.Producer.RequiredAcks = ack.acks
					c.Producer.Compression = codec
					p := newSaramaSyncProducer(t, b.Addr(), c)

					const total, singles, batch = 1000, 100, 150
					base := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
					msgs := make([]*sarama.ProducerMessage, total)
					for i := range msgs {
						msgs[i] = &sarama.ProducerMessage{
							Topic:     topic,
							Key:       sarama.StringEncoder(fmt.Sprintf("key-%02d", i%37)),
							Value:     sarama.StringEncoder(fmt.Sprintf("value %04d %s", i, strings.Repeat("streamhouse ", i%16))),
							Headers:   saramaHeaders("index", strconv.Itoa(i), "codec", codec.String()),
							Timestamp: base.Add(time.Duration(i) * time.Millisecond),
						}
					}

					// One at a time: each answer is the partition's next
					// offset.
					next := make(map[int32]int64)
					keyPart := make(map[string]int32)
					for _, m := range msgs[:singles] {
						part, off, err := p.SendMessage(m)
						if err != nil {
							t.Fatalf("SendMessage: %v", err)
						}
						if part != m.Partition || off != m.Offset {
							t.Fatalf("SendMessage returned %d@%d, message holds %d@%d", part, off, m.Partition, m.Offset)
						}
						if off != next[part] {
							t.Fatalf("partition %d: offset %d, want %d", part, off, next[part])
						}
						next[part]++
					}
					for i := singles; i < total; i += batch {
						saramaSendAll(t, p, msgs[i:min(i+batch, total)])
					}
					for _, m := range msgs {
						k := string(saramaEncoded(t, m.Key))
						if p, ok := keyPart[k]; ok && p != m.Partition {
							t.Fatalf("key %s went to partitions %d and %d", k, p, m.Partition)
						}
						keyPart[k] = m.Partition
					}
					byPart := saramaCheckContiguous(t, msgs)
					if len(byPart) != 3 {
						t.Fatalf("records went to %d partitions, want 3", len(byPart))
					}

					saramaConsumeAll(t, newSaramaConsumer(t, b.Addr(), saramaConfig(v)), topic, byPart)

					saramaCheckStoredBatches(t, b.Addr(), v, topic, 0, int64(len(byPart[0])), codec, false)
				})
			}
		}

		// message.timestamp.type=LogAppendTime: the broker stamps each batch
		// (rewriting its max timestamp and CRC, compressed or not), returns
		// the time in the produce response, and consumers read it back.
		for _, codec := range codecs {
			t.Run("log-append-time/"+codec.String(), func(t *testing.T) {
				t.Parallel()
				topic := saramaTopicName("lat", codec.String())
				saramaCreateTopic(t, admin, topic, 1, map[string]*string{"message.timestamp.type": saramaStr("LogAppendTime")})
				c := saramaConfig(v)
				c.Producer.Compression = codec
				c.Producer.RequiredAcks = sarama.WaitForAll
				p := newSaramaSyncProducer(t, b.Addr(), c)
				old := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
				msgs := make([]*sarama.ProducerMessage, 20)
				for i := range msgs {
					msgs[i] = &sarama.ProducerMessage{
						Topic:     topic,
						Key:       sarama.StringEncoder(strconv.Itoa(i)),
						Value:     sarama.StringEncoder(strings.Repeat("append time ", i)),
						Headers:   saramaHeaders("i", strconv.Itoa(i)),
						Timestamp: old.Add(time.Duration(i) * time.Millisecond),
					}
				}
				before := time.Now().Truncate(time.Millisecond)
				saramaSendAll(t, p, msgs)
				after := time.Now()
				for _, m := range msgs {
					// sarama replaces Timestamp with the response's
					// log_append_time when there is one.
					if m.Timestamp.Before(before) || m.Timestamp.After(after) {
						t.Fatalf("offset %d: timestamp after produce %v; want the broker's append time, between %v and %v",
							m.Offset, m.Timestamp, before, after)
					}
				}
				saramaCheckContiguous(t, msgs)
				got := saramaConsume(t, newSaramaConsumer(t, b.Addr(), saramaConfig(v)), topic, 0, sarama.OffsetOldest, len(msgs))
				for i := range msgs {
					saramaCheckMessage(t, msgs[i], got[i])
				}
				saramaCheckStoredBatches(t, b.Addr(), v, topic, 0, int64(len(msgs)), codec, true)

				// Timestamp lookups see the append time, not the producer's.
				cl := newSaramaClient(t, b.Addr(), saramaConfig(v))
				for _, tc := range []struct {
					ts   time.Time
					want int64
				}{{old, 0}, {before, 0}, {after.Add(time.Millisecond), -1}} {
					if got, err := cl.GetOffset(topic, 0, tc.ts.UnixMilli()); err != nil || got != tc.want {
						t.Errorf("GetOffset at %v: %d, %v; want %d", tc.ts, got, err, tc.want)
					}
				}
			})
		}

		// CreateTime bounds: message.timestamp.after.max.ms is one hour by
		// default (as in Kafka 4); before.max.ms is unbounded.
		t.Run("timestamp-bounds", func(t *testing.T) {
			t.Parallel()
			const topic = "timestamp-bounds"
			saramaCreateTopic(t, admin, topic, 1, nil)
			p := newSaramaSyncProducer(t, b.Addr(), saramaConfig(v))
			now := time.Now()
			for _, ts := range []time.Time{now.Add(-30 * 24 * time.Hour), now.Add(30 * time.Minute)} {
				if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("ok"), Timestamp: ts}); err != nil {
					t.Fatalf("timestamp %v (now %v): %v", ts, now, err)
				}
			}
			_, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("late"), Timestamp: now.Add(2 * time.Hour)})
			if !errors.Is(err, sarama.ErrInvalidTimestamp) {
				t.Fatalf("timestamp two hours ahead: %v, want ErrInvalidTimestamp", err)
			}
		})

		// acks=0: the broker answers nothing, so sarama knows no offsets;
		// every record must still arrive, in order per partition.
		for _, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionZSTD} {
			t.Run("acks-none/"+codec.String(), func(t *testing.T) {
				t.Parallel()
				topic := saramaTopicName("acks0", codec.String())
				saramaCreateTopic(t, admin, topic, 3, nil)
				c := saramaConfig(v)
				c.Producer.RequiredAcks = sarama.NoResponse
				c.Producer.Compression = codec
				p := newSaramaSyncProducer(t, b.Addr(), c)
				msgs := make([]*sarama.ProducerMessage, 300)
				for i := range msgs {
					msgs[i] = &sarama.ProducerMessage{
						Topic:   topic,
						Key:     sarama.StringEncoder("k" + strconv.Itoa(i%11)),
						Value:   sarama.StringEncoder(fmt.Sprintf("acks0 %d", i)),
						Headers: saramaHeaders("i", strconv.Itoa(i)),
					}
				}
				for i := 0; i < len(msgs); i += 100 {
					saramaSendAll(t, p, msgs[i:i+100])
				}
				byPart := make(map[int32][]*sarama.ProducerMessage)
				for _, m := range msgs {
					m.Offset = int64(len(byPart[m.Partition]))
					byPart[m.Partition] = append(byPart[m.Partition], m)
				}
				saramaConsumeAll(t, newSaramaConsumer(t, b.Addr(), saramaConfig(v)), topic, byPart)
			})
		}
	})
}

// TestSaramaAsyncProducer pushes 5,000 records (half keyed, half not) to
// two topics, so that produce requests carry both, through an AsyncProducer
// with Return.Successes: every one must be acknowledged exactly once, none
// may fail, offsets are contiguous per partition, and a consumer reads each
// back at its offset.
func TestSaramaAsyncProducer(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		// Two topics, so that produce requests carry several topics.
		const n = 5000
		topics := []string{"async-a", "async-b"}
		admin := newSaramaAdmin(t, b.Addr(), saramaConfig(v))
		saramaCreateTopic(t, admin, topics[0], 3, nil)
		saramaCreateTopic(t, admin, topics[1], 2, nil)

		c := saramaConfig(v)
		c.Producer.RequiredAcks = sarama.WaitForLocal
		ap := newSaramaAsyncProducer(t, b.Addr(), c)
		closed := false
		t.Cleanup(func() {
			if !closed {
				ap.Close()
			}
		})

		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			m := &sarama.ProducerMessage{
				Topic:    topics[i%3%2],
				Value:    sarama.StringEncoder(fmt.Sprintf("async value %d", i)),
				Headers:  saramaHeaders("i", strconv.Itoa(i)),
				Metadata: i,
			}
			if i%2 == 0 {
				m.Key = sarama.StringEncoder("k" + strconv.Itoa(i%101))
			}
			msgs[i] = m
		}

		stop := make(chan struct{})
		var feeder sync.WaitGroup
		feeder.Go(func() {
			for _, m := range msgs {
				select {
				case ap.Input() <- m:
				case <-stop:
					return
				}
			}
		})
		defer feeder.Wait()
		defer close(stop)

		acked := make([]bool, n)
		var errs []*sarama.ProducerError
		timeout := time.NewTimer(saramaWait)
		defer timeout.Stop()
		for got := 0; got < n; got++ {
			select {
			case m := <-ap.Successes():
				i := m.Metadata.(int)
				if acked[i] {
					t.Fatalf("message %d acknowledged twice", i)
				}
				acked[i] = true
			case e := <-ap.Errors():
				errs = append(errs, e)
			case <-timeout.C:
				t.Fatalf("%d of %d messages answered within %v", got, n, saramaWait)
			}
		}
		closed = true
		if err := ap.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if len(errs) > 0 {
			kinds := make(map[string]int)
			for _, e := range errs {
				kinds[e.Err.Error()]++
			}
			t.Fatalf("%d of %d messages failed: %v", len(errs), n, kinds)
		}

		co := newSaramaConsumer(t, b.Addr(), saramaConfig(v))
		for _, topic := range topics {
			var of []*sarama.ProducerMessage
			for _, m := range msgs {
				if m.Topic == topic {
					of = append(of, m)
				}
			}
			saramaConsumeAll(t, co, topic, saramaCheckContiguous(t, of))
		}
	})
}

// TestSaramaPartitionConsumer reads records back with sarama.NewConsumer and
// ConsumePartition: from OffsetOldest on each partition (keys, values, null
// against empty, headers, offsets, timestamps and order exact), from
// OffsetNewest (only records produced afterwards), from an offset in the
// middle and from the high watermark; an offset beyond the end is
// ErrOffsetOutOfRange, both in sarama's own check and from the broker.
func TestSaramaPartitionConsumer(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		const topic, parts, perPart = "consume", 3, 200
		saramaCreateTopic(t, newSaramaAdmin(t, b.Addr(), saramaConfig(v)), topic, parts, nil)

		pc := saramaConfig(v)
		pc.Producer.Partitioner = sarama.NewManualPartitioner
		pc.Producer.RequiredAcks = sarama.WaitForAll
		p := newSaramaSyncProducer(t, b.Addr(), pc)

		base := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond)
		mk := func(part int32, i int) *sarama.ProducerMessage {
			m := &sarama.ProducerMessage{
				Topic:     topic,
				Partition: part,
				Key:       sarama.StringEncoder(fmt.Sprintf("p%d-key-%d", part, i)),
				Value:     sarama.ByteEncoder(fmt.Appendf(nil, "p%d-value-%d", part, i)),
				Timestamp: base.Add(time.Duration(i)*10*time.Millisecond + time.Duration(part)*time.Millisecond),
			}
			switch i % 10 {
			case 0:
				m.Key = nil // null key
			case 1:
				m.Key = sarama.ByteEncoder([]byte{}) // empty, not null
			case 2:
				m.Value = nil // null value
			case 3:
				m.Value = sarama.ByteEncoder([]byte{})
			}
			switch i % 4 {
			case 1:
				m.Headers = saramaHeaders("one", strconv.Itoa(i))
			case 2:
				m.Headers = append(saramaHeaders("dup", "a", "dup", "b"), sarama.RecordHeader{Key: []byte("null"), Value: nil})
			case 3:
				m.Headers = saramaHeaders("empty", "")
			}
			return m
		}
		produced := make(map[int32][]*sarama.ProducerMessage)
		var all []*sarama.ProducerMessage
		for i := range perPart {
			for part := range int32(parts) {
				m := mk(part, i)
				produced[part] = append(produced[part], m)
				all = append(all, m)
			}
		}
		for i := 0; i < len(all); i += 50 {
			saramaSendAll(t, p, all[i:min(i+50, len(all))])
		}
		saramaCheckContiguous(t, all)

		co := newSaramaConsumer(t, b.Addr(), saramaConfig(v))

		t.Run("oldest", func(t *testing.T) {
			saramaConsumeAll(t, co, topic, produced)
		})

		t.Run("small-fetches", func(t *testing.T) {
			// All partitions at once through one connection, with
			// partition and response limits below a batch's size: every
			// fetch holds at most one whole batch (KIP-74), many rounds.
			c := saramaConfig(v)
			c.Consumer.Fetch.Default = 256
			c.Consumer.Fetch.MaxBytes = 512
			saramaConsumeAll(t, newSaramaConsumer(t, b.Addr(), c), topic, produced)
		})

		t.Run("read-committed", func(t *testing.T) {
			// Without transactions, read_committed sees everything: the
			// last stable offset is the high watermark.
			c := saramaConfig(v)
			c.Consumer.IsolationLevel = sarama.ReadCommitted
			got := saramaConsume(t, newSaramaConsumer(t, b.Addr(), c), topic, 2, sarama.OffsetOldest, perPart)
			for i := range got {
				saramaCheckMessage(t, produced[2][i], got[i])
			}
		})

		t.Run("middle", func(t *testing.T) {
			const from = 77
			got := saramaConsume(t, co, topic, 1, from, perPart-from)
			for i := range got {
				saramaCheckMessage(t, produced[1][from+i], got[i])
			}
		})

		t.Run("newest", func(t *testing.T) {
			// ConsumePartition resolves OffsetNewest (ListOffsets) before
			// returning, so what is produced after it is exactly what it
			// must deliver.
			c, err := co.ConsumePartition(topic, 0, sarama.OffsetNewest)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var more []*sarama.ProducerMessage
			for i := perPart; i < perPart+20; i++ {
				more = append(more, mk(0, i), mk(2, i))
			}
			saramaSendAll(t, p, more)
			var want []*sarama.ProducerMessage
			for _, m := range more {
				if m.Partition == 0 {
					want = append(want, m)
				}
				produced[m.Partition] = append(produced[m.Partition], m)
			}
			got := saramaRead(t, c, len(want))
			for i := range got {
				saramaCheckMessage(t, want[i], got[i])
			}
			if got[0].Offset != perPart {
				t.Fatalf("first message after OffsetNewest at offset %d, want %d", got[0].Offset, perPart)
			}
			if hw := c.HighWaterMarkOffset(); hw != perPart+20 {
				t.Fatalf("HighWaterMarkOffset %d, want %d", hw, perPart+20)
			}
		})

		t.Run("at-high-watermark", func(t *testing.T) {
			end := int64(len(produced[1]))
			c, err := co.ConsumePartition(topic, 1, end)
			if err != nil {
				t.Fatalf("ConsumePartition at the high watermark %d: %v", end, err)
			}
			defer c.Close()
			m := mk(1, int(end))
			if _, _, err := p.SendMessage(m); err != nil {
				t.Fatal(err)
			}
			produced[1] = append(produced[1], m)
			saramaCheckMessage(t, m, saramaRead(t, c, 1)[0])
		})

		t.Run("large", func(t *testing.T) {
			// Records larger than the consumer's fetch size and the
			// broker's default message.max.bytes, on a topic that allows
			// them; the same record on a default topic is refused.
			const big = "consume-large"
			saramaCreateTopic(t, newSaramaAdmin(t, b.Addr(), saramaConfig(v)), big, 1,
				map[string]*string{"max.message.bytes": saramaStr("4000000")})
			c := saramaConfig(v)
			c.Producer.MaxMessageBytes = 4_000_000
			lp := newSaramaSyncProducer(t, b.Addr(), c)
			var msgs []*sarama.ProducerMessage
			for i := range 3 {
				val := make([]byte, 1_500_000+i)
				for j := range val {
					val[j] = byte(j*7 + i)
				}
				m := &sarama.ProducerMessage{Topic: big, Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.ByteEncoder(val)}
				if _, _, err := lp.SendMessage(m); err != nil {
					t.Fatalf("large record %d: %v", i, err)
				}
				msgs = append(msgs, m)
			}
			cc := saramaConfig(v)
			cc.Consumer.Fetch.Default = 64 << 10
			got := saramaConsume(t, newSaramaConsumer(t, b.Addr(), cc), big, 0, sarama.OffsetOldest, len(msgs))
			for i := range msgs {
				saramaCheckMessage(t, msgs[i], got[i])
			}

			_, _, err := lp.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(make([]byte, 1_500_000))})
			if !errors.Is(err, sarama.ErrMessageSizeTooLarge) {
				t.Fatalf("1.5 MB record to a topic with the default max.message.bytes: %v, want ErrMessageSizeTooLarge", err)
			}
		})

		t.Run("out-of-range", func(t *testing.T) {
			end := int64(len(produced[2]))
			for _, off := range []int64{end + 1, end + 1000, -5} {
				c, err := co.ConsumePartition(topic, 2, off)
				if err == nil {
					c.Close()
					t.Fatalf("ConsumePartition at %d (high watermark %d) succeeded", off, end)
				}
				if !errors.Is(err, sarama.ErrOffsetOutOfRange) {
					t.Fatalf("ConsumePartition at %d: %v, want ErrOffsetOutOfRange", off, err)
				}
			}

			// sarama checks the range itself; ask the broker directly too.
			cl := newSaramaClient(t, b.Addr(), saramaConfig(v))
			br, err := cl.Leader(topic, 2)
			if err != nil {
				t.Fatal(err)
			}
			blk := saramaFetch(t, br, v, topic, 2, end+1)
			if !errors.Is(blk.Err, sarama.ErrOffsetOutOfRange) {
				t.Fatalf("fetch at %d beyond the high watermark %d: %v, want ErrOffsetOutOfRange", end+1, end, blk.Err)
			}
			blk = saramaFetch(t, br, v, topic, 2, end)
			if !errors.Is(blk.Err, sarama.ErrNoError) || blk.HighWaterMarkOffset != end || len(blk.RecordsSet) != 0 {
				t.Fatalf("fetch at the high watermark %d: error %v, high watermark %d, %d record sets; want none, %d, 0",
					end, blk.Err, blk.HighWaterMarkOffset, len(blk.RecordsSet), end)
			}
		})
	})
}

// TestSaramaClusterAdmin drives the topic side of sarama's ClusterAdmin:
// CreateTopic (validateOnly, configs, a manual replica assignment, and the
// errors Kafka gives for an existing topic, invalid names, partitions,
// replication factors and configs), ListTopics (Metadata then
// DescribeConfigs of every topic), DescribeTopics, DescribeConfig for a
// topic and for the broker, DescribeCluster, and DeleteTopic.
func TestSaramaClusterAdmin(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		admin := newSaramaAdmin(t, b.Addr(), saramaConfig(v))

		const topic = "admin-configured"
		configs := map[string]*string{
			"cleanup.policy":    saramaStr("compact"),
			"retention.ms":      saramaStr("3600000"),
			"max.message.bytes": saramaStr("2097152"),
		}
		detail := &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1, ConfigEntries: configs}

		t.Run("validate-only", func(t *testing.T) {
			if err := admin.CreateTopic(topic, detail, true); err != nil {
				t.Fatalf("CreateTopic validateOnly: %v", err)
			}
			md, err := admin.DescribeTopics([]string{topic})
			if err != nil {
				t.Fatal(err)
			}
			if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("after a validateOnly CreateTopic, DescribeTopics = %s, want ErrUnknownTopicOrPartition", saramaShowMetadata(md))
			}
		})

		t.Run("create", func(t *testing.T) {
			if err := admin.CreateTopic(topic, detail, false); err != nil {
				t.Fatalf("CreateTopic: %v", err)
			}
			// A manual assignment: partitions and replication factor -1.
			assigned := &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1,
				ReplicaAssignment: map[int32][]int32{0: {1}}}
			if err := admin.CreateTopic("admin-assigned", assigned, false); err != nil {
				t.Fatalf("CreateTopic with a replica assignment: %v", err)
			}
			// Defaults: -1 partitions is num.partitions (1).
			if err := admin.CreateTopic("admin-defaults", &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1}, false); err != nil {
				t.Fatalf("CreateTopic with default partitions and replication factor: %v", err)
			}
		})

		t.Run("replica-assignment-order", func(t *testing.T) {
			// sarama's TopicDetail.ReplicaAssignment is a map, encoded in
			// Go's random map order. Kafka takes the assignments as a set
			// (ReplicationControlManager.createTopic: any order, each
			// partition once, 0..n-1 all present), and so does the broker.
			for i := range 5 {
				name := fmt.Sprintf("admin-assigned-%d", i)
				assignment := make(map[int32][]int32)
				for p := range int32(12) {
					assignment[p] = []int32{1}
				}
				if err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: assignment}, false); err != nil {
					t.Fatalf("CreateTopic %s with a 12-partition replica assignment: %v", name, err)
				}
				md, err := admin.DescribeTopics([]string{name})
				if err != nil || len(md) != 1 || len(md[0].Partitions) != 12 {
					t.Fatalf("DescribeTopics %s: %s, %v; want 12 partitions", name, saramaShowMetadata(md), err)
				}
				if err := admin.DeleteTopic(name); err != nil {
					t.Fatal(err)
				}
			}
		})

		t.Run("list-topics", func(t *testing.T) {
			topics, err := admin.ListTopics()
			if err != nil {
				t.Fatalf("ListTopics: %v", err)
			}
			if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, []string{"admin-assigned", topic, "admin-defaults"}) {
				t.Fatalf("ListTopics topics %v", got)
			}
			want := map[string]struct {
				parts   int32
				configs map[string]string
			}{
				topic:            {4, map[string]string{"cleanup.policy": "compact", "retention.ms": "3600000", "max.message.bytes": "2097152"}},
				"admin-assigned": {1, map[string]string{}},
				"admin-defaults": {1, map[string]string{}},
			}
			for name, w := range want {
				d := topics[name]
				if d.NumPartitions != w.parts || d.ReplicationFactor != 1 {
					t.Errorf("%s: %d partitions, replication factor %d; want %d, 1", name, d.NumPartitions, d.ReplicationFactor, w.parts)
				}
				for p := range w.parts {
					if r := d.ReplicaAssignment[p]; !slices.Equal(r, []int32{1}) {
						t.Errorf("%s: partition %d replicas %v, want [1]", name, p, r)
					}
				}
				got := make(map[string]string)
				for k, v := range d.ConfigEntries {
					got[k] = *v
				}
				// ListTopics keeps the entries that are not defaults: with no
				// broker overrides, exactly those set on the topic.
				if !maps.Equal(got, w.configs) {
					t.Errorf("%s: ConfigEntries %v, want %v", name, got, w.configs)
				}
			}
		})

		t.Run("describe-topics", func(t *testing.T) {
			md, err := admin.DescribeTopics([]string{topic, "admin-missing"})
			if err != nil {
				t.Fatal(err)
			}
			byName := make(map[string]*sarama.TopicMetadata)
			for _, m := range md {
				byName[m.Name] = m
			}
			if m := byName["admin-missing"]; m == nil || !errors.Is(m.Err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("missing topic: %s, want ErrUnknownTopicOrPartition (and not auto-created)", saramaShowMetadata(md))
			}
			m := byName[topic]
			if m == nil || !errors.Is(m.Err, sarama.ErrNoError) || m.IsInternal || len(m.Partitions) != 4 {
				t.Fatalf("DescribeTopics: %s", saramaShowMetadata(md))
			}
			if v.IsAtLeast(sarama.V2_8_0_0) && m.Uuid == (sarama.Uuid{}) {
				t.Errorf("metadata v10+ has no topic ID")
			}
			for i, p := range m.Partitions {
				if !errors.Is(p.Err, sarama.ErrNoError) || p.ID != int32(i) || p.Leader != 1 || p.LeaderEpoch != 0 ||
					!slices.Equal(p.Replicas, []int32{1}) || !slices.Equal(p.Isr, []int32{1}) || len(p.OfflineReplicas) != 0 {
					t.Errorf("partition %d: %+v; want ID %d, leader 1, leader epoch 0, replicas [1], ISR [1], no offline replicas", i, *p, i)
				}
			}
		})

		t.Run("describe-config-topic", func(t *testing.T) {
			entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
			if err != nil {
				t.Fatalf("DescribeConfig topic: %v", err)
			}
			byName := make(map[string]sarama.ConfigEntry)
			for _, e := range entries {
				byName[e.Name] = e
			}
			for name, val := range configs {
				e, ok := byName[name]
				if !ok || e.Value != *val || e.Default || e.Source != sarama.SourceTopic || e.ReadOnly || e.Sensitive {
					t.Errorf("%s: %+v; want value %s from the topic (DYNAMIC_TOPIC_CONFIG), not default", name, e, *val)
				}
			}
			for name, val := range map[string]string{"segment.bytes": "1073741824", "message.timestamp.type": "CreateTime", "min.insync.replicas": "1"} {
				e, ok := byName[name]
				if !ok || e.Value != val || !e.Default || e.Source != sarama.SourceDefault {
					t.Errorf("%s: %+v; want the default %s", name, e, val)
				}
			}

			// config_names filters.
			entries, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms", "no.such.config"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 || entries[0].Name != "retention.ms" || entries[0].Value != "3600000" {
				t.Errorf("DescribeConfig with ConfigNames [retention.ms no.such.config]: %+v", entries)
			}

			// Synonyms and documentation.
			res, err := admin.DescribeConfigs([]*sarama.ConfigResource{{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}}},
				sarama.DescribeConfigsOptions{IncludeSynonyms: true, IncludeDocumentation: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 || len(res[0].Configs) != 1 {
				t.Fatalf("DescribeConfigs with synonyms: %+v", res)
			}
			e := res[0].Configs[0]
			if len(e.Synonyms) == 0 || e.Synonyms[0].ConfigName != "retention.ms" || e.Synonyms[0].ConfigValue != "3600000" || e.Synonyms[0].Source != sarama.SourceTopic {
				t.Errorf("retention.ms synonyms %s; want retention.ms=3600000 (topic) first", saramaShowSynonyms(e.Synonyms))
			}
			if v.IsAtLeast(sarama.V2_6_0_0) && (e.Documentation == nil || *e.Documentation == "" || e.Type != sarama.LongConfigType) {
				t.Errorf("retention.ms: type %v, documentation %v; want LONG and some documentation (DescribeConfigs v3+)", e.Type, e.Documentation)
			}

			_, err = admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "admin-missing"})
			if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Errorf("DescribeConfig of a missing topic: %v, want ErrUnknownTopicOrPartition", err)
			}
		})

		t.Run("describe-config-broker", func(t *testing.T) {
			entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.BrokerResource, Name: "1"})
			if err != nil {
				t.Fatalf("DescribeConfig broker 1: %v", err)
			}
			byName := make(map[string]sarama.ConfigEntry)
			for _, e := range entries {
				byName[e.Name] = e
			}
			if e, ok := byName["node.id"]; !ok || e.Value != "1" || e.Source != sarama.SourceStaticBroker {
				t.Errorf("node.id: %+v, want 1 (STATIC_BROKER_CONFIG)", e)
			}
			if e, ok := byName["num.partitions"]; !ok || e.Value != "1" || !e.Default {
				t.Errorf("num.partitions: %+v, want the default 1", e)
			}
			if e, ok := byName["log.retention.hours"]; !ok || e.Value != "168" {
				t.Errorf("log.retention.hours: %+v, want 168", e)
			}
		})

		t.Run("describe-cluster", func(t *testing.T) {
			// From V2_8_0_0 sarama asks DescribeCluster, which the broker
			// does not advertise: sarama falls back to Metadata.
			brokers, controller, err := admin.DescribeCluster()
			if err != nil {
				t.Fatalf("DescribeCluster: %v", err)
			}
			if controller != 1 || len(brokers) != 1 || brokers[0].ID() != 1 || brokers[0].Addr() != b.Addr() {
				var ids []string
				for _, br := range brokers {
					ids = append(ids, fmt.Sprintf("%d@%s", br.ID(), br.Addr()))
				}
				t.Fatalf("DescribeCluster: brokers %v, controller %d; want [1@%s], 1", ids, controller, b.Addr())
			}
		})

		t.Run("create-errors", func(t *testing.T) {
			if err := admin.CreateTopic("admin.dotted", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
				t.Fatal(err)
			}
			cases := []struct {
				name   string
				topic  string
				detail sarama.TopicDetail
				want   sarama.KError
			}{
				{"exists", topic, *detail, sarama.ErrTopicAlreadyExists},
				{"exists-validate-only", topic, *detail, sarama.ErrTopicAlreadyExists},
				{"space", "bad topic", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
				{"bang", "bad!", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
				{"dotdot", "..", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
				{"too-long", strings.Repeat("x", 250), sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
				{"collides", "admin_dotted", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, sarama.ErrInvalidTopic},
				{"zero-partitions", "admin-zero", sarama.TopicDetail{NumPartitions: 0, ReplicationFactor: 1}, sarama.ErrInvalidPartitions},
				{"replication-3", "admin-rf3", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, sarama.ErrInvalidReplicationFactor},
				{"bad-config-value", "admin-badcfg", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
					ConfigEntries: map[string]*string{"retention.ms": saramaStr("soon")}}, sarama.ErrInvalidConfig},
				{"unknown-config", "admin-unknowncfg", sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
					ConfigEntries: map[string]*string{"no.such.config": saramaStr("1")}}, sarama.ErrInvalidConfig},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					err := admin.CreateTopic(tc.topic, &tc.detail, strings.HasSuffix(tc.name, "validate-only"))
					if !errors.Is(err, tc.want) {
						t.Fatalf("CreateTopic(%q): %v, want %v", tc.topic, err, tc.want)
					}
				})
			}
			// None of them exists afterwards.
			topics, err := admin.ListTopics()
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, []string{"admin-assigned", topic, "admin-defaults", "admin.dotted"}) {
				t.Fatalf("topics after failed creations: %v", got)
			}
		})

		t.Run("delete", func(t *testing.T) {
			pc := saramaConfig(v)
			pc.Producer.Partitioner = sarama.NewManualPartitioner
			p := newSaramaSyncProducer(t, b.Addr(), pc)
			var old []*sarama.ProducerMessage
			for i := range 10 {
				// Keyed: the topic is compacted.
				old = append(old, &sarama.ProducerMessage{Topic: topic, Partition: int32(i % 2), Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("old")})
			}
			saramaSendAll(t, p, old)

			if err := admin.DeleteTopic(topic); err != nil {
				t.Fatalf("DeleteTopic: %v", err)
			}
			md, err := admin.DescribeTopics([]string{topic})
			if err != nil {
				t.Fatal(err)
			}
			if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("after DeleteTopic, DescribeTopics = %s", saramaShowMetadata(md))
			}
			topics, err := admin.ListTopics()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := topics[topic]; ok {
				t.Fatalf("ListTopics still lists %s after DeleteTopic", topic)
			}
			if err := admin.DeleteTopic(topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("DeleteTopic of a deleted topic: %v, want ErrUnknownTopicOrPartition", err)
			}
			if _, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic}); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("DescribeConfig of a deleted topic: %v, want ErrUnknownTopicOrPartition", err)
			}
			// The name is free again, with nothing left of the old topic.
			if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 1}, false); err != nil {
				t.Fatalf("CreateTopic after DeleteTopic: %v", err)
			}
			topics, err = admin.ListTopics()
			if err != nil {
				t.Fatal(err)
			}
			if d := topics[topic]; d.NumPartitions != 2 || len(d.ConfigEntries) != 0 {
				t.Fatalf("re-created topic: %d partitions, configs %v; want 2, none", d.NumPartitions, d.ConfigEntries)
			}
			cl := newSaramaClient(t, b.Addr(), saramaConfig(v))
			for part := range int32(2) {
				for _, which := range []int64{sarama.OffsetOldest, sarama.OffsetNewest} {
					if o, err := cl.GetOffset(topic, part, which); err != nil || o != 0 {
						t.Fatalf("re-created topic, partition %d: GetOffset(%d) = %d, %v; want 0 (nothing left of the deleted topic)", part, which, o, err)
					}
				}
			}
			m := &sarama.ProducerMessage{Topic: topic, Partition: 1, Value: sarama.StringEncoder("new")}
			if _, _, err := p.SendMessage(m); err != nil {
				t.Fatalf("produce to the re-created topic: %v", err)
			}
			if m.Offset != 0 {
				t.Fatalf("first record of the re-created topic at offset %d, want 0", m.Offset)
			}
			got := saramaConsume(t, newSaramaConsumer(t, b.Addr(), saramaConfig(v)), topic, 1, sarama.OffsetOldest, 1)
			saramaCheckMessage(t, m, got[0])
		})
	})
}

// TestSaramaClientMetadata checks what sarama.Client learns from Metadata
// (topics, partitions, leader, replicas, ISR, brokers, controller, topic
// auto-creation only when allowed) and from ListOffsets (GetOffset with
// OffsetOldest, OffsetNewest and timestamps, on uncompressed and compressed
// batches holding several records).
func TestSaramaClientMetadata(t *testing.T) {
	t.Parallel()
	forEachSaramaVersion(t, func(t *testing.T, v sarama.KafkaVersion) {
		b := brokertest.New(t)
		admin := newSaramaAdmin(t, b.Addr(), saramaConfig(v))
		saramaCreateTopic(t, admin, "meta-a", 3, nil)
		saramaCreateTopic(t, admin, "meta-b", 1, nil)

		c := saramaConfig(v)
		c.Metadata.AllowAutoTopicCreation = false
		cl := newSaramaClient(t, b.Addr(), c)

		t.Run("topology", func(t *testing.T) {
			topics, err := cl.Topics()
			if err != nil {
				t.Fatal(err)
			}
			if slices.Sort(topics); !slices.Equal(topics, []string{"meta-a", "meta-b"}) {
				t.Fatalf("Topics() = %v", topics)
			}
			for name, n := range map[string]int32{"meta-a": 3, "meta-b": 1} {
				want := make([]int32, n)
				for i := range want {
					want[i] = int32(i)
				}
				ps, err := cl.Partitions(name)
				if err != nil || !slices.Equal(ps, want) {
					t.Fatalf("Partitions(%s) = %v, %v; want %v", name, ps, err, want)
				}
				ws, err := cl.WritablePartitions(name)
				if err != nil || !slices.Equal(ws, want) {
					t.Fatalf("WritablePartitions(%s) = %v, %v; want %v", name, ws, err, want)
				}
				for _, p := range ps {
					leader, epoch, err := cl.LeaderAndEpoch(name, p)
					if err != nil || leader.ID() != 1 || leader.Addr() != b.Addr() || epoch != 0 {
						t.Fatalf("LeaderAndEpoch(%s, %d): %v, %d, %v; want broker 1 at %s, epoch 0", name, p, leader, epoch, err, b.Addr())
					}
					if l, err := cl.Leader(name, p); err != nil || l.ID() != 1 {
						t.Fatalf("Leader(%s, %d): %v, %v", name, p, l, err)
					}
					r, err := cl.Replicas(name, p)
					if err != nil || !slices.Equal(r, []int32{1}) {
						t.Fatalf("Replicas(%s, %d) = %v, %v", name, p, r, err)
					}
					isr, err := cl.InSyncReplicas(name, p)
					if err != nil || !slices.Equal(isr, []int32{1}) {
						t.Fatalf("InSyncReplicas(%s, %d) = %v, %v", name, p, isr, err)
					}
					off, err := cl.OfflineReplicas(name, p)
					if err != nil || len(off) != 0 {
						t.Fatalf("OfflineReplicas(%s, %d) = %v, %v", name, p, off, err)
					}
				}
			}
			brokers := cl.Brokers()
			if len(brokers) != 1 || brokers[0].ID() != 1 || brokers[0].Addr() != b.Addr() {
				t.Fatalf("Brokers() = %v", brokers)
			}
			ctl, err := cl.Controller()
			if err != nil || ctl.ID() != 1 {
				t.Fatalf("Controller() = %v, %v", ctl, err)
			}
			if _, err := cl.Leader("meta-a", 3); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("Leader of partition 3 of a 3-partition topic: %v", err)
			}
		})

		t.Run("new-topic", func(t *testing.T) {
			saramaCreateTopic(t, admin, "meta-c", 2, nil)
			if err := cl.RefreshMetadata("meta-c"); err != nil {
				t.Fatal(err)
			}
			topics, err := cl.Topics()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(topics, "meta-c") {
				t.Fatalf("Topics() after creating meta-c: %v", topics)
			}
		})

		t.Run("auto-create", func(t *testing.T) {
			// Not allowed by the client: unknown, and not created.
			if _, err := cl.Partitions("meta-auto"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("Partitions of an unknown topic with AllowAutoTopicCreation=false: %v", err)
			}
			md, err := admin.DescribeTopics([]string{"meta-auto"})
			if err != nil || len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrUnknownTopicOrPartition) {
				t.Fatalf("meta-auto exists after a Metadata request that did not allow auto-creation: %s, %v", saramaShowMetadata(md), err)
			}
			// Allowed (sarama's default) and enabled on the broker: created
			// with num.partitions (1).
			ac := saramaConfig(v)
			auto := newSaramaClient(t, b.Addr(), ac)
			ps, err := auto.Partitions("meta-auto")
			if err != nil || !slices.Equal(ps, []int32{0}) {
				t.Fatalf("Partitions of an auto-created topic: %v, %v; want [0]", ps, err)
			}
			// A producer's metadata request creates the topic it writes to.
			p := newSaramaSyncProducer(t, b.Addr(), saramaConfig(v))
			part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "meta-auto-produce", Value: sarama.StringEncoder("x")})
			if err != nil || part != 0 || off != 0 {
				t.Fatalf("produce to a topic that does not exist yet: partition %d offset %d, %v; want 0, 0", part, off, err)
			}
			// An invalid name is never created: INVALID_TOPIC_EXCEPTION.
			if _, err := auto.Partitions("bad topic!"); !errors.Is(err, sarama.ErrInvalidTopic) {
				t.Fatalf("Partitions of an invalid topic name: %v, want ErrInvalidTopic", err)
			}
		})

		t.Run("offsets", func(t *testing.T) {
			pc := saramaConfig(v)
			pc.Producer.Partitioner = sarama.NewManualPartitioner
			// acks=all: answered once the records are below the high
			// watermark, which acks=1 does not wait for.
			pc.Producer.RequiredAcks = sarama.WaitForAll
			p := newSaramaSyncProducer(t, b.Addr(), pc)
			var msgs []*sarama.ProducerMessage
			for i := range 25 {
				msgs = append(msgs, &sarama.ProducerMessage{Topic: "meta-a", Partition: 1, Value: sarama.StringEncoder(strconv.Itoa(i))})
			}
			saramaSendAll(t, p, msgs)
			for _, tc := range []struct {
				part          int32
				oldest, newst int64
			}{{0, 0, 0}, {1, 0, 25}, {2, 0, 0}} {
				if o, err := cl.GetOffset("meta-a", tc.part, sarama.OffsetOldest); err != nil || o != tc.oldest {
					t.Errorf("GetOffset(meta-a, %d, OffsetOldest) = %d, %v; want %d", tc.part, o, err, tc.oldest)
				}
				if o, err := cl.GetOffset("meta-a", tc.part, sarama.OffsetNewest); err != nil || o != tc.newst {
					t.Errorf("GetOffset(meta-a, %d, OffsetNewest) = %d, %v; want %d", tc.part, o, err, tc.newst)
				}
			}
		})

		t.Run("by-timestamp", func(t *testing.T) {
			// 30 records a second apart in 3 batches of 10, per codec: the
			// lookup must find the record inside a (compressed) batch.
			base := time.Now().Add(-time.Hour / 2).Truncate(time.Millisecond)
			for _, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionGZIP,
				sarama.CompressionSnappy, sarama.CompressionLZ4, sarama.CompressionZSTD} {
				topic := saramaTopicName("meta-ts", codec.String())
				saramaCreateTopic(t, admin, topic, 1, nil)
				pc := saramaConfig(v)
				pc.Producer.Compression = codec
				pc.Producer.Partitioner = sarama.NewManualPartitioner
				pc.Producer.RequiredAcks = sarama.WaitForAll   // fetched at once below
				pc.Producer.Flush.Messages = 10                // one batch per SendMessages
				pc.Producer.Flush.Frequency = 10 * time.Second // required with Messages; never reached
				p := newSaramaSyncProducer(t, b.Addr(), pc)
				at := func(ms int64) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
				for batch := range 3 {
					var msgs []*sarama.ProducerMessage
					for i := batch * 10; i < batch*10+10; i++ {
						msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(strconv.Itoa(i)), Timestamp: at(int64(i) * 1000)})
					}
					saramaSendAll(t, p, msgs)
					if msgs[0].Offset != int64(batch*10) || msgs[9].Offset != int64(batch*10+9) {
						t.Fatalf("%v: batch %d at offsets %d..%d", codec, batch, msgs[0].Offset, msgs[9].Offset)
					}
				}
				br, err := cl.Leader(topic, 0)
				if err != nil {
					t.Fatal(err)
				}
				if blk := saramaFetch(t, br, v, topic, 0, 0); len(blk.RecordsSet) != 3 {
					t.Fatalf("%v: %d batches stored, want 3 of 10 records", codec, len(blk.RecordsSet))
				}
				for _, tc := range []struct {
					ms   int64
					want int64
				}{
					{-3_600_000, 0}, {0, 0}, {1, 1}, {5_000, 5}, {5_500, 6}, {9_999, 10}, {10_000, 10},
					{15_000, 15}, {29_000, 29}, {29_001, -1}, {3_600_000, -1},
				} {
					got, err := cl.GetOffset(topic, 0, at(tc.ms).UnixMilli())
					if err != nil || got != tc.want {
						t.Errorf("%v: GetOffset at base%+dms = %d, %v; want %d", codec, tc.ms, got, err, tc.want)
					}
				}
			}
		})
	})
}
