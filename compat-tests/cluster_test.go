package compattests

// The cluster mode (issue 20) with real processes on loopback: one
// PostgreSQL (internal/pgtest), one versitygw (internal/s3test) and three
// streamhouse brokers sharing them. Clients know one bootstrap address.
//
// TestCluster: kcat -L lists the three brokers; a franz-go idempotent
// producer (acks=all) writes to every partition through one bootstrap
// address while a broker is killed with kill -9 (its partitions move to
// the others once its session expires: the failover time, from the kill to
// the first acknowledged produce on each of its partitions, is logged), and
// another is stopped with SIGTERM (a handover: its time is logged too);
// then every acknowledged record is read back at its offset, and each
// partition's offsets are contiguous. A group consumer reads through the
// same bootstrap address. Its session timeout is 3 s, so that the test
// takes seconds; the longer chaos of the issue runs under
// STREAMHOUSE_SOAK=1 only (not written yet).

import (
	"context"
	"fmt"
	"os/exec"
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
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/s3test"
)

// clusterEnv is a cluster of brokers over one catalog schema and one bucket.
type clusterEnv struct {
	t       *testing.T
	url     string
	s3      *s3test.Server
	bucket  string
	brokers map[int]*proc // by node id
	extra   []string      // more flags for every broker started
	// extraFor returns more flags for one broker (the chaos test's
	// ops listener); nil: none.
	extraFor func(node int) []string
}

func newClusterEnv(t *testing.T) *clusterEnv {
	t.Helper()
	pgtest.Require(t)
	s3 := s3test.Start(t)
	return &clusterEnv{t: t, url: pgtest.URL(t), s3: s3, bucket: s3.Bucket(t), brokers: map[int]*proc{}}
}

// start starts broker node (again) on a data directory of its own.
func (c *clusterEnv) start(node int) *proc {
	c.t.Helper()
	return c.startWith(node, c.url, c.s3.Endpoint())
}

// startWith starts broker node with the catalog at url and the bucket's
// server at endpoint (proxies that inject faults, in the chaos test). A
// broker started again listens where it listened before, as a restarted
// broker does in a deployment: a client that knew only the old addresses
// would otherwise have nobody to ask once every broker had restarted.
func (c *clusterEnv) startWith(node int, url, endpoint string) *proc {
	c.t.Helper()
	addr := ""
	if prev, ok := c.brokers[node]; ok {
		addr = prev.addr
	}
	args := []string{"--metadata", "postgres", "--database-url", url,
		"--storage", "s3", "--s3-endpoint", endpoint, "--s3-bucket", c.bucket,
		"--node-id", strconv.Itoa(node), "--broker.rack", "rack-" + strconv.Itoa(node),
		"--s3-flush-interval", "5ms",
		"--broker.session.timeout.ms", "3000", "--broker.heartbeat.interval.ms", "500"}
	args = append(args, c.extra...)
	if c.extraFor != nil {
		args = append(args, c.extraFor(node)...)
	}
	p := startProcWith(c.t, binary(c.t), c.s3.Env(), c.t.TempDir(), addr, args...)
	c.brokers[node] = p
	c.t.Cleanup(func() {
		if c.t.Failed() {
			c.t.Logf("broker %d's log:\n%s", node, tail(p.logs.String(), 6000))
		}
	})
	return p
}

// leaders returns each partition's leader as Metadata through addr says.
func clusterLeaders(ctx context.Context, adm *kadm.Client, topic string) (map[int32]int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	out := map[int32]int32{}
	for p, pd := range td.Partitions {
		if pd.Err == nil {
			out[p] = pd.Leader
		}
	}
	return out, nil
}

// clusterWaitLed waits until Metadata gives every partition of topic a
// leader, and returns them.
func clusterWaitLed(t *testing.T, adm *kadm.Client, topic string, parts int32) map[int32]int32 {
	t.Helper()
	for deadline := time.Now().Add(fgWait); ; {
		leaders, err := clusterLeaders(fgCtx(t), adm, topic)
		if err == nil && len(leaders) == int(parts) {
			return leaders
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %s never all led: %v %v", topic, leaders, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clusterKcatLists waits until kcat -L through boot lists every broker
// of c at its address.
func clusterKcatLists(t *testing.T, c *clusterEnv, boot string) {
	t.Helper()
	kcat := requireTool(t, "kcat")
	want := fmt.Sprintf(" %d brokers:", len(c.brokers))
	deadline := time.Now().Add(fgWait)
	for {
		out := runTool(t, 20*time.Second, nil, kcat, "-L", "-b", boot, "-m", "10")
		if strings.Contains(out, want) {
			for node, p := range c.brokers {
				if !strings.Contains(out, fmt.Sprintf("broker %d at %s", node, p.addr)) {
					t.Fatalf("kcat -L does not list broker %d at %s:\n%s", node, p.addr, out)
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kcat -L never listed %d brokers:\n%s", len(c.brokers), out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// clusterAck is one acknowledged record.
type clusterAck struct {
	partition int32
	offset    int64
	value     string
	produced  time.Time // when the client was given it (its timestamp)
	at        time.Time // when it was acknowledged
}

func TestCluster(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	boot := c.brokers[1].addr
	ctx := fgCtx(t)

	// kcat -L through one broker lists the three.
	clusterKcatLists(t, c, boot)

	const topic, parts = "cluster-orders", int32(6)
	adm := fgAdmin(t, boot)
	fgCreateTopic(t, adm, topic, parts, nil)
	// Every partition led, spread over the brokers.
	leaders := clusterWaitLed(t, adm, topic, parts)
	t.Logf("leaders: %v", leaders)

	// An idempotent acks=all producer through the one bootstrap address,
	// writing to every partition in turn until stopped; every ack in the
	// ledger.
	cl := fgClient(t, boot, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(200))
	var mu sync.Mutex
	var acks []clusterAck
	var prodErrs []error
	pctx, stopProducing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; pctx.Err() == nil; i++ {
			v := fmt.Sprintf("v%06d", i)
			cl.Produce(pctx, &kgo.Record{Topic: topic, Partition: int32(i) % parts, Value: []byte(v)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if pctx.Err() == nil {
						prodErrs = append(prodErrs, err)
					}
					return
				}
				acks = append(acks, clusterAck{r.Partition, r.Offset, string(r.Value), r.Timestamp, time.Now()})
			})
			time.Sleep(time.Millisecond)
		}
	})
	acked := func() int { mu.Lock(); defer mu.Unlock(); return len(acks) }
	waitAcked := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(fgWait); acked() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("only %d records acknowledged, waiting for %d", acked(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// firstAckAfter is how long after from each of ps had its first
	// acknowledged record produced after from, at worst.
	firstAckAfter := func(ps []int32, from time.Time) time.Duration {
		t.Helper()
		for deadline := time.Now().Add(fgWait); ; {
			mu.Lock()
			seen := map[int32]time.Time{}
			for _, a := range acks {
				if a.produced.After(from) && slices.Contains(ps, a.partition) {
					if _, ok := seen[a.partition]; !ok {
						seen[a.partition] = a.at
					}
				}
			}
			mu.Unlock()
			if len(seen) == len(ps) {
				var worst time.Duration
				for _, at := range seen {
					worst = max(worst, at.Sub(from))
				}
				return worst
			}
			if time.Now().After(deadline) {
				t.Fatalf("partitions %v: not all produced to again after %v (%v)", ps, from, seen)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	led := func(node int32) []int32 {
		var ps []int32
		for p, l := range leaders {
			if l == node {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		return ps
	}
	waitAcked(500)

	// busiest is whichever of brokers 2 and 3 leads more partitions
	// (broker 1 is the clients' bootstrap address).
	busiest := func() int {
		if len(led(2)) > len(led(3)) {
			return 2
		}
		return 3
	}

	// kill -9 a broker: its partitions move once its session expires.
	k := busiest()
	victim := led(int32(k))
	killed := time.Now()
	c.brokers[k].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[k].done
	if len(victim) > 0 {
		took := firstAckAfter(victim, killed)
		t.Logf("FAILOVER: kill -9 of broker %d to the first acknowledged produce on each of its partitions %v: %v (session timeout 3 s)", k, victim, took.Round(time.Millisecond))
	}
	c.start(k) // it joins again and takes its share back
	waitAcked(acked() + 300)

	// SIGTERM a broker: a handover.
	leaders = clusterWaitLed(t, adm, topic, parts)
	k = busiest()
	handed := led(int32(k))
	termed := time.Now()
	c.brokers[k].stop()
	if len(handed) > 0 {
		took := firstAckAfter(handed, termed)
		t.Logf("HANDOVER: SIGTERM of broker %d to the first acknowledged produce on each of its partitions %v: %v", k, handed, took.Round(time.Millisecond))
	}
	waitAcked(acked() + 300)
	stopProducing()
	wg.Wait()
	cl.Close()

	mu.Lock()
	if len(prodErrs) > 0 {
		t.Errorf("%d produce errors the client gave up on, first: %v", len(prodErrs), prodErrs[0])
	}
	ledger := slices.Clone(acks)
	mu.Unlock()

	// Every acknowledged record is there at its offset, read by a group
	// consumer through the one bootstrap address; offsets contiguous.
	want := map[int32]map[int64]string{}
	for _, a := range ledger {
		if want[a.partition] == nil {
			want[a.partition] = map[int64]string{}
		}
		if prev, dup := want[a.partition][a.offset]; dup {
			t.Fatalf("partition %d offset %d acknowledged twice: %s and %s", a.partition, a.offset, prev, a.value)
		}
		want[a.partition][a.offset] = a.value
	}
	// Every partition led again (the stopped broker's handed over) before the
	// end offsets are asked.
	clusterWaitLed(t, adm, topic, parts)
	ends := fgEndOffsets(t, adm, topic)
	total := int64(0)
	for _, e := range ends {
		total += e
	}
	cons := fgClient(t, boot, kgo.ConsumeTopics(topic), kgo.ConsumerGroup("cluster-readers"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	next := map[int32]int64{}
	read := int64(0)
	for read < total {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of %d records: %v", read, total, ctx.Err())
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Errorf("partition %d: offset %d after %d: not contiguous", r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			if v, ok := want[r.Partition][r.Offset]; ok && v != string(r.Value) {
				t.Errorf("partition %d offset %d: %q, acknowledged as %q", r.Partition, r.Offset, r.Value, v)
			}
			delete(want[r.Partition], r.Offset)
			read++
		})
	}
	for p, m := range want {
		if len(m) > 0 {
			t.Errorf("partition %d: %d acknowledged records lost (ends %v)", p, len(m), ends)
		}
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("commit offsets: %v", err)
	}
	t.Logf("%d records acknowledged, %d read back through a group consumer; end offsets %v", len(ledger), read, ends)
}

// TestClusterCoordinators: groups are coordinated by the broker holding
// their shard (Kafka's __consumer_offsets partition of the group id): every
// broker's FindCoordinator names the same one, the shards spread over the
// brokers, another broker answers NOT_COORDINATOR; two members of one group
// bootstrapped through different brokers share its partitions; when the
// coordinator is killed, another takes the shard, loads the group from the
// catalog, and the members read on from their committed offsets: every
// record produced is consumed.
func TestClusterCoordinators(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	// The members poll with ctx through every phase below, each bounded
	// by fgWait of its own: ctx outlasts them.
	ctx, cancel := context.WithTimeout(context.Background(), 4*fgWait)
	defer cancel()

	// Every broker names the same coordinator for each of 30 groups,
	// and the shards are spread over the brokers.
	coordinatorOf := func(addr, group string) (int32, int16) {
		r := fgDialRaw(t, addr)
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		resp := r.do(req, 4).(*kmsg.FindCoordinatorResponse)
		return resp.Coordinators[0].NodeID, resp.Coordinators[0].ErrorCode
	}
	// Brokers that just joined take their shards from the first one: the
	// answers agree once the handovers are done.
	spread := map[int32]int{}
	for i := range 30 {
		group := fmt.Sprintf("g-%d", i)
		for deadline := time.Now().Add(fgWait); ; {
			var nodes []int32
			for node := 1; node <= 3; node++ {
				if got, code := coordinatorOf(c.brokers[node].addr, group); code == 0 {
					nodes = append(nodes, got)
				} else if code != kerr.CoordinatorNotAvailable.Code {
					t.Fatalf("group %s: broker %d answers error %d", group, node, code)
				}
			}
			if len(nodes) == 3 && nodes[0] == nodes[1] && nodes[1] == nodes[2] {
				spread[nodes[0]]++
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s: the brokers never agree on its coordinator: %v", group, nodes)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if len(spread) < 3 {
		t.Errorf("30 groups' coordinators on %d brokers only: %v", len(spread), spread)
	}

	const topic, parts, group = "cluster-groups", int32(4), "cluster-group"
	adm := fgAdmin(t, c.brokers[1].addr)

	// Admin through one broker is seen by the others through the
	// catalog's change feed: a topic created through broker 1 is in
	// broker 3's Metadata, a config altered through broker 3 in broker
	// 2's DescribeConfigs. The times are logged (the issue asks within
	// 1 s; a test asserts no time).
	created := time.Now()
	fgCreateTopic(t, adm, topic, parts, nil)
	adm3 := fgAdmin(t, c.brokers[3].addr)
	r3 := fgDialRaw(t, c.brokers[3].addr)
	for deadline := time.Now().Add(fgWait); ; {
		md := r3.metadata(false, topic)
		if len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 3 never saw topic %s created through broker 1", topic)
		}
		time.Sleep(5 * time.Millisecond)
	}
	seenCreate := time.Since(created)
	altered := time.Now()
	if _, err := adm3.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("3600000")}}, topic); err != nil {
		t.Fatal(err)
	}
	r2 := fgDialRaw(t, c.brokers[2].addr)
	for deadline := time.Now().Add(fgWait); ; {
		req := kmsg.NewPtrDescribeConfigsRequest()
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName, rr.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{"retention.ms"}
		req.Resources = append(req.Resources, rr)
		resp := r2.do(req, 4).(*kmsg.DescribeConfigsResponse)
		if len(resp.Resources) == 1 && len(resp.Resources[0].Configs) == 1 && resp.Resources[0].Configs[0].Value != nil && *resp.Resources[0].Configs[0].Value == "3600000" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("broker 2 never saw retention.ms altered through broker 3")
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("ADMIN: a topic created through broker 1 in broker 3's Metadata after %v; a config altered through broker 3 in broker 2's DescribeConfigs after %v",
		seenCreate.Round(time.Millisecond), time.Since(altered).Round(time.Millisecond))
	coord, _ := coordinatorOf(c.brokers[1].addr, group)
	other := 1 + int(coord)%3 // a broker that does not coordinate it
	{
		r := fgDialRaw(t, c.brokers[other].addr)
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.MemberID, req.Generation = group, "m", 1
		if code := r.do(req, 4).(*kmsg.HeartbeatResponse).ErrorCode; code != kerr.NotCoordinator.Code {
			t.Errorf("Heartbeat to broker %d, not the coordinator (%d): error %d, want NOT_COORDINATOR", other, coord, code)
		}
	}

	// Two members through two different brokers.
	var mu sync.Mutex
	seen := map[string]int{}
	members := map[int]int{}
	consume := func(id, node int) *kgo.Client {
		cl := fgClient(t, c.brokers[node].addr, kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.AutoCommitInterval(100*time.Millisecond),
			kgo.HeartbeatInterval(300*time.Millisecond), kgo.SessionTimeout(6*time.Second))
		go func() {
			for {
				fs := cl.PollFetches(ctx)
				if fs.IsClientClosed() || ctx.Err() != nil {
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					mu.Lock()
					seen[string(r.Value)]++
					members[id]++
					mu.Unlock()
				})
			}
		}()
		return cl
	}
	others := []int{1, 2, 3}
	others = slices.DeleteFunc(others, func(n int) bool { return n == int(coord) })
	m1 := consume(1, others[0])
	m2 := consume(2, others[1])
	defer m1.Close()
	defer m2.Close()

	// Both members in the group before anything is produced.
	for deadline := time.Now().Add(fgWait); ; {
		dg, err := adm.DescribeGroups(ctx, group)
		assigned := 0
		for _, m := range dg[group].Members {
			if a, ok := m.Assigned.AsConsumer(); ok && len(a.Topics) > 0 && len(a.Topics[0].Partitions) > 0 {
				assigned++
			}
		}
		if err == nil && assigned == 2 && dg[group].State == "Stable" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two members never both in the group: %v %v", dg, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	prod := fgClient(t, c.brokers[others[0]].addr, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	produce := func(from, to int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < to; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("r%05d", i))})
		}
		fgProduceAll(t, prod, recs)
	}
	waitSeen := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(fgWait); ; {
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumed %d distinct records of %d", got, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	produce(0, 400)
	waitSeen(400)
	mu.Lock()
	if members[1] == 0 || members[2] == 0 {
		t.Errorf("one member consumed nothing: %v (the two did not share the group)", members)
	}
	mu.Unlock()

	// Kill the coordinator: another broker takes its shard.
	killed := time.Now()
	c.brokers[int(coord)].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[int(coord)].done
	produce(400, 800)
	waitSeen(800)
	// The shard moves once the dead broker's session expires.
	var now int32
	for deadline := time.Now().Add(fgWait); ; {
		var code int16
		if now, code = coordinatorOf(c.brokers[others[0]].addr, group); code == 0 && now != coord {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the group's coordinator is still %d (error %d) after the kill", now, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	mu.Unlock()
	t.Logf("coordinator %d killed; the group went on under coordinator %d: all 800 records consumed %v after the kill, %d consumed twice (at least once across a coordinator move)",
		coord, now, time.Since(killed).Round(time.Millisecond), dups)

	// The committed offsets are where the members read to. A context of
	// their own: the test's, taken at its start, may have run out on a
	// loaded machine by now (CI failed once so, every FetchOffsets
	// "context deadline exceeded").
	fctx := fgCtx(t)
	m1.CommitUncommittedOffsets(fctx)
	m2.CommitUncommittedOffsets(fctx)
	adm = fgAdmin(t, c.brokers[others[0]].addr) // the first one's connections end at the dead broker
	for deadline := time.Now().Add(fgWait); ; {
		offs, err := adm.FetchOffsets(fctx, group)
		total := int64(0)
		if err == nil {
			offs.Each(func(o kadm.OffsetResponse) { total += o.At })
		}
		if total == 800 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets sum to %d, want 800 (%v)", total, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterCatalogModes: a cluster's catalog is refused to a broker with
// local storage (it would serve every topic from its own directory), with
// an error that says so; with the cluster stopped it starts.
func TestClusterCatalogModes(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	c.start(1)
	cmd := exec.Command(binary(t), "--listen", freePort(t), "--data-dir", t.TempDir(), "--http-listen", "", "--schema-registry-listen", "",
		"--log-format", "text", "--metadata", "postgres", "--database-url", c.url)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "brokers of a cluster") {
		t.Fatalf("a broker with local storage on a cluster's catalog: %v\n%s", err, out)
	}
	c.brokers[1].stop()
	startProcWith(t, binary(t), nil, t.TempDir(), "", "--metadata", "postgres", "--database-url", c.url).stop()
}
