package registry

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the registry's Prometheus metrics: requests by endpoint
// and status with their latency, registrations, and (at scrape time) the
// subjects, schemas and versions the index holds.
type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	registers prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, r *Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_schema_registry_requests_total",
			Help: "Schema registry HTTP requests by endpoint (route pattern) and status code.",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhouse_schema_registry_request_duration_seconds",
			Help:    "Schema registry HTTP request latency by endpoint.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"endpoint"}),
		registers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_schema_registry_registrations_total",
			Help: "Register requests answered with an id (new versions and schemas registered already).",
		}),
	}
	if reg == nil {
		return m
	}
	count := func(fn func(st *state) int) func() float64 {
		return func() float64 {
			r.mu.RLock()
			defer r.mu.RUnlock()
			return float64(fn(r.st))
		}
	}
	reg.MustRegister(m.requests, m.latency, m.registers,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_schema_registry_subjects",
			Help: "Subjects with at least one version not soft-deleted.",
		}, count(func(st *state) int {
			n := 0
			for _, s := range st.subjects {
				if s.live() {
					n++
				}
			}
			return n
		})),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_schema_registry_schemas",
			Help: "Schemas (distinct ids) registered, soft-deleted ones included.",
		}, count((*state).schemaCount)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_schema_registry_versions",
			Help: "Subject versions, soft-deleted ones included.",
		}, count(func(st *state) int {
			n := 0
			for _, s := range st.subjects {
				n += len(s.versions)
			}
			return n
		})),
	)
	return m
}

func (m *metrics) request(endpoint string, code int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

func (m *metrics) registeredOne() { m.registers.Inc() }
