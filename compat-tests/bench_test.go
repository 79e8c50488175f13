package compattests

// Benchmarks of the durability issue: produce throughput with acks=all and
// fsync against the same without fsync, many partitions, and restart time
// after kill -9. Client and broker share this machine's cores.
//
//	go test ./compat-tests -run x -bench . -benchtime 200000x

import (
	"context"
	bin "encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// benchProduce produces b.N records of size bytes round-robin over the
// topic's partitions and reports MB/s and records/s. Idempotence is off
// unless idempotent is set.
func benchProduce(b *testing.B, addr, topic string, size int, acks kgo.Acks, idempotent bool, opts ...kgo.Opt) {
	b.Helper()
	if !idempotent {
		// An idempotent producer keeps 5 requests in flight by itself;
		// without idempotence kgo sends one at a time unless told.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(benchInflight))
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.RequiredAcks(acks),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(200_000),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, size)
	// Warm up: metadata, connections.
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: topic, Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	var failed atomic.Int64
	var firstErr atomic.Value
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: value}, func(_ *kgo.Record, err error) {
			if err != nil && failed.Add(1) == 1 {
				firstErr.Store(err)
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d produces failed, first: %v", n, firstErr.Load())
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
}

func benchTopic(b *testing.B, addr, topic string, partitions int32) {
	b.Helper()
	adm := fgAdmin(b, addr)
	fgCreateTopic(b, adm, topic, partitions, nil)
}

// BenchmarkProduce1KiB6Partitions: acks=all with fsync (the promise) and
// without (--fsync=false), 1 KiB records, 6 partitions, franz-go.
func BenchmarkProduce1KiB6Partitions(b *testing.B) {
	benchSyncModes(b, func(b *testing.B, addr string) {
		benchProduce(b, addr, "bench", 1024, kgo.AllISRAcks(), false)
	})
}

// benchSyncModes runs bench as two sub-benchmarks, against a broker that
// fsyncs (the promise) and one started with --fsync=false, each with a
// topic "bench" of 6 partitions.
func benchSyncModes(b *testing.B, bench func(b *testing.B, addr string)) {
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nofsync", true}} {
		b.Run(mode.name, func(b *testing.B) {
			br := brokertest.New(b, brokertest.Options{NoSync: mode.noSync})
			benchTopic(b, br.Addr(), "bench", 6)
			bench(b, br.Addr())
		})
	}
}

// BenchmarkProduceIdempotent: the cost of idempotence, acks=all with
// fsync, 1 KiB records, 6 partitions, franz-go with and without it (5
// requests in flight either way).
func BenchmarkProduceIdempotent(b *testing.B) {
	for _, idempotent := range []bool{true, false} {
		name := "plain"
		if idempotent {
			name = "idempotent"
		}
		b.Run(name, func(b *testing.B) {
			br := brokertest.New(b)
			benchTopic(b, br.Addr(), "bench", 6)
			benchProduce(b, br.Addr(), "bench", 1024, kgo.AllISRAcks(), idempotent)
		})
	}
}

// BenchmarkProduce2000Partitions: acks=all with fsync, records spread
// round-robin over 2,000 partitions.
func BenchmarkProduce2000Partitions(b *testing.B) {
	br := brokertest.New(b)
	benchTopic(b, br.Addr(), "wide", 2000)
	benchProduce(b, br.Addr(), "wide", 100, kgo.AllISRAcks(), false)
}

// BenchmarkRestartAfterKill: the binary holds about 1 GB of log in 6
// partitions; it is killed with SIGKILL while producing and restarted. The
// time reported is from exec to the first ApiVersions answer. b.N restarts
// reuse the same data directory.
func BenchmarkRestartAfterKill(b *testing.B) {
	dir := b.TempDir()
	p := startProc(b, dir, "")
	addr := p.addr
	benchTopic(b, addr, "big", 6)
	fill := func() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DisableIdempotentWrite(),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(1<<20),
			kgo.MaxBufferedRecords(100_000), kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		value := make([]byte, 16<<10)
		for range 1 << 30 / len(value) {
			cl.Produce(context.Background(), &kgo.Record{Topic: "big", Value: value}, nil)
		}
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	fill()
	b.ResetTimer()
	var total time.Duration
	for range b.N {
		b.StopTimer()
		p.cmd.Process.Kill()
		<-p.done
		b.StartTimer()
		start := time.Now()
		p = startProcWith(b, binary(b), nil, dir, addr)
		if err := firstApiVersions(p, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/restart")
}

// rawRoundTrip sends req on c and reads one response frame.
func rawRoundTrip(c net.Conn, req kmsg.Request) error {
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(badEncode(req, 1)); err != nil {
		return err
	}
	var sz [4]byte
	if _, err := io.ReadFull(c, sz[:]); err != nil {
		return err
	}
	_, err := io.ReadFull(c, make([]byte, bin.BigEndian.Uint32(sz[:])))
	return err
}

// firstApiVersions dials p until it answers ApiVersions, polling every
// 200µs so that the poll adds little to a startup it measures; it fails
// at once if p exits.
func firstApiVersions(p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "bench", "1"
	for {
		c, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			err = rawRoundTrip(c, req)
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case werr := <-p.done:
			p.done <- werr
			return fmt.Errorf("streamhouse exited before answering ApiVersions: %v", werr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no ApiVersions answer from %s within %v: %v", p.addr, timeout, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// benchInflight is how many produce requests the benchmark client keeps in
// flight: what an idempotent producer uses.
var benchInflight = envInt("STREAMHOUSE_BENCH_INFLIGHT", 5)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkProduceCatalogs: the catalog is off the data path (issue 17):
// acks=all with fsync, 1 KiB records, 6 partitions, an idempotent franz-go
// producer (it asks the catalog for its producer id once), against a
// broker on SQLite and one on PostgreSQL, alternating in one run.
//
//	go test ./compat-tests -run '^$' -bench ProduceCatalogs -benchtime 200000x -count 6
func BenchmarkProduceCatalogs(b *testing.B) {
	for _, catalog := range []string{"sqlite", "postgres"} {
		b.Run(catalog, func(b *testing.B) {
			opts := brokertest.Options{}
			if catalog == "postgres" {
				opts.DatabaseURL = pgtest.URL(b)
			} else {
				opts.CatalogPath = filepath.Join(b.TempDir(), "metadata.db")
			}
			br := brokertest.New(b, opts)
			benchTopic(b, br.Addr(), "bench", 6)
			benchProduce(b, br.Addr(), "bench", 1024, kgo.AllISRAcks(), true)
		})
	}
}
