package compattests

// Benchmarks of the performance issue that the durability benchmarks do
// not cover: produce with librdkafka (confluent-kafka-go), consume, and
// produce latency at a fixed rate. Client and broker share this machine's
// cores.
//
//	go test ./compat-tests -run x -bench ProduceLibrdkafka -benchtime 2000000x
//	go test ./compat-tests -run x -bench Consume1KiB -benchtime 2000000x
//	go test ./compat-tests -run x -bench 'ProduceLatency/1000' -benchtime 20000x
//	go test ./compat-tests -run x -bench 'ProduceLatency/100000' -benchtime 1000000x

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/internal/precise"
)

// BenchmarkProduceLibrdkafka1KiB6Partitions: acks=all with fsync and
// without, 1 KiB records, 6 partitions, a librdkafka producer with its
// default linger (5 ms), batches up to 1 MiB, no compression.
func BenchmarkProduceLibrdkafka1KiB6Partitions(b *testing.B) {
	benchSyncModes(b, benchProduceLibrdkafka)
}

// benchProduceLibrdkafka produces b.N records of 1 KiB round-robin over 6
// partitions with librdkafka, acks=all.
func benchProduceLibrdkafka(b *testing.B, addr string) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":            addr,
		"client.id":                    "streamhouse-bench-librdkafka",
		"acks":                         "all",
		"linger.ms":                    5,
		"batch.size":                   1 << 20,
		"batch.num.messages":           100_000,
		"queue.buffering.max.messages": 1_000_000,
		"queue.buffering.max.kbytes":   1 << 20,
		"compression.type":             "none",
		"broker.address.family":        "v4",
		"log_level":                    4,
		// No delivery report per message (the Go binding's cost, not
		// the broker's): the records are counted on the broker after.
		"go.delivery.reports": false,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	topic := "bench"
	value := make([]byte, 1024)
	produce := func(i int) {
		for {
			err := p.Produce(&kafka.Message{
				TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: int32(i % 6)},
				Value:          value,
			}, nil)
			if err == nil {
				return
			}
			if e, ok := err.(kafka.Error); ok && e.Code() == kafka.ErrQueueFull {
				p.Flush(10)
				continue
			}
			b.Fatal(err)
		}
	}
	produce(0) // metadata and connection, before the clock starts
	p.Flush(10_000)
	b.SetBytes(1024)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		produce(i)
	}
	for p.Flush(1000) > 0 {
	}
	el := time.Since(start)
	b.StopTimer()
	var stored int64
	for _, end := range fgEndOffsets(b, fgAdmin(b, addr), topic) {
		stored += end
	}
	if stored != int64(b.N)+1 {
		b.Fatalf("%d records stored, %d produced", stored, b.N+1)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
}

// BenchmarkConsume1KiB6Partitions: b.N records of 1 KiB produced (not
// timed) to 6 partitions, then read from the start by one franz-go
// consumer with its default fetch sizes (50 MiB a fetch, 1 MiB a
// partition): what was produced, served from the page cache.
func BenchmarkConsume1KiB6Partitions(b *testing.B) {
	br := brokertest.New(b)
	benchTopic(b, br.Addr(), "bench", 6)
	benchProduce(b, br.Addr(), "bench", 1024, kgo.AllISRAcks(), false)
	total := b.N + 1 // benchProduce's warm-up record too
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(br.Addr()),
		kgo.ConsumeTopics("bench"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	b.ResetTimer()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for n := 0; n < total; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("consumed %d of %d: %v", n, total, err)
		}
		for _, e := range fs.Errors() {
			b.Fatalf("fetch: %v", e.Err)
		}
		n += fs.NumRecords()
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "records/s")
	b.ReportMetric(float64(total)*1024/1e6/el.Seconds(), "consume-MB/s")
}

// BenchmarkProduceLatency: records of 1 KiB sent at a fixed rate (1,000 and
// 100,000 a second) to 6 partitions with acks=all and fsync; each record's
// latency runs from its scheduled send time (not the time it was handed to
// the client: no coordinated omission) to its acknowledgement. Reports
// p50, p99 and max in milliseconds; b.N records per rate.
func BenchmarkProduceLatency(b *testing.B) {
	for _, rate := range []int{1000, 100_000} {
		b.Run(strconv.Itoa(rate), func(b *testing.B) {
			br := brokertest.New(b)
			benchTopic(b, br.Addr(), "bench", 6)
			cl, err := kgo.NewClient(
				kgo.SeedBrokers(br.Addr()),
				kgo.RequiredAcks(kgo.AllISRAcks()),
				kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
				kgo.ProducerLinger(0),
				kgo.MaxBufferedRecords(1_000_000),
			)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			value := make([]byte, 1024)
			if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "bench", Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, b.N)
			var wg sync.WaitGroup
			wg.Add(b.N)
			interval := time.Second / time.Duration(rate)
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				due := start.Add(time.Duration(i) * interval)
				if d := time.Until(due); d > 0 {
					precise.Sleep(context.Background(), d) // a timer would be up to 1 ms late
				}
				cl.Produce(context.Background(), &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
					lat[i] = time.Since(due)
					wg.Done()
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		})
	}
}
