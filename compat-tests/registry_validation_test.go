package compattests

// Broker-side schema validation (confluent.value.schema.validation,
// confluent.key.schema.validation) with franz-go producing and the
// built-in registry deciding which ids are valid.

import (
	"context"
	enc "encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/registry"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// srInProcess starts a registry over broker b, sets it as b's schema
// validator and returns a pkg/sr client of it.
func srInProcess(t testing.TB, b *brokertest.Broker) (*registry.Registry, *sr.Client) {
	t.Helper()
	reg, err := registry.New(registry.Config{Brokers: []string{b.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	ctx, cancel := context.WithTimeout(context.Background(), fgWait)
	defer cancel()
	if err := reg.Start(ctx); err != nil {
		t.Fatal(err)
	}
	b.Server().SetSchemaValidator(reg)
	srv := newLoopbackHTTP(t, reg)
	cl, err := sr.NewClient(sr.URLs(srv))
	if err != nil {
		t.Fatal(err)
	}
	return reg, cl
}

// framed is payload behind the Confluent wire header for schema id.
func framed(id int, payload string) []byte {
	b := make([]byte, 5, 5+len(payload))
	enc.BigEndian.PutUint32(b[1:], uint32(id))
	return append(b, payload...)
}

func TestRegistryBrokerSideValidation(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	_, rcl := srInProcess(t, b)
	ctx := fgCtx(t)
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, "checked", 1, map[string]string{"confluent.value.schema.validation": "true"})
	fgCreateTopic(t, adm, "keyed", 1, map[string]string{"confluent.key.schema.validation": "true"})
	fgCreateTopic(t, adm, "free", 1, nil)
	value, err := rcl.CreateSchema(ctx, "checked-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		t.Fatal(err)
	}
	other, err := rcl.CreateSchema(ctx, "elsewhere-value", sr.Schema{Schema: `"long"`})
	if err != nil {
		t.Fatal(err)
	}
	key, err := rcl.CreateSchema(ctx, "keyed-key", sr.Schema{Schema: `"int"`})
	if err != nil {
		t.Fatal(err)
	}

	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"uncompressed", kgo.NoCompression()}, {"zstd", kgo.ZstdCompression()}} {
		cl := fgClient(t, b.Addr(), kgo.ProducerBatchCompression(codec.codec), kgo.RecordRetries(1))
		for _, c := range []struct {
			name string
			rec  *kgo.Record
			ok   bool
		}{
			{"registered id", &kgo.Record{Topic: "checked", Value: framed(value.ID, "x")}, true},
			{"tombstone", &kgo.Record{Topic: "checked", Key: []byte("k")}, true},
			{"unknown id", &kgo.Record{Topic: "checked", Value: framed(999, "x")}, false},
			{"id of another subject", &kgo.Record{Topic: "checked", Value: framed(other.ID, "x")}, false},
			{"no header", &kgo.Record{Topic: "checked", Value: []byte("plain text")}, false},
			{"short value", &kgo.Record{Topic: "checked", Value: []byte{0, 0}}, false},
			{"other topics unaffected", &kgo.Record{Topic: "free", Value: []byte("plain text")}, true},
			{"key: registered id", &kgo.Record{Topic: "keyed", Key: framed(key.ID, "k"), Value: []byte("any")}, true},
			{"key: no header", &kgo.Record{Topic: "keyed", Key: []byte("k"), Value: framed(key.ID, "v")}, false},
			{"key: null key", &kgo.Record{Topic: "keyed", Value: []byte("any")}, true},
		} {
			t.Run(fmt.Sprintf("%s/%s", codec.name, c.name), func(t *testing.T) {
				topic := c.rec.Topic
				before := endOffset(t, b.Addr(), topic)
				err := cl.ProduceSync(ctx, c.rec).FirstErr()
				after := endOffset(t, b.Addr(), topic)
				switch {
				case c.ok && err != nil:
					t.Fatalf("refused: %v", err)
				case !c.ok && !errors.Is(err, kerr.InvalidRecord):
					t.Fatalf("got %v, want INVALID_RECORD", err)
				case !c.ok && after != before:
					t.Fatalf("a refused record was stored: end offset %d -> %d", before, after)
				}
			})
		}
	}

	// A batch with one bad record among good ones is refused whole.
	cl := fgClient(t, b.Addr(), kgo.RecordRetries(1), kgo.ProducerLinger(50*time.Millisecond), kgo.MaxBufferedRecords(10))
	before := endOffset(t, b.Addr(), "checked")
	var recs []*kgo.Record
	for i := range 5 {
		v := framed(value.ID, "ok")
		if i == 3 {
			v = framed(other.ID, "bad")
		}
		recs = append(recs, &kgo.Record{Topic: "checked", Value: v})
	}
	res := cl.ProduceSync(ctx, recs...)
	if err := res.FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("a batch with one bad record: %v, want INVALID_RECORD", err)
	}
	if after := endOffset(t, b.Addr(), "checked"); after-before >= 5 {
		t.Fatalf("the bad record was stored: end offset %d -> %d", before, after)
	}

	// A soft-deleted version's id is refused.
	if err := rcl.DeleteSchema(ctx, "checked-value", value.Version, sr.SoftDelete); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "checked", Value: framed(value.ID, "x")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("the id of a soft-deleted version: %v, want INVALID_RECORD", err)
	}
}

// Without a registry, a topic that asks for validation refuses, saying why.
func TestRegistryValidationWithoutRegistry(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	fgCreateTopic(t, fgAdmin(t, b.Addr()), "checked", 1, map[string]string{"confluent.value.schema.validation": "true"})
	cl := fgClient(t, b.Addr(), kgo.RecordRetries(1))
	err := cl.ProduceSync(fgCtx(t), &kgo.Record{Topic: "checked", Value: framed(1, "x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("got %v, want INVALID_RECORD", err)
	}
}

func endOffset(t testing.TB, addr, topic string) int64 {
	t.Helper()
	ends, err := fgAdmin(t, addr).ListEndOffsets(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, _ := ends.Lookup(topic, 0)
	return o.Offset
}

// BenchmarkProduceSchemaValidation measures what validation costs the
// broker: the same produce request (one batch of 1,000 Confluent-framed
// 100-byte values, acks=1, sent as is with kgo's raw Request so that no
// client batching is measured) to a topic with
// confluent.value.schema.validation off and to one with it on, whose
// registry knows the id. Each op is a round of 100 requests to each topic,
// the order alternating from round to round (this machine is shared and
// noisy: side by side, medians); it reports the median records/s of each
// and on/off, the ratio of the medians.
//
//	go test -run '^$' -bench ProduceSchemaValidation -benchtime 30x ./compat-tests/
func BenchmarkProduceSchemaValidation(b *testing.B) {
	bk := brokertest.New(b, brokertest.Options{NoSync: true})
	_, rcl := srInProcess(b, bk)
	ctx := context.Background()
	s, err := rcl.CreateSchema(ctx, "on-value", sr.Schema{Schema: `"string"`})
	if err != nil {
		b.Fatal(err)
	}
	adm := fgAdmin(b, bk.Addr())
	fgCreateTopic(b, adm, "off", 1, nil)
	fgCreateTopic(b, adm, "on", 1, map[string]string{"confluent.value.schema.validation": "true"})
	const records, perRound = 1000, 100
	kvs := make([]storagetest.KV, records)
	for i := range kvs {
		kvs[i].Value = framed(s.ID, strings.Repeat("v", 95))
	}
	// Produce v12 and below name topics; v13 would need their ids.
	cl := fgClient(b, bk.Addr(), kgo.MaxVersions(kversion.V3_9_0()))
	request := func(topic string) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = 1
		req.TimeoutMillis = 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = storagetest.MakeKeyedBatch(time.Now().UnixMilli(), kvs...)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	reqs := map[string]*kmsg.ProduceRequest{"off": request("off"), "on": request("on")}
	round := func(topic string) float64 {
		start := time.Now()
		for range perRound {
			resp, err := cl.Request(ctx, reqs[topic])
			if err != nil {
				b.Fatal(err)
			}
			if code := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				b.Fatalf("produce to %s: %v", topic, kerr.ErrorForCode(code))
			}
		}
		return perRound * records / time.Since(start).Seconds()
	}
	round("off") // warm-up
	round("on")
	var off, on []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			off, on = append(off, round("off")), append(on, round("on"))
		} else {
			on, off = append(on, round("on")), append(off, round("off"))
		}
	}
	b.StopTimer()
	mo, mn := median(off), median(on)
	b.ReportMetric(mo, "off-records/s")
	b.ReportMetric(mn, "on-records/s")
	b.ReportMetric(mn/mo, "on/off")
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
