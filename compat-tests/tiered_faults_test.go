package compattests

// Tiered storage under faults (issue 19), with the real binary and
// versitygw: the S3 server killed for 30 s under a producing load, half of
// the requests answered 503 SlowDown (internal/s3test's proxy), and the
// broker killed with SIGKILL at each crash point of the upload, the
// catalog record and the sweep (-tags faults).

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/pgtest"
	"github.com/streamhouse/streamhouse/internal/s3test"
)

// TestTieredS3Outage kills the S3 server for 30 s while an idempotent
// acks=all producer writes about 1 MB/s: no produce fails (acks wait for
// the local log only); the upload backlog metric rises through the outage,
// a WARN says local retention keeps what is not uploaded, and a fetch of
// a range only the bucket holds fails with the retriable
// KAFKA_STORAGE_ERROR; once the server is back the backlog drains without
// a restart, and every record reads back from offset 0.
func TestTieredS3Outage(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("the catalog is not what it tests; runs in the default pass")
	}
	srv := s3test.Start(t)
	b := newTierBroker(t, srv)
	b.start()
	const topic = "outage"
	fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, map[string]string{
		"segment.bytes": strconv.Itoa(tierSegment), "local.retention.bytes": strconv.Itoa(tierSegment),
	})

	// The load: 100 records (about 100 KB) every 100 ms, each
	// acknowledged at its offset.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var next atomic.Int64
	var produceErr atomic.Value
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	cl := tierProducer(t, b.addr)
	wg.Go(func() {
		for ctx.Err() == nil {
			from := next.Load()
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			err := tierTryProduce(pctx, cl, topic, from, from+100, time.Time{})
			pcancel()
			if err != nil {
				if ctx.Err() == nil {
					produceErr.Store(err)
				}
				return
			}
			next.Store(from + 100)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	// Uploads work, and some offsets are in the bucket only.
	rc := fgClient(t, b.addr)
	tierEventually(t, tierWait, "a segment uploaded and its local copy removed", func() bool {
		return tierListOffset(t, rc, topic, 0, -4) > 0
	}, func() string { return tail(b.p.logs.String(), 2000) })
	errsBefore := b.metric("streamhouse_remote_storage_errors_total", "op", "put")

	srv.Stop()
	outageFrom := next.Load()
	began := time.Now()
	var samples []float64 // backlog segments, every 500 ms
	var fetchCode int16
	var fetchTook time.Duration
	for time.Since(began) < 30*time.Second {
		segs, _ := b.backlog()
		samples = append(samples, segs)
		if fetchTook == 0 && time.Since(began) > 2*time.Second {
			// A consumer of a range only the bucket holds.
			start := time.Now()
			fetchCode = tierFetchCodeWait(t, b.addr, topic, 0, 500)
			fetchTook = time.Since(start)
		}
		time.Sleep(500 * time.Millisecond)
	}
	outageTo := next.Load()
	segsAtEnd, bytesAtEnd := b.backlog()
	srv.Restart()
	restarted := time.Now()
	var segs, bytes float64
	tierEventually(t, tierWait, "the upload backlog drained", func() bool {
		segs, bytes = b.backlog()
		return segs == 0 && bytes == 0
	}, func() string { return fmt.Sprintf("backlog %v segments, %v bytes", segs, bytes) })
	drained := time.Since(restarted)
	cancel()
	wg.Wait()
	if err := produceErr.Load(); err != nil {
		t.Fatalf("produce failed: %v", err)
	}
	n := next.Load()
	t.Logf("outage: offsets [%d, %d) produced during it; backlog every 500 ms %v; at its end %v segments, %v bytes; drained %v after the server returned; a fetch from the bucket during it: %v in %v",
		outageFrom, outageTo, samples, segsAtEnd, bytesAtEnd, drained.Round(100*time.Millisecond), kerr.ErrorForCode(fetchCode), fetchTook.Round(time.Millisecond))

	// What was produced during the outage, less the active segment and
	// one more, awaited upload at its end; and it rose.
	if during := tierBytes(outageFrom, outageTo); bytesAtEnd < float64(during-2*tierSegment) || segsAtEnd < 3 {
		t.Errorf("backlog at the end of the outage: %v segments, %v bytes; %d bytes of records were produced during it", segsAtEnd, bytesAtEnd, during)
	}
	if len(samples) < 10 || samples[len(samples)-1] <= samples[4] {
		t.Errorf("the backlog did not rise through the outage: %v", samples)
	}
	if fetchCode != kerr.KafkaStorageError.Code {
		t.Errorf("a fetch of offset 0 (in the bucket only) during the outage: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(fetchCode))
	}
	if b.metric("streamhouse_remote_storage_errors_total", "op", "put") <= errsBefore {
		t.Errorf("no failed put counted during the outage")
	}
	if !strings.Contains(b.p.logs.String(), "local retention keeps segments that are not uploaded yet") {
		t.Errorf("no WARN about the upload backlog:\n%s", tail(b.p.logs.String(), 3000))
	}
	// The segments of the outage went up and their local copies went.
	b.waitUploaded(topic, outageFrom)
	tierReadKgo(t, b.addr, topic, 0, n)
}

// tierFetchCodeWait is tierFetchCode with a max wait, from partition 0 at
// offset.
func tierFetchCodeWait(t testing.TB, addr, topic string, offset int64, waitMs int32) int16 {
	t.Helper()
	r := fgDialRaw(t, addr)
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, waitMs, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = 0, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.do(req, 12).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestTieredS3SlowDown runs the broker against versitygw through a proxy
// that faults requests: while a topic is produced and uploaded, a tenth of
// them each are reset mid-request, answered 503 SlowDown and answered 500
// (uploads retry; the bucket ends up holding every segment); then half of
// them are answered 503 SlowDown while franz-go and kcat read the topic
// from offset 0, every byte of it from the bucket (the cache holds 8 MiB
// of a 16 MiB log, so the second reader is as cold as the first): both
// complete, with every record right.
func TestTieredS3SlowDown(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("the catalog is not what it tests; runs in the default pass")
	}
	kcat := requireTool(t, "kcat")
	srv := s3test.Start(t)
	proxy := srv.NewProxy(t)
	b := newTierBroker(t, srv, "--s3-cache-bytes=8388608")
	b.endpoint = proxy.Endpoint()
	b.start()
	const topic = "slowdown"
	id := fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, map[string]string{
		"segment.bytes": strconv.Itoa(tierSegment), "local.retention.bytes": strconv.Itoa(tierSegment),
	}).ID

	proxy.SetFaults(s3test.Faults{Reset: 0.1, SlowDown: 0.1, InternalError: 0.1})
	n := tierRecordsFor(16 << 20)
	tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
	local := b.waitUploaded(topic, 0)
	reqs, faulted := proxy.Counts()
	t.Logf("uploads: %d requests through the proxy, %d faulted; %v puts failed; local log start %d",
		reqs, faulted, b.metric("streamhouse_remote_storage_errors_total", "op", "put"), local)
	if faulted == 0 {
		t.Fatal("no request was faulted during the uploads")
	}
	if _, bases := tierLogBytes(b.objects(fmt.Sprintf("%x", id[:]))); len(bases) == 0 || bases[0] != 0 {
		t.Fatalf("the bucket's segments start at %v, want 0", bases)
	}

	proxy.SetFaults(s3test.Faults{SlowDown: 0.5})
	reqs0, faulted0 := proxy.Counts()
	began := time.Now()
	tierReadKgo(t, b.addr, topic, 0, n)
	kg := time.Since(began)
	began = time.Now()
	tierReadKcat(t, kcat, b.addr, topic, 0, n)
	kc := time.Since(began)
	reqs, faulted = proxy.Counts()
	t.Logf("cold reads under 50%% SlowDown: %d requests, %d answered 503; franz-go read %d records in %v, kcat in %v",
		reqs-reqs0, faulted-faulted0, n, kg.Round(time.Millisecond), kc.Round(time.Millisecond))
	if faulted-faulted0 == 0 {
		t.Fatal("no read request was answered 503")
	}
	if b.metric("streamhouse_remote_storage_errors_total", "op", "get") == 0 {
		t.Errorf("no failed get counted")
	}
}

// TestTieredS3Hang: the bucket stops answering reads (the proxy holds
// every GET unanswered, as a server that hangs or a network that drops
// packets): a fetch of a range only the bucket holds answers the retriable
// KAFKA_STORAGE_ERROR within about its max wait (500 ms; the broker waits
// at least a second), not after the bucket's own timeout (30 s), nor
// never; uploads go on meanwhile. Once the bucket answers again (the held
// requests' connections reset), franz-go and kcat read every record from
// offset 0.
func TestTieredS3Hang(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("the catalog is not what it tests; runs in the default pass")
	}
	kcat := requireTool(t, "kcat")
	srv := s3test.Start(t)
	proxy := srv.NewProxy(t)
	b := newTierBroker(t, srv)
	b.endpoint = proxy.Endpoint()
	b.start()
	const topic = "hang"
	fgCreateTopic(t, fgAdmin(t, b.addr), topic, 1, map[string]string{
		"segment.bytes": strconv.Itoa(tierSegment), "local.retention.bytes": strconv.Itoa(tierSegment),
	})
	n := tierRecordsFor(4 << 20)
	tierProduce(t, tierProducer(t, b.addr), topic, 0, n, time.Time{})
	b.waitUploaded(topic, 0)

	proxy.SetFaults(s3test.Faults{Hang: 1, Methods: []string{http.MethodGet}})
	_, held0 := proxy.Counts()
	for i := range 3 { // the first reader's GET, then readers joining it
		began := time.Now()
		code := tierFetchCodeWait(t, b.addr, topic, 0, 500)
		took := time.Since(began)
		t.Logf("fetch %d of offset 0 while the bucket hangs: %v in %v", i, kerr.ErrorForCode(code), took.Round(time.Millisecond))
		if code != kerr.KafkaStorageError.Code {
			t.Fatalf("fetch of offset 0 (in the bucket only) while the bucket hangs: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
		}
		// Not a speed claim: the bound is the bucket's own timeout
		// (30 s), which a fetch must not wait for.
		if took >= 20*time.Second {
			t.Fatalf("fetch %d with a max wait of 500 ms answered after %v: it waited for the bucket", i, took)
		}
	}
	if _, held := proxy.Counts(); held == held0 {
		t.Fatal("no GET was held")
	}
	// Uploads go on: PUTs are not held.
	tierProduce(t, tierProducer(t, b.addr), topic, n, n+tierRecordsFor(2<<20), time.Time{})
	n += tierRecordsFor(2 << 20)
	b.waitUploaded(topic, 0)

	proxy.SetFaults(s3test.Faults{})
	tierReadKgo(t, b.addr, topic, 0, n)
	tierReadKcat(t, kcat, b.addr, topic, 0, n)
}

// TestTieredCrash kills the broker (SIGKILL at a crash point of a -tags
// faults build) in an upload after its objects were written and before its
// record (tier-upload), right after the record (tier-record), in the
// sweep between object deletions (tier-delete), and after a part of an
// active segment's eager upload (tier-part: its incomplete multipart
// upload must be aborted by the sweep), under the crash tests'
// load of acks=all and acks=1 producers, on a topic whose retention.bytes
// (4 MiB) removes remote segments as it goes. The broker restarted on the
// same data directory, catalog and bucket: every acknowledged record is
// readable at its offset (the crash tests' final read: nothing lost,
// nothing duplicated, offsets contiguous); and once the load stops and
// the sweep has run, the bucket holds exactly the objects of the live
// segment records: no orphan from the cut upload, none of a segment given
// up, none missing.
func TestTieredCrash(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("it reads the SQLite catalog; runs in the default pass")
	}
	for _, tc := range []struct {
		point string
		n     int
		// segment and retention are the topic's segment.bytes and
		// retention.bytes (zero: tierSegment, 4 MiB); flags go to
		// both incarnations.
		segment, retention int
		flags              []string
	}{
		{point: "tier-upload", n: 3},
		{point: "tier-record", n: 3},
		{point: "tier-delete", n: 2},
		// After a part of an active segment's eager upload: segments
		// that hold parts of S3's smallest size.
		{point: "tier-part", n: 1, segment: 6 << 20, retention: 16 << 20, flags: []string{"--s3-part-bytes=5242880"}},
	} {
		t.Run(tc.point, func(t *testing.T) {
			t.Parallel()
			srv := s3test.Start(t)
			tb := newTierBroker(t, srv)
			cb := newCrashBroker(t, binaryFaults(t))
			tb.dir, tb.addr = cb.dir, cb.addr
			topics := []string{"crash"}
			const partitions = 2
			segment, retention := cmp.Or(tc.segment, tierSegment), cmp.Or(tc.retention, 4<<20)

			crashAt := fmt.Sprintf("STREAMHOUSE_CRASH_AT=%s:%d", tc.point, tc.n)
			if err := cb.start(append(srv.Env(), crashAt), tb.args(tc.flags)...); err != nil {
				t.Fatal(err)
			}
			crashCreateTopics(t, cb.addr, topics, partitions, map[string]string{
				"segment.bytes": strconv.Itoa(segment), "local.retention.bytes": strconv.Itoa(segment),
				"retention.bytes": strconv.Itoa(retention),
			})
			load := crashStartLoad(t, cb.addr, topics, partitions, uint64(tc.n)<<8|uint64(len(tc.point)))
			began := time.Now()
			if exited, _ := cb.runFor(fgWait); !exited {
				t.Fatalf("the broker did not reach its crash point within %v:\n%s", fgWait, tail(cb.lastLogs(), 3000))
			}
			if !strings.Contains(cb.lastLogs(), "crash point "+tc.point+" reached") {
				t.Fatalf("the broker exited without reaching the crash point:\n%s", tail(cb.lastLogs(), 3000))
			}

			crashed := time.Since(began)
			// What the kill left: the cut upload's objects without a
			// record (tier-upload), a given-up segment's objects partly
			// deleted (tier-delete).
			cat := tb.catalog()
			left := tb.bucketMatchesCatalog(cat)
			want := map[string]string{"tier-upload": "orphan (no record)", "tier-delete": "given up (record Deleting), still there"}[tc.point]
			if want != "" && !slices.ContainsFunc(left, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Errorf("after the kill at %s the bucket holds no object %s: %v", tc.point, want, left)
			}
			// The cut eager upload's parts: an incomplete multipart
			// upload the sweep must abort.
			cut := tb.multipartUploads()
			if tc.point == "tier-part" && len(cut) == 0 {
				t.Errorf("after the kill at %s the bucket holds no incomplete multipart upload", tc.point)
			}

			cb.cycle = 1
			load.cycle.Store(1)
			if err := cb.start(srv.Env(), tb.args(tc.flags)...); err != nil {
				t.Fatal(err)
			}
			if err := load.waitAcked(fgWait); err != nil {
				t.Fatalf("%v\n%s", err, cb.warnings(20))
			}
			time.Sleep(time.Second) // uploads and retention in the new incarnation
			load.stop()
			acks, failed := load.ledger()

			// The uploads catch up, retention settles, the sweep
			// removes what was given up or never recorded.
			stopped := time.Now()
			var wrong []string
			tierEventually(t, tierWait, "the bucket matches the catalog", func() bool {
				if segs, _ := tb.backlog(); segs > 0 {
					return false
				}
				wrong = tb.bucketMatchesCatalog(cat)
				for _, u := range tb.multipartUploads() {
					if slices.Contains(cut, u) {
						wrong = append(wrong, "a multipart upload of the killed broker not aborted: "+u)
					}
				}
				return len(wrong) == 0
			}, func() string {
				return fmt.Sprintf("%d differences:\n  %s\n%s", len(wrong), strings.Join(wrong[:min(len(wrong), 20)], "\n  "), cb.warnings(20))
			})

			settled := time.Since(stopped)
			describe := func(cycle int) string {
				if cycle == 0 {
					return "the incarnation killed at " + tc.point
				}
				return "the restarted broker"
			}
			v := crashCheck(t, cb.addr, topics, partitions, acks, true, int64(retention), int64(segment), describe)
			objs := tb.objects("")
			t.Logf("killed at %s after %v, leaving %d differences between bucket and catalog; settled %v after the load stopped; %d writes acknowledged, %d failed; the bucket holds %d objects of %d segments",
				tc.point, crashed.Round(time.Millisecond), len(left), settled.Round(time.Millisecond), len(acks), failed, len(objs), len(tierSegments(objs)))
			if v.failed() {
				t.Errorf("%v\nwarnings:\n%s", v, cb.warnings(30))
			}
		})
	}
}
