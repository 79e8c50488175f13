package compattests

// The web console's speed targets (issue 24), against the binary:
//
//	go test ./compat-tests -run '^$' -bench Console -benchtime 20x
//
// BenchmarkConsoleLists: with 10,000 partitions (one topic of 5,000 and
// 100 of 50) and 1,000 consumer groups, each list view's time to the last
// byte of its page and the page's size (html-bytes); the targets are
// <= 200 ms and < 1 MB.
//
// BenchmarkConsoleTieredTopic: the same for a topic of 5,000 partitions
// with tiered storage, on versitygw.
//
// BenchmarkConsoleScan: the message browser's filter over a topic of
// STREAMHOUSE_CONSOLE_SCAN_MB MiB (default 1024) of 1 KiB values: a
// substring found nowhere, so the whole topic is read (MB/s, target >= 100);
// and a substring whose matches are near the start (first-ms, the time to
// the page with the first 50, target <= 1 s). rss-growth-MiB is how much
// the broker's resident memory grew over the full scans.

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/s3test"
)

// conGet fetches path and returns its body; a non-200 answer fails.
func conGet(tb testing.TB, hc *http.Client, url string) []byte {
	tb.Helper()
	resp, err := hc.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s %v\n%.2000s", url, resp.Status, err, body)
	}
	return body
}

func BenchmarkConsoleLists(b *testing.B) {
	br := opsStart(b, "--fsync=false", "--console-idle-close=10m")
	adm := fgAdmin(b, br.addr)
	ctx := fgCtx(b)
	if _, err := adm.CreateTopic(ctx, 5000, 1, nil, "wide"); err != nil {
		b.Fatal(err)
	}
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("topic-%03d", i))
	}
	if _, err := adm.CreateTopics(ctx, 50, 1, nil, names...); err != nil {
		b.Fatal(err)
	}
	// 1,000 groups, each with offsets committed on 5 partitions.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for g := range 1000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			os := kadm.Offsets{}
			for p := range 5 {
				os.Add(kadm.Offset{Topic: names[g%100], Partition: int32(p), At: 0, LeaderEpoch: -1})
			}
			if err := adm.CommitAllOffsets(ctx, fmt.Sprintf("group-%04d", g), os); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	hc := &http.Client{Timeout: time.Minute}
	for _, view := range []struct{ name, path string }{
		{"overview", "/"},
		{"topics", "/topics"},
		{"topics-page2", "/topics?page=2"},
		{"topic-5000-partitions", "/topics/wide"},
		{"topic-5000-partitions-page25", "/topics/wide?page=25"},
		{"configs", "/topics/wide/configs"},
		{"groups", "/groups"},
		{"groups-page10", "/groups?page=10"},
		{"group", "/groups/group-0500"},
		{"acls", "/acls"},
		{"users", "/users"},
		{"quotas", "/quotas"},
	} {
		b.Run(view.name, func(b *testing.B) {
			url := "http://" + br.http + view.path
			size := len(conGet(b, hc, url)) // warm: the client, the templates
			b.ResetTimer()
			for b.Loop() {
				size = len(conGet(b, hc, url))
			}
			b.ReportMetric(float64(size), "html-bytes")
		})
	}
}

// BenchmarkConsoleTieredTopic: the partitions view of a topic of 5,000
// partitions with tiered storage (the binary on versitygw), where each
// page also asks each partition's local start and last tiered offset;
// 10 of its partitions have a segment uploaded.
func BenchmarkConsoleTieredTopic(b *testing.B) {
	srv := s3test.Start(b)
	bucket := srv.Bucket(b)
	httpAddr := freePort(b)
	p := startProcWith(b, binary(b), srv.Env(), b.TempDir(), "",
		"--storage=s3", "--s3-endpoint="+srv.Endpoint(), "--s3-bucket="+bucket, "--http-listen="+httpAddr,
		"--fsync=false", "--console-idle-close=10m")
	adm := fgAdmin(b, p.addr)
	fgCreateTopic(b, adm, "wide", 5000, map[string]string{"remote.storage.enable": "true", "segment.bytes": "1048576"})
	var recs []*kgo.Record
	for i := range 10 * 1300 {
		v := make([]byte, 1000) // random: compression keeps its size
		rand.Read(v)
		recs = append(recs, &kgo.Record{Topic: "wide", Partition: int32(i % 10 * 500), Value: v})
	}
	fgProduceAll(b, fgClient(b, p.addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs)
	hc := &http.Client{Timeout: time.Minute}
	uploaded := regexp.MustCompile(`id="remote-bytes">[1-9]`)
	for deadline := time.Now().Add(time.Minute); !uploaded.Match(conGet(b, hc, "http://"+httpAddr+"/topics/wide")); {
		if time.Now().After(deadline) {
			b.Fatal("nothing uploaded after a minute")
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, view := range []struct{ name, path string }{
		{"topics", "/topics"},
		{"topic-5000-partitions", "/topics/wide"},
		{"topic-5000-partitions-page25", "/topics/wide?page=25"},
	} {
		b.Run(view.name, func(b *testing.B) {
			url := "http://" + httpAddr + view.path
			size := len(conGet(b, hc, url))
			b.ResetTimer()
			for b.Loop() {
				size = len(conGet(b, hc, url))
			}
			b.ReportMetric(float64(size), "html-bytes")
		})
	}
}

var conScanStats = regexp.MustCompile(`([\d,]+)</b> messages read \(([^)]*) in ([^,]+), ([\d-]+) MB/s\)`)

func BenchmarkConsoleScan(b *testing.B) {
	mib := 1024
	if v := os.Getenv("STREAMHOUSE_CONSOLE_SCAN_MB"); v != "" {
		mib, _ = strconv.Atoi(v)
	}
	br := opsStart(b, "--fsync=false", "--console-idle-close=10m")
	cl := fgClient(b, br.addr, kgo.DefaultProduceTopic("big"), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	fgCreateTopic(b, kadm.NewClient(cl), "big", 1, nil)
	value := []byte(strings.Repeat("abcdefghijklmnopqrstuvwxyz012345", 32)) // 1 KiB
	n := mib << 10
	var recs []*kgo.Record
	for i := range n {
		v := value
		if i%1000 == 0 && i < 100_000 {
			v = append([]byte(fmt.Sprintf("NEEDLE-%d ", i)), value...)
		}
		recs = append(recs, &kgo.Record{Value: v})
		if len(recs) == 10_000 || i == n-1 {
			fgProduceAll(b, cl, recs)
			recs = recs[:0]
		}
	}
	hc := &http.Client{Timeout: 5 * time.Minute}
	base := "http://" + br.http + "/topics/big/messages?from=start&seconds=30&budget=" + strconv.Itoa(mib+64)
	b.Run("full", func(b *testing.B) {
		var mbps float64
		before, err := fpStatus(br.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		peak := before.rss
		for b.Loop() {
			start := time.Now()
			page := conGet(b, hc, base+"&value=NOWHERE")
			took := time.Since(start)
			m := conScanStats.FindSubmatch(page)
			if m == nil || !strings.Contains(string(page), "read to the end") {
				b.Fatalf("the scan did not read to the end: %s", conScanStats.Find(page))
			}
			b.Logf("%s", m[0])
			mbps = float64(mib) * (1 << 20) / 1e6 / took.Seconds()
			if m, err := fpStatus(br.cmd.Process.Pid); err == nil {
				peak = max(peak, m.rss)
			}
		}
		b.SetBytes(int64(mib) << 20)
		b.ReportMetric(mbps, "page-MB/s")
		// The broker's resident memory after each scan against before
		// any: a scan holds one fetch response at a time, never the
		// topic.
		b.ReportMetric(float64(peak-before.rss)/1024, "rss-growth-MiB")
	})
	b.Run("first-matches", func(b *testing.B) {
		var took time.Duration
		for b.Loop() {
			start := time.Now()
			page := conGet(b, hc, base+"&value=NEEDLE-&limit=50")
			took = time.Since(start)
			if c := strings.Count(string(page), `<tr class="msg"`); c != 50 {
				b.Fatalf("%d matches shown, want 50", c)
			}
		}
		b.ReportMetric(float64(took.Milliseconds()), "first-ms")
	})
}
