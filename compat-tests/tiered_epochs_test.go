package compattests

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTieredClusterLeaderEpochs: in the cluster mode a partition's leader
// epoch is its lease's, stamped on every batch, and tiered storage records
// each uploaded segment's epochs (KIP-405's segment leader epochs). A
// partition led by broker A (epoch e1), handed to B (e2), then back to A
// (e3) over a local log that starts where the bucket ends: A answers
// OffsetForLeaderEpoch for e1 and e2, whose batches only the bucket holds,
// with where the next epoch's batches start, as Kafka does (before, every
// epoch up to the current one was answered with the log's end).
func TestTieredClusterLeaderEpochs(t *testing.T) {
	c := newClusterEnv(t) // not parallel: brokers hold PostgreSQL connections
	c.start(1)
	c.start(2)
	seeds := kgo.SeedBrokers(c.brokers[1].addr, c.brokers[2].addr) // either may be down
	adm := kadm.NewClient(fgClient(t, c.brokers[1].addr, seeds))
	const topic = "epochs"
	fgCreateTopic(t, adm, topic, 1, map[string]string{"segment.bytes": "1048576", "local.retention.bytes": "1"})
	cl := fgClient(t, c.brokers[1].addr, seeds, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := fgCtx(t)
	value := strings.Repeat("x", 1000)

	// leader waits for the partition's leader to be another than not, and
	// returns it and its epoch.
	leader := func(not int32) (int32, int32) {
		t.Helper()
		for deadline := time.Now().Add(fgWait); ; {
			md, err := adm.Metadata(ctx, topic)
			if err == nil {
				if p, ok := md.Topics[topic].Partitions[0]; ok && p.Err == nil && p.Leader >= 0 && p.Leader != not {
					return p.Leader, p.LeaderEpoch
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition 0 never led by another than %d: %v", not, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// produce writes n records and returns the first one's offset.
	produce := func(n int) int64 {
		t.Helper()
		var mu sync.Mutex
		first := int64(-1)
		var failed error
		for range n {
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte(value)}, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil && failed == nil {
					failed = err
				}
				if err == nil && (first < 0 || r.Offset < first) {
					first = r.Offset
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if failed != nil {
			t.Fatalf("produce: %v", failed)
		}
		return first
	}
	// listOffset is ListOffsets at ts, tried again while the leader moves.
	listOffset := func(ts int64) int64 {
		t.Helper()
		for deadline := time.Now().Add(fgWait); ; {
			resp, err := tierListOffsetsRequest(topic, 0, ts).RequestWith(ctx, cl)
			if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
				sp := resp.Topics[0].Partitions[0]
				if sp.ErrorCode == 0 {
					return sp.Offset
				}
				err = kerr.ErrorForCode(sp.ErrorCode)
			}
			if time.Now().After(deadline) {
				t.Fatalf("ListOffsets at %d: %v", ts, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	a, e1 := leader(-1)
	produce(1500)
	c.brokers[int(a)].stop() // a handover (SIGTERM)
	b, e2 := leader(a)
	start2 := produce(1500)
	// Until the bucket holds e2's first batches (its segment closed at
	// 1 MiB and uploaded), so that the next leader's local log starts
	// past them.
	for deadline := time.Now().Add(fgWait); listOffset(-5) < start2+1; {
		if time.Now().After(deadline) {
			t.Fatalf("the bucket holds offsets up to %d, not past %d", listOffset(-5), start2)
		}
		produce(50)
	}
	c.start(int(a))
	c.brokers[int(b)].stop()
	a3, e3 := leader(b)
	next := listOffset(-1)
	localStart := listOffset(-4)
	t.Logf("epochs: %d led by %d, %d by %d from offset %d, %d by %d; the local log starts at %d, the log ends at %d",
		e1, a, e2, b, start2, e3, a3, localStart, next)
	if e1 >= e2 || e2 >= e3 {
		t.Fatalf("leader epochs %d, %d, %d do not grow", e1, e2, e3)
	}
	if localStart <= start2 {
		t.Fatalf("the local log starts at %d, not past epoch %d's start %d: not a remote-only answer", localStart, e2, start2)
	}

	cases := []struct {
		epoch, wantEpoch int32
		wantEnd          int64
	}{
		{e1, e1, start2}, // e1 ends where e2's batches start
		{e2, e2, next},   // nothing appended in e3 yet: e2 ends at the log's end
		{e3, e3, next},   // the current epoch
	}
	if e1 > 0 {
		cases = append(cases, struct {
			epoch, wantEpoch int32
			wantEnd          int64
		}{e1 - 1, e1 - 1, 0}) // below every batch's epoch: the log start
	}
	for _, tc := range cases {
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		req.Version = 4
		req.ReplicaID = -1
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, e3, tc.epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		sp := resp.Topics[0].Partitions[0]
		if err := kerr.ErrorForCode(sp.ErrorCode); err != nil {
			t.Fatalf("OffsetForLeaderEpoch(%d): %v", tc.epoch, err)
		}
		got := fmt.Sprintf("epoch %d, end %d", sp.LeaderEpoch, sp.EndOffset)
		if want := fmt.Sprintf("epoch %d, end %d", tc.wantEpoch, tc.wantEnd); got != want {
			t.Errorf("OffsetForLeaderEpoch(%d) = %s, want %s", tc.epoch, got, want)
		}
	}
}
