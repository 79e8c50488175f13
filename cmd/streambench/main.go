// Command streambench is a load generator for Kafka-protocol brokers, in
// the manner of kafka-producer-perf-test and kafka-consumer-perf-test. It
// is a franz-go client and imports no StreamHouse package, so it measures
// StreamHouse and any Kafka broker alike, side by side.
//
//	streambench produce --records 1000000 --record-size 1024 --partitions 6
//	streambench consume --topic streambench
//	streambench e2e --rate 2000 --duration 10s
//	streambench compare --records 2000000 --record-size 1024 --partitions 6 --rounds 3
//
// produce sends records and measures each from its hand-over to the
// client to its acknowledgement; consume reads a topic back; e2e does both
// at once and measures each record from its scheduled send time to its
// arrival at a consumer. With --rate, record i is scheduled at start +
// i/rate. By default (--pacing app) the generator waits for that time on
// a Go timer and hands the record over, as an application pacing its sends
// does: the machine idles between records, and every wake-up (the
// client's, the broker's) is part of what is measured, as an application
// sees it. --pacing precise waits with internal/precise instead (spinning
// the last stretch, so a record is never more than tens of microseconds
// late) and counts latency from the scheduled time, so a stall is charged
// to every record that fell due during it (no coordinated omission); it
// keeps a core busy, which hides the cost of waking an idle one. The
// summary's send_lag_ms says how late the generator handed records to the
// client.
//
// compare runs the produce workload against StreamHouse and franz-go's
// kfake side by side on loopback: each round starts a fresh broker of
// each kind as a child process (StreamHouse from --streamhouse-bin, with
// and without fsync; kfake from this program's hidden kfake-server
// mode), produces to it, measures its CPU and RSS by process id, and
// stops it. The order turns each round, so that neither broker always
// runs first on a warm (or tired) machine. It reports each run and the
// ratio of the medians, StreamHouse / kfake, of MB/s and records/s. kfake
// keeps its log in memory and never fsyncs.
//
// Standard output gets one line at the end: a JSON summary. Standard error
// gets a progress line every second and a readable summary when it is a
// terminal (compare: each run's line and the medians, always), and
// errors. The exit code is 0 on success, 1 when a record failed or the
// run could not be made, and 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/streamhouse/streamhouse/internal/cli"
)

const (
	defaultAddr = "127.0.0.1:9092"
	addrEnv     = "STREAMHOUSE_ADDR"
)

func main() { os.Exit(runMain(os.Args[1:])) }

// runMain runs streambench with this process's signals, environment and
// standard streams, and returns the exit code.
func runMain(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first interrupt ends the run (and its summary is printed);
		// the next one kills the process as usual.
		<-ctx.Done()
		stop()
	}()
	return run(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

// The modes, and the flags each takes.
const (
	modeProduce = "produce"
	modeConsume = "consume"
	modeE2E     = "e2e"
	modeCompare = "compare"

	// modeKfakeServer is compare's peer broker, run as a child process;
	// not listed in the usage.
	modeKfakeServer = "kfake-server"
)

// modes lists the modes with what each does.
func modes() [][2]string {
	return [][2]string{
		{modeProduce, "Produce records and measure throughput and latency to the acknowledgement."},
		{modeConsume, "Consume a topic (by default from its start to its end offsets) and measure throughput."},
		{modeE2E, "Produce and consume at once; latency is from each record's scheduled send to its consumption."},
		{modeCompare, "Produce to StreamHouse and to franz-go's kfake, each started fresh on loopback, over several rounds; compare."},
		{modeScale, "Create a topic of many partitions and produce one record into each; time both (streambench scale --help)."},
	}
}

// flagModes names the modes a mode-specific flag applies to; nil for the
// flags of every mode.
func flagModes(name string) []string {
	switch name {
	case "partitions", "record-size", "acks", "compression", "linger", "batch-bytes", "rate", "pacing", "producers", "idempotent":
		return []string{modeProduce, modeE2E, modeCompare}
	case "consumers":
		return []string{modeConsume, modeE2E}
	case "bootstrap", "pid":
		return []string{modeProduce, modeConsume, modeE2E}
	case "rounds", "fsync", "streamhouse-bin", "data-dir":
		return []string{modeCompare}
	}
	return nil
}

// argName names the value of a flag in the usage.
func argName(name string) string {
	switch name {
	case "bootstrap":
		return "HOST:PORT"
	case "topic":
		return "NAME"
	case "record-size", "batch-bytes":
		return "BYTES"
	case "acks":
		return "all|1|0"
	case "compression":
		return "none|gzip|snappy|lz4|zstd"
	case "duration", "linger", "timeout":
		return "D"
	case "pid":
		return "PID"
	case "fsync":
		return "both|on|off"
	case "pacing":
		return "app|precise"
	case "streamhouse-bin":
		return "PATH"
	case "data-dir":
		return "DIR"
	case "idempotent":
		return ""
	}
	return "N"
}

// config is one run's settings, from the command line.
type config struct {
	mode        string
	bootstrap   string
	seeds       []string
	topic       string
	partitions  int // 0: the broker's num.partitions, when the topic is created
	recordSize  int
	records     int64 // 0: not bounded by count
	duration    time.Duration
	acks        string // all, 1, 0
	compression string
	linger      time.Duration
	batchBytes  int
	rate        float64 // records/s over all producers; 0: unlimited
	producers   int
	consumers   int
	idempotent  bool
	pacing      string // pacingApp or pacingPrecise
	pid         int
	timeout     time.Duration

	// compare
	rounds         int
	fsync          string // both, on, off
	streamhouseBin string // "": build one
	dataDir        string // where the runs' temporary directories go; "": the system's
}

// Limits of the flags.
const (
	maxClients    = 256
	maxBatchBytes = 100 << 20 // socket.request.max.bytes' default
	minBatchBytes = 512       // franz-go's minimum
	batchOverhead = 128       // a batch header and one record's framing, generously
	e2eHeader     = 16        // the send time and run id e2e writes into each value
	maxPartitions = 1 << 20
	maxRounds     = 1000

	pacingApp     = "app"
	pacingPrecise = "precise"

	// comparePartitions is compare's --partitions when not given: the
	// brokers' own defaults differ.
	comparePartitions = 6
)

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// run runs streambench with args (without the program name) and returns
// the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == modeKfakeServer {
		return kfakeServer(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == modeScale {
		return scaleMain(ctx, args[1:], getenv, stdout, stderr) // scale.go
	}
	cfg, fs, err := parseArgs(args, getenv)
	var ue *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout, fs)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "streambench: %s (see 'streambench --help')\n", ue.msg)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "streambench: %v\n", err)
		return 1
	}
	if cfg.mode == modeCompare {
		return compare(ctx, cfg, stdout, stderr)
	}
	return bench(ctx, cfg, stdout, stderr)
}

// newFlagSet declares every flag into cfg, with its default.
func newFlagSet(cfg *config) *flag.FlagSet {
	fs := flag.NewFlagSet("streambench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cfg.bootstrap, "bootstrap", cfg.bootstrap, "the broker, comma-separated for several (env "+addrEnv+")")
	fs.StringVar(&cfg.topic, "topic", "streambench", "the topic")
	fs.IntVar(&cfg.partitions, "partitions", 0, "create the topic with this many partitions if it does not exist (0: the broker's num.partitions; compare: 6)")
	fs.IntVar(&cfg.recordSize, "record-size", 1024, "bytes of each record's value (e2e: at least 16)")
	fs.Int64Var(&cfg.records, "records", 0, "stop after this many records (0: no count bound)")
	fs.DurationVar(&cfg.duration, "duration", 0, "stop after this long (0: no time bound); with --records, whichever comes first")
	fs.StringVar(&cfg.acks, "acks", "all", "what a produce waits for: all (durable), 1 (written) or 0 (nothing)")
	fs.StringVar(&cfg.compression, "compression", "none", "batch compression")
	fs.DurationVar(&cfg.linger, "linger", 5*time.Millisecond, "how long a partition's batch waits for more records")
	fs.IntVar(&cfg.batchBytes, "batch-bytes", 1<<20, "the largest record batch, before compression")
	fs.Float64Var(&cfg.rate, "rate", 0, "target records/s over all producers (0: as fast as possible)")
	fs.IntVar(&cfg.producers, "producers", 1, "producer clients (each with its own connections)")
	fs.IntVar(&cfg.consumers, "consumers", 1, "consumer clients; the partitions are dealt out among them")
	fs.BoolVar(&cfg.idempotent, "idempotent", true, "idempotent producers (default true with --acks all, and only possible then)")
	fs.StringVar(&cfg.pacing, "pacing", pacingApp, "with --rate, how records are sent on time: app (a Go timer, as an application paces its sends; produce latency from the hand-over to the client) or precise (a generator that is never late, spinning before each send; latency from the scheduled time)")
	fs.IntVar(&cfg.pid, "pid", 0, "the broker's process id: report its CPU seconds during the run and its peak RSS (Linux)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "how long to wait for the broker: to connect (compare: to start), and for progress before giving up")
	fs.IntVar(&cfg.rounds, "rounds", 5, "rounds, each running every broker once, in an order that turns each round")
	fs.StringVar(&cfg.fsync, "fsync", "both", "StreamHouse's --fsync: on, off, or both (two StreamHouse runs per round, each compared with kfake)")
	fs.StringVar(&cfg.streamhouseBin, "streamhouse-bin", "", "the streamhouse binary to run (default: go build ./cmd/streamhouse into a temporary directory)")
	fs.StringVar(&cfg.dataDir, "data-dir", "", "the directory under which each StreamHouse run gets a fresh data directory (default: the system's temporary directory)")
	return fs
}

// parseArgs parses the command line: one mode and flags, in any order.
func parseArgs(args []string, getenv func(string) string) (config, *flag.FlagSet, error) {
	cfg := config{bootstrap: defaultAddr}
	if v := getenv(addrEnv); v != "" {
		cfg.bootstrap = v
	}
	fs := newFlagSet(&cfg)
	pos, err := cli.ParseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, fs, err
	}
	if err != nil {
		return cfg, fs, usagef("%v", err)
	}
	switch {
	case len(pos) == 1 && pos[0] == "help":
		return cfg, fs, flag.ErrHelp
	case len(pos) == 0:
		return cfg, fs, usagef("no mode given: produce, consume, e2e or compare")
	case len(pos) > 1:
		return cfg, fs, usagef("one mode only, not %q", strings.Join(pos, " "))
	}
	cfg.mode = pos[0]
	if !contains([]string{modeProduce, modeConsume, modeE2E, modeCompare}, cfg.mode) {
		return cfg, fs, usagef("unknown mode %q: produce, consume, e2e or compare", cfg.mode)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return cfg, fs, cfg.check(set)
}

// check validates cfg; set holds the flags given on the command line.
func (c *config) check(set map[string]bool) error {
	for name := range set {
		if modes := flagModes(name); modes != nil && !contains(modes, c.mode) {
			return usagef("--%s does not apply to %s (only to %s)", name, c.mode, strings.Join(modes, ", "))
		}
	}
	seeds, err := cli.Seeds(c.bootstrap)
	if err != nil {
		return usagef("--bootstrap: %v", err)
	}
	c.seeds = seeds
	sends := c.mode != modeConsume
	switch {
	case c.topic == "":
		return usagef("--topic must not be empty")
	case c.records < 0:
		return usagef("--records must not be negative")
	case c.duration < 0:
		return usagef("--duration must not be negative")
	case sends && c.records == 0 && c.duration == 0:
		return usagef("%s needs --records N or --duration D (or both)", c.mode)
	case c.timeout < time.Second:
		return usagef("--timeout must be at least 1s")
	case c.pid < 0:
		return usagef("--pid must not be negative")
	case c.consumers < 1 || c.consumers > maxClients:
		return usagef("--consumers must be between 1 and %d", maxClients)
	}
	if !sends {
		return nil
	}
	switch {
	case c.partitions < 0 || c.partitions > maxPartitions:
		return usagef("--partitions must be between 0 and %d", maxPartitions)
	case c.batchBytes < minBatchBytes || c.batchBytes > maxBatchBytes:
		return usagef("--batch-bytes must be between %d and %d", minBatchBytes, maxBatchBytes)
	case c.recordSize < 0:
		return usagef("--record-size must not be negative")
	case c.recordSize+batchOverhead > c.batchBytes:
		return usagef("--record-size %d does not fit in a batch of --batch-bytes %d (allow %d bytes of framing)", c.recordSize, c.batchBytes, batchOverhead)
	case c.mode == modeE2E && c.recordSize < e2eHeader:
		return usagef("e2e needs --record-size of at least %d: each value carries its send time and the run's id", e2eHeader)
	case c.linger < 0 || c.linger > time.Minute:
		return usagef("--linger must be between 0 and 1m")
	case math.IsNaN(c.rate) || math.IsInf(c.rate, 0) || c.rate < 0:
		return usagef("--rate must be a non-negative number")
	case c.producers < 1 || c.producers > maxClients:
		return usagef("--producers must be between 1 and %d", maxClients)
	case c.acks != "all" && c.acks != "-1" && c.acks != "1" && c.acks != "0":
		return usagef("--acks must be all, 1 or 0, not %q", c.acks)
	case c.pacing != pacingApp && c.pacing != pacingPrecise:
		return usagef("--pacing must be app or precise, not %q", c.pacing)
	}
	if c.acks == "-1" {
		c.acks = "all"
	}
	if _, ok := codec(c.compression); !ok {
		return usagef("--compression must be none, gzip, snappy, lz4 or zstd, not %q", c.compression)
	}
	if c.acks != "all" {
		if set["idempotent"] && c.idempotent {
			return usagef("--idempotent needs --acks all")
		}
		c.idempotent = false
	}
	if c.mode == modeCompare {
		return c.checkCompare()
	}
	return nil
}

// checkCompare validates compare's own flags.
func (c *config) checkCompare() error {
	switch {
	case c.rounds < 1 || c.rounds > maxRounds:
		return usagef("--rounds must be between 1 and %d", maxRounds)
	case c.fsync != "both" && c.fsync != "on" && c.fsync != "off":
		return usagef("--fsync must be both, on or off, not %q", c.fsync)
	}
	if c.partitions == 0 {
		c.partitions = comparePartitions
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, "Usage: streambench MODE [FLAGS]\n\nstreambench loads a Kafka-protocol broker and measures throughput and latency.\n\nModes:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, m := range modes() {
		fmt.Fprintf(tw, "  %s\t%s\n", m[0], m[1])
	}
	tw.Flush()
	fmt.Fprint(w, "\nFlags:\n")
	fs.VisitAll(func(f *flag.Flag) {
		_, text := flag.UnquoteUsage(f)
		arg := argName(f.Name)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.Name != "idempotent" {
			text += " (default " + f.DefValue + ")"
		}
		if modes := flagModes(f.Name); modes != nil {
			text += " [" + strings.Join(modes, ", ") + "]"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, text)
	})
	tw.Flush()
	fmt.Fprint(w, `
produce, e2e and compare need --records or --duration (or both: whichever
comes first).
consume reads from each partition's start: by default up to the end offsets
it finds when it starts; with --records or --duration, until that bound.

With --rate, record i is due at start + i/rate. produce latency counts from
the record's hand-over to the client (--pacing app: the generator waits on
a Go timer, as an application does) or from its scheduled time (--pacing
precise: the generator spins to be on time, and a stall is charged to every
record due during it); e2e latency always counts from the scheduled time.
Without --rate, latency counts from the hand-over. MB is 10^6 bytes of
record values. The summary is one JSON line on standard output.

compare starts its brokers itself (so it takes no --bootstrap or --pid):
each round, StreamHouse (--fsync on, off, or both) and franz-go's kfake,
each fresh as a child process on a loopback port, in an order that turns
each round; it produces the same workload to each and reports each run's
throughput, latency and broker CPU and peak RSS on standard error, then the
medians and their ratio StreamHouse / kfake. kfake keeps everything in
memory and never fsyncs.
`)
}

// ms is nanoseconds as milliseconds, to the microsecond.
func ms(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 }
