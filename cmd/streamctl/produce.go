package main

// produce: one record from --value, or one record per line of standard
// input, with acks=all. Lines are produced asynchronously (kgo batches and
// pipelines them) and reading stops at the first failed record.

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type produceResult struct {
	Topic      string  `json:"topic"`
	Records    int64   `json:"records"`
	DurationMS float64 `json:"duration_ms"`
	Partition  *int32  `json:"partition,omitempty"` // of a single record (--value)
	Offset     *int64  `json:"offset,omitempty"`
}

func produceCmd(fs *flag.FlagSet) runFunc {
	partition := fs.Int("partition", -1, "partition to write to; -1: chosen from the key as Kafka's default partitioner does")
	key := fs.String("key", "", "record key (default: none, a null key)")
	value := fs.String("value", "", "record value; without it, one record per line of standard input")
	sep := fs.String("key-separator", "", "with standard input: the part of each line before the first `SEP` is its key")
	return func(ctx context.Context, a *app, args []string) error {
		topic := args[0]
		hasValue, hasKey := flagSet(fs, "value"), flagSet(fs, "key")
		switch {
		case hasValue && *sep != "":
			return usagef("produce", "produce: --key-separator splits lines of standard input; it does not go with --value")
		case hasKey && *sep != "":
			return usagef("produce", "produce: --key and --key-separator do not go together")
		case flagSet(fs, "key-separator") && *sep == "":
			return usagef("produce", "produce: --key-separator must not be empty")
		case *partition < -1:
			return usagef("produce", "produce: --partition must not be negative")
		}

		opts := []kgo.Opt{kgo.RecordDeliveryTimeout(a.timeout)}
		if *partition >= 0 {
			opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		}
		cl, err := a.client(opts...)
		if err != nil {
			return err
		}
		defer cl.Close()
		if err := checkPartition(ctx, a, kadm.NewClient(cl), topic, *partition); err != nil {
			return err
		}

		var fixedKey []byte
		if hasKey {
			fixedKey = []byte(*key)
		}
		record := func(key, value []byte) *kgo.Record {
			return &kgo.Record{Topic: topic, Partition: int32(*partition), Key: key, Value: value}
		}
		start := time.Now()
		if hasValue {
			r := record(fixedKey, []byte(*value))
			pctx, cancel := context.WithTimeout(ctx, a.timeout)
			defer cancel()
			if err := cl.ProduceSync(pctx, r).FirstErr(); err != nil {
				return fmt.Errorf("produce to topic %q: %w", topic, err)
			}
			d := time.Since(start)
			out := produceResult{Topic: topic, Records: 1, DurationMS: ms(d), Partition: &r.Partition, Offset: &r.Offset}
			return a.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "produced 1 record to %s (partition %d, offset %d) in %s\n", topic, r.Partition, r.Offset, round(d))
			})
		}

		var acked atomic.Int64
		failed := make(chan error, 1)
		promise := func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case failed <- err:
				default:
				}
				return
			}
			acked.Add(1)
		}
		prog := a.startProgress(&acked)
		in := bufio.NewReaderSize(a.stdin, 1<<16)
		var sent int64
		var readErr error
		for len(failed) == 0 {
			line, err := in.ReadBytes('\n')
			if len(line) == 0 && err == io.EOF {
				break
			}
			if err != nil && err != io.EOF {
				readErr = err
				break
			}
			prog.read(len(line))
			line = bytes.TrimSuffix(line, []byte("\n"))
			k, v := fixedKey, line
			if *sep != "" {
				if before, after, ok := bytes.Cut(line, []byte(*sep)); ok {
					k, v = before, after
				}
			}
			cl.Produce(ctx, record(k, v), promise)
			sent++
			if err == io.EOF {
				break
			}
		}
		flushErr := cl.Flush(ctx)
		prog.finish()
		d := time.Since(start)
		n := acked.Load()
		select {
		case err := <-failed:
			return fmt.Errorf("produced %d of %d records to topic %q: %w", n, sent, topic, err)
		default:
		}
		switch {
		case readErr != nil:
			return fmt.Errorf("read standard input after %d records: %w", sent, readErr)
		case flushErr != nil:
			return fmt.Errorf("produced %d of %d records to topic %q: %w", n, sent, topic, flushErr)
		}
		out := produceResult{Topic: topic, Records: n, DurationMS: ms(d)}
		return a.emit(out, func(w io.Writer) {
			fmt.Fprintf(w, "produced %s to %s in %s\n", plural(n, "record"), topic, round(d))
		})
	}
}

// checkPartition fails unless topic exists and has partition p (-1: any).
// Without it a produce to a missing topic would wait for the topic to
// appear until the delivery timeout.
func checkPartition(ctx context.Context, a *app, adm *kadm.Client, topic string, p int) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	td, err := lookupTopic(ctx, adm, topic)
	if err != nil {
		return err
	}
	if _, ok := td.Partitions[int32(p)]; p >= 0 && !ok {
		return fmt.Errorf("topic %q has no partition %d (it has %s)", topic, p, plural(int64(len(td.Partitions)), "partition"))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// progress draws a progress line on standard error while lines are
// produced: a bar when standard input is a file of known size, counts and
// rates otherwise. It is nil (and draws nothing) unless standard error is a
// terminal.
type progress struct {
	w     io.Writer
	total int64 // bytes of standard input; 0: unknown
	bytes atomic.Int64
	acked *atomic.Int64
	start time.Time
	stop  chan struct{}
	done  chan struct{}
}

func (a *app) startProgress(acked *atomic.Int64) *progress {
	f, ok := a.stderr.(*os.File)
	if !ok {
		return nil
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	p := &progress{w: f, acked: acked, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	if in, ok := a.stdin.(*os.File); ok {
		if st, err := in.Stat(); err == nil && st.Mode().IsRegular() {
			p.total = st.Size()
		}
	}
	go p.run()
	return p
}

func (p *progress) read(n int) {
	if p != nil {
		p.bytes.Add(int64(n))
	}
}

func (p *progress) run() {
	defer close(p.done)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.draw()
		case <-p.stop:
			fmt.Fprint(p.w, "\r\x1b[K")
			return
		}
	}
}

func (p *progress) draw() {
	n, b := p.acked.Load(), p.bytes.Load()
	rate := float64(n) / time.Since(p.start).Seconds()
	if p.total <= 0 {
		fmt.Fprintf(p.w, "\r%s  %.1f MB read  %.0f records/s\x1b[K", plural(n, "record"), float64(b)/1e6, rate)
		return
	}
	const width = 30
	frac := min(float64(b)/float64(p.total), 1)
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%%  %s  %.0f records/s\x1b[K",
		strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, plural(n, "record"), rate)
}

// finish stops drawing and clears the line.
func (p *progress) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
}
