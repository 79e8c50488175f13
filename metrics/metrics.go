// Package metrics is the broker's Prometheus instrumentation: the counters
// and histograms the request path updates, and a collector that reads
// per-partition log sizes and offsets and consumer group lag from the
// broker when Prometheus scrapes. A nil *Broker records nothing, so the
// broker needs no metrics to run (tests, embedding).
//
// Every metric is named streamhouse_*; deploy/ holds the scrape config,
// alert rules and dashboard that use them.
package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Source is what the scrape-time collector reads from the broker.
type Source interface {
	// EachPartition calls fn for every partition the broker serves.
	EachPartition(fn func(topic string, partition int32, sizeBytes, startOffset, endOffset int64))
	// EachCommit calls fn for every committed offset of every group.
	EachCommit(fn func(group, topic string, partition int32, offset int64))
}

// Broker holds the broker's metrics. Build it with New.
type Broker struct {
	reg *prometheus.Registry
	// summary holds the broker-wide request, traffic and connection
	// metrics only: cheap to gather, whatever the number of partitions
	// and groups (the web console's overview samples it).
	summary *prometheus.Registry

	requests    *prometheus.CounterVec
	errors      *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	bytesIn     *prometheus.CounterVec
	bytesOut    *prometheus.CounterVec
	recordsIn   *prometheus.CounterVec
	recordsOut  *prometheus.CounterVec
	connections prometheus.Gauge
	fsync       prometheus.Histogram
	panics      prometheus.Counter

	cleanerPasses   prometheus.Counter
	cleanerRead     prometheus.Counter
	cleanerRemoved  prometheus.Counter
	cleanerDuration prometheus.Histogram

	sec security // security.go
}

// New returns the broker's metrics registered in a new registry, with Go
// runtime and process metrics beside them.
func New() *Broker {
	b := &Broker{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_requests_total",
			Help: "Kafka requests handled, by API and version.",
		}, []string{"api", "version"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_request_errors_total",
			Help: "Kafka requests answered with an error code (any partition) or that closed their connection, by API and version.",
		}, []string{"api", "version"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "streamhouse_request_duration_seconds",
			Help:    "Time from a request read to its response ready, by API (long polls and fsync waits included).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"api"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_bytes_in_total",
			Help: "Record batch bytes appended, by topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_bytes_out_total",
			Help: "Record batch bytes served to fetches, by topic.",
		}, []string{"topic"}),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_records_in_total",
			Help: "Records appended, by topic.",
		}, []string{"topic"}),
		recordsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "streamhouse_records_out_total",
			Help: "Records in the batches served to fetches, by topic.",
		}, []string{"topic"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "streamhouse_connections",
			Help: "Open client connections.",
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhouse_fsync_duration_seconds",
			Help:    "Duration of each fsync of a segment file or directory by group commit.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_handler_panics_total",
			Help: "Request handlers that panicked (their connection was closed).",
		}),
		cleanerPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_log_cleaner_passes_total",
			Help: "Log compaction passes that rewrote segments.",
		}),
		cleanerRead: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_log_cleaner_bytes_read_total",
			Help: "Bytes of segments the log cleaner rewrote, before cleaning.",
		}),
		cleanerRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "streamhouse_log_cleaner_bytes_removed_total",
			Help: "Bytes the log cleaner removed (superseded records, expired tombstones, aborted transactions).",
		}),
		cleanerDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "streamhouse_log_cleaner_pass_duration_seconds",
			Help:    "Duration of each log compaction pass that rewrote segments.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	b.summary = prometheus.NewRegistry()
	b.summary.MustRegister(b.requests, b.bytesIn, b.bytesOut, b.recordsIn, b.recordsOut, b.connections)
	b.sec = newSecurity(b.reg)
	b.reg.MustRegister(b.requests, b.errors, b.latency, b.bytesIn, b.bytesOut, b.recordsIn, b.recordsOut,
		b.connections, b.fsync, b.panics, b.cleanerPasses, b.cleanerRead, b.cleanerRemoved, b.cleanerDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return b
}

// Registry is where the metrics are registered, for the HTTP handler.
func (b *Broker) Registry() *prometheus.Registry { return b.reg }

// Summary gathers only streamhouse_requests_total, the bytes and records
// in and out, and streamhouse_connections: what an overview samples every
// few seconds, without the scrape-time collectors' pass over every
// partition and group.
func (b *Broker) Summary() prometheus.Gatherer { return b.summary }

// Watch registers a collector that reads src at every scrape: log size,
// start and end offset per partition, and consumer group lag.
func (b *Broker) Watch(src Source) {
	if b != nil {
		b.reg.MustRegister(&sourceCollector{src: src})
	}
}

// Request records one handled request.
func (b *Broker) Request(api string, version int16, d time.Duration, failed bool) {
	if b == nil {
		return
	}
	v := strconv.Itoa(int(version))
	b.requests.WithLabelValues(api, v).Inc()
	if failed {
		b.errors.WithLabelValues(api, v).Inc()
	}
	b.latency.WithLabelValues(api).Observe(d.Seconds())
}

// In records an appended batch.
func (b *Broker) In(topic string, bytes, records int) {
	if b == nil {
		return
	}
	b.bytesIn.WithLabelValues(topic).Add(float64(bytes))
	b.recordsIn.WithLabelValues(topic).Add(float64(records))
}

// Out records batches served to a fetch.
func (b *Broker) Out(topic string, bytes, records int) {
	if b == nil {
		return
	}
	b.bytesOut.WithLabelValues(topic).Add(float64(bytes))
	b.recordsOut.WithLabelValues(topic).Add(float64(records))
}

// Connection records a connection opened (+1) or closed (-1).
func (b *Broker) Connection(delta int) {
	if b != nil {
		b.connections.Add(float64(delta))
	}
}

// Panic records a handler panic.
func (b *Broker) Panic() {
	if b != nil {
		b.panics.Inc()
	}
}

// Cleaned records a log compaction pass that rewrote before bytes of
// segments into after bytes in d.
func (b *Broker) Cleaned(before, after int64, d time.Duration) {
	if b != nil {
		b.cleanerPasses.Inc()
		b.cleanerRead.Add(float64(before))
		b.cleanerRemoved.Add(float64(max(before-after, 0)))
		b.cleanerDuration.Observe(d.Seconds())
	}
}

// Fsync records one fsync's duration; storage calls it.
func (b *Broker) Fsync(d time.Duration) {
	if b != nil {
		b.fsync.Observe(d.Seconds())
	}
}

var (
	descLogSize = prometheus.NewDesc("streamhouse_log_size_bytes",
		"Bytes held by a partition's segments.", []string{"topic", "partition"}, nil)
	descLogStart = prometheus.NewDesc("streamhouse_log_start_offset",
		"A partition's log start offset.", []string{"topic", "partition"}, nil)
	descLogEnd = prometheus.NewDesc("streamhouse_log_end_offset",
		"A partition's high watermark (the end offset consumers see).", []string{"topic", "partition"}, nil)
	descLag = prometheus.NewDesc("streamhouse_consumer_group_lag",
		"Records between a group's committed offset and the partition's high watermark.", []string{"group", "topic", "partition"}, nil)
	descCommitted = prometheus.NewDesc("streamhouse_consumer_group_committed_offset",
		"A group's committed offset.", []string{"group", "topic", "partition"}, nil)
)

type sourceCollector struct{ src Source }

func (c *sourceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descLogSize
	ch <- descLogStart
	ch <- descLogEnd
	ch <- descLag
	ch <- descCommitted
}

type tp struct {
	topic     string
	partition int32
}

func (c *sourceCollector) Collect(ch chan<- prometheus.Metric) {
	ends := make(map[tp]int64)
	c.src.EachPartition(func(topic string, p int32, size, start, end int64) {
		ps := strconv.Itoa(int(p))
		ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(size), topic, ps)
		ch <- prometheus.MustNewConstMetric(descLogStart, prometheus.GaugeValue, float64(start), topic, ps)
		ch <- prometheus.MustNewConstMetric(descLogEnd, prometheus.GaugeValue, float64(end), topic, ps)
		ends[tp{topic, p}] = end
	})
	c.src.EachCommit(func(group, topic string, p int32, off int64) {
		ps := strconv.Itoa(int(p))
		ch <- prometheus.MustNewConstMetric(descCommitted, prometheus.GaugeValue, float64(off), group, topic, ps)
		if end, ok := ends[tp{topic, p}]; ok {
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(end-off, 0)), group, topic, ps)
		}
	})
}

// Storage is the state of the data directory's volume and of the broker's
// free-space guard (storage.min.free.bytes), read at scrape time.
type Storage struct {
	// TotalBytes and FreeBytes: the volume's size and the bytes the
	// broker may still use there; -1 when unknown.
	TotalBytes, FreeBytes int64
	// MinFreeBytes is the guard's threshold, 0 when it is off.
	MinFreeBytes int64
	// Low: produce is refused for lack of space (the guard tripped, or a
	// write met a full volume and none has succeeded since).
	Low bool
	// RefusedAppends counts appends refused for lack of space.
	RefusedAppends int64
}

var (
	descVolume = prometheus.NewDesc("streamhouse_storage_volume_bytes",
		"Size of the volume that holds the data directory.", nil, nil)
	descFree = prometheus.NewDesc("streamhouse_storage_free_bytes",
		"Bytes the broker may still use on the data directory's volume.", nil, nil)
	descMinFree = prometheus.NewDesc("streamhouse_storage_min_free_bytes",
		"storage.min.free.bytes in effect: produce is refused below this free space (0: the guard is off).", nil, nil)
	descLow = prometheus.NewDesc("streamhouse_storage_disk_low",
		"1 while produce is refused for lack of space (free space below storage.min.free.bytes, or the volume full), 0 otherwise.", nil, nil)
	descRefused = prometheus.NewDesc("streamhouse_storage_refused_appends_total",
		"Appends (produce batches, transaction markers) refused for lack of space.", nil, nil)
)

// WatchStorage registers a collector that reads fn at every scrape: the
// volume's size and free space, the guard's threshold and state, and the
// appends refused for lack of space.
func (b *Broker) WatchStorage(fn func() Storage) {
	if b != nil {
		b.reg.MustRegister(storageCollector(fn))
	}
}

type storageCollector func() Storage

func (c storageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descVolume
	ch <- descFree
	ch <- descMinFree
	ch <- descLow
	ch <- descRefused
}

func (c storageCollector) Collect(ch chan<- prometheus.Metric) {
	s := c()
	low := 0.0
	if s.Low {
		low = 1
	}
	ch <- prometheus.MustNewConstMetric(descVolume, prometheus.GaugeValue, float64(s.TotalBytes))
	ch <- prometheus.MustNewConstMetric(descFree, prometheus.GaugeValue, float64(s.FreeBytes))
	ch <- prometheus.MustNewConstMetric(descMinFree, prometheus.GaugeValue, float64(s.MinFreeBytes))
	ch <- prometheus.MustNewConstMetric(descLow, prometheus.GaugeValue, low)
	ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(s.RefusedAppends))
}
