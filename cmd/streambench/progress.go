package main

// The progress line: every second, on standard error when it is a
// terminal, the last second's rates and latencies.

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// sample is the run's cumulative counts at one moment.
type sample struct {
	at                    time.Duration
	sent, acked, consumed int64
	bytes, errors         int64
	hist                  *histogram // produce: to the acknowledgement; e2e: to consumption
}

func (r *runner) sample() sample {
	s := sample{
		at:       r.clk.now(),
		sent:     r.sent.Load(),
		acked:    r.acked.Load(),
		consumed: r.consumed.Load(),
		errors:   r.failed.Load() + r.fetchErrors.Load(),
	}
	switch r.cfg.mode {
	case modeProduce:
		s.bytes = s.acked * int64(r.cfg.recordSize)
		s.hist = r.produceHist()
	case modeConsume:
		s.bytes = r.consumedBytes.Load()
	case modeE2E:
		s.bytes = r.consumedBytes.Load()
		s.hist = r.e2eHist()
	}
	return s
}

// progressLine describes what happened between prev and cur.
func progressLine(mode string, prev, cur sample) string {
	sec := (cur.at - prev.at).Seconds()
	if sec <= 0 {
		sec = 1
	}
	rate := func(a, b int64) float64 { return float64(b-a) / sec }
	var b strings.Builder
	fmt.Fprintf(&b, "%s %4.0fs", mode, cur.at.Seconds())
	switch mode {
	case modeProduce:
		fmt.Fprintf(&b, "  %9.0f records/s", rate(prev.acked, cur.acked))
	case modeConsume:
		fmt.Fprintf(&b, "  %9.0f records/s", rate(prev.consumed, cur.consumed))
	case modeE2E:
		fmt.Fprintf(&b, "  sent %8.0f/s  consumed %8.0f/s", rate(prev.sent, cur.sent), rate(prev.consumed, cur.consumed))
	}
	fmt.Fprintf(&b, "  %8.1f MB/s", rate(prev.bytes, cur.bytes)/1e6)
	if cur.hist != nil && prev.hist != nil {
		if d := cur.hist.since(prev.hist); d.count() > 0 {
			fmt.Fprintf(&b, "  latency ms p50 %.2f p99 %.2f max %.2f", ms(d.quantile(0.5)), ms(d.quantile(0.99)), ms(d.max))
		}
	}
	fmt.Fprintf(&b, "  errors %d", cur.errors)
	return b.String()
}

// progress prints a progress line every second until the run finishes.
type progress struct{ done chan struct{} }

// startProgress starts the progress lines when standard error is a
// terminal; otherwise it does nothing.
func startProgress(r *runner, finished <-chan struct{}) *progress {
	p := &progress{done: make(chan struct{})}
	if !isTerminal(r.stderr) {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev := r.sample()
		for {
			select {
			case <-finished:
				return
			case <-t.C:
			}
			cur := r.sample()
			fmt.Fprintln(r.stderr, progressLine(r.cfg.mode, prev, cur))
			prev = cur
		}
	}()
	return p
}

// wait waits for the last progress line.
func (p *progress) wait() { <-p.done }
