package compattests

// Helpers for the consumer-group tests (groups_*_test.go): a broker set up
// for groups, kgo group members that record what they are assigned and
// what they consume, a background producer, and bounded waits. Names start
// with gr so they do not collide with the helpers of the other tests in
// this package.
//
// Timeouts follow Kafka's limits so that a session timeout is testable in
// seconds: sessions of 6s (Kafka's group.min.session.timeout.ms),
// heartbeats every 500ms, and no initial rebalance delay
// (group.initial.rebalance.delay.ms=0; Kafka's default of 3s would delay
// every first join).

import (
	"context"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

const (
	// grSession is the members' session timeout: Kafka's default
	// group.min.session.timeout.ms, the lowest a broker accepts.
	grSession = 6 * time.Second
	// grHeartbeat is the members' heartbeat interval.
	grHeartbeat = 500 * time.Millisecond
	// grRebalance is the members' rebalance timeout: how long the
	// coordinator waits for members to rejoin.
	grRebalance = 15 * time.Second
	// grPoll is the interval of the bounded waits (grWaitFor).
	grPoll = 50 * time.Millisecond
)

// grSettings are the broker configs of every group test.
func grSettings() map[string]string {
	return map[string]string{
		"group.initial.rebalance.delay.ms": "0",
		// KIP-848 members heartbeat at the broker's interval (Kafka's
		// default is 5 s).
		"group.consumer.heartbeat.interval.ms": "250",
	}
}

// grKIP848 is the protocol name grCheckBalanced takes for a KIP-848 group
// (server-side assignment), described with ConsumerGroupDescribe.
const grKIP848 = "kip848"

// grState returns a group's state and member count, through
// ConsumerGroupDescribe for KIP-848 groups and DescribeGroups otherwise.
func grState(t testing.TB, adm *kadm.Client, group, protocol string) (string, int) {
	t.Helper()
	if protocol != grKIP848 {
		d := grDescribe(t, adm, group)
		return d.State, len(d.Members)
	}
	ds, err := adm.DescribeConsumerGroups(fgCtx(t), group)
	if err != nil {
		t.Fatalf("describe consumer group %s: %v", group, err)
	}
	d := ds[group]
	if d.Err != nil {
		t.Fatalf("describe consumer group %s: %v", group, d.Err)
	}
	return d.State, len(d.Members)
}

// grBrokerFlags are grSettings as flags of the streamhouse binary.
func grBrokerFlags() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(grSettings())) {
		out = append(out, "--"+k+"="+grSettings()[k])
	}
	return out
}

// grBroker is an in-process broker with grSettings.
func grBroker(t testing.TB) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, brokertest.Options{Settings: grSettings()})
}

// grWaitFor polls cond every grPoll until it reports true, failing the test
// with what and cond's last description when fgWait passes first. The bound
// turns a hang into a failure; it is not an assertion about speed.
func grWaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(fgWait)
	last := ""
	for i := 0; ; i++ {
		ok, desc := cond()
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) || i > int(fgWait/grPoll)*2 {
			t.Fatalf("%s: not reached within %v; last seen: %s", what, fgWait, last)
		}
		time.Sleep(grPoll)
	}
}

// grTracker follows, for a set of kgo group members, which member owns
// which partition (from the OnPartitionsAssigned, Revoked and Lost
// callbacks) and which records each consumed. A partition assigned to a
// member while another still holds it is recorded as a violation: Kafka's
// protocol makes the previous owner revoke (eager: before it rejoins;
// cooperative: before the rebalance that moves it) before anyone is given
// the partition.
type grTracker struct {
	mu         sync.Mutex
	owner      map[int32]string           // partition -> member name
	owned      map[string]map[int32]bool  // member name -> partitions
	callbacks  map[string]int             // member name -> callbacks with partitions
	consumed   map[int32]map[int64]string // partition -> offset -> value
	deliveries int                        // records consumed, duplicates included
	violations []string
	lastErr    map[string]string // member name -> last client error
	// manual: the members commit only when the test says so (with
	// kgo.DisableAutoCommit), not on revoke either.
	manual bool
}

func newGrTracker() *grTracker {
	return &grTracker{
		owner:     map[int32]string{},
		owned:     map[string]map[int32]bool{},
		callbacks: map[string]int{},
		consumed:  map[int32]map[int64]string{},
		lastErr:   map[string]string{},
	}
}

func (tr *grTracker) assigned(member, topic string, ps map[string][]int32) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(ps[topic]) > 0 {
		tr.callbacks[member]++
	}
	if tr.owned[member] == nil {
		tr.owned[member] = map[int32]bool{}
	}
	for _, p := range ps[topic] {
		if o, ok := tr.owner[p]; ok && o != member {
			tr.violations = append(tr.violations, fmt.Sprintf("partition %d assigned to %s while %s still owns it", p, member, o))
		}
		tr.owner[p] = member
		tr.owned[member][p] = true
	}
}

// revoked removes partitions from member; lost is true for
// OnPartitionsLost, after which another member may already own them.
func (tr *grTracker) revoked(member, topic string, ps map[string][]int32, lost bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(ps[topic]) > 0 {
		tr.callbacks[member]++
	}
	for _, p := range ps[topic] {
		if o := tr.owner[p]; o == member {
			delete(tr.owner, p)
		} else if !lost {
			tr.violations = append(tr.violations, fmt.Sprintf("partition %d revoked from %s, but its owner is %q", p, member, o))
		}
		delete(tr.owned[member], p)
	}
}

func (tr *grTracker) record(r *kgo.Record) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.consumed[r.Partition] == nil {
		tr.consumed[r.Partition] = map[int64]string{}
	}
	tr.consumed[r.Partition][r.Offset] = string(r.Value)
	tr.deliveries++
}

func (tr *grTracker) clientErr(member string, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lastErr[member] = err.Error()
}

// partitionsOf returns the sorted partitions member owns.
func (tr *grTracker) partitionsOf(member string) []int32 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Sorted(maps.Keys(tr.owned[member]))
}

// deliveryCount is how many records were consumed, duplicates included.
func (tr *grTracker) deliveryCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.deliveries
}

func (tr *grTracker) callbacksOf(member string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.callbacks[member]
}

func (tr *grTracker) violationsSoFar() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.violations)
}

// errors describes the members' last client errors, for failure messages.
func (tr *grTracker) errors() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.lastErr) == 0 {
		return "no client errors"
	}
	var s []string
	for _, m := range slices.Sorted(maps.Keys(tr.lastErr)) {
		s = append(s, m+": "+tr.lastErr[m])
	}
	return "last client errors: " + strings.Join(s, "; ")
}

// consumedOffsets returns a copy of the consumed offsets of partition p.
func (tr *grTracker) consumedOffsets(p int32) map[int64]string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return maps.Clone(tr.consumed[p])
}

// missing returns how many of recs have not been consumed, and the first
// few of them.
func (tr *grTracker) missing(recs []*kgo.Record) (int, string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	var first []string
	for _, r := range recs {
		v, ok := tr.consumed[r.Partition][r.Offset]
		if ok && v == string(r.Value) {
			continue
		}
		n++
		if len(first) < 5 {
			if ok {
				first = append(first, fmt.Sprintf("%d@%d has value %q, want %q", r.Partition, r.Offset, v, r.Value))
			} else {
				first = append(first, fmt.Sprintf("%d@%d", r.Partition, r.Offset))
			}
		}
	}
	return n, strings.Join(first, ", ")
}

// grMember is a kgo group member consuming one topic in a goroutine that
// records every record in its tracker. Autocommit is on (every 300ms) and
// the revoke callback commits what was polled, as kgo's default revoke
// does; a member stopped by stop leaves the group.
type grMember struct {
	t      testing.TB
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// grStartMember starts a member of group consuming topic. opts come after
// the defaults and can override them (balancer, instance id, dialer...).
func grStartMember(t testing.TB, addr string, tr *grTracker, name, group, topic string, opts ...kgo.Opt) *grMember {
	t.Helper()
	base := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("streamhouse-compat-groups"),
		kgo.DisableIdempotentWrite(),
		kgo.MetadataMinAge(20 * time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.RetryTimeout(fgWait),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(grSession),
		kgo.HeartbeatInterval(grHeartbeat),
		kgo.RebalanceTimeout(grRebalance),
		kgo.FetchMaxWait(200 * time.Millisecond),
		kgo.AutoCommitInterval(300 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			tr.assigned(name, topic, ps)
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, ps map[string][]int32) {
			// What kgo's default revoke does with autocommit: commit
			// before the partitions move, so the next owner starts where
			// this one stopped.
			if !tr.manual {
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					tr.clientErr(name, fmt.Errorf("commit on revoke: %w", err))
				}
			}
			tr.revoked(name, topic, ps, false)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			tr.revoked(name, topic, ps, true)
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient for member %s: %v", name, err)
	}
	// Bounded like every wait: no test runs a member for minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 3*fgWait)
	m := &grMember{t: t, name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for polls := 0; polls < 1_000_000 && ctx.Err() == nil; polls++ {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				tr.clientErr(name, fmt.Errorf("fetch %s/%d: %w", topic, p, err))
			})
			fs.EachRecord(tr.record)
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop stops polling and closes the client, which leaves the group (a
// static member does not leave: kgo sends no LeaveGroup for an instance
// id). Stopping twice does nothing.
func (m *grMember) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cl.Close()
	})
}

// commit commits offsets (by topic and partition) as the member, with its
// generation, and returns the first error, the request's or a
// partition's.
func (m *grMember) commit(offsets map[string]map[int32]int64) error {
	os := map[string]map[int32]kgo.EpochOffset{}
	for topic, ps := range offsets {
		os[topic] = map[int32]kgo.EpochOffset{}
		for p, o := range ps {
			os[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fgWait)
	defer cancel()
	var first error
	m.cl.CommitOffsetsSync(ctx, os, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		first = err
		if err != nil {
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil && first == nil {
					first = fmt.Errorf("%s/%d: %w", rt.Topic, rp.Partition, e)
				}
			}
		}
	})
	return first
}

// memberID is the member id kgo holds for the group.
func (m *grMember) memberID() string {
	id, _ := m.cl.GroupMetadata()
	return id
}

// generation is the generation kgo holds for the group.
func (m *grMember) generation() int32 {
	_, g := m.cl.GroupMetadata()
	return g
}

// grProducer produces records to every partition of a topic in the
// background until stopped: a batch of one record per partition every
// 20ms, at most grProducerMax records in all.
type grProducer struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	recs  []*kgo.Record
	err   error
}

const grProducerMax = 6000

func grStartProducer(t testing.TB, addr, topic string, partitions int32) *grProducer {
	t.Helper()
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	pr := &grProducer{stopc: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 2*fgWait)
	go func() {
		defer close(pr.done)
		defer cancel()
		for seq := 0; seq < grProducerMax; {
			select {
			case <-pr.stopc:
				return
			case <-time.After(20 * time.Millisecond):
			}
			batch := make([]*kgo.Record, 0, partitions)
			for p := range partitions {
				batch = append(batch, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d", seq), Value: fmt.Appendf(nil, "v%d-p%d", seq, p)})
				seq++
			}
			err := cl.ProduceSync(ctx, batch...).FirstErr()
			pr.mu.Lock()
			if err != nil {
				pr.err = err
				pr.mu.Unlock()
				return
			}
			pr.recs = append(pr.recs, batch...)
			pr.mu.Unlock()
		}
	}()
	t.Cleanup(func() { pr.finish() })
	return pr
}

func (pr *grProducer) finish() {
	select {
	case <-pr.stopc:
	default:
		close(pr.stopc)
	}
	<-pr.done
}

// stop stops the producer and returns every record it produced, failing
// the test if a produce failed.
func (pr *grProducer) stop(t testing.TB) []*kgo.Record {
	t.Helper()
	pr.finish()
	if pr.err != nil {
		t.Fatalf("background producer: %v (after %d records)", pr.err, len(pr.recs))
	}
	return pr.recs
}

// count is how many records have been produced so far.
func (pr *grProducer) count() int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return len(pr.recs)
}

// grDescribe describes one group, failing on a request error.
func grDescribe(t testing.TB, adm *kadm.Client, group string) kadm.DescribedGroup {
	t.Helper()
	ds, err := adm.DescribeGroups(fgCtx(t), group)
	if err != nil {
		t.Fatalf("describe group %s: %v", group, err)
	}
	d, ok := ds[group]
	if !ok {
		t.Fatalf("describe group %s: not in the answer (%v)", group, ds.Names())
	}
	return d
}

// grAssigned returns, by member id, the partitions of topic that a
// described group assigns.
func grAssigned(d kadm.DescribedGroup, topic string) map[string][]int32 {
	out := map[string][]int32{}
	for _, m := range d.Members {
		var ps []int32
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, at := range c.Topics {
				if at.Topic == topic {
					ps = append(ps, at.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		out[m.MemberID] = ps
	}
	return out
}

// grCheckBalanced reports whether the group is Stable with exactly members,
// every partition 0..partitions-1 of topic assigned to exactly one of them,
// counts differing by at most one, and the assignment kadm describes equal
// to what each member's callbacks were given. It describes the state
// otherwise.
func grCheckBalanced(t testing.TB, adm *kadm.Client, tr *grTracker, group, topic string, partitions int32, protocol string, members ...*grMember) (bool, string) {
	t.Helper()
	if protocol == grKIP848 {
		return grCheckBalanced848(t, adm, tr, group, partitions, members...)
	}
	ds, err := adm.DescribeGroups(fgCtx(t), group)
	if err != nil {
		return false, fmt.Sprintf("describe: %v", err)
	}
	d := ds[group]
	if d.Err != nil {
		return false, fmt.Sprintf("describe: group error %v", d.Err)
	}
	desc := fmt.Sprintf("state %s, protocol %q/%q, described %v", d.State, d.ProtocolType, d.Protocol, grAssigned(d, topic))
	var own []string
	for _, m := range members {
		own = append(own, fmt.Sprintf("%s(%s)=%v", m.name, m.memberID(), tr.partitionsOf(m.name)))
	}
	desc += ", callbacks " + strings.Join(own, " ") + "; " + tr.errors()
	if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != protocol || len(d.Members) != len(members) {
		return false, desc
	}
	return grEachOnce(tr, grAssigned(d, topic), partitions, members), desc
}

// grEachOnce reports whether every partition is assigned to exactly one of
// members, as described (by member id) and as each member's callbacks
// say, and the members' shares differ by one at most.
func grEachOnce(tr *grTracker, described map[string][]int32, partitions int32, members []*grMember) bool {
	seen := map[int32]int{}
	lo, hi := int(partitions), 0
	for _, m := range members {
		ps, ok := described[m.memberID()]
		if !ok || !slices.Equal(ps, tr.partitionsOf(m.name)) {
			return false
		}
		for _, p := range ps {
			seen[p]++
		}
		lo, hi = min(lo, len(ps)), max(hi, len(ps))
	}
	for p := range partitions {
		if seen[p] != 1 {
			return false
		}
	}
	return len(seen) == int(partitions) && hi-lo <= 1
}

// grCheckBalanced848 is grCheckBalanced for a KIP-848 group: the broker
// assigns, ConsumerGroupDescribe shows each member's assignment and epoch.
func grCheckBalanced848(t testing.TB, adm *kadm.Client, tr *grTracker, group string, partitions int32, members ...*grMember) (bool, string) {
	t.Helper()
	ds, err := adm.DescribeConsumerGroups(fgCtx(t), group)
	if err != nil {
		return false, fmt.Sprintf("describe: %v", err)
	}
	d := ds[group]
	if d.Err != nil {
		return false, fmt.Sprintf("describe: group error %v", d.Err)
	}
	described := map[string][]int32{}
	for _, m := range d.Members {
		var ps []int32
		for _, tp := range m.Assignment {
			for p := range tp {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		described[m.MemberID] = ps
	}
	desc := fmt.Sprintf("state %s, epoch %d/%d, assignor %s, described %v", d.State, d.Epoch, d.AssignmentEpoch, d.AssignorName, described)
	var own []string
	for _, m := range members {
		own = append(own, fmt.Sprintf("%s(%s)=%v", m.name, m.memberID(), tr.partitionsOf(m.name)))
	}
	desc += ", callbacks " + strings.Join(own, " ") + "; " + tr.errors()
	if d.State != "Stable" || len(d.Members) != len(members) {
		return false, desc
	}
	return grEachOnce(tr, described, partitions, members), desc
}

// grWaitBalanced waits until grCheckBalanced holds.
func grWaitBalanced(t testing.TB, adm *kadm.Client, tr *grTracker, group, topic string, partitions int32, protocol string, members ...*grMember) {
	t.Helper()
	var names []string
	for _, m := range members {
		names = append(names, m.name)
	}
	grWaitFor(t, fmt.Sprintf("group %s balanced over %v (each of %d partitions assigned exactly once, protocol %s)", group, names, partitions, protocol),
		func() (bool, string) {
			return grCheckBalanced(t, adm, tr, group, topic, partitions, protocol, members...)
		})
}

// grCommitted returns the committed offsets of group for topic, failing
// on any error.
func grCommitted(t testing.TB, adm *kadm.Client, group, topic string) map[int32]int64 {
	t.Helper()
	os, err := adm.FetchOffsets(fgCtx(t), group)
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, o := range os[topic] {
		if o.Err != nil {
			t.Fatalf("fetch offsets of %s: %s/%d: %v", group, topic, p, o.Err)
		}
		out[p] = o.At
	}
	return out
}

// grWaitCommitted waits until the group's committed offsets of topic are
// want.
func grWaitCommitted(t testing.TB, adm *kadm.Client, group, topic string, want map[int32]int64) {
	t.Helper()
	grWaitFor(t, fmt.Sprintf("group %s: committed offsets of %s equal to %v", group, topic, want), func() (bool, string) {
		got := grCommitted(t, adm, group, topic)
		return maps.Equal(got, want), fmt.Sprintf("committed %v", got)
	})
}

// grCheckResumed checks that tr consumed, in every partition p of want,
// exactly the offsets from[p] to end[p]-1 with the values produced (want
// grouped by fgByPartition), nothing before from[p].
func grCheckResumed(t testing.TB, tr *grTracker, want map[int32][]*kgo.Record, from, end map[int32]int64) {
	t.Helper()
	for p, ws := range want {
		got := tr.consumedOffsets(p)
		for o := range got {
			if o < from[p] {
				t.Errorf("partition %d: offset %d consumed again, below the committed offset %d", p, o, from[p])
				break
			}
		}
		if int64(len(ws)) != end[p]-from[p] {
			t.Errorf("partition %d: %d records produced since offset %d, but the end offset is %d", p, len(ws), from[p], end[p])
		}
		for _, w := range ws {
			if v, ok := got[w.Offset]; !ok || v != string(w.Value) {
				t.Errorf("partition %d: offset %d (after the committed %d) not consumed or wrong: %q, want %q", p, w.Offset, from[p], v, w.Value)
				break
			}
		}
	}
}

// grWaitConsumed waits until tr consumed every record of recs.
func grWaitConsumed(t testing.TB, tr *grTracker, recs []*kgo.Record) {
	t.Helper()
	grWaitFor(t, fmt.Sprintf("every one of %d produced records consumed by the group", len(recs)), func() (bool, string) {
		n, first := tr.missing(recs)
		return n == 0, fmt.Sprintf("%d not consumed, first: %s; %s", n, first, tr.errors())
	})
}

// grWaitEnds waits until the end offset (high watermark) of every
// partition of topic that recs went to is past the last of them (after an
// acks=1 produce it moves a moment after the answer, once the records are
// durable), and returns the end offsets.
func grWaitEnds(t testing.TB, adm *kadm.Client, topic string, recs []*kgo.Record) map[int32]int64 {
	t.Helper()
	want := map[int32]int64{}
	for _, r := range recs {
		want[r.Partition] = max(want[r.Partition], r.Offset+1)
	}
	var ends map[int32]int64
	grWaitFor(t, fmt.Sprintf("end offsets of %s at least %v", topic, want), func() (bool, string) {
		ends = fgEndOffsets(t, adm, topic)
		for p, o := range want {
			if ends[p] < o {
				return false, fmt.Sprintf("end offsets %v", ends)
			}
		}
		return true, ""
	})
	return ends
}

// grProduceEach produces n records to each partition of topic (sync) and
// returns them.
func grProduceEach(t testing.TB, addr, topic string, partitions int32, n int, tag string) []*kgo.Record {
	t.Helper()
	var recs []*kgo.Record
	for i := range n {
		for p := range partitions {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "%s-%d", tag, i), Value: fmt.Appendf(nil, "%s-%d-p%d", tag, i, p)})
		}
	}
	fgProduceSync(t, fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), recs...)
	return recs
}

// grAPIVersions returns the broker's ApiVersions by key.
func grAPIVersions(t testing.TB, addr string) map[int16]kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	// Kafka answers INVALID_REQUEST to v3+ without a valid client name.
	req.ClientSoftwareName, req.ClientSoftwareVersion = "streamhouse-compat", "1.0"
	resp := fgDialRaw(t, addr).do(req, 3).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", resp.ErrorCode)
	}
	out := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		out[k.ApiKey] = k
	}
	return out
}

// grVersion is the version of key a raw test speaks: the highest the broker
// advertises, at most limit (and what kmsg knows). It fails the test when
// the broker does not serve key at least at version need.
func grVersion(t testing.TB, av map[int16]kmsg.ApiVersionsResponseApiKey, key kmsg.Key, need, limit int16) int16 {
	t.Helper()
	k, ok := av[int16(key)]
	if !ok {
		t.Fatalf("the broker does not advertise %s (key %d) in ApiVersions; Kafka serves it", kmsg.NameForKey(int16(key)), key)
	}
	v := min(k.MaxVersion, limit, kmsg.RequestForKey(int16(key)).MaxVersion())
	if v < need || k.MinVersion > need {
		t.Fatalf("the broker advertises %s v%d-v%d; this test needs v%d (Kafka serves it)", kmsg.NameForKey(int16(key)), k.MinVersion, k.MaxVersion, need)
	}
	return v
}

// grCutDialer dials the broker for a kgo client until cut, when it closes
// every connection it made and refuses new ones: the client can neither
// heartbeat nor leave, as if its process had frozen.
type grCutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *grCutDialer) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cut {
		return nil, fmt.Errorf("grCutDialer: connections to %s are cut", host)
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, host)
	if err == nil {
		d.conns = append(d.conns, c)
	}
	return c, err
}

func (d *grCutDialer) cutAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// grLogger is a kgo.Logger that keeps the messages containing any of
// watch, for checks on what kgo decided (e.g. a protocol fallback).
type grLogger struct {
	watch []string
	mu    sync.Mutex
	seen  []string
}

func (l *grLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (l *grLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	for _, w := range l.watch {
		if strings.Contains(msg, w) {
			l.mu.Lock()
			l.seen = append(l.seen, fmt.Sprint(msg, keyvals))
			l.mu.Unlock()
			return
		}
	}
}

func (l *grLogger) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.seen)
}

// grGroupReqs builds and sends the classic group requests of
// TestGroupsRawProtocol at fixed versions: the highest the broker and kmsg
// share, within what the test needs. Members subscribe to topic with the
// range protocol.
type grGroupReqs struct {
	topic string
	meta  []byte // the members' ConsumerMemberMetadata

	vJoin, vSync, vHb, vLeave, vCommit, vFetch int16
}

func newGrGroupReqs(t testing.TB, av map[int16]kmsg.ApiVersionsResponseApiKey, topic string) *grGroupReqs {
	t.Helper()
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	return &grGroupReqs{
		topic:   topic,
		meta:    meta.AppendTo(nil),
		vJoin:   grVersion(t, av, kmsg.JoinGroup, 4, 9),
		vSync:   grVersion(t, av, kmsg.SyncGroup, 0, 5),
		vHb:     grVersion(t, av, kmsg.Heartbeat, 3, 4),
		vLeave:  grVersion(t, av, kmsg.LeaveGroup, 3, 5),
		vCommit: grVersion(t, av, kmsg.OffsetCommit, 2, 9), // v10 names topics by id
		vFetch:  grVersion(t, av, kmsg.OffsetFetch, 8, 9),
	}
}

// joinTry sends a JoinGroup of group for member (empty: a new member),
// static when instance is not empty, at version v, from any goroutine.
func (g *grGroupReqs) joinTry(r *fgRaw, group, member, instance string, v int16) (*kmsg.JoinGroupResponse, error) {
	return g.joinSession(r, group, member, instance, 10_000, v)
}

func (g *grGroupReqs) joinSession(r *fgRaw, group, member, instance string, session int32, v int16) (*kmsg.JoinGroupResponse, error) {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.ProtocolType = group, member, "consumer"
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = session, 20_000
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", g.meta
	req.Protocols = append(req.Protocols, p)
	resp, err := r.try(req, v)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.JoinGroupResponse), nil
}

// join sends a dynamic member's JoinGroup at vJoin, from the test's
// goroutine.
func (g *grGroupReqs) join(r *fgRaw, group, member string, session int32) *kmsg.JoinGroupResponse {
	r.t.Helper()
	resp, err := g.joinSession(r, group, member, "", session, g.vJoin)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp
}

// joinNew does the first step of a new member's join (v4+, KIP-394): the
// JoinGroup answers MEMBER_ID_REQUIRED with the id to join with.
func (g *grGroupReqs) joinNew(r *fgRaw, group string) string {
	r.t.Helper()
	resp := g.join(r, group, "", 10_000)
	if err := kerr.ErrorForCode(resp.ErrorCode); !fgIsErr(err, kerr.MemberIDRequired) || resp.MemberID == "" {
		r.t.Fatalf("JoinGroup v%d with no member id: error %v, member id %q; want MEMBER_ID_REQUIRED and a member id", g.vJoin, err, resp.MemberID)
	}
	if resp.Generation != -1 {
		r.t.Errorf("JoinGroup answering MEMBER_ID_REQUIRED: generation %d, want -1", resp.Generation)
	}
	return resp.MemberID
}

// assignment is a ConsumerMemberAssignment of partitions of the topic.
func (g *grGroupReqs) assignment(ps ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = g.topic, ps
	a.Topics = append(a.Topics, at)
	return a.AppendTo(nil)
}

// syncReq is a SyncGroup carrying assign (a follower sends none).
func (g *grGroupReqs) syncReq(group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	for _, id := range slices.Sorted(maps.Keys(assign)) {
		a := kmsg.NewSyncGroupRequestGroupAssignment()
		a.MemberID, a.MemberAssignment = id, assign[id]
		req.GroupAssignment = append(req.GroupAssignment, a)
	}
	return req
}

// heartbeat sends a Heartbeat (with instance, for a static member) and
// returns its error.
func (g *grGroupReqs) heartbeat(r *fgRaw, group, member, instance string, gen int32) error {
	r.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	if instance != "" {
		req.InstanceID = kmsg.StringPtr(instance)
	}
	return kerr.ErrorForCode(r.do(req, g.vHb).(*kmsg.HeartbeatResponse).ErrorCode)
}

// commit sends an OffsetCommit (metadata "meta-<group>", no leader epoch)
// and returns each partition's error by "topic/partition".
func (g *grGroupReqs) commit(r *fgRaw, group, member string, gen int32, offsets map[string]map[int32]int64) map[string]error {
	r.t.Helper()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	req.RetentionTimeMillis = -1
	want := 0
	for _, tn := range slices.Sorted(maps.Keys(offsets)) {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = tn
		for _, p := range slices.Sorted(maps.Keys(offsets[tn])) {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[tn][p], -1
			rp.Metadata = kmsg.StringPtr("meta-" + group)
			rt.Partitions = append(rt.Partitions, rp)
			want++
		}
		req.Topics = append(req.Topics, rt)
	}
	resp := r.do(req, g.vCommit).(*kmsg.OffsetCommitResponse)
	out := map[string]error{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out[fmt.Sprintf("%s/%d", rt.Topic, rp.Partition)] = kerr.ErrorForCode(rp.ErrorCode)
		}
	}
	if len(out) != want {
		r.t.Fatalf("OffsetCommit v%d: %d partitions answered, want %d", g.vCommit, len(out), want)
	}
	return out
}

// grCheckFetched checks a batched OffsetFetch answer (v8+) to req against
// want, the offsets by group and partition of topic: each group answered
// in order without error, the committed metadata with each offset, and no
// leader epoch (none was committed).
func grCheckFetched(t testing.TB, v int16, topic string, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse, want map[string]map[int32]int64) {
	t.Helper()
	for i, g := range resp.Groups {
		name := req.Groups[i].Group
		if g.Group != name || g.ErrorCode != 0 {
			t.Errorf("OffsetFetch v%d group %d: %q error %v, want %q and no error", v, i, g.Group, kerr.ErrorForCode(g.ErrorCode), name)
			continue
		}
		got := map[int32]int64{}
		for _, gt := range g.Topics {
			if gt.Topic != topic {
				t.Errorf("OffsetFetch v%d %s: topic %q", v, name, gt.Topic)
				continue
			}
			for _, gp := range gt.Partitions {
				if gp.ErrorCode != 0 {
					t.Errorf("OffsetFetch v%d %s/%d: %v", v, name, gp.Partition, kerr.ErrorForCode(gp.ErrorCode))
				}
				if gp.Offset >= 0 && (gp.Metadata == nil || *gp.Metadata != "meta-"+name) {
					t.Errorf("OffsetFetch v%d %s/%d: metadata %v, want the committed meta-%s", v, name, gp.Partition, gp.Metadata, name)
				}
				if gp.LeaderEpoch != -1 {
					t.Errorf("OffsetFetch v%d %s/%d: leader epoch %d, want -1 (none was committed)", v, name, gp.Partition, gp.LeaderEpoch)
				}
				got[gp.Partition] = gp.Offset
			}
		}
		if !maps.Equal(got, want[name]) {
			t.Errorf("OffsetFetch v%d %s: %v, want %v", v, name, got, want[name])
		}
	}
}
