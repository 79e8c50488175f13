package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Catalog holds the catalog's metrics: how long its calls take and how
// many fail, by method, and whether it is reachable. Build it with
// Broker.Catalog; a nil *Catalog records nothing.
type Catalog struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// Catalog registers the catalog's metrics with b and returns them;
// available, when not nil, reports whether the catalog is reachable now
// (streamhouse_catalog_available, read at each scrape). Call it once.
func (b *Broker) Catalog(available func() bool) *Catalog {
	if b == nil {
		return nil
	}
	c := &Catalog{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhouse_catalog_duration_seconds",
			Help:    "Catalog calls' duration, by method (CommitOffsets, CreateTopic, ...), failures included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"method"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_catalog_errors_total",
			Help: "Catalog calls that failed, by method.",
		}, []string{"method"}),
	}
	b.reg.MustRegister(c.duration, c.errors)
	if available != nil {
		b.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_catalog_available",
			Help: "1 while the catalog is reachable, 0 during an outage.",
		}, func() float64 {
			if available() {
				return 1
			}
			return 0
		}))
	}
	return c
}

// Observe records one catalog call.
func (c *Catalog) Observe(method string, took time.Duration, err error) {
	if c == nil {
		return
	}
	c.duration.WithLabelValues(method).Observe(took.Seconds())
	if err != nil {
		c.errors.WithLabelValues(method).Inc()
	}
}
