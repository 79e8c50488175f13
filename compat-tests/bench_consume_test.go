package compattests

// BenchmarkConsumeClients: consume throughput of each client library from
// the same broker in the same run (issue 21 part 4), StreamHouse and, as a
// reference, franz-go's in-memory kfake.
//
//	go test ./compat-tests -run '^$' -bench 'ConsumeClients/streamhouse' -benchtime 1000000x
//	go test ./compat-tests -run '^$' -bench ConsumeClients -benchtime 1000000x   # and kfake
//
// b.N records of 1 KiB are produced once (not timed) to 6 partitions; then
// each round reads them all from the start with every client, in an order
// that turns each round: franz-go (default fetch sizes), librdkafka
// (confluent-kafka-go, one Poll a message) with its default consumer
// settings, librdkafka with max.partition.fetch.bytes 8 MiB, sarama
// (defaults) and kafkajs (defaults; left out without node and
// compat-tests/testdata/kafkajs/node_modules). Reported: each client's
// median MB/s over the rounds (<client>-MB/s), its ratio to franz-go's
// median (<client>/franz-go), and the CPU seconds per GB consumed of
// client and broker together (<client>-CPU-s/GB: this process, and the
// node process for kafkajs). Each run is logged (-v).
//
// STREAMHOUSE_CONSUME_BENCH_ROUNDS sets the rounds (default 3),
// STREAMHOUSE_CONSUME_BENCH_CLIENTS a comma-separated list of clients
// (also librdkafka-qbackoff10ms: librdkafka with fetch.queue.backoff.ms
// 10, not run by default), and STREAMHOUSE_RDKAFKA_DEBUG librdkafka's
// debug contexts (e.g. fetch,protocol), logged to standard error.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// consumeClient reads total records of topic (partitions 0..parts-1) from
// their start.
type consumeClient struct {
	name string
	// consume returns the time taken and the CPU time of any process
	// it ran for the client.
	consume func(b *testing.B, addr, topic string, parts int32, total int64) (el, childCPU time.Duration)
}

func consumeClients() []consumeClient {
	rdkafka := func(extra kafka.ConfigMap) func(*testing.B, string, string, int32, int64) (time.Duration, time.Duration) {
		return func(b *testing.B, addr, topic string, parts int32, total int64) (time.Duration, time.Duration) {
			return consumeLibrdkafka(b, addr, topic, parts, total, extra), 0
		}
	}
	return []consumeClient{
		{"franz-go", consumeFranz},
		{"librdkafka", rdkafka(nil)},
		{"librdkafka-8MiB", rdkafka(kafka.ConfigMap{"max.partition.fetch.bytes": 8 << 20})},
		{"sarama", consumeSarama},
		{"kafkajs", consumeKafkajs},
	}
}

// extraConsumeClients run only when named in
// STREAMHOUSE_CONSUME_BENCH_CLIENTS.
func extraConsumeClients() []consumeClient {
	return []consumeClient{
		{"librdkafka-qbackoff10ms", func(b *testing.B, addr, topic string, parts int32, total int64) (time.Duration, time.Duration) {
			return consumeLibrdkafka(b, addr, topic, parts, total, kafka.ConfigMap{"fetch.queue.backoff.ms": 10}), 0
		}},
	}
}

func BenchmarkConsumeClients(b *testing.B) {
	clients := consumeClients()
	if only := os.Getenv("STREAMHOUSE_CONSUME_BENCH_CLIENTS"); only != "" {
		names := strings.Split(only, ",")
		clients = slices.DeleteFunc(append(clients, extraConsumeClients()...), func(c consumeClient) bool { return !slices.Contains(names, c.name) })
	}
	if !kafkajsInstalled() {
		clients = slices.DeleteFunc(clients, func(c consumeClient) bool { return c.name == "kafkajs" })
	}
	b.Run("streamhouse", func(b *testing.B) {
		br := brokertest.New(b)
		benchTopic(b, br.Addr(), "bench", 6)
		benchConsumeClients(b, br.Addr(), clients)
	})
	b.Run("kfake", func(b *testing.B) {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "bench"))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		benchConsumeClients(b, c.ListenAddrs()[0], clients)
	})
}

// benchConsumeClients produces b.N records of 1 KiB to topic bench (6
// partitions) at addr, then reads them back with each client, round after
// round.
func benchConsumeClients(b *testing.B, addr string, clients []consumeClient) {
	const parts = 6
	benchProduce(b, addr, "bench", 1024, kgo.AllISRAcks(), false)
	total := int64(b.N) + 1 // benchProduce's warm-up record too
	gb := float64(total) * 1024 / 1e9
	b.ResetTimer()
	rounds := envInt("STREAMHOUSE_CONSUME_BENCH_ROUNDS", 3)
	mbps := map[string][]float64{}
	cpus := map[string][]float64{}
	for round := range rounds {
		for i := range clients {
			c := clients[(round+i)%len(clients)]
			cpu0 := processCPU()
			el, child := c.consume(b, addr, "bench", parts, total)
			cpu := (processCPU() - cpu0 + child).Seconds() / gb
			v := gb * 1000 / el.Seconds()
			mbps[c.name] = append(mbps[c.name], v)
			cpus[c.name] = append(cpus[c.name], cpu)
			b.Logf("round %d/%d %-24s %7.1f MB/s (%v), %.2f CPU-s/GB (client and broker)", round+1, rounds, c.name, v, el.Round(time.Millisecond), cpu)
		}
	}
	b.StopTimer()
	var base float64
	if len(mbps["franz-go"]) > 0 {
		base = median(mbps["franz-go"])
	}
	for _, c := range clients {
		m := median(mbps[c.name])
		b.ReportMetric(m, c.name+"-MB/s")
		b.ReportMetric(median(cpus[c.name]), c.name+"-CPU-s/GB")
		if base > 0 && c.name != "franz-go" {
			b.ReportMetric(m/base, c.name+"/franz-go")
		}
	}
}

// consumeDeadline bounds one client's read: a hang fails the benchmark
// rather than the test binary's timeout.
const consumeDeadline = 5 * time.Minute

func consumeFranz(b *testing.B, addr, topic string, parts int32, total int64) (time.Duration, time.Duration) {
	from := map[int32]kgo.Offset{}
	for p := range parts {
		from[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: from}))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), consumeDeadline)
	defer cancel()
	start := time.Now()
	for n := int64(0); n < total; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			b.Fatalf("franz-go consumed %d of %d: %v", n, total, err)
		}
		for _, e := range fs.Errors() {
			b.Fatalf("franz-go fetch: %v", e.Err)
		}
		n += int64(fs.NumRecords())
	}
	return time.Since(start), 0
}

// consumeLibrdkafka reads with confluent-kafka-go, librdkafka's defaults
// plus extra, the partitions assigned (no group join).
func consumeLibrdkafka(b *testing.B, addr, topic string, parts int32, total int64, extra kafka.ConfigMap) time.Duration {
	conf := kafka.ConfigMap{
		"bootstrap.servers":     addr,
		"group.id":              "bench-librdkafka",
		"enable.auto.commit":    false,
		"broker.address.family": "v4",
		"log_level":             4,
	}
	if dbg := os.Getenv("STREAMHOUSE_RDKAFKA_DEBUG"); dbg != "" {
		conf["debug"] = dbg
		conf["log_level"] = 7
	}
	for k, v := range extra {
		conf[k] = v
	}
	c, err := kafka.NewConsumer(&conf)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var tps []kafka.TopicPartition
	for p := range parts {
		tps = append(tps, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: kafka.OffsetBeginning})
	}
	start := time.Now()
	if err := c.Assign(tps); err != nil {
		b.Fatal(err)
	}
	deadline := start.Add(consumeDeadline)
	for n := int64(0); n < total; {
		if time.Now().After(deadline) {
			b.Fatalf("librdkafka consumed %d of %d in %v", n, total, consumeDeadline)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				b.Fatalf("librdkafka: %v", e.TopicPartition.Error)
			}
			n++
		case kafka.Error:
			b.Fatalf("librdkafka: %v", e)
		}
	}
	return time.Since(start)
}

// consumeSarama reads each partition with sarama's partition consumer,
// sarama's default consumer settings.
func consumeSarama(b *testing.B, addr, topic string, parts int32, total int64) (time.Duration, time.Duration) {
	conf := sarama.NewConfig()
	conf.Version = sarama.V2_1_0_0
	conf.ClientID = "streamhouse-bench-sarama"
	conf.Consumer.Return.Errors = true
	start := time.Now()
	c, err := sarama.NewConsumer([]string{addr}, conf)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var n atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, parts)
	for p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			b.Fatal(err)
		}
		defer pc.AsyncClose()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-pc.Messages():
					if n.Add(1) == total {
						close(done)
					}
				case err := <-pc.Errors():
					errs <- err
					return
				case <-done:
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case err := <-errs:
		b.Fatalf("sarama: %v", err)
	case <-time.After(consumeDeadline):
		b.Fatalf("sarama consumed %d of %d in %v", n.Load(), total, consumeDeadline)
	}
	el := time.Since(start)
	wg.Wait()
	return el, 0
}

func kafkajsInstalled() bool {
	if _, err := exec.LookPath("node"); err != nil {
		return false
	}
	_, err := os.Stat(filepath.Join("testdata", "kafkajs", "node_modules", "kafkajs", "package.json"))
	return err == nil
}

// consumeKafkajs runs testdata/kafkajs/bench-consume.js, a kafkajs consumer
// with its default settings, and takes the time it reports: from its
// group join (which waits out the broker's initial rebalance delay) to the
// last record.
func consumeKafkajs(b *testing.B, addr, topic string, parts int32, total int64) (time.Duration, time.Duration) {
	dir, err := filepath.Abs(filepath.Join("testdata", "kafkajs"))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), consumeDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "bench-consume.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KAFKA_BROKER="+addr, "TOPIC="+topic, fmt.Sprintf("TOTAL=%d", total),
		fmt.Sprintf("GROUP=bench-kafkajs-%d", time.Now().UnixNano()))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("kafkajs: %v\n%s", err, tail(stderr.String(), 4000))
	}
	var res struct{ Records, Ms float64 }
	ls := lines(string(out))
	if len(ls) == 0 || json.Unmarshal([]byte(ls[len(ls)-1]), &res) != nil || int64(res.Records) < total {
		b.Fatalf("kafkajs printed %q\n%s", out, tail(stderr.String(), 4000))
	}
	return time.Duration(res.Ms * float64(time.Millisecond)), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// processCPU is this process's CPU time so far (user and system, every
// thread: the broker's goroutines and the clients', librdkafka's included).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
