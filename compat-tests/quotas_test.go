package compattests

// Client quotas (the configs issue): kadm stores and describes them, and
// a producer past its producer_byte_rate is throttled as Kafka throttles.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// throttleHook counts the throttle brokers reported.
type throttleHook struct{ total atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.total.Add(int64(d))
}

func TestClientQuotas(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	addr := b.Addr()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	fgCreateTopic(t, adm, "quota", 1, nil)
	s := kadm.StringPtr
	ent := func(kv ...*string) kadm.ClientQuotaEntity {
		var e kadm.ClientQuotaEntity
		for i := 0; i < len(kv); i += 2 {
			e = append(e, kadm.ClientQuotaEntityComponent{Type: *kv[i], Name: kv[i+1]})
		}
		return e
	}
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: ent(s("client-id"), s("slow")), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 50_000}}},
		{Entity: ent(s("client-id"), nil), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 1e9}}},
		{Entity: ent(s("user"), nil, s("client-id"), s("slow")), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 50}}},
		{Entity: ent(s("client-id"), s("bad")), Ops: []kadm.AlterClientQuotaOp{{Key: "no_such_quota", Value: 1}}},
		{Entity: ent(s("ip"), s("127.0.0.1"), s("user"), s("u")), Ops: []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: ent(s("client-id"), s("neg")), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: -1}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if wantErr := i >= 3; (r.Err != nil) != wantErr || wantErr && !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Fatalf("alter entry %d (%v): %v", i, r.Entity, r.Err)
		}
	}
	// Describe: exact, default, any, strict.
	for _, c := range []struct {
		strict bool
		comps  []kadm.DescribeClientQuotaComponent
		want   int
	}{
		{false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: s("slow"), MatchType: 0}}, 2},
		{true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: s("slow"), MatchType: 0}}, 1},
		{false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 1}}, 1},
		{false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchType: 1}}, 1},
		{false, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchType: 2}}, 2},
		{false, nil, 3},
	} {
		got, err := adm.DescribeClientQuotas(ctx, c.strict, c.comps)
		if err != nil || len(got) != c.want {
			t.Fatalf("describe %+v strict %v: %+v %v, want %d entries", c.comps, c.strict, got, err, c.want)
		}
	}

	// Enforcement: 600 KB from client "slow" against 50 KB/s is throttled;
	// the same from another client is not.
	for _, cc := range []struct {
		id        string
		throttled bool
	}{{"slow", true}, {"fast", false}} {
		h := &throttleHook{}
		cl := fgClient(t, addr, kgo.ClientID(cc.id), kgo.WithHooks(h), kgo.ProducerBatchCompression(kgo.NoCompression()))
		var recs []*kgo.Record
		for range 6 {
			value := make([]byte, 100_000)
			rand.Read(value)
			recs = append(recs, &kgo.Record{Topic: "quota", Value: value})
		}
		pctx, cancel := context.WithTimeout(ctx, fgWait)
		err := cl.ProduceSync(pctx, recs...).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if got := time.Duration(h.total.Load()); (got > 0) != cc.throttled {
			t.Fatalf("client %s: throttled %v, want throttled %v", cc.id, got, cc.throttled)
		}
		t.Logf("client %s: throttled %v", cc.id, time.Duration(h.total.Load()))
		cl.Close()
	}

	// Quotas survive a restart; removing the last key removes the entity.
	b.Restart()
	adm = fgAdmin(t, b.Addr())
	if got, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil || len(got) != 3 {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	if res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: ent(s("client-id"), nil), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}}}); err != nil || res[0].Err != nil {
		t.Fatalf("remove: %+v %v", res, err)
	}
	if got, err := adm.DescribeClientQuotas(ctx, false, nil); err != nil || len(got) != 2 {
		t.Fatalf("after remove: %+v %v", got, err)
	}
}

// TestControllerMutationQuota: KIP-599's controller_mutation_rate. A client
// allowed one partition mutation a second has a bucket of 11; CreateTopics
// v6+ (what kadm sends) creates topics of 2 partitions while the bucket is
// not empty, refuses the rest with THROTTLING_QUOTA_EXCEEDED and throttles
// the client until the bucket is level; other clients are not held back.
func TestControllerMutationQuota(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	adm := fgAdmin(t, b.Addr())
	ctx := fgCtx(t)
	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("mutator")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "controller_mutation_rate", Value: 1}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter quotas: %v %v", err, res)
	}
	hook := &throttleHook{}
	mut := kadm.NewClient(fgClient(t, b.Addr(), kgo.ClientID("mutator"), kgo.WithHooks(hook)))
	var topics []string
	for i := range 8 {
		topics = append(topics, fmt.Sprintf("mutated-%d", i))
	}
	created, err := mut.CreateTopics(ctx, 2, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	var ok, throttled int
	for _, r := range created.Sorted() {
		switch {
		case r.Err == nil:
			ok++
		case errors.Is(r.Err, kerr.ThrottlingQuotaExceeded):
			throttled++
		default:
			t.Fatalf("topic %s: %v", r.Topic, r.Err)
		}
	}
	// 11 tokens: five topics take 10, the sixth finds 1 and takes 2.
	if ok != 6 || throttled != 2 {
		t.Fatalf("%d created, %d refused; want 6 and 2", ok, throttled)
	}
	if got := time.Duration(hook.total.Load()); got < 500*time.Millisecond || got > 2*time.Second {
		t.Fatalf("throttled for %v, want about 1s (the bucket is one token short)", got)
	}
	// Another client is not limited.
	if r, err := adm.CreateTopics(ctx, 20, 1, nil, "unlimited"); err != nil || r["unlimited"].Err != nil {
		t.Fatalf("another client: %v %v", err, r)
	}
}

// TestConnectionCreationRate: an ip quota (KIP-612). 127.0.0.1 may open 2
// connections a second; opening 40 at once, the first ones (the rate is
// taken over at least 10 seconds) are served and the rest held and then
// closed unserved, as Kafka closes a throttled connection. 127.0.0.2, with
// no quota of its own, is served throughout.
func TestConnectionCreationRate(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	adm := fgAdmin(t, b.Addr())
	res, err := adm.AlterClientQuotas(fgCtx(t), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "ip", Name: kadm.StringPtr("127.0.0.1")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "connection_creation_rate", Value: 2}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter quotas: %v %v", err, res)
	}
	// Dial all first, then ask each for ApiVersions: a throttled
	// connection is held open until its throttle time passes.
	dial := func(from string) *fgRaw {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", b.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(20 * time.Second))
		return &fgRaw{t: t, c: c, br: bufio.NewReader(c), f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("rate"))}
	}
	servedAll := func(conns []*fgRaw) (ok int) {
		var wg sync.WaitGroup
		var n atomic.Int64
		for _, r := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := r.try(kmsg.NewPtrApiVersionsRequest(), 3); err == nil {
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return int(n.Load())
	}
	var conns []*fgRaw
	for range 40 {
		conns = append(conns, dial("127.0.0.1"))
	}
	ok := servedAll(conns)
	refused := len(conns) - ok
	// The admin client's connection counted too.
	if ok < 15 || ok > 25 || refused == 0 {
		t.Fatalf("of 40 connections from 127.0.0.1, %d served and %d closed; want about 20 served (2/s over 10 s)", ok, refused)
	}
	conns = conns[:0]
	for range 5 {
		conns = append(conns, dial("127.0.0.2"))
	}
	if n := servedAll(conns); n != 5 {
		t.Fatalf("%d of 5 connections from 127.0.0.2, which has no quota, served", n)
	}
}

// TestRequestPercentage: Kafka's request quota. A client allowed 1% of a
// request thread (10 ms of broker time a second, over at least 10 s) that
// keeps the broker busy with produces of 512 KiB is throttled; the same
// load from a client without the quota is not.
func TestRequestPercentage(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t, brokertest.Options{NoSync: true})
	adm := fgAdmin(t, b.Addr())
	fgCreateTopic(t, adm, "busy", 1, nil)
	res, err := adm.AlterClientQuotas(fgCtx(t), []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "client-id", Name: kadm.StringPtr("busy")}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 1}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter quotas: %v %v", err, res)
	}
	value := make([]byte, 512<<10)
	// Up to max produces, until one is throttled: the throttle and how
	// many it took. The broker's time for each is what checking its
	// records costs (gzip: inflating 512 KiB that compressed to little,
	// streamed), a fraction of a millisecond: the quota (10 ms a second
	// over 10 s) is passed within some hundreds.
	load := func(client string, max int) (time.Duration, int) {
		hook := &throttleHook{}
		cl := fgClient(t, b.Addr(), kgo.ClientID(client), kgo.WithHooks(hook), kgo.RequiredAcks(kgo.LeaderAck()),
			kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(2<<20), kgo.MaxBufferedBytes(64<<20),
			kgo.ProducerBatchCompression(kgo.GzipCompression()))
		n := 0
		for n < max && hook.total.Load() == 0 {
			fgProduceSync(t, cl, &kgo.Record{Topic: "busy", Value: value})
			n++
		}
		return time.Duration(hook.total.Load()), n
	}
	d, n := load("busy", 5000)
	if d <= 0 {
		t.Fatalf("%d produces of 512 KiB at 1%% of a request thread were never throttled", n)
	}
	t.Logf("throttled after %d produces", n)
	if d, _ := load("free", n); d > 0 {
		t.Fatalf("a client without a request quota was throttled for %v", d)
	}
}
