package compattests

// Topic-level compression.type (the configs issue): every producer codec
// of franz-go, sarama and kcat against every topic compression.type. The
// consumers read the records produced, and the stored batches use the
// topic's codec ("producer": the producer's).

import (
	"bytes"
	bin "encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
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

// zstdBomb is a zstd frame of 32 KiB or so holding prefix, n zero bytes
// and suffix: raw blocks for prefix and suffix, and RLE blocks (4 bytes for
// 128 KiB of one byte) for the zeros, in a window of 128 KiB.
func zstdBomb(prefix []byte, n int64, suffix []byte) []byte {
	const maxBlock = 128 << 10
	f := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3} // magic; no FCS, no checksum; window 2^(10+7)
	block := func(typ byte, size int, last bool) {
		h := uint32(size)<<3 | uint32(typ)<<1
		if last {
			h |= 1
		}
		f = append(f, byte(h), byte(h>>8), byte(h>>16))
	}
	block(0, len(prefix), false)
	f = append(f, prefix...)
	for n > 0 {
		k := min(n, maxBlock)
		block(1, int(k), false)
		f = append(f, 0)
		n -= k
	}
	block(0, len(suffix), true)
	return append(f, suffix...)
}

// oneRecordBomb is a batch of one record whose value is n zero bytes,
// in a zstd frame of a few dozen KiB.
func oneRecordBomb(t *testing.T, n int64) []byte {
	t.Helper()
	body := []byte{0}                 // attributes
	body = bin.AppendVarint(body, 0)  // timestampDelta
	body = bin.AppendVarint(body, 0)  // offsetDelta
	body = bin.AppendVarint(body, -1) // null key
	body = bin.AppendVarint(body, n)
	rec := bin.AppendVarint(nil, int64(len(body))+n+1)
	rec = append(rec, body...)
	frame := zstdBomb(rec, n, []byte{0}) // no headers
	plain := storagetest.MakeBatch(1, 0, time.Now().UnixMilli())
	h, err := batch.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	return batch.Reencode(plain, &h, batch.CodecZstd, frame)
}

// TestCompressionBomb: a 32 KiB zstd batch whose record expands to a
// gigabyte is taken, as Kafka takes it (the batch as sent is within
// max.message.bytes), and checked by streaming through it: the process
// allocates a few MiB, not the gigabyte. Past the broker-wide
// streamhouse.batch.decompressed.max.bytes (lowered here at run time) the
// same batch is MESSAGE_TOO_LARGE, as cheaply. The broker goes on serving.
func TestCompressionBomb(t *testing.T) {
	// Not parallel: it measures the process's allocations.
	e := newKcatEnv(t)
	const topic = "bomb"
	fgCreateTopic(t, e.adm, topic, 1, nil)
	const valueLen = 1 << 30
	b := oneRecordBomb(t, valueLen)
	t.Logf("bomb: a batch of %d bytes for a record of 1 GiB", len(b))

	c := badDial(t, e.addr)
	c.wait = time.Minute // a gigabyte to stream on a machine maybe busy
	produce := func(want *kerr.Error) {
		t.Helper()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, bytes.Clone(b)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req).(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != want.Code {
			t.Fatalf("bomb answered %v, want %v", kerr.ErrorForCode(code), want)
		}
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("the process allocated %d MiB answering the bomb", grew>>20)
		}
	}
	produce(&kerr.Error{Code: 0})
	// 64 MiB at most, set at run time (a dynamic broker config): the
	// broker streams that much of the record and refuses the batch.
	ac, err := e.adm.AlterBrokerConfigs(fgCtx(t), []kadm.AlterConfig{{Name: "streamhouse.batch.decompressed.max.bytes", Value: kadm.StringPtr("67108864")}})
	if err == nil {
		err = ac[0].Err
	}
	if err != nil {
		t.Fatal(err)
	}
	produce(kerr.MessageTooLarge)

	// The broker goes on; the record taken is there, whole.
	e.kgoProduce(t, topic, kgo.ZstdCompression(), []string{"k:after the bomb"})
	if got := e.consume(t, topic, "-o", "1", "-e"); len(got) != 1 || got[0].Value != "after the bomb" || got[0].Offset != 1 {
		t.Fatalf("after the bomb: %v", got)
	}
	// Stored as sent: a fetch serves the 32 KiB batch. (librdkafka gives
	// up on decompressing a record past its receive.message.max.bytes,
	// 100 MB by default, and Java's consumer would need the gigabyte: a
	// record like this is a producer's mistake, which Kafka takes too.)
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, -1, 0, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	fetched := c.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].RecordBatches
	if h, err := batch.Parse(fetched); err != nil || h.Size() != len(b) || !bytes.Equal(batch.RecordsSection(fetched, &h), batch.RecordsSection(b, &h)) {
		t.Fatalf("the bomb's batch as fetched: %d bytes, %v; sent %d", len(fetched), err, len(b))
	}
}

// TestCompressedPastMaxMessageBytes: Kafka's rule with real clients. A
// record of 8 MiB that compresses well goes into a batch far smaller than
// max.message.bytes (1 MiB, the default): franz-go produces it with each
// codec and kcat (librdkafka) with zstd, and both read every one back
// whole. A topic's
// compression.type re-encodes it (lz4, within the limit), or refuses it as
// Kafka does when the re-encoded batch is too large (uncompressed).
func TestCompressedPastMaxMessageBytes(t *testing.T) {
	t.Parallel()
	e := newKcatEnv(t)
	var value []byte
	for i := 0; len(value) < 8<<20; i++ {
		value = fmt.Appendf(value, "a compressible record value of StreamHouse, line %d\n", i%1000)
	}
	value = value[:8<<20]
	file := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(file, value, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := "big-" + c.name
			fgCreateTopic(t, e.adm, topic, 1, nil)
			cl := fgClient(t, e.addr, kgo.ProducerBatchCompression(c.codec), kgo.ProducerBatchMaxBytes(16<<20), kgo.RecordRetries(1))
			if err := cl.ProduceSync(fgCtx(t), &kgo.Record{Topic: topic, Key: []byte("franz-go"), Value: value}).FirstErr(); err != nil {
				t.Fatalf("franz-go: %v", err)
			}
			keys := []string{"franz-go"}
			if c.name == "zstd" {
				// librdkafka 2.0.2 compresses only zstd for a broker
				// without Produce v0 (see kcat_test.go).
				e.run(t, "-P", "-t", topic, "-k", "kcat", "-X", "compression.codec="+c.name,
					"-X", "message.max.bytes=16777216", "-X", "batch.size=16777216", file)
				keys = append(keys, "kcat")
			}
			got := fgConsume(t, e.addr, topic, 1, len(keys))
			if len(got[0]) != len(keys) {
				t.Fatalf("franz-go read %d records", len(got[0]))
			}
			want := ""
			for i, r := range got[0] {
				if !bytes.Equal(r.Value, value) || string(r.Key) != keys[i] {
					t.Fatalf("franz-go read record %d: key %q, %d bytes", i, r.Key, len(r.Value))
				}
				want += keys[i] + " 8388608\n"
			}
			out := e.run(t, "-C", "-q", "-t", topic, "-e", "-f", "%k %S\n", "-X", "fetch.wait.max.ms=10", "-X", "check.crcs=true")
			if out != want {
				t.Fatalf("kcat read %q, want %q", out, want)
			}
			if codecs := e.storedCodecs(t, topic, 1); codecs[c.name] != len(keys) {
				t.Fatalf("stored batches by codec %v, want %d %s", codecs, len(keys), c.name)
			}
		})
	}
	t.Run("re-encoded", func(t *testing.T) {
		t.Parallel()
		cl := fgClient(t, e.addr, kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.ProducerBatchMaxBytes(16<<20), kgo.RecordRetries(1))
		fgCreateTopic(t, e.adm, "big-to-lz4", 1, map[string]string{"compression.type": "lz4"})
		if err := cl.ProduceSync(fgCtx(t), &kgo.Record{Topic: "big-to-lz4", Value: value}).FirstErr(); err != nil {
			t.Fatalf("to lz4: %v", err)
		}
		if got := fgConsume(t, e.addr, "big-to-lz4", 1, 1); !bytes.Equal(got[0][0].Value, value) {
			t.Fatal("re-encoded with lz4: the record read back differs")
		}
		if codecs := e.storedCodecs(t, "big-to-lz4", 1); codecs["lz4"] != 1 {
			t.Fatalf("stored batches by codec %v, want 1 lz4", codecs)
		}
		fgCreateTopic(t, e.adm, "big-uncompressed", 1, map[string]string{"compression.type": "uncompressed"})
		if err := cl.ProduceSync(fgCtx(t), &kgo.Record{Topic: "big-uncompressed", Value: value}).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
			t.Fatalf("8 MiB uncompressed under max.message.bytes 1 MiB: %v, want MESSAGE_TOO_LARGE", err)
		}
	})
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
