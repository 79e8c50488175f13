package compattests

// Helpers for the tiered storage tests (tiered_test.go,
// tiered_faults_test.go): the binary on --storage=s3 over a versitygw
// bucket (internal/s3test), restarted on one data directory and port;
// records whose key and value only their offset determines, so that a read
// of hundreds of megabytes is checked record by record without keeping
// what was written; readers with franz-go and kcat that stream and check;
// and looks into the bucket (minio-go) and the catalog (meta/sqlite) to
// compare the two. Names start with tier.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/streamhouse/streamhouse/internal/s3test"
	"github.com/streamhouse/streamhouse/meta"
	"github.com/streamhouse/streamhouse/meta/sqlite"
)

// tierSegment is the segment.bytes of the tests' topics: Kafka's least, so
// that a few megabytes make many segments to upload.
const tierSegment = 1 << 20

// tierWait bounds the waits for background work (uploads, retention, the
// sweep). Only a hang turns into a failure; no wait is a speed claim.
const tierWait = 90 * time.Second

// --- the broker ---------------------------------------------------------

// tierBroker is the streamhouse binary on --storage=s3, restarted on one
// data directory and one address.
type tierBroker struct {
	t        *testing.T
	s3       *s3test.Server
	bucket   string
	prefix   string // --s3-prefix
	endpoint string // --s3-endpoint: the server's, or a proxy's in front of it
	bin      string
	dir      string
	addr     string
	http     string   // --http-listen, for /metrics
	flags    []string // more flags, at every start
	env      []string
	p        *proc
}

// newTierBroker prepares a broker over a new bucket of srv (not started).
// flags are passed at every start, after the tiered ones.
func newTierBroker(t *testing.T, srv *s3test.Server, flags ...string) *tierBroker {
	t.Helper()
	dir, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &tierBroker{
		t: t, s3: srv, bucket: srv.Bucket(t), prefix: "sh", endpoint: srv.Endpoint(),
		bin: binary(t), dir: dir, addr: freePort(t), http: freePort(t), flags: flags, env: srv.Env(),
	}
}

// args are the flags of a start: tiered storage on the bucket with a
// short grace (so that the sweep runs within the test), retention checked
// twice a second, the HTTP listener on, then b.flags and extra.
func (b *tierBroker) args(extra []string) []string {
	args := []string{
		"--storage=s3", "--s3-endpoint", b.endpoint, "--s3-bucket", b.bucket, "--s3-prefix", b.prefix,
		"--s3-delete-grace=1s", "--log.retention.check.interval.ms=500", "--http-listen", b.http,
	}
	return append(append(args, b.flags...), extra...)
}

// start starts the broker and waits until it serves.
func (b *tierBroker) start(extra ...string) {
	b.t.Helper()
	b.p = startProcWith(b.t, b.bin, b.env, b.dir, b.addr, b.args(extra)...)
}

// stop stops it with SIGTERM (a clean shutdown).
func (b *tierBroker) stop() {
	b.t.Helper()
	b.p.stop()
}

// kill stops it with SIGKILL.
func (b *tierBroker) kill() {
	b.t.Helper()
	b.p.cmd.Process.Kill()
	err := <-b.p.done
	b.p.done <- err
}

// metrics scrapes /metrics.
func (b *tierBroker) metrics() opsMetrics {
	b.t.Helper()
	return (&opsBroker{proc: b.p, http: b.http}).scrape(b.t)
}

// metric is the sum of the series of a metric family carrying labels.
func (b *tierBroker) metric(name string, labels ...string) float64 {
	b.t.Helper()
	v, _ := b.metrics().sum(name, labels...)
	return v
}

// backlog is streamhouse_remote_upload_backlog_segments and _bytes.
func (b *tierBroker) backlog() (segments, bytes float64) {
	b.t.Helper()
	m := b.metrics()
	segments, _ = m.sum("streamhouse_remote_upload_backlog_segments")
	bytes, _ = m.sum("streamhouse_remote_upload_backlog_bytes")
	return segments, bytes
}

// partitionDir is the local directory of a partition.
func (b *tierBroker) partitionDir(topic string, p int32) string {
	return filepath.Join(b.dir, "storage", topic, strconv.Itoa(int(p)))
}

// tierDirBytes is the size of the files in dir (0 when it is missing).
func tierDirBytes(t testing.TB, dir string) int64 {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range es {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// tierEventually polls cond every 100 ms until it holds, and fails the
// test with what last says after limit.
func tierEventually(t testing.TB, limit time.Duration, what string, cond func() bool, last func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, limit, last())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitUploaded waits until nothing awaits upload, the local log of
// partition 0 of topic starts past want, and local retention has nothing
// left to remove (tierLocalSettled: the local log start no longer moves
// until more is produced or a config changes), and returns the local log
// start. The topic's local.retention.ms must not expire its records.
func (b *tierBroker) waitUploaded(topic string, want int64) int64 {
	b.t.Helper()
	cl := fgClient(b.t, b.addr)
	limit := tierLocalRetentionBytes(b.t, fgAdmin(b.t, b.addr), topic)
	dir := b.partitionDir(topic, 0)
	var local int64
	var segs, bytes float64
	var settled bool
	tierEventually(b.t, tierWait, "uploads done and local copies removed", func() bool {
		segs, bytes = b.backlog()
		local = tierListOffset(b.t, cl, topic, 0, -4)
		settled = tierLocalSettled(dir, limit)
		return segs == 0 && bytes == 0 && local > want && settled
	}, func() string {
		return fmt.Sprintf("backlog %v segments, %v bytes; local log start %d (want past %d); local retention done: %v\n%s",
			segs, bytes, local, want, settled, tail(b.p.logs.String(), 3000))
	})
	return local
}

// tierLocalRetentionBytes is the local.retention.bytes in force for
// topic: its own, or retention.bytes for -2; -1 is no limit.
func tierLocalRetentionBytes(t testing.TB, adm *kadm.Client, topic string) int64 {
	t.Helper()
	v := tierConfig(t, adm, topic, "local.retention.bytes")
	if v == "-2" {
		v = tierConfig(t, adm, topic, "retention.bytes")
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s: local.retention.bytes %q: %v", topic, v, err)
	}
	return n
}

// tierLocalSettled reports whether local retention by bytes has nothing
// left to remove from a partition directory whose segments are all
// uploaded: as storage/fs decides, the oldest closed segment goes while
// the log holds at least limit bytes without it. Whether it holds does not
// depend on when the broker's retention check last ran, so a test that
// reads the local log start after it sees one that stays. A listing cut
// by a deletion says no, for the next poll.
func tierLocalSettled(dir string, limit int64) bool {
	if limit < 0 {
		return true
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return false
	}
	slices.Sort(logs) // the names are zero-padded base offsets
	if len(logs) < 2 {
		return true
	}
	var total, first int64
	for i, name := range logs {
		fi, err := os.Stat(name)
		if err != nil {
			return false
		}
		total += fi.Size()
		if i == 0 {
			first = fi.Size()
		}
	}
	return total-first < limit
}

// waitLogStart waits until the log start of partition 0 of topic is past
// after, and then until the bucket holds no segment of the topic wholly
// below it (the sweep deleted what retention, DeleteRecords or tiering
// turned off gave up); it returns the log start.
func (b *tierBroker) waitLogStart(topic string, id [16]byte, after int64) int64 {
	b.t.Helper()
	cl := fgClient(b.t, b.addr)
	var start int64
	tierEventually(b.t, tierWait, "the log start moves", func() bool {
		start = tierListOffset(b.t, cl, topic, 0, -2)
		return start > after
	}, func() string { return fmt.Sprintf("log start %d, want past %d", start, after) })
	b.waitBucketFrom(id, start)
	return start
}

// waitBucketFrom waits until the bucket holds no segment of the topic
// that ends at or below offset from: none, or the first one's base at or
// below from with every other above it.
func (b *tierBroker) waitBucketFrom(id [16]byte, from int64) {
	b.t.Helper()
	var bases []int64
	tierEventually(b.t, tierWait, "the bucket's segments below the log start deleted", func() bool {
		_, bases = tierLogBytes(b.objects(hex.EncodeToString(id[:])))
		return len(bases) < 2 || bases[1] > from
	}, func() string { return fmt.Sprintf("segments at %v, log start %d", bases, from) })
}

// tierAlter sets topic configs (name, value pairs) with
// IncrementalAlterConfigs and fails the test on an error.
func tierAlter(t testing.TB, adm *kadm.Client, topic string, kv ...string) {
	t.Helper()
	if err := tierTryAlter(t, adm, topic, kv...); err != nil {
		t.Fatalf("alter %s %v: %v", topic, kv, err)
	}
}

// tierTryAlter is tierAlter returning the error, its message included.
func tierTryAlter(t testing.TB, adm *kadm.Client, topic string, kv ...string) error {
	t.Helper()
	var cfgs []kadm.AlterConfig
	for i := 0; i+1 < len(kv); i += 2 {
		cfgs = append(cfgs, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[i], Value: kadm.StringPtr(kv[i+1])})
	}
	resp, err := adm.AlterTopicConfigs(fgCtx(t), cfgs, topic)
	if err != nil {
		return err
	}
	r, err := resp.On(topic, nil)
	if err != nil {
		return err
	}
	if r.Err != nil {
		return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
	}
	return nil
}

// tierConfig is a topic config's value as DescribeConfigs gives it.
func tierConfig(t testing.TB, adm *kadm.Client, topic, name string) string {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(fgCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("describe %s: %v", topic, err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c.MaybeValue()
		}
	}
	t.Fatalf("describe %s: no %s", topic, name)
	return ""
}

// --- records --------------------------------------------------------------

// tierValue is the value of the record at offset off: "v<off>/" and 200 to
// 1,799 letters that only off determines.
func tierValue(off int64) []byte {
	h := crashMix(uint64(off) ^ 0x7469657265640000)
	n := 200 + int(h%1600)
	v := fmt.Appendf(make([]byte, 0, n+24), "v%d/", off)
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

// tierKey is the key of the record at offset off.
func tierKey(off int64) []byte { return strconv.AppendInt([]byte{'k'}, off, 10) }

// tierTime is the timestamp of the record at offset off in a topic
// produced with timestamps from base (tierProduce): one millisecond per
// offset.
func tierTime(base time.Time, off int64) time.Time {
	return base.Add(time.Duration(off) * time.Millisecond)
}

// tierProducer is a franz-go client that produces tierValue records to
// partition 0, idempotent with acks=all.
func tierProducer(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return fgClient(t, addr, append([]kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.ProducerBatchMaxBytes(1 << 20),
	}, opts...)...)
}

// tierProduce produces the records of offsets [from, to) to partition 0
// of topic and fails the test unless each was acknowledged at its offset.
// ts, when not zero, is the base of the records' timestamps (tierTime);
// zero leaves them to the client (now).
func tierProduce(t testing.TB, cl *kgo.Client, topic string, from, to int64, ts time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tierTryProduce(ctx, cl, topic, from, to, ts); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// tierTryProduce is tierProduce returning the first error, for a
// goroutine.
func tierTryProduce(ctx context.Context, cl *kgo.Client, topic string, from, to int64, ts time.Time) error {
	errs := make(chan error, 1)
	for off := from; off < to; off++ {
		r := &kgo.Record{Topic: topic, Partition: 0, Key: tierKey(off), Value: tierValue(off)}
		if !ts.IsZero() {
			r.Timestamp = tierTime(ts, off)
		}
		want := off
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err == nil && r.Offset != want {
				err = fmt.Errorf("record %d acknowledged at offset %d", want, r.Offset)
			}
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// tierBytes is the bytes of the keys and values of the records of
// [from, to): less than they take in a log.
func tierBytes(from, to int64) int64 {
	var n int64
	for off := from; off < to; off++ {
		n += int64(len(tierValue(off)) + len(tierKey(off)))
	}
	return n
}

// tierRecordsFor returns how many records from offset 0 make about n bytes.
func tierRecordsFor(n int64) int64 {
	var off, size int64
	for size < n {
		size += int64(len(tierValue(off))) + 20
		off++
	}
	return off
}

// --- readers --------------------------------------------------------------

// tierCheck checks one record read back.
func tierCheck(off int64, key, value []byte) error {
	if !bytes.Equal(key, tierKey(off)) {
		return fmt.Errorf("offset %d: key %s, want %q", off, fgShow(key), tierKey(off))
	}
	if !bytes.Equal(value, tierValue(off)) {
		return fmt.Errorf("offset %d: value %s, want %s", off, fgShow(value), fgShow(tierValue(off)))
	}
	return nil
}

// tierReadKgo reads partition 0 of topic from offset from up to end with a
// franz-go consumer and fails the test unless it gets exactly the records
// of those offsets, each with its key and value. Retriable fetch errors
// (a failed read of the bucket) are franz-go's to retry, as for any
// application.
func tierReadKgo(t testing.TB, addr, topic string, from, end int64) {
	t.Helper()
	cl := fgClient(t, addr,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.FetchMaxPartitionBytes(8<<20),
	)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	next := from
	for next < end {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go read of %s: at offset %d of [%d, %d) when the time ran out", topic, next, from, end)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("franz-go read of %s: at offset %d: %v", topic, next, e.Err)
		}
		var err error
		fs.EachRecord(func(r *kgo.Record) {
			switch {
			case err != nil:
			case r.Offset != next:
				err = fmt.Errorf("record at offset %d, want %d", r.Offset, next)
			default:
				err = tierCheck(r.Offset, r.Key, r.Value)
				next++
			}
		})
		if err != nil {
			t.Fatalf("franz-go read of %s from %d: %v", topic, from, err)
		}
	}
}

// tierReadKcat reads partition 0 of topic from offset from up to end with
// kcat (librdkafka, checking every batch's CRC) and fails the test unless
// it prints exactly the records of those offsets, each with its key and
// value. kcat's output is checked as it streams.
func tierReadKcat(t testing.TB, kcat, addr, topic string, from, end int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-C", "-q", "-e", "-t", topic, "-p", "0",
		"-o", strconv.FormatInt(from, 10), "-c", strconv.FormatInt(end-from, 10), "-f", `%o|%k|%s\n`,
		"-X", "check.crcs=true", "-X", "fetch.wait.max.ms=10", "-X", "fetch.error.backoff.ms=20")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	next := from
	var bad error
	r := bufio.NewReaderSize(out, 1<<20)
	for bad == nil {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bad = fmt.Errorf("reading kcat's output: %w", err)
			break
		}
		line = line[:len(line)-1]
		f := bytes.SplitN(line, []byte("|"), 3)
		if len(f) != 3 {
			bad = fmt.Errorf("kcat printed %s, not offset|key|value", fgShow(line))
			break
		}
		off, err := strconv.ParseInt(string(f[0]), 10, 64)
		switch {
		case err != nil:
			bad = fmt.Errorf("kcat printed %s, not offset|key|value", fgShow(line))
		case off != next:
			bad = fmt.Errorf("record at offset %d, want %d", off, next)
		default:
			bad = tierCheck(off, f[1], f[2])
			next++
		}
	}
	if bad != nil {
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case bad != nil:
		t.Fatalf("kcat read of %s from %d: %v\n%s", topic, from, bad, tail(stderr.String(), 2000))
	case werr != nil:
		t.Fatalf("kcat read of %s from %d: %v at offset %d\n%s", topic, from, werr, next, tail(stderr.String(), 2000))
	case next != end:
		t.Fatalf("kcat read of %s: it stopped at offset %d of [%d, %d)\n%s", topic, next, from, end, tail(stderr.String(), 2000))
	}
}

// tierListOffset is ListOffsets v8 of partition p at timestamp ts: -1
// latest, -2 earliest, -4 earliest local (KIP-405), or a time.
func tierListOffset(t testing.TB, cl *kgo.Client, topic string, p int32, ts int64) int64 {
	t.Helper()
	off, code := tierTryListOffset(t, cl, topic, p, ts)
	if code != 0 {
		t.Fatalf("ListOffsets %s-%d at %d: %v", topic, p, ts, kerr.ErrorForCode(code))
	}
	return off
}

// tierListOffsetsRequest is a ListOffsets (v8) of one partition at ts.
func tierListOffsetsRequest(topic string, p int32, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 8
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func tierTryListOffset(t testing.TB, cl *kgo.Client, topic string, p int32, ts int64) (int64, int16) {
	t.Helper()
	resp, err := tierListOffsetsRequest(topic, p, ts).RequestWith(fgCtx(t), cl)
	if err != nil {
		t.Fatalf("ListOffsets %s-%d at %d: %v", topic, p, ts, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets %s-%d at %d: %d topics in the answer", topic, p, ts, len(resp.Topics))
	}
	sp := resp.Topics[0].Partitions[0]
	return sp.Offset, sp.ErrorCode
}

// tierFetchCode fetches partition 0 of topic at offset with a raw Fetch
// and returns the partition's error code.
func tierFetchCode(t testing.TB, addr, topic string, offset int64) int16 {
	t.Helper()
	r := fgDialRaw(t, addr)
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = -1, 0, 1, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.LogStartOffset = 0, offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.do(req, 12).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// --- the bucket and the catalog -------------------------------------------

// tierObject is one object of a remote segment, as its key names it:
// <prefix>/<topic id>/<partition>/<base>-<upload id>.<ext>.
type tierObject struct {
	key       string
	topicID   string
	partition int32
	base      int64
	upload    string
	ext       string
	size      int64
}

// objects lists the bucket's objects under the broker's prefix, and under
// the topic ID when topicID is not empty.
func (b *tierBroker) objects(topicID string) []tierObject {
	b.t.Helper()
	prefix := b.prefix + "/"
	if topicID != "" {
		prefix += topicID + "/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []tierObject
	for o := range b.s3.Client(b.t).ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			b.t.Fatalf("list the bucket: %v", o.Err)
		}
		obj, err := tierParseKey(strings.TrimPrefix(o.Key, b.prefix+"/"))
		if err != nil {
			b.t.Fatalf("the bucket holds %q: %v", o.Key, err)
		}
		obj.size = o.Size
		out = append(out, obj)
	}
	return out
}

// multipartUploads lists the bucket's incomplete multipart uploads under
// the broker's prefix, as "key upload-id".
func (b *tierBroker) multipartUploads() []string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	core := minio.Core{Client: b.s3.Client(b.t)}
	var out []string
	key, id := "", ""
	for {
		res, err := core.ListMultipartUploads(ctx, b.bucket, b.prefix+"/", key, id, "", 1000)
		if err != nil {
			b.t.Fatalf("list the bucket's multipart uploads: %v", err)
		}
		for _, u := range res.Uploads {
			out = append(out, u.Key+" "+u.UploadID)
		}
		if !res.IsTruncated {
			return out
		}
		key, id = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

func tierParseKey(key string) (tierObject, error) {
	f := strings.Split(key, "/")
	if len(f) != 3 {
		return tierObject{}, errors.New("not <topic id>/<partition>/<base>-<upload>.<ext>")
	}
	p, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return tierObject{}, fmt.Errorf("partition: %w", err)
	}
	name, ext, ok := strings.Cut(f[2], ".")
	base, upload, ok2 := strings.Cut(name, "-")
	if !ok || !ok2 {
		return tierObject{}, errors.New("not <base>-<upload>.<ext>")
	}
	b, err := strconv.ParseInt(base, 10, 64)
	if err != nil {
		return tierObject{}, fmt.Errorf("base offset: %w", err)
	}
	return tierObject{key: key, topicID: f[0], partition: int32(p), base: b, upload: upload, ext: ext}, nil
}

// tierExts are the objects of a remote segment.
var tierExts = []string{"index", "log", "snapshot", "timeindex", "txnindex"}

// tierSegments groups objects by upload: base offset and the extensions
// found, for a failure message.
func tierSegments(objs []tierObject) map[string][]string {
	out := map[string][]string{}
	for _, o := range objs {
		k := fmt.Sprintf("%s/%d/%d-%s", o.topicID, o.partition, o.base, o.upload)
		out[k] = append(out[k], o.ext)
	}
	return out
}

// tierLogBytes is the size of the .log objects among objs, and the
// distinct base offsets of the segments, sorted.
func tierLogBytes(objs []tierObject) (int64, []int64) {
	var n int64
	var bases []int64
	for _, o := range objs {
		if o.ext == "log" {
			n += o.size
			bases = append(bases, o.base)
		}
	}
	slices.Sort(bases)
	return n, slices.Compact(bases)
}

// tierCatalog opens the broker's SQLite catalog beside the running broker
// (SQLite's WAL lets a second process read it), closed when the test ends.
func (b *tierBroker) catalog() *sqlite.Catalog {
	b.t.Helper()
	c, err := sqlite.Open(context.Background(), filepath.Join(b.dir, "metadata.db"), sqlite.Options{})
	if err != nil {
		b.t.Fatalf("open the catalog: %v", err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

// tierRecorded is every remote segment record of the catalog, by
// "<topic id>/<partition>/<upload id>".
func tierRecorded(t testing.TB, c meta.RemoteSegments) map[string]meta.RemoteSegment {
	t.Helper()
	ctx := fgCtx(t)
	parts, err := c.RemotePartitions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]meta.RemoteSegment{}
	for _, p := range parts {
		segs, err := c.RemoteSegments(ctx, p.TopicID, p.Partition)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range segs {
			out[fmt.Sprintf("%s/%d/%s", s.TopicID, s.Partition, s.ID)] = s
		}
	}
	return out
}

// bucketMatchesCatalog compares the bucket with the catalog: it returns
// what is wrong, nothing when every object belongs to a live segment
// record (no orphan: an upload whose record never landed, or a segment
// given up, whose objects the sweep must remove) and every live record
// has its five objects (none lost).
func (b *tierBroker) bucketMatchesCatalog(c meta.RemoteSegments) []string {
	b.t.Helper()
	objs := b.objects("")
	recs := tierRecorded(b.t, c)
	var wrong []string
	have := map[string][]string{}
	for _, o := range objs {
		id := fmt.Sprintf("%s/%d/%s", o.topicID, o.partition, o.upload)
		have[id] = append(have[id], o.ext)
		switch s, ok := recs[id]; {
		case !ok:
			wrong = append(wrong, "orphan (no record): "+o.key)
		case s.Deleting:
			wrong = append(wrong, "given up (record Deleting), still there: "+o.key)
		}
	}
	for id, s := range recs {
		if s.Deleting {
			continue
		}
		exts := have[id]
		slices.Sort(exts)
		if !slices.Equal(exts, tierExts) {
			wrong = append(wrong, fmt.Sprintf("live record %s [%d, %d) has objects %v", id, s.BaseOffset, s.EndOffset, exts))
		}
	}
	slices.Sort(wrong)
	return wrong
}
