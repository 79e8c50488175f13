package compattests

// Helpers for the sarama tests (sarama_test.go). Every sarama value is closed
// by t.Cleanup; every wait is bounded by saramaWait, a generous timeout that
// only stops a hang and is never an assertion about speed.

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaWait bounds every wait for the broker: long enough never to fail a
// healthy run on a loaded machine, short enough to turn a hang into a
// failure.
const saramaWait = 60 * time.Second

// saramaVersions are the protocol generations every sarama test runs with:
// sarama.V2_1_0_0 (Produce v7, Fetch v10, Metadata v7, ListOffsets v4,
// CreateTopics v3, DescribeConfigs v2: the pre-flexible encodings) and
// sarama.MaxVersion (the newest requests sarama can build, flexible
// encodings, clamped to what the broker advertises).
var saramaVersions = []struct {
	name string
	v    sarama.KafkaVersion
}{
	{"V2_1_0_0", sarama.V2_1_0_0},
	{"MaxVersion", sarama.MaxVersion},
}

// forEachSaramaVersion runs f as a parallel subtest per version in
// saramaVersions.
func forEachSaramaVersion(t *testing.T, f func(t *testing.T, v sarama.KafkaVersion)) {
	t.Helper()
	for _, sv := range saramaVersions {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			f(t, sv.v)
		})
	}
}

// saramaConfig is a sarama configuration for version v that reports
// every producer success and error and every consumer error, never retries
// a produce (so a broker error is seen, not hidden by a retry that could
// also duplicate records), and backs off briefly.
func saramaConfig(v sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = v
	c.ClientID = "streamhouse-compat-sarama"
	c.Net.DialTimeout = 10 * time.Second
	c.Net.ReadTimeout = saramaWait
	c.Net.WriteTimeout = saramaWait
	c.Metadata.Retry.Max = 3
	c.Metadata.Retry.Backoff = 20 * time.Millisecond
	c.Metadata.RefreshFrequency = 0 // no background refresh goroutine
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Retry.Max = 0
	c.Producer.Timeout = 10 * time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	c.Consumer.Retry.Backoff = 20 * time.Millisecond
	c.Admin.Timeout = 10 * time.Second
	c.Admin.Retry.Max = 0
	return c
}

func newSaramaClient(t *testing.T, addr string, c *sarama.Config) sarama.Client {
	t.Helper()
	cl, err := sarama.NewClient([]string{addr}, c)
	if err != nil {
		t.Fatalf("sarama.NewClient: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

func newSaramaAdmin(t *testing.T, addr string, c *sarama.Config) sarama.ClusterAdmin {
	t.Helper()
	a, err := sarama.NewClusterAdmin([]string{addr}, c)
	if err != nil {
		t.Fatalf("sarama.NewClusterAdmin: %v", err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// newSaramaConnectedClient is a client whose connections to the brokers
// are open before it is returned. It works around a race in sarama (seen
// as v1.61.1): Broker.Open marks the broker opened before it takes the
// lock a request waits on, so when a producer's partitions start at once,
// one can call Open, see "already connected", send first and fail with
// ErrNotConnected. sarama retries that by default; these producers do not
// retry (see saramaConfig), so the race must not happen.
func newSaramaConnectedClient(t *testing.T, addr string, c *sarama.Config) sarama.Client {
	t.Helper()
	cl := newSaramaClient(t, addr, c)
	for _, br := range cl.Brokers() {
		if err := br.Open(cl.Config()); err != nil && !errors.Is(err, sarama.ErrAlreadyConnected) {
			t.Fatalf("open broker %d: %v", br.ID(), err)
		}
		if ok, err := br.Connected(); !ok {
			t.Fatalf("connect broker %d: %v", br.ID(), err)
		}
	}
	return cl
}

// newSaramaAsyncProducer is an AsyncProducer on a connected client (see
// newSaramaConnectedClient). The caller closes it: its Close reports the
// errors not yet read.
func newSaramaAsyncProducer(t *testing.T, addr string, c *sarama.Config) sarama.AsyncProducer {
	t.Helper()
	p, err := sarama.NewAsyncProducerFromClient(newSaramaConnectedClient(t, addr, c))
	if err != nil {
		t.Fatalf("sarama.NewAsyncProducerFromClient: %v", err)
	}
	return p
}

// newSaramaSyncProducer is a SyncProducer on a connected client (see
// newSaramaConnectedClient), closed when the test ends.
func newSaramaSyncProducer(t *testing.T, addr string, c *sarama.Config) sarama.SyncProducer {
	t.Helper()
	p, err := sarama.NewSyncProducerFromClient(newSaramaConnectedClient(t, addr, c))
	if err != nil {
		t.Fatalf("sarama.NewSyncProducerFromClient: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close sync producer: %v", err)
		}
	})
	return p
}

func newSaramaConsumer(t *testing.T, addr string, c *sarama.Config) sarama.Consumer {
	t.Helper()
	co, err := sarama.NewConsumer([]string{addr}, c)
	if err != nil {
		t.Fatalf("sarama.NewConsumer: %v", err)
	}
	t.Cleanup(func() { co.Close() })
	return co
}

// saramaCreateTopic creates a topic of n partitions and replication factor
// 1 with the given configs.
func saramaCreateTopic(t *testing.T, a sarama.ClusterAdmin, name string, n int32, configs map[string]*string) {
	t.Helper()
	err := a.CreateTopic(name, &sarama.TopicDetail{NumPartitions: n, ReplicationFactor: 1, ConfigEntries: configs}, false)
	if err != nil {
		t.Fatalf("CreateTopic %s: %v", name, err)
	}
}

// saramaSendAll sends msgs as one SendMessages call, failing on any error;
// sarama fills each message's Partition and Offset.
func saramaSendAll(t *testing.T, p sarama.SyncProducer, msgs []*sarama.ProducerMessage) {
	t.Helper()
	if err := p.SendMessages(msgs); err != nil {
		var pe sarama.ProducerErrors
		if errors.As(err, &pe) && len(pe) > 0 {
			t.Fatalf("SendMessages: %d of %d failed, first: %v", len(pe), len(msgs), pe[0].Err)
		}
		t.Fatalf("SendMessages: %v", err)
	}
}

// saramaConsume reads exactly n messages of one partition from offset
// (or sarama.OffsetOldest / OffsetNewest), failing on a consumer error or
// when they do not arrive within saramaWait.
func saramaConsume(t *testing.T, co sarama.Consumer, topic string, partition int32, offset int64, n int) []*sarama.ConsumerMessage {
	t.Helper()
	pc, err := co.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatalf("ConsumePartition(%s, %d, %d): %v", topic, partition, offset, err)
	}
	defer pc.Close()
	return saramaRead(t, pc, n)
}

// saramaConsumeAll reads exactly want[p] messages from each partition p of
// topic, all partitions at once from OffsetOldest, and checks each against
// the produced message at the same position.
func saramaConsumeAll(t *testing.T, co sarama.Consumer, topic string, want map[int32][]*sarama.ProducerMessage) {
	t.Helper()
	pcs := make(map[int32]sarama.PartitionConsumer, len(want))
	// Close them together: each close waits for the fetch in flight (up
	// to Consumer.MaxWaitTime), so closing one by one would add up.
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		for _, pc := range pcs {
			pc.Close()
		}
	}()
	for p := range want {
		pc, err := co.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("ConsumePartition(%s, %d, OffsetOldest): %v", topic, p, err)
		}
		pcs[p] = pc
	}
	for p, ms := range want {
		got := saramaRead(t, pcs[p], len(ms))
		for i := range ms {
			saramaCheckMessage(t, ms[i], got[i])
		}
	}
}

// saramaRead reads exactly n messages from pc.
func saramaRead(t *testing.T, pc sarama.PartitionConsumer, n int) []*sarama.ConsumerMessage {
	t.Helper()
	out := make([]*sarama.ConsumerMessage, 0, n)
	timeout := time.NewTimer(saramaWait)
	defer timeout.Stop()
	for len(out) < n {
		select {
		case m, ok := <-pc.Messages():
			if !ok {
				t.Fatalf("messages channel closed after %d of %d messages", len(out), n)
			}
			out = append(out, m)
		case err := <-pc.Errors():
			t.Fatalf("consumer error after %d of %d messages: %v", len(out), n, err)
		case <-timeout.C:
			t.Fatalf("received %d of %d messages within %v", len(out), n, saramaWait)
		}
	}
	return out
}

// saramaHeaders turns header pairs into sarama record headers.
func saramaHeaders(kv ...string) []sarama.RecordHeader {
	hs := make([]sarama.RecordHeader, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		hs = append(hs, sarama.RecordHeader{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return hs
}

// saramaEncoded returns the bytes of a sarama Encoder, nil for a nil one.
func saramaEncoded(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// saramaSameBytes compares two byte slices, telling null (nil) from empty.
func saramaSameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// saramaCheckMessage checks that consumed message got is the produced
// message want: topic, partition, offset, key, value (null kept apart from
// empty), headers in order, and the CreateTime timestamp to the
// millisecond.
func saramaCheckMessage(t *testing.T, want *sarama.ProducerMessage, got *sarama.ConsumerMessage) {
	t.Helper()
	where := fmt.Sprintf("%s/%d@%d", got.Topic, got.Partition, got.Offset)
	if got.Topic != want.Topic || got.Partition != want.Partition || got.Offset != want.Offset {
		t.Fatalf("%s: want %s/%d@%d", where, want.Topic, want.Partition, want.Offset)
	}
	if k := saramaEncoded(t, want.Key); !saramaSameBytes(got.Key, k) {
		t.Fatalf("%s: key %s, want %s", where, saramaShow(got.Key), saramaShow(k))
	}
	if v := saramaEncoded(t, want.Value); !saramaSameBytes(got.Value, v) {
		t.Fatalf("%s: value %s, want %s", where, saramaShow(got.Value), saramaShow(v))
	}
	if len(got.Headers) != len(want.Headers) {
		t.Fatalf("%s: %d headers, want %d", where, len(got.Headers), len(want.Headers))
	}
	for i, h := range got.Headers {
		w := want.Headers[i]
		if !bytes.Equal(h.Key, w.Key) || !saramaSameBytes(h.Value, w.Value) {
			t.Fatalf("%s: header %d is %s=%s, want %s=%s", where, i, h.Key, saramaShow(h.Value), w.Key, saramaShow(w.Value))
		}
	}
	if !want.Timestamp.IsZero() && !got.Timestamp.Equal(want.Timestamp.Truncate(time.Millisecond)) {
		t.Fatalf("%s: timestamp %v, want %v", where, got.Timestamp, want.Timestamp.Truncate(time.Millisecond))
	}
}

func saramaShow(b []byte) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprintf("%q", b)
}

// saramaCheckContiguous checks that the offsets sarama returned for msgs are,
// per partition, exactly 0..n-1 (no gap, no duplicate), and returns the
// messages by partition in offset order.
func saramaCheckContiguous(t *testing.T, msgs []*sarama.ProducerMessage) map[int32][]*sarama.ProducerMessage {
	t.Helper()
	byPart := make(map[int32][]*sarama.ProducerMessage)
	for _, m := range msgs {
		byPart[m.Partition] = append(byPart[m.Partition], m)
	}
	for p, ms := range byPart {
		slices.SortFunc(ms, func(a, b *sarama.ProducerMessage) int { return int(a.Offset - b.Offset) })
		for i, m := range ms {
			if m.Offset != int64(i) {
				t.Fatalf("partition %d: offsets are not contiguous from 0: position %d holds offset %d (previous %s)",
					p, i, m.Offset, saramaNeighbour(ms, i))
			}
		}
	}
	return byPart
}

func saramaNeighbour(ms []*sarama.ProducerMessage, i int) string {
	if i == 0 {
		return "none"
	}
	return fmt.Sprint(ms[i-1].Offset)
}

// saramaTopicName makes a topic name from parts, safe for Kafka.
func saramaTopicName(parts ...string) string {
	r := strings.NewReplacer(" ", "-", "/", "-", "_", "-")
	return r.Replace(strings.ToLower(strings.Join(parts, "-")))
}

func saramaStr(s string) *string { return &s }

// saramaCheckStoredBatches fetches a partition with a raw sarama Fetch and
// checks that its batches are RecordBatch v2 with the given codec and
// timestamp type, leader epoch 0 and base offsets that follow each other
// from 0 to end.
func saramaCheckStoredBatches(t *testing.T, addr string, v sarama.KafkaVersion, topic string, partition int32, end int64, codec sarama.CompressionCodec, logAppendTime bool) {
	t.Helper()
	cl := newSaramaClient(t, addr, saramaConfig(v))
	br, err := cl.Leader(topic, partition)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	for range 100 { // bounded: each round returns at least one batch
		if next == end {
			return
		}
		blk := saramaFetch(t, br, v, topic, partition, next)
		if !errors.Is(blk.Err, sarama.ErrNoError) {
			t.Fatalf("fetch %s/%d@%d: %v", topic, partition, next, blk.Err)
		}
		if blk.HighWaterMarkOffset != end || blk.LastStableOffset != end || blk.LogStartOffset != 0 {
			t.Fatalf("fetch: high watermark %d, last stable %d, log start %d; want %d, %d, 0",
				blk.HighWaterMarkOffset, blk.LastStableOffset, blk.LogStartOffset, end, end)
		}
		if len(blk.RecordsSet) == 0 {
			t.Fatalf("fetch %s/%d@%d below the high watermark %d returned no records", topic, partition, next, end)
		}
		for _, rs := range blk.RecordsSet {
			rb := rs.RecordBatch
			if rb == nil {
				t.Fatalf("fetch returned a legacy message set, want RecordBatch v2")
			}
			if rb.PartialTrailingRecord {
				continue
			}
			if rb.Version != 2 || rb.Codec != codec || rb.PartitionLeaderEpoch != 0 || rb.FirstOffset != next || rb.Control {
				t.Fatalf("batch at %d: version %d codec %v leader epoch %d base offset %d control %v; want 2, %v, 0, %d, false",
					next, rb.Version, rb.Codec, rb.PartitionLeaderEpoch, rb.FirstOffset, rb.Control, codec, next)
			}
			if rb.LogAppendTime != logAppendTime {
				t.Fatalf("batch at %d: LogAppendTime %v, want %v", next, rb.LogAppendTime, logAppendTime)
			}
			if len(rb.Records) != int(rb.LastOffsetDelta)+1 {
				t.Fatalf("batch at %d: %d records, last offset delta %d", next, len(rb.Records), rb.LastOffsetDelta)
			}
			next += int64(rb.LastOffsetDelta) + 1
		}
	}
	t.Fatalf("stored batches did not reach offset %d (at %d)", end, next)
}

// saramaFetch sends one raw Fetch for a partition (v10 for V2_1_0_0, v12 for
// newer) and returns its block.
func saramaFetch(t *testing.T, br *sarama.Broker, v sarama.KafkaVersion, topic string, partition int32, offset int64) *sarama.FetchResponseBlock {
	t.Helper()
	req := &sarama.FetchRequest{Version: 10, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20}
	if v.IsAtLeast(sarama.V2_7_0_0) {
		req.Version = 12
	}
	req.AddBlock(topic, partition, offset, 1<<20, -1)
	resp, err := br.Fetch(req)
	if err != nil {
		t.Fatalf("fetch %s/%d@%d: %v", topic, partition, offset, err)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch %s/%d@%d: top-level error %v", topic, partition, offset, resp.ErrorCode)
	}
	blk := resp.GetBlock(topic, partition)
	if blk == nil {
		t.Fatalf("fetch %s/%d@%d: no block for the partition in the response", topic, partition, offset)
	}
	return blk
}

func saramaShowMetadata(md []*sarama.TopicMetadata) string {
	var s []string
	for _, m := range md {
		s = append(s, fmt.Sprintf("%s: %v, %d partitions", m.Name, m.Err, len(m.Partitions)))
	}
	return "[" + strings.Join(s, "; ") + "]"
}

func saramaShowSynonyms(syns []*sarama.ConfigSynonym) string {
	var s []string
	for _, syn := range syns {
		s = append(s, fmt.Sprintf("%s=%s (%v)", syn.ConfigName, syn.ConfigValue, syn.Source))
	}
	return "[" + strings.Join(s, ", ") + "]"
}
