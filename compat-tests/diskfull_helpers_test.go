package compattests

// Helpers of the disk-full tests (diskfull_test.go): a small real file
// system of the test's own, the broker's metrics and ops endpoints, and
// producers of three clients that write until told to stop, recording what
// was acknowledged and when they first met the broker's refusal.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// dfGuardDefault, among a broker's extra flags, leaves
// storage.min.free.bytes at its default (5% of the volume), which the
// harness otherwise turns off (see tryStartProc).
const dfGuardDefault = "--storage.min.free.bytes=default"

// dfGuardArgs returns extra with the harness's --storage.min.free.bytes=0
// in front, unless extra sets the guard itself or asks for its default.
func dfGuardArgs(extra []string) []string {
	out := make([]string, 0, len(extra)+1)
	guard := true
	for _, a := range extra {
		switch {
		case a == dfGuardDefault:
			guard = false
			continue
		case strings.HasPrefix(a, "--storage.min.free.bytes"):
			guard = false
		}
		out = append(out, a)
	}
	if guard {
		out = append([]string{"--storage.min.free.bytes=0"}, out...)
	}
	return out
}

// dfVolume mounts a tmpfs of mib MiB for the test and returns its path; it
// is unmounted when the test ends (after the broker on it stopped: cleanups
// run last first). Mounting needs root, as CI has; elsewhere the test skips
// (fails under STREAMHOUSE_COMPAT_REQUIRE=1).
func dfVolume(t *testing.T, mib int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vol")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%dm", mib)); err != nil {
		if os.Getenv("STREAMHOUSE_COMPAT_REQUIRE") == "1" {
			t.Fatalf("mount a %d MiB tmpfs (needs root): %v", mib, err)
		}
		t.Skipf("mount a %d MiB tmpfs (needs root): %v", mib, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// dfFree is the free space of the file system holding dir.
func dfFree(t testing.TB, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// dfTotal is the size of the file system holding dir.
func dfTotal(t testing.TB, dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

// dfGet GETs url and returns the status and body.
func dfGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b)
}

// dfMetric reads one unlabelled metric from the broker's /metrics.
func dfMetric(t testing.TB, ops, name string) float64 {
	t.Helper()
	_, body := dfGet(t, "http://"+ops+"/metrics")
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %q", name, l)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in /metrics", name)
	return 0
}

// dfProducer is one client producing to a topic until stopped: what it
// got acknowledged, when it first met KAFKA_STORAGE_ERROR, and when it got
// its last acknowledgement.
type dfProducer struct {
	name string

	mu       sync.Mutex
	acked    map[string]bool // values
	firstErr time.Time       // first KAFKA_STORAGE_ERROR seen
	errs     int
	lastAck  time.Time
	failed   []string // records given up on (never expected)
	stop     chan struct{}
	done     chan struct{}
}

func newDFProducer(name string) *dfProducer {
	return &dfProducer{name: name, acked: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
}

func (p *dfProducer) ack(value string) {
	p.mu.Lock()
	p.acked[value] = true
	p.lastAck = time.Now()
	p.mu.Unlock()
}

func (p *dfProducer) storageErr() {
	p.mu.Lock()
	if p.errs == 0 {
		p.firstErr = time.Now()
	}
	p.errs++
	p.mu.Unlock()
}

func (p *dfProducer) fail(what string) {
	p.mu.Lock()
	p.failed = append(p.failed, what)
	p.mu.Unlock()
}

// state returns the first storage error's time, the error count, the last
// acknowledgement's time and the acknowledged values.
func (p *dfProducer) state() (firstErr time.Time, errs int, lastAck time.Time, acked int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstErr, p.errs, p.lastAck, len(p.acked)
}

// finish stops the producer and waits until everything it sent is
// acknowledged or given up on.
func (p *dfProducer) finish(t *testing.T) {
	t.Helper()
	close(p.stop)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: did not finish within 60 s", p.name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failed) > 0 {
		t.Errorf("%s gave up on %d records, first: %s", p.name, len(p.failed), p.failed[0])
	}
}

// dfValue is record i of producer name: the name, the number, and padding
// up to size bytes.
func dfValue(name string, i, size int) string {
	v := fmt.Sprintf("%s-%08d-", name, i)
	return v + strings.Repeat("x", max(size-len(v), 0))
}

// dfEvery paces the producers: a record every dfEvery each, about 2 MB/s
// of 4 KiB records, so that the space a test frees is not filled again
// before it has seen every producer resume.
const dfEvery = 2 * time.Millisecond

// dfFranz produces with franz-go: idempotent, acks=all, uncompressed,
// retrying without limit; the storage errors it meets are read from its
// debug log.
//
// franz-go retries a KAFKA_STORAGE_ERROR after a metadata refresh, and
// refreshes at most every MetadataMinAge (5 s by default): with the
// default it resumes up to 5 s after the broker did. The test sets 1 s, as
// a user who wants a quick resume would.
func dfFranz(t *testing.T, addr, topic string, size int) *dfProducer {
	p := newDFProducer("franz-go")
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(500),
		kgo.MetadataMinAge(time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }),
		kgo.WithLogger(dfKgoLogger{p}),
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(p.done)
		defer cl.Close()
		tick := time.NewTicker(dfEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				cancel() // a Produce blocked on a full buffer gives up
				if err := cl.Flush(context.Background()); err != nil {
					p.fail("flush: " + err.Error())
				}
				return
			case <-tick.C:
			}
			v := dfValue("fg", i, size)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
				switch {
				case errors.Is(err, context.Canceled):
					// Never buffered: Produce gave up at the stop.
				case err != nil:
					p.fail(fmt.Sprintf("%s: %v", v[:11], err))
				default:
					p.ack(v)
				}
			})
		}
	}()
	return p
}

// dfKgoLogger counts the KAFKA_STORAGE_ERRORs franz-go logs for its
// produce requests (at debug level, as it retries them).
type dfKgoLogger struct{ p *dfProducer }

func (dfKgoLogger) Level() kgo.LogLevel { return kgo.LogLevelDebug }

func (l dfKgoLogger) Log(_ kgo.LogLevel, msg string, keyvals ...any) {
	if !strings.Contains(msg, "produce") {
		return
	}
	if strings.Contains(fmt.Sprint(keyvals...), "KAFKA_STORAGE_ERROR") {
		l.p.storageErr()
	}
}

// dfSarama produces with sarama's SyncProducer: acks=all, retrying up to
// 10,000 times 100 ms apart (sarama's default of 3 would give up on a
// disk that stays low for more than 300 ms); its backoff function counts
// the retries the storage errors cause.
func dfSarama(t *testing.T, addr, topic string, size int) *dfProducer {
	p := newDFProducer("sarama")
	cfg := saramaConfig(sarama.MaxVersion)
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Retry.Max = 10_000
	cfg.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		p.storageErr()
		return 100 * time.Millisecond
	}
	cfg.Metadata.Retry.Max = 100
	sp, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		defer sp.Close()
		tick := time.NewTicker(dfEvery)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			v := dfValue("sa", i, size)
			_, _, err := sp.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(v)})
			if err != nil {
				p.fail(fmt.Sprintf("%s: %v", v[:11], err))
				continue
			}
			p.ack(v)
		}
	}()
	return p
}

// dfKcat produces with kcat (librdkafka): lines fed to its standard input
// every few milliseconds; the storage errors it meets are read from its
// debug log (debug=msg). A line counts as acknowledged when kcat exits 0
// after its input closed: it has delivered every line by then.
func dfKcat(t *testing.T, addr, topic string, size int) *dfProducer {
	kcat := requireTool(t, "kcat")
	p := newDFProducer("kcat")
	cmd := exec.Command(kcat, "-P", "-b", addr, "-t", topic, "-X", "debug=msg", "-X", "queue.buffering.max.ms=5",
		"-X", "retry.backoff.ms=100", "-X", "message.timeout.ms=120000")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var tailMu sync.Mutex
	var lastLines []string
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			if strings.Contains(l, "Disk error") {
				p.storageErr()
			}
			if !strings.HasPrefix(l, "%7|") {
				tailMu.Lock()
				lastLines = append(lastLines, l)
				tailMu.Unlock()
			}
		}
	}()
	go func() {
		defer close(p.done)
		var sent []string
		w := bufio.NewWriter(in)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				w.Flush()
				in.Close()
				err := cmd.Wait()
				<-logged
				if err != nil {
					tailMu.Lock()
					p.fail(fmt.Sprintf("kcat exited: %v: %s", err, strings.Join(lastLines, "; ")))
					tailMu.Unlock()
					return
				}
				for _, v := range sent {
					p.ack(v)
				}
				return
			case <-time.After(dfEvery):
			}
			v := dfValue("kc", i, size)
			sent = append(sent, v)
			w.WriteString(v + "\n")
			if i%10 == 0 {
				w.Flush()
			}
		}
	}()
	return p
}

// dfAcked merges the acknowledged values of producers.
func dfAcked(ps ...*dfProducer) map[string]bool {
	out := map[string]bool{}
	for _, p := range ps {
		p.mu.Lock()
		for v := range p.acked {
			out[v] = true
		}
		p.mu.Unlock()
	}
	return out
}

// dfCheckReadable reads topic (parts partitions) to its end and checks
// that every acknowledged value is there.
func dfCheckReadable(t *testing.T, addr, topic string, parts int32, acked map[string]bool, when string) {
	t.Helper()
	ends := fgEndOffsets(t, fgAdmin(t, addr), topic)
	n := 0
	for _, e := range ends {
		n += int(e)
	}
	got := fgConsume(t, addr, topic, parts, n)
	have := make(map[string]bool, n)
	for _, rs := range got {
		for _, r := range rs {
			have[string(r.Value)] = true
		}
	}
	missing := 0
	var first string
	for v := range acked {
		if !have[v] {
			if missing == 0 {
				first = v[:min(len(v), 16)]
			}
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%s: %d of %d acknowledged records missing (first %s); the topic holds %d", when, missing, len(acked), first, n)
	}
	t.Logf("%s: all %d acknowledged records read back (%d records in the topic)", when, len(acked), n)
}

// dfWaitFor polls cond every 20 ms for up to limit, failing the test with
// what when it does not hold by then.
func dfWaitFor(t *testing.T, limit time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Now()
}
