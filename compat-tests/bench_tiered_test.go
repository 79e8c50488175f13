package compattests

// Tiered storage's speed targets (issue 19), against a versitygw on
// loopback:
//
//	go test ./compat-tests -run '^$' -bench ProduceTiered -benchtime 300000x -count 4
//	go test ./compat-tests -run '^$' -bench TieredUploadBacklog -benchtime 1x
//	go test ./compat-tests -run '^$' -bench TieredReads -benchtime 262144x -count 3
//	go test ./compat-tests -run '^$' -bench TieredStart -benchtime 1x -count 5

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/storage/objstore/s3"
	"github.com/streamhouse/streamhouse/storage/tiered"
)

// benchBucket starts a versitygw with a bucket and returns the object store
// over it.
func benchBucket(b *testing.B) *s3.Store {
	b.Helper()
	srv := s3test.Start(b)
	st, err := s3.New(s3.Options{Endpoint: srv.Endpoint(), Bucket: srv.Bucket(b), Credentials: s3test.Credentials()})
	if err != nil {
		b.Fatal(err)
	}
	return st
}

// benchTiered starts a broker, tiered to a new bucket when tiered is set.
func benchTiered(b *testing.B, tiered bool, opts brokertest.Options) *brokertest.Broker {
	b.Helper()
	if tiered {
		opts.Bucket = benchBucket(b)
	}
	return brokertest.New(b, opts)
}

// benchBacklog samples the broker's upload backlog every 50 ms until stop
// is closed, and returns the most segments (all partitions, and any one)
// and bytes it saw.
func benchBacklog(br *brokertest.Broker, stop <-chan struct{}) func() (int, int, int64) {
	var maxSegs, maxPart atomic.Int64
	var maxBytes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if ts := br.Tiered(); ts != nil {
				segs, bytes := ts.Backlog()
				if int64(segs) > maxSegs.Load() {
					maxSegs.Store(int64(segs))
				}
				if bytes > maxBytes.Load() {
					maxBytes.Store(bytes)
				}
				if n := int64(ts.MaxPartitionBacklog()); n > maxPart.Load() {
					maxPart.Store(n)
				}
			}
		}
	}()
	return func() (int, int, int64) {
		<-done
		return int(maxSegs.Load()), int(maxPart.Load()), maxBytes.Load()
	}
}

// BenchmarkProduceTiered: produce throughput with tiering off and on, in
// one run: acks=all with fsync, 1 KiB records, 6 partitions, 8 MiB
// segments (so that segments close and upload during the run) and 16 MiB
// kept locally. Uploads are background work: the target is tiered >= 90%
// of local. Reports the largest upload backlog seen.
func BenchmarkProduceTiered(b *testing.B) {
	for _, mode := range []string{"local", "tiered"} {
		b.Run(mode, func(b *testing.B) {
			br := benchTiered(b, mode == "tiered", brokertest.Options{Settings: map[string]string{"log.retention.check.interval.ms": "500"}})
			fgCreateTopic(b, fgAdmin(b, br.Addr()), "bench", 6, map[string]string{
				"segment.bytes": strconv.Itoa(8 << 20), "local.retention.bytes": strconv.Itoa(16 << 20),
			})
			stop := make(chan struct{})
			backlog := benchBacklog(br, stop)
			benchProduce(b, br.Addr(), "bench", 1024, kgo.AllISRAcks(), true)
			close(stop)
			segs, part, bytes := backlog()
			b.ReportMetric(float64(segs), "max-backlog-segments")
			b.ReportMetric(float64(part), "max-partition-backlog-segments")
			b.ReportMetric(float64(bytes)/1e6, "max-backlog-MB")
		})
	}
}

// BenchmarkTieredUploadBacklog: 200 MiB/s of produce (256 KiB records, fixed
// rate, 6 partitions, acks=all with fsync, 64 MiB segments, 128 MiB kept
// locally per partition) for 60 s; the target is an upload backlog under 3
// segments all along. Reports the largest backlog, the produce rate
// reached, and the time the backlog took to drain after the load.
// STREAMHOUSE_BENCH_PART_BYTES=-1 uploads segments whole once closed (no
// eager parts), for a comparison.
func BenchmarkTieredUploadBacklog(b *testing.B) {
	const rate, recSize = 200 << 20, 256 << 10
	dur := 60 * time.Second
	if testing.Short() {
		dur = 10 * time.Second
	}
	uploaders, _ := strconv.Atoi(os.Getenv("STREAMHOUSE_BENCH_UPLOADERS"))              // zero: the default
	partBytes, _ := strconv.ParseInt(os.Getenv("STREAMHOUSE_BENCH_PART_BYTES"), 10, 64) // zero: the default; -1: whole uploads
	br := benchTiered(b, true, brokertest.Options{Settings: map[string]string{"log.retention.check.interval.ms": "500"},
		Tiered: tiered.Options{Uploaders: uploaders, PartSize: partBytes}})
	fgCreateTopic(b, fgAdmin(b, br.Addr()), "bench", 6, map[string]string{
		"segment.bytes": strconv.Itoa(64 << 20), "local.retention.bytes": strconv.Itoa(128 << 20),
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerBatchMaxBytes(1_000_000),
		kgo.MaxBufferedBytes(256<<20), kgo.ProducerLinger(time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, recSize)
	for i := range value {
		value[i] = byte(i * 7919)
	}
	stop := make(chan struct{})
	backlog := benchBacklog(br, stop)
	b.ResetTimer()
	for range b.N {
		var failed atomic.Int64
		var firstErr atomic.Value
		start := time.Now()
		sent := 0
		for time.Since(start) < dur {
			due := start.Add(time.Duration(sent) * time.Second / (rate / recSize))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			cl.Produce(context.Background(), &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					firstErr.Store(err)
				}
			})
			sent++
		}
		if err := cl.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		el := time.Since(start)
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d produces failed, first: %v", n, firstErr.Load())
		}
		b.ReportMetric(float64(sent)*recSize/1e6/el.Seconds(), "produce-MB/s")
		drain := time.Now()
		for {
			if segs, _ := br.Tiered().Backlog(); segs == 0 {
				break
			}
			if time.Since(drain) > 2*time.Minute {
				b.Fatal("the upload backlog did not drain within 2 minutes")
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.ReportMetric(time.Since(drain).Seconds(), "drain-s")
	}
	b.StopTimer()
	close(stop)
	segs, part, bytes := backlog()
	b.ReportMetric(float64(segs), "max-backlog-segments")
	b.ReportMetric(float64(part), "max-partition-backlog-segments")
	b.ReportMetric(float64(bytes)/1e6, "max-backlog-MB")
}

// BenchmarkTieredReads: b.N records of 1 KiB in 6 partitions, read from the
// start by one franz-go consumer: "local" from a broker without tiering
// (the page cache), "cold" with every byte in the bucket and the read cache
// empty (a restarted broker), "warm" the same read again (from the cache).
// Targets: cold >= 300 MB/s; warm as fast as local.
func BenchmarkTieredReads(b *testing.B) {
	for _, mode := range []string{"local", "cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			br := benchTiered(b, mode != "local", brokertest.Options{Settings: map[string]string{"log.retention.check.interval.ms": "200"}})
			configs := map[string]string{"segment.bytes": strconv.Itoa(8 << 20)}
			if mode != "local" {
				// Nothing stays local once uploaded: 1 byte keeps
				// only the active segment.
				configs["local.retention.bytes"] = "1"
			}
			fgCreateTopic(b, fgAdmin(b, br.Addr()), "bench", 6, configs)
			b.StopTimer()
			benchProduce(b, br.Addr(), "bench", 1024, kgo.AllISRAcks(), true)
			total := b.N + 1
			if mode != "local" {
				benchWaitTiered(b, br, "bench", 6)
				// The read cache is kept across restarts:
				// emptied, so that every byte comes from the
				// bucket.
				br.Stop()
				if err := os.RemoveAll(filepath.Join(br.Dir(), "remote-cache")); err != nil {
					b.Fatal(err)
				}
				br.Restart()
			}
			read := func() time.Duration {
				cl, err := kgo.NewClient(kgo.SeedBrokers(br.Addr()), kgo.ConsumeTopics("bench"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				start := time.Now()
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
				return time.Since(start)
			}
			if mode == "warm" {
				read()
			}
			b.SetBytes(1024)
			b.StartTimer()
			el := read()
			b.StopTimer()
			b.ReportMetric(float64(total)*1024/1e6/el.Seconds(), "consume-MB/s")
			if ts := br.Tiered(); ts != nil {
				hits, misses, ahead, _ := ts.CacheStats()
				b.ReportMetric(float64(hits), "cache-hits")
				b.ReportMetric(float64(misses), "cache-misses")
				b.ReportMetric(float64(ahead), "prefetches")
			}
		})
	}
}

// benchWaitTiered waits until the topic's closed segments are all uploaded
// and their local copies gone (within 5 minutes).
func benchWaitTiered(b *testing.B, br *brokertest.Broker, topic string, partitions int32) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		segs, _ := br.Tiered().Backlog()
		local := benchLocalBytes(b, br, topic, partitions)
		if segs == 0 && local <= int64(partitions)*(8<<20) {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("after 5 minutes: %d segments not uploaded, %d bytes local", segs, local)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// benchLocalBytes is what the topic's partitions hold on local disk
// (DescribeLogDirs).
func benchLocalBytes(b *testing.B, br *brokertest.Broker, topic string, partitions int32) int64 {
	b.Helper()
	dirs, err := fgAdmin(b, br.Addr()).DescribeAllLogDirs(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic {
				n += p.Size
			}
		})
	})
	return n
}

// BenchmarkTieredStart: a broker start over a catalog recording 10,000
// remote segments (100 partitions of 100 segments; their objects are not
// needed to start), beside a start of the same topic without tiering: the
// time to the first answer (Metadata), and to the answer of ListOffsets
// for every partition (their logs opened, remote segments loaded).
// Target: first answer <= 100 ms.
func BenchmarkTieredStart(b *testing.B) {
	for _, mode := range []string{"local", "tiered"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			opts := brokertest.Options{Dir: dir}
			if mode == "tiered" {
				opts.Bucket = benchBucket(b)
			}
			br := brokertest.New(b, opts)
			resp := fgCreateTopic(b, fgAdmin(b, br.Addr()), "cold", 100, nil)
			br.Stop()
			want := int64(0)
			if mode == "tiered" {
				benchRemoteSegments(b, dir, meta.TopicID(resp.ID))
				want = 100_000
				// The first start after creates the local logs at
				// the remote end (a restore); the timed ones
				// reopen them, as any restart does.
				br.Restart()
				fgAdmin(b, br.Addr()).ListTopics(context.Background(), "cold")
				br.Stop()
			}
			ctx := context.Background()
			var first, all time.Duration
			for range b.N {
				start := time.Now()
				br.Restart()
				adm := fgAdmin(b, br.Addr())
				if _, err := adm.ListTopics(ctx, "cold"); err != nil {
					b.Fatal(err)
				}
				first += time.Since(start)
				offs, err := adm.ListEndOffsets(ctx, "cold")
				if err != nil || offs.Error() != nil {
					b.Fatal(err, offs.Error())
				}
				offs.Each(func(o kadm.ListedOffset) {
					if o.Offset != want {
						b.Fatalf("partition %d ends at %d, want %d", o.Partition, o.Offset, want)
					}
				})
				all += time.Since(start)
				adm.Close()
				br.Stop()
			}
			b.ReportMetric(float64(first.Microseconds())/1e3/float64(b.N), "first-answer-ms")
			b.ReportMetric(float64(all.Microseconds())/1e3/float64(b.N), "all-partitions-ms")
		})
	}
}

// benchRemoteSegments records 100 remote segments of 1,000 offsets for each
// of the topic's 100 partitions, and removes the local logs, which would
// end below them (as a data directory lost).
func benchRemoteSegments(b *testing.B, dir string, id meta.TopicID) {
	b.Helper()
	if err := os.RemoveAll(filepath.Join(dir, "storage")); err != nil {
		b.Fatal(err)
	}
	cat := brokertest.OpenCatalog(b, dir)
	defer cat.Close()
	ctx := context.Background()
	for p := range int32(100) {
		for s := range int64(100) {
			if err := cat.AddRemoteSegment(ctx, meta.RemoteSegment{
				TopicID: id, Partition: p, ID: fmt.Sprintf("%016x", s),
				BaseOffset: s * 1000, EndOffset: (s + 1) * 1000, MaxTimestamp: time.Now().UnixMilli(),
				Size: 1 << 20, Checksum: "00", CreatedAt: time.Now(),
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
}
