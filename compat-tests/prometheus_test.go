package compattests

// Prometheus itself (the Debian package's binary) scraping the broker with
// the files in deploy/: the scrape config finds the target, the alert rules
// load and evaluate, and every query of the Grafana dashboard returns data.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// promWait bounds the whole test: the broker, Prometheus's start, its first
// scrapes and every query.
const promWait = 60 * time.Second

// TestPrometheus runs Prometheus on a copy of deploy/prometheus.yml with the
// target, the intervals (1s) and the rule file path rewritten, while a
// producer and a consumer group keep traffic flowing; it waits for the
// target to be up and every alert rule of deploy/alerts.yml to be loaded and
// evaluated without error, then runs every query of
// deploy/grafana-dashboard.json (Grafana's variables replaced) until each
// returns a finite sample.
func TestPrometheus(t *testing.T) {
	t.Parallel()
	promBin := requireTool(t, "prometheus")
	ctx, cancel := context.WithTimeout(context.Background(), promWait)
	t.Cleanup(cancel)

	b := opsStart(t)
	addr := b.addr
	adm := fgAdmin(t, addr)
	const topic, group = "prom", "prom-group"
	fgCreateTopic(t, adm, topic, 2, nil)

	// Traffic before Prometheus starts: records, and one failed produce
	// so that streamhouse_request_errors_total has a series.
	prod := fgClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()))
	var recs []*kgo.Record
	for i := range 20 {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "value %d", i)})
	}
	fgProduceSync(t, prod, recs...)
	raw := fgDialRaw(t, addr)
	bad := raw.produce(9, topic, [16]byte{}, 99, fgBatch(time.Now().UnixMilli(), []byte("x")))
	if err := kerr.ErrorForCode(bad.ErrorCode); !fgIsErr(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("produce to partition 99: %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	cons := fgClient(t, addr,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitInterval(300*time.Millisecond), kgo.FetchMaxWait(200*time.Millisecond))

	// Traffic while Prometheus scrapes, so that every rate is above 0:
	// a record every 100ms, consumed by the group, which commits.
	trafficCtx, stopTraffic := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		trafErr []error
	)
	keep := func(err error) {
		if err != nil && trafficCtx.Err() == nil {
			errMu.Lock()
			trafErr = append(trafErr, err)
			errMu.Unlock()
		}
	}
	stop := func() {
		stopTraffic()
		wg.Wait()
	}
	t.Cleanup(stop) // before the clients close and the broker stops
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; trafficCtx.Err() == nil; i++ {
			r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "bg%d", i), Value: []byte("background")}
			keep(prod.ProduceSync(trafficCtx, r).FirstErr())
			select {
			case <-trafficCtx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	go func() {
		defer wg.Done()
		for trafficCtx.Err() == nil {
			fs := cons.PollFetches(trafficCtx)
			if fs.IsClientClosed() {
				return
			}
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
					keep(fmt.Errorf("consume %s/%d: %w", topic, p, err))
				}
			})
		}
	}()

	prom := startPrometheus(t, promBin, b.http)

	// The target is up.
	prom.poll(ctx, "target "+b.http+" up", func() (bool, string) {
		var d struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				ScrapeURL string            `json:"scrapeUrl"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		}
		if err := prom.get(ctx, "/api/v1/targets", nil, &d); err != nil {
			return false, err.Error()
		}
		for _, tg := range d.ActiveTargets {
			if tg.Labels["instance"] == b.http {
				return tg.Health == "up" && tg.Labels["job"] == "streamhouse",
					fmt.Sprintf("job %q health %q %s", tg.Labels["job"], tg.Health, tg.LastError)
			}
		}
		return false, fmt.Sprintf("no target for %s in %+v", b.http, d.ActiveTargets)
	})

	// Every alert rule is loaded, and has been evaluated without error.
	want := opsAlertNames(t)
	prom.poll(ctx, "alert rules loaded and evaluated", func() (bool, string) {
		var d struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Type      string `json:"type"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := prom.get(ctx, "/api/v1/rules", nil, &d); err != nil {
			return false, err.Error()
		}
		var got, notOK []string
		for _, g := range d.Groups {
			for _, r := range g.Rules {
				if r.Type != "alerting" {
					continue
				}
				got = append(got, r.Name)
				if r.Health != "ok" {
					notOK = append(notOK, fmt.Sprintf("%s: health %q %s", r.Name, r.Health, r.LastError))
				}
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return false, fmt.Sprintf("alerting rules %v, want %v", got, want)
		}
		return len(notOK) == 0, strings.Join(notOK, "; ")
	})

	// Every dashboard query returns data: a finite sample for a panel
	// query, a value of its label for a variable's label_values.
	queries := opsDashboardQueries(t)
	if len(queries) < 10 {
		t.Fatalf("only %d queries in the dashboard", len(queries))
	}
	last := make([]string, len(queries))
	done := make([]bool, len(queries))
	prom.poll(ctx, "every dashboard query returns data", func() (bool, string) {
		var pending []string
		for i, q := range queries {
			if done[i] {
				continue
			}
			done[i], last[i] = prom.hasData(ctx, q)
			if !done[i] {
				pending = append(pending, fmt.Sprintf("%s: %s\n    %s", q.where, q.expr, last[i]))
			}
		}
		return len(pending) == 0, strings.Join(pending, "\n  ")
	})
	t.Logf("%d dashboard queries returned data", len(queries))

	stop()
	for _, err := range trafErr {
		t.Errorf("background traffic: %v", err)
	}
}

// TestPromtool checks deploy/ as an operator would before deploying it:
// promtool (from the same package as Prometheus) accepts the scrape config,
// finds the rule file by its path relative to the config from another
// working directory, and accepts the rules.
func TestPromtool(t *testing.T) {
	t.Parallel()
	promtool := requireTool(t, "promtool")
	out := runTool(t, 30*time.Second, nil, promtool, "check", "config", filepath.Join(opsDeploy, "prometheus.yml"))
	if !strings.Contains(out, "1 rule files found") {
		t.Errorf("promtool check config: the rule file was not found:\n%s", out)
	}
	out = runTool(t, 30*time.Second, nil, promtool, "check", "rules", filepath.Join(opsDeploy, "alerts.yml"))
	if want := fmt.Sprintf("%d rules found", len(opsAlertNames(t))); !strings.Contains(out, want) {
		t.Errorf("promtool check rules: want %q in:\n%s", want, out)
	}
}

// promServer is Prometheus running as a child process.
type promServer struct {
	t    testing.TB
	base string
	logs *syncBuffer
	done chan error
}

// startPrometheus writes a copy of deploy/prometheus.yml that scrapes the
// broker's HTTP listener at target every second, evaluates rules every
// second and loads deploy/alerts.yml by its absolute path, and starts
// Prometheus on it on a free loopback port, killed when the test ends.
func startPrometheus(t testing.TB, bin, target string) *promServer {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(opsDeploy, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(filepath.Join(opsDeploy, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(cfg)
	for _, r := range [][2]string{
		{"scrape_interval: 15s", "scrape_interval: 1s"},
		{"evaluation_interval: 15s", "evaluation_interval: 1s"},
		{"- alerts.yml", "- " + strconv.Quote(rules)},
		{`"127.0.0.1:9644"`, strconv.Quote(target)},
	} {
		if n := strings.Count(s, r[0]); n != 1 {
			t.Fatalf("deploy/prometheus.yml has %q %d times, want once (this test rewrites it)", r[0], n)
		}
		s = strings.Replace(s, r[0], r[1], 1)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}

	listen := freePort(t)
	p := &promServer{t: t, base: "http://" + listen, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd := exec.Command(bin,
		"--config.file="+path,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+listen,
		"--log.level=warn")
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s\nconfig:\n%s", tail(p.logs.String(), 4000), s)
		}
	})
	return p
}

// get calls Prometheus's HTTP API and decodes the data of a successful
// answer into v.
func (p *promServer) get(ctx context.Context, path string, q url.Values, v any) error {
	u := p.base + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := opsHTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var r struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s: %s", path, resp.Status, r.ErrorType, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// hasData runs q as an instant query and reports whether it returned data,
// with a description of what it returned.
func (p *promServer) hasData(ctx context.Context, q opsQuery) (bool, string) {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {q.expr}}, &d); err != nil {
		return false, err.Error()
	}
	if d.ResultType != "vector" {
		return false, fmt.Sprintf("result type %s, want vector: %s", d.ResultType, d.Result)
	}
	var samples []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	}
	if err := json.Unmarshal(d.Result, &samples); err != nil {
		return false, err.Error()
	}
	if len(samples) == 0 {
		return false, "empty result"
	}
	for _, s := range samples {
		if q.label != "" {
			if s.Metric[q.label] != "" {
				return true, ""
			}
			continue
		}
		str, _ := s.Value[1].(string)
		if v, err := strconv.ParseFloat(str, 64); err == nil && !math.IsNaN(v) && !math.IsInf(v, 0) {
			return true, ""
		}
	}
	if q.label != "" {
		return false, fmt.Sprintf("no %s label in %s", q.label, tail(string(d.Result), 300))
	}
	return false, "no finite sample in " + tail(string(d.Result), 300)
}

// poll calls check every 250ms until it reports true, failing the test
// with check's last description when ctx ends first.
func (p *promServer) poll(ctx context.Context, what string, check func() (bool, string)) {
	p.t.Helper()
	for {
		select {
		case err := <-p.done:
			p.t.Fatalf("prometheus exited (%v) waiting for %s:\n%s", err, what, tail(p.logs.String(), 4000))
		default:
		}
		ok, why := check()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("%s: not within %v:\n  %s", what, promWait, why)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
