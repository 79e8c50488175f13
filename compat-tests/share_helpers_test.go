package compattests

// Helpers for the share group tests (share_test.go): franz-go share
// consumers that record every delivery and acknowledge as a test decides,
// and the broker settings that make lock expiry and membership testable in
// seconds. Names start with sh.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shLock is the share groups' record lock duration in the tests that wait
// for locks to expire: the lowest the broker is set to allow.
const shLock = time.Second

// shSettings are the broker configs of the share group tests: Kafka's
// bounds lowered so that a lock of shLock is allowed and members learn of
// assignment changes within a quarter second (Kafka's defaults are 15 s
// at least and a heartbeat every 5 s).
func shSettings() map[string]string {
	s := grSettings()
	s["group.share.min.record.lock.duration.ms"] = fmt.Sprint(shLock.Milliseconds())
	s["group.share.min.heartbeat.interval.ms"] = "100"
	s["group.share.heartbeat.interval.ms"] = "250"
	return s
}

// shBrokerFlags are shSettings as flags of the streamhouse binary.
func shBrokerFlags() []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(shSettings())) {
		out = append(out, "--"+k+"="+shSettings()[k])
	}
	return out
}

// shKey names a record.
type shKey struct {
	partition int32
	offset    int64
}

// shDelivery is one delivery of a record to a member.
type shDelivery struct {
	member string
	shKey
	count int32 // the broker's delivery count
	value string
}

// shLog collects the deliveries to every member of a test.
type shLog struct {
	mu sync.Mutex
	ds []shDelivery
	// confirmed are records whose acceptance the broker confirmed
	// (FlushAcks returned and no error came back for the partition).
	confirmed map[shKey]bool
	// afterConfirm are deliveries of records already confirmed.
	afterConfirm []shDelivery
}

func newShLog() *shLog { return &shLog{confirmed: map[shKey]bool{}} }

func (l *shLog) add(d shDelivery) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
	if l.confirmed[d.shKey] {
		l.afterConfirm = append(l.afterConfirm, d)
	}
}

func (l *shLog) deliveries() []shDelivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ds)
}

// distinct counts the distinct records delivered.
func (l *shLog) distinct() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[shKey]bool{}
	for _, d := range l.ds {
		seen[d.shKey] = true
	}
	return len(seen)
}

// byMember counts each member's deliveries.
func (l *shLog) byMember() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, d := range l.ds {
		out[d.member]++
	}
	return out
}

// duplicates are the deliveries of records delivered before.
func (l *shLog) duplicates() []shDelivery {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[shKey]bool{}
	var out []shDelivery
	for _, d := range l.ds {
		if seen[d.shKey] {
			out = append(out, d)
		}
		seen[d.shKey] = true
	}
	return out
}

// shMemberOpts shapes a member.
type shMemberOpts struct {
	// ack decides each record's acknowledgement (default: accept).
	ack func(r *kgo.Record) kgo.AckStatus
	// hangAfter, when > 0, makes the member stop polling and
	// acknowledging after that many polls that returned records: it
	// holds what it has, its connection open, as a hung process does.
	hangAfter int
	// confirm flushes the acknowledgements after each poll and records
	// which the broker confirmed.
	confirm bool
	opts    []kgo.Opt
}

// shMember is a franz-go share consumer polling in its own goroutine.
type shMember struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	polls  atomic.Int64 // polls that returned records
	hung   atomic.Bool
	once   sync.Once
}

// shStart starts a member of group consuming topics, logging its
// deliveries in log.
func shStart(t *testing.T, addr, name, group string, topics []string, log *shLog, o shMemberOpts) *shMember {
	t.Helper()
	var ackFailed atomic.Int64 // partitions whose acknowledgements failed
	opts := append([]kgo.Opt{
		kgo.ShareGroup(group), kgo.ConsumeTopics(topics...), kgo.ClientID(name),
		kgo.ShareAckCallback(func(_ *kgo.Client, rs kgo.ShareAckResults) {
			for _, r := range rs {
				if r.Err != nil {
					ackFailed.Add(1)
				}
			}
		}),
	}, o.opts...)
	cl := fgClient(t, addr, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	m := &shMember{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if fs.NumRecords() > 0 {
				if n := m.polls.Add(1); o.hangAfter > 0 && n >= int64(o.hangAfter) {
					m.hung.Store(true) // what this poll got stays unacknowledged
				}
			}
			var got []shKey
			fs.EachRecord(func(r *kgo.Record) {
				log.add(shDelivery{member: name, shKey: shKey{r.Partition, r.Offset}, count: r.DeliveryCount(), value: string(r.Value)})
				got = append(got, shKey{r.Partition, r.Offset})
				if m.hung.Load() {
					return
				}
				st := kgo.AckAccept
				if o.ack != nil {
					st = o.ack(r)
				}
				r.Ack(st)
			})
			if len(got) == 0 {
				continue
			}
			if m.hung.Load() {
				<-ctx.Done()
				return
			}
			if o.confirm {
				before := ackFailed.Load()
				if err := cl.FlushAcks(ctx); err == nil && ackFailed.Load() == before {
					log.mu.Lock()
					for _, k := range got {
						log.confirmed[k] = true
					}
					log.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// stop stops polling and closes the client: what it holds is released.
func (m *shMember) stop() {
	m.once.Do(func() {
		m.cancel()
		<-m.done
		m.cl.Close()
	})
}

// shProduce produces n records to topic, spread over partitions, with
// values "<prefix>-<i>".
func shProduce(t *testing.T, cl *kgo.Client, topic string, partitions int32, prefix string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
	}
	fgProduceAll(t, cl, recs)
}

// shWaitDistinct waits until n distinct records were delivered.
func shWaitDistinct(t *testing.T, log *shLog, n int) {
	t.Helper()
	grWaitFor(t, fmt.Sprintf("%d records delivered", n), func() (bool, string) {
		d := log.distinct()
		return d >= n, fmt.Sprintf("%d distinct records delivered (%d deliveries)", d, len(log.deliveries()))
	})
}

// shSetGroupConfig sets group configs through IncrementalAlterConfigs, as
// kafka-configs --entity-type groups does.
func shSetGroupConfig(t testing.TB, addr, group string, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for _, k := range slices.Sorted(maps.Keys(configs)) {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value, c.Op = k, kmsg.StringPtr(configs[k]), kmsg.IncrementalAlterConfigOpSet
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(fgCtx(t), fgClient(t, addr))
	if err != nil {
		t.Fatal(err)
	}
	if e := kerr.ErrorForCode(resp.Resources[0].ErrorCode); e != nil {
		t.Fatalf("set configs of group %s: %v %s", group, e, shDeref(resp.Resources[0].ErrorMessage))
	}
}

func shDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// shIsErr reports whether err is (or wraps) want.
func shIsErr(err error, want *kerr.Error) bool { return errors.Is(err, want) }
