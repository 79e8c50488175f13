package compattests

// Groups survive a broker restart (issue 21, part 6): the coordinator keeps
// each group's membership in the catalog (generation, leader, members and
// their assignments; KIP-848 epochs and assignments) and loads it when the
// broker starts, so members carry on with the generation they had: no
// partition is revoked or moved, and consumption resumes once the broker
// answers. Members that do not come back are removed when their session
// timer, started at the load, fires.
//
// The broker is the binary, restarted on the same data directory and
// address, with SIGTERM and with kill -9, while a producer writes to every
// partition and two members of one group consume. The clients are used as
// applications use them; the franz-go ones dial again at once when the
// broker refuses a connection (restartDialer), as a client that retries
// quickly does.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// rsMember is one member of the group under test, whatever its client.
type rsMember interface {
	// assigned returns the partitions it holds now, sorted.
	assigned() []int32
	// rebalances counts the assignments it has been given (callbacks,
	// sessions): a rebalance moves it.
	rebalances() int
	// stop leaves the group and closes the client (while the broker
	// still runs).
	stop(t *testing.T)
}

// rsStarter starts a member named name of group on topic at addr,
// recording what it consumes in tr.
type rsStarter func(t *testing.T, addr string, tr *grTracker, name, group, topic string) rsMember

// TestGroupsSurviveRestart: franz-go (cooperative-sticky, and KIP-848) and
// sarama groups keep their members and assignments across a SIGTERM
// restart and a kill -9; the librdkafka case is in
// groups_restart_librdkafka_test.go.
func TestGroupsSurviveRestart(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		start rsStarter
	}{
		{"franzgo-cooperative-sticky", rsFranzGo(kgo.Balancers(kgo.CooperativeStickyBalancer()))},
		{"franzgo-kip848", rsFranzGo(kgo.Balancers(kgo.CooperativeStickyBalancer()), kgo.ServerSideBalancer())},
		{"sarama", rsSarama},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rsScenario(t, c.start)
		})
	}
}

// rsScenario runs the restarts for members that start.
func rsScenario(t *testing.T, start rsStarter) {
	const (
		topic      = "restart-orders"
		group      = "restart-billing"
		partitions = 6
	)
	b := newCrashBroker(t, binary(t))
	if err := b.start(nil, grBrokerFlags()...); err != nil {
		t.Fatal(err)
	}
	adm := fgAdmin(t, b.addr)
	fgCreateTopic(t, adm, topic, partitions, nil)
	prod := rsStartProducer(t, b.addr, topic, partitions)
	tr := newGrTracker()
	members := []rsMember{start(t, b.addr, tr, "m1", group, topic), start(t, b.addr, tr, "m2", group, topic)}
	rsWaitSplit(t, tr, members, partitions)
	grWaitFor(t, "consumption under way", func() (bool, string) {
		n := tr.deliveryCount()
		return n >= 6*partitions, fmt.Sprintf("%d records consumed", n)
	})
	assigned := make([][]int32, len(members))
	rebalances := make([]int, len(members))
	for i, m := range members {
		assigned[i], rebalances[i] = m.assigned(), m.rebalances()
	}
	check := func(when string) {
		t.Helper()
		for i, m := range members {
			if a, r := m.assigned(), m.rebalances(); !slices.Equal(a, assigned[i]) || r != rebalances[i] {
				t.Errorf("%s: member m%d holds %v after %d assignments; before, %v after %d: the group rebalanced; %s",
					when, i+1, a, r, assigned[i], rebalances[i], tr.errors())
			}
		}
		if v := tr.violationsSoFar(); len(v) > 0 {
			t.Errorf("%s: partitions held by two members at once: %v", when, v)
		}
	}

	for _, kill := range []bool{false, true} {
		how := "SIGTERM"
		if kill {
			how = "kill -9"
		}
		answered := rsRestart(t, b, kill)
		ends := fgEndOffsets(t, adm, topic)
		resumed := rsWaitResumed(t, tr, ends, answered)
		t.Logf("%s: every partition consumed past its end offset at the restart %v after the broker answered again", how, resumed.Round(time.Millisecond))
		check("after the restart with " + how)
	}
	// A member whose session the broker lost track of would be removed a
	// session timeout after the load: wait past it.
	time.Sleep(grSession + time.Second)
	check("a session timeout after the last restart")
	recs := prod.stop(t)
	grWaitConsumed(t, tr, recs)
	if n := rsLogCount(b, "group member session expired"); n > 0 {
		t.Errorf("the broker expired %d member sessions:\n%s", n, rsLogLines(b, "group"))
	}
	for _, m := range members {
		m.stop(t)
	}
}

// rsRestart stops the broker (SIGTERM, or kill -9) and starts it again on
// the same data directory and address; it returns when the broker answers.
func rsRestart(t *testing.T, b *crashBroker, kill bool) time.Time {
	t.Helper()
	p := b.p
	b.p = nil
	b.past = append(b.past, p)
	if kill {
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
	} else {
		p.stop()
	}
	if err := b.start(nil, grBrokerFlags()...); err != nil {
		t.Fatal(err)
	}
	return time.Now()
}

// rsWaitSplit waits until the members hold every partition between them,
// each at least one, none twice.
func rsWaitSplit(t *testing.T, tr *grTracker, members []rsMember, partitions int32) {
	t.Helper()
	grWaitFor(t, "the partitions split between the members", func() (bool, string) {
		var all []int32
		var desc []string
		for i, m := range members {
			a := m.assigned()
			if len(a) == 0 {
				return false, fmt.Sprintf("m%d holds none; %s", i+1, tr.errors())
			}
			all = append(all, a...)
			desc = append(desc, fmt.Sprintf("m%d %v", i+1, a))
		}
		slices.Sort(all)
		want := make([]int32, partitions)
		for i := range want {
			want[i] = int32(i)
		}
		return slices.Equal(all, want), fmt.Sprint(desc)
	})
}

// rsWaitResumed waits until every partition has been consumed past its end
// offset in ends, and returns how long after since that was.
func rsWaitResumed(t *testing.T, tr *grTracker, ends map[int32]int64, since time.Time) time.Duration {
	t.Helper()
	deadline := time.Now().Add(fgWait)
	for {
		behind := 0
		for p, end := range ends {
			if tr.maxConsumed(p) < end {
				behind++
			}
		}
		if behind == 0 {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d partitions not consumed past their end offsets %v within %v of the restart; %s", behind, ends, fgWait, tr.errors())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// maxConsumed is the highest offset of partition p consumed, -1 for none.
func (tr *grTracker) maxConsumed(p int32) int64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	top := int64(-1)
	for o := range tr.consumed[p] {
		top = max(top, o)
	}
	return top
}

func rsLogCount(b *crashBroker, words string) int {
	n := 0
	all := b.past
	if b.p != nil {
		all = append(slices.Clone(all), b.p)
	}
	for _, p := range all {
		for _, l := range lines(p.logs.String()) {
			if strings.Contains(l, words) {
				n++
			}
		}
	}
	return n
}

// rsLogLines is the broker's log lines that hold words, of every
// incarnation.
func rsLogLines(b *crashBroker, words string) string {
	var out []string
	all := b.past
	if b.p != nil {
		all = append(slices.Clone(all), b.p)
	}
	for i, p := range all {
		for _, l := range lines(p.logs.String()) {
			if strings.Contains(l, words) {
				out = append(out, fmt.Sprintf("  [%d] %s", i, l))
			}
		}
	}
	return strings.Join(out, "\n")
}

// rsProducer writes one record to every partition every 20 ms, across
// broker restarts (idempotent, retrying, dialling again at once, retrying
// an EOF on a connection's first request as the members do).
type rsProducer struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	recs  []*kgo.Record
	err   error
}

func rsStartProducer(t *testing.T, addr, topic string, partitions int32) *rsProducer {
	t.Helper()
	cl := fgClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), restartDialer(), kgo.AlwaysRetryEOF())
	pr := &rsProducer{stopc: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), 3*fgWait)
	go func() {
		defer close(pr.done)
		defer cancel()
		for seq := 0; seq < 20_000; {
			select {
			case <-pr.stopc:
				return
			case <-time.After(20 * time.Millisecond):
			}
			batch := make([]*kgo.Record, 0, partitions)
			for p := range partitions {
				batch = append(batch, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "v%d-p%d", seq, p)})
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
	t.Cleanup(func() {
		select {
		case <-pr.stopc:
		default:
			close(pr.stopc)
		}
		<-pr.done
	})
	return pr
}

func (pr *rsProducer) stop(t *testing.T) []*kgo.Record {
	t.Helper()
	select {
	case <-pr.stopc:
	default:
		close(pr.stopc)
	}
	<-pr.done
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.err != nil {
		t.Fatalf("producer: %v (after %d records)", pr.err, len(pr.recs))
	}
	return pr.recs
}

// --- franz-go ---------------------------------------------------------------

type rsFranzGoMember struct {
	m    *grMember
	tr   *grTracker
	name string
}

func (m *rsFranzGoMember) assigned() []int32 { return m.tr.partitionsOf(m.name) }
func (m *rsFranzGoMember) rebalances() int   { return m.tr.callbacksOf(m.name) }
func (m *rsFranzGoMember) stop(*testing.T)   { m.m.stop() }

// rsFranzGo starts kgo members with opts, restartDialer and
// kgo.AlwaysRetryEOF: a kill -9 that lands while a new connection's first
// request is in flight closes it without an answer, which kgo otherwise
// takes for a SASL misconfiguration and does not retry; a member whose
// heartbeat fails so gives its partitions up and joins again (seen on a
// loaded machine: m2 lost and got back [0 1 2] after "broker closed the
// connection immediately after a request was issued"). An application
// whose brokers are restarted retries it, as the chaos test's clients do.
func rsFranzGo(opts ...kgo.Opt) rsStarter {
	return func(t *testing.T, addr string, tr *grTracker, name, group, topic string) rsMember {
		m := grStartMember(t, addr, tr, name, group, topic, append([]kgo.Opt{restartDialer(), kgo.AlwaysRetryEOF()}, opts...)...)
		return &rsFranzGoMember{m: m, tr: tr, name: name}
	}
}

// --- sarama -----------------------------------------------------------------

// rsSaramaMember is a sarama group member. Sarama ends its session when
// a heartbeat fails Metadata.Retry.Max times in a row, retrying at once
// (consumer_group_session.go, heartbeatLoop), which a broker restart
// does; it then joins again with its member id, and Kafka's rule applies:
// a follower gets its generation back, the leader's join rebalances the
// group, with the same assignment. So a session is one assignment only
// when its claims differ from the session before: a partition moved.
type rsSaramaMember struct {
	mu       sync.Mutex
	last     []int32 // the claims of the latest session
	moves    int     // sessions whose claims differ from the one before
	sessions int
	tr       *grTracker
	close    func(t *testing.T)
}

func (m *rsSaramaMember) stop(t *testing.T) { m.close(t) }

// assigned is the claims of the latest session (between a session's end
// and the next, the ones it will most likely get again).
func (m *rsSaramaMember) assigned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.last)
}

func (m *rsSaramaMember) rebalances() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moves
}

func (m *rsSaramaMember) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for _, tps := range s.Claims() {
		ps = append(ps, tps...)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	if m.sessions == 0 || !slices.Equal(ps, m.last) {
		m.moves++
	}
	m.last = ps
	m.sessions++
	return nil
}

func (m *rsSaramaMember) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *rsSaramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-c.Messages():
			if !ok {
				return nil
			}
			m.tr.record(&kgo.Record{Topic: msg.Topic, Partition: msg.Partition, Offset: msg.Offset, Value: msg.Value})
			s.MarkMessage(msg, "")
		case <-s.Context().Done():
			return nil
		}
	}
}

// rsSarama starts a sarama member with the settings of the other group
// tests (range assignor, autocommit).
func rsSarama(t *testing.T, addr string, tr *grTracker, name, group, topic string) rsMember {
	t.Helper()
	c := saramaConfig(sarama.MaxVersion)
	c.Consumer.Group.Session.Timeout = grSession
	c.Consumer.Group.Heartbeat.Interval = grHeartbeat
	c.Consumer.Group.Rebalance.Timeout = grRebalance
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup([]string{addr}, group, c)
	if err != nil {
		t.Fatalf("sarama.NewConsumerGroup: %v", err)
	}
	m := &rsSaramaMember{tr: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 3*fgWait)
	go func() {
		for err := range cg.Errors() {
			tr.clientErr(name, err)
		}
	}()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; i < 10_000 && ctx.Err() == nil; i++ {
			if err := cg.Consume(ctx, []string{topic}, m); err != nil {
				tr.clientErr(name, fmt.Errorf("consume: %w", err))
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	var once sync.Once
	m.close = func(t *testing.T) {
		once.Do(func() {
			cancel()
			<-stopped
			if err := cg.Close(); err != nil && t != nil {
				t.Errorf("close consumer group: %v", err)
			}
		})
	}
	// A test that failed early stops it here, the broker maybe gone.
	t.Cleanup(func() { m.close(nil) })
	return m
}

// --- a member that vanishes -------------------------------------------------

// rsCutDialer dials as restartDialer does until cut, then closes its
// connections and refuses new ones: the member is gone without leaving.
type rsCutDialer struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (d *rsCutDialer) opt() kgo.Opt {
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		d.mu.Lock()
		cut := d.cut
		d.mu.Unlock()
		if cut {
			return nil, errors.New("cut off")
		}
		var nd net.Dialer
		c, err := nd.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.cut {
			c.Close()
			return nil, errors.New("cut off")
		}
		d.conns = append(d.conns, c)
		return c, nil
	})
}

func (d *rsCutDialer) cutOff() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cut = true
	for _, c := range d.conns {
		c.Close()
	}
}

// TestGroupsRestartExpiresGoneMembers: a member that vanishes while the
// broker is down is still a member after the restart (the broker cannot
// know), until its session timeout, counted from the load, removes it as
// Kafka removes it; the other member then takes its partitions.
func TestGroupsRestartExpiresGoneMembers(t *testing.T) {
	t.Parallel()
	const (
		topic      = "restart-expiry"
		group      = "restart-expiry-group"
		partitions = 4
	)
	b := newCrashBroker(t, binary(t))
	if err := b.start(nil, grBrokerFlags()...); err != nil {
		t.Fatal(err)
	}
	adm := fgAdmin(t, b.addr)
	fgCreateTopic(t, adm, topic, partitions, nil)
	tr := newGrTracker()
	var cut rsCutDialer
	m1 := rsFranzGo(kgo.Balancers(kgo.CooperativeStickyBalancer()))(t, b.addr, tr, "m1", group, topic)
	// m2 gives up quickly once cut off (its Close would otherwise
	// retry its LeaveGroup for a minute).
	m2 := grStartMember(t, b.addr, tr, "m2", group, topic, kgo.Balancers(kgo.CooperativeStickyBalancer()), cut.opt(), kgo.RetryTimeout(time.Second))
	rsWaitSplit(t, tr, []rsMember{m1, &rsFranzGoMember{m: m2, tr: tr, name: "m2"}}, partitions)

	// The broker stops; m2 vanishes meanwhile; the broker starts again.
	p := b.p
	b.p = nil
	b.past = append(b.past, p)
	p.stop()
	cut.cutOff()
	if err := b.start(nil, grBrokerFlags()...); err != nil {
		t.Fatal(err)
	}
	loaded := time.Now()
	if st, n := grState(t, adm, group, "cooperative-sticky"); n != 2 {
		t.Fatalf("after the restart the group is %s with %d members, want its 2 members back", st, n)
	}
	grWaitFor(t, "m1 holds every partition once m2's session expired", func() (bool, string) {
		a := m1.assigned()
		return len(a) == partitions, fmt.Sprintf("m1 holds %v; %s", a, tr.errors())
	})
	if d := time.Since(loaded); d < grSession-time.Second {
		t.Errorf("m2 was removed %v after the load, before its session timeout of %v", d, grSession)
	}
	if n := rsLogCount(b, "group member session expired"); n != 1 {
		t.Errorf("the broker logged %d session expiries, want 1 (m2's)", n)
	}
	m1.stop(t)
}
