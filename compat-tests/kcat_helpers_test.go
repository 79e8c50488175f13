package compattests

import (
	"context"
	byteorder "encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/broker/brokertest"
)

// kcatTimeout bounds one kcat run. Runs take milliseconds; the bound only
// stops a hung kcat from hanging the test.
const kcatTimeout = 30 * time.Second

// kcatFormat is the -f format the tests read back: partition, offset, key
// and value. Keys and values in these tests hold no '|' or newline.
const kcatFormat = `%p|%o|%k|%s\n`

// Settings that keep kcat runs short: no producer linger, and a consumer
// whose fetch at the end of a partition waits 10ms, not 500ms, before
// reporting EOF (-e). The consumer also checks every fetched batch's CRC, so
// what the broker writes into stored batches (base offset, leader epoch)
// must leave them valid.
var (
	kcatProduceOpts = []string{"-X", "queue.buffering.max.ms=1"}
	kcatConsumeOpts = []string{"-X", "fetch.wait.max.ms=10", "-X", "check.crcs=true"}
)

// kcatEnv is a broker, the kcat binary and an admin client for set-up.
type kcatEnv struct {
	kcat string
	addr string
	b    *brokertest.Broker
	cl   *kgo.Client
	adm  *kadm.Client
}

func newKcatEnv(t *testing.T) *kcatEnv {
	t.Helper()
	kcat := requireTool(t, "kcat")
	b := brokertest.New(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &kcatEnv{kcat: kcat, addr: b.Addr(), b: b, cl: cl, adm: kadm.NewClient(cl)}
}

func (e *kcatEnv) createTopic(t *testing.T, name string, partitions int32) {
	t.Helper()
	resp, err := e.adm.CreateTopic(context.Background(), partitions, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
}

// run runs kcat against the broker and returns its standard output.
func (e *kcatEnv) run(t *testing.T, args ...string) string {
	t.Helper()
	return runTool(t, kcatTimeout, nil, e.kcat, append([]string{"-b", e.addr}, args...)...)
}

// produce writes lines ("key:value") to a file and produces them with
// kcat -P -K: -l, plus extra arguments.
func (e *kcatEnv) produce(t *testing.T, topic string, lines []string, extra ...string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-P", "-t", topic, "-K:", "-l"}, kcatProduceOpts...)
	args = append(args, extra...)
	e.run(t, append(args, f)...)
}

// consume runs kcat -C -e -q with kcatFormat, plus extra arguments, and
// parses what it printed.
func (e *kcatEnv) consume(t *testing.T, topic string, extra ...string) []kcatRecord {
	t.Helper()
	args := append([]string{"-C", "-q", "-t", topic, "-f", kcatFormat}, kcatConsumeOpts...)
	return parseKcatRecords(t, e.run(t, append(args, extra...)...))
}

// kcatRecord is one record as kcat printed it.
type kcatRecord struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

func (r kcatRecord) line() string { return r.Key + ":" + r.Value }

func parseKcatRecords(t *testing.T, out string) []kcatRecord {
	t.Helper()
	var recs []kcatRecord
	for _, l := range lines(out) {
		f := strings.SplitN(l, "|", 4)
		if len(f) != 4 {
			t.Fatalf("kcat printed %q, not partition|offset|key|value", l)
		}
		p, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("kcat printed %q, not partition|offset|key|value", l)
		}
		recs = append(recs, kcatRecord{Partition: int32(p), Offset: o, Key: f[2], Value: f[3]})
	}
	return recs
}

// kcatCheckOffsets fails unless recs hold exactly the offsets from..to-1 of
// partition p, in order.
func kcatCheckOffsets(t *testing.T, recs []kcatRecord, p int32, from, to int64) {
	t.Helper()
	if int64(len(recs)) != to-from {
		t.Fatalf("got %d records (%v), want offsets %d to %d", len(recs), kcatFirst(recs), from, to-1)
	}
	for i, r := range recs {
		if r.Partition != p || r.Offset != from+int64(i) {
			t.Fatalf("record %d is %d/%d, want %d/%d", i, r.Partition, r.Offset, p, from+int64(i))
		}
	}
}

func kcatFirst(recs []kcatRecord) []kcatRecord { return recs[:min(len(recs), 5)] }

// kcatCheckPartitions checks that got holds exactly the lines of want, each
// once, that a key's records all went to one partition, that each
// partition's offsets run from 0 without a gap, and that each partition
// holds its lines in the order they were produced.
func kcatCheckPartitions(t *testing.T, want []string, got []kcatRecord) map[int32]int {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d records, want %d", len(got), len(want))
	}
	byPart := make(map[int32][]kcatRecord)
	keyPart := make(map[string]int32)
	for _, r := range got {
		if p, ok := keyPart[r.Key]; ok && p != r.Partition {
			t.Errorf("key %q in partitions %d and %d", r.Key, p, r.Partition)
		}
		keyPart[r.Key] = r.Partition
		byPart[r.Partition] = append(byPart[r.Partition], r)
	}
	counts := make(map[int32]int)
	for p, recs := range byPart {
		counts[p] = len(recs)
		for i, r := range recs {
			if r.Offset != int64(i) {
				t.Fatalf("partition %d: record %d has offset %d; offsets must run from 0 without gaps", p, i, r.Offset)
			}
		}
		// The lines of this partition's keys, in input order.
		var wantP []string
		for _, l := range want {
			k, _, _ := strings.Cut(l, ":")
			if kp, ok := keyPart[k]; ok && kp == p {
				wantP = append(wantP, l)
			}
		}
		if len(wantP) != len(recs) {
			t.Errorf("partition %d: %d records, but its keys have %d lines in the input", p, len(recs), len(wantP))
			continue
		}
		for i := range recs {
			if recs[i].line() != wantP[i] {
				t.Fatalf("partition %d offset %d: %q, want %q (per-partition order)", p, i, recs[i].line(), wantP[i])
			}
		}
	}
	return counts
}

// storedCodecs fetches every batch of the topic's partitions with a raw
// Fetch v11 and counts batches by compression codec, checking that the
// batches cover offsets 0 to the high watermark.
func (e *kcatEnv) storedCodecs(t *testing.T, topic string, partitions int32) map[string]int {
	t.Helper()
	names := []string{"none", "gzip", "snappy", "lz4", "zstd", "5", "6", "7"}
	counts := make(map[string]int)
	c := badDial(t, e.addr)
	for p := range partitions {
		next := int64(0)
		for {
			req := kmsg.NewPtrFetchRequest()
			req.Version, req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 11, -1, 0, 1, 64<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, next, 64<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := c.roundTrip(req).(*kmsg.FetchResponse)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("fetch response: %+v", resp)
			}
			sp := resp.Topics[0].Partitions[0]
			if sp.ErrorCode != 0 {
				t.Fatalf("fetch %s-%d at %d: error %d", topic, p, next, sp.ErrorCode)
			}
			if next >= sp.HighWatermark {
				break
			}
			b := sp.RecordBatches
			if len(b) == 0 {
				t.Fatalf("fetch %s-%d at %d: no batches below the high watermark %d", topic, p, next, sp.HighWatermark)
			}
			for len(b) >= 61 {
				var rb kmsg.RecordBatch
				size := 12 + int(int32(byteorder.BigEndian.Uint32(b[8:])))
				if size > len(b) {
					break // a partial batch at the end of the answer
				}
				if err := rb.ReadFrom(b[:size]); err != nil {
					t.Fatalf("stored batch: %v", err)
				}
				if rb.FirstOffset != next {
					t.Fatalf("%s-%d: batch at %d, want %d", topic, p, rb.FirstOffset, next)
				}
				counts[names[rb.Attributes&7]]++
				next = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
				b = b[size:]
			}
		}
	}
	return counts
}

// kgoProduce produces lines ("key:value") to topic with franz-go, compressed
// with codec, in as few batches as kgo makes.
func (e *kcatEnv) kgoProduce(t *testing.T, topic string, codec kgo.CompressionCodec, lines []string) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.addr),
		kgo.DefaultProduceTopic(topic),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(50*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(lines))
	for i, l := range lines {
		k, v, _ := strings.Cut(l, ":")
		recs[i] = &kgo.Record{Key: []byte(k), Value: []byte(v), Partition: 0}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("kgo produce: %v", err)
	}
}

// kcatLines returns n "key:value" lines with keys cycling through 37 values
// and compressible values naming the case.
func kcatLines(n int, tag string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("key%02d:%s-value-%04d-%s", i%37, tag, i, strings.Repeat("abcdefgh", 8))
	}
	return out
}

// kcatProc is a kcat process running in the background.
type kcatProc struct {
	cmd    *exec.Cmd
	stdout strings.Builder
	stderr syncBuffer
	done   chan struct{} // closed when kcat has exited; err is set then
	err    error
}

// start starts kcat against the broker and returns once a line of its
// standard error contains ready (kcat's informational messages go there).
func (e *kcatEnv) start(t *testing.T, ready string, args ...string) *kcatProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	k := &kcatProc{done: make(chan struct{})}
	k.cmd = exec.CommandContext(ctx, e.kcat, append([]string{"-b", e.addr}, args...)...)
	k.cmd.Stdout = &k.stdout
	k.cmd.Stderr = &k.stderr
	if err := k.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		k.err = k.cmd.Wait()
		close(k.done)
	}()
	t.Cleanup(func() {
		cancel() // kills kcat if it is still running
		<-k.done
	})
	for !strings.Contains(k.stderr.String(), ready) {
		select {
		case <-k.done:
			t.Fatalf("kcat %s exited (%v) before printing %q:\n%s", strings.Join(args, " "), k.err, ready, k.stderr.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	return k
}

// wait waits for kcat to exit by itself and returns its standard output.
func (k *kcatProc) wait(t *testing.T) string {
	t.Helper()
	<-k.done
	if k.err != nil {
		t.Fatalf("kcat: %v\n%s", k.err, tail(k.stderr.String(), 4000))
	}
	return k.stdout.String()
}
