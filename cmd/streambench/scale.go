package main

// scale: what creating many partitions costs (issue 21, part 7), as
// kbench's scale phase measures it. Each run creates a topic of
// --partitions partitions with one CreateTopics request and times it to
// the answer (the topic durable and served); then one producer sends one
// record into each partition and the run times from the first record
// handed to the client to the last acknowledgement, as an application
// that starts producing to a new topic sees it (the producer's Metadata
// request for the topic included; the client is connected beforehand),
// at once or --produce-after the creation's answer.
// The topic is deleted after the run.
//
//	streambench scale --bootstrap 127.0.0.1:9092 --partitions 2000 --rounds 5
//	streambench scale --streamhouse-bin ./old,./new --kfake --rounds 7
//
// With --streamhouse-bin (one binary or several, comma-separated) each run
// starts a fresh broker of each binary as a child process over a fresh
// data directory, and, with --kfake, franz-go's in-memory kfake; the order
// turns each round, so that builds can be compared side by side in one
// run. Without it, every run goes to the running broker at --bootstrap.
// Standard error gets each run and the medians; standard output one JSON
// line.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/cli"
)

// modeScale is the scale mode; it parses its own flags (scaleMain).
const modeScale = "scale"

// scaleConfig is a scale run's settings.
type scaleConfig struct {
	bootstrap  string
	seeds      []string
	partitions int
	rounds     int
	bins       []string // --streamhouse-bin, split
	kfake      bool
	fsync      bool
	dataDir    string
	timeout    time.Duration
	// produceAfter is how long after the creation's answer the records
	// are sent: an application that does not produce at once.
	produceAfter time.Duration
}

// scaleRun is one run: one broker, one topic.
type scaleRun struct {
	Round       int     `json:"round"`
	Broker      string  `json:"broker"`
	CreateMs    float64 `json:"create_ms"`
	FirstProdMs float64 `json:"first_record_each_ms"`
	// MetadataMs is the round trip of a Metadata request for the new
	// topic made after its records were acknowledged (every partition
	// served).
	MetadataMs float64 `json:"metadata_ms"`
}

// scaleBroker sums up one broker's runs.
type scaleBroker struct {
	Broker            string  `json:"broker"`
	Runs              int     `json:"runs"`
	MedianCreateMs    float64 `json:"median_create_ms"`
	MedianFirstProdMs float64 `json:"median_first_record_each_ms"`
	MedianMetadataMs  float64 `json:"median_metadata_ms"`
}

// scaleSummary is scale's JSON line.
type scaleSummary struct {
	Mode        string        `json:"mode"`
	Partitions  int           `json:"partitions"`
	Runs        []scaleRun    `json:"runs"`
	Brokers     []scaleBroker `json:"brokers"`
	Interrupted bool          `json:"interrupted,omitempty"`
}

func scaleUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: streambench scale [FLAGS]

Creates a topic of --partitions partitions (timed to the CreateTopics
answer), then produces one record into each partition (timed from the first
record to the last acknowledgement, the producer's metadata request
included), and deletes the topic; --rounds times. With --streamhouse-bin
each run starts a fresh broker of each binary given (and kfake with
--kfake), in an order that turns each round.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// scaleMain is the scale mode: args are its flags.
func scaleMain(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg := scaleConfig{bootstrap: defaultAddr}
	if v := getenv(addrEnv); v != "" {
		cfg.bootstrap = v
	}
	fs := flag.NewFlagSet("streambench scale", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.bootstrap, "bootstrap", cfg.bootstrap, "the broker, without --streamhouse-bin (env "+addrEnv+")")
	fs.IntVar(&cfg.partitions, "partitions", 2000, "partitions of each topic created")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds; each runs every broker once")
	bins := fs.String("streamhouse-bin", "", "streamhouse binaries, comma-separated: each run starts a fresh one of each")
	fs.BoolVar(&cfg.kfake, "kfake", false, "with --streamhouse-bin: run franz-go's kfake beside them")
	fs.BoolVar(&cfg.fsync, "fsync", true, "with --streamhouse-bin: the brokers' --fsync")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "with --streamhouse-bin: where the runs' data directories go (default: the system's temporary directory)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long to wait for a broker and for each step")
	fs.DurationVar(&cfg.produceAfter, "produce-after", 0, "how long after the creation's answer to send the records (0: at once)")
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		scaleUsage(stdout, fs)
		return 0
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err == nil {
		err = cfg.check(*bins)
	}
	if err != nil {
		fmt.Fprintf(stderr, "streambench scale: %v (see 'streambench scale --help')\n", err)
		return 2
	}
	s, err := runScale(ctx, cfg, stderr)
	if s != nil {
		fmt.Fprint(stderr, s.text())
		if b, merr := json.Marshal(s); merr == nil {
			stdout.Write(append(b, '\n'))
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "streambench scale: %s\n", oneLine(err.Error()))
		return 1
	}
	return 0
}

func (c *scaleConfig) check(bins string) error {
	switch {
	case c.partitions < 1 || c.partitions > maxPartitions:
		return fmt.Errorf("--partitions must be between 1 and %d", maxPartitions)
	case c.rounds < 1 || c.rounds > maxRounds:
		return fmt.Errorf("--rounds must be between 1 and %d", maxRounds)
	case c.timeout < time.Second:
		return errors.New("--timeout must be at least 1s")
	case c.produceAfter < 0 || c.produceAfter > time.Hour:
		return errors.New("--produce-after must be between 0 and 1h")
	case c.kfake && bins == "":
		return errors.New("--kfake needs --streamhouse-bin")
	}
	for b := range strings.SplitSeq(bins, ",") {
		if b = strings.TrimSpace(b); b != "" {
			abs, err := filepath.Abs(b)
			if err != nil {
				return err
			}
			c.bins = append(c.bins, abs)
		}
	}
	seeds, err := cli.Seeds(c.bootstrap)
	if err != nil {
		return fmt.Errorf("--bootstrap: %v", err)
	}
	c.seeds = seeds
	return nil
}

// scaleTarget is a broker a run goes to: a binary to start, kfake, or the
// one at --bootstrap.
type scaleTarget struct {
	name string
	bin  string // "": kfake or --bootstrap
	peer bool   // kfake
}

func (cfg scaleConfig) targets() []scaleTarget {
	if len(cfg.bins) == 0 {
		return []scaleTarget{{name: strings.Join(cfg.seeds, ",")}}
	}
	var ts []scaleTarget
	for i, b := range cfg.bins {
		name := filepath.Base(b)
		if len(cfg.bins) > 1 {
			name = fmt.Sprintf("%d:%s", i+1, name)
		}
		ts = append(ts, scaleTarget{name: name, bin: b})
	}
	if cfg.kfake {
		ts = append(ts, scaleTarget{name: "kfake", peer: true})
	}
	return ts
}

// runScale runs the rounds; the summary holds the runs made, even when an
// error stopped them.
func runScale(ctx context.Context, cfg scaleConfig, stderr io.Writer) (*scaleSummary, error) {
	s := &scaleSummary{Mode: modeScale, Partitions: cfg.partitions}
	ts := cfg.targets()
	var tmp, self string
	if len(cfg.bins) > 0 {
		var err error
		if tmp, err = os.MkdirTemp(cfg.dataDir, "streambench-scale-"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		if self, err = os.Executable(); err != nil {
			return nil, err
		}
	}
	for round := range cfg.rounds {
		for i := range ts {
			if ctx.Err() != nil {
				s.Interrupted = true
				return s.sum(ts), nil
			}
			t := ts[(round+i)%len(ts)]
			r, err := scaleOnce(ctx, cfg, t, round, tmp, self)
			if err != nil {
				return s.sum(ts), fmt.Errorf("round %d, %s: %w", round+1, t.name, err)
			}
			s.Runs = append(s.Runs, r)
			fmt.Fprintf(stderr, "round %d/%d %-24s create %8.1f ms   first record into each %8.1f ms   metadata %6.1f ms\n",
				r.Round, cfg.rounds, r.Broker, r.CreateMs, r.FirstProdMs, r.MetadataMs)
		}
	}
	return s.sum(ts), nil
}

// scaleOnce makes one run against t, starting it first when it is a
// binary or kfake.
func scaleOnce(ctx context.Context, cfg scaleConfig, t scaleTarget, round int, tmp, self string) (scaleRun, error) {
	seeds := cfg.seeds
	if t.bin != "" || t.peer {
		var b *child
		var err error
		if t.peer {
			b, err = startKfake(ctx, t.name, self, cfg.timeout)
		} else {
			dir, derr := os.MkdirTemp(tmp, fmt.Sprintf("round%d-", round+1))
			if derr != nil {
				return scaleRun{}, derr
			}
			defer os.RemoveAll(dir)
			b, err = startStreamhouse(ctx, t.name, t.bin, dir, cfg.fsync, cfg.timeout)
		}
		if err != nil {
			return scaleRun{}, err
		}
		defer b.stop()
		seeds = []string{b.addr}
	}
	r, err := scaleMeasure(ctx, cfg, seeds, fmt.Sprintf("streambench-scale-%d-%d", round+1, time.Now().UnixNano()))
	r.Round, r.Broker = round+1, t.name
	return r, err
}

// scaleMeasure creates topic on the broker at seeds, produces one record
// into each partition, and deletes it.
func scaleMeasure(ctx context.Context, cfg scaleConfig, seeds []string, topic string) (scaleRun, error) {
	var r scaleRun
	ctx, cancel := context.WithTimeout(ctx, 3*cfg.timeout+cfg.produceAfter)
	defer cancel()
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("streambench-scale"), kgo.DialTimeout(cfg.timeout), kgo.RetryTimeout(cfg.timeout)}
	adm, err := kgo.NewClient(opts...)
	if err != nil {
		return r, err
	}
	defer adm.Close()
	// The producer: linger 0, acks=all, idempotent (franz-go's
	// defaults but the linger), each record to the partition it names.
	prod, err := kgo.NewClient(append(opts, kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MaxBufferedRecords(cfg.partitions+1))...)
	if err != nil {
		return r, err
	}
	defer prod.Close()
	for _, cl := range []*kgo.Client{adm, prod} {
		if err := cl.Ping(ctx); err != nil {
			return r, fmt.Errorf("cannot reach the broker at %s: %w", strings.Join(seeds, ","), err)
		}
	}
	// The controller: the broker that answers CreateTopics.
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, adm)
	if err != nil {
		return r, err
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(cfg.timeout.Milliseconds())
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(cfg.partitions), 1
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := req.RequestWith(ctx, adm.Broker(int(md.ControllerID)))
	r.CreateMs = ms(time.Since(start).Nanoseconds())
	if err == nil && len(resp.Topics) != 1 {
		err = fmt.Errorf("CreateTopics answered %d topics", len(resp.Topics))
	}
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		return r, fmt.Errorf("create topic %s: %w", topic, err)
	}
	defer func() {
		d := kmsg.NewPtrDeleteTopicsRequest()
		d.TimeoutMillis = int32(cfg.timeout.Milliseconds())
		d.TopicNames = []string{topic}
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = &topic
		d.Topics = append(d.Topics, dt)
		d.RequestWith(context.WithoutCancel(ctx), adm)
	}()

	if cfg.produceAfter > 0 {
		select {
		case <-time.After(cfg.produceAfter):
		case <-ctx.Done():
			return r, ctx.Err()
		}
	}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	value := []byte("scale")
	wg.Add(cfg.partitions)
	start = time.Now()
	for p := range cfg.partitions {
		prod.Produce(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	r.FirstProdMs = ms(time.Since(start).Nanoseconds())
	if firstErr != nil {
		return r, fmt.Errorf("produce to topic %s: %w", topic, firstErr)
	}

	mreq := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &topic
	mreq.Topics = append(mreq.Topics, mt)
	start = time.Now()
	mresp, err := mreq.RequestWith(ctx, adm)
	r.MetadataMs = ms(time.Since(start).Nanoseconds())
	switch {
	case err != nil:
		return r, err
	case len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) != cfg.partitions:
		return r, fmt.Errorf("metadata of topic %s: not %d partitions", topic, cfg.partitions)
	}
	return r, nil
}

// sum adds each target's medians.
func (s *scaleSummary) sum(ts []scaleTarget) *scaleSummary {
	s.Brokers = nil
	for _, t := range ts {
		var c, p, m []float64
		for _, r := range s.Runs {
			if r.Broker == t.name {
				c, p, m = append(c, r.CreateMs), append(p, r.FirstProdMs), append(m, r.MetadataMs)
			}
		}
		if len(c) > 0 {
			s.Brokers = append(s.Brokers, scaleBroker{Broker: t.name, Runs: len(c), MedianCreateMs: median(c), MedianFirstProdMs: median(p), MedianMetadataMs: median(m)})
		}
	}
	return s
}

func (s *scaleSummary) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "medians, %d partitions:\n", s.Partitions)
	for _, x := range s.Brokers {
		fmt.Fprintf(&b, "  %-24s create %8.1f ms   first record into each %8.1f ms   metadata %6.1f ms   (%d runs)\n",
			x.Broker, x.MedianCreateMs, x.MedianFirstProdMs, x.MedianMetadataMs, x.Runs)
	}
	return b.String()
}
