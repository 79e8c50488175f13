package main

// Runs against a real broker (brokertest): produce, consume back, e2e
// with a rate, and failures.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// benchRun runs streambench with args against addr and returns its exit
// code, its summary (decoded strictly: a renamed field fails) and its
// standard error.
func benchRun(t *testing.T, addr string, args ...string) (int, summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, append(args, "--bootstrap", addr, "--timeout", "10s"), noEnv, &stdout, &stderr)
	var s summary
	if stdout.Len() > 0 {
		if n := strings.Count(stdout.String(), "\n"); n != 1 || !strings.HasSuffix(stdout.String(), "\n") {
			t.Fatalf("%q: stdout should be one line, is %d: %q", args, n, stdout.String())
		}
		dec := json.NewDecoder(&stdout)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("%q: summary: %v", args, err)
		}
	}
	return code, s, stderr.String()
}

// benchOK runs streambench and fails unless it succeeded quietly
// (standard error is no terminal here: no progress lines).
func benchOK(t *testing.T, addr string, args ...string) summary {
	t.Helper()
	code, s, stderr := benchRun(t, addr, args...)
	if code != 0 || stderr != "" || s.Mode != args[0] {
		t.Fatalf("%q: exit %d, stderr %q, summary %+v", args, code, stderr, s)
	}
	if s.Errors != 0 || s.Interrupted || s.Seconds <= 0 || s.Records > 0 && (s.RecordsPerSec <= 0 || s.MBPerSec <= 0) {
		t.Fatalf("%q: summary %+v", args, s)
	}
	return s
}

// checkLatency fails unless l is positive and ordered.
func checkLatency(t *testing.T, what string, l *latencyJSON) {
	t.Helper()
	if l == nil || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.P999 || l.P999 > l.Max || l.Mean <= 0 || l.Mean > l.Max {
		t.Fatalf("%s latency %+v: want 0 < p50 <= p90 <= p99 <= p99.9 <= max", what, l)
	}
}

func TestProduceThenConsume(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	args := []string{"produce", "--topic", "pc", "--records", "20000", "--record-size", "100", "--partitions", "3", "--producers", "2"}
	if runtime.GOOS == "linux" {
		args = append(args, "--pid", strconv.Itoa(os.Getpid())) // the broker runs in this process
	}
	p := benchOK(t, b.Addr(), args...)
	if p.Records != 20000 || p.Bytes != 2_000_000 || p.Config.Partitions != 3 || p.Config.Producers != 2 || p.Topic != "pc" {
		t.Fatalf("produce: %+v", p)
	}
	checkLatency(t, "produce", p.Latency)
	if p.SendLag != nil {
		t.Fatalf("produce without a rate reported a send lag %+v", p.SendLag)
	}
	if runtime.GOOS == "linux" && (p.BrokerCPUSeconds == nil || *p.BrokerCPUSeconds <= 0 || p.BrokerPeakRSSBytes == nil || *p.BrokerPeakRSSBytes <= 0) {
		t.Fatalf("--pid: broker cpu %v rss %v", p.BrokerCPUSeconds, p.BrokerPeakRSSBytes)
	}

	// Back to the end offsets, with the partitions dealt to 2 consumers.
	c := benchOK(t, b.Addr(), "consume", "--topic", "pc", "--consumers", "2")
	if c.Records != 20000 || c.Bytes != 2_000_000 || c.Latency != nil || c.Config.Consumers != 2 {
		t.Fatalf("consume: %+v", c)
	}
	// Exactly --records, over 3 consumers.
	c = benchOK(t, b.Addr(), "consume", "--topic", "pc", "--consumers", "3", "--records", "5000")
	if c.Records != 5000 || c.Bytes != 500_000 {
		t.Fatalf("consume --records 5000: %+v", c)
	}

	// The topic exists: --partitions differs, and is said to be ignored.
	code, s, stderr := benchRun(t, b.Addr(), "produce", "--topic", "pc", "--records", "100", "--partitions", "5", "--acks", "1", "--compression", "zstd")
	if code != 0 || s.Records != 100 || s.Config.Partitions != 3 || *s.Config.Idempotent || !strings.Contains(stderr, "--partitions 5 ignored") {
		t.Fatalf("existing topic: exit %d %+v %q", code, s, stderr)
	}
	// acks=1 is answered before the fsync that makes the records visible:
	// wait for them by count rather than reading to the end offsets.
	c = benchOK(t, b.Addr(), "consume", "--topic", "pc", "--records", "20100")
	if c.Records != 20100 {
		t.Fatalf("consume after 100 more: %d records", c.Records)
	}
}

func TestE2EWithRate(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	s := benchOK(t, b.Addr(), "e2e", "--topic", "e2e", "--rate", "2000", "--duration", "1s", "--record-size", "100",
		"--partitions", "3", "--consumers", "2", "--producers", "2")
	if s.Records != 2000 || s.Produced == nil || *s.Produced != 2000 || s.Bytes != 200_000 {
		t.Fatalf("e2e: %+v", s)
	}
	checkLatency(t, "end-to-end", s.Latency)
	checkLatency(t, "produce", s.ProduceLatency)
	// The send lag is part of each record's end-to-end latency (from
	// its scheduled time), never above it. (Its produce latency counts
	// from the hand-over under the default --pacing app: a record late
	// to the client can be acknowledged in less than its lag.)
	if s.SendLag == nil || s.SendLag.Max > s.Latency.Max || s.SendLag.P50 < 0 {
		t.Fatalf("send lag %+v against end-to-end latency %+v", s.SendLag, s.Latency)
	}
	// 2000 records due over 1s: the run lasts about that, plus the last
	// one's trip.
	if s.Seconds < 0.999 || s.Seconds > 3 || s.RecordsPerSec < 2000/3.0 || s.RecordsPerSec > 2001 {
		t.Fatalf("e2e at 2000/s for 1s: %.3fs, %.0f records/s", s.Seconds, s.RecordsPerSec)
	}
	// A record is consumed after it is acknowledged (acks=all: durable,
	// then visible), so its end-to-end latency is at least its produce
	// latency; compare the medians loosely.
	if s.Latency.P50 < s.ProduceLatency.P50/2 {
		t.Fatalf("e2e p50 %.3fms below produce p50 %.3fms", s.Latency.P50, s.ProduceLatency.P50)
	}
}

func TestFailures(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)

	// Consuming a topic that does not exist.
	code, _, stderr := benchRun(t, b.Addr(), "consume", "--topic", "nope")
	if code != 1 || !strings.Contains(stderr, `topic "nope" does not exist`) {
		t.Fatalf("missing topic: exit %d, %q", code, stderr)
	}
	// More consumers than partitions.
	benchOK(t, b.Addr(), "produce", "--topic", "two", "--partitions", "2", "--records", "10", "--record-size", "16")
	code, _, stderr = benchRun(t, b.Addr(), "e2e", "--topic", "two", "--consumers", "3", "--records", "10")
	if code != 2 || !strings.Contains(stderr, "--consumers 3 is more than the 2 partitions") {
		t.Fatalf("consumers > partitions: exit %d, %q", code, stderr)
	}

	// Records the broker refuses (larger than the topic's
	// max.message.bytes) are counted, reported, and fail the run.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	small := "1000"
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 1, 1, map[string]*string{"max.message.bytes": &small}, "small"); err != nil {
		t.Fatal(err)
	}
	code, s, stderr := benchRun(t, b.Addr(), "produce", "--topic", "small", "--records", "50", "--record-size", "2000", "--linger", "0s")
	if code != 1 || s.Errors != 50 || s.Records != 0 || !strings.Contains(stderr, "50 errors, first:") || !strings.Contains(stderr, "MESSAGE_TOO_LARGE") {
		t.Fatalf("refused records: exit %d, summary %+v, stderr %q", code, s, stderr)
	}
}

// TestInterrupt: cancelling the context (SIGINT in main) ends a run
// early with a summary of what was done; e2e still consumes what was
// acknowledged.
func TestInterrupt(t *testing.T) {
	t.Parallel()
	b := brokertest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"e2e", "--bootstrap", b.Addr(), "--rate", "100", "--duration", "1m", "--record-size", "16"}, noEnv, &stdout, &stderr)
	var s summary
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil || code != 0 || !s.Interrupted || s.Errors != 0 {
		t.Fatalf("exit %d, summary %+v (%v), stderr %q", code, s, err, stderr.String())
	}
	// Setup takes part of the second before the clock starts.
	if *s.Produced < 1 || *s.Produced > 101 || s.Records != *s.Produced || time.Since(start) > 5*time.Second {
		t.Fatalf("interrupted after 1s at 100/s: %d produced, %d consumed, took %v", *s.Produced, s.Records, time.Since(start))
	}
}
