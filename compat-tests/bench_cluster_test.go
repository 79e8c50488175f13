package compattests

// The cluster mode's speed and cost (issue 20), with real processes on
// loopback: one PostgreSQL database of the benchmark's own, one versitygw
// behind a proxy that counts its requests, and streamhouse brokers
// (bench_cluster_helpers_test.go). Each runs with -benchtime 1x; its
// rounds are STREAMHOUSE_CLUSTER_BENCH_ROUNDS (3), its windows
// STREAMHOUSE_CLUSTER_BENCH_SECONDS long (20), and it needs more than go
// test's default 10 minutes:
//
//	go test ./compat-tests -run '^$' -bench ClusterProduce -benchtime 1x -timeout 60m -v
//	go test ./compat-tests -run '^$' -bench ClusterCPU -benchtime 1x -timeout 60m -v
//	go test ./compat-tests -run '^$' -bench ClusterCatalogRows -benchtime 1x -timeout 60m -v
//
// BenchmarkClusterProduce: 3 brokers with a 10 ms --s3-flush-interval
// (STREAMHOUSE_CLUSTER_BENCH_FLUSH_MS), 10,000 records/s of 1 KiB
// (STREAMHOUSE_CLUSTER_BENCH_RATE) produced with acks=all by idempotent
// franz-go clients, in two shapes turn about on the same cluster: 6
// partitions from 1 producer, 48 partitions from 4. Each record's latency
// runs from the time it was due to its acknowledgement (target: p99 <=
// the flush interval + 30 ms). Counted in each window: each broker's WAL
// object PUTs (at the proxy), its catalog commits of them (its own
// CommitWAL count) and the cluster's PostgreSQL transactions
// (pg_stat_database.xact_commit of its database) less those of an idle
// window of the same cluster (heartbeats, lease reads); target: at most
// one PUT and one transaction per flush and broker, whatever the
// partitions and producers.
//
// BenchmarkClusterCPU: the brokers' CPU time (/proc/<pid>/stat) per MB
// produced, a cluster of 1 broker beside a cluster of 3 (fresh ones each
// round, the order turning), 6 partitions, 10,000 records/s of 1 KiB, and
// 1 broker at a third of that (what each of the 3 carries); sub-benchmarks
// for a 250 ms flush (the default) and a 10 ms one. Also each broker's CPU
// and transactions per second while idle. Target: CPU per MB within 10%
// for 1 and 3 brokers.
//
// BenchmarkClusterCatalogRows: the catalog's rows of WAL runs per
// partition under sustained load (STREAMHOUSE_CLUSTER_BENCH_SOAK_SECONDS,
// 300; 2,000 records/s of 1 KiB, 6 partitions, 3 brokers, 10 ms flush,
// segment.ms 20 s so that segments roll, upload and let their runs go in
// seconds rather than the 10 minutes segments are capped at by default),
// sampled every 5 s: they must stay under a fixed bound instead of growing
// with the load's length.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	bcRounds  = envInt("STREAMHOUSE_CLUSTER_BENCH_ROUNDS", 3)
	bcSeconds = envInt("STREAMHOUSE_CLUSTER_BENCH_SECONDS", 20)
	bcRate    = envInt("STREAMHOUSE_CLUSTER_BENCH_RATE", 10_000)
	bcFlushMs = envInt("STREAMHOUSE_CLUSTER_BENCH_FLUSH_MS", 10)
	bcSoak    = envInt("STREAMHOUSE_CLUSTER_BENCH_SOAK_SECONDS", 300)
	// bcTrace (STREAMHOUSE_CLUSTER_BENCH_TRACE=1) runs the brokers at
	// debug level and logs, for a window with a stall (records 200 ms
	// late or more), when it was and the brokers' lines of leases,
	// rebuilds, uploads and sessions around it.
	bcTrace = os.Getenv("STREAMHOUSE_CLUSTER_BENCH_TRACE") == "1"
)

// bcWarmup is produced, not measured, before each measured window: the
// clients' connections and batches, the brokers' partitions, warm.
const bcWarmup = 3 * time.Second

// bcQuiet comes before each idle window.
const bcQuiet = 5 * time.Second

func BenchmarkClusterProduce(b *testing.B) {
	const brokers = 3
	flush := time.Duration(bcFlushMs) * time.Millisecond
	window := time.Duration(bcSeconds) * time.Second
	srv := bcStartServers(b)
	c := srv.newCluster(b, brokers, flush)
	type shape struct {
		name       string
		partitions int32
		producers  int
		load       bcLoad
		// per round
		p50, p99, max, putsPerSec, commitsPerSec, xactsPerSec, putsPerFlush, partsPerPut, commitRatio []float64
		putP99, commitP99                                                                             []float64
	}
	shapes := []*shape{{name: "6p-1prod", partitions: 6, producers: 1}, {name: "48p-4prod", partitions: 48, producers: 4}}
	for _, s := range shapes {
		topic := c.topic(s.name, s.partitions, nil)
		s.load = bcLoad{addrs: c.addrs(), topic: topic, rate: bcRate, size: 1024, producers: s.producers}
	}
	prod := map[string][]*kgo.Client{}
	for _, s := range shapes {
		prod[s.name] = s.load.clients(b)
	}
	var idleXacts, idleCPU []float64 // per broker per second
	b.ResetTimer()
	for range b.N {
		for round := range bcRounds {
			// An idle window: what the cluster does with nothing to
			// write (sessions, leases, the change feed), after a
			// quiet spell that lets PostgreSQL's statistics of what
			// came before (the topics' creation, the last load)
			// reach pg_stat_database.
			time.Sleep(bcQuiet * time.Duration(1+2*max(0, 1-round))) // longer after the topics' creation
			a := c.counts()
			time.Sleep(window / 2)
			idle := bcDiff(a, c.counts())
			idleRate := float64(idle.xacts) / idle.secs
			idleXacts = append(idleXacts, idleRate/brokers)
			idleCPU = append(idleCPU, bcMs(idle.cpuTotal())/idle.secs/brokers)
			b.Logf("round %d idle: %.1f transactions/s and %.1f CPU-ms/s per broker, WAL PUTs %v", round, idleRate/brokers, bcMs(idle.cpuTotal())/idle.secs/brokers, idle.walPuts)
			order := slices.Clone(shapes)
			if round%2 == 1 {
				slices.Reverse(order)
			}
			for _, s := range order {
				s.load.run(b, prod[s.name], bcWarmup)
				a := c.counts()
				ins0 := c.inserted()
				res := s.load.run(b, prod[s.name], window)
				z := c.counts()
				ins1 := c.inserted()
				w := bcDiff(a, z)
				for _, l := range c.warnings() {
					b.Log(l)
				}
				if bcTrace {
					c.traceStall(res)
				}
				if res.failed > 0 {
					b.Fatalf("%s: %d records failed, first: %v", s.name, res.failed, res.first)
				}
				puts, commits := bcSum(w.walPuts), bcSum(w.commits)
				// The load's own transactions: the window's, less
				// the idle rate's share, less the inserted() query
				// of this window's start.
				loadXacts := float64(w.xacts) - idleRate*w.secs - 1
				s.p50 = append(s.p50, bcMs(res.pct(0.50)))
				s.p99 = append(s.p99, bcMs(res.pct(0.99)))
				s.max = append(s.max, bcMs(res.lat[len(res.lat)-1]))
				s.putsPerSec = append(s.putsPerSec, w.maxPerSec(w.walPuts))
				s.commitsPerSec = append(s.commitsPerSec, w.maxPerSec(w.commits))
				s.xactsPerSec = append(s.xactsPerSec, loadXacts/w.secs/brokers)
				s.putsPerFlush = append(s.putsPerFlush, w.maxPerSec(w.walPuts)*flush.Seconds())
				s.partsPerPut = append(s.partsPerPut, float64(ins1-ins0)/float64(max(puts, 1)))
				s.commitRatio = append(s.commitRatio, loadXacts/float64(max(commits, 1)))
				s.putP99 = append(s.putP99, bcMs(w.putP99))
				s.commitP99 = append(s.commitP99, bcMs(w.commitP99))
				b.Logf("round %d %s: %d records in %.1f s, latency p50 %.1f p99 %.1f max %.1f ms; per broker: WAL PUTs %v, CommitWAL %v (the busiest %.1f/s, %.2f a flush; a PUT %.1f ms on average, p99 %.1f, a CommitWAL %.1f ms, p99 <= %.1f), CPU %v; the cluster's transactions %d (%.0f over idle, %.2f a CommitWAL), %.1f partitions a PUT; requests %v",
					round, s.name, res.records, w.secs, bcMs(res.pct(0.5)), bcMs(res.pct(0.99)), bcMs(res.lat[len(res.lat)-1]),
					w.walPuts, w.commits, w.maxPerSec(w.walPuts), w.maxPerSec(w.walPuts)*flush.Seconds(), bcMs(w.putMean), bcMs(w.putP99), bcMs(w.commitMean), bcMs(w.commitP99), w.cpu,
					w.xacts, loadXacts, loadXacts/float64(max(commits, 1)), float64(ins1-ins0)/float64(max(puts, 1)), w.requests)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(bcMedian(idleXacts), "idle-xacts/s/broker")
	b.ReportMetric(bcMedian(idleCPU), "idle-cpu-ms/s/broker")
	for _, s := range shapes {
		b.ReportMetric(bcMedian(s.p50), s.name+"-p50-ms")
		b.ReportMetric(bcMedian(s.p99), s.name+"-p99-ms")
		b.ReportMetric(bcMedian(s.max), s.name+"-max-ms")
		b.ReportMetric(bcMedian(s.putsPerFlush), s.name+"-puts/flush/broker")
		b.ReportMetric(bcMedian(s.xactsPerSec)*flush.Seconds(), s.name+"-xacts/flush/broker")
		b.Logf("%s, %d records/s of 1 KiB, flush %v, %d brokers, medians of %d rounds: latency p50 %.1f ms %v, p99 %.1f ms %v, max %.1f ms %v; the busiest broker's WAL PUTs %.1f/s %v (%.2f a flush), CommitWAL %.1f/s %v; the load's transactions %.1f/s per broker %v, %.2f a CommitWAL %v; %.1f partitions a PUT %v; a WAL PUT's p99 %.1f ms %v, a CommitWAL's p99 <= %.1f ms %v",
			s.name, bcRate, flush, brokers, len(s.p99), bcMedian(s.p50), bcRound(s.p50), bcMedian(s.p99), bcRound(s.p99), bcMedian(s.max), bcRound(s.max),
			bcMedian(s.putsPerSec), bcRound(s.putsPerSec), bcMedian(s.putsPerFlush), bcMedian(s.commitsPerSec), bcRound(s.commitsPerSec),
			bcMedian(s.xactsPerSec), bcRound(s.xactsPerSec), bcMedian(s.commitRatio), bcRound(s.commitRatio), bcMedian(s.partsPerPut), bcRound(s.partsPerPut),
			bcMedian(s.putP99), bcRound(s.putP99), bcMedian(s.commitP99), bcRound(s.commitP99))
	}
	b.Logf("idle, per broker: %.1f transactions/s %v, %.1f CPU-ms/s %v", bcMedian(idleXacts), bcRound(idleXacts), bcMedian(idleCPU), bcRound(idleCPU))
}

func BenchmarkClusterCPU(b *testing.B) {
	for _, flush := range []time.Duration{250 * time.Millisecond, 10 * time.Millisecond} {
		b.Run("flush="+flush.String(), func(b *testing.B) { benchClusterCPU(b, flush) })
	}
}

func benchClusterCPU(b *testing.B, flush time.Duration) {
	window := time.Duration(bcSeconds) * time.Second
	srv := bcStartServers(b)
	// Three sides: the load on 1 broker and on 3 (the target's
	// comparison), and a third of it on 1 broker: what each broker of the
	// 3 carries, so that what a broker costs per MB in a cluster of 3 is
	// compared with what it costs alone at the same load.
	type side struct {
		name                                    string
		brokers, rate                           int
		cpuPerMB, mbs, idleCPU, idleXacts, puts []float64
	}
	sides := []*side{
		{name: "1-broker", brokers: 1, rate: bcRate},
		{name: "3-brokers", brokers: 3, rate: bcRate},
		{name: "1-broker-third", brokers: 1, rate: bcRate / 3},
	}
	b.ResetTimer()
	for range b.N {
		for round := range bcRounds {
			order := slices.Clone(sides)
			for range round % len(sides) { // each side first in turn
				order = append(order[1:], order[0])
			}
			for _, s := range order {
				c := srv.newCluster(b, s.brokers, flush)
				topic := c.topic("cpu", 6, nil)
				load := bcLoad{addrs: c.addrs(), topic: topic, rate: s.rate, size: 1024, producers: 1}
				cls := load.clients(b)
				time.Sleep(bcQuiet)
				a := c.counts()
				time.Sleep(window) // CPU time comes in ticks of 10 ms: a long idle window
				idle := bcDiff(a, c.counts())
				load.run(b, cls, bcWarmup)
				a = c.counts()
				res := load.run(b, cls, window)
				w := bcDiff(a, c.counts())
				for _, l := range c.warnings() {
					b.Log(l)
				}
				if bcTrace {
					c.traceStall(res)
				}
				if res.failed > 0 {
					b.Fatalf("%s: %d records failed, first: %v", s.name, res.failed, res.first)
				}
				for _, cl := range cls {
					cl.Close()
				}
				c.stop()
				mb := float64(res.bytes) / 1e6
				s.cpuPerMB = append(s.cpuPerMB, bcMs(w.cpuTotal())/mb)
				s.mbs = append(s.mbs, mb/w.secs)
				s.idleCPU = append(s.idleCPU, bcMs(idle.cpuTotal())/idle.secs/float64(s.brokers))
				s.idleXacts = append(s.idleXacts, float64(idle.xacts)/idle.secs/float64(s.brokers))
				s.puts = append(s.puts, float64(bcSum(w.walPuts))/w.secs/float64(s.brokers))
				var each []string
				for node := 1; node <= s.brokers; node++ {
					each = append(each, fmt.Sprintf("%d: %.0f CPU-ms/s", node, bcMs(w.cpu[node])/w.secs))
				}
				b.Logf("round %d, %s: %.1f MB/s, %.2f CPU-ms per MB (%s); idle %.1f CPU-ms/s and %.1f transactions/s per broker; WAL PUTs %.1f/s per broker, p99 %.1f ms",
					round, s.name, mb/w.secs, bcMs(w.cpuTotal())/mb, strings.Join(each, ", "),
					bcMs(idle.cpuTotal())/idle.secs/float64(s.brokers), float64(idle.xacts)/idle.secs/float64(s.brokers),
					float64(bcSum(w.walPuts))/w.secs/float64(s.brokers), bcMs(res.pct(0.99)))
			}
		}
	}
	b.StopTimer()
	for _, s := range sides {
		b.ReportMetric(bcMedian(s.cpuPerMB), "cpu-ms/MB-"+s.name)
		b.ReportMetric(bcMedian(s.idleCPU), "idle-cpu-ms/s/broker-"+s.name)
		b.Logf("%s, flush %v, %d records/s of 1 KiB, medians of %d rounds: %.2f CPU-ms per MB %v at %.1f MB/s; idle per broker %.1f CPU-ms/s %v, %.1f transactions/s %v; WAL PUTs per broker %.1f/s %v",
			s.name, flush, s.rate, len(s.cpuPerMB), bcMedian(s.cpuPerMB), bcRound(s.cpuPerMB), bcMedian(s.mbs),
			bcMedian(s.idleCPU), bcRound(s.idleCPU), bcMedian(s.idleXacts), bcRound(s.idleXacts), bcMedian(s.puts), bcRound(s.puts))
	}
	for _, base := range []*side{sides[0], sides[2]} {
		var ratios []float64
		for i := range base.cpuPerMB {
			ratios = append(ratios, sides[1].cpuPerMB[i]/base.cpuPerMB[i])
		}
		b.ReportMetric(bcMedian(sides[1].cpuPerMB)/bcMedian(base.cpuPerMB), "3-brokers/"+base.name)
		b.Logf("CPU per MB, 3 brokers / %s: %.3f (medians); by round %v", base.name, bcMedian(sides[1].cpuPerMB)/bcMedian(base.cpuPerMB), bcRound(ratios))
	}
}

func BenchmarkClusterCatalogRows(b *testing.B) {
	const brokers, partitions, rate = 3, 6, 2000
	const segmentMs = 20_000
	consolidate := 10 * time.Second // storage/wal's ConsolidateInterval
	flush := time.Duration(bcFlushMs) * time.Millisecond
	soak := time.Duration(bcSoak) * time.Second
	srv := bcStartServers(b)
	for range b.N {
		c := srv.newCluster(b, brokers, flush, "--s3-delete-grace", "30s")
		topic := c.topic("rows", partitions, map[string]string{"segment.ms": strconv.Itoa(segmentMs)})
		load := bcLoad{addrs: c.addrs(), topic: topic, rate: rate, size: 1024, producers: 1}
		cls := load.clients(b)
		mc := c.s3.Client(b)
		walObjects := func() int {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			n := 0
			for o := range mc.ListObjects(ctx, c.bucket, minio.ListObjectsOptions{Prefix: "wal/", Recursive: true}) {
				if o.Err != nil {
					b.Fatal(o.Err)
				}
				n++
			}
			return n
		}
		type sample struct {
			at                   time.Duration
			maxRows, total, objs int64
			bucketObjs           int
		}
		var samples []sample
		var res bcResult
		a := c.counts()
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			res = load.run(b, cls, soak)
		}()
		tick := time.NewTicker(5 * time.Second)
	loop:
		for {
			select {
			case <-done:
				break loop
			case <-tick.C:
			}
			per, objs := c.rows()
			s := sample{at: time.Since(start).Round(time.Second), objs: objs, bucketObjs: walObjects()}
			for _, n := range per {
				s.maxRows = max(s.maxRows, n)
				s.total += n
			}
			samples = append(samples, s)
			b.Logf("%v: wal_batches rows %d, the most of one partition %d (of %d partitions); wal_objects rows %d; WAL objects in the bucket %d",
				s.at, s.total, s.maxRows, len(per), s.objs, s.bucketObjs)
		}
		tick.Stop()
		w := bcDiff(a, c.counts())
		if res.failed > 0 {
			b.Fatalf("%d records failed, first: %v", res.failed, res.first)
		}
		// The bound: a partition gets at most one run a round, and its
		// leader makes at most one round a flush interval (measured:
		// the busiest broker's WAL PUTs a second); a run lives until
		// the segment it is in has rolled (segment.ms) and been
		// uploaded, and the next consolidation pass trims it.
		rounds := w.maxPerSec(w.walPuts)
		var firstHalf, secondHalf, all, objs int64
		for _, s := range samples {
			all = max(all, s.maxRows)
			objs = max(objs, s.objs)
			if s.at < soak/2 {
				firstHalf = max(firstHalf, s.maxRows)
			} else {
				secondHalf = max(secondHalf, s.maxRows)
			}
		}
		bound := (1 / flush.Seconds()) * (time.Duration(segmentMs)*time.Millisecond + consolidate).Seconds()
		b.ReportMetric(float64(all), "max-rows/partition")
		b.ReportMetric(bound, "bound-rows/partition")
		b.Logf("%v of %d records/s of 1 KiB over %d partitions, %d brokers, flush %v, segment.ms %d: the most rows of one partition %d (first half %d, second half %d); %.1f rounds/s on the busiest broker, %.0f rounds a partition over segment.ms + the %v consolidation interval; the bound at one round a flush: %.0f; wal_objects rows at most %d (they go after the 30 s --s3-delete-grace); %d records, p99 %.1f ms; requests %v",
			soak, rate, partitions, brokers, flush, segmentMs, all, firstHalf, secondHalf, rounds,
			rounds*(time.Duration(segmentMs)*time.Millisecond+consolidate).Seconds(), consolidate, bound, objs, res.records, bcMs(res.pct(0.99)), w.requests)
		for _, cl := range cls {
			cl.Close()
		}
		c.stop()
	}
}
