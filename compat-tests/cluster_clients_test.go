//go:build cgo

package compattests

// Kafka's other clients against the cluster mode (issue 20), through one
// bootstrap address of a 3-broker cluster (cluster_test.go's clusterEnv):
// sarama and librdkafka (confluent-kafka-go) idempotent producers and
// group consumers, kcat -L. Transactional producers across brokers are not
// tested here yet. Without cgo (confluent-kafka-go) this file is left out.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestClusterClients: kcat -L through one broker lists the three; a topic
// of replication factor 3 is created through sarama's admin (4 is refused:
// INVALID_REPLICATION_FACTOR; a manual replica assignment too:
// INVALID_REPLICA_ASSIGNMENT); until its partitions are led, every broker
// that knows it answers NOT_LEADER_OR_FOLLOWER for them; Metadata lists
// each partition's 3 replicas, the leader first, then the broker that
// takes it over if the leader dies (checked at the kill below). A sarama
// and a librdkafka idempotent producer (acks=all) write to every partition
// through the one bootstrap address while a sarama consumer group and a
// librdkafka consumer group of two members each read, their members'
// partitions led by different brokers. A broker is killed with kill -9 while they produce: both
// producers carry on once its partitions move, without giving up a
// record. At the end both groups have read the whole log, and the ledger
// of acknowledged records holds: each at its offset with its value, no
// record twice in the log.
func TestClusterClients(t *testing.T) {
	began := time.Now()
	var phases []string // how long each step took, logged at the end
	phase := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(began).Round(time.Millisecond)))
		began = time.Now()
	}
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	c.extra = grBrokerFlags()
	// sarama's own log (its retries and leader changes), shown when the
	// test fails. Its logger is global: safe here, where no other test
	// runs meanwhile (this one is not parallel).
	saramaLog := &syncBuffer{}
	prevLogger := sarama.Logger
	sarama.Logger = log.New(saramaLog, "[sarama] ", log.Lmicroseconds)
	t.Cleanup(func() {
		sarama.Logger = prevLogger
		if t.Failed() {
			t.Logf("sarama's log:\n%s", tail(saramaLog.String(), 30000))
		}
	})
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	boot := c.brokers[1].addr
	phase("brokers started")
	clusterKcatLists(t, c, boot)
	phase("kcat -L listing them")

	// 12 partitions: each broker leads some of them, but for a chance of
	// 3·(2/3)^12 (2%) that rendezvous hashing gives one broker none.
	const topic, parts = "cluster-clients", int32(12)
	v := sarama.MaxVersion
	adm := fgAdmin(t, boot)
	ctx := fgCtx(t)
	// Replication factor 3, as Kafka users and tools routinely ask, is
	// taken on 3 brokers; 4 is not, as Kafka answers.
	if r, err := adm.CreateTopic(ctx, 1, 4, nil, "cluster-rf4"); !errors.Is(r.Err, kerr.InvalidReplicationFactor) {
		t.Errorf("a topic of replication factor 4 on 3 brokers: %v (%v), want INVALID_REPLICATION_FACTOR", r.Err, err)
	}
	// The placement decides where partitions go: a manual assignment
	// is refused.
	sadm := newSaramaAdmin(t, boot, saramaConfig(v))
	assigned := &sarama.TopicDetail{NumPartitions: -1, ReplicationFactor: -1, ReplicaAssignment: map[int32][]int32{0: {1, 2, 3}}}
	if err := sadm.CreateTopic("cluster-assigned", assigned, false); !errors.Is(err, sarama.ErrInvalidReplicaAssignment) {
		t.Errorf("a topic with a manual replica assignment: %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
	// min.insync.replicas 2: the acks=all produces below, made while 3
	// and then 2 brokers live, prove that the live brokers are the
	// in-sync replicas.
	two := "2"
	if err := sadm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 3, ConfigEntries: map[string]*string{"min.insync.replicas": &two}}, false); err != nil {
		t.Fatalf("sarama CreateTopic %s, replication factor 3: %v", topic, err)
	}
	// More in-sync replicas asked than the replication factor gives: an
	// acks=all produce is refused with NOT_ENOUGH_REPLICAS, as Kafka
	// refuses it.
	if r, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("4")}, "cluster-minisr"); err != nil || r.Err != nil {
		t.Fatalf("CreateTopic cluster-minisr: %v %v", err, r.Err)
	}
	clusterWaitLed(t, adm, "cluster-minisr", 1)
	minisr := fgClient(t, boot, kgo.DefaultProduceTopic("cluster-minisr"), kgo.RecordRetries(1))
	grWaitFor(t, "an acks=all produce with min.insync.replicas 4 over 3 replicas refused with NOT_ENOUGH_REPLICAS", func() (bool, string) {
		// Until every broker has read the new partition's lease, one
		// may answer LEADER_NOT_AVAILABLE: try again then.
		err := minisr.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
		return errors.Is(err, kerr.NotEnoughReplicas), fmt.Sprint(err)
	})
	phase("min.insync.replicas refused")
	clusterNotLeaderYet(t, c, adm, topic, parts)
	leaders := clusterWaitLed(t, adm, topic, parts)
	// Each partition's replicas and ISR: its leader, then the others in
	// the order the placement would hand it on.
	successor := map[int32]int32{}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for p, pd := range md.Topics[topic].Partitions {
		if len(pd.Replicas) != 3 || pd.Replicas[0] != pd.Leader || len(slices.Compact(slices.Sorted(slices.Values(pd.Replicas)))) != 3 || !slices.Equal(pd.ISR, pd.Replicas) {
			t.Errorf("partition %d: leader %d, replicas %v, ISR %v; want 3 brokers, the leader first, the ISR the same", p, pd.Leader, pd.Replicas, pd.ISR)
			continue
		}
		successor[p] = pd.Replicas[1]
	}
	// A reassignment names the replicas the placement gives (in any
	// order: nothing to move) or is refused, saying which they are.
	if pd, ok := md.Topics[topic].Partitions[0]; ok && len(pd.Replicas) == 3 {
		grWaitFor(t, "a reassignment of partition 0 to its replicas in another order taken", func() (bool, string) {
			var same kadm.AlterPartitionAssignmentsReq
			reversed := slices.Clone(pd.Replicas)
			slices.Reverse(reversed)
			same.Assign(topic, 0, reversed)
			rs, err := adm.AlterPartitionAssignments(ctx, same)
			if err != nil {
				return false, err.Error()
			}
			r := rs[topic][0]
			return r.Err == nil, fmt.Sprint(r.Err, r.ErrMessage)
		})
		// The leader is the first, preferred, replica: no election is
		// needed (once the answering broker has read every lease).
		grWaitFor(t, "ElectLeaders of partition 0 answering ELECTION_NOT_NEEDED", func() (bool, string) {
			rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
			if err != nil {
				return false, err.Error()
			}
			r := rs[topic][0]
			return errors.Is(r.Err, kerr.ElectionNotNeeded), fmt.Sprint(r.Err, r.ErrMessage)
		})
		var fewer kadm.AlterPartitionAssignmentsReq
		fewer.Assign(topic, 0, []int32{pd.Leader})
		rs, err := adm.AlterPartitionAssignments(ctx, fewer)
		if r := rs[topic][0]; err != nil || !errors.Is(r.Err, kerr.InvalidReplicaAssignment) {
			t.Errorf("a reassignment of partition 0 to its leader alone: %v %v %s, want INVALID_REPLICA_ASSIGNMENT", err, r.Err, r.ErrMessage)
		}
	}
	// kcat -L through broker 1 says the same of each partition, once
	// broker 1 has read the others' leases (it reads them every
	// heartbeat; until then it answers LEADER_NOT_AVAILABLE for theirs).
	kcat := requireTool(t, "kcat")
	grWaitFor(t, "kcat -L listing each partition's leader, replicas and ISR", func() (bool, string) {
		kout := runTool(t, 20*time.Second, nil, kcat, "-L", "-b", boot, "-t", topic, "-m", "10")
		for p, pd := range md.Topics[topic].Partitions {
			if len(pd.Replicas) != 3 {
				continue // said above
			}
			rs := fmt.Sprintf("%d,%d,%d", pd.Replicas[0], pd.Replicas[1], pd.Replicas[2])
			if !strings.Contains(kout, fmt.Sprintf("partition %d, leader %d, replicas: %s, isrs: %s\n", p, pd.Leader, rs, rs)) {
				return false, fmt.Sprintf("partition %d: want leader %d, replicas and ISR %s:\n%s", p, pd.Leader, rs, kout)
			}
		}
		return true, ""
	})
	byLeader := map[int32][]int32{}
	for p, l := range leaders {
		byLeader[l] = append(byLeader[l], p)
	}
	for _, ps := range byLeader {
		slices.Sort(ps)
	}
	t.Logf("partitions by leader: %v", byLeader)
	if len(byLeader) < 2 {
		t.Fatalf("every partition led by one broker: %v", byLeader)
	}

	// Two consumer groups of two members each, every member bootstrapped
	// through broker 1; both in before anything is produced.
	trS, trR := newGrTracker(), newGrTracker()
	// The sarama members speak Kafka 2.1's requests (Metadata v7, Fetch
	// v10), the producer the newest sarama knows.
	s1 := grStartSaramaMember(t, boot, sarama.V2_1_0_0, trS, "s1", "cluster-sarama", topic)
	s2 := grStartSaramaMember(t, boot, sarama.V2_1_0_0, trS, "s2", "cluster-sarama", topic)
	r1 := grStartRdMember(t, boot, trR, "r1", "cluster-librdkafka", topic)
	r2 := grStartRdMember(t, boot, trR, "r2", "cluster-librdkafka", topic)
	// ledBy is the brokers leading ps.
	ledBy := func(ps []int32) []int32 {
		var ls []int32
		for _, p := range ps {
			if !slices.Contains(ls, leaders[p]) {
				ls = append(ls, leaders[p])
			}
		}
		slices.Sort(ls)
		return ls
	}
	for _, g := range []struct {
		name string
		tr   *grTracker
		a, b func() []int32
	}{{"sarama", trS, s1.claims, s2.claims}, {"librdkafka", trR, r1.assigned, r2.assigned}} {
		grWaitFor(t, "the "+g.name+" group's two members sharing the partitions", func() (bool, string) {
			a, b := g.a(), g.b()
			all := slices.Sorted(slices.Values(append(slices.Clone(a), b...)))
			desc := fmt.Sprintf("members have %v and %v; %s", a, b, g.tr.errors())
			// Partitions 0..parts-1, each once.
			return len(a) > 0 && len(b) > 0 && len(all) == int(parts) && len(slices.Compact(all)) == int(parts) && all[0] == 0 && all[parts-1] == parts-1, desc
		})
		// The members fetch from the brokers leading their partitions:
		// between them, from every broker that leads any.
		la, lb := ledBy(g.a()), ledBy(g.b())
		t.Logf("%s group: one member's partitions %v led by brokers %v, the other's %v led by %v", g.name, g.a(), la, g.b(), lb)
		if both := slices.Compact(slices.Sorted(slices.Values(append(la, lb...)))); len(both) != len(byLeader) {
			t.Errorf("%s group: the members' partitions are led by brokers %v between them, not by all %d leading brokers", g.name, both, len(byLeader))
		}
	}

	phase("topic led, groups in")
	// The producers, each writing to every partition in turn until
	// stopped; every acknowledgement in a ledger.
	pctx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	led := newClusterLedger()
	var wg sync.WaitGroup
	wg.Go(func() { clusterSaramaProduce(t, pctx, boot, v, topic, parts, led) })
	wg.Go(func() { clusterRdProduce(t, pctx, boot, topic, parts, led) })
	led.waitAcked(t, "sarama", 150, time.Time{})
	led.waitAcked(t, "librdkafka", 150, time.Time{})

	// kill -9 the busier of brokers 2 and 3 (1 is the bootstrap address):
	// once its session expires its partitions move, and both producers
	// carry on there.
	k := int32(2)
	if len(byLeader[3]) > len(byLeader[2]) {
		k = 3
	}
	victim := byLeader[k]
	killed := time.Now()
	c.brokers[int(k)].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[int(k)].done
	for _, client := range []string{"sarama", "librdkafka"} {
		took := led.waitPartitions(t, client, victim, killed)
		t.Logf("FAILOVER (%s): kill -9 of broker %d to an acknowledged produce on each of its partitions %v: %v (session timeout 3 s)",
			client, k, victim, took.Round(time.Millisecond))
	}
	// Each of its partitions went to the broker after it in the
	// partition's replicas.
	// (Broker 1's view of the leases may lag the new leaders' by a
	// heartbeat.)
	var now map[int32]int32
	grWaitFor(t, "Metadata giving broker "+fmt.Sprint(k)+"'s partitions new leaders", func() (bool, string) {
		now = clusterWaitLed(t, adm, topic, parts)
		for _, p := range victim {
			if now[p] == k {
				return false, fmt.Sprintf("leaders %v", now)
			}
		}
		return true, ""
	})
	for _, p := range victim {
		if now[p] != successor[p] {
			t.Errorf("partition %d: led by %d after broker %d's kill, its replicas named %d next", p, now[p], k, successor[p])
		}
	}
	led.waitAcked(t, "sarama", 100, killed)
	led.waitAcked(t, "librdkafka", 100, killed)
	stopProducing()
	wg.Wait()

	phase("producing")
	// The log as the group members read it, every offset of every
	// partition, against the ledger.
	ends := fgEndOffsets(t, adm, topic)
	for _, g := range []struct {
		name string
		tr   *grTracker
	}{{"sarama", trS}, {"librdkafka", trR}} {
		grWaitFor(t, "the "+g.name+" group reading every partition to its end", func() (bool, string) {
			short := map[int32]int{}
			for p, end := range ends {
				if got := len(g.tr.consumedOffsets(p)); int64(got) < end {
					short[p] = int(end) - got
				}
			}
			return len(short) == 0, fmt.Sprintf("records not read yet by partition %v (ends %v); %s", short, ends, g.tr.errors())
		})
		log := map[int32]map[int64]string{}
		for p := range ends {
			log[p] = g.tr.consumedOffsets(p)
		}
		led.check(t, g.name+" group", log, ends)
	}
	phase("reading")
	t.Logf("acknowledged: %v; end offsets %v; steps: %s", led.counts(), ends, strings.Join(phases, ", "))
}

// clusterNotLeaderYet checks, until every partition of topic (just
// created) is led, that each broker that knows the topic answers for a
// partition it does not serve (yet) NOT_LEADER_OR_FOLLOWER, as Kafka does
// for a known topic, never UNKNOWN_TOPIC_OR_PARTITION; and Metadata
// LEADER_NOT_AVAILABLE for one nobody leads yet.
func clusterNotLeaderYet(t *testing.T, c *clusterEnv, adm *kadm.Client, topic string, parts int32) {
	t.Helper()
	raws := map[int]*fgRaw{}
	for node, b := range c.brokers {
		raws[node] = fgDialRaw(t, b.addr)
	}
	answers := map[string]int{}
	for deadline := time.Now().Add(fgWait); ; {
		for node, r := range raws {
			md := r.metadata(false, topic)
			if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
				continue // not known there yet
			}
			// Other errors (a log failing to open on a loaded
			// machine) are counted, not judged here.
			for _, mp := range md.Topics[0].Partitions {
				answers[fmt.Sprintf("Metadata %v", kerr.ErrorForCode(mp.ErrorCode))]++
				if mp.ErrorCode == kerr.UnknownTopicOrPartition.Code {
					t.Errorf("broker %d: Metadata of partition %d of a topic it knows: UNKNOWN_TOPIC_OR_PARTITION, want LEADER_NOT_AVAILABLE while nobody leads it", node, mp.Partition)
				}
			}
			for p := range parts {
				code := r.listOffset(4, topic, p, -1).ErrorCode
				answers[fmt.Sprintf("ListOffsets %v", kerr.ErrorForCode(code))]++
				if code == kerr.UnknownTopicOrPartition.Code {
					t.Errorf("broker %d: ListOffsets of partition %d of a topic it knows: UNKNOWN_TOPIC_OR_PARTITION, want NOT_LEADER_OR_FOLLOWER", node, p)
				}
			}
		}
		if l, err := clusterLeaders(fgCtx(t), adm, topic); err == nil && len(l) == int(parts) {
			t.Logf("answers for partitions of the new topic until all were led: %v", answers)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("partitions of %s never all led", topic)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// clusterLedger is what the producers of TestClusterClients were told:
// each acknowledged record's partition and offset, by value, and the
// records they gave up on.
type clusterLedger struct {
	mu     sync.Mutex
	acks   map[string]clusterAck // by value
	byWho  map[string][]string   // client -> values acknowledged, in order
	failed map[string][]error    // client -> records given up
}

func newClusterLedger() *clusterLedger {
	return &clusterLedger{acks: map[string]clusterAck{}, byWho: map[string][]string{}, failed: map[string][]error{}}
}

func (l *clusterLedger) ack(t *testing.T, client, value string, p int32, off int64, produced time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if prev, ok := l.acks[value]; ok {
		t.Errorf("%s: %s acknowledged twice: at %d@%d and %d@%d", client, value, prev.partition, prev.offset, p, off)
	}
	l.acks[value] = clusterAck{partition: p, offset: off, value: value, produced: produced, at: time.Now()}
	l.byWho[client] = append(l.byWho[client], value)
}

func (l *clusterLedger) fail(client string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed[client] = append(l.failed[client], err)
}

func (l *clusterLedger) counts() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for who, vs := range l.byWho {
		out[who] = len(vs)
	}
	return out
}

// waitAcked waits until client has n records produced after from
// acknowledged.
func (l *clusterLedger) waitAcked(t *testing.T, client string, n int, from time.Time) {
	t.Helper()
	grWaitFor(t, fmt.Sprintf("%d records of %s acknowledged", n, client), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		got := 0
		for _, v := range l.byWho[client] {
			if l.acks[v].produced.After(from) {
				got++
			}
		}
		return got >= n, fmt.Sprintf("%d acknowledged, %d given up (%v)", got, len(l.failed[client]), clusterFirst(l.failed[client]))
	})
}

// waitPartitions waits until each of ps has a record of client produced
// after from acknowledged, and returns how long after from the last of
// them was.
func (l *clusterLedger) waitPartitions(t *testing.T, client string, ps []int32, from time.Time) time.Duration {
	t.Helper()
	var worst time.Duration
	grWaitFor(t, fmt.Sprintf("%s producing to each of partitions %v again", client, ps), func() (bool, string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		seen := map[int32]time.Time{}
		for _, v := range l.byWho[client] {
			a := l.acks[v]
			if _, ok := seen[a.partition]; !ok && a.produced.After(from) && slices.Contains(ps, a.partition) {
				seen[a.partition] = a.at
			}
		}
		worst = 0
		for _, at := range seen {
			worst = max(worst, at.Sub(from))
		}
		return len(seen) == len(ps), fmt.Sprintf("acknowledged since on %v; %d given up (%v)", slices.Sorted(maps.Keys(seen)), len(l.failed[client]), clusterFirst(l.failed[client]))
	})
	return worst
}

// check compares the log (partition -> offset -> value, every offset
// below ends) with the ledger: every acknowledged record at its offset
// with its value, no value twice, no record given up by a producer.
func (l *clusterLedger) check(t *testing.T, who string, log map[int32]map[int64]string, ends map[int32]int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for client, errs := range l.failed {
		t.Errorf("%s gave up on %d records, first: %v", client, len(errs), errs[0])
	}
	where := map[string]string{}
	for p, end := range ends {
		for off := range end {
			v, ok := log[p][off]
			if !ok {
				t.Errorf("%s: offset %d of partition %d never read", who, off, p)
				continue
			}
			at := fmt.Sprintf("%d@%d", p, off)
			if prev, dup := where[v]; dup {
				t.Errorf("%s: %s twice in the log, at %s and %s", who, v, prev, at)
			}
			where[v] = at
		}
	}
	lost := 0
	for v, a := range l.acks {
		if got := log[a.partition][a.offset]; got != v {
			if lost++; lost <= 5 {
				t.Errorf("%s: %s acknowledged at %d@%d, the log has %q there", who, v, a.partition, a.offset, got)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%s: %d of %d acknowledged records not in the log where acknowledged", who, lost, len(l.acks))
	}
}

func clusterFirst(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

// clusterSaramaProduce runs a sarama idempotent async producer (acks=all,
// one request in flight per broker, as sarama's idempotence requires)
// until ctx ends, one record every 10 ms to each partition in turn, then
// closes it; its retries outlast a broker's session (3 s).
func clusterSaramaProduce(t *testing.T, ctx context.Context, boot string, v sarama.KafkaVersion, topic string, parts int32, l *clusterLedger) {
	c := saramaConfig(v)
	c.Producer.Idempotent = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Retry.Max = 200
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Net.MaxOpenRequests = 1
	c.Metadata.Retry.Max = 200
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	p := newSaramaAsyncProducer(t, boot, c)
	var answered atomic.Int64 // records acknowledged or given up
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range p.Successes() {
			l.ack(t, "sarama", string(saramaEncoded(t, m.Value)), m.Partition, m.Offset, m.Metadata.(time.Time))
			answered.Add(1)
		}
	})
	wg.Go(func() {
		for e := range p.Errors() {
			l.fail("sarama", fmt.Errorf("%s to partition %d: %w", saramaEncoded(t, e.Msg.Value), e.Msg.Partition, e.Err))
			answered.Add(1)
		}
	})
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	sent := int64(0)
	for produce := true; produce && sent < 100_000; {
		select {
		case <-ctx.Done():
			produce = false
		case <-tick.C:
			p.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: int32(sent) % parts,
				Value: sarama.StringEncoder(fmt.Sprintf("sarama-%06d", sent)), Metadata: time.Now()}
			sent++
		}
	}
	// Every record answered before the producer closes, as an
	// application flushes: sarama gives up the records it is still
	// retrying when closed (ErrShuttingDown).
	for deadline := time.Now().Add(fgWait); answered.Load() < sent && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := sent - answered.Load(); n > 0 {
		l.fail("sarama", fmt.Errorf("%d records neither acknowledged nor given up within %v of the end", n, fgWait))
	}
	p.AsyncClose()
	wg.Wait()
}

// clusterRdProduce is clusterSaramaProduce with a librdkafka idempotent
// producer (acks=all implied).
func clusterRdProduce(t *testing.T, ctx context.Context, boot, topic string, parts int32, l *clusterLedger) {
	p, err := kafka.NewProducer(&kafka.ConfigMap{
		"bootstrap.servers":     boot,
		"client.id":             "streamhouse-compat-librdkafka",
		"enable.idempotence":    true,
		"acks":                  "all",
		"linger.ms":             5,
		"broker.address.family": "v4",
		"message.timeout.ms":    int(fgWait / time.Millisecond),
		"log_level":             4, // warnings and worse
	})
	if err != nil {
		l.fail("librdkafka", fmt.Errorf("kafka.NewProducer: %w", err))
		return
	}
	deliveries := make(chan kafka.Event, 1000)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev := range deliveries {
			m, ok := ev.(*kafka.Message)
			if !ok {
				continue
			}
			if m.TopicPartition.Error != nil {
				l.fail("librdkafka", fmt.Errorf("%s to partition %d: %w", m.Value, m.TopicPartition.Partition, m.TopicPartition.Error))
				continue
			}
			l.ack(t, "librdkafka", string(m.Value), m.TopicPartition.Partition, int64(m.TopicPartition.Offset), m.Opaque.(time.Time))
		}
	})
	wg.Go(func() { // client-level errors (a fatal idempotence error among them); Close closes Events
		for ev := range p.Events() {
			if e, ok := ev.(kafka.Error); ok && e.IsFatal() {
				l.fail("librdkafka", fmt.Errorf("fatal: %w", e))
			}
		}
	})
	tp := topic
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			err := p.Produce(&kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &tp, Partition: int32(i) % parts},
				Value: fmt.Appendf(nil, "librdkafka-%06d", i), Opaque: time.Now()}, deliveries)
			if err != nil {
				l.fail("librdkafka", fmt.Errorf("produce: %w", err))
			}
		}
	}
	if left := p.Flush(int(fgWait / time.Millisecond)); left > 0 {
		l.fail("librdkafka", fmt.Errorf("%d records not delivered within %v of the end", left, fgWait))
	}
	p.Close() // its poller no longer sends to deliveries
	close(deliveries)
	wg.Wait()
}
