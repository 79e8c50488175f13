package compattests

// franz-go (kgo, kadm, kmsg) against a real broker over TCP: produce and
// consume with every codec and acks level, offset listing by time,
// topic administration, max.message.bytes, the fetch long poll and topic
// auto-creation. Each test (or subtest) gets its own broker and data
// directory from brokertest.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// fgCodecs are the five codecs of Kafka's RecordBatch v2, with their
// attribute value.
var fgCodecs = []struct {
	name  string
	codec kgo.CompressionCodec
	id    int8
}{
	{"none", kgo.NoCompression(), 0},
	{"gzip", kgo.GzipCompression(), 1},
	{"snappy", kgo.SnappyCompression(), 2},
	{"lz4", kgo.Lz4Compression(), 3},
	{"zstd", kgo.ZstdCompression(), 4},
}

// TestFranzGoProduceConsumeCodecs produces 10,000 keyed records with two
// headers each per codec into a three-partition topic and consumes them
// back: same keys, values (null and empty told apart), headers and
// timestamps, produce order within each partition, offsets contiguous from
// 0, and nothing more. Every acks level is used: all, 1 and 0; the
// consumer also reads with read_committed and with one-byte fetch limits,
// and one case uses only Kafka 2.1's request versions.
func TestFranzGoProduceConsumeCodecs(t *testing.T) {
	t.Parallel()
	const n = 10_000
	// Each codec with an acks level and, for some, a way of consuming:
	// read_committed (the last stable offset, equal to the high watermark
	// without transactions), fetches limited to one byte (the broker must
	// still answer with one whole batch, KIP-74), or clients limited to
	// Kafka 2.1's requests (Produce v7, Fetch v10, ListOffsets v4,
	// Metadata v7: no flexible encodings, no topic ids).
	cases := []struct {
		codec   int // index in fgCodecs
		acks    string
		client  []kgo.Opt // producer and consumer
		consume []kgo.Opt
	}{
		{0, "all", nil, nil},
		{1, "1", []kgo.Opt{kgo.MaxVersions(kversion.V2_1_0())}, nil},
		{2, "0", nil, nil},
		{3, "all", nil, []kgo.Opt{kgo.FetchMaxBytes(1), kgo.FetchMaxPartitionBytes(1)}},
		{4, "1", nil, []kgo.Opt{kgo.FetchIsolationLevel(kgo.ReadCommitted())}},
	}
	ackLevels := map[string]kgo.Acks{"all": kgo.AllISRAcks(), "1": kgo.LeaderAck(), "0": kgo.NoAck()}
	for _, cc := range cases {
		c := fgCodecs[cc.codec]
		acks := ackLevels[cc.acks]
		name := c.name + "_acks_" + cc.acks
		if cc.client != nil {
			name += "_kafka2.1"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := brokertest.New(t)
			adm := fgAdmin(t, b.Addr())
			topic := "codec-" + c.name
			fgCreateTopic(t, adm, topic, 3, nil)

			opts := append([]kgo.Opt{kgo.ProducerBatchCompression(c.codec), kgo.RequiredAcks(acks)}, cc.client...)
			if cc.acks != "all" {
				opts = append(opts, kgo.DisableIdempotentWrite()) // kgo: idempotence needs acks=all
			}
			prod := fgClient(t, b.Addr(), opts...)
			recs := fgCodecRecords(topic, c.name, n)
			fgProduceAll(t, prod, recs)
			want := fgByPartition(recs)
			if len(want) != 3 {
				t.Fatalf("keys went to %d partitions, want all 3", len(want))
			}
			if acks != kgo.NoAck() {
				// The offsets the broker answered are contiguous per
				// partition, in produce order.
				for p, rs := range want {
					for i, r := range rs {
						if r.Offset != int64(i) {
							t.Fatalf("partition %d: record %d acknowledged at offset %d, want %d", p, i, r.Offset, i)
						}
					}
				}
			}

			got := fgConsume(t, b.Addr(), topic, 3, n, slices.Concat(cc.client, cc.consume)...)
			fgCheckConsumed(t, want, got, nil)
			end := fgEndOffsets(t, adm, topic)
			for p := range int32(3) {
				if end[p] != int64(len(want[p])) {
					t.Errorf("partition %d: end offset %d, want %d", p, end[p], len(want[p]))
				}
			}

			// The batches are stored as the producer compressed them
			// (kgo sends a batch uncompressed when compressing would not
			// make it smaller, so some may be plain).
			raw := fgDialRaw(t, b.Addr())
			for p := range int32(3) {
				bs := raw.batches(topic, p)
				compressed, records := 0, 0
				for _, rb := range bs {
					if cd := fgCodec(rb); cd != c.id && cd != 0 {
						t.Errorf("partition %d: batch at %d has codec %d, want %d or none", p, rb.FirstOffset, cd, c.id)
					} else if cd == c.id {
						compressed++
					}
					records += int(rb.NumRecords)
				}
				if records != len(want[p]) {
					t.Errorf("partition %d: stored batches hold %d records, want %d", p, records, len(want[p]))
				}
				if compressed == 0 {
					t.Errorf("partition %d: none of %d batches is %s", p, len(bs), c.name)
				}
			}
		})
	}
}

// fgCodecRecords makes n keyed records with two headers each and
// compressible values of varied length. Every 1000th record is a tombstone
// (null value) whose second header value is null too; another in each
// thousand has an empty value.
func fgCodecRecords(topic, codec string, n int) []*kgo.Record {
	rng := rand.New(rand.NewPCG(1, uint64(len(codec))))
	now := time.Now()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		v := fmt.Appendf(nil, "value %d of %s: ", i, topic)
		v = append(v, bytes.Repeat([]byte("streamhouse "), i%40)...)
		for range 8 {
			v = append(v, byte(rng.Uint32()))
		}
		r := &kgo.Record{
			Topic:     topic,
			Key:       fmt.Appendf(nil, "key-%05d", i),
			Value:     v,
			Timestamp: now.Add(time.Duration(i) * time.Millisecond),
			Headers: []kgo.RecordHeader{
				{Key: "seq", Value: strconv.AppendInt(nil, int64(i), 10)},
				{Key: "codec", Value: []byte(codec)},
			},
		}
		switch i % 1000 {
		case 999:
			r.Value = nil
			r.Headers[1].Value = nil
		case 500:
			r.Value = []byte{}
		}
		recs[i] = r
	}
	return recs
}

// TestFranzGoConcurrentProducers: four producers write 2,500 records
// each at the same time (acks=all, so their appends share fsyncs) into the
// same three partitions. Every record is stored exactly once at the offset
// its producer was told, each partition's offsets are contiguous, and each
// producer's records keep their order within a partition.
func TestFranzGoConcurrentProducers(t *testing.T) {
	t.Parallel()
	const producers, each = 4, 2500
	b := brokertest.New(t)
	adm := fgAdmin(t, b.Addr())
	const topic = "shared"
	fgCreateTopic(t, adm, topic, 3, nil)
	ctx := fgCtx(t)

	recs := make([][]*kgo.Record, producers)
	errs := make([]error, producers)
	var wg sync.WaitGroup
	for i := range producers {
		recs[i] = make([]*kgo.Record, each)
		for j := range recs[i] {
			recs[i][j] = &kgo.Record{
				Topic: topic,
				Key:   fmt.Appendf(nil, "p%d-%d", i, j),
				Value: fmt.Appendf(nil, "producer %d record %d %s", i, j, strings.Repeat("v", j%64)),
				Headers: []kgo.RecordHeader{
					{Key: "producer", Value: []byte(strconv.Itoa(i))},
					{Key: "seq", Value: []byte(strconv.Itoa(j))},
				},
			}
		}
		cl := fgClient(t, b.Addr(), kgo.ProducerBatchCompression(fgCodecs[i%len(fgCodecs)].codec))
		wg.Go(func() { errs[i] = cl.ProduceSync(ctx, recs[i]...).FirstErr() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("producer %d: %v", i, err)
		}
	}

	got := fgConsume(t, b.Addr(), topic, 3, producers*each)
	byKey := make(map[string]*kgo.Record, producers*each)
	for p, rs := range got {
		for i, r := range rs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d at offset %d: offsets must be contiguous from 0", p, i, r.Offset)
			}
			if byKey[string(r.Key)] != nil {
				t.Fatalf("key %s stored twice", r.Key)
			}
			byKey[string(r.Key)] = r
		}
	}
	for i := range producers {
		last := map[int32]int64{}
		for _, w := range recs[i] {
			g := byKey[string(w.Key)]
			switch {
			case g == nil:
				t.Fatalf("producer %d: record %s was acknowledged but is not stored", i, w.Key)
			case g.Partition != w.Partition || g.Offset != w.Offset:
				t.Fatalf("producer %d: record %s acknowledged at %d/%d but stored at %d/%d", i, w.Key, w.Partition, w.Offset, g.Partition, g.Offset)
			}
			if err := fgSameRecord(w, g); err != nil {
				t.Fatalf("producer %d: %v", i, err)
			}
			if prev, ok := last[g.Partition]; ok && g.Offset <= prev {
				t.Fatalf("producer %d: record %s at offset %d of partition %d, before its predecessor at %d", i, w.Key, g.Offset, g.Partition, prev)
			}
			last[g.Partition] = g.Offset
		}
	}
	end := fgEndOffsets(t, adm, topic)
	if sum := end[0] + end[1] + end[2]; sum != producers*each {
		t.Errorf("end offsets sum to %d, want %d", sum, producers*each)
	}
}

// TestFranzGoListOffsets lists offsets by time in four partitions: one
// with increasing timestamps over three batches (a timestamp repeated
// inside one), one whose timestamps go back and forth (the max appears in
// two batches), an empty one, and one whose records are all older than
// the others. Per codec, so that the broker must decompress a batch to
// find the exact record; and with a dense index and a segment per batch.
// Kafka's answer: the first record, in log order, whose timestamp is at or
// after the one asked for (offset and timestamp -1 when there is none,
// which kadm turns into the end offset); for -3 the first record holding
// the largest timestamp.
func TestFranzGoListOffsets(t *testing.T) {
	t.Parallel()
	// Timestamps of each partition's batches, as offsets from base.
	// Partition 3's batch is produced first and alone, so that the
	// producer knows the topic's partitions before the other batches are
	// buffered (kgo may otherwise split a partition's first records into
	// two batches as it learns them).
	layout := map[int32][][]int64{
		0: {{0, 10, 20, 30, 40}, {100, 110, 120, 130, 140}, {200, 210, 210, 220, 230}},
		1: {{50, 500, 300}, {500, 150, 20}, {450, 60}},
		3: {{-10_000, -5_000}},
	}
	flushes := [][]int32{{3}, {0, 1}, {0, 1}, {0, 1}}
	const parts = 4 // partition 2 stays empty
	queries := []int64{-1000, 0, 5, 40, 41, 60, 100, 120, 141, 205, 210, 230, 231, 350, 450, 500, 501, 1_000_000}

	cases := []struct {
		name    string
		codec   kgo.CompressionCodec
		id      int8
		configs map[string]string
	}{
		{"segment_per_batch_zstd", kgo.ZstdCompression(), 4, map[string]string{"segment.ms": "1", "index.interval.bytes": "0"}},
		{"dense_index_none", kgo.NoCompression(), 0, map[string]string{"index.interval.bytes": "0"}},
	}
	for _, c := range fgCodecs {
		cases = append(cases, struct {
			name    string
			codec   kgo.CompressionCodec
			id      int8
			configs map[string]string
		}{c.name, c.codec, c.id, nil})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := brokertest.New(t)
			adm := fgAdmin(t, b.Addr())
			topic := "times-" + strings.ReplaceAll(c.name, "_", "-")
			fgCreateTopic(t, adm, topic, parts, c.configs)
			base := time.Now().Add(-time.Hour).UnixMilli()

			// One Flush per batch: ManualFlushing keeps every record
			// buffered until then, so each partition gets exactly one
			// batch per round.
			prod := fgClient(t, b.Addr(),
				kgo.ManualFlushing(),
				kgo.RecordPartitioner(kgo.ManualPartitioner()),
				kgo.ProducerBatchCompression(c.codec),
			)
			flat := map[int32][]int64{} // absolute timestamps in log order
			next := map[int32]int{}     // each partition's next batch
			for _, ps := range flushes {
				var recs []*kgo.Record
				for _, p := range ps {
					round := next[p]
					next[p]++
					for i, d := range layout[p][round] {
						recs = append(recs, &kgo.Record{
							Topic:     topic,
							Partition: p,
							Key:       fmt.Appendf(nil, "p%d-b%d-r%d", p, round, i),
							Value:     bytes.Repeat([]byte{'x'}, 300),
							Timestamp: time.UnixMilli(base + d),
						})
						flat[p] = append(flat[p], base+d)
					}
				}
				fgProduceAll(t, prod, recs)
				// Segments roll on the wall clock with segment.ms=1: let
				// it tick so that each batch gets its own (the answers
				// below hold however the log is split).
				time.Sleep(3 * time.Millisecond)
			}

			// The batches are as intended: one per round, compressed
			// with the codec.
			raw := fgDialRaw(t, b.Addr())
			for p := range int32(parts) {
				bs := raw.batches(topic, p)
				if len(bs) != len(layout[p]) {
					t.Fatalf("partition %d: %d batches stored, want %d", p, len(bs), len(layout[p]))
				}
				for i, rb := range bs {
					if fgCodec(rb) != c.id || int(rb.NumRecords) != len(layout[p][i]) {
						t.Fatalf("partition %d batch %d: codec %d with %d records, want codec %d with %d",
							p, i, fgCodec(rb), rb.NumRecords, c.id, len(layout[p][i]))
					}
				}
			}

			end := map[int32]int64{}
			for p := range int32(parts) {
				end[p] = int64(len(flat[p]))
			}
			ctx := fgCtx(t)
			check := func(what string, l kadm.ListedOffsets, err error, want func(p int32) (off, ts int64)) {
				t.Helper()
				if err == nil {
					err = l.Error()
				}
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				for p := range int32(parts) {
					o, ok := l.Lookup(topic, p)
					wo, wts := want(p)
					switch {
					case !ok:
						t.Errorf("%s: partition %d missing", what, p)
					case o.Offset != wo || (wts != 0 && o.Timestamp != wts):
						t.Errorf("%s: partition %d: offset %d timestamp %d, want offset %d timestamp %d",
							what, p, o.Offset, o.Timestamp, wo, wts)
					}
				}
			}

			l, err := adm.ListStartOffsets(ctx, topic)
			check("ListStartOffsets", l, err, func(int32) (int64, int64) { return 0, 0 })
			l, err = adm.ListLocalLogStartOffsets(ctx, topic)
			check("ListLocalLogStartOffsets (-4)", l, err, func(int32) (int64, int64) { return 0, 0 })
			l, err = adm.ListEndOffsets(ctx, topic)
			check("ListEndOffsets", l, err, func(p int32) (int64, int64) { return end[p], 0 })
			l, err = adm.ListCommittedOffsets(ctx, topic) // read_committed: the last stable offset
			check("ListCommittedOffsets", l, err, func(p int32) (int64, int64) { return end[p], 0 })
			l, err = adm.ListLatestRemoteOffsets(ctx, topic)
			check("ListLatestRemoteOffsets (-5)", l, err, func(int32) (int64, int64) { return -1, 0 })

			// -3: the first record holding the largest timestamp.
			maxTS := func(p int32) (int64, int64) {
				if len(flat[p]) == 0 {
					return -1, -1
				}
				m := slices.Max(flat[p])
				return int64(slices.Index(flat[p], m)), m
			}
			l, err = adm.ListMaxTimestampOffsets(ctx, topic)
			check("ListMaxTimestampOffsets (-3)", l, err, maxTS)
			for p := range int32(parts) {
				wo, wts := maxTS(p)
				if got := raw.listOffset(7, topic, p, -3); got.ErrorCode != 0 || got.Offset != wo || got.Timestamp != wts {
					t.Errorf("ListOffsets v7 -3 partition %d: %v offset %d timestamp %d, want offset %d timestamp %d",
						p, kerr.ErrorForCode(got.ErrorCode), got.Offset, got.Timestamp, wo, wts)
				}
			}

			// Seeking to an offset inside a (compressed) batch: the broker
			// serves the whole batch and the consumer starts exactly at
			// the offset.
			from := map[int32]kgo.Offset{0: kgo.NewOffset().At(7), 1: kgo.NewOffset().At(4), 3: kgo.NewOffset().At(1)}
			n := 0
			for p, o := range from {
				n += int(end[p] - o.EpochOffset().Offset)
			}
			tsAt := func(p int32, o int64) int64 {
				if o < 0 || o >= int64(len(flat[p])) {
					return -1
				}
				return flat[p][o]
			}
			for p, rs := range fgConsumeFrom(t, b.Addr(), topic, from, n) {
				first := from[p].EpochOffset().Offset
				for i, r := range rs {
					wo := first + int64(i)
					if r.Offset != wo || r.Timestamp.UnixMilli() != tsAt(p, wo) {
						t.Errorf("consume partition %d from %d: record %d is offset %d timestamp %d, want offset %d timestamp %d",
							p, first, i, r.Offset, r.Timestamp.UnixMilli(), wo, tsAt(p, wo))
						break
					}
				}
			}

			// A time: the first record at or after it, in log order.
			first := func(p int32, ts int64) (int64, int64) {
				for i, rts := range flat[p] {
					if rts >= ts {
						return int64(i), rts
					}
				}
				return -1, -1
			}
			for _, q := range queries {
				ts := base + q
				l, err := adm.ListOffsetsAfterMilli(ctx, ts, topic)
				check(fmt.Sprintf("ListOffsetsAfterMilli(base%+d)", q), l, err, func(p int32) (int64, int64) {
					if off, rts := first(p, ts); off >= 0 {
						return off, rts
					}
					return end[p], -1 // kadm asks again for the end offset
				})
				// The broker's own answer, at the oldest and newest
				// versions: -1 and -1 when no record is that recent.
				for _, v := range []int16{1, 11} {
					for p := range int32(parts) {
						wo, wts := first(p, ts)
						got := raw.listOffset(v, topic, p, ts)
						wantEpoch := int32(0)
						if wo < 0 {
							wantEpoch = -1
						}
						if got.ErrorCode != 0 || got.Offset != wo || got.Timestamp != wts || (v >= 4 && got.LeaderEpoch != wantEpoch) {
							t.Errorf("ListOffsets v%d base%+d partition %d: %v offset %d timestamp %d epoch %d, want offset %d timestamp %d epoch %d",
								v, q, p, kerr.ErrorForCode(got.ErrorCode), got.Offset, got.Timestamp, got.LeaderEpoch, wo, wts, wantEpoch)
						}
					}
				}
			}
		})
	}
}

// TestFranzGoTopicAdmin creates topics with configs and validate-only,
// checks each refusal Kafka gives with its error code, lists and describes
// topics and configs, deletes by name and by topic ID, and recreates a
// deleted topic, which starts empty.
func TestFranzGoTopicAdmin(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	adm := fgAdmin(t, b.Addr())
	ctx := fgCtx(t)

	configs := map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact", "max.message.bytes": "200000"}
	created := fgCreateTopic(t, adm, "configured", 2, configs)
	if created.NumPartitions != 2 || created.ReplicationFactor != 1 || created.ID == (kadm.TopicID{}) {
		t.Errorf("create: %d partitions, replication factor %d, id %v; want 2, 1 and an id", created.NumPartitions, created.ReplicationFactor, created.ID)
	}
	for k, v := range configs {
		c, ok := created.Configs[k]
		if !ok || c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("create response config %s: %+v, want %s from DYNAMIC_TOPIC_CONFIG", k, c, v)
		}
	}
	if c := created.Configs["segment.bytes"]; c.Value == nil || *c.Value != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("create response config segment.bytes: %+v, want 1073741824 from DEFAULT_CONFIG", c)
	}

	// Validate-only checks and answers as a creation would, and creates
	// nothing.
	rs, err := adm.ValidateCreateTopics(ctx, 4, 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")}, "validated")
	if err != nil {
		t.Fatal(err)
	}
	if r := rs["validated"]; r.Err != nil || r.NumPartitions != 4 {
		t.Errorf("validate only: %v (%s), %d partitions; want success with 4", r.Err, r.ErrMessage, r.NumPartitions)
	}

	long := strings.Repeat("a", 249)
	fgCreateTopic(t, adm, long, 1, nil) // 249 characters is the longest name
	fgCreateTopic(t, adm, "dotted.name", 1, nil)

	refusals := []struct {
		name         string
		topic        string
		partitions   int32
		replication  int16
		configs      map[string]*string
		validateOnly bool
		want         *kerr.Error
	}{
		{"duplicate", "configured", 1, 1, nil, false, kerr.TopicAlreadyExists},
		{"duplicate validate only", "configured", 1, 1, nil, true, kerr.TopicAlreadyExists},
		{"slash", "bad/name", 1, 1, nil, false, kerr.InvalidTopicException},
		{"dot dot", "..", 1, 1, nil, false, kerr.InvalidTopicException},
		{"dot", ".", 1, 1, nil, false, kerr.InvalidTopicException},
		{"empty", "", 1, 1, nil, false, kerr.InvalidTopicException},
		{"250 characters", strings.Repeat("b", 250), 1, 1, nil, false, kerr.InvalidTopicException},
		{"collides after folding . and _", "dotted_name", 1, 1, nil, false, kerr.InvalidTopicException},
		{"replication factor 3", "rf3", 1, 3, nil, false, kerr.InvalidReplicationFactor},
		{"replication factor 3 validate only", "rf3", 1, 3, nil, true, kerr.InvalidReplicationFactor},
		{"zero partitions", "zero", 0, 1, nil, false, kerr.InvalidPartitions},
		{"unknown config", "unknown-config", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, false, kerr.InvalidConfig},
		{"unknown config validate only", "unknown-config", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, true, kerr.InvalidConfig},
		{"bad value", "bad-value", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, false, kerr.InvalidConfig},
		{"null config value", "null-value", 1, 1, map[string]*string{"retention.ms": nil}, false, kerr.InvalidConfig},
		{"bad cleanup policy", "bad-policy", 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("shred")}, false, kerr.InvalidConfig},
	}
	for _, r := range refusals {
		create := adm.CreateTopics
		if r.validateOnly {
			create = adm.ValidateCreateTopics
		}
		rs, err := create(ctx, r.partitions, r.replication, r.configs, r.topic)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if got := rs[r.topic]; !fgIsErr(got.Err, r.want) {
			t.Errorf("%s: create %q: %v (%s), want %v", r.name, r.topic, got.Err, got.ErrMessage, r.want)
		}
	}
	// The same name twice in one request: INVALID_REQUEST.
	if rs, err := adm.CreateTopics(ctx, 1, 1, nil, "twice", "twice"); err != nil || !fgIsErr(rs["twice"].Err, kerr.InvalidRequest) {
		t.Errorf("create the same topic twice in one request: %v %v, want INVALID_REQUEST", err, rs["twice"].Err)
	}
	// -1 partitions and replication factor: the broker's defaults.
	if r, err := adm.CreateTopic(ctx, -1, -1, nil, "defaults"); err != nil || r.NumPartitions != 1 || r.ReplicationFactor != 1 {
		t.Errorf("create with -1/-1: %v, %d partitions, replication factor %d; want 1 and 1", err, r.NumPartitions, r.ReplicationFactor)
	}

	// Only the topics created are listed; the validated and refused ones
	// are not.
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTopics := []string{long, "configured", "defaults", "dotted.name"}
	slices.Sort(wantTopics)
	if got := tds.Names(); !slices.Equal(got, wantTopics) {
		t.Errorf("topics %q, want %q", got, wantTopics)
	}
	if td := tds["configured"]; len(td.Partitions) != 2 || td.ID != created.ID {
		t.Errorf("configured: %d partitions, id %v; want 2, %v", len(td.Partitions), td.ID, created.ID)
	} else {
		for p, pd := range td.Partitions {
			if pd.Err != nil || pd.Leader != fgNode || !slices.Equal(pd.Replicas, []int32{fgNode}) || !slices.Equal(pd.ISR, []int32{fgNode}) {
				t.Errorf("configured partition %d: %+v, want leader, replica and ISR %d", p, pd, fgNode)
			}
		}
	}

	rcs, err := adm.DescribeTopicConfigs(ctx, "configured", "missing")
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range rcs {
		switch rc.Name {
		case "missing":
			if !fgIsErr(rc.Err, kerr.UnknownTopicOrPartition) {
				t.Errorf("describe configs of a missing topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", rc.Err)
			}
		case "configured":
			if rc.Err != nil {
				t.Fatalf("describe configs: %v", rc.Err)
			}
			got := map[string]kadm.Config{}
			for _, c := range rc.Configs {
				got[c.Key] = c
			}
			for k, v := range configs {
				if c := got[k]; c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
					t.Errorf("described config %s: %+v, want %s from DYNAMIC_TOPIC_CONFIG", k, c, v)
				}
			}
			if c := got["segment.bytes"]; c.Value == nil || *c.Value != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
				t.Errorf("described config segment.bytes: %+v, want 1073741824 from DEFAULT_CONFIG", c)
			}
		}
	}

	// Delete by name, with a producer that knows the topic.
	prod := fgClient(t, b.Addr(), kgo.UnknownTopicRetries(2), kgo.DefaultProduceTopic("configured"))
	fgProduceSync(t, prod, &kgo.Record{Key: []byte("k"), Value: []byte("before delete")})
	if r, err := adm.DeleteTopic(ctx, "configured"); err != nil {
		t.Fatalf("delete configured: %v (%s)", err, r.ErrMessage)
	}
	if r, err := adm.DeleteTopic(ctx, "never-was"); !fgIsErr(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete a missing topic: %v (%s), want UNKNOWN_TOPIC_OR_PARTITION", err, r.ErrMessage)
	}
	fgCheckGone(t, b.Addr(), "configured", created.ID)
	err = prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("after delete")}).FirstErr()
	if !fgIsErr(err, kerr.UnknownTopicOrPartition) && !fgIsErr(err, kerr.UnknownTopicID) {
		t.Errorf("produce to a deleted topic: %v, want UNKNOWN_TOPIC_OR_PARTITION (or UNKNOWN_TOPIC_ID)", err)
	}
	fgCheckGone(t, b.Addr(), "configured", created.ID) // the producer did not bring it back

	// Delete by topic ID (DeleteTopics v6).
	byID := fgCreateTopic(t, adm, "by-id", 1, nil)
	raw := fgDialRaw(t, b.Addr())
	del := func(name *string, id [16]byte) kmsg.DeleteTopicsResponseTopic {
		t.Helper()
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10_000
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = name, id
		req.Topics = append(req.Topics, rt)
		resp := raw.do(req, 6).(*kmsg.DeleteTopicsResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("DeleteTopics v6: %d topics in the answer, want 1", len(resp.Topics))
		}
		return resp.Topics[0]
	}
	if got := del(kmsg.StringPtr("by-id"), byID.ID); got.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("DeleteTopics v6 with both name and id: %v, want INVALID_REQUEST", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := del(nil, [16]byte{1, 2, 3}); got.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("DeleteTopics v6 with an unknown id: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := del(nil, byID.ID); got.ErrorCode != 0 || got.Topic == nil || *got.Topic != "by-id" || got.TopicID != byID.ID {
		t.Errorf("DeleteTopics v6 by id: %v, topic %v id %v; want success naming by-id", kerr.ErrorForCode(got.ErrorCode), got.Topic, got.TopicID)
	}
	fgCheckGone(t, b.Addr(), "by-id", byID.ID)

	// Delete and create again: the new topic starts empty at offset 0,
	// even where the old one had data and with more partitions than it.
	old := fgCreateTopic(t, adm, "phoenix", 2, nil)
	oldRecs := make([]*kgo.Record, 50)
	for i := range oldRecs {
		oldRecs[i] = &kgo.Record{Topic: "phoenix", Key: fmt.Appendf(nil, "old-%d", i), Value: []byte("old")}
	}
	fgProduceSync(t, prod, oldRecs...)
	if _, err := adm.DeleteTopic(ctx, "phoenix"); err != nil {
		t.Fatal(err)
	}
	reborn := fgCreateTopic(t, adm, "phoenix", 3, nil)
	if reborn.ID == old.ID {
		t.Errorf("the recreated topic has the deleted one's id %v", old.ID)
	}
	fresh := fgAdmin(t, b.Addr()) // no cached metadata of the old topic
	for what, f := range map[string]func(context.Context, ...string) (kadm.ListedOffsets, error){
		"start": fresh.ListStartOffsets, "end": fresh.ListEndOffsets,
	} {
		l, err := f(ctx, "phoenix")
		offs := fgListed(t, "phoenix", l, err)
		for p := range int32(3) {
			if o, ok := offs[p]; !ok || o != 0 {
				t.Errorf("recreated topic: partition %d %s offset %d, want 0", p, what, offs[p])
			}
		}
	}
	newRecs := make([]*kgo.Record, 6)
	for i := range newRecs {
		newRecs[i] = &kgo.Record{Topic: "phoenix", Key: fmt.Appendf(nil, "new-%d", i), Value: []byte("new")}
	}
	// A new producer: kgo never adopts the new ID of a recreated topic it
	// has produced to (it fails it with UNKNOWN_TOPIC_ID until purged).
	fgProduceSync(t, fgClient(t, b.Addr()), newRecs...)
	want := fgByPartition(newRecs)
	for p, rs := range want {
		if rs[0].Offset != 0 {
			t.Errorf("recreated topic: first record of partition %d at offset %d, want 0", p, rs[0].Offset)
		}
	}
	fgCheckConsumed(t, want, fgConsume(t, b.Addr(), "phoenix", 3, len(newRecs)), nil)
	end := fgEndOffsets(t, fresh, "phoenix")
	for p := range int32(3) {
		if end[p] != int64(len(want[p])) {
			t.Errorf("recreated topic: partition %d end offset %d, want %d", p, end[p], len(want[p]))
		}
	}
}

// fgCheckGone checks that a deleted topic is unknown to Metadata, by name
// and by id, to DescribeConfigs and to Produce by name (v12) and by id
// (v13), and is not listed.
func fgCheckGone(t *testing.T, addr, topic string, id [16]byte) {
	t.Helper()
	ctx := fgCtx(t)
	adm := fgAdmin(t, addr) // a new client: kadm answers Metadata from kgo's cache
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatalf("metadata of deleted %s: %v", topic, err)
	}
	if td := tds[topic]; !fgIsErr(td.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("metadata of deleted %s: %v with %d partitions and id %v (deleted id %v), want UNKNOWN_TOPIC_OR_PARTITION", topic, td.Err, len(td.Partitions), td.ID, kadm.TopicID(id))
	}
	all, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if all.Has(topic) {
		t.Errorf("deleted %s is still listed", topic)
	}
	raw := fgDialRaw(t, addr)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = id
	req.Topics = append(req.Topics, rt)
	if resp := raw.do(req, 12).(*kmsg.MetadataResponse); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("metadata v12 of deleted %s by id: %+v, want UNKNOWN_TOPIC_ID", topic, resp.Topics)
	}
	batch := fgBatch(time.Now().UnixMilli(), []byte("v"))
	if got := raw.produce(12, topic, [16]byte{}, 0, batch); got.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("produce v12 to deleted %s: %v, want UNKNOWN_TOPIC_OR_PARTITION", topic, kerr.ErrorForCode(got.ErrorCode))
	}
	if got := raw.produce(13, "", id, 0, batch); got.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("produce v13 to deleted %s by id: %v, want UNKNOWN_TOPIC_ID", topic, kerr.ErrorForCode(got.ErrorCode))
	}
}

// TestFranzGoMaxMessageBytes: with max.message.bytes=10000 a batch above
// it is refused with MESSAGE_TOO_LARGE and takes no offset, one of exactly
// 10000 bytes is taken, and the limit applies to the compressed size only,
// as Kafka's does (records that expand far past it are taken).
func TestFranzGoMaxMessageBytes(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	adm := fgAdmin(t, b.Addr())
	const topic = "limited"
	fgCreateTopic(t, adm, topic, 1, map[string]string{"max.message.bytes": "10000"})
	ctx := fgCtx(t)
	rng := rand.New(rand.NewPCG(7, 7))
	random := func(n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(rng.Uint32())
		}
		return out
	}

	// One record per ProduceSync, so one record per batch.
	plain := fgClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordRetries(1))
	var accepted []*kgo.Record
	produce := func(cl *kgo.Client, value []byte, wantErr *kerr.Error) {
		t.Helper()
		r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", len(value)), Value: value}
		err := cl.ProduceSync(ctx, r).FirstErr()
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("produce %d bytes: %v", len(value), err)
		case wantErr != nil && !fgIsErr(err, wantErr):
			t.Fatalf("produce %d bytes: %v, want %v", len(value), err, wantErr)
		case wantErr == nil:
			if r.Offset != int64(len(accepted)) {
				t.Errorf("record of %d bytes at offset %d, want %d", len(value), r.Offset, len(accepted))
			}
			accepted = append(accepted, r)
		}
	}
	produce(plain, random(5000), nil)
	produce(plain, random(20_000), kerr.MessageTooLarge)
	produce(plain, random(9000), nil)
	produce(plain, random(10_001), kerr.MessageTooLarge)
	produce(plain, nil, nil)

	// The limit is on the batch as sent, compressed, as Kafka checks it,
	// whatever its records expand to: 9,000, 50,000 and 500,000 bytes
	// that gzip small all pass.
	gz := fgClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.RecordRetries(1))
	produce(gz, bytes.Repeat([]byte("z"), 9_000), nil)
	produce(gz, bytes.Repeat([]byte("z"), 50_000), nil)
	produce(gz, bytes.Repeat([]byte("z"), 500_000), nil)

	// The limit is on the whole batch, as stored: 10000 bytes pass, 10001
	// do not.
	raw := fgDialRaw(t, b.Addr())
	ts := time.Now().UnixMilli()
	tooBig, _ := fgBatchOfSize(ts, 10_001)
	exact, value := fgBatchOfSize(ts, 10_000)
	if got := raw.produce(12, topic, [16]byte{}, 0, tooBig); got.ErrorCode != kerr.MessageTooLarge.Code {
		t.Errorf("batch of 10001 bytes: %v, want MESSAGE_TOO_LARGE", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := raw.produce(12, topic, [16]byte{}, 0, exact); got.ErrorCode != 0 || got.BaseOffset != int64(len(accepted)) {
		t.Errorf("batch of 10000 bytes: %v at offset %d, want success at %d", kerr.ErrorForCode(got.ErrorCode), got.BaseOffset, len(accepted))
	}
	accepted = append(accepted, &kgo.Record{Key: []byte("k0"), Value: value, Timestamp: time.UnixMilli(ts)})

	got := fgConsume(t, b.Addr(), topic, 1, len(accepted))
	fgCheckConsumed(t, map[int32][]*kgo.Record{0: accepted}, got, nil)
	// Fetch limits far below a batch still return one whole batch per
	// fetch (KIP-74), so the consumer makes progress.
	got = fgConsume(t, b.Addr(), topic, 1, len(accepted), kgo.FetchMaxBytes(1), kgo.FetchMaxPartitionBytes(1))
	fgCheckConsumed(t, map[int32][]*kgo.Record{0: accepted}, got, nil)
	if end := fgEndOffsets(t, adm, topic); end[0] != int64(len(accepted)) {
		t.Errorf("end offset %d, want %d: refused batches must not take offsets", end[0], len(accepted))
	}
}

// fgFetchWrites signals each Fetch request a kgo client has written.
type fgFetchWrites chan struct{}

func (h fgFetchWrites) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == int16(kmsg.Fetch) && err == nil {
		select {
		case h <- struct{}{}:
		default:
		}
	}
}

// TestFranzGoLongPoll: a fetch waiting on empty partitions is answered as
// soon as a record is appended to any of them. The consumer asks the broker
// to wait two minutes, far longer than the test waits, so the record can
// only arrive if the append wakes the waiting fetch.
func TestFranzGoLongPoll(t *testing.T) {
	t.Parallel()

	t.Run("kgo", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t)
		adm := fgAdmin(t, b.Addr())
		const topic = "quiet"
		fgCreateTopic(t, adm, topic, 3, nil)
		fetches := make(fgFetchWrites, 64)
		cons := fgClient(t, b.Addr(),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {
				0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart(), 2: kgo.NewOffset().AtStart(),
			}}),
			kgo.FetchMaxWait(2*time.Minute),
			kgo.WithHooks(fetches),
		)
		prod := fgClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
		for round := range 4 {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			// Let the consumer's fetch reach the broker, then append.
			select {
			case <-fetches:
			case <-ctx.Done():
				t.Fatalf("round %d: the consumer sent no fetch", round)
			}
			p := int32(round % 3)
			want := &kgo.Record{Partition: p, Key: fmt.Appendf(nil, "r%d", round), Value: []byte("wake up")}
			fgProduceSync(t, prod, want)
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("round %d: the record produced to partition %d did not reach the waiting consumer within 15s (the fetch asked to wait 2 minutes)", round, p)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("round %d: fetch error on partition %d: %v", round, e.Partition, e.Err)
			}
			recs := fs.Records()
			if len(recs) != 1 || recs[0].Partition != p || recs[0].Offset != int64(round/3) || fgSameRecord(want, recs[0]) != nil {
				t.Fatalf("round %d: fetched %d records (%v), want the one produced to partition %d", round, len(recs), recs, p)
			}
			cancel()
		}
	})

	// Kafka completes a waiting fetch when one of its partitions goes
	// away (ReplicaManager.stopPartitions completes delayed fetches), and
	// the answer carries an error for that partition.
	t.Run("topic deleted", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t)
		adm := fgAdmin(t, b.Addr())
		fgCreateTopic(t, adm, "doomed", 1, nil)
		raw := fgDialRaw(t, b.Addr())
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 120_000
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "doomed"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		type answer struct {
			resp kmsg.Response
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			resp, err := raw.try(req, 12)
			done <- answer{resp, err}
		}()
		time.Sleep(50 * time.Millisecond) // let the fetch start waiting
		if _, err := adm.DeleteTopic(fgCtx(t), "doomed"); err != nil {
			t.Fatal(err)
		}
		select {
		case a := <-done:
			if a.err != nil {
				t.Fatal(a.err)
			}
			resp := a.resp.(*kmsg.FetchResponse)
			code := resp.Topics[0].Partitions[0].ErrorCode
			if code != kerr.UnknownTopicOrPartition.Code && code != kerr.NotLeaderForPartition.Code {
				t.Errorf("fetch of a deleted partition: %v, want UNKNOWN_TOPIC_OR_PARTITION (or NOT_LEADER_OR_FOLLOWER)", kerr.ErrorForCode(code))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a fetch (max_wait 120s) waiting on a partition was not answered within 30s of its topic's deletion")
		}
	})

	t.Run("raw", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t)
		adm := fgAdmin(t, b.Addr())
		const topic = "quiet"
		fgCreateTopic(t, adm, topic, 2, nil)
		raw := fgDialRaw(t, b.Addr())
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 120_000
		req.MinBytes = 1
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for p := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.PartitionMaxBytes = p, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)

		type answer struct {
			resp kmsg.Response
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			resp, err := raw.try(req, 12)
			done <- answer{resp, err}
		}()
		// Give the fetch a moment to be read, so that it is the append
		// that answers it (if the append wins the race, the fetch finds
		// the record at once: the test passes either way).
		time.Sleep(50 * time.Millisecond)
		prod := fgClient(t, b.Addr(), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic))
		fgProduceSync(t, prod, &kgo.Record{Partition: 1, Value: []byte("wake up")})
		select {
		case a := <-done:
			if a.err != nil {
				t.Fatal(a.err)
			}
			resp := a.resp.(*kmsg.FetchResponse)
			ps := resp.Topics[0].Partitions
			if resp.ErrorCode != 0 || len(ps) != 2 || ps[0].ErrorCode != 0 || ps[1].ErrorCode != 0 {
				t.Fatalf("fetch: %v %+v", kerr.ErrorForCode(resp.ErrorCode), ps)
			}
			if len(ps[1].RecordBatches) == 0 || ps[1].HighWatermark != 1 {
				t.Fatalf("fetch answered without the record (high watermark %d, %d bytes): the long poll returned before min_bytes arrived", ps[1].HighWatermark, len(ps[1].RecordBatches))
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the fetch (max_wait 120s) was not answered within 30s of an append to one of its partitions")
		}
	})
}

// TestFranzGoAutoCreate: producing to a missing topic creates it with
// num.partitions partitions when the client allows it and the broker has
// auto.create.topics.enable; otherwise the topic stays missing and
// Metadata answers UNKNOWN_TOPIC_OR_PARTITION.
func TestFranzGoAutoCreate(t *testing.T) {
	t.Parallel()
	produceTo := func(t *testing.T, addr, topic string, n int, allow bool) error {
		t.Helper()
		opts := []kgo.Opt{kgo.UnknownTopicRetries(2), kgo.DefaultProduceTopic(topic)}
		if allow {
			opts = append(opts, kgo.AllowAutoTopicCreation())
		}
		cl := fgClient(t, addr, opts...)
		recs := make([]*kgo.Record, n)
		for i := range recs {
			recs[i] = &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("auto")}
		}
		return cl.ProduceSync(fgCtx(t), recs...).FirstErr()
	}
	checkPartitions := func(t *testing.T, adm *kadm.Client, topic string, want int) {
		t.Helper()
		tds, err := adm.ListTopics(fgCtx(t), topic)
		if err != nil {
			t.Fatal(err)
		}
		if td := tds[topic]; td.Err != nil || len(td.Partitions) != want {
			t.Errorf("%s: %v, %d partitions; want %d", topic, td.Err, len(td.Partitions), want)
		}
	}
	checkAbsent := func(t *testing.T, adm *kadm.Client, topics ...string) {
		t.Helper()
		all, err := adm.ListTopics(fgCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range topics {
			if all.Has(topic) {
				t.Errorf("%s was created", topic)
			}
		}
	}

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t)
		adm := fgAdmin(t, b.Addr())
		if err := produceTo(t, b.Addr(), "auto", 10, true); err != nil {
			t.Fatalf("produce to a new topic with auto-creation allowed: %v", err)
		}
		checkPartitions(t, adm, "auto", 1) // num.partitions defaults to 1
		got := fgConsume(t, b.Addr(), "auto", 1, 10)
		if len(got[0]) != 10 {
			t.Errorf("consumed %d records of the auto-created topic, want 10", len(got[0]))
		}
		rcs, err := adm.DescribeTopicConfigs(fgCtx(t), "auto")
		if err != nil || rcs[0].Err != nil {
			t.Fatalf("describe configs: %v %v", err, rcs[0].Err)
		}
		for _, c := range rcs[0].Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("auto-created topic has a topic config: %s=%v", c.Key, c.Value)
			}
		}

		// A client that does not allow auto-creation (Metadata v4+
		// allow_auto_topic_creation=false) creates nothing.
		if err := produceTo(t, b.Addr(), "not-allowed", 1, false); !fgIsErr(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("produce without allowing auto-creation: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		raw := fgDialRaw(t, b.Addr())
		if resp := raw.metadata(false, "not-allowed-raw"); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("metadata v12 allow_auto_topic_creation=false: %+v, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics)
		}
		if resp := raw.metadata(true, "bad/name"); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidTopicException.Code {
			t.Errorf("metadata v12 auto-creating bad/name: %+v, want INVALID_TOPIC_EXCEPTION", resp.Topics)
		}
		if resp := raw.metadata(true, "raw-auto"); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
			t.Errorf("metadata v12 allow_auto_topic_creation=true: %+v, want the new topic with 1 partition", resp.Topics)
		}
		checkAbsent(t, adm, "not-allowed", "not-allowed-raw", "bad/name")
		checkPartitions(t, adm, "raw-auto", 1)
	})

	t.Run("num.partitions=4", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"num.partitions": "4"}})
		if err := produceTo(t, b.Addr(), "auto4", 200, true); err != nil {
			t.Fatalf("produce: %v", err)
		}
		adm := fgAdmin(t, b.Addr())
		checkPartitions(t, adm, "auto4", 4)
		got := fgConsume(t, b.Addr(), "auto4", 4, 200)
		if len(got) != 4 {
			t.Errorf("200 keyed records went to %d partitions, want 4", len(got))
		}
	})

	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		b := brokertest.New(t, brokertest.Options{Settings: map[string]string{"auto.create.topics.enable": "false"}})
		adm := fgAdmin(t, b.Addr())
		raw := fgDialRaw(t, b.Addr())
		if resp := raw.metadata(true, "nope"); len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("metadata v12 allow_auto_topic_creation=true: %+v, want UNKNOWN_TOPIC_OR_PARTITION", resp.Topics)
		}
		tds, err := adm.ListTopics(fgCtx(t), "nope")
		if err != nil {
			t.Fatal(err)
		}
		if !fgIsErr(tds["nope"].Err, kerr.UnknownTopicOrPartition) {
			t.Errorf("kadm metadata of nope: %v, want UNKNOWN_TOPIC_OR_PARTITION", tds["nope"].Err)
		}
		if err := produceTo(t, b.Addr(), "nope-kgo", 1, true); !fgIsErr(err, kerr.UnknownTopicOrPartition) {
			t.Errorf("produce with auto-creation disabled: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
		}
		checkAbsent(t, adm, "nope", "nope-kgo")
		// CreateTopics still works.
		fgCreateTopic(t, adm, "explicit", 2, nil)
		checkPartitions(t, adm, "explicit", 2)
	})
}
