package compattests

// The free-space guard's cost on the produce path (issue 22: within 2% of
// no guard): two brokers in this process, one with storage.min.free.bytes
// at its default (5% of the volume, never reached here: the guard reads
// the free space and counts every append) and one with it off, each fed
// the same acks=all produce load by franz-go, in alternating rounds (the
// order swapped each round, so that drift on a shared machine falls on
// both); the medians of the rounds are reported, and the median of the
// rounds' on/off ratios.
//
//	go test ./compat-tests -run x -bench ProduceGuard -benchtime 1x
//
// (STREAMHOUSE_GUARD_BENCH_ROUNDS and _RECORDS change the rounds, 15, and
// the records of 1 KiB a round, 20,000.)

import (
	"context"
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// Rounds and records of BenchmarkProduceGuard, overridable for longer runs.
var (
	dfBenchRounds  = envInt("STREAMHOUSE_GUARD_BENCH_ROUNDS", 15)
	dfBenchRecords = envInt("STREAMHOUSE_GUARD_BENCH_RECORDS", 20_000)
)

func BenchmarkProduceGuard(b *testing.B) {
	// nofsync (--fsync=false) takes the disk out: what is left is the
	// CPU of client and broker, where the guard's work would show;
	// fsync is the promise, and the disk's noise.
	for _, mode := range []struct {
		name   string
		noSync bool
	}{{"nofsync", true}, {"fsync", false}} {
		b.Run(mode.name, func(b *testing.B) { benchProduceGuard(b, mode.noSync) })
	}
}

func benchProduceGuard(b *testing.B, noSync bool) {
	type side struct {
		name string
		cl   *kgo.Client
		mbs  []float64
		cpu  []float64 // CPU (this process: client and both brokers) ms per MB
	}
	var sides []*side
	for _, g := range []struct{ name, min string }{{"guard=on", ""}, {"guard=off", "0"}} {
		set := map[string]string{}
		if g.min != "" {
			set["storage.min.free.bytes"] = g.min
		} else {
			// brokertest keeps the guard off unless told: the
			// default's 5% of this volume, as the binary would.
			set["storage.min.free.bytes"] = fmt.Sprint(dfDefaultGuard(b))
		}
		br := brokertest.New(b, brokertest.Options{Settings: set, NoSync: noSync})
		benchTopic(b, br.Addr(), "bench", 6)
		cl, err := kgo.NewClient(
			kgo.SeedBrokers(br.Addr()),
			kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.DisableIdempotentWrite(),
			kgo.MaxProduceRequestsInflightPerBroker(benchInflight),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.ProducerBatchMaxBytes(1<<20),
			kgo.MaxBufferedRecords(200_000),
			kgo.ProducerLinger(5*time.Millisecond),
			kgo.ProducerBatchCompression(kgo.NoCompression()),
		)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(cl.Close)
		sides = append(sides, &side{name: g.name, cl: cl})
	}
	value := make([]byte, 1024)
	round := func(s *side) {
		ctx := context.Background()
		cpu0 := dfCPU(b)
		start := time.Now()
		var failed error
		for range dfBenchRecords {
			s.cl.Produce(ctx, &kgo.Record{Topic: "bench", Value: value}, func(_ *kgo.Record, err error) {
				if err != nil && failed == nil {
					failed = err
				}
			})
		}
		if err := s.cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		if failed != nil {
			b.Fatalf("%s: %v", s.name, failed)
		}
		mb := float64(dfBenchRecords*len(value)) / 1e6
		s.mbs = append(s.mbs, mb/time.Since(start).Seconds())
		s.cpu = append(s.cpu, float64((dfCPU(b)-cpu0).Microseconds())/1000/mb)
	}
	for _, s := range sides {
		round(s) // warm-up, not counted
		s.mbs, s.cpu = nil, nil
	}
	b.ResetTimer()
	for range b.N {
		for r := range dfBenchRounds {
			if r%2 == 0 {
				round(sides[0])
				round(sides[1])
			} else {
				round(sides[1])
				round(sides[0])
			}
		}
	}
	b.StopTimer()
	med := func(xs []float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[len(s)/2]
	}
	on, off := med(sides[0].mbs), med(sides[1].mbs)
	onCPU, offCPU := med(sides[0].cpu), med(sides[1].cpu)
	// A round's two runs are next to each other in time and share the
	// machine's load of the moment: the median of their ratios is the
	// figure that load disturbs least.
	var ratios []float64
	for i := range sides[0].mbs {
		ratios = append(ratios, sides[0].mbs[i]/sides[1].mbs[i])
	}
	b.ReportMetric(on, "MB/s-guard-on")
	b.ReportMetric(off, "MB/s-guard-off")
	b.ReportMetric(med(ratios), "on/off")
	b.ReportMetric(onCPU, "cpu-ms/MB-guard-on")
	b.ReportMetric(offCPU, "cpu-ms/MB-guard-off")
	b.Logf("%d rounds of %d 1 KiB records, acks=all, 6 partitions:\n  guard on  %.1f MB/s %v, CPU %.3f ms/MB %v\n  guard off %.1f MB/s %v, CPU %.3f ms/MB %v\n  on/off by round %v, median %.3f",
		len(sides[0].mbs), dfBenchRecords, on, dfRound(sides[0].mbs), onCPU, dfRound(sides[0].cpu), off, dfRound(sides[1].mbs), offCPU, dfRound(sides[1].cpu), dfRound(ratios), med(ratios))
}

// dfDefaultGuard is storage.min.free.bytes's default for this machine's
// temporary directory: 5% of the volume, at most 5 GiB.
func dfDefaultGuard(tb testing.TB) int64 {
	return min(dfTotal(tb, tb.TempDir())/20, 5<<30)
}

// dfCPU is the CPU time this process has used, user and system.
func dfCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dfRound(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*100)) / 100
	}
	return out
}
