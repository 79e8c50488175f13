package compattests

// Compacted topics in the cluster mode (issue 20), with real processes: one
// PostgreSQL, one versitygw, three brokers. The partition's leader cleans
// its uploaded segments in the bucket (storage/tiered's remote cleaner).
//
// TestClusterCompacted: a franz-go consumer reading from the beginning
// finds one value per key below what the leader has not uploaded yet, the
// latest value of every key, an expired tombstone gone; after kill -9 of
// the leader, the new leader serves a consistent log: every record read is
// the one acknowledged at its offset (none reused), no latest value lost,
// and it cleans what is written since.

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// configValue is the value of config name in configs, "" when absent.
func configValue(configs []kadm.Config, name string) string {
	for _, c := range configs {
		if c.Key == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// compactedAck is an acknowledged record of the compacted topic.
type compactedAck struct {
	key, value string
	tombstone  bool
}

func TestClusterCompacted(t *testing.T) {
	c := newClusterEnv(t) // not parallel: 3 brokers hold ~30 of PostgreSQL's 100 connections
	c.extra = []string{"--log.cleaner.backoff.ms", "100"}
	for node := 1; node <= 3; node++ {
		c.start(node)
	}
	const topic = "cluster-compacted"
	adm := fgAdmin(t, c.brokers[1].addr)
	// Segments roll every 100 ms of appends, so that they are uploaded
	// (and cleaned) within the test; any dirty segment makes a pass due.
	// Created with cleanup.policy=delete (as a user's topic often is, with
	// remote.storage.enable=true as every new topic of an S3 broker), then
	// altered to compacted: the cluster mode cleans tiered topics, so
	// Kafka's refusal of the two together does not apply here.
	fgCreateTopic(t, adm, topic, 1, map[string]string{
		"cleanup.policy": "delete", "segment.ms": "100",
		"min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "1000",
	})
	rs, err := adm.AlterTopicConfigs(fgCtx(t), []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}, topic)
	if err == nil {
		err = rs[0].Err
	}
	if err != nil {
		t.Fatalf("altering %s to cleanup.policy=compact: %v", topic, err)
	}
	dc, err := adm.DescribeTopicConfigs(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cleanup.policy", "remote.storage.enable"} {
		if v, err := dc.On(topic, nil); err != nil {
			t.Fatal(err)
		} else if got := configValue(v.Configs, name); got != map[string]string{"cleanup.policy": "compact", "remote.storage.enable": "true"}[name] {
			t.Errorf("%s of %s after the alteration: %q", name, topic, got)
		}
	}
	leaders := clusterWaitLed(t, adm, topic, 1)

	cl := fgClient(t, c.brokers[1].addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	acked := map[int64]compactedAck{} // by offset
	latest := map[string]compactedAck{}
	const keys = 8
	round := 0
	produce := func(extra ...*kgo.Record) {
		t.Helper()
		recs := extra
		for k := range keys {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", k)), Value: []byte(fmt.Sprintf("r%d", round))})
		}
		res := cl.ProduceSync(fgCtx(t), recs...)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce round %d: %v", round, err)
		}
		for _, r := range res {
			a := compactedAck{string(r.Record.Key), string(r.Record.Value), r.Record.Value == nil}
			if _, dup := acked[r.Record.Offset]; dup {
				t.Fatalf("offset %d acknowledged twice", r.Record.Offset)
			}
			acked[r.Record.Offset] = a
			latest[a.key] = a
		}
		round++
		time.Sleep(150 * time.Millisecond) // past segment.ms: the next append rolls
	}
	// read reads the partition from the beginning to its end through the
	// broker at addr, and checks it against what was acknowledged.
	read := func(addr string) []compactedAck {
		t.Helper()
		end := fgEndOffsets(t, fgAdmin(t, addr), topic)[0]
		cons := fgClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
			kgo.FetchMaxWait(200*time.Millisecond))
		defer cons.Close()
		ctx := fgCtx(t)
		var out []compactedAck
		last := int64(-1)
		for last < end-1 {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read to %d: at %d before the timeout", end, last)
			}
			for _, e := range fs.Errors() {
				t.Fatalf("read: %v", e.Err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset <= last {
					t.Fatalf("offset %d after %d", r.Offset, last)
				}
				last = r.Offset
				got := compactedAck{string(r.Key), string(r.Value), r.Value == nil}
				if want, ok := acked[r.Offset]; !ok || want != got {
					t.Fatalf("offset %d reads %+v; acknowledged there: %+v (%v)", r.Offset, got, want, ok)
				}
				out = append(out, got)
			})
		}
		// The latest value of every key is there.
		seen := map[string]compactedAck{}
		for _, r := range out {
			seen[r.key] = r
		}
		for k, want := range latest {
			if got, ok := seen[k]; want.tombstone && ok && !got.tombstone || !want.tombstone && got != want {
				t.Fatalf("key %s: last read %+v, latest acknowledged %+v", k, got, want)
			}
		}
		return out
	}
	// waitCleaned waits until a read through addr finds every key at most
	// twice (once cleaned, once in what is not uploaded yet) and passes
	// ok.
	waitCleaned := func(addr string, what string, ok func([]compactedAck) bool) {
		t.Helper()
		began := time.Now()
		for deadline := time.Now().Add(fgWait); ; {
			recs := read(addr)
			n := map[string]int{}
			most := 0
			for _, r := range recs {
				n[r.key]++
				most = max(most, n[r.key])
			}
			if most <= 2 && ok(recs) {
				t.Logf("%s: %d records read, %d acknowledged, after %v", what, len(recs), len(acked), time.Since(began).Round(time.Millisecond))
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not cleaned: %d records, a key %d times", what, len(recs), most)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	has := func(recs []compactedAck, key string, tombstone bool) bool {
		for _, r := range recs {
			if r.key == key && r.tombstone == tombstone {
				return true
			}
		}
		return false
	}

	// A key written then deleted, among rounds of every key.
	produce(&kgo.Record{Topic: topic, Key: []byte("dead"), Value: []byte("x")})
	produce(&kgo.Record{Topic: topic, Key: []byte("dead")})
	for range 4 {
		produce()
	}
	waitCleaned(c.brokers[1].addr, "cleaned", func(recs []compactedAck) bool { return !has(recs, "dead", false) })

	// Past delete.retention.ms, the next pass (due once new segments are
	// uploaded) drops the tombstone too.
	time.Sleep(time.Second)
	for range 3 {
		produce()
	}
	waitCleaned(c.brokers[1].addr, "tombstone expired", func(recs []compactedAck) bool { return !has(recs, "dead", true) })

	// kill -9 of the leader: the new one serves the same log, takes
	// produces at new offsets, and cleans.
	victim := int(leaders[0])
	c.brokers[victim].cmd.Process.Signal(syscall.SIGKILL)
	<-c.brokers[victim].done
	survivor := c.brokers[victim%3+1].addr
	cl = fgClient(t, survivor, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	began := time.Now()
	produce()
	t.Logf("first produce acknowledged %v after the leader's kill", time.Since(began).Round(time.Millisecond))
	for range 4 {
		produce()
	}
	waitCleaned(survivor, "cleaned by the new leader", func(recs []compactedAck) bool { return true })
}
