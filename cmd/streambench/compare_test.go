package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMain lets compare run this test binary as its kfake-server child,
// as it runs streambench's own binary outside tests.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == modeKfakeServer {
		os.Exit(runMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestRoundOrder(t *testing.T) {
	for _, c := range []struct {
		name   string
		fsync  string
		rounds int
		want   [][]target
	}{
		{"two alternate", "on", 3, [][]target{
			{targetFsync, targetKfake},
			{targetKfake, targetFsync},
			{targetFsync, targetKfake},
		}},
		{"three turn", "both", 4, [][]target{
			{targetFsync, targetNoFsync, targetKfake},
			{targetNoFsync, targetKfake, targetFsync},
			{targetKfake, targetFsync, targetNoFsync},
			{targetFsync, targetNoFsync, targetKfake},
		}},
		{"fsync off", "off", 2, [][]target{
			{targetNoFsync, targetKfake},
			{targetKfake, targetNoFsync},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := targets(c.fsync)
			for round, want := range c.want {
				if got := roundOrder(ts, round); !slices.Equal(got, want) {
					t.Errorf("round %d: %v, want %v", round, got, want)
				}
			}
		})
	}
}

func TestMedianAndRatio(t *testing.T) {
	for _, c := range []struct {
		name   string
		a, b   []float64
		medA   float64
		ratio  float64 // 0: none
		hasOne bool
	}{
		{"odd counts", []float64{3, 1, 2}, []float64{10, 1, 1}, 2, 2, true},
		{"even count: the middle two's mean", []float64{1, 4, 2, 3}, []float64{1, 1}, 2.5, 2.5, true},
		{"medians, not means", []float64{100, 1, 2}, []float64{1, 2, 4}, 2, 1, true},
		{"rounded", []float64{2}, []float64{3}, 2, 0.667, true},
		{"no peer figure", []float64{5}, []float64{0}, 5, 0, false},
		{"no runs", nil, nil, 0, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if m := median(c.a); m != c.medA {
				t.Errorf("median(%v) = %v, want %v", c.a, m, c.medA)
			}
			r := ratioOfMedians(c.a, c.b)
			if (r != nil) != c.hasOne || r != nil && *r != c.ratio {
				t.Errorf("ratioOfMedians(%v, %v) = %v, want %v (%v)", c.a, c.b, r, c.ratio, c.hasOne)
			}
		})
	}
	// median leaves its argument alone.
	xs := []float64{3, 1, 2}
	median(xs)
	if !slices.Equal(xs, []float64{3, 1, 2}) {
		t.Fatalf("median sorted its argument: %v", xs)
	}
}

func TestCompareSummary(t *testing.T) {
	cfg, _, err := parseArgs([]string{"compare", "--records", "10", "--fsync", "on"}, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	cpu := func(f float64) *float64 { return &f }
	rss := func(n int64) *int64 { return &n }
	cmp := &comparer{cfg: cfg, targets: targets(cfg.fsync), runs: []runJSON{
		{Round: 1, Broker: targetFsync, MBPerSec: 600, RecordsPerSec: 6000, BrokerCPUSeconds: cpu(2), BrokerPeakRSSBytes: rss(10), Latency: &latencyJSON{P50: 1, P99: 3}},
		{Round: 1, Broker: targetKfake, MBPerSec: 300, RecordsPerSec: 3000, BrokerCPUSeconds: cpu(4), BrokerPeakRSSBytes: rss(99), Latency: &latencyJSON{P50: 0.5, P99: 1}},
		{Round: 2, Broker: targetKfake, MBPerSec: 500, RecordsPerSec: 5000, BrokerCPUSeconds: cpu(6), BrokerPeakRSSBytes: rss(98), Latency: &latencyJSON{P50: 0.5, P99: 3}},
		{Round: 2, Broker: targetFsync, MBPerSec: 800, RecordsPerSec: 8000, BrokerCPUSeconds: cpu(3), BrokerPeakRSSBytes: rss(12), Errors: 1, Latency: &latencyJSON{P50: 2, P99: 5}},
	}}
	s := cmp.summarize(false)
	if s.Rounds != 2 || s.Errors != 1 || s.Config.Partitions != comparePartitions || s.Config.Records != 10 || len(s.Brokers) != 2 {
		t.Fatalf("summary %+v", s)
	}
	sh, kf := s.Brokers[0], s.Brokers[1]
	if sh.Broker != targetFsync || sh.Runs != 2 || sh.MedianMBPerSec != 700 || sh.MedianRecordsPerSec != 7000 || *sh.MedianCPUSeconds != 2.5 || *sh.PeakRSSBytes != 12 {
		t.Fatalf("streamhouse %+v", sh)
	}
	if kf.Broker != targetKfake || kf.MedianMBPerSec != 400 || *kf.PeakRSSBytes != 99 {
		t.Fatalf("kfake %+v", kf)
	}
	if *sh.MedianP50Ms != 1.5 || *sh.MedianP99Ms != 4 || *kf.MedianP99Ms != 2 {
		t.Fatalf("latency medians: streamhouse %+v, kfake %+v", sh, kf)
	}
	if len(s.Comparisons) != 1 || *s.Comparisons[0].MBPerSecRatio != 1.75 || *s.Comparisons[0].RecordsPerSecRatio != 1.75 || *s.Comparisons[0].P99Ratio != 2 {
		t.Fatalf("comparisons %+v", s.Comparisons)
	}
	if text := s.text(); !strings.Contains(text, "streamhouse-fsync / kfake: 1.75x MB/s, 1.75x records/s, 2.00x latency p99") {
		t.Fatalf("text %q", text)
	}
}

func TestBrokerAddr(t *testing.T) {
	for _, c := range []struct {
		line string
		of   func(string) (string, bool)
		want string // "": none
	}{
		{`{"time":"x","level":"INFO","msg":"streamhouse started","listen":"127.0.0.1:4567","data_dir":"d"}`, streamhouseAddr, "127.0.0.1:4567"},
		{`{"level":"INFO","msg":"catalog opened","listen":"127.0.0.1:1"}`, streamhouseAddr, ""},
		{`streamhouse started listen=127.0.0.1:1`, streamhouseAddr, ""},
		{kfakeListening + "127.0.0.1:999", kfakeAddr, "127.0.0.1:999"},
		{"something else", kfakeAddr, ""},
	} {
		got, ok := c.of(c.line)
		if ok != (c.want != "") || got != c.want {
			t.Errorf("%q: %q, %v; want %q", c.line, got, ok, c.want)
		}
	}
}

func TestCompareUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"compare"}, "compare needs --records N or --duration D"},
		{[]string{"compare", "--records", "1", "--rounds", "0"}, "--rounds must be between 1 and"},
		{[]string{"compare", "--records", "1", "--fsync", "maybe"}, "--fsync must be both, on or off"},
		{[]string{"compare", "--records", "1", "--bootstrap", "h:1"}, "--bootstrap does not apply to compare"},
		{[]string{"compare", "--records", "1", "--pid", "1"}, "--pid does not apply to compare"},
		{[]string{"compare", "--records", "1", "--consumers", "2"}, "--consumers does not apply to compare"},
		{[]string{"produce", "--records", "1", "--rounds", "2"}, "--rounds does not apply to produce"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), c.args, noEnv, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
	cfg, _, err := parseArgs([]string{"compare", "--duration", "1s", "--acks", "1"}, noEnv)
	if err != nil || cfg.rounds != 5 || cfg.fsync != "both" || cfg.partitions != comparePartitions || cfg.idempotent {
		t.Fatalf("compare defaults: %+v, %v", cfg, err)
	}
}

// TestCompare runs compare against a streamhouse binary it builds and a
// kfake-server child (this test binary; see TestMain): 2 rounds of each
// broker, a few thousand records each.
func TestCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("builds streamhouse and starts 6 brokers")
	}
	t.Parallel()
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"compare", "--records", "3000", "--record-size", "100", "--partitions", "3", "--rounds", "2",
		"--data-dir", dataDir, "--timeout", "20s"}, noEnv, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	var s compareSummary
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || dec.More() {
		t.Fatalf("summary: %v (more: %v)", err, dec.More())
	}
	if s.Mode != modeCompare || s.Rounds != 2 || len(s.Runs) != 6 || s.Errors != 0 || s.Interrupted || s.Config.Partitions != 3 {
		t.Fatalf("summary %+v", s)
	}
	for i, r := range s.Runs {
		want := roundOrder(targets("both"), i/3)[i%3]
		if r.Round != i/3+1 || r.Position != i%3+1 || r.Broker != want {
			t.Errorf("run %d: round %d position %d %s; want round %d position %d %s", i, r.Round, r.Position, r.Broker, i/3+1, i%3+1, want)
		}
		if r.Records != 3000 || r.Errors != 0 || r.MBPerSec <= 0 || r.RecordsPerSec <= 0 || r.Latency == nil {
			t.Errorf("run %d: %+v", i, r)
		}
		if runtime.GOOS == "linux" && (r.BrokerCPUSeconds == nil || r.BrokerPeakRSSBytes == nil || *r.BrokerPeakRSSBytes <= 0) {
			t.Errorf("run %d: no broker figures: %+v", i, r)
		}
	}
	if len(s.Comparisons) != 2 || s.Comparisons[0].Broker != targetFsync || s.Comparisons[1].Broker != targetNoFsync {
		t.Fatalf("comparisons %+v", s.Comparisons)
	}
	for _, c := range s.Comparisons {
		if c.Peer != targetKfake || c.MBPerSecRatio == nil || *c.MBPerSecRatio <= 0 || c.RecordsPerSecRatio == nil {
			t.Errorf("comparison %+v", c)
		}
	}
	if e := stderr.String(); strings.Count(e, "round ") != 6 || !strings.Contains(e, "streamhouse-fsync / kfake: ") {
		t.Errorf("stderr %q", e)
	}
	// Each run's data directory, and the built binary, are gone.
	if left, _ := os.ReadDir(dataDir); len(left) != 0 {
		t.Errorf("left in --data-dir: %v", left)
	}
}
