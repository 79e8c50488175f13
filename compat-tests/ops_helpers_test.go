package compattests

// Helpers for the operations tests (metrics_test.go, prometheus_test.go):
// the binary with its HTTP listener on, a /metrics scrape parsed with
// expfmt, and the queries and metric names of the files in deploy/. Names
// start with ops.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// opsDeploy is the deploy/ directory, from compat-tests/ (go test runs in
// the package directory).
const opsDeploy = "../deploy"

// opsBroker is the binary with its HTTP listener on.
type opsBroker struct {
	*proc
	http string // host:port of /metrics, /health, /ready
}

// opsStart starts the binary on a fresh data directory with --http-listen on
// a free loopback port and no initial rebalance delay; extra are more flags.
// It returns once /ready answers 200.
func opsStart(t testing.TB, extra ...string) *opsBroker {
	t.Helper()
	httpAddr := freePort(t)
	args := append([]string{"--http-listen", httpAddr, "--group.initial.rebalance.delay.ms=0"}, extra...)
	b := &opsBroker{proc: startProc(t, t.TempDir(), "", args...), http: httpAddr}
	// The Kafka port accepts (its backlog) a moment before the broker
	// marks itself ready.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, err := opsTryGet(b.url("/ready"))
		if err == nil && code == http.StatusOK {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready: %d %q %v within 10s of the Kafka listener accepting\n%s", code, body, err, b.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *opsBroker) url(path string) string { return "http://" + b.http + path }

var opsHTTP = &http.Client{Timeout: 10 * time.Second}

// opsTryGet GETs url and returns the status and body.
func opsTryGet(url string) (int, string, error) {
	resp, err := opsHTTP.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	return resp.StatusCode, string(body), err
}

// opsGet is opsTryGet failing the test on a transport error.
func opsGet(t testing.TB, url string) (int, string) {
	t.Helper()
	code, body, err := opsTryGet(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return code, body
}

// opsMetrics is one scrape of /metrics by family name.
type opsMetrics map[string]*dto.MetricFamily

// scrape GETs /metrics in the text format and parses it with expfmt.
func (b *opsBroker) scrape(t testing.TB) opsMetrics {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.url("/metrics"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := opsHTTP.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// matches reports whether m carries every label of want (name, value
// pairs).
func opsMatches(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sum adds the values of the counter, gauge or untyped series of family
// name carrying the labels (name, value pairs), and says how many matched.
func (m opsMetrics) sum(name string, labels ...string) (float64, int) {
	f, ok := m[name]
	if !ok {
		return 0, 0
	}
	total, n := 0.0, 0
	for _, s := range f.GetMetric() {
		if !opsMatches(s, labels) {
			continue
		}
		n++
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			total += s.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			total += s.GetGauge().GetValue()
		default:
			total += s.GetUntyped().GetValue()
		}
	}
	return total, n
}

// value is sum for exactly one series: it fails the test when none or
// several match.
func (m opsMetrics) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	v, n := m.sum(name, labels...)
	if n != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, labels, n)
	}
	return v
}

// histCount adds the sample counts of the histogram series of family name
// carrying the labels, and says how many matched.
func (m opsMetrics) histCount(name string, labels ...string) (uint64, int) {
	f, ok := m[name]
	if !ok || f.GetType() != dto.MetricType_HISTOGRAM {
		return 0, 0
	}
	var total uint64
	n := 0
	for _, s := range f.GetMetric() {
		if opsMatches(s, labels) {
			n++
			total += s.GetHistogram().GetSampleCount()
		}
	}
	return total, n
}

// exports reports whether a sample name (a family, or a histogram's or
// summary's _bucket, _count, _sum series) is in the scrape.
func (m opsMetrics) exports(name string) bool {
	if _, ok := m[name]; ok {
		return true
	}
	for _, suf := range []string{"_bucket", "_count", "_sum"} {
		base, ok := strings.CutSuffix(name, suf)
		if !ok {
			continue
		}
		if f, ok := m[base]; ok {
			typ := f.GetType()
			if typ == dto.MetricType_HISTOGRAM || (typ == dto.MetricType_SUMMARY && suf != "_bucket") {
				return true
			}
		}
	}
	return false
}

// opsMetricName finds the metric names the broker could export in a text:
// every streamhouse_*, go_* and process_* word.
var opsMetricName = regexp.MustCompile(`\b(?:streamhouse|go|process)_[a-zA-Z0-9_]+\b`)

// opsDeployMetricNames returns the metric names written anywhere in the
// deploy files (queries, rules, descriptions), each with the files it is
// in.
func opsDeployMetricNames(t testing.TB) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, f := range []string{"prometheus.yml", "alerts.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(opsDeploy, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range opsMetricName.FindAllString(string(b), -1) {
			if !slices.Contains(out[name], f) {
				out[name] = append(out[name], f)
			}
		}
	}
	return out
}

// opsQuery is one PromQL query of the dashboard, with Grafana's variables
// replaced.
type opsQuery struct {
	where string // panel title and refId, or variable name
	expr  string
	label string // for a variable's label_values(expr, label): the label its values come from
}

// opsIntervals are Grafana's interval variables and what the tests put in
// their place.
var opsIntervals = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__range":         "1m",
}

var opsVarRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]`)

// opsExpand replaces Grafana's variables in expr: interval variables by 1m,
// the dashboard's template variables by .* (the dashboard uses them only in
// =~ matchers, with All).
func opsExpand(expr string, vars map[string]bool) (string, error) {
	var bad []string
	out := opsVarRef.ReplaceAllStringFunc(expr, func(ref string) string {
		sm := opsVarRef.FindStringSubmatch(ref)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := opsIntervals[name]; ok {
			return v
		}
		if vars[name] {
			return ".*"
		}
		bad = append(bad, ref)
		return ref
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown Grafana variables %v in %q", bad, expr)
	}
	return out, nil
}

// opsLabelValues parses Grafana's label_values(expr, label).
var opsLabelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*(\w+)\s*\)\s*$`)

// opsDashboardQueries reads deploy/grafana-dashboard.json and returns every
// panel target's expression (panels inside rows included) and every query
// variable's label_values, expanded. It fails the test on a panel without
// targets or a target without an expression.
func opsDashboardQueries(t testing.TB) []opsQuery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(opsDeploy, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	}
	type panel struct {
		Type    string   `json:"type"`
		Title   string   `json:"title"`
		Targets []target `json:"targets"`
		Panels  []panel  `json:"panels"`
	}
	var d struct {
		SchemaVersion int     `json:"schemaVersion"`
		Panels        []panel `json:"panels"`
		Templating    struct {
			List []struct {
				Type  string          `json:"type"`
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("grafana-dashboard.json: schemaVersion %d, want a current one (39)", d.SchemaVersion)
	}
	vars := map[string]bool{}
	hasDatasource := false
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "datasource" && strings.Contains(string(v.Query), "prometheus") {
			hasDatasource = true
		}
	}
	if !hasDatasource {
		t.Errorf("grafana-dashboard.json: no Prometheus datasource variable")
	}

	var out []opsQuery
	expand := func(where, expr, label string) {
		e, err := opsExpand(expr, vars)
		if err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		out = append(out, opsQuery{where: where, expr: e, label: label})
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// The query is a string, or an object holding it (Grafana 10+).
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var o struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &o); err != nil {
				t.Fatalf("variable %s: query %s: %v", v.Name, v.Query, err)
			}
			q = o.Query
		}
		sm := opsLabelValues.FindStringSubmatch(q)
		if sm == nil {
			t.Errorf("variable %s: query %q is not label_values(expr, label)", v.Name, q)
			continue
		}
		expand("variable "+v.Name, sm[1], sm[2])
	}
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no queries", p.Title)
			}
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q %s", p.Title, tg.RefID)
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: no expr", where)
					continue
				}
				expand(where, tg.Expr, "")
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// opsAlertNames returns the alert names of deploy/alerts.yml.
func opsAlertNames(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(opsDeploy, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sm := range regexp.MustCompile(`(?m)^\s*-\s*alert:\s*(\S+)\s*$`).FindAllStringSubmatch(string(b), -1) {
		names = append(names, sm[1])
	}
	if len(names) == 0 {
		t.Fatal("alerts.yml: no alert rules")
	}
	slices.Sort(names)
	return names
}
