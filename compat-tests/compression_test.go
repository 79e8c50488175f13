package compattests

// Topic-level compression.type (the configs issue): every producer codec
// of franz-go, sarama and kcat against every topic compression.type. The
// consumers read the records produced, and the stored batches use the
// topic's codec ("producer": the producer's).

import (
	"bytes"
	bin "encoding/binary"
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

var compressionTypes = []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}

// storedName is storedCodecs' name of a compression.type's codec.
func storedName(ct string) string {
	if ct == "uncompressed" {
		return "none"
	}
	return ct
}

func TestCompressionMatrix(t *testing.T) {
	t.Parallel()
	e := newKcatEnv(t)
	type producer struct {
		name  string
		codec string // what it sends: none, gzip, snappy, lz4, zstd
		send  func(t *testing.T, topic string, lines []string)
	}
	var producers []producer
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		producers = append(producers, producer{"franzgo-" + c.name, c.name, func(t *testing.T, topic string, lines []string) {
			e.kgoProduce(t, topic, c.codec, lines)
		}})
	}
	for _, c := range []struct {
		name  string
		codec sarama.CompressionCodec
	}{{"none", sarama.CompressionNone}, {"gzip", sarama.CompressionGZIP}, {"snappy", sarama.CompressionSnappy}, {"lz4", sarama.CompressionLZ4}, {"zstd", sarama.CompressionZSTD}} {
		producers = append(producers, producer{"sarama-" + c.name, c.name, func(t *testing.T, topic string, lines []string) {
			cfg := saramaConfig(sarama.MaxVersion)
			cfg.Producer.Compression = c.codec
			cfg.Producer.Partitioner = sarama.NewManualPartitioner
			// acks=all: with sarama's default (acks=1) the answer may
			// come before the commit round moves the high watermark,
			// and kcat -e, started at once, then stops at offset 0.
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			p := newSaramaSyncProducer(t, e.addr, cfg)
			var msgs []*sarama.ProducerMessage
			for _, l := range lines {
				k, v, _ := bytes.Cut([]byte(l), []byte(":"))
				msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(k), Value: sarama.ByteEncoder(v)})
			}
			saramaSendAll(t, p, msgs)
		}})
	}
	// kcat (librdkafka): it sends uncompressed to this broker whatever
	// -z says (see the kcat tests), so one entry is enough.
	producers = append(producers, producer{"kcat", "none", func(t *testing.T, topic string, lines []string) {
		e.produce(t, topic, lines, "-p", "0")
	}})

	for _, ct := range compressionTypes {
		for _, p := range producers {
			t.Run(ct+"/"+p.name, func(t *testing.T) {
				t.Parallel()
				topic := "cm-" + ct + "-" + p.name
				fgCreateTopic(t, e.adm, topic, 1, map[string]string{"compression.type": ct})
				lines := kcatLines(40, topic)
				p.send(t, topic, lines)
				got := e.consume(t, topic, "-e")
				var vals []string
				for _, r := range got {
					vals = append(vals, r.line())
				}
				if !slices.Equal(vals, lines) {
					t.Fatalf("consumed %d records %q..., want %d %q...", len(vals), head(vals), len(lines), head(lines))
				}
				want := storedName(ct)
				if ct == "producer" {
					want = p.codec
				}
				codecs := e.storedCodecs(t, topic, 1)
				if len(codecs) != 1 || codecs[want] == 0 {
					t.Fatalf("stored batches by codec %v, want all %s", codecs, want)
				}
			})
		}
	}
}

// TestCompressionBomb: a small zstd batch whose records would expand to a
// gigabyte is refused as CORRUPT_MESSAGE, the broker's memory stays
// bounded, and it goes on serving.
func TestCompressionBomb(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	e := newKcatEnv(t)
	const topic = "bomb"
	fgCreateTopic(t, e.adm, topic, 1, nil)
	// One record claiming a 1 GiB value of zeros: the frame is a few KiB.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithZeroFrames(true))
	if err != nil {
		t.Fatal(err)
	}
	var frame bytes.Buffer
	w := enc
	w.Reset(&frame)
	zero := make([]byte, 1<<20)
	const valueLen = 1 << 30
	body := []byte{0}                 // attributes
	body = bin.AppendVarint(body, 0)  // timestampDelta
	body = bin.AppendVarint(body, 0)  // offsetDelta
	body = bin.AppendVarint(body, -1) // null key
	body = bin.AppendVarint(body, valueLen)
	rec := bin.AppendVarint(nil, int64(len(body)+valueLen+1))
	rec = append(rec, body...)
	if _, err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	for range valueLen / len(zero) {
		if _, err := w.Write(zero); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Write([]byte{0}); err != nil { // no headers
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("bomb: %d compressed bytes for 1 GiB", frame.Len())
	plain := storagetest.MakeBatch(1, 0, time.Now().UnixMilli())
	h, err := batch.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	b := batch.Reencode(plain, &h, batch.CodecZstd, frame.Bytes())

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := badDial(t, e.addr)
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = 0, b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.CorruptMessage.Code {
		t.Fatalf("bomb answered %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(code))
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 128<<20 {
		t.Fatalf("the process allocated %d MiB answering the bomb", grew>>20)
	}
	// The broker goes on.
	e.kgoProduce(t, topic, kgo.ZstdCompression(), []string{"k:after the bomb"})
	if got := e.consume(t, topic, "-e"); len(got) != 1 || got[0].Value != "after the bomb" {
		t.Fatalf("after the bomb: %v", got)
	}
}

// TestCompactedTopicNeedsKeys: a compacted topic refuses a record without
// a key, compressed or not, as Kafka does; keyed records pass.
func TestCompactedTopicNeedsKeys(t *testing.T) {
	t.Parallel()
	e := newKcatEnv(t)
	fgCreateTopic(t, e.adm, "compacted", 1, map[string]string{"cleanup.policy": "compact"})
	for _, c := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl := fgClient(t, e.addr, kgo.ProducerBatchCompression(c), kgo.RecordRetries(0))
		ctx := fgCtx(t)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("%v: a record without a key: %v", c, err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "compacted", Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatalf("%v: a keyed record: %v", c, err)
		}
	}
}
