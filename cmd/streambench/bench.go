package main

// One run: set up the topic and the clients, send and/or receive records
// under the schedule, watch for stalls, and sum up.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// codec is the franz-go codec of a --compression name.
func codec(name string) (kgo.CompressionCodec, bool) {
	switch name {
	case "none":
		return kgo.NoCompression(), true
	case "gzip":
		return kgo.GzipCompression(), true
	case "snappy":
		return kgo.SnappyCompression(), true
	case "lz4":
		return kgo.Lz4Compression(), true
	case "zstd":
		return kgo.ZstdCompression(), true
	}
	return kgo.CompressionCodec{}, false
}

// runner is one run in progress.
type runner struct {
	cfg    config
	stderr io.Writer
	clk    wallClock
	sched  schedule
	nonce  uint64 // e2e: marks this run's records
	value  []byte // the value every record carries (e2e: after its header)

	partitions  int  // the topic's
	created     bool // by this run: empty
	prods       []*producer
	prodsClosed bool
	cons        []*consumer

	// abortCtx ends when the run must stop at once (a stall); sendCtx
	// also when the user interrupts or the schedule is done; consumeCtx
	// when consumers are done.
	abortCtx      context.Context
	abort         context.CancelCauseFunc
	consumeCtx    context.Context
	consumeCancel context.CancelFunc

	sent, acked, failed atomic.Int64 // records handed to producers, and how they ended
	consumed            atomic.Int64 // records consumed (e2e: this run's)
	taken               atomic.Int64 // consume --records: records claimed by the consumers, maybe past the bound
	consumedBytes       atomic.Int64
	fetchErrors         atomic.Int64
	producersDone       atomic.Bool

	mu       sync.Mutex
	firstErr error // the first record or fetch error
}

// producer is one producer client and the latency of its acknowledged
// records.
type producer struct {
	cl   *kgo.Client
	mu   sync.Mutex
	hist histogram // hand-over (--pacing precise: scheduled send) to acknowledgement
	lag  histogram // with a rate: scheduled send to the hand-over to the client
}

// consumer is one consumer client and the partitions dealt to it.
type consumer struct {
	cl        *kgo.Client
	assign    map[string]map[int32]kgo.Offset // its partitions and where they start
	end       map[int32]int64                 // consume to end offsets: where each partition stops; nil: no end
	pos       map[int32]int64                 // the next offset of each partition (the consumer's goroutine only)
	remaining atomic.Int64                    // records between pos and end, over the partitions

	mu   sync.Mutex
	hist histogram // e2e: scheduled send to consumption
}

// noteErr remembers the first error of a record or fetch.
func (r *runner) noteErr(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// bench runs cfg and returns the exit code.
func bench(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	r := &runner{cfg: cfg, stderr: stderr}
	s, err := r.run(ctx)
	var ue *usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "streambench: %s (see 'streambench --help')\n", ue.msg)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "streambench: %s\n", oneLine(err.Error()))
		return 1
	}
	if err := writeSummary(stdout, s); err != nil {
		fmt.Fprintf(stderr, "streambench: write summary: %v\n", err)
		return 1
	}
	if isTerminal(stderr) {
		fmt.Fprintln(stderr, s.text())
	}
	fatal := r.fatal()
	if s.Errors == 0 && fatal == nil {
		return 0
	}
	first := r.firstError()
	var msgs []string
	if fatal != nil {
		msgs = append(msgs, fatal.Error())
	}
	if s.Errors > 0 {
		m := fmt.Sprintf("%d errors", s.Errors)
		if first != nil {
			m += ", first: " + first.Error()
		}
		msgs = append(msgs, m)
	}
	fmt.Fprintf(stderr, "streambench: %s\n", oneLine(strings.Join(msgs, "; ")))
	return 1
}

// fatal is why a finished run was aborted (a stall); nil if it was not.
func (r *runner) fatal() error {
	err := context.Cause(r.abortCtx)
	if errors.Is(err, context.Canceled) {
		return nil // the run ended normally
	}
	return err
}

// firstError is the first record or fetch error of the run; nil if none.
func (r *runner) firstError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstErr
}

// run sets up, runs and sums up. An error means there is no run to sum up.
func (r *runner) run(ctx context.Context) (*summary, error) {
	cfg := r.cfg
	var broker0 procStats
	watchPid := cfg.pid > 0 && procSupported()
	if cfg.pid > 0 && !procSupported() {
		fmt.Fprintf(r.stderr, "streambench: --pid is Linux only; broker figures left out\n")
	}
	if watchPid {
		var err error
		if broker0, err = readProc("/proc", cfg.pid); err != nil {
			return nil, usagef("--pid %d: %v", cfg.pid, err)
		}
	}

	// The topic: created (produce, e2e) or looked up (consume).
	// Admin requests use kgo's metadata cache; a short age lets a topic
	// created here show at once.
	adm, err := r.client(kgo.MetadataMinAge(50 * time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	if err := r.ping(ctx, adm); err != nil {
		return nil, err
	}
	partitions, err := r.setupTopic(ctx, kadm.NewClient(adm))
	if err != nil {
		return nil, err
	}
	r.partitions = partitions
	if cfg.mode != modeProduce && cfg.consumers > partitions {
		return nil, usagef("--consumers %d is more than the %d partitions of topic %q", cfg.consumers, partitions, cfg.topic)
	}

	r.abortCtx, r.abort = context.WithCancelCause(context.Background())
	defer r.abort(context.Canceled)
	r.consumeCtx, r.consumeCancel = context.WithCancel(r.abortCtx)
	defer r.consumeCancel()

	// Consumers first, so that e2e's start where producing begins.
	if cfg.mode != modeProduce {
		if err := r.newConsumers(ctx, kadm.NewClient(adm), partitions); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, c := range r.cons {
			c.cl.Close()
		}
	}()
	if cfg.mode != modeConsume {
		if err := r.newProducers(ctx); err != nil {
			return nil, err
		}
	}
	defer r.closeProducers() // on the error paths

	r.sched = schedule{rate: cfg.rate, limit: cfg.records, deadline: noDeadline}
	if r.sched.limit == 0 {
		r.sched.limit = 1<<63 - 1
	}
	if cfg.duration > 0 {
		r.sched.deadline = cfg.duration
	}
	r.nonce = rand.Uint64()
	r.value = payload(cfg.recordSize)

	// The run.
	r.clk = wallClock{start: time.Now(), precise: cfg.pacing == pacingPrecise}
	finished := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r.watch(finished)
	}()
	prog := startProgress(r, finished)
	sendCtx, stopSending := context.WithCancel(r.abortCtx)
	defer stopSending()
	stopOnInterrupt := context.AfterFunc(ctx, func() {
		// Stop sending; e2e's consumers still take in what was
		// acknowledged (bounded by the stall watch; a second interrupt
		// kills the process).
		stopSending()
		if cfg.mode == modeConsume {
			r.consumeCancel()
		}
	})
	defer stopOnInterrupt()
	if cfg.mode == modeConsume && cfg.duration > 0 {
		stopAtDeadline := time.AfterFunc(cfg.duration, r.consumeCancel)
		defer stopAtDeadline.Stop()
	}

	var cwg sync.WaitGroup
	for _, c := range r.cons {
		if r.cfg.mode == modeConsume {
			c.cl.AddConsumePartitions(c.assign)
		}
		cwg.Go(func() { r.consume(c) })
	}
	var pwg sync.WaitGroup
	for i, p := range r.prods {
		pwg.Go(func() { r.produce(sendCtx, p, int64(i)) })
	}
	pwg.Wait()
	r.producersDone.Store(true)
	r.caughtUp()
	cwg.Wait()
	elapsed := r.clk.now()

	close(finished)
	<-watchDone
	prog.wait()
	var broker1 procStats
	if watchPid {
		broker1, err = readProc("/proc", cfg.pid)
		if err != nil {
			fmt.Fprintf(r.stderr, "streambench: --pid %d at the end: %v; broker figures left out\n", cfg.pid, err)
			watchPid = false
		}
	}
	r.closeProducers()

	s := r.summarize(elapsed, ctx.Err() != nil)
	if watchPid {
		cpu := round3(broker1.cpuSeconds - broker0.cpuSeconds)
		s.BrokerCPUSeconds, s.BrokerPeakRSSBytes = &cpu, &broker1.peakRSSBytes
	}
	return s, nil
}

// client is a kgo client of the bootstrap brokers with opts.
func (r *runner) client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{
		kgo.SeedBrokers(r.cfg.seeds...),
		kgo.ClientID("streambench"),
		kgo.DialTimeout(r.cfg.timeout),
		kgo.RetryTimeout(r.cfg.timeout),
	}
	return kgo.NewClient(append(base, opts...)...)
}

// ping connects cl to the broker, failing within --timeout.
func (r *runner) ping(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("cannot reach the broker at %s: %w", strings.Join(r.cfg.seeds, ","), err)
	}
	return nil
}

// setupTopic returns the partition count of the topic, creating it first
// (produce, e2e) when it does not exist.
func (r *runner) setupTopic(ctx context.Context, adm *kadm.Client) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	adm.SetTimeoutMillis(int32(r.cfg.timeout.Milliseconds()))
	topic := r.cfg.topic
	n, err := partitionCount(ctx, adm, topic)
	switch {
	case err != nil:
		return 0, err
	case n > 0:
		if r.cfg.partitions > 0 && n != r.cfg.partitions {
			fmt.Fprintf(r.stderr, "streambench: topic %q exists with %d partitions; --partitions %d ignored\n", topic, n, r.cfg.partitions)
		}
		return n, nil
	case r.cfg.mode == modeConsume:
		return 0, fmt.Errorf("topic %q does not exist", topic)
	}
	want := int32(r.cfg.partitions)
	if want == 0 {
		want = -1 // the broker's num.partitions
	}
	resp, err := adm.CreateTopic(ctx, want, -1, nil, topic)
	r.created = err == nil
	switch {
	case err == nil && resp.NumPartitions > 0:
		return int(resp.NumPartitions), nil
	case err != nil && !errors.Is(err, kerr.TopicAlreadyExists):
		return 0, fmt.Errorf("create topic %q: %w", topic, err)
	}
	// A broker before Kafka 2.4 does not say how many partitions it
	// made, and one that lost the race to create says nothing: ask.
	// Metadata shows a new topic at once on one broker; a cluster may
	// take a moment. Up to 100 looks, bounded by --timeout.
	for range 100 {
		if n, err := partitionCount(ctx, adm, topic); err != nil || n > 0 {
			return n, err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("topic %q: created but not in the metadata: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("topic %q: created but not in the metadata", topic)
}

// partitionCount is the number of partitions of topic; 0 if it does not
// exist.
func partitionCount(ctx context.Context, adm *kadm.Client, topic string) (int, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the broker: %w", err)
	}
	td, ok := tds[topic]
	switch {
	case !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition):
		return 0, nil
	case td.Err != nil:
		return 0, fmt.Errorf("topic %q: %w", topic, td.Err)
	}
	return len(td.Partitions), nil
}

// offsets lists the start or end offsets of a topic's partitions.
func offsets(ctx context.Context, topic string, list func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	l, err := list(ctx, topic)
	if err == nil {
		err = l.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("list offsets of topic %q: %w", topic, err)
	}
	out := map[int32]int64{}
	l.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// newConsumers deals the partitions out to --consumers clients: consume
// from each partition's start (to its end offset, unless --records or
// --duration bounds the run), e2e from its end.
func (r *runner) newConsumers(ctx context.Context, adm *kadm.Client, partitions int) error {
	lctx, cancel := context.WithTimeout(ctx, r.cfg.timeout)
	defer cancel()
	var from, ends map[int32]int64
	var err error
	switch {
	case r.cfg.mode == modeE2E && r.created:
		// Empty; and the metadata just cached may not show it yet.
		from = map[int32]int64{}
	case r.cfg.mode == modeE2E:
		from, err = offsets(lctx, r.cfg.topic, adm.ListEndOffsets)
	default:
		if from, err = offsets(lctx, r.cfg.topic, adm.ListStartOffsets); err == nil && r.cfg.records == 0 && r.cfg.duration == 0 {
			ends, err = offsets(lctx, r.cfg.topic, adm.ListEndOffsets)
		}
	}
	if err != nil {
		return err
	}
	for i := range r.cfg.consumers {
		c := &consumer{pos: map[int32]int64{}}
		assign := map[int32]kgo.Offset{}
		for p := int32(i); p < int32(partitions); p += int32(r.cfg.consumers) {
			assign[p] = kgo.NewOffset().At(from[p])
			c.pos[p] = from[p]
			if ends != nil {
				if c.end == nil {
					c.end = map[int32]int64{}
				}
				c.end[p] = ends[p]
				c.remaining.Add(max(ends[p]-from[p], 0))
			}
		}
		c.assign = map[string]map[int32]kgo.Offset{r.cfg.topic: assign}
		opts := []kgo.Opt{kgo.FetchMaxWait(time.Second)}
		if r.cfg.mode == modeE2E {
			// Fetching from the end at once, ready for the first record.
			// consume starts fetching when the clock starts.
			opts = append(opts, kgo.ConsumePartitions(c.assign))
		}
		cl, err := r.client(opts...)
		if err != nil {
			return err
		}
		r.cons = append(r.cons, c)
		c.cl = cl
		if err := r.ping(ctx, cl); err != nil {
			return err
		}
	}
	return nil
}

// newProducers makes --producers clients.
func (r *runner) newProducers(ctx context.Context) error {
	cfg := r.cfg
	comp, _ := codec(cfg.compression)
	acks := kgo.AllISRAcks()
	switch cfg.acks {
	case "1":
		acks = kgo.LeaderAck()
	case "0":
		acks = kgo.NoAck()
	}
	opts := []kgo.Opt{
		kgo.DefaultProduceTopic(cfg.topic),
		kgo.RequiredAcks(acks),
		kgo.ProducerLinger(cfg.linger),
		kgo.ProducerBatchMaxBytes(int32(cfg.batchBytes)),
		kgo.ProducerBatchCompression(comp),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		// A record not acknowledged within --timeout (plus the linger
		// it may wait) fails.
		kgo.RecordDeliveryTimeout(cfg.timeout + cfg.linger),
		kgo.MaxBufferedBytes(max(128<<20, 8*cfg.batchBytes)),
	}
	if !cfg.idempotent {
		// An idempotent producer keeps 5 requests in flight per broker;
		// without idempotence franz-go keeps 1 unless told.
		opts = append(opts, kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	for range cfg.producers {
		cl, err := r.client(opts...)
		if err != nil {
			return err
		}
		r.prods = append(r.prods, &producer{cl: cl})
		if err := r.ping(ctx, cl); err != nil {
			return err
		}
	}
	return nil
}

// closeProducers closes the producer clients, which fails what they still
// hold, and waits (up to a second) for those records' promises.
func (r *runner) closeProducers() {
	if r.prodsClosed {
		return // called again on the way out
	}
	r.prodsClosed = true
	for _, p := range r.prods {
		p.cl.Close()
	}
	for range 100 {
		if r.acked.Load()+r.failed.Load() >= r.sent.Load() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// payload is a value of n random capital letters, as Kafka's
// producer-perf-test sends, so that compression has some work.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'A' + byte(rand.IntN(26))
	}
	return b
}

// produce sends producer p's share of the records (i = first, first +
// producers, ...) as scheduled, then waits for their acknowledgements.
func (r *runner) produce(ctx context.Context, p *producer, first int64) {
	e2e := r.cfg.mode == modeE2E
	pace(ctx, r.clk, r.sched, first, int64(len(r.prods)), func(_ int64, due time.Duration) {
		v := r.value
		if e2e {
			v = make([]byte, len(r.value))
			copy(v[e2eHeader:], r.value[e2eHeader:])
			binary.BigEndian.PutUint64(v[0:], uint64(due))
			binary.BigEndian.PutUint64(v[8:], r.nonce)
		}
		handoff := r.clk.now()
		from := due
		if r.cfg.pacing != pacingPrecise {
			from = handoff
		}
		if r.cfg.rate > 0 {
			lag := int64(handoff - due)
			p.mu.Lock()
			p.lag.record(lag)
			p.mu.Unlock()
		}
		r.sent.Add(1)
		// Produce's context is not ctx: records handed over before an
		// interrupt are still delivered (and counted); only a stall
		// (abortCtx) fails them.
		p.cl.Produce(r.abortCtx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				r.failed.Add(1)
				r.noteErr(err)
				return
			}
			lat := int64(r.clk.now() - from)
			p.mu.Lock()
			p.hist.record(lat)
			p.mu.Unlock()
			r.acked.Add(1)
		})
	})
	p.cl.Flush(r.abortCtx) // bounded by the stall watch
}

// consume reads records until the consumer's partitions reach their end
// offsets, the run's --records are taken, or consumeCtx ends.
func (r *runner) consume(c *consumer) {
	ctx := r.consumeCtx
	e2e := r.cfg.mode == modeE2E
	for !c.atEnd() {
		fetches := c.cl.PollFetches(ctx)
		now := int64(r.clk.now())
		for _, fe := range fetches.Errors() {
			if ctx.Err() != nil || errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				continue
			}
			r.fetchErrors.Add(1)
			r.noteErr(fmt.Errorf("fetch topic %q partition %d: %w", fe.Topic, fe.Partition, fe.Err))
		}
		var n, bytes int64
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			recs := fp.Records
			if len(recs) == 0 {
				return
			}
			if c.end != nil {
				end := c.end[fp.Partition]
				pos := max(c.pos[fp.Partition], min(recs[len(recs)-1].Offset+1, end))
				c.remaining.Add(c.pos[fp.Partition] - pos)
				c.pos[fp.Partition] = pos
				k := len(recs)
				for k > 0 && recs[k-1].Offset >= end {
					k-- // past the end this run reads to
				}
				recs = recs[:k]
			}
			if e2e {
				c.mu.Lock()
				for _, rec := range recs {
					v := rec.Value
					if len(v) < e2eHeader || binary.BigEndian.Uint64(v[8:]) != r.nonce {
						continue // not this run's
					}
					c.hist.record(now - int64(binary.BigEndian.Uint64(v)))
					n++
					bytes += int64(len(rec.Key) + len(v))
				}
				c.mu.Unlock()
				return
			}
			if r.cfg.records > 0 {
				// Take no more than the run's --records over all consumers.
				total := r.taken.Add(int64(len(recs)))
				if over := total - r.cfg.records; over >= 0 {
					recs = recs[:max(int64(len(recs))-over, 0)]
					r.consumeCancel()
				}
			}
			n += int64(len(recs))
			for _, rec := range recs {
				bytes += int64(len(rec.Key) + len(rec.Value))
			}
		})
		r.consumed.Add(n)
		r.consumedBytes.Add(bytes)
		if e2e {
			r.caughtUp()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// atEnd reports whether every partition of c has reached its end offset
// (never, without end offsets).
func (c *consumer) atEnd() bool {
	if c.end == nil {
		return false
	}
	for p, end := range c.end {
		if c.pos[p] < end {
			return false
		}
	}
	return true
}

// caughtUp ends e2e's consumers once the producers are done and every
// acknowledged record has been consumed.
func (r *runner) caughtUp() {
	if r.cfg.mode == modeE2E && r.producersDone.Load() && r.consumed.Load() >= r.acked.Load() {
		r.consumeCancel()
	}
}

// expected is how many more records the consumers wait for; 0 when they
// wait for none in particular (consume --duration alone).
func (r *runner) expected() int64 {
	switch {
	case r.cfg.mode == modeE2E:
		return r.acked.Load() - r.consumed.Load()
	case r.cfg.mode != modeConsume:
		return 0
	case r.cfg.records > 0:
		return r.cfg.records - r.consumed.Load()
	case r.cfg.duration > 0:
		return 0
	}
	var n int64
	for _, c := range r.cons {
		n += c.remaining.Load()
	}
	return n
}

// watch aborts the run when the broker stops answering: no record
// acknowledged, or none consumed, for --timeout while some are awaited.
// It checks every 100ms until finished is closed.
func (r *runner) watch(finished <-chan struct{}) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	lastAcked, lastConsumed := int64(-1), int64(-1)
	ackSince, consumeSince := time.Now(), time.Now()
	for {
		select {
		case <-finished:
			return
		case <-r.abortCtx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		acked := r.acked.Load()
		waiting := r.sent.Load() - acked - r.failed.Load()
		if waiting <= 0 || acked != lastAcked {
			ackSince, lastAcked = now, acked
		}
		consumed := r.consumed.Load()
		if r.expected() <= 0 || consumed != lastConsumed {
			consumeSince, lastConsumed = now, consumed
		}
		switch {
		case now.Sub(ackSince) > r.cfg.timeout:
			r.abort(fmt.Errorf("no acknowledgement from the broker for %s with %d records outstanding; gave up (--timeout)", r.cfg.timeout, waiting))
			return
		case now.Sub(consumeSince) > r.cfg.timeout:
			r.abort(fmt.Errorf("no record consumed for %s while %d more were expected; gave up (--timeout)", r.cfg.timeout, r.expected()))
			return
		}
	}
}
