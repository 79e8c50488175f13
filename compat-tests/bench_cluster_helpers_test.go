package compattests

// What the cluster benchmarks (bench_cluster_test.go) share: a cluster of
// real processes whose costs can be counted from outside the brokers.
//
//   - The catalog is a PostgreSQL database of the benchmark's own (not a
//     schema of the shared test database), so that pg_stat_database's
//     xact_commit counts this cluster's transactions and nobody else's.
//   - The bucket is a versitygw's, reached through a counting proxy that
//     tells the WAL objects' PUTs (keys wal/<node>/...) of each broker from
//     the tiered segments' and the other requests.
//   - Each broker's /metrics is scraped for its own count of catalog
//     commits of WAL objects (streamhouse_catalog_duration_seconds_count,
//     method CommitWAL), and /proc/<pid>/stat for its CPU time.

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/internal/testport"
)

// bcEnv is one cluster: its database, its bucket behind the counting
// proxy, its brokers.
type bcEnv struct {
	b       *testing.B
	db      string // the database's name
	url     string // the brokers' --database-url
	s3      *s3test.Server
	proxy   *bcProxy
	bucket  string
	flags   []string // more flags for every broker
	brokers []*bcBroker
}

// bcBroker is a broker of a bcEnv.
type bcBroker struct {
	node int
	p    *proc
	http string // its /metrics listener
	seen int    // how much of its log warnings() has read
}

// warnings returns the warnings and errors the brokers logged since the
// last call, for the benchmark's log: what a slow window met.
func (c *bcEnv) warnings() []string {
	var out []string
	for _, br := range c.brokers {
		logs := br.p.logs.String()
		for _, line := range strings.Split(logs[br.seen:], "\n") {
			if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
				out = append(out, fmt.Sprintf("broker %d: %s", br.node, line))
			}
		}
		br.seen = len(logs)
	}
	return out
}

// bcServers are the servers benchmarks share across clusters: one
// versitygw (each cluster gets a bucket of its own) and its proxy.
type bcServers struct {
	s3    *s3test.Server
	proxy *bcProxy
}

func bcStartServers(b *testing.B) *bcServers {
	b.Helper()
	pgtest.Require(b)
	s3 := s3test.Start(b)
	return &bcServers{s3: s3, proxy: bcNewProxy(b, s3.Addr())}
}

// newCluster makes a database and a bucket and starts n brokers with
// --s3-flush-interval flush (and flags), node ids 1..n; it returns once
// every partition of the topics made later can be led (the brokers have
// joined). The cluster is stopped when the benchmark ends, or by stop.
func (s *bcServers) newCluster(b *testing.B, n int, flush time.Duration, flags ...string) *bcEnv {
	b.Helper()
	var r [4]byte
	rand.Read(r[:])
	db := "shbench_" + hex.EncodeToString(r[:])
	pgtest.Exec(b, `CREATE DATABASE `+db)
	b.Cleanup(func() { pgtest.Exec(b, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`) })
	u, err := url.Parse(pgtest.AdminURL())
	if err != nil {
		b.Fatal(err)
	}
	u.Path = "/" + db
	c := &bcEnv{b: b, db: db, url: u.String(), s3: s.s3, proxy: s.proxy, bucket: s.s3.Bucket(b),
		flags: append([]string{"--s3-flush-interval", flush.String()}, flags...)}
	if bcTrace {
		c.flags = append(c.flags, "--log-level", "debug")
	}
	// More broker flags for an experiment, space-separated.
	c.flags = append(c.flags, strings.Fields(os.Getenv("STREAMHOUSE_CLUSTER_BENCH_FLAGS"))...)
	for node := 1; node <= n; node++ {
		c.start(node)
	}
	return c
}

func (c *bcEnv) start(node int) *bcBroker {
	c.b.Helper()
	httpAddr := testport.Free(c.b)
	args := append([]string{
		"--metadata", "postgres", "--database-url", c.url,
		"--storage", "s3", "--s3-endpoint", c.proxy.endpoint(), "--s3-bucket", c.bucket,
		"--node-id", strconv.Itoa(node), "--http-listen", httpAddr,
	}, c.flags...)
	p := startProcWith(c.b, binary(c.b), c.s3.Env(), c.b.TempDir(), "", args...)
	br := &bcBroker{node: node, p: p, http: httpAddr}
	c.brokers = append(c.brokers, br)
	return br
}

// stop stops every broker (SIGTERM), so that the next cluster of a
// benchmark has the machine to itself.
func (c *bcEnv) stop() {
	for _, br := range c.brokers {
		if br.p.cmd.ProcessState == nil {
			br.p.stop()
		}
	}
}

func (c *bcEnv) addrs() []string {
	var out []string
	for _, br := range c.brokers {
		out = append(out, br.p.addr)
	}
	return out
}

// topic creates a topic named name (or name-2, name-3, ...: see below)
// and waits until each of its partitions has a leader and the leases are
// settled; it returns the topic's name. Placement is rendezvous hashing of
// the topic's id (random) over the brokers, which may give a broker none
// of a few partitions (6 over 3 brokers: about one topic in four): such a
// topic is deleted and another made, so that every broker leads some.
func (c *bcEnv) topic(name string, partitions int32, configs map[string]string) string {
	c.b.Helper()
	adm := fgAdmin(c.b, c.brokers[0].p.addr)
	ctx := fgCtx(c.b)
	for try := 1; ; try++ {
		t := name
		if try > 1 {
			t = fmt.Sprintf("%s-%d", name, try)
		}
		fgCreateTopic(c.b, adm, t, partitions, configs)
		var leaders map[int32]int32
		for deadline := time.Now().Add(fgWait); ; {
			var err error
			leaders, err = clusterLeaders(ctx, adm, t)
			if err == nil && len(leaders) == int(partitions) {
				break
			}
			if time.Now().After(deadline) {
				c.b.Fatalf("topic %s: partitions never all led: %v %v", t, leaders, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		nodes := map[int32]bool{}
		for _, l := range leaders {
			nodes[l] = true
		}
		if len(nodes) == min(len(c.brokers), int(partitions)) || try == 10 {
			c.settle()
			return t
		}
		if _, err := adm.DeleteTopics(ctx, t); err != nil {
			c.b.Fatal(err)
		}
	}
}

// settle waits until the leases (partitions' and coordinator shards')
// stop moving: every broker holding some, none changing holder for 3 s. Brokers that
// have just joined take their shares from the others for a while (a few
// at a time), which a window measuring the cluster at rest or under load
// would count.
func (c *bcEnv) settle() {
	c.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := c.conn(ctx)
	defer conn.Close(ctx)
	var last string
	stable := 0
	for stable < 3 {
		var held, total, holders int64
		var epochs int64
		if err := conn.QueryRow(ctx, `SELECT count(holder), count(*), count(DISTINCT holder), coalesce(sum(epoch), 0) FROM streamhouse.leases`).Scan(&held, &total, &holders, &epochs); err != nil {
			c.b.Fatalf("the leases never settled: %v", err)
		}
		now := fmt.Sprint(held, total, holders, epochs)
		if now == last && holders == int64(len(c.brokers)) {
			stable++
		} else {
			stable = 0
		}
		last = now
		time.Sleep(time.Second)
	}
}

// bcCounts is what the cluster did, counted from outside its brokers,
// at one moment.
type bcCounts struct {
	at       time.Time
	walPuts  map[int]int64 // by node: PUTs of WAL objects
	requests map[string]int64
	commits  map[int]int64 // by node: the broker's count of CommitWAL calls
	// putTime is the WAL PUTs' time at the proxy, commitTime the
	// CommitWAL calls' at the brokers, together.
	putTime, commitTime time.Duration
	// puts are the WAL PUTs' times at the proxy so far, one by one;
	// commitBuckets the brokers' histogram of CommitWAL's times
	// together (cumulative counts by upper bound in seconds).
	puts          []time.Duration
	commitBuckets map[float64]float64
	cpu           map[int]time.Duration
	xacts         int64 // pg_stat_database.xact_commit of the cluster's database
	inserted      int64 // rows ever inserted into wal_batches (pg_stat_user_tables)
}

// counts samples everything bcCounts holds. PostgreSQL's statistics reach
// pg_stat_database up to a second after the transactions (a backend
// reports them when it goes idle, at most once a second): a window of
// 20 s or more keeps that under 5%.
func (c *bcEnv) counts() bcCounts {
	c.b.Helper()
	s := bcCounts{at: time.Now(), commits: map[int]int64{}, cpu: map[int]time.Duration{}, commitBuckets: map[float64]float64{}}
	s.walPuts, s.requests, s.putTime, s.puts = c.proxy.snapshot()
	for _, br := range c.brokers {
		if br.p.cmd.ProcessState != nil {
			continue
		}
		s.commits[br.node] = int64(br.metric(c.b, `streamhouse_catalog_duration_seconds_count{method="CommitWAL"}`))
		s.commitTime += time.Duration(br.metric(c.b, `streamhouse_catalog_duration_seconds_sum{method="CommitWAL"}`) * float64(time.Second))
		for le, n := range br.buckets(c.b, `streamhouse_catalog_duration_seconds_bucket{method="CommitWAL",le="`) {
			s.commitBuckets[le] += n
		}
		s.cpu[br.node] = bcCPU(c.b, br.p.cmd.Process.Pid)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.AdminURL()) // another database's connection: not counted in ours
	if err != nil {
		c.b.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = $1`, c.db).Scan(&s.xacts); err != nil {
		c.b.Fatal(err)
	}
	return s
}

// inserted is how many rows were ever inserted into wal_batches (runs of
// WAL objects), from pg_stat_user_tables of the cluster's database: one
// transaction there, counted in its xact_commit.
func (c *bcEnv) inserted() int64 {
	c.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := c.conn(ctx)
	defer conn.Close(ctx)
	var n int64
	if err := conn.QueryRow(ctx, `SELECT n_tup_ins FROM pg_stat_user_tables WHERE schemaname = 'streamhouse' AND relname = 'wal_batches'`).Scan(&n); err != nil {
		c.b.Fatal(err)
	}
	return n
}

func (c *bcEnv) conn(ctx context.Context) *pgx.Conn {
	c.b.Helper()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		c.b.Fatal(err)
	}
	return conn
}

// rows returns the rows the catalog holds now: of wal_batches per
// partition (topic id and partition), and of wal_objects.
func (c *bcEnv) rows() (perPartition map[string]int64, objects int64) {
	c.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := c.conn(ctx)
	defer conn.Close(ctx)
	perPartition = map[string]int64{}
	rs, err := conn.Query(ctx, `SELECT encode(topic_id, 'hex') || '-' || partition, count(*) FROM streamhouse.wal_batches GROUP BY 1`)
	if err != nil {
		c.b.Fatal(err)
	}
	for rs.Next() {
		var k string
		var n int64
		if err := rs.Scan(&k, &n); err != nil {
			c.b.Fatal(err)
		}
		perPartition[k] = n
	}
	if err := rs.Err(); err != nil {
		c.b.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM streamhouse.wal_objects`).Scan(&objects); err != nil {
		c.b.Fatal(err)
	}
	return perPartition, objects
}

// bcWindow is the difference of two bcCounts: what happened in between.
type bcWindow struct {
	secs     float64
	walPuts  map[int]int64
	requests map[string]int64
	commits  map[int]int64
	cpu      map[int]time.Duration
	xacts    int64
	// putMean and commitMean are a WAL PUT's and a CommitWAL's mean time;
	// putP99 a WAL PUT's 99th percentile at the proxy, commitP99 the
	// upper bound of the brokers' histogram bucket that holds CommitWAL's
	// (the buckets double: 6.4, 12.8, 25.6 ms...).
	putMean, commitMean, putP99, commitP99 time.Duration
}

func bcDiff(a, b bcCounts) bcWindow {
	w := bcWindow{secs: b.at.Sub(a.at).Seconds(), walPuts: map[int]int64{}, requests: map[string]int64{},
		commits: map[int]int64{}, cpu: map[int]time.Duration{}, xacts: b.xacts - a.xacts}

	for k, v := range b.walPuts {
		w.walPuts[k] = v - a.walPuts[k]
	}
	for k, v := range b.requests {
		w.requests[k] = v - a.requests[k]
	}
	for k, v := range b.commits {
		w.commits[k] = v - a.commits[k]
	}
	for k, v := range b.cpu {
		w.cpu[k] = v - a.cpu[k]
	}
	if n := bcSum(w.walPuts); n > 0 {
		w.putMean = (b.putTime - a.putTime) / time.Duration(n)
	}
	if puts := slices.Clone(b.puts[len(a.puts):]); len(puts) > 0 {
		slices.Sort(puts)
		w.putP99 = puts[len(puts)*99/100]
	}
	var les []float64
	for le := range b.commitBuckets {
		les = append(les, le)
	}
	slices.Sort(les)
	if len(les) > 0 {
		total := b.commitBuckets[les[len(les)-1]] - a.commitBuckets[les[len(les)-1]] // +Inf
		for _, le := range les {
			if total > 0 && b.commitBuckets[le]-a.commitBuckets[le] >= 0.99*total {
				w.commitP99 = time.Duration(le * float64(time.Second))
				break
			}
		}
	}
	if n := bcSum(w.commits); n > 0 {
		w.commitMean = (b.commitTime - a.commitTime) / time.Duration(n)
	}
	return w
}

// cpuTotal is the brokers' CPU time in the window, together.
func (w bcWindow) cpuTotal() time.Duration {
	var t time.Duration
	for _, v := range w.cpu {
		t += v
	}
	return t
}

// maxPerSec is the largest of m's values per second of the window.
func (w bcWindow) maxPerSec(m map[int]int64) float64 {
	var hi int64
	for _, v := range m {
		hi = max(hi, v)
	}
	return float64(hi) / w.secs
}

func bcSum(m map[int]int64) int64 {
	var t int64
	for _, v := range m {
		t += v
	}
	return t
}

// metric is the value of the sample named exactly name (with its labels)
// on the broker's /metrics; zero when there is none yet.
func (br *bcBroker) metric(b *testing.B, name string) float64 {
	b.Helper()
	resp, err := http.Get("http://" + br.http + "/metrics")
	if err != nil {
		b.Fatalf("broker %d: /metrics: %v", br.node, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				b.Fatalf("broker %d: %s: %v", br.node, sc.Text(), err)
			}
			return f
		}
	}
	return 0
}

// buckets returns the samples whose names start with prefix (a
// histogram's buckets up to their le label's value), by that value.
func (br *bcBroker) buckets(b *testing.B, prefix string) map[float64]float64 {
	b.Helper()
	resp, err := http.Get("http://" + br.http + "/metrics")
	if err != nil {
		b.Fatalf("broker %d: /metrics: %v", br.node, err)
	}
	defer resp.Body.Close()
	out := map[float64]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, v, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseFloat(v, 64)
		if err != nil || err2 != nil {
			b.Fatalf("broker %d: %s", br.node, sc.Text())
		}
		out[bound] = n
	}
	return out
}

// bcCPU is the CPU time (user and system) of process pid so far, from
// /proc/<pid>/stat (clock ticks of 10 ms).
func bcCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields counted from after its closing one.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * (time.Second / 100) // USER_HZ is 100 on Linux
}

// bcProxy is an HTTP proxy in front of versitygw that counts requests:
// PUTs of WAL objects by the node in their key (wal/<node>/...), and every
// request by kind (method, and for PUTs wal or segment).
type bcProxy struct {
	l  net.Listener
	rp *httputil.ReverseProxy

	mu       sync.Mutex
	walPuts  map[int]int64
	requests map[string]int64
	putTime  time.Duration   // WAL PUTs' time from the request to the server's answer, together
	puts     []time.Duration // each WAL PUT's (appended only)
}

func bcNewProxy(b *testing.B, target string) *bcProxy {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	p := &bcProxy{l: l, walPuts: map[int]int64{}, requests: map[string]int64{}}
	p.rp = &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			// The Host header the client signed (SigV4) goes on as
			// it came.
			r.URL.Scheme, r.URL.Host = "http", target
			r.Header["X-Forwarded-For"] = nil
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute},
	}
	srv := &http.Server{Handler: p}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return p
}

func (p *bcProxy) endpoint() string { return "http://" + p.l.Addr().String() }

func (p *bcProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind := r.Method
	if r.Method == http.MethodPut || r.Method == http.MethodPost {
		kind += " segment"
		// Path style: /<bucket>/<key>.
		parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 4)
		if len(parts) >= 3 && parts[1] == "wal" {
			kind = r.Method + " wal"
			if node, err := strconv.Atoi(parts[2]); err == nil {
				p.mu.Lock()
				p.walPuts[node]++
				p.mu.Unlock()
			}
		}
	}
	p.mu.Lock()
	p.requests[kind]++
	p.mu.Unlock()
	start := time.Now()
	p.rp.ServeHTTP(w, r)
	if strings.HasSuffix(kind, " wal") {
		p.mu.Lock()
		took := time.Since(start)
		p.putTime += took
		p.puts = append(p.puts, took)
		p.mu.Unlock()
	}
}

func (p *bcProxy) snapshot() (map[int]int64, map[string]int64, time.Duration, []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	walPuts := make(map[int]int64, len(p.walPuts))
	for k, v := range p.walPuts {
		walPuts[k] = v
	}
	requests := make(map[string]int64, len(p.requests))
	for k, v := range p.requests {
		requests[k] = v
	}
	return walPuts, requests, p.putTime, p.puts[:len(p.puts):len(p.puts)]
}

// bcLoad is a produce load at a fixed rate: records of size bytes to
// topic from producers franz-go clients (idempotent, acks=all, linger 0,
// round-robin over the partitions), each record's latency measured from
// the time it was due (so a client that falls behind is charged for it).
type bcLoad struct {
	addrs     []string
	topic     string
	rate      int
	size      int
	producers int
}

// bcResult is a load's outcome.
type bcResult struct {
	records int
	bytes   int64
	lat     []time.Duration // sorted
	failed  int64
	first   error
	// stalls are the due times of records 200 ms late or more, sorted.
	stalls []time.Time
	start  time.Time
}

func (r bcResult) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return r.lat[min(len(r.lat)-1, int(float64(len(r.lat))*p))]
}

// clients are the load's producers, connected and with their metadata
// (one record through each first); closed when the benchmark ends.
func (l bcLoad) clients(b *testing.B) []*kgo.Client {
	b.Helper()
	var cls []*kgo.Client
	for range l.producers {
		cl := fgClient(b, l.addrs[0], kgo.SeedBrokers(l.addrs...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.MaxBufferedRecords(1_000_000), kgo.ProducerBatchCompression(kgo.NoCompression()))
		fgProduceSync(b, cl, &kgo.Record{Topic: l.topic, Value: make([]byte, l.size)})
		cls = append(cls, cl)
	}
	return cls
}

// run produces at the load's rate for d through cls and waits for every
// acknowledgement.
func (l bcLoad) run(b *testing.B, cls []*kgo.Client, d time.Duration) bcResult {
	b.Helper()
	per := l.rate / len(cls)
	n := int(int64(per) * int64(d) / int64(time.Second))
	interval := time.Second / time.Duration(per)
	value := make([]byte, l.size)
	for i := range value {
		value[i] = byte(i * 7919)
	}
	var failed atomic.Int64
	var first atomic.Value
	lats := make([][]time.Duration, len(cls))
	var stallMu sync.Mutex
	var stalls []time.Time
	var wg sync.WaitGroup
	start := time.Now()
	for k, cl := range cls {
		lat := make([]time.Duration, n)
		lats[k] = lat
		offset := interval * time.Duration(k) / time.Duration(len(cls))
		wg.Go(func() {
			for i := range n {
				due := start.Add(offset + time.Duration(i)*interval)
				if w := time.Until(due); w > 0 {
					time.Sleep(w)
				}
				cl.Produce(context.Background(), &kgo.Record{Topic: l.topic, Value: value}, func(_ *kgo.Record, err error) {
					if err != nil && failed.Add(1) == 1 {
						first.Store(err)
					}
					lat[i] = time.Since(due)
					if lat[i] >= 200*time.Millisecond {
						stallMu.Lock()
						stalls = append(stalls, due)
						stallMu.Unlock()
					}
				})
			}
			if err := cl.Flush(context.Background()); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	r := bcResult{records: n * len(cls), bytes: int64(n*len(cls)) * int64(l.size), failed: failed.Load(), start: start}
	if e, ok := first.Load().(error); ok {
		r.first = e
	}
	for _, lat := range lats {
		r.lat = append(r.lat, lat...)
	}
	slices.Sort(r.lat)
	slices.SortFunc(stalls, func(a, b time.Time) int { return a.Compare(b) })
	r.stalls = stalls
	return r
}

// traceStall logs when res's stall was (its first and last late record's
// due time) and the brokers' debug lines of leases, rebuilds, uploads and
// sessions from 2 s before it to its end (bcTrace).
func (c *bcEnv) traceStall(res bcResult) {
	if len(res.stalls) == 0 {
		return
	}
	from, to := res.stalls[0], res.stalls[len(res.stalls)-1]
	c.b.Logf("stall: %d records 200 ms late or more, due from %s to %s (%.1f s into the window)", len(res.stalls), from.Format("15:04:05.000"), to.Format("15:04:05.000"), from.Sub(res.start).Seconds())
	words := strings.Fields(cmp.Or(os.Getenv("STREAMHOUSE_CLUSTER_BENCH_TRACE_WORDS"), "lease rebuilt uploaded session WARN ERROR"))
	for _, br := range c.brokers {
		shown := 0
		for _, line := range strings.Split(br.p.logs.String(), "\n") {
			// The brokers' text lines start with their time.
			ts, ok := strings.CutPrefix(line, "time=")
			if !ok || !slices.ContainsFunc(words, func(w string) bool { return strings.Contains(line, w) }) {
				continue
			}
			ts, _, _ = strings.Cut(ts, " ")
			at, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || at.Before(from.Add(-2*time.Second)) || at.After(to) {
				continue
			}
			if shown++; shown > 150 {
				c.b.Logf("  broker %d: ... (more lines left out)", br.node)
				break
			}
			c.b.Logf("  broker %d: %s", br.node, line)
		}
	}
}

// bcMedian is the median of xs (the upper one of an even count).
func bcMedian(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// bcMs is d in milliseconds.
func bcMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// bcRound rounds xs to 2 decimals, for logs.
func bcRound(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int64(x*100+0.5)) / 100
	}
	return out
}
