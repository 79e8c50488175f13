package compattests

// Helpers for the durability tests (crash_test.go): a load of franz-go
// producers with a ledger of every acknowledged write, the broker as a
// child process that is killed and restarted on the same data directory and
// port, the replay of the fsync log that turns a kill into a simulated power
// loss, and the final read that checks the ledger against the logs.
//
// Every value a producer sends is unique and can be checked on its own: it
// starts with "<producer>/<seq>/" and continues with bytes derived from
// those two numbers, so the ledger keeps no values and a read tells a
// corrupted value from a stray one. The acks=all producers are idempotent
// (kgo's default) and retry, across broker restarts too: the broker must
// store each retried batch once. The acks=1 producer cannot be idempotent
// and never retries (a retried non-idempotent produce may legitimately
// leave the value at two offsets); its failed produces are dropped and the
// next one carries new values. So a value found twice in a log is a broker
// bug.

import (
	"bytes"
	"context"
	enc "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// crashSoak reports whether the long runs were asked for
// (STREAMHOUSE_SOAK=1).
func crashSoak() bool { return os.Getenv("STREAMHOUSE_SOAK") == "1" }

// The violations the final read counts. The first three are what the
// durability promise rules out; log-start guards the lost-write check,
// which does not look below the log start offset; lost-acks1-write is the
// promise that acks=1 writes survive a crash of the process; the others
// are what a broken log can show besides.
const (
	crashLost         = "lost-write"           // an acks=all write is not in the log
	crashInconsistent = "inconsistent-offsets" // a value sits at an offset other than the acknowledged one
	crashGap          = "non-contiguous"       // an offset between log start and high watermark is missing or repeated
	crashBadStart     = "log-start"            // the log start offset moved past what retention may remove
	crashLostLeader   = "lost-acks1-write"     // an acks=1 write is not in the log after a crash of the process only
	crashDuplicate    = "duplicate"            // a value is in the log more than once
	crashCorrupt      = "corrupt"              // a batch fails its CRC or a value is not one the test sent
	crashUnreadable   = "read-error"           // a partition could not be read to its high watermark
)

var crashKinds = []string{crashLost, crashInconsistent, crashGap, crashBadStart, crashLostLeader, crashDuplicate, crashCorrupt, crashUnreadable}

// --- values -----------------------------------------------------------

func crashMix(x uint64) uint64 { // splitmix64
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// crashValue is the value producer sends as its seq-th record: the prefix
// "<producer>/<seq>/" and 100 to 999 letters that only these two numbers
// determine.
func crashValue(producer int, seq uint64) []byte {
	h := crashMix(uint64(producer)<<48 ^ seq)
	n := 100 + int(h%900)
	v := fmt.Appendf(make([]byte, 0, n+24), "%d/%d/", producer, seq)
	x := h
	for i := range n {
		if i%8 == 0 {
			x = crashMix(x)
		}
		v = append(v, 'a'+byte(x%26))
		x /= 26
	}
	return v
}

// crashParse returns the producer and sequence number of a value, and
// false when it is not exactly a value crashValue makes.
func crashParse(v []byte) (producer int, seq uint64, ok bool) {
	f := bytes.SplitN(v, []byte("/"), 3)
	if len(f) != 3 {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(string(f[0]))
	s, err2 := strconv.ParseUint(string(f[1]), 10, 64)
	if err1 != nil || err2 != nil || p < 0 || p > 1000 {
		return 0, 0, false
	}
	return p, s, bytes.Equal(v, crashValue(p, s))
}

func crashKey(producer int, seq uint64) uint64 { return uint64(producer)<<48 | seq }

// --- producers and the ledger -------------------------------------------

// crashAck is one acknowledged write.
type crashAck struct {
	producer  int
	seq       uint64
	topic     string
	partition int32
	offset    int64
	all       bool // acks=all (else acks=1)
	cycle     int  // the broker incarnation that acknowledged it
	fresh     bool // the produce began in that incarnation too
}

// crashLoad is a set of producers writing to every partition of the topics
// until stopped, and the ledger of what the broker acknowledged. Producers
// keep their clients across broker restarts.
type crashLoad struct {
	cycle  atomic.Int64 // the current broker incarnation, set by the test
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	mu     sync.Mutex
	acks   []crashAck // guarded by mu
	failed int        // records whose produce failed; guarded by mu
}

// crashProducerAcks lists the producers: six idempotent ones with acks=all
// (with a mix of codecs, so that recovery sees compressed batches too) and
// one with acks=1.
var crashProducerAcks = []struct {
	all   bool
	codec kgo.CompressionCodec
}{
	{true, kgo.NoCompression()},
	{true, kgo.NoCompression()},
	{true, kgo.NoCompression()},
	{true, kgo.SnappyCompression()},
	{true, kgo.Lz4Compression()},
	{true, kgo.ZstdCompression()},
	{false, kgo.NoCompression()},
}

// crashStartLoad starts the producers against addr. Partition 0 of each
// topic takes half of its topic's records, so that some partitions roll
// segments (and reach retention) early while others stay small.
func crashStartLoad(t *testing.T, addr string, topics []string, partitions int32, seed uint64) *crashLoad {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &crashLoad{cancel: cancel}
	t.Cleanup(l.stop)
	for id, pa := range crashProducerAcks {
		opts := []kgo.Opt{
			kgo.ProducerBatchCompression(pa.codec),
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProduceRequestTimeout(10 * time.Second),
			kgo.RecordDeliveryTimeout(15 * time.Second),
		}
		if pa.all {
			opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks())) // idempotent, retries
		} else {
			opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.RecordRetries(0))
		}
		cl := fgClient(t, addr, opts...)
		rng := rand.New(rand.NewPCG(seed, uint64(id)))
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.produce(ctx, cl, id, pa.all, rng, topics, partitions)
		}()
	}
	return l
}

// crashRate bounds each producer's records per second, which keeps the
// data of a run to tens of megabytes (the acks=1 producer would otherwise
// write several times what the others do).
const crashRate = 500

func (l *crashLoad) produce(ctx context.Context, cl *kgo.Client, id int, all bool, rng *rand.Rand, topics []string, partitions int32) {
	var seq uint64
	began := time.Now()
	for ctx.Err() == nil {
		if ahead := time.Until(began.Add(time.Duration(seq) * time.Second / crashRate)); ahead > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(ahead):
			}
		}
		recs := make([]*kgo.Record, 4+rng.IntN(12))
		for i := range recs {
			p := int32(0)
			if partitions > 1 && rng.IntN(2) == 1 {
				p = 1 + rng.Int32N(partitions-1)
			}
			recs[i] = &kgo.Record{Topic: topics[rng.IntN(len(topics))], Partition: p, Value: crashValue(id, seq)}
			seq++
		}
		from := int(l.cycle.Load())
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		res := cl.ProduceSync(pctx, recs...)
		cancel()
		cycle := int(l.cycle.Load())
		ok := 0
		l.mu.Lock()
		for _, r := range res {
			if r.Err != nil {
				l.failed++
				continue
			}
			ok++
			p, s, _ := crashParse(r.Record.Value)
			l.acks = append(l.acks, crashAck{producer: p, seq: s, topic: r.Record.Topic, partition: r.Record.Partition,
				offset: r.Record.Offset, all: all, cycle: cycle, fresh: from == cycle})
		}
		l.mu.Unlock()
		if ok == 0 {
			// The broker is down or restarting: do not spin.
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// stop stops the producers and waits for them; a produce in flight ends
// with its context.
func (l *crashLoad) stop() {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
	})
}

// ledger returns the acknowledged writes so far and the number of records
// whose produce failed.
func (l *crashLoad) ledger() ([]crashAck, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acks), l.failed
}

// waitAcked waits until every producer has had a write acknowledged in the
// current incarnation, by a produce begun in it, which shows that the
// recovered broker takes writes.
func (l *crashLoad) waitAcked(timeout time.Duration) error {
	cycle := int(l.cycle.Load())
	deadline := time.Now().Add(timeout)
	for {
		seen := map[int]bool{}
		l.mu.Lock()
		for i := len(l.acks) - 1; i >= 0 && l.acks[i].cycle == cycle; i-- {
			if l.acks[i].fresh {
				seen[l.acks[i].producer] = true
			}
		}
		l.mu.Unlock()
		if len(seen) == len(crashProducerAcks) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v only producers %v of %d had a write acknowledged by the restarted broker", timeout, crashSorted(seen), len(crashProducerAcks))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func crashSorted(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// --- the broker process ---------------------------------------------------

// crashBroker is the broker binary run again and again on one data
// directory and one address.
type crashBroker struct {
	t    *testing.T
	bin  string
	dir  string // the data directory
	addr string
	p    *proc   // the current incarnation
	past []*proc // earlier incarnations, for their logs

	cycle   int           // the test's cycle, set before start
	cycleOf map[*proc]int // the cycle of each incarnation
}

func newCrashBroker(t *testing.T, bin string) *crashBroker {
	t.Helper()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &crashBroker{t: t, bin: bin, dir: dir, addr: freePort(t), cycleOf: map[*proc]int{}}
}

// errCrashedAtStart is returned by start when the process hit its crash
// point before it listened.
var errCrashedAtStart = errors.New("the broker reached its crash point before it listened")

// start starts a new incarnation with env added to the environment and
// extra flags, and waits until it listens. It returns an error, with the
// end of the broker's output, when the broker exits first; a port taken in
// the meantime by another process is retried a few times.
func (b *crashBroker) start(env []string, extra ...string) error {
	b.t.Helper()
	for attempt := 0; ; attempt++ {
		p, err := b.try(env, extra)
		if err == nil {
			b.p = p
			return nil
		}
		b.past = append(b.past, p)
		if attempt < 20 && strings.Contains(p.logs.String(), "address already in use") {
			time.Sleep(250 * time.Millisecond)
			continue
		}
		return err
	}
}

func (b *crashBroker) try(env []string, extra []string) (*proc, error) {
	args := append([]string{"--listen", b.addr, "--data-dir", b.dir, "--log-format", "text", "--http-listen", "", "--schema-registry-listen", ""}, catalogFlags(b.t, b.dir)...)
	args = append(args, extra...)
	p := &proc{t: b.t, addr: b.addr, dir: b.dir, done: make(chan error, 1), logs: &syncBuffer{}}
	b.cycleOf[p] = b.cycle
	p.cmd = exec.Command(b.bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	b.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(fgWait)
	for {
		c, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case err := <-p.done:
			if strings.Contains(p.logs.String(), "fault: crash point") {
				return p, errCrashedAtStart
			}
			return p, fmt.Errorf("streamhouse %s exited before listening: %v\n%s", strings.Join(args, " "), err, crashHeadTail(p.logs.String()))
		default:
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			<-p.done
			return p, fmt.Errorf("streamhouse did not listen on %s within %v\n%s", b.addr, fgWait, crashHeadTail(p.logs.String()))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashHeadTail shortens a broker's output to its first and last lines,
// where a refused flag and a failed recovery say why.
func crashHeadTail(s string) string {
	if strings.Contains(s, "\nUsage: streamhouse") {
		// A refused flag: the usage text says nothing the error does not.
		var keep []string
		for _, l := range lines(s) {
			if strings.HasPrefix(l, "streamhouse:") || strings.HasPrefix(l, "flag ") || strings.HasPrefix(l, "fault:") {
				keep = append(keep, l)
			}
		}
		return strings.Join(keep, "\n")
	}
	if len(s) <= 5000 {
		return s
	}
	return s[:1500] + "\n...\n" + s[len(s)-3000:]
}

// runFor lets the current incarnation run for d and then kills it with
// SIGKILL. It returns early, with exited set, when the process ends by
// itself (a crash point, or a bug), and the process's exit error.
func (b *crashBroker) runFor(d time.Duration) (exited bool, err error) {
	p := b.p
	b.p = nil
	b.past = append(b.past, p)
	select {
	case err := <-p.done:
		return true, err
	case <-time.After(d):
	}
	if err := p.cmd.Process.Kill(); err != nil {
		if !errors.Is(err, os.ErrProcessDone) {
			b.t.Fatal(err)
		}
		return true, <-p.done // it ended by itself as the window closed
	}
	<-p.done
	return false, nil
}

// lastLogs is the output of the latest finished incarnation.
func (b *crashBroker) lastLogs() string {
	if len(b.past) == 0 {
		return ""
	}
	return b.past[len(b.past)-1].logs.String()
}

// warnings lists the warning and error lines of every incarnation (at most
// max), with the cycle of each, for failure messages: recovery says there
// what it cut.
func (b *crashBroker) warnings(max int) string {
	var out []string
	all := b.past
	if b.p != nil {
		all = append(slices.Clone(all), b.p)
	}
	n := 0
	for _, p := range all {
		for _, l := range lines(p.logs.String()) {
			if strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") || strings.Contains(l, "panic") || strings.HasPrefix(l, "fault:") {
				n++
				if len(out) < max {
					out = append(out, fmt.Sprintf("  [cycle %d] %s", b.cycleOf[p], tail(l, 400)))
				}
			}
		}
	}
	if n > len(out) {
		out = append(out, fmt.Sprintf("  ... %d more", n-len(out)))
	}
	if len(out) == 0 {
		return "  (none)"
	}
	return strings.Join(out, "\n")
}

// crashCreateTopics creates the test's topics with configs.
func crashCreateTopics(t *testing.T, addr string, topics []string, partitions int32, configs map[string]string) {
	t.Helper()
	adm := fgAdmin(t, addr)
	for _, name := range topics {
		fgCreateTopic(t, adm, name, partitions, configs)
	}
}

// --- power loss -------------------------------------------------------------

// crashSyncState is what a simulated disk holds durably: the size of each
// file and the entries of each directory as of their last fsync. Entries
// made by an fsync log have its line number as seq; what was on disk after
// the previous power loss has seq -1.
type crashSyncState struct {
	files map[string]crashSynced[int64]
	dirs  map[string]crashSynced[map[string]bool]
}

type crashSynced[T any] struct {
	seq int
	v   T
}

// crashDurableNow is the state of a disk right after a (simulated) power
// loss: everything on it is durable.
func crashDurableNow(root string) (*crashSyncState, error) {
	s := &crashSyncState{files: map[string]crashSynced[int64]{}, dirs: map[string]crashSynced[map[string]bool]{}}
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			es, err := os.ReadDir(p)
			if err != nil {
				return err
			}
			names := map[string]bool{}
			for _, e := range es {
				names[e.Name()] = true
			}
			s.dirs[p] = crashSynced[map[string]bool]{-1, names}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		s.files[p] = crashSynced[int64]{-1, fi.Size()}
		return nil
	})
	return s, err
}

// apply reads an fsync log (internal/fault) into s. A missing log is an
// empty one: the broker never fsynced.
func (s *crashSyncState) apply(logPath string) (int, error) {
	data, err := os.ReadFile(logPath)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	// A line without its newline was cut by the kill while being written:
	// its fsync returned, but the broker died before it could act on it.
	text := string(data)
	text = text[:max(0, strings.LastIndexByte(text, '\n'))]
	n := 0
	for i, line := range strings.Split(text, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "file":
			size, err := strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return n, fmt.Errorf("sync log line %d: %q", i+1, line)
			}
			s.files[f[1]] = crashSynced[int64]{i, size}
		case len(f) >= 2 && f[0] == "dir":
			names := map[string]bool{}
			for _, e := range f[2:] {
				names[e] = true
			}
			s.dirs[f[1]] = crashSynced[map[string]bool]{i, names}
		default:
			return n, fmt.Errorf("sync log line %d: %q", i+1, line)
		}
		n++
	}
	return n, nil
}

// syncedSize is the durable size of the file at p: its own last fsync, or
// that of a temporary file (p.tmp, p.swap, ...) fsynced later and since
// renamed to p; 0 when neither was ever fsynced.
func (s *crashSyncState) syncedSize(p string) int64 {
	best := crashSynced[int64]{seq: -2}
	if r, ok := s.files[p]; ok {
		best = r
	}
	for q, r := range s.files {
		if r.seq <= best.seq || !strings.HasPrefix(q, p+".") {
			continue
		}
		if suf := q[len(p):]; !strings.Contains(suf, "tmp") && !strings.Contains(suf, "swap") {
			continue
		}
		if _, err := os.Lstat(q); err == nil {
			continue // still there: not the file now at p
		}
		best = r
	}
	if best.seq == -2 {
		return 0
	}
	return best.v
}

// crashCutReport says what a simulated power loss took.
type crashCutReport struct {
	files, kept, zeroed int   // files cut, of them with part of the unsynced tail kept, or kept as zeros
	bytes               int64 // bytes dropped or zeroed
	removed             []string
}

func (r crashCutReport) String() string {
	rm := r.removed
	more := ""
	if len(rm) > 6 {
		rm, more = rm[:6], fmt.Sprintf(" and %d more", len(r.removed)-6)
	}
	return fmt.Sprintf("%d files cut (%d keeping part of the unsynced tail, %d with it zeroed), %d bytes lost, %d entries removed %v%s",
		r.files, r.kept, r.zeroed, r.bytes, len(r.removed), rm, more)
}

// powerLoss makes the files under root what a machine that lost power
// would find: every file cut back to its last synced size, sometimes with a
// random part of the unsynced tail kept or zeroed, and every entry that is
// not in its directory's last synced listing removed (all entries of a
// directory never synced).
func (s *crashSyncState) powerLoss(root string, rng *rand.Rand) (crashCutReport, error) {
	var r crashCutReport
	var walk func(dir string) error
	walk = func(dir string) error {
		es, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		listing := s.dirs[dir].v // nil when never synced
		for _, e := range es {
			p := filepath.Join(dir, e.Name())
			if !listing[e.Name()] {
				if err := os.RemoveAll(p); err != nil {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				r.removed = append(r.removed, rel)
				continue
			}
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
				continue
			}
			if err := s.cutFile(p, rng, &r); err != nil {
				return err
			}
		}
		return nil
	}
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	return r, walk(root)
}

func (s *crashSyncState) cutFile(p string, rng *rand.Rand, r *crashCutReport) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	synced, size := s.syncedSize(p), fi.Size()
	if size <= synced {
		return nil
	}
	r.files++
	to := synced
	zero := false
	switch rng.IntN(4) {
	case 0: // part of the unsynced tail reached the disk
		to = synced + rng.Int64N(size-synced)
		r.kept++
	case 1: // the file grew, its new blocks did not reach the disk
		to = synced + 1 + rng.Int64N(size-synced)
		zero = true
		r.zeroed++
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if zero {
		if _, err := f.WriteAt(make([]byte, to-synced), synced); err != nil {
			return err
		}
		r.bytes += to - synced
	}
	r.bytes += size - to
	return f.Truncate(to)
}

// --- the final read ---------------------------------------------------------

// crashVerdict counts violations by kind, with a few examples of each.
type crashVerdict struct {
	counts   map[string]int
	examples map[string][]string
	notes    []string
}

func newCrashVerdict() *crashVerdict {
	return &crashVerdict{counts: map[string]int{}, examples: map[string][]string{}}
}

func (v *crashVerdict) add(kind, format string, args ...any) {
	v.counts[kind]++
	if len(v.examples[kind]) < 8 {
		v.examples[kind] = append(v.examples[kind], fmt.Sprintf(format, args...))
	}
}

func (v *crashVerdict) failed() bool {
	for _, n := range v.counts {
		if n > 0 {
			return true
		}
	}
	return false
}

// summary is one line of counts, every kind included.
func (v *crashVerdict) summary() string {
	var b strings.Builder
	for i, k := range crashKinds {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, v.counts[k])
	}
	return b.String()
}

func (v *crashVerdict) String() string {
	var b strings.Builder
	b.WriteString("violations: " + v.summary())
	for _, k := range crashKinds {
		for _, e := range v.examples[k] {
			fmt.Fprintf(&b, "\n  %s: %s", k, e)
		}
		if n := v.counts[k] - len(v.examples[k]); n > 0 && len(v.examples[k]) > 0 {
			fmt.Fprintf(&b, "\n  %s: ... %d more", k, n)
		}
	}
	for _, n := range v.notes {
		b.WriteString("\n  note: " + n)
	}
	return b.String()
}

// crashLoc is where a value was read.
type crashLoc struct {
	topic     string
	partition int32
	offset    int64
}

func (l crashLoc) String() string { return fmt.Sprintf("%s-%d@%d", l.topic, l.partition, l.offset) }

// crashPartitionRead is what the final read found in one partition.
type crashPartitionRead struct {
	start, hw int64
	records   int64
	bytes     int64 // of the batches from start to hw
}

// crashReadAll reads every partition from its log start offset to its high
// watermark over raw Fetch requests (no client-side skipping or resets) and
// returns where each value is, counting gaps, repeats, bad CRCs, foreign
// values and values found twice in v.
func crashReadAll(t *testing.T, addr string, topics []string, partitions int32, v *crashVerdict) (map[uint64]crashLoc, map[crashLoc]crashPartitionRead) {
	t.Helper()
	adm := fgAdmin(t, addr)
	found := map[uint64]crashLoc{}
	parts := map[crashLoc]crashPartitionRead{}
	r := fgDialRaw(t, addr)
	for _, topic := range topics {
		l, err := adm.ListStartOffsets(fgCtx(t), topic)
		starts := fgListed(t, topic, l, err)
		ends := fgEndOffsets(t, adm, topic)
		for p := range partitions {
			pr := crashPartitionRead{start: starts[p], hw: ends[p]}
			crashReadPartition(r, topic, p, &pr, v, found)
			parts[crashLoc{topic: topic, partition: p}] = pr
		}
	}
	return found, parts
}

var crashCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// crashReadPartition reads one partition from pr.start to pr.hw, counting
// its records and bytes in pr.
func crashReadPartition(r *fgRaw, topic string, part int32, pr *crashPartitionRead, v *crashVerdict, found map[uint64]crashLoc) {
	dec := kgo.DefaultDecompressor()
	start, hw := pr.start, pr.hw
	next := start // the offset the next record must have
	fetchAt := start
	for fetches := 0; fetchAt < hw; fetches++ {
		if fetches > 100_000 {
			v.add(crashUnreadable, "%s-%d: still below the high watermark %d at %d after %d fetches", topic, part, hw, fetchAt, fetches)
			return
		}
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		req.MinBytes = 1
		req.MaxBytes = 8 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = part, fetchAt, 8<<20, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := r.try(req, 12)
		if err != nil {
			v.add(crashUnreadable, "%s-%d at %d: %v", topic, part, fetchAt, err)
			return
		}
		fr := resp.(*kmsg.FetchResponse)
		if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
			v.add(crashUnreadable, "%s-%d at %d: error %v, %d topics", topic, part, fetchAt, kerr.ErrorForCode(fr.ErrorCode), len(fr.Topics))
			return
		}
		sp := fr.Topics[0].Partitions[0]
		if sp.ErrorCode != 0 {
			v.add(crashUnreadable, "%s-%d at %d (log start %d, high watermark %d): %v", topic, part, fetchAt, start, hw, kerr.ErrorForCode(sp.ErrorCode))
			return
		}
		b := sp.RecordBatches
		progressed := false
		for len(b) >= 12 {
			size := 12 + int(int32(enc.BigEndian.Uint32(b[8:])))
			if size < 61 || size > len(b) {
				break // a partial batch at the end of the response
			}
			raw := b[:size]
			pr.bytes += int64(size)
			b = b[size:]
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(raw); err != nil {
				v.add(crashCorrupt, "%s-%d: batch at %d does not decode: %v", topic, part, fetchAt, err)
				return
			}
			end := rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
			if end <= fetchAt {
				v.add(crashGap, "%s-%d: a fetch at %d returned a batch [%d, %d) that ends before it", topic, part, fetchAt, rb.FirstOffset, end)
				return
			}
			fetchAt = end
			progressed = true
			if got := crc32.Checksum(raw[21:], crashCastagnoli); got != uint32(rb.CRC) {
				v.add(crashCorrupt, "%s-%d: batch [%d, %d) fails its CRC", topic, part, rb.FirstOffset, end)
				next = end
				continue
			}
			recs := rb.Records
			if codec := rb.Attributes & 0x07; codec != 0 {
				recs, err = dec.Decompress(recs, kgo.CompressionCodecType(codec))
				if err != nil {
					v.add(crashCorrupt, "%s-%d: batch [%d, %d) does not decompress: %v", topic, part, rb.FirstOffset, end, err)
					next = end
					continue
				}
			}
			for i := int32(0); i < rb.NumRecords; i++ {
				l, k := kbin.Varint(recs)
				if k <= 0 || l < 0 || k+int(l) > len(recs) {
					v.add(crashCorrupt, "%s-%d: batch [%d, %d): record %d does not decode", topic, part, rb.FirstOffset, end, i)
					break
				}
				var rec kmsg.Record
				if err := rec.ReadFrom(recs[:k+int(l)]); err != nil {
					v.add(crashCorrupt, "%s-%d: batch [%d, %d): record %d: %v", topic, part, rb.FirstOffset, end, i, err)
					break
				}
				recs = recs[k+int(l):]
				off := rb.FirstOffset + int64(rec.OffsetDelta)
				if off < start {
					continue // the log starts inside this batch
				}
				switch {
				case off > next:
					v.add(crashGap, "%s-%d: offsets [%d, %d) are missing (log start %d, high watermark %d)", topic, part, next, off, start, hw)
				case off < next:
					v.add(crashGap, "%s-%d: offset %d comes again after %d", topic, part, off, next-1)
				}
				next = off + 1
				pr.records++
				loc := crashLoc{topic, part, off}
				pr, seq, ok := crashParse(rec.Value)
				if !ok {
					v.add(crashCorrupt, "%v: value %s is not one the test sent", loc, fgShow(rec.Value))
					continue
				}
				k2 := crashKey(pr, seq)
				if prev, dup := found[k2]; dup {
					v.add(crashDuplicate, "value %d/%d at %v and at %v", pr, seq, prev, loc)
					continue
				}
				found[k2] = loc
			}
		}
		if !progressed {
			v.add(crashUnreadable, "%s-%d: a fetch at %d below the high watermark %d returned no whole batch", topic, part, fetchAt, hw)
			return
		}
	}
	if next < hw {
		v.add(crashGap, "%s-%d: offsets [%d, %d) below the high watermark are missing", topic, part, next, hw)
	}
}

// crashCheck reads everything the broker at addr holds and checks it
// against the ledger: every acks=all write at or above its partition's log
// start offset is there, at the offset acknowledged; every acks=1 write that
// is there is at the offset acknowledged; offsets are contiguous from log
// start to high watermark. With keepLeader (the broker was only ever
// killed, never lost power) acks=1 writes must be there too: they were
// written to the files, which a crash of the process does not undo.
//
// The log start offset may only have moved by retention: not at all
// without retention.bytes (retention 0), and with it only so far that at
// least retention.bytes minus a segment (segment) stays (Kafka keeps at
// least retention.bytes; the slack allows for a broker that counts a
// little differently). describe names a cycle for the examples.
func crashCheck(t *testing.T, addr string, topics []string, partitions int32, acks []crashAck, keepLeader bool, retention, segment int64, describe func(cycle int) string) *crashVerdict {
	t.Helper()
	v := newCrashVerdict()
	found, parts := crashReadAll(t, addr, topics, partitions, v)
	for loc, pr := range parts {
		switch {
		case pr.start == 0:
		case retention <= 0:
			v.add(crashBadStart, "%s-%d starts at offset %d, without retention", loc.topic, loc.partition, pr.start)
		case pr.bytes < retention-segment:
			v.add(crashBadStart, "%s-%d starts at offset %d and holds %d bytes, less than retention.bytes %d minus a segment", loc.topic, loc.partition, pr.start, pr.bytes, retention)
		}
	}
	var all, one, oneLost, belowStart int
	for _, a := range acks {
		want := crashLoc{a.topic, a.partition, a.offset}
		kind := "acks=1"
		if a.all {
			kind = "acks=all"
			all++
		} else {
			one++
		}
		got, ok := found[crashKey(a.producer, a.seq)]
		switch {
		case ok && got != want:
			v.add(crashInconsistent, "%s value %d/%d acknowledged at %v in %s is at %v", kind, a.producer, a.seq, want, describe(a.cycle), got)
		case ok:
		case a.offset < parts[crashLoc{topic: a.topic, partition: a.partition}].start:
			belowStart++ // removed by retention
		case a.all:
			pr := parts[crashLoc{topic: a.topic, partition: a.partition}]
			v.add(crashLost, "acks=all value %d/%d acknowledged at %v in %s is gone (partition now [%d, %d))", a.producer, a.seq, want, describe(a.cycle), pr.start, pr.hw)
		default:
			oneLost++
			if keepLeader {
				pr := parts[crashLoc{topic: a.topic, partition: a.partition}]
				v.add(crashLostLeader, "acks=1 value %d/%d acknowledged at %v in %s is gone (partition now [%d, %d))", a.producer, a.seq, want, describe(a.cycle), pr.start, pr.hw)
			}
		}
	}
	var records int64
	var starts []string
	for _, topic := range topics {
		for p := range partitions {
			pr := parts[crashLoc{topic: topic, partition: p}]
			records += pr.records
			starts = append(starts, fmt.Sprintf("%s-%d [%d, %d)", topic, p, pr.start, pr.hw))
		}
	}
	v.notes = append(v.notes,
		fmt.Sprintf("%d acks=all and %d acks=1 writes acknowledged; %d records read; %d acks=1 writes not in the log; %d acknowledged writes below the log start offset", all, one, records, oneLost, belowStart),
		"partitions: "+strings.Join(starts, ", "))
	t.Logf("final read: %s", v.notes[0])
	return v
}

// crashSegments counts the segment files of every partition under the data
// directory, to show that segments rolled.
func crashSegments(dir string) (segments, partitions int) {
	logs, _ := filepath.Glob(filepath.Join(dir, "storage", "*", "*", "*.log"))
	parts, _ := filepath.Glob(filepath.Join(dir, "storage", "*", "*"))
	return len(logs), len(parts)
}

// restartDialer makes a franz-go client keep dialing a broker that refuses
// connections for up to fgWait, as a client behind a load balancer or with
// several seeds would: franz-go fails a request whose only seed refuses
// the dial at once, so without it a test across a broker restart measures
// how fast the broker process starts against franz-go's dial policy rather
// than what the restarted broker does.
func restartDialer() kgo.Opt {
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		var d net.Dialer
		deadline := time.Now().Add(fgWait)
		for {
			c, err := d.DialContext(ctx, network, host)
			if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
				return c, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
}
