package compattests

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// BenchmarkTxnCommit10Partitions: a transaction that wrote one record to
// each of 10 partitions commits (EndTransaction: EndTxn, markers durable in
// all 10, the end stored); the metrics are the commit's latency.
//
//	go test ./compat-tests -run x -bench TxnCommit10Partitions -benchtime 500x
func BenchmarkTxnCommit10Partitions(b *testing.B) {
	br := brokertest.New(b)
	benchTopic(b, br.Addr(), "txn-bench", 10)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.TransactionalID("bench"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	recs := make([]*kgo.Record, 10)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: "txn-bench", Partition: int32(p), Value: []byte("v")}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		if err := cl.BeginTransaction(); err != nil {
			b.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
