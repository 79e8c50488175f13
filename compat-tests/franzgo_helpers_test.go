package compattests

// Helpers for the franz-go tests (franzgo_test.go, restart_test.go). Every
// client is closed by t.Cleanup; every wait is bounded by fgWait, a generous
// timeout that only turns a hang into a failure and is never an assertion
// about speed. Names start with fg so they do not collide with the helpers
// of the other clients' tests in this package.

import (
	"bufio"
	"bytes"
	"context"
	enc "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fgWait bounds every wait for the broker.
const fgWait = 60 * time.Second

// fgNode is the node id of every broker the tests start (brokertest and
// the binary both default to 1).
const fgNode = 1

// fgCtx is a context bounded by fgWait, cancelled when the test ends.
func fgCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fgWait)
	t.Cleanup(cancel)
	return ctx
}

// fgClient is a kgo client of the broker at addr. Writes are idempotent, as
// kgo's default (a client with acks other than all must turn that off with
// kgo.DisableIdempotentWrite); metadata may be refreshed as often as
// needed and retries back off briefly, so that tests that create and
// delete topics do not wait on client-side caches. No record delivery
// timeout: kgo measures it from each record's timestamp, which some tests
// set in the past; produce calls are bounded by their context instead.
func fgClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("streamhouse-compat-franzgo"),
		kgo.MetadataMinAge(20 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.RetryTimeout(fgWait),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// fgAdmin is a kadm client over a new kgo client of addr.
func fgAdmin(t testing.TB, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(fgClient(t, addr))
}

// fgCreateTopic creates a topic and fails the test if that does not work.
func fgCreateTopic(t testing.TB, adm *kadm.Client, name string, partitions int32, configs map[string]string) kadm.CreateTopicResponse {
	t.Helper()
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = kadm.StringPtr(v)
		}
	}
	resp, err := adm.CreateTopic(fgCtx(t), partitions, 1, cfg, name)
	if err != nil {
		t.Fatalf("create topic %s: %v (%s)", name, err, resp.ErrMessage)
	}
	return resp
}

// fgProduceSync produces recs and fails the test on the first error.
func fgProduceSync(t testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(fgCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// fgProduceAll produces recs asynchronously (in order), flushes, and fails
// the test on any error.
func fgProduceAll(t testing.TB, cl *kgo.Client, recs []*kgo.Record) {
	t.Helper()
	ctx := fgCtx(t)
	errs := make(chan error, len(recs))
	for _, r := range recs {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				errs <- err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
}

// fgConsume reads exactly n records of topic's partitions 0..parts-1 from
// the start with a group-less kgo consumer (more options in opts) and
// returns them by partition. It fails the test on a fetch error, or if n
// records do not arrive within fgWait; records beyond n are checked for by
// the callers (end offsets).
func fgConsume(t testing.TB, addr, topic string, parts int32, n int, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	from := make(map[int32]kgo.Offset, parts)
	for p := range parts {
		from[p] = kgo.NewOffset().AtStart()
	}
	return fgConsumeFrom(t, addr, topic, from, n, opts...)
}

// fgConsumeFrom is fgConsume from the given offsets of the given
// partitions.
func fgConsumeFrom(t testing.TB, addr, topic string, from map[int32]kgo.Offset, n int, opts ...kgo.Opt) map[int32][]*kgo.Record {
	t.Helper()
	cl := fgClient(t, addr, append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, opts...)...)
	defer cl.Close()
	ctx := fgCtx(t)
	got := make(map[int32][]*kgo.Record, len(from))
	total := 0
	for polls := 0; total < n; polls++ {
		if polls > 100_000 {
			t.Fatalf("consume %s: %d of %d records after %d polls", topic, total, n, polls)
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d of %d records before the timeout", topic, total, n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("consume %s: partition %d: %v", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			total++
		})
	}
	if total != n {
		t.Fatalf("consume %s: got %d records, want %d", topic, total, n)
	}
	return got
}

// fgByPartition groups produced records (their Partition set by the
// producer) in produce order.
func fgByPartition(recs []*kgo.Record) map[int32][]*kgo.Record {
	out := make(map[int32][]*kgo.Record)
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], r)
	}
	return out
}

// fgCheckConsumed checks that got holds, in each partition, exactly the
// records of want (grouped by fgByPartition), in produce order, at offsets
// first[p], first[p]+1, ... (first nil: from 0). Timestamps must come back
// as produced (CreateTime).
func fgCheckConsumed(t testing.TB, want, got map[int32][]*kgo.Record, first map[int32]int64) {
	t.Helper()
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("partition %d: %d records consumed, none produced", p, len(got[p]))
		}
	}
	for p, ws := range want {
		gs := got[p]
		if len(gs) != len(ws) {
			t.Errorf("partition %d: consumed %d records, produced %d", p, len(gs), len(ws))
			continue
		}
		base := first[p]
		for i, w := range ws {
			g := gs[i]
			if g.Offset != base+int64(i) {
				t.Errorf("partition %d: record %d has offset %d, want %d (offsets must be contiguous)", p, i, g.Offset, base+int64(i))
				return
			}
			if err := fgSameRecord(w, g); err != nil {
				t.Errorf("partition %d offset %d: %v", p, g.Offset, err)
				return
			}
		}
	}
}

// fgSameRecord compares what a consumer got with what was produced: key,
// value and header values including nil versus empty, header order, and the
// timestamp to the millisecond.
func fgSameRecord(want, got *kgo.Record) error {
	switch {
	case !fgSameBytes(want.Key, got.Key):
		return fmt.Errorf("key %s, want %s", fgShow(got.Key), fgShow(want.Key))
	case !fgSameBytes(want.Value, got.Value):
		return fmt.Errorf("key %s: value %s, want %s", want.Key, fgShow(got.Value), fgShow(want.Value))
	case want.Timestamp.UnixMilli() != got.Timestamp.UnixMilli():
		return fmt.Errorf("key %s: timestamp %d, want %d", want.Key, got.Timestamp.UnixMilli(), want.Timestamp.UnixMilli())
	case len(want.Headers) != len(got.Headers):
		return fmt.Errorf("key %s: %d headers, want %d", want.Key, len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		g := got.Headers[i]
		if g.Key != h.Key || !fgSameBytes(g.Value, h.Value) {
			return fmt.Errorf("key %s: header %d is %q=%s, want %q=%s", want.Key, i, g.Key, fgShow(g.Value), h.Key, fgShow(h.Value))
		}
	}
	return nil
}

// fgSameBytes is bytes.Equal that also tells nil (a Kafka null) from empty.
func fgSameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

func fgShow(b []byte) string {
	switch {
	case b == nil:
		return "null"
	case len(b) > 40:
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// fgEndOffsets lists the high watermark of every partition of topic.
func fgEndOffsets(t testing.TB, adm *kadm.Client, topic string) map[int32]int64 {
	t.Helper()
	l, err := adm.ListEndOffsets(fgCtx(t), topic)
	return fgListed(t, topic, l, err)
}

// fgListed turns a kadm listing of one topic into offsets by partition,
// failing on any error.
func fgListed(t testing.TB, topic string, l kadm.ListedOffsets, err error) map[int32]int64 {
	t.Helper()
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		t.Fatalf("list offsets of %s: %v", topic, err)
	}
	out := make(map[int32]int64)
	for p, o := range l[topic] {
		out[p] = o.Offset
	}
	return out
}

// fgIsErr reports whether err is, or wraps, the Kafka error want.
func fgIsErr(err error, want *kerr.Error) bool { return errors.Is(err, want) }

// fgRaw speaks the Kafka protocol at exactly the version each request
// carries, with no negotiation and no client-side retries, for checks a
// client library would hide (error codes of a given version, a produce to
// a deleted topic by name or by ID, batches as stored).
type fgRaw struct {
	t    testing.TB
	c    net.Conn
	br   *bufio.Reader
	corr int32
	f    *kmsg.RequestFormatter
}

func fgDialRaw(t testing.TB, addr string) *fgRaw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fgRaw{t: t, c: c, br: bufio.NewReader(c), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("streamhouse-compat-raw"))}
}

// do sends req at version v and returns the response, failing the test on
// any I/O or decoding error. Only for the test's goroutine.
func (r *fgRaw) do(req kmsg.Request, v int16) kmsg.Response {
	r.t.Helper()
	resp, err := r.try(req, v)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// try is do returning the error, for any goroutine.
func (r *fgRaw) try(req kmsg.Request, v int16) (kmsg.Response, error) {
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), v)
	req.SetVersion(v)
	r.corr++
	r.c.SetDeadline(time.Now().Add(fgWait))
	if _, err := r.c.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		return nil, fmt.Errorf("%s: write: %w", name, err)
	}
	var sz [4]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	body := make([]byte, enc.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.br, body); err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if got := int32(enc.BigEndian.Uint32(body)); got != r.corr {
		return nil, fmt.Errorf("%s: correlation id %d, want %d", name, got, r.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	if resp.IsFlexible() && resp.Key() != int16(kmsg.ApiVersions) {
		body = body[1:] // no tagged fields in our response headers
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%s: decode response: %w", name, err)
	}
	return resp, nil
}

// metadata asks for the metadata of the named topics at version 12.
func (r *fgRaw) metadata(allowAutoCreate bool, topics ...string) *kmsg.MetadataResponse {
	r.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = allowAutoCreate
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return r.do(req, 12).(*kmsg.MetadataResponse)
}

// produce sends one batch to topic (by name below v13, by id from v13) and
// returns the partition's answer.
func (r *fgRaw) produce(v int16, topic string, id [16]byte, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	r.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 10_000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.do(req, v).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("produce v%d: answer has %d topics, want one with one partition", v, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// listOffset asks for one partition's offset at timestamp ts with
// ListOffsets at version v.
func (r *fgRaw) listOffset(v int16, topic string, partition int32, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	r.t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.do(req, v).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("list offsets v%d: answer has %d topics, want one with one partition", v, len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// batches fetches every batch of a partition (Fetch v12, by name) as stored.
func (r *fgRaw) batches(topic string, partition int32) []kmsg.RecordBatch {
	r.t.Helper()
	var out []kmsg.RecordBatch
	offset := int64(0)
	for range 10_000 {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 8 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 8<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := r.do(req, 12).(*kmsg.FetchResponse)
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			r.t.Fatalf("fetch %s-%d: error %v, %d topics", topic, partition, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
		}
		sp := resp.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			r.t.Fatalf("fetch %s-%d at %d: %v", topic, partition, offset, kerr.ErrorForCode(sp.ErrorCode))
		}
		if offset >= sp.HighWatermark {
			return out
		}
		b := sp.RecordBatches
		if len(b) == 0 {
			r.t.Fatalf("fetch %s-%d at %d: no batches below the high watermark %d", topic, partition, offset, sp.HighWatermark)
		}
		for len(b) >= 12 {
			size := 12 + int(int32(enc.BigEndian.Uint32(b[8:])))
			if size > len(b) {
				break // a partial batch at the end of the response
			}
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(b[:size]); err != nil {
				r.t.Fatalf("fetch %s-%d: batch at %d: %v", topic, partition, offset, err)
			}
			if rb.FirstOffset != offset {
				r.t.Fatalf("fetch %s-%d: batch starts at %d, want %d", topic, partition, rb.FirstOffset, offset)
			}
			out = append(out, rb)
			offset = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			b = b[size:]
		}
	}
	r.t.Fatalf("fetch %s-%d: more than 10000 fetches", topic, partition)
	return nil
}

// fgCodec is the compression codec of a stored batch (attributes bits 0-2).
func fgCodec(b kmsg.RecordBatch) int8 { return int8(b.Attributes & 0x07) }

// fgBatch encodes an uncompressed RecordBatch v2 with no producer id: one
// record per value, keys k0, k1, ..., all with timestamp ts.
func fgBatch(ts int64, values ...[]byte) []byte {
	var recs []byte
	for i, v := range values {
		var body []byte
		body = append(body, 0)                   // attributes
		body = kbin.AppendVarlong(body, 0)       // timestamp delta
		body = kbin.AppendVarint(body, int32(i)) // offset delta
		body = kbin.AppendVarintBytes(body, fmt.Appendf(nil, "k%d", i))
		body = kbin.AppendVarintBytes(body, v)
		body = kbin.AppendVarint(body, 0) // headers
		recs = kbin.AppendVarint(recs, int32(len(body)))
		recs = append(recs, body...)
	}
	b := make([]byte, 0, 61+len(recs))
	b = enc.BigEndian.AppendUint64(b, 0)                     // base offset
	b = enc.BigEndian.AppendUint32(b, 0)                     // length, below
	b = enc.BigEndian.AppendUint32(b, 0xffffffff)            // partition leader epoch
	b = append(b, 2)                                         // magic
	b = enc.BigEndian.AppendUint32(b, 0)                     // CRC, below
	b = enc.BigEndian.AppendUint16(b, 0)                     // attributes
	b = enc.BigEndian.AppendUint32(b, uint32(len(values)-1)) // last offset delta
	b = enc.BigEndian.AppendUint64(b, uint64(ts))            // base timestamp
	b = enc.BigEndian.AppendUint64(b, uint64(ts))            // max timestamp
	b = enc.BigEndian.AppendUint64(b, 0xffffffffffffffff)    // producer id -1
	b = enc.BigEndian.AppendUint16(b, 0xffff)                // producer epoch -1
	b = enc.BigEndian.AppendUint32(b, 0xffffffff)            // base sequence -1
	b = enc.BigEndian.AppendUint32(b, uint32(len(values)))   // records
	b = append(b, recs...)
	enc.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	enc.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// fgBatchOfSize is an uncompressed batch of one record (key k0, timestamp
// ts) whose encoding is exactly size bytes long (size above about 200), and
// that record's value.
func fgBatchOfSize(ts int64, size int) ([]byte, []byte) {
	v := size - 100
	for range 10 {
		value := bytes.Repeat([]byte{'x'}, v)
		b := fgBatch(ts, value)
		if len(b) == size {
			return b, value
		}
		v += size - len(b)
	}
	panic(fmt.Sprintf("no batch of exactly %d bytes", size))
}

// fgPartitions returns the sorted partition numbers of a map.
func fgPartitions[V any](m map[int32]V) []int32 {
	var ps []int32
	for p := range m {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}
