package compattests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/pgtest"
)

// TestCatalogOutage runs the binary on a PostgreSQL catalog reached through
// a proxy the test controls, under an idempotent acks=all producer and a
// committer, and takes PostgreSQL away twice: refused (the server stopped
// or restarting, every connection cut) and silent (the traffic dropped).
// Throughout, produce goes on without an error; during each outage commits
// fail with COORDINATOR_NOT_AVAILABLE within their 5 s bound, /ready
// answers 503 and the log has one ERROR line; once PostgreSQL is back,
// commits succeed without a restart, and at the end every acknowledged
// commit and record is there.
func TestCatalogOutage(t *testing.T) {
	t.Parallel()
	if pgtest.Enabled() {
		t.Skip("runs on PostgreSQL in the default pass already")
	}
	proxy := pgtest.NewProxy(t)
	url := proxy.URL(t)
	httpAddr := freePort(t)
	p := startProcWith(t, binary(t), nil, t.TempDir(), "", "--metadata", "postgres", "--database-url", url, "--http-listen", httpAddr)
	const topic = "outage"
	topicID := fgCreateTopic(t, fgAdmin(t, p.addr), topic, 2, nil).ID

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The producer: every record acknowledged is counted; an error is a
	// failure, since the catalog is not on the data path.
	pr := fgClient(t, p.addr, kgo.DefaultProduceTopic(topic), kgo.RecordRetries(3))
	var acked atomic.Int64
	var produceErr atomic.Value
	wg.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			err := pr.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr()
			if err != nil {
				if ctx.Err() == nil {
					produceErr.CompareAndSwap(nil, err)
				}
				return
			}
			acked.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
	})

	// The committer: raw OffsetCommits to the broker (a kgo.Client's
	// Request would retry COORDINATOR_NOT_AVAILABLE itself and hide the
	// broker's answer), one every 50 ms with a rising offset.
	cm := fgClient(t, p.addr)
	var lastOK atomic.Int64
	type failure struct {
		code int16
		took time.Duration
	}
	var mu sync.Mutex
	var failures []failure
	var other []error
	commit := func(offset int64) {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = "outage-group", -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID // v10 names topics by ID
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, offset, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		start := time.Now()
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		kresp, err := cm.Broker(1).Request(rctx, req)
		var resp *kmsg.OffsetCommitResponse
		if err == nil {
			resp = kresp.(*kmsg.OffsetCommitResponse)
		}
		rcancel()
		took := time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			other = append(other, err)
		case resp.Topics[0].Partitions[0].ErrorCode == 0:
			lastOK.Store(offset)
		default:
			failures = append(failures, failure{resp.Topics[0].Partitions[0].ErrorCode, took})
		}
	}
	wg.Go(func() {
		for off := int64(1); ctx.Err() == nil; off++ {
			commit(off)
			time.Sleep(50 * time.Millisecond)
		}
	})

	ready := func() int {
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor := func(what string, limit time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within %v\n%s", what, limit, tail(p.logs.String(), 3000))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	for round, mode := range []string{"refused", "silent"} {
		// The producer too: an idempotent producer that has no producer
		// id yet when the catalog goes cannot get one during the outage.
		waitFor("commits succeed and records are acknowledged before the outage", 10*time.Second, func() bool { return lastOK.Load() > 0 && acked.Load() > 0 })
		before := lastOK.Load()
		ackedBefore := acked.Load()
		mu.Lock()
		failedBefore := len(failures)
		mu.Unlock()
		switch mode {
		case "refused":
			proxy.Refuse(true)
			proxy.Cut()
		case "silent":
			proxy.Blackhole(true)
		}
		waitFor("/ready says not ready", 15*time.Second, func() bool { return ready() == http.StatusServiceUnavailable })
		waitFor("commits fail", 30*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(failures) > failedBefore+1 })
		time.Sleep(2 * time.Second)
		if a := acked.Load(); a <= ackedBefore {
			t.Errorf("%s outage: no record acknowledged during it (%d before, %d now)", mode, ackedBefore, a)
		}
		switch mode {
		case "refused":
			proxy.Refuse(false)
		case "silent":
			proxy.Blackhole(false)
			proxy.Cut()
		}
		waitFor("commits succeed again", 20*time.Second, func() bool { return lastOK.Load() > before })
		waitFor("/ready says ready", 15*time.Second, func() bool { return ready() == http.StatusOK })
		if n := strings.Count(p.logs.String(), "CATALOG UNAVAILABLE"); n != round+1 {
			t.Errorf("after outage %d: %d ERROR lines about the catalog, want one per outage\n%s", round+1, n, tail(p.logs.String(), 3000))
		}
		if n := strings.Count(p.logs.String(), "catalog available again"); n != round+1 {
			t.Errorf("after outage %d: %d INFO lines about the recovery, want one per outage", round+1, n)
		}
	}
	cancel()
	wg.Wait()
	if err := produceErr.Load(); err != nil {
		t.Fatalf("produce failed during an outage: %v", err)
	}
	mu.Lock()
	for _, f := range failures {
		if f.code != kerr.CoordinatorNotAvailable.Code {
			t.Errorf("a commit failed with %v, want COORDINATOR_NOT_AVAILABLE", kerr.ErrorForCode(f.code))
		}
		if f.took > 8*time.Second {
			t.Errorf("a failed commit took %v, past its 5 s bound", f.took)
		}
	}
	if len(other) > 0 {
		t.Errorf("commit requests failed outright (the broker should answer): %v", other[0])
	}
	t.Logf("%d records acknowledged; %d commits failed during the outages; last acknowledged commit %d", acked.Load(), len(failures), lastOK.Load())
	mu.Unlock()

	// Every acknowledged commit is stored: the committed offset is at
	// least the last one acknowledged (offsets rise; a commit refused or
	// cut off by the end of the test may have landed too, as with Kafka).
	fetched, err := fgAdmin(t, p.addr).FetchOffsets(fgCtx(t), "outage-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fetched.Lookup(topic, 0); o.At < lastOK.Load() {
		t.Errorf("committed offset %d, below the last acknowledged %d", o.At, lastOK.Load())
	}
	got := fgConsume(t, p.addr, topic, 2, int(acked.Load()))
	if n := len(got[0]) + len(got[1]); int64(n) != acked.Load() {
		t.Errorf("%d records read, %d acknowledged", n, acked.Load())
	}
}
