package main

// The summary: one JSON line on standard output (field names are stable),
// and a readable line on a terminal.

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// latencyJSON is a latency distribution in milliseconds.
type latencyJSON struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func latencyOf(h *histogram) *latencyJSON {
	return &latencyJSON{
		P50:  ms(h.quantile(0.50)),
		P90:  ms(h.quantile(0.90)),
		P99:  ms(h.quantile(0.99)),
		P999: ms(h.quantile(0.999)),
		Max:  ms(h.max),
		Mean: ms(int64(h.mean())),
	}
}

// configJSON is what the run was asked to do, for comparing runs.
type configJSON struct {
	Partitions      int      `json:"partitions"` // the topic's
	RecordSize      int      `json:"record_size,omitempty"`
	Records         int64    `json:"records,omitempty"`
	DurationSeconds float64  `json:"duration_seconds,omitempty"`
	Rate            float64  `json:"rate,omitempty"`
	Pacing          string   `json:"pacing,omitempty"` // with a rate
	Acks            string   `json:"acks,omitempty"`
	Idempotent      *bool    `json:"idempotent,omitempty"`
	Compression     string   `json:"compression,omitempty"`
	LingerMS        *float64 `json:"linger_ms,omitempty"`
	BatchBytes      int      `json:"batch_bytes,omitempty"`
	Producers       int      `json:"producers,omitempty"`
	Consumers       int      `json:"consumers,omitempty"`
}

// summary is the result of a run. Latency is null for consume, which has
// no send time to measure from.
type summary struct {
	Mode           string       `json:"mode"`
	Topic          string       `json:"topic"`
	Records        int64        `json:"records"` // acknowledged (produce), consumed (consume, e2e)
	Bytes          int64        `json:"bytes"`   // of their keys and values
	Seconds        float64      `json:"seconds"`
	RecordsPerSec  float64      `json:"records_per_sec"`
	MBPerSec       float64      `json:"mb_per_sec"` // 10^6 bytes
	Latency        *latencyJSON `json:"latency_ms"`
	ProduceLatency *latencyJSON `json:"produce_latency_ms,omitempty"` // e2e: to the acknowledgement
	// SendLag is how late, against its schedule, the generator handed
	// each record to the client (with --rate only): part of the
	// end-to-end latency, and of the produce latency under --pacing
	// precise (under app pacing that counts from the hand-over); a lag
	// near the latency says the generator, not the broker, fell behind.
	SendLag     *latencyJSON `json:"send_lag_ms,omitempty"`
	Produced    *int64       `json:"produced,omitempty"` // e2e: records acknowledged
	Errors      int64        `json:"errors"`
	Interrupted bool         `json:"interrupted,omitempty"`

	BrokerCPUSeconds   *float64 `json:"broker_cpu_seconds,omitempty"` // during the run
	BrokerPeakRSSBytes *int64   `json:"broker_peak_rss_bytes,omitempty"`

	Config configJSON `json:"config"`
}

// summary is what cfg asks for, on a topic of partitions.
func (cfg config) summary(partitions int) configJSON {
	c := configJSON{
		Partitions:      partitions,
		Records:         cfg.records,
		DurationSeconds: cfg.duration.Seconds(),
	}
	if cfg.mode != modeConsume {
		c.RecordSize = cfg.recordSize
		c.Rate = cfg.rate
		if cfg.rate > 0 {
			c.Pacing = cfg.pacing
		}
		c.Acks = cfg.acks
		c.Idempotent = &cfg.idempotent
		c.Compression = cfg.compression
		linger := ms(cfg.linger.Nanoseconds())
		c.LingerMS = &linger
		c.BatchBytes = cfg.batchBytes
		c.Producers = cfg.producers
	}
	if cfg.mode == modeConsume || cfg.mode == modeE2E {
		c.Consumers = cfg.consumers
	}
	return c
}

// summarize sums up a run that took elapsed.
func (r *runner) summarize(elapsed time.Duration, interrupted bool) *summary {
	cfg := r.cfg
	s := &summary{Mode: cfg.mode, Topic: cfg.topic, Interrupted: interrupted}
	s.Config = cfg.summary(r.partitions)

	sent, acked := r.sent.Load(), r.acked.Load()
	switch cfg.mode {
	case modeProduce:
		s.Records, s.Bytes = acked, acked*int64(cfg.recordSize)
		s.Latency = latencyOf(r.produceHist())
		s.Errors = sent - acked
	case modeConsume:
		s.Records, s.Bytes = r.consumed.Load(), r.consumedBytes.Load()
		s.Errors = r.fetchErrors.Load()
		if !interrupted {
			s.Errors += max(r.expected(), 0) // records that never came
		}
	case modeE2E:
		s.Records, s.Bytes = r.consumed.Load(), r.consumedBytes.Load()
		s.Latency = latencyOf(r.e2eHist())
		s.ProduceLatency = latencyOf(r.produceHist())
		s.Produced = &acked
		s.Errors = sent - acked + r.fetchErrors.Load()
		s.Errors += max(acked-s.Records, 0) // acknowledged, never consumed
	}
	if cfg.rate > 0 && cfg.mode != modeConsume {
		h := &histogram{}
		for _, p := range r.prods {
			p.mu.Lock()
			h.merge(&p.lag)
			p.mu.Unlock()
		}
		s.SendLag = latencyOf(h)
	}
	s.Seconds = round3(elapsed.Seconds())
	if sec := elapsed.Seconds(); sec > 0 {
		s.RecordsPerSec = math.Round(float64(s.Records)/sec*10) / 10
		s.MBPerSec = round3(float64(s.Bytes) / 1e6 / sec)
	}
	return s
}

// produceHist merges the producers' latencies.
func (r *runner) produceHist() *histogram {
	h := &histogram{}
	for _, p := range r.prods {
		p.mu.Lock()
		h.merge(&p.hist)
		p.mu.Unlock()
	}
	return h
}

// e2eHist merges the consumers' latencies.
func (r *runner) e2eHist() *histogram {
	h := &histogram{}
	for _, c := range r.cons {
		c.mu.Lock()
		h.merge(&c.hist)
		c.mu.Unlock()
	}
	return h
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func writeSummary(w io.Writer, s *summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// text is the summary as one readable line.
func (s *summary) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d records in %.2fs: %.0f records/s, %.1f MB/s", s.Mode, s.Records, s.Seconds, s.RecordsPerSec, s.MBPerSec)
	if l := s.Latency; l != nil {
		fmt.Fprintf(&b, "; latency ms p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f", l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	if l := s.SendLag; l != nil {
		fmt.Fprintf(&b, "; sent late by ms p50 %.2f p99 %.2f", l.P50, l.P99)
	}
	fmt.Fprintf(&b, "; %d errors", s.Errors)
	if s.BrokerCPUSeconds != nil {
		fmt.Fprintf(&b, "; broker %.1f CPU s, peak RSS %.0f MB", *s.BrokerCPUSeconds, float64(*s.BrokerPeakRSSBytes)/1e6)
	}
	if s.Interrupted {
		b.WriteString(" (interrupted)")
	}
	return b.String()
}

// oneLine keeps an error message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
