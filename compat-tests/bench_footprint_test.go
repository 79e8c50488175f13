package compattests

// Footprint benchmarks (issue 8, "Performance and limits"): the broker
// binary's resident memory idle and per partition, and its startup time to
// the first ApiVersions answer, fresh and with 10,000 partitions on disk.
// RSS is VmRSS of the broker process from /proc/<pid>/status once it has
// stopped moving; the binary runs as `streamhouse` does by default (the
// HTTP listener on, fsync on). Each figure is the median of
// STREAMHOUSE_FOOTPRINT_RUNS runs (default 5).
//
//	go test ./compat-tests -run '^$' -bench Footprint -benchtime 1x
//
// STREAMHOUSE_FOOTPRINT_PARTITIONS (default 10,000, in topics of 100
// partitions) sizes the partition run. With STREAMHOUSE_TEST_METADATA=postgres
// the broker's catalog is in PostgreSQL (issue 17's start target).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fpBroker is the binary started by fpStart, with the address of its HTTP
// listener.
type fpBroker struct {
	*proc
	http string
}

// fpStart execs the binary on dir and returns once it has answered
// ApiVersions over TCP, with the time from exec to that answer.
func fpStart(tb testing.TB, dir string) (fpBroker, time.Duration) {
	tb.Helper()
	bin := binary(tb)
	addr, httpAddr := freePort(tb), freePort(tb)
	p := &proc{t: tb, addr: addr, dir: dir, done: make(chan error, 1), logs: &syncBuffer{}}
	args := append([]string{"--listen", addr, "--data-dir", dir, "--log-format", "text", "--http-listen", httpAddr, "--schema-registry-listen", ""}, catalogFlags(tb, dir)...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	tb.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	if err := firstApiVersions(p, 2*time.Minute); err != nil {
		tb.Fatalf("%v\n%s", err, tail(p.logs.String(), 4000))
	}
	return fpBroker{p, httpAddr}, time.Since(start)
}

// fpWarm waits for the broker's log line saying the background warm-up
// opened every log, and returns how long after exec that was (took: the
// startup fpStart measured).
func fpWarm(tb testing.TB, p fpBroker, took time.Duration) time.Duration {
	tb.Helper()
	began := time.Now()
	for !strings.Contains(p.logs.String(), "logs opened") {
		if time.Since(began) > 2*time.Minute {
			tb.Fatalf("no \"logs opened\" line after 2 minutes:\n%s", tail(p.logs.String(), 4000))
		}
		time.Sleep(time.Millisecond)
	}
	return took + time.Since(began)
}

// scrape reads /metrics once, as Prometheus would.
func (b fpBroker) scrape(tb testing.TB) {
	tb.Helper()
	resp, err := http.Get("http://" + b.http + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /metrics: %s, %v", resp.Status, err)
	}
}

// fpMem is what /proc/<pid>/status says of a process's memory, in KiB,
// and its thread count.
type fpMem struct {
	rss, anon, file int64
	threads         int64
}

func fpStatus(pid int) (fpMem, error) {
	st, err := procStatus(pid)
	if err != nil {
		return fpMem{}, err
	}
	m := fpMem{rss: st["VmRSS"], anon: st["RssAnon"], file: st["RssFile"], threads: st["Threads"]}
	if m.rss == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// fpSettled waits until p's RSS has stopped moving (five samples 200 ms
// apart within 1% of each other), at most 30 s, and returns the last
// sample. A process that keeps moving after that is measured as it is.
func fpSettled(tb testing.TB, p fpBroker) fpMem {
	tb.Helper()
	var window []fpMem
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, err := fpStatus(p.cmd.Process.Pid)
		if err != nil {
			tb.Fatal(err)
		}
		window = append(window, m)
		if len(window) > 5 {
			window = window[1:]
		}
		if len(window) == 5 {
			lo, hi := window[0].rss, window[0].rss
			for _, w := range window {
				lo, hi = min(lo, w.rss), max(hi, w.rss)
			}
			if hi-lo <= hi/100 || time.Now().After(deadline) {
				return m
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fpFDs counts the open file descriptors of p.
func fpFDs(p *proc) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid))
	return len(es)
}

func fpMedian[T int64 | float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func fpMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// fpRuns is how many runs each figure is the median of.
var fpRuns = envInt("STREAMHOUSE_FOOTPRINT_RUNS", 5)

// TestFootprint holds the binary's memory to loose bounds, well above the
// issue's targets (20 MB idle, 10 KB a partition) so that only a gross
// regression fails it; the benchmarks below give the figures. Idle, then
// with 1,000 partitions of one record each.
func TestFootprint(t *testing.T) {
	t.Parallel()
	const (
		// 40 MB: the binary linked the schema registry's libraries
		// (JSON Schema, Protobuf, Avro), TLS/JWT and pgx in the same
		// week, and an idle broker went from 17 MB (2.8 MB anonymous)
		// to 30 MB (6.5 MB anonymous; jsonschema's init alone
		// allocates 1.7 MB, GODEBUG=inittrace=1). A regression to
		// win back; this guard only catches a gross one. With the S3
		// client and the cluster's packages linked in (December) it
		// measured 38.8 MB: 7.8 MB anonymous, 31 MB of the binary's
		// own clean pages (13.5 MB of text, 13.6 MB of rodata and
		// pclntab), which the kernel maps around each page fault
		// while the binary sits in the page cache, and takes back
		// under pressure. So the broker's own memory (anonymous) has
		// the tight bound, the whole RSS a loose one.
		idleMax     = 48 << 10 // KiB
		idleAnonMax = 12 << 10 // KiB
		perPartMax  = 20       // KiB
		topics, per = 10, 100
	)
	p, _ := fpStart(t, t.TempDir())
	idle := fpSettled(t, p)
	if idle.rss > idleMax || idle.anon > idleAnonMax {
		t.Errorf("idle RSS %d KiB (anon %d), want at most %d KiB (anon %d)", idle.rss, idle.anon, idleMax, idleAnonMax)
	}
	fpCreateTopics(t, p.addr, topics, per)
	fpProduceEach(t, p.addr, topics, per)
	full := fpSettled(t, p)
	if perPart := float64(full.rss-idle.rss) / (topics * per); perPart > perPartMax {
		t.Errorf("%.1f KiB RSS a partition (idle %d KiB, with %d partitions %d KiB), want at most %d", perPart, idle.rss, topics*per, full.rss, perPartMax)
	}
	// The cleanup kills the broker: a clean stop is not what this tests.
}

// BenchmarkFootprintIdle starts the binary on a fresh data directory,
// reports the time to its first ApiVersions answer and its settled RSS,
// and stops it.
func BenchmarkFootprintIdle(b *testing.B) {
	var starts []time.Duration
	var rss, anon []int64
	for range b.N {
		for range fpRuns {
			p, took := fpStart(b, b.TempDir())
			m := fpSettled(b, p)
			starts, rss, anon = append(starts, took), append(rss, m.rss), append(anon, m.anon)
			p.stop()
		}
	}
	b.ReportMetric(fpMs(fpMedian(starts)), "startup-ms")
	b.ReportMetric(float64(fpMedian(rss))/1024, "idle-RSS-MB")
	b.ReportMetric(float64(fpMedian(anon))/1024, "idle-anon-MB")
}

// BenchmarkFootprint10kPartitions creates topics totalling 10,000
// partitions on a fresh broker, produces one small record to each, and
// reports the RSS each partition adds over the idle broker's (settled
// before and after), and again after one /metrics scrape, whose
// per-partition series cost memory that the Go runtime keeps a while. Then it stops the broker and starts it again on the
// same directory fpRuns times, reporting the time to the first ApiVersions
// answer and the RSS per partition after the restart (the idle figure of
// the fresh broker subtracted), and then once after kill -9.
func BenchmarkFootprint10kPartitions(b *testing.B) {
	parts := envInt("STREAMHOUSE_FOOTPRINT_PARTITIONS", 10_000)
	const perTopic = 100
	topics := (parts + perTopic - 1) / perTopic
	parts = topics * perTopic
	var live, scraped, restarted []float64
	var starts, warms, killed []time.Duration
	var fds, threads int64
	for range b.N {
		dir := b.TempDir()
		p, _ := fpStart(b, dir)
		idle := fpSettled(b, p)
		fpCreateTopics(b, p.addr, topics, perTopic)
		fpProduceEach(b, p.addr, topics, perTopic)
		full := fpSettled(b, p)
		live = append(live, float64(full.rss-idle.rss)/float64(parts))
		fds, threads = int64(fpFDs(p.proc)), full.threads
		p.scrape(b)
		s := fpSettled(b, p)
		scraped = append(scraped, float64(s.rss-idle.rss)/float64(parts))
		b.Logf("fresh: idle RSS %d KiB (anon %d), with %d partitions %d KiB (anon %d), after a /metrics scrape %d KiB, %d fds, %d threads",
			idle.rss, idle.anon, parts, full.rss, full.anon, s.rss, fds, threads)
		for i := range fpRuns {
			stopAt := time.Now()
			p.stop()
			stopped := time.Since(stopAt)
			var took time.Duration
			p, took = fpStart(b, dir)
			starts = append(starts, took)
			warm := fpWarm(b, p, took)
			warms = append(warms, warm)
			m := fpSettled(b, p)
			restarted = append(restarted, float64(m.rss-idle.rss)/float64(parts))
			b.Logf("restart %d: stop took %v, startup %v, every log open after %v, RSS %d KiB (anon %d)", i, stopped.Round(time.Millisecond), took.Round(time.Microsecond), warm.Round(time.Millisecond), m.rss, m.anon)
		}
		// Once more after kill -9: every log is checked from its
		// checkpoint and its segments fsynced before it is served.
		p.cmd.Process.Kill()
		<-p.done
		var took time.Duration
		p, took = fpStart(b, dir)
		killed = append(killed, took)
		b.Logf("after kill -9: startup %v, every log open after %v", took.Round(time.Microsecond), fpWarm(b, p, took).Round(time.Millisecond))
		p.stop()
	}
	b.ReportMetric(fpMedian(live), "KiB/partition")
	b.ReportMetric(fpMedian(scraped), "KiB/partition-scraped")
	b.ReportMetric(fpMedian(restarted), "KiB/partition-restarted")
	b.ReportMetric(fpMs(fpMedian(starts)), "startup-ms")
	b.ReportMetric(fpMs(fpMedian(warms)), "all-open-ms")
	b.ReportMetric(fpMs(fpMedian(killed)), "startup-after-kill-ms")
	b.ReportMetric(float64(fds), "fds")
	b.ReportMetric(float64(threads), "threads")
}

// fpTopic names the footprint benchmark's topics.
func fpTopic(i int) string { return fmt.Sprintf("fp-%03d", i) }

// fpCreateTopics creates topics of perTopic partitions each, 25 topics a
// request.
func fpCreateTopics(tb testing.TB, addr string, topics, perTopic int) {
	tb.Helper()
	adm := fgAdmin(tb, addr)
	adm.SetTimeoutMillis(int32((2 * time.Minute).Milliseconds()))
	for first := 0; first < topics; first += 25 {
		var names []string
		for i := first; i < min(first+25, topics); i++ {
			names = append(names, fpTopic(i))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		resps, err := adm.CreateTopics(ctx, int32(perTopic), 1, nil, names...)
		cancel()
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			tb.Fatalf("create topics %s..: %v", names[0], err)
		}
	}
}

// fpProduceEach produces one 100-byte record (acks=all, idempotent, as
// kgo's default) to every partition of the topics.
func fpProduceEach(tb testing.TB, addr string, topics, perTopic int) {
	tb.Helper()
	cl := fgClient(tb, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(topics*perTopic+1))
	var failed atomic.Int64
	var first atomic.Value
	value := make([]byte, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for t := range topics {
		for part := range perTopic {
			cl.Produce(ctx, &kgo.Record{Topic: fpTopic(t), Partition: int32(part), Value: value}, func(_ *kgo.Record, err error) {
				if err != nil && failed.Add(1) == 1 {
					first.Store(err)
				}
			})
		}
	}
	if err := cl.Flush(ctx); err != nil {
		tb.Fatal(err)
	}
	if n := failed.Load(); n > 0 {
		tb.Fatalf("%d of %d produces failed, first: %v", n, topics*perTopic, first.Load())
	}
	// Every partition has its record.
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	n := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset == 1 {
			n++
		}
	})
	if n != topics*perTopic {
		tb.Fatalf("%d of %d partitions end at offset 1", n, topics*perTopic)
	}
}
