package compattests

// Share group speed (issue 21, part 1): a share group's consume throughput
// against a classic group's in the same run, and the latency of
// acknowledgements at a steady rate.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// BenchmarkShareVsClassic: 4 members of a share group and 4 of a classic
// group (cooperative-sticky) each consume the same 6-partition topic of
// STREAMHOUSE_SHARE_BENCH_RECORDS 1 KiB records (default 60,000) from its
// start, alternating for b.N rounds on one broker; the rate is from the
// first record delivered to the last (joins excluded), and the share
// group's members accept every record (acknowledged with their next
// fetch). It reports the medians and the share group's ratio.
//
//	go test ./compat-tests -run '^$' -bench ShareVsClassic -benchtime 5x
func BenchmarkShareVsClassic(b *testing.B) {
	const partitions = 6
	records := envInt("STREAMHOUSE_SHARE_BENCH_RECORDS", 60_000)
	br := brokertest.New(b, brokertest.Options{Settings: shSettings()})
	addr := br.Addr()
	adm := fgAdmin(b, addr)
	fgCreateTopic(b, adm, "bench-queue", partitions, nil)
	prod := fgClient(b, addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000), kgo.ProducerBatchMaxBytes(1<<20))
	value := make([]byte, 1024)
	recs := make([]*kgo.Record, records)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "bench-queue", Value: value}
	}
	fgProduceAll(b, prod, recs)

	var share, classic []float64
	b.ResetTimer()
	for round := range b.N {
		classic = append(classic, benchGroupConsume(b, addr, records, func(i int) []kgo.Opt {
			return []kgo.Opt{kgo.ConsumerGroup(fmt.Sprintf("classic-%d", round)), kgo.ConsumeTopics("bench-queue"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.CooperativeStickyBalancer())}
		}))
		group := fmt.Sprintf("share-%d", round)
		shSetGroupConfig(b, addr, group, map[string]string{"share.auto.offset.reset": "earliest"})
		share = append(share, benchGroupConsume(b, addr, records, func(i int) []kgo.Opt {
			return []kgo.Opt{kgo.ShareGroup(group), kgo.ConsumeTopics("bench-queue")}
		}))
	}
	b.StopTimer()
	ms, mc := median(share), median(classic)
	b.ReportMetric(ms, "share-records/s")
	b.ReportMetric(mc, "classic-records/s")
	b.ReportMetric(ms/mc, "share/classic")
	b.Logf("records/s by round: share %v, classic %v", roundAll(share), roundAll(classic))
}

// benchGroupConsume starts 4 members with opts(i) and returns the records
// per second from the first delivery to the records-th.
func benchGroupConsume(b *testing.B, addr string, records int, opts func(i int) []kgo.Opt) float64 {
	b.Helper()
	var (
		n           atomic.Int64
		first, last atomic.Int64 // unix nanos
		done        = make(chan struct{})
		once        sync.Once
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*fgWait)
	defer cancel()
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for i := range 4 {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.FetchMaxBytes(16 << 20)}, opts(i)...)...)
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, cl)
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				k := int64(fs.NumRecords())
				if k == 0 {
					continue
				}
				now := time.Now().UnixNano()
				first.CompareAndSwap(0, now)
				if n.Add(k) >= int64(records) {
					last.CompareAndSwap(0, now)
					once.Do(func() { close(done) })
				}
			}
		})
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatalf("%d of %d records consumed", n.Load(), records)
	}
	cancel()
	wg.Wait()
	for _, cl := range clients {
		cl.Close()
	}
	return float64(records) / (time.Duration(last.Load() - first.Load()).Seconds())
}

// BenchmarkShareAckLatency: a producer writes STREAMHOUSE_SHARE_BENCH_RATE
// 100-byte records a second (default 10,000) over 6 partitions for b.N
// seconds, 4 share group members consume them, accept each record and
// flush their acknowledgements after each poll (kgo's FlushAcks: the
// broker answers once the acknowledgements are in the catalog). Beside
// them, as the yardstick of the same run, 4 members of a classic group
// consume the same records and commit their offsets synchronously after
// each poll (also answered once in the catalog). It reports the p50 and
// p99 of both and the rate the share group consumed. With
// STREAMHOUSE_SHARE_BENCH_CLASSIC=0 the share group runs alone (the
// classic group's commits share the catalog's writes with the
// acknowledgements).
//
//	go test ./compat-tests -run '^$' -bench ShareAckLatency -benchtime 10x
func BenchmarkShareAckLatency(b *testing.B) {
	const partitions = 6
	rate := envInt("STREAMHOUSE_SHARE_BENCH_RATE", 10_000)
	committers := 4
	if os.Getenv("STREAMHOUSE_SHARE_BENCH_CLASSIC") == "0" {
		committers = 0
	}
	br := brokertest.New(b, brokertest.Options{Settings: shSettings()})
	addr := br.Addr()
	adm := fgAdmin(b, addr)
	fgCreateTopic(b, adm, "bench-acks", partitions, nil)
	shSetGroupConfig(b, addr, "ackers", map[string]string{"share.auto.offset.reset": "earliest"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		consumed atomic.Int64
		wg       sync.WaitGroup
	)
	for i := range 4 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ShareGroup("ackers"), kgo.ConsumeTopics("bench-acks"), kgo.ClientID(fmt.Sprint("acker-", i)))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				if fs.NumRecords() == 0 {
					continue
				}
				fs.EachRecord(func(r *kgo.Record) { r.Ack(kgo.AckAccept) })
				start := time.Now()
				if err := cl.FlushAcks(ctx); err != nil {
					continue
				}
				d := time.Since(start)
				consumed.Add(int64(fs.NumRecords()))
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	var (
		cmu  sync.Mutex
		clat []time.Duration
	)
	for i := range committers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup("committers"), kgo.ConsumeTopics("bench-acks"),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(fmt.Sprint("committer-", i)))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		wg.Go(func() {
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				if fs.NumRecords() == 0 {
					continue
				}
				start := time.Now()
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					continue
				}
				d := time.Since(start)
				cmu.Lock()
				clat = append(clat, d)
				cmu.Unlock()
			}
		})
	}
	prod := fgClient(b, addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(0))
	value := make([]byte, 100)
	// Warm up: members in, connections open.
	fgProduceSync(b, prod, &kgo.Record{Topic: "bench-acks", Value: value})
	for consumed.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	lat = lat[:0]
	mu.Unlock()
	cmu.Lock()
	clat = clat[:0]
	cmu.Unlock()
	b.ResetTimer()
	start := time.Now()
	total := b.N * rate
	tick := time.NewTicker(time.Millisecond)
	sent := 0
	for sent < total {
		<-tick.C
		due := min(int(time.Since(start)*time.Duration(rate)/time.Second), total)
		for ; sent < due; sent++ {
			prod.Produce(ctx, &kgo.Record{Topic: "bench-acks", Value: value}, nil)
		}
	}
	tick.Stop()
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(fgWait)
	for consumed.Load() < int64(total)+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no acknowledgements flushed")
	}
	cmu.Lock()
	defer cmu.Unlock()
	if len(clat) == 0 && committers > 0 {
		b.Fatal("no offsets committed")
	}
	q := func(l []time.Duration, f float64) float64 {
		slices.Sort(l)
		return float64(l[int(f*float64(len(l)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(q(lat, 0.5), "ack-p50-ms")
	b.ReportMetric(q(lat, 0.99), "ack-p99-ms")
	if committers > 0 {
		b.ReportMetric(q(clat, 0.5), "commit-p50-ms")
		b.ReportMetric(q(clat, 0.99), "commit-p99-ms")
	}
	b.ReportMetric(float64(consumed.Load()-1)/el.Seconds(), "records/s")
	b.ReportMetric(float64(len(lat)), "flushes")
}

func roundAll(xs []float64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}
