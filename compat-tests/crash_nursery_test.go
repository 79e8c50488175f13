package compattests

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashNurseryPowerLoss kills the broker (built with -tags faults)
// 0-15 ms after the acknowledgements of a new topic's first records, while
// the partitions' batches are still in the nursery journal
// (storage/fs/nursery.go) rather than in their own directories, and then
// simulates a power loss from the broker's fsync log: everything not
// fsynced is cut back (or kept in part, or zeroed). Four cycles, each with
// a topic of its own; every acknowledged record of every topic must be
// found, at offset 0 of its partition, after each restart.
func TestCrashNurseryPowerLoss(t *testing.T) {
	t.Parallel()
	const parts = 40
	seed := crashSeed(t)
	t.Logf("seed %d (STREAMHOUSE_CRASH_SEED=%d replays the random choices)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 2))
	b := newCrashBroker(t, binaryFaults(t))
	storageDir := filepath.Join(b.dir, "storage")
	syncDir := t.TempDir()
	durable, err := crashDurableNow(storageDir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{} // topic: the value acknowledged in each partition
	check := func(when string) {
		t.Helper()
		for topic, vals := range want {
			got := fgConsume(t, b.addr, topic, parts, parts)
			for p, v := range vals {
				rs := got[int32(p)]
				if len(rs) != 1 || rs[0].Offset != 0 || string(rs[0].Value) != v {
					t.Fatalf("%s: %s-%d holds %d records (want %q at offset 0)", when, topic, p, len(rs), v)
				}
			}
		}
	}
	const cycles = 4
	replays := 0 // restarts that found partitions in the journal only
	for c := range cycles + 1 {
		b.cycle = c
		var env []string
		syncLog := filepath.Join(syncDir, fmt.Sprintf("sync-%d.log", c))
		if c < cycles {
			env = []string{"STREAMHOUSE_SYNC_LOG=" + syncLog}
		}
		if err := b.start(env); err != nil {
			t.Fatalf("cycle %d: %v", c, err)
		}
		if strings.Contains(b.p.logs.String(), "replayed the nursery journal") {
			replays++
		}
		check(fmt.Sprintf("cycle %d, after the restart", c))
		if c == cycles {
			break
		}
		topic := fmt.Sprintf("fresh-%d", c)
		crashCreateTopics(t, b.addr, []string{topic}, parts, nil)
		var recs []*kgo.Record
		vals := make([]string, parts)
		for p := range parts {
			vals[p] = fmt.Sprintf("cycle %d partition %d %x", c, p, rng.Uint64())
			recs = append(recs, &kgo.Record{Partition: int32(p), Value: []byte(vals[p])})
		}
		// acks=all (franz-go's default), idempotent.
		cl := fgClient(t, b.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err := cl.ProduceSync(fgCtx(t), recs...).FirstErr(); err != nil {
			t.Fatalf("cycle %d: produce: %v", c, err)
		}
		want[topic] = vals
		// The settler starts 20 ms after a partition's first append.
		exited, exitErr := b.runFor(time.Duration(rng.IntN(15)) * time.Millisecond)
		cl.Close()
		if exited {
			t.Fatalf("cycle %d: the broker exited by itself: %v\n%s", c, exitErr, tail(b.lastLogs(), 4000))
		}
		if _, err := durable.apply(syncLog); err != nil {
			t.Fatalf("cycle %d: %v", c, err)
		}
		rep, err := durable.powerLoss(storageDir, rng)
		if err != nil {
			t.Fatalf("cycle %d: power loss: %v", c, err)
		}
		t.Logf("cycle %d: power loss: %v", c, rep)
		if durable, err = crashDurableNow(storageDir); err != nil {
			t.Fatal(err)
		}
	}
	b.p.stop()
	t.Logf("%d of %d restarts replayed the nursery journal", replays, cycles)
	if replays == 0 {
		t.Error("no restart replayed the nursery journal: every kill came after the partitions settled, and the test showed nothing of the nursery")
	}
}
