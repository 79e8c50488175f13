package compattests

// A failed fsync, injected in process (storage/fs/vfs/errorfs under a
// brokertest broker): the acks=all produce it concerns is answered with
// KAFKA_STORAGE_ERROR, never acknowledged; the partition reopens from
// what is on disk and comes back by itself; the idempotent producer's
// retries are stored once; consumers of three clients read across the
// empty batch that covers the dropped offsets; and a restart serves the
// same log.

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
	"github.com/streamhouse/streamhouse/storage/fs/vfs"
	"github.com/streamhouse/streamhouse/storage/fs/vfs/errorfs"
)

func TestDiskFaultHeals(t *testing.T) {
	t.Parallel()
	kcat := requireTool(t, "kcat")
	var rules errorfs.Rules
	b := brokertest.New(t, brokertest.Options{FS: errorfs.Wrap(vfs.Default, &rules)})
	const topic = "heal"
	fgCreateTopic(t, fgAdmin(t, b.Addr()), topic, 1, nil)
	p := newDFProducer("franz-go")
	cl := fgClient(t, b.Addr(), kgo.DefaultProduceTopic(topic), kgo.MetadataMinAge(time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }), kgo.WithLogger(dfKgoLogger{p}))
	var want []string
	produce := func(n int) {
		t.Helper()
		var recs []*kgo.Record
		for range n {
			v := dfValue("fg", len(want), 200)
			want = append(want, v)
			recs = append(recs, &kgo.Record{Value: []byte(v)})
		}
		if err := cl.ProduceSync(fgCtx(t), recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(100)
	before := fgEndOffsets(t, fgAdmin(t, b.Addr()), topic)[0]

	// The next fdatasync of the partition's segment fails: once its
	// batches are in the segment file, out of the nursery journal.
	waitSettled(t, filepath.Join(b.Dir(), "storage"))
	rules.Add(errorfs.Rule{Kind: errorfs.OpSyncData, Path: "/" + topic + "/0/", Err: syscall.EIO, Times: 1})
	start := time.Now()
	produce(100) // acknowledged once retried past the failure
	t.Logf("100 records through a failed fsync in %v", time.Since(start).Round(time.Millisecond))
	if rules.Failed() != 1 {
		t.Fatalf("the fault fired %d times, want once", rules.Failed())
	}
	if _, errs, _, _ := p.state(); errs == 0 {
		t.Error("franz-go never met KAFKA_STORAGE_ERROR")
	}
	end := fgEndOffsets(t, fgAdmin(t, b.Addr()), topic)[0]
	if end <= int64(len(want)) {
		t.Fatalf("end offset %d for %d records: no offsets were dropped (the fault hit nothing?)", end, len(want))
	}
	t.Logf("%d records in offsets [0, %d): [%d, %d) hold the empty batch over what the failed fsync dropped", len(want), end, before, before+end-int64(len(want)))
	if err := dfOnline(fgDialRaw(t, b.Addr()).metadata(false, topic)); err != nil {
		t.Fatalf("metadata after the partition came back: %v", err)
	}
	produce(10) // appends go on
	check := func(when string) {
		t.Helper()
		end := fgEndOffsets(t, fgAdmin(t, b.Addr()), topic)[0]
		// franz-go: every record once, in order.
		got := fgConsume(t, b.Addr(), topic, 1, len(want))[0]
		for i, r := range got {
			if string(r.Value) != want[i] {
				t.Fatalf("%s: franz-go read record %d as %.12q, want %.12q", when, i, r.Value, want[i])
			}
		}
		// sarama, from the start, across the empty batch.
		co := newSaramaConsumer(t, b.Addr(), saramaConfig(sarama.MaxVersion))
		pc, err := co.ConsumePartition(topic, 0, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range saramaRead(t, pc, len(want)) {
			if string(m.Value) != want[i] {
				t.Fatalf("%s: sarama read record %d as %.12q, want %.12q", when, i, m.Value, want[i])
			}
		}
		pc.Close()
		// kcat (librdkafka), to the end.
		out := runTool(t, kcatTimeout, nil, kcat, "-b", b.Addr(), "-C", "-t", topic, "-e", "-q", "-f", "%o %s\n")
		ls := lines(out)
		if len(ls) != len(want) {
			t.Fatalf("%s: kcat read %d records, want %d", when, len(ls), len(want))
		}
		for i, l := range ls {
			if !strings.HasSuffix(l, " "+want[i]) {
				t.Fatalf("%s: kcat read %.30q as record %d, want %.12q", when, l, i, want[i])
			}
		}
		t.Logf("%s: franz-go, sarama and kcat read the %d records of offsets [0, %d)", when, len(want), end)
	}
	check("after the partition came back")
	b.Restart()
	check("after a restart")
}
