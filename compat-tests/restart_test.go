package compattests

// The streamhouse binary stopped and started again on the same data
// directory, driven by franz-go: topics, configs, records and offsets
// survive, and new records continue each partition's offsets.

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestRestartKeepsData runs the binary, creates a topic with configs,
// produces 3,000 records (half uncompressed with acks=all, half zstd with
// acks=1), creates and deletes another topic, stops the broker, starts it
// again on the same directory and checks that everything is there (and
// the deleted topic is not): topic id, configs, records, offsets and
// lookups by time. Then it produces more, which must continue each
// partition's offsets, and does it all once more. The broker is stopped by
// SIGTERM or SIGINT, or killed with SIGKILL: every record was acknowledged
// with acks=all or acks=1, which promise it survives a crash of the
// process.
//
// When a clean stop is asked for, a consumer is waiting in a long poll and
// a producer is connected: shutdown must not wait for them.
func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM", syscall.SIGTERM}, {"SIGINT", syscall.SIGINT}, {"SIGKILL", syscall.SIGKILL}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			fgRestartScenario(t, c.sig)
		})
	}
}

// fgShutdownFlag makes the broker wait far longer for in-flight requests
// than fgStop waits for it to exit, so that a waiting fetch that shutdown
// does not wake fails the test rather than being cut off at the default
// 30s.
const fgShutdownFlag = "--shutdown-timeout=10m"

func fgRestartScenario(t *testing.T, sig syscall.Signal) {
	dir := t.TempDir()
	const topic = "durable"
	configs := map[string]string{
		"retention.ms":      "86400000",
		"cleanup.policy":    "delete",
		"max.message.bytes": "2000000", // above kgo's 1 MiB batches
		"segment.bytes":     "1048576", // about a segment per 1,000 records
	}

	p := startProc(t, dir, "", fgShutdownFlag)
	adm := fgAdmin(t, p.addr)
	created := fgCreateTopic(t, adm, topic, 3, configs)
	cluster := fgCluster(t, p.addr)

	rng := rand.New(rand.NewPCG(3, uint64(sig)))
	var all []*kgo.Record // every record acknowledged, in produce order
	produce := func(addr string, n int, codec kgo.CompressionCodec, acks kgo.Acks) []*kgo.Record {
		t.Helper()
		recs := make([]*kgo.Record, n)
		for i := range recs {
			seq := len(all) + i
			v := fmt.Appendf(nil, "record %d ", seq)
			for range 100 + rng.IntN(900) {
				v = append(v, "abcdefghijklmnopqrstuvwxyz"[rng.IntN(26)])
			}
			recs[i] = &kgo.Record{
				Topic:   topic,
				Key:     fmt.Appendf(nil, "key-%d", seq),
				Value:   v,
				Headers: []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", seq)}},
			}
		}
		// acks=all: fsynced before they are acknowledged; acks=1: written
		// to the file, which survives a crash of the process (SIGKILL).
		opts := []kgo.Opt{kgo.ProducerBatchCompression(codec), kgo.RequiredAcks(acks)}
		if acks != kgo.AllISRAcks() {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		fgProduceAll(t, fgClient(t, addr, opts...), recs)
		all = append(all, recs...)
		return recs
	}
	produce(p.addr, 1500, kgo.NoCompression(), kgo.AllISRAcks())
	produce(p.addr, 1500, kgo.ZstdCompression(), kgo.LeaderAck())

	// A topic deleted before the stop stays deleted.
	gone := fgCreateTopic(t, adm, "gone", 2, nil)
	fgProduceSync(t, fgClient(t, p.addr), &kgo.Record{Topic: "gone", Value: []byte("x")}, &kgo.Record{Topic: "gone", Value: []byte("y")})
	if _, err := adm.DeleteTopic(fgCtx(t), "gone"); err != nil {
		t.Fatal(err)
	}

	// A topic created in a later incarnation must survive too.
	var later []*kgo.Record

	for restart := 1; restart <= 2; restart++ {
		before := fgEndOffsets(t, fgAdmin(t, p.addr), topic)
		fgStop(t, p, sig)

		p = startProc(t, dir, "", fgShutdownFlag)
		fgCheckRestarted(t, p.addr, topic, created.ID, configs, all)
		if got := fgCluster(t, p.addr); got != cluster {
			t.Errorf("restart %d: cluster id %q, was %q", restart, got, cluster)
		}
		if restart == 1 {
			fgCheckGone(t, p.addr, "gone", gone.ID)
			// The name can be taken again, and starts empty.
			fgCreateTopic(t, fgAdmin(t, p.addr), "gone", 2, nil)
			r := &kgo.Record{Topic: "gone", Partition: 1, Value: []byte("new")}
			fgProduceSync(t, fgClient(t, p.addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), r)
			if r.Offset != 0 {
				t.Errorf("recreated topic: first record at offset %d, want 0", r.Offset)
			}
		}
		if later != nil {
			fgCheckConsumed(t, fgByPartition(later), fgConsume(t, p.addr, "later", 1, len(later)), nil)
		}

		// New records continue each partition where it ended.
		recs := produce(p.addr, 1000, kgo.Lz4Compression(), kgo.AllISRAcks())
		for part, rs := range fgByPartition(recs) {
			for i, r := range rs {
				if want := before[part] + int64(i); r.Offset != want {
					t.Fatalf("restart %d: new record %d of partition %d at offset %d, want %d (the end before the restart was %d)",
						restart, i, part, r.Offset, want, before[part])
				}
			}
		}
		if restart == 1 {
			fgCreateTopic(t, fgAdmin(t, p.addr), "later", 1, nil)
			later = []*kgo.Record{{Topic: "later", Key: []byte("a"), Value: []byte("1")}, {Topic: "later", Key: []byte("b"), Value: []byte("2")}}
			fgProduceSync(t, fgClient(t, p.addr), later...)
		}
	}
	fgCheckRestarted(t, p.addr, topic, created.ID, configs, all)
}

// fgStop stops the broker with sig. A clean stop (SIGTERM, SIGINT) must
// exit 0 while a consumer waits in a long poll and a producer is
// connected; SIGKILL is a crash.
func fgStop(t *testing.T, p *proc, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGKILL {
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-p.done
		return
	}

	// Idle clients: a consumer parked in a fetch that asks for two
	// minutes of waiting, and a connected producer.
	waiting := make(fgFetchWrites, 16)
	cons := fgClient(t, p.addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"durable": {0: kgo.NewOffset().AtEnd()}}),
		kgo.FetchMaxWait(2*time.Minute),
		kgo.WithHooks(waiting),
	)
	defer cons.Close()
	go cons.PollFetches(fgCtx(t)) // returns when the client is closed
	select {
	case <-waiting:
	case <-time.After(fgWait):
		t.Fatal("the consumer sent no fetch")
	}
	prod := fgClient(t, p.addr)
	defer prod.Close()
	if err := prod.Ping(fgCtx(t)); err != nil {
		t.Fatal(err)
	}

	if sig == syscall.SIGTERM {
		p.stop()
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("streamhouse exited with %v after %v\n%s", err, sig, p.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("streamhouse did not exit within 30s of %v\n%s", sig, p.logs.String())
	}
}

// fgCheckRestarted checks a restarted broker: the topic with its id,
// partitions and configs, offsets from 0 to the end, and every record.
func fgCheckRestarted(t *testing.T, addr, topic string, id kadm.TopicID, configs map[string]string, all []*kgo.Record) {
	t.Helper()
	adm := fgAdmin(t, addr)
	ctx := fgCtx(t)
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if td := tds[topic]; td.Err != nil || len(td.Partitions) != 3 || td.ID != id {
		t.Fatalf("after restart: %s: %v, %d partitions, id %v; want 3 partitions and id %v", topic, td.Err, len(td.Partitions), td.ID, id)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err == nil {
		err = rcs[0].Err
	}
	if err != nil {
		t.Fatalf("after restart: describe configs: %v", err)
	}
	got := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		got[c.Key] = c
	}
	for k, v := range configs {
		if c := got[k]; c.Value == nil || *c.Value != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("after restart: config %s: %+v, want %s from DYNAMIC_TOPIC_CONFIG", k, c, v)
		}
	}

	want := fgByPartition(all)
	l, err := adm.ListStartOffsets(ctx, topic)
	start := fgListed(t, topic, l, err)
	end := fgEndOffsets(t, adm, topic)
	for _, p := range fgPartitions(want) {
		if start[p] != 0 || end[p] != int64(len(want[p])) {
			t.Errorf("after restart: partition %d offsets [%d, %d), want [0, %d)", p, start[p], end[p], len(want[p]))
		}
	}
	fgCheckConsumed(t, want, fgConsume(t, addr, topic, 3, len(all)), nil)
	fgCheckTimes(t, adm, topic, want)
}

// fgCheckTimes checks offset lookups by time (the time indexes, rebuilt
// or reloaded by a restart) against records with non-decreasing
// timestamps: the first record at or after a time, and the first holding
// the largest.
func fgCheckTimes(t *testing.T, adm *kadm.Client, topic string, want map[int32][]*kgo.Record) {
	t.Helper()
	ctx := fgCtx(t)
	var targets []int64
	for _, rs := range want {
		for _, i := range []int{0, len(rs) / 3, len(rs) / 2, 2 * len(rs) / 3, len(rs) - 1} {
			ts := rs[i].Timestamp.UnixMilli()
			targets = append(targets, ts-1, ts, ts+1)
		}
	}
	slices.Sort(targets)
	targets = slices.Compact(targets)
	for _, ts := range targets {
		l, err := adm.ListOffsetsAfterMilli(ctx, ts, topic)
		if err == nil {
			err = l.Error()
		}
		if err != nil {
			t.Fatalf("list offsets after %d: %v", ts, err)
		}
		for p, rs := range want {
			wo := int64(len(rs)) // none: kadm gives the end offset
			for i, r := range rs {
				if r.Timestamp.UnixMilli() >= ts {
					wo = int64(i)
					break
				}
			}
			if o, _ := l.Lookup(topic, p); o.Offset != wo {
				t.Errorf("after restart: partition %d: offset after %d is %d, want %d", p, ts, o.Offset, wo)
			}
		}
	}
	l, err := adm.ListMaxTimestampOffsets(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		t.Fatalf("list max timestamp offsets: %v", err)
	}
	for p, rs := range want {
		maxTS := rs[len(rs)-1].Timestamp.UnixMilli()
		wo := slices.IndexFunc(rs, func(r *kgo.Record) bool { return r.Timestamp.UnixMilli() == maxTS })
		if o, _ := l.Lookup(topic, p); o.Offset != int64(wo) || o.Timestamp != maxTS {
			t.Errorf("after restart: partition %d: max timestamp at offset %d (%d), want %d (%d)", p, o.Offset, o.Timestamp, wo, maxTS)
		}
	}
}

// fgCluster is the cluster id the broker at addr reports.
func fgCluster(t *testing.T, addr string) string {
	t.Helper()
	m, err := fgAdmin(t, addr).BrokerMetadata(fgCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Cluster == "" || !slices.ContainsFunc(m.Brokers, func(b kadm.BrokerDetail) bool { return b.NodeID == fgNode }) {
		t.Fatalf("metadata: cluster %q, brokers %v; want a cluster id and broker %d", m.Cluster, m.Brokers, fgNode)
	}
	return m.Cluster
}
