package compattests

// The broker's operations endpoints, driven as an operator would: the
// binary with --http-listen, franz-go traffic, and /metrics scraped and
// parsed with expfmt after each step, checking that every counter moved by
// what the traffic did.

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetrics produces, fetches, consumes in a group and commits, and after
// each step checks /metrics against what the clients did and what
// kadm lists; then /health, /ready, /debug/pprof/ without --pprof, the
// names used by deploy/, the connection gauge going back to 0, and /ready
// during shutdown.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b := opsStart(t)
	addr := b.addr

	for _, path := range []string{"/health", "/ready"} {
		if code, body := opsGet(t, b.url(path)); code != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}
	if code, _ := opsGet(t, b.url("/debug/pprof/")); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --pprof: %d, want 404", code)
	}

	// Before any traffic: the always-present families, and no requests.
	m := b.scrape(t)
	for _, name := range []string{"streamhouse_connections", "streamhouse_fsync_duration_seconds",
		"streamhouse_handler_panics_total", "go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes"} {
		if _, ok := m[name]; !ok {
			t.Errorf("/metrics has no %s before any traffic", name)
		}
	}
	if v, _ := m.sum("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v, want > 0", v)
	}

	adm := kadm.NewClient(fgClient(t, addr))
	const topic, parts = "metrics", 3
	fgCreateTopic(t, adm, topic, parts, nil)

	// N records of known, distinct sizes, in rounds so that each
	// partition gets several batches; acks=all, no compression, each
	// record's partition chosen here.
	const n, rounds = 60, 4
	prod := fgClient(t, addr,
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	perPart := map[int32]int64{}
	valueBytes := 0
	var recs []*kgo.Record
	for i := range n {
		r := &kgo.Record{
			Topic:     topic,
			Partition: int32(i % parts),
			Key:       fmt.Appendf(nil, "k%d", i),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, 10+17*i),
		}
		perPart[r.Partition]++
		valueBytes += len(r.Key) + len(r.Value)
		recs = append(recs, r)
	}
	for i := range rounds {
		fgProduceSync(t, prod, recs[i*n/rounds:(i+1)*n/rounds]...)
	}

	m = b.scrape(t)
	if got := m.value(t, "streamhouse_records_in_total", "topic", topic); got != n {
		t.Errorf("records_in_total{topic=%q} = %v, want %d", topic, got, n)
	}
	bytesIn := m.value(t, "streamhouse_bytes_in_total", "topic", topic)
	if bytesIn <= float64(valueBytes) {
		t.Errorf("bytes_in_total{topic=%q} = %v, want more than the %d bytes of keys and values", topic, bytesIn, valueBytes)
	}
	produces, _ := m.sum("streamhouse_requests_total", "api", "Produce")
	if produces < 1 {
		t.Errorf("requests_total{api=Produce} = %v, want >= 1", produces)
	}
	if hc, k := m.histCount("streamhouse_request_duration_seconds", "api", "Produce"); k != 1 || float64(hc) != produces {
		t.Errorf("request_duration_seconds{api=Produce}: count %d in %d series, want %v (requests_total summed over versions) in 1", hc, k, produces)
	}
	if errs, _ := m.sum("streamhouse_request_errors_total", "api", "Produce"); errs != 0 {
		t.Errorf("request_errors_total{api=Produce} = %v after produces that all succeeded, want 0", errs)
	}
	if fc, _ := m.histCount("streamhouse_fsync_duration_seconds"); fc == 0 {
		t.Errorf("fsync_duration_seconds count is 0 after acks=all produces")
	}
	if c := m.value(t, "streamhouse_connections"); c < 1 {
		t.Errorf("connections = %v while clients are connected, want >= 1", c)
	}
	// Every API the clients used was counted, with a latency per request.
	for _, f := range m["streamhouse_requests_total"].GetMetric() {
		for _, l := range f.GetLabel() {
			if l.GetName() == "version" {
				if _, err := strconv.Atoi(l.GetValue()); err != nil {
					t.Errorf("requests_total has version label %q", l.GetValue())
				}
			}
		}
	}
	for _, api := range []string{"ApiVersions", "Metadata", "CreateTopics", "Produce"} {
		if v, _ := m.sum("streamhouse_requests_total", "api", api); v < 1 {
			t.Errorf("requests_total{api=%q} = %v, want >= 1", api, v)
		}
	}

	// Per partition: end offsets as kadm lists them, start 0, and the log
	// size and bytes in as the sum of the batches stored, read back raw
	// (one full read of every partition).
	ends := fgEndOffsets(t, adm, topic)
	raw := fgDialRaw(t, addr)
	stored, storedRecords := 0, 0
	for p := range int32(parts) {
		ps := strconv.Itoa(int(p))
		if ends[p] != perPart[p] {
			t.Errorf("kadm end offset of partition %d = %d, want %d", p, ends[p], perPart[p])
		}
		if got := m.value(t, "streamhouse_log_end_offset", "topic", topic, "partition", ps); got != float64(ends[p]) {
			t.Errorf("log_end_offset{partition=%d} = %v, want %d", p, got, ends[p])
		}
		if got := m.value(t, "streamhouse_log_start_offset", "topic", topic, "partition", ps); got != 0 {
			t.Errorf("log_start_offset{partition=%d} = %v, want 0", p, got)
		}
		size := 0
		batches := raw.batches(topic, p)
		for _, rb := range batches {
			size += 12 + int(rb.Length)
			storedRecords += int(rb.NumRecords)
		}
		stored += size
		if got := m.value(t, "streamhouse_log_size_bytes", "topic", topic, "partition", ps); got != float64(size) {
			t.Errorf("log_size_bytes{partition=%d} = %v, want %d (the %d batches stored)", p, got, size, len(batches))
		}
	}
	if bytesIn != float64(stored) {
		t.Errorf("bytes_in_total = %v, want %d (the batches stored)", bytesIn, stored)
	}
	if storedRecords != n {
		t.Fatalf("read back %d records, want %d", storedRecords, n)
	}
	m = b.scrape(t)
	if got := m.value(t, "streamhouse_bytes_out_total", "topic", topic); got != bytesIn {
		t.Errorf("bytes_out_total after one full read = %v, want bytes_in_total %v", got, bytesIn)
	}
	if got := m.value(t, "streamhouse_records_out_total", "topic", topic); got != n {
		t.Errorf("records_out_total after one full read = %v, want %d", got, n)
	}

	// A produce to a partition that does not exist: one error.
	bad := raw.produce(9, topic, [16]byte{}, 99, fgBatch(time.Now().UnixMilli(), []byte("x")))
	if err := kerr.ErrorForCode(bad.ErrorCode); !fgIsErr(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to partition 99: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	m2 := b.scrape(t)
	if errs := m2.value(t, "streamhouse_request_errors_total", "api", "Produce", "version", "9"); errs != 1 {
		t.Errorf("request_errors_total{api=Produce,version=9} = %v after one failed produce, want 1", errs)
	}
	if got, _ := m2.sum("streamhouse_requests_total", "api", "Produce"); got != produces+1 {
		t.Errorf("requests_total{api=Produce} = %v after one more produce, want %v", got, produces+1)
	}
	if got := m2.value(t, "streamhouse_records_in_total", "topic", topic); got != n {
		t.Errorf("records_in_total = %v after a failed produce, want %d", got, n)
	}

	// Group g1 consumes everything and commits it: lag 0.
	cons := fgClient(t, addr,
		kgo.ConsumerGroup("g1"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	ctx := fgCtx(t)
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("group g1 consumed %d of %d records before the timeout", got, n)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("group g1: fetch %s/%d: %v", e.Topic, e.Partition, e.Err)
		}
		got += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group g1 commit: %v", err)
	}
	// Group g2 commits offset 0 everywhere: lag is everything.
	var zero kadm.Offsets
	for p := range int32(parts) {
		zero.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	if resp, err := adm.CommitOffsets(ctx, "g2", zero); err != nil || resp.Error() != nil {
		t.Fatalf("commit 0 for g2: %v %v", err, resp.Error())
	}

	m = b.scrape(t)
	if got := m.value(t, "streamhouse_records_out_total", "topic", topic); got < 2*n {
		t.Errorf("records_out_total after a second full read (group g1) = %v, want >= %d", got, 2*n)
	}
	if got := m.value(t, "streamhouse_bytes_out_total", "topic", topic); got < 2*bytesIn {
		t.Errorf("bytes_out_total after a second full read (group g1) = %v, want >= %v", got, 2*bytesIn)
	}
	lag2 := 0.0
	for p := range int32(parts) {
		ps := strconv.Itoa(int(p))
		if got := m.value(t, "streamhouse_consumer_group_lag", "group", "g1", "topic", topic, "partition", ps); got != 0 {
			t.Errorf("consumer_group_lag{group=g1,partition=%d} = %v after committing everything, want 0", p, got)
		}
		if got := m.value(t, "streamhouse_consumer_group_committed_offset", "group", "g1", "topic", topic, "partition", ps); got != float64(ends[p]) {
			t.Errorf("consumer_group_committed_offset{group=g1,partition=%d} = %v, want %d", p, got, ends[p])
		}
		l := m.value(t, "streamhouse_consumer_group_lag", "group", "g2", "topic", topic, "partition", ps)
		if l != float64(ends[p]) {
			t.Errorf("consumer_group_lag{group=g2,partition=%d} = %v with offset 0 committed, want %d", p, l, ends[p])
		}
		lag2 += l
	}
	if lag2 != n {
		t.Errorf("consumer_group_lag{group=g2} sums to %v, want %d", lag2, n)
	}
	if r, _ := m.sum("streamhouse_requests_total", "api", "OffsetCommit"); r < 2 {
		t.Errorf("requests_total{api=OffsetCommit} = %v after two commits, want >= 2", r)
	}
	for _, api := range []string{"FindCoordinator", "JoinGroup", "SyncGroup", "Fetch"} {
		if v, _ := m.sum("streamhouse_requests_total", "api", api); v < 1 {
			t.Errorf("requests_total{api=%q} = %v after a group consumed, want >= 1", api, v)
		}
		if hc, k := m.histCount("streamhouse_request_duration_seconds", "api", api); k != 1 || hc < 1 {
			t.Errorf("request_duration_seconds{api=%q}: count %d in %d series, want >= 1 in 1", api, hc, k)
		}
	}

	t.Run("deploy files use exported metrics", func(t *testing.T) {
		// Every family is present now: requests, errors, bytes and
		// records both ways, lag and committed offsets.
		names := opsDeployMetricNames(t)
		if len(names) == 0 {
			t.Fatal("no streamhouse_/go_/process_ metric names in deploy/")
		}
		var missing []string
		for name, files := range names {
			if !m2.exports(name) && !m.exports(name) {
				missing = append(missing, fmt.Sprintf("%s (in %s)", name, strings.Join(files, ", ")))
			}
		}
		slices.Sort(missing)
		for _, s := range missing {
			t.Errorf("deploy/ uses %s, which the broker does not export", s)
		}
		used := 0
		for name := range m {
			if strings.HasPrefix(name, "streamhouse_") {
				if _, ok := names[name]; ok {
					used++
				} else if _, ok := names[name+"_bucket"]; ok {
					used++
				} else {
					t.Logf("note: %s is exported and unused by deploy/", name)
				}
			}
		}
		if used == 0 {
			t.Error("deploy/ uses no streamhouse_ metric")
		}
	})

	// Every client closed: the connection gauge goes back to 0.
	cons.Close()
	prod.Close()
	adm.Close()
	raw.c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c := b.scrape(t).value(t, "streamhouse_connections")
		if c == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections = %v 15s after every client closed, want 0", c)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Shutdown: /ready answers 503 from SIGTERM until the HTTP listener
	// closes (after the broker, its storage and its catalog), and never
	// 200 again. Nothing holds the broker's shutdown here, but that
	// window still held from 18 to over a thousand polls in every run,
	// on two busy cores too.
	var (
		mu   sync.Mutex
		seen []int
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		cl := &http.Client{Timeout: 2 * time.Second}
		for range 1_000_000 {
			code := 0
			if resp, err := cl.Get(b.url("/ready")); err == nil {
				code = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			if len(seen) == 0 || seen[len(seen)-1] != code {
				seen = append(seen, code)
			}
			mu.Unlock()
			if code == 0 {
				return // the listener is gone
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("streamhouse exited with %v after SIGTERM\n%s", err, b.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("streamhouse did not exit within 30s of SIGTERM\n%s", b.logs.String())
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("/ready still answers 10s after the process exited")
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("/ready during shutdown: %v (0: connection refused)", seen)
	i := slices.Index(seen, http.StatusServiceUnavailable)
	if i < 0 {
		t.Errorf("/ready never answered 503 between SIGTERM and exit: %v", seen)
	} else if slices.Contains(seen[i:], http.StatusOK) {
		t.Errorf("/ready answered 200 after 503 during shutdown: %v", seen)
	}
	for _, c := range seen {
		if c != 0 && c != http.StatusOK && c != http.StatusServiceUnavailable {
			t.Errorf("/ready answered %d during shutdown: %v", c, seen)
		}
	}
	if len(seen) == 0 || seen[len(seen)-1] != 0 {
		t.Errorf("/ready still answered after the process exited: %v", seen)
	}
}

// TestMetricsPprof: with --pprof the HTTP listener serves /debug/pprof/
// beside /metrics.
func TestMetricsPprof(t *testing.T) {
	t.Parallel()
	b := opsStart(t, "--pprof")
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1", "/metrics", "/health"} {
		if code, body := opsGet(t, b.url(path)); code != http.StatusOK {
			t.Errorf("GET %s with --pprof: %d %q, want 200", path, code, tail(body, 200))
		}
	}
	if _, body := opsGet(t, b.url("/debug/pprof/")); !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: no profile index:\n%s", tail(body, 500))
	}
}
