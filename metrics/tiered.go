package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Tiered holds tiered storage's metrics: object-store calls by operation
// (count, bytes, latency, errors), and what awaits upload and what the
// bucket holds, read at each scrape. Build it with Broker.Tiered; a nil
// *Tiered records nothing.
type Tiered struct {
	reg      *prometheus.Registry
	calls    *prometheus.CounterVec
	errors   *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// TieredSource is what the scrape reads from tiered storage.
type TieredSource interface {
	// Backlog is the closed local segments not uploaded yet.
	Backlog() (segments int, bytes int64)
	// RemoteBytes is what the bucket holds for the open logs.
	RemoteBytes() int64
	// CacheStats counts reads of remote chunks: served from the cache,
	// fetched for a waiting read, fetched ahead; and the bytes cached.
	CacheStats() (hits, misses, prefetches, bytes int64)
}

// Tiered registers tiered storage's metrics with b and returns them.
func (b *Broker) Tiered() *Tiered {
	if b == nil {
		return nil
	}
	t := &Tiered{
		reg: b.reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_remote_storage_requests_total",
			Help: "Object-store requests of tiered storage, by operation (put, get, stat, delete).",
		}, []string{"op"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_remote_storage_errors_total",
			Help: "Object-store requests that failed, by operation.",
		}, []string{"op"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_remote_storage_bytes_total",
			Help: "Bytes uploaded (put) and downloaded (get).",
		}, []string{"op"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhouse_remote_storage_duration_seconds",
			Help:    "Object-store requests' duration, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"op"}),
	}
	b.reg.MustRegister(t.calls, t.errors, t.bytes, t.duration)
	return t
}

// Observe records one object-store call.
func (t *Tiered) Observe(op string, took time.Duration, n int64, err error) {
	if t == nil {
		return
	}
	t.calls.WithLabelValues(op).Inc()
	t.duration.WithLabelValues(op).Observe(took.Seconds())
	if n > 0 {
		t.bytes.WithLabelValues(op).Add(float64(n))
	}
	if err != nil {
		t.errors.WithLabelValues(op).Inc()
	}
}

// Watch registers the scrape-time gauges over src.
func (t *Tiered) Watch(src TieredSource) {
	if t == nil {
		return
	}
	t.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_remote_upload_backlog_bytes",
			Help: "Bytes of closed local segments not uploaded yet.",
		}, func() float64 { _, b := src.Backlog(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_remote_upload_backlog_segments",
			Help: "Closed local segments not uploaded yet.",
		}, func() float64 { n, _ := src.Backlog(); return float64(n) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "streamhouse_remote_cache_hits_total",
			Help: "Reads of remote data served from the local cache.",
		}, func() float64 { h, _, _, _ := src.CacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "streamhouse_remote_cache_misses_total",
			Help: "Reads of remote data that waited for a download.",
		}, func() float64 { _, m, _, _ := src.CacheStats(); return float64(m) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "streamhouse_remote_cache_prefetches_total",
			Help: "Chunks of remote data downloaded ahead of sequential readers.",
		}, func() float64 { _, _, p, _ := src.CacheStats(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_remote_cache_bytes",
			Help: "Bytes of remote data in the local cache (--s3-cache-bytes bounds it).",
		}, func() float64 { _, _, _, b := src.CacheStats(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "streamhouse_remote_log_size_bytes",
			Help: "Bytes the bucket holds for the partitions this broker serves.",
		}, func() float64 { return float64(src.RemoteBytes()) }),
	)
}
