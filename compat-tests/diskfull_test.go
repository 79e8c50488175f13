package compattests

// A full disk, as a user meets it (issue 22): the binary on a 64 MiB tmpfs
// of its own, producers of three clients (franz-go idempotent, sarama,
// kcat/librdkafka, all acks=all) writing until the volume is (nearly) full.
//
// With the free-space guard (storage.min.free.bytes at its default, 5% of
// the volume) each producer gets a retriable KAFKA_STORAGE_ERROR within a
// second of the guard tripping and retries; a consumer keeps reading; the
// broker logs one ERROR line, and its metrics, /health and /ready say so; a
// DeleteRecords frees space and every producer resumes within 5 s, without
// a restart; every acknowledged record is readable, and again after a
// restart.
//
// Without the guard another program fills the volume: writes meet ENOSPC,
// every produce in flight is answered with the same retriable error within
// a second, the partitions stay online, offset commits are answered (the
// catalog is on the full volume too: COORDINATOR_NOT_AVAILABLE, which
// clients retry) and the catalog stays whole; once the other program's
// file is gone produce and commits resume by themselves; nothing
// acknowledged is lost.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dfConsumer reads topic from the start in the background until stopped,
// counting records and fetch errors, and noting when it last read a new
// record of each producer (by the prefix of the values, dfValue).
type dfConsumer struct {
	mu      sync.Mutex
	records int
	errs    []error
	seen    map[string]time.Time
	stop    context.CancelFunc
	done    chan struct{}
}

func startDFConsumer(t *testing.T, addr, topic string) *dfConsumer {
	cl := fgClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	c := &dfConsumer{stop: cancel, done: make(chan struct{}), seen: map[string]time.Time{}}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			for _, e := range fs.Errors() {
				if !errors.Is(e.Err, context.Canceled) {
					c.errs = append(c.errs, e.Err)
				}
			}
			now := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				c.records++
				if len(r.Value) >= 2 {
					c.seen[string(r.Value[:2])] = now
				}
			})
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

// seenAfter reports whether the consumer read a record of the producer
// with values prefixed prefix after at.
func (c *dfConsumer) seenAfter(prefix string, at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[prefix].After(at)
}

func (c *dfConsumer) state() (int, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.records, append([]error(nil), c.errs...)
}

// dfFillTopic produces 64 KiB records to topic until the volume holding
// vol has at most free bytes left.
func dfFillTopic(t *testing.T, addr, topic, vol string, free int64) {
	t.Helper()
	cl := fgClient(t, addr, kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(1<<20))
	defer cl.Close()
	value := make([]byte, 64<<10)
	for dfFree(t, vol) > free {
		var recs []*kgo.Record
		for range 8 {
			recs = append(recs, &kgo.Record{Topic: topic, Value: value})
		}
		if err := cl.ProduceSync(fgCtx(t), recs...).FirstErr(); err != nil {
			t.Fatalf("fill %s: %v", topic, err)
		}
	}
}

// dfCheckErrorsWithin checks that every producer met KAFKA_STORAGE_ERROR,
// at most limit after since.
func dfCheckErrorsWithin(t *testing.T, since time.Time, limit time.Duration, ps ...*dfProducer) {
	t.Helper()
	for _, p := range ps {
		dfWaitFor(t, 5*time.Second, p.name+" meeting KAFKA_STORAGE_ERROR", func() bool {
			_, errs, _, _ := p.state()
			return errs > 0
		})
		first, errs, _, acked := p.state()
		if d := first.Sub(since); d > limit {
			t.Errorf("%s met its first KAFKA_STORAGE_ERROR %v after the disk filled, want within %v", p.name, d, limit)
		}
		t.Logf("%s: first KAFKA_STORAGE_ERROR %v after the disk filled (%d so far, %d records acknowledged)", p.name, first.Sub(since).Round(time.Millisecond), errs, acked)
	}
}

// dfCheckResumed checks that the consumer reads a new record of every
// producer within limit of freed: produce resumed by itself.
func dfCheckResumed(t *testing.T, c *dfConsumer, freed time.Time, limit time.Duration, ps ...*dfProducer) {
	t.Helper()
	for _, p := range ps {
		prefix := map[string]string{"franz-go": "fg", "sarama": "sa", "kcat": "kc"}[p.name]
		at := dfWaitFor(t, limit, p.name+" resuming after space was freed", func() bool { return c.seenAfter(prefix, freed) })
		t.Logf("%s: a new record read %v after space was freed", p.name, at.Sub(freed).Round(time.Millisecond))
	}
}

// dfOnline says why a Metadata answer does not show every partition of
// its one topic led by broker 1, or nil.
func dfOnline(md *kmsg.MetadataResponse) error {
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
		return fmt.Errorf("topics %+v", md.Topics)
	}
	for _, pm := range md.Topics[0].Partitions {
		if pm.Leader != 1 || pm.ErrorCode != 0 || len(pm.OfflineReplicas) > 0 {
			return fmt.Errorf("partition %d: leader %d, %v, offline replicas %v", pm.Partition, pm.Leader, kerr.ErrorForCode(pm.ErrorCode), pm.OfflineReplicas)
		}
	}
	return nil
}

// dfLogOnFailure shows the end of the broker's log when the test fails.
func dfLogOnFailure(t *testing.T, p *proc) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the broker's log:\n%s", tail(p.logs.String(), 6000))
		}
	})
}

// dfLogLines returns the lines of the broker's log at level.
func dfLogLines(p *proc, level string) []string {
	var out []string
	for _, l := range lines(p.logs.String()) {
		if strings.Contains(l, "level="+level+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestDiskFullGuard(t *testing.T) {
	t.Parallel()
	vol := dfVolume(t, 64)
	dir := filepath.Join(vol, "data")
	ops := freePort(t)
	p := startProc(t, dir, "", dfGuardDefault, "--http-listen", ops)
	dfLogOnFailure(t, p)
	rcCheckLog(t, p, "the guard's default threshold, 5% of 64 MiB", "free-space guard", "min_free_bytes=3355443")
	adm := fgAdmin(t, p.addr)
	fgCreateTopic(t, adm, "ballast", 1, map[string]string{"segment.bytes": "1048576"})
	fgCreateTopic(t, adm, "full", 3, nil)
	dfFillTopic(t, p.addr, "ballast", vol, 12<<20)
	cons := startDFConsumer(t, p.addr, "full")

	fg := dfFranz(t, p.addr, "full", 4096)
	sa := dfSarama(t, p.addr, "full", 4096)
	kc := dfKcat(t, p.addr, "full", 1024)
	tripped := dfWaitFor(t, 60*time.Second, "the guard tripping", func() bool {
		return dfMetric(t, ops, "streamhouse_storage_disk_low") == 1
	})
	dfCheckErrorsWithin(t, tripped, time.Second, fg, sa, kc)
	readBefore, _ := cons.state()

	// While it lasts: the metrics, /health and /ready say so, the
	// partitions stay online, reads go on, and one ERROR line was
	// logged.
	time.Sleep(500 * time.Millisecond)
	if free, min := dfMetric(t, ops, "streamhouse_storage_free_bytes"), dfMetric(t, ops, "streamhouse_storage_min_free_bytes"); free >= min || min != 3355443 {
		t.Errorf("metrics: free %v, min free %v; want free below min, min 3355443", free, min)
	}
	if n := dfMetric(t, ops, "streamhouse_storage_refused_appends_total"); n == 0 {
		t.Error("metrics: no refused appends counted")
	}
	if code, body := dfGet(t, "http://"+ops+"/health"); code != 200 || !strings.HasPrefix(body, "degraded\nstorage: disk low") {
		t.Errorf("/health while the disk is low: %d %q", code, body)
	}
	if code, body := dfGet(t, "http://"+ops+"/ready"); code != 200 || !strings.HasPrefix(body, "ready, degraded\n") {
		t.Errorf("/ready while the disk is low: %d %q", code, body)
	}
	if err := dfOnline(fgDialRaw(t, p.addr).metadata(false, "full")); err != nil {
		t.Errorf("metadata while the disk is low: %v", err)
	}
	if read, errs := cons.state(); len(errs) > 0 || read < readBefore {
		t.Errorf("the consumer while the disk is low: %d records, errors %v", read, errs)
	}
	if f := rcFetch(fgDialRaw(t, p.addr), "full", 0, 0, 1<<20); f.code != 0 || len(f.batches) == 0 {
		t.Errorf("a fetch from the start while the disk is low: %v, %d batches", kerr.ErrorForCode(f.code), len(f.batches))
	}
	if errs := dfLogLines(p, "ERROR"); len(errs) != 1 || !strings.Contains(errs[0], "DISK LOW") {
		t.Errorf("ERROR lines while the disk is low: %q, want one DISK LOW", errs)
	}

	// DeleteRecords frees space: produce resumes by itself.
	ends, err := adm.ListEndOffsets(fgCtx(t), "ballast")
	if err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	if res, err := adm.DeleteRecords(fgCtx(t), ends.Offsets()); err != nil || res.Error() != nil {
		t.Fatalf("DeleteRecords while the disk is low: %v, %v", err, res.Error())
	}
	dfCheckResumed(t, cons, freed, 5*time.Second, fg, sa, kc)
	if low := dfMetric(t, ops, "streamhouse_storage_disk_low"); low != 0 {
		t.Errorf("disk_low %v after space was freed", low)
	}
	rcCheckLog(t, p, "the guard clearing", "free space is back above storage.min.free.bytes")
	if code, body := dfGet(t, "http://"+ops+"/health"); code != 200 || body != "ok\n" {
		t.Errorf("/health after space was freed: %d %q", code, body)
	}

	for _, pr := range []*dfProducer{fg, sa, kc} {
		pr.finish(t)
	}
	if errs := dfLogLines(p, "ERROR"); len(errs) != 1 {
		t.Errorf("ERROR lines: %q, want the one DISK LOW", errs)
	}
	acked := dfAcked(fg, sa, kc)
	dfCheckReadable(t, p.addr, "full", 3, acked, "after the disk was low")
	p.stop()
	p = startProc(t, dir, "", dfGuardDefault, "--http-listen", ops)
	dfCheckReadable(t, p.addr, "full", 3, acked, "after a restart")
}

func TestDiskFullNoGuard(t *testing.T) {
	t.Parallel()
	vol := dfVolume(t, 64)
	dir := filepath.Join(vol, "data")
	ops := freePort(t)
	p := startProc(t, dir, "", "--storage.min.free.bytes=0", "--http-listen", ops)
	dfLogOnFailure(t, p)
	rcCheckLog(t, p, "the guard off", "free-space guard is off")
	adm := fgAdmin(t, p.addr)
	resp := fgCreateTopic(t, adm, "full", 3, nil)
	cons := startDFConsumer(t, p.addr, "full")
	fg := dfFranz(t, p.addr, "full", 4096)
	sa := dfSarama(t, p.addr, "full", 4096)
	kc := dfKcat(t, p.addr, "full", 1024)
	dfWaitFor(t, 10*time.Second, "every producer acknowledged", func() bool {
		for _, pr := range []*dfProducer{fg, sa, kc} {
			if _, _, last, _ := pr.state(); last.IsZero() && pr != kc {
				return false
			}
		}
		return true
	})
	group := "diskfull-group"
	if _, err := adm.CommitOffsets(fgCtx(t), group, kadm.OffsetsFromRecords(kgo.Record{Topic: "full", Partition: 0, Offset: 1})); err != nil {
		t.Fatalf("commit before the disk filled: %v", err)
	}

	// Another program fills the volume.
	ballast := filepath.Join(vol, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 256<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	full := time.Now()
	dfWaitFor(t, 10*time.Second, "a write meeting the full volume", func() bool {
		return dfMetric(t, ops, "streamhouse_storage_disk_low") == 1
	})
	dfCheckErrorsWithin(t, full, time.Second, fg, sa, kc)

	// A produce in flight is answered at once, with the retriable error;
	// the partitions stay online.
	raw := fgDialRaw(t, p.addr)
	if err := dfOnline(raw.metadata(false, "full")); err != nil {
		t.Errorf("metadata on the full volume: %v", err)
	}
	b, _ := fgBatchOfSize(time.Now().UnixMilli(), 256<<10)
	start := time.Now()
	pr := raw.produce(9, "full", resp.ID, 1, b)
	if d := time.Since(start); d > time.Second || pr.ErrorCode != kerr.KafkaStorageError.Code {
		t.Errorf("a produce on the full volume: %v after %v, want KAFKA_STORAGE_ERROR within 1 s", kerr.ErrorForCode(pr.ErrorCode), d)
	}
	// The catalog is on the full volume too: offset commits (with 2 KB of
	// metadata each) are answered, never left hanging: with success
	// while SQLite finds room and otherwise with an error code. Whether
	// it runs out is SQLite's affair: its write-ahead log is written
	// again from its start after each checkpoint, so a log grown before
	// the volume filled may never need another block (CI saw 297 of 297
	// go in). The catalog stays whole, checked after the restart.
	lastOK, refused := int64(2), 0 // committed above: record 1's next offset
	var firstRefusal error
	for at := int64(3); at < 300 && refused < 3; at++ {
		offs := make(kadm.Offsets)
		offs.Add(kadm.Offset{Topic: "full", Partition: 0, At: at, Metadata: strings.Repeat("m", 2000)})
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resps, err := adm.CommitOffsets(cctx, group, offs)
		cancel()
		if err == nil {
			err = resps.Error()
		}
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("an offset commit on the full volume got no answer within 5 s")
		case err != nil:
			refused++
			if firstRefusal == nil {
				firstRefusal = err
			}
		default:
			lastOK = at
		}
	}
	t.Logf("offset commits on the full volume, every one answered: the last to go in was %d, %d refused (the first with %v)", lastOK, refused, firstRefusal)
	if code, body := dfGet(t, "http://"+ops+"/health"); code != 200 || !strings.Contains(body, "disk full") {
		t.Errorf("/health on the full volume: %d %q", code, body)
	}
	if _, errs := cons.state(); len(errs) > 0 {
		t.Errorf("the consumer on the full volume: errors %v", errs)
	}

	// The other program's file goes: produce resumes by itself.
	time.Sleep(300 * time.Millisecond)
	freed := time.Now()
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	dfCheckResumed(t, cons, freed, 5*time.Second, fg, sa, kc)
	rcCheckLog(t, p, "writes succeeding again", "writes succeed again")
	// The catalog takes commits again, without a restart.
	offs := make(kadm.Offsets)
	offs.Add(kadm.Offset{Topic: "full", Partition: 0, At: 1000})
	if resps, err := adm.CommitOffsets(fgCtx(t), group, offs); err != nil || resps.Error() != nil {
		t.Fatalf("an offset commit once space was back: %v, %v", err, resps.Error())
	}
	lastOK = 1000
	for _, pr := range []*dfProducer{fg, sa, kc} {
		pr.finish(t)
	}
	if n := len(dfLogLines(p, "ERROR")); n == 0 {
		t.Error("no ERROR line about the full volume")
	}
	acked := dfAcked(fg, sa, kc)
	dfCheckReadable(t, p.addr, "full", 3, acked, "after the volume was full")
	p.stop()
	p = startProc(t, dir, "", "--storage.min.free.bytes=0")
	dfCheckReadable(t, p.addr, "full", 3, acked, "after a restart")
	fetched, err := fgAdmin(t, p.addr).FetchOffsets(fgCtx(t), group)
	if err != nil {
		t.Fatalf("the catalog after the volume was full: %v", err)
	}
	if o, ok := fetched.Lookup("full", 0); !ok || o.At != lastOK {
		t.Errorf("the group's committed offset after a restart: %+v, want %d, the last commit that went in", o, lastOK)
	}
}
