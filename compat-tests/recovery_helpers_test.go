package compattests

// Helpers for the durability and recovery tests (corruption_test.go,
// retention_test.go): records produced in batches whose boundaries the test
// knows, a partition's segment files walked batch by batch (storage/fs's
// layout, see storage/fs/doc.go), raw fetches that check every batch served,
// and bounded polling. Names start with rc.

import (
	enc "encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rcCRC is the CRC-32C table of RecordBatch v2.
var rcCRC = crc32.MakeTable(crc32.Castagnoli)

// rcHeaderSize is the size of a RecordBatch v2 header, up to the records.
const rcHeaderSize = 61

// rcPartDir is the directory of a partition's log under the data dir the
// binary was started with.
func rcPartDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, "storage", topic, strconv.Itoa(int(p)))
}

// rcSegment is one segment file of a partition.
type rcSegment struct {
	base int64
	path string // the .log file
	size int64
}

// rcBase parses the 20-digit base offset that starts a segment file's name
// (00000000000000000042.log, .index, .timeindex, ...).
func rcBase(name string) (int64, bool) {
	if len(name) < 21 || name[20] != '.' {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	b, err := strconv.ParseInt(name[:20], 10, 64)
	return b, err == nil
}

// rcSegments lists the .log files of a partition directory by base offset.
// A running broker may remove a segment (retention, DeleteRecords, the
// cleaner's swap) between the listing and the stat of its file: such a
// file is not listed.
func rcSegments(t testing.TB, dir string) []rcSegment {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list segments: %v", err)
	}
	var out []rcSegment
	for _, e := range es {
		base, ok := rcBase(e.Name())
		if !ok || e.Name()[21:] != "log" {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the listing
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rcSegment{base: base, path: filepath.Join(dir, e.Name()), size: fi.Size()})
	}
	slices.SortFunc(out, func(a, b rcSegment) int { return int(a.base - b.base) })
	return out
}

// rcFilesBelow lists the files of a partition directory that belong to a
// segment (any extension: .log, .index, .timeindex, .deleted, ...) whose
// base is below offset.
func rcFilesBelow(t testing.TB, dir string, offset int64) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s: %v", dir, err)
	}
	var out []string
	for _, e := range es {
		if base, ok := rcBase(e.Name()); ok && base < offset {
			out = append(out, e.Name())
		}
	}
	return out
}

// rcFileBatch is a batch found in a segment file.
type rcFileBatch struct {
	pos, size  int64 // where in the file
	base, last int64 // its first and last offset
}

// rcWalkSegment reads a segment file written by the broker and returns its
// batches. The file must hold whole batches with valid CRCs and dense
// offsets from its base: it is read before a test damages it.
func rcWalkSegment(t testing.TB, seg rcSegment) []rcFileBatch {
	t.Helper()
	data, err := os.ReadFile(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	var out []rcFileBatch
	next := seg.base
	for pos := 0; pos < len(data); {
		b := data[pos:]
		if len(b) < rcHeaderSize {
			t.Fatalf("%s: %d bytes at position %d, less than a batch header", seg.path, len(b), pos)
		}
		size := 12 + int(int32(enc.BigEndian.Uint32(b[8:])))
		if size < rcHeaderSize || size > len(b) {
			t.Fatalf("%s: batch at position %d claims %d bytes, %d left", seg.path, pos, size, len(b))
		}
		if err := rcCheckBatch(b[:size]); err != nil {
			t.Fatalf("%s: batch at position %d: %v", seg.path, pos, err)
		}
		base := int64(enc.BigEndian.Uint64(b))
		last := base + int64(int32(enc.BigEndian.Uint32(b[23:])))
		if base != next {
			t.Fatalf("%s: batch at position %d has base offset %d, want %d", seg.path, pos, base, next)
		}
		out = append(out, rcFileBatch{pos: int64(pos), size: int64(size), base: base, last: last})
		next = last + 1
		pos += size
	}
	return out
}

// rcWalkPartition walks every segment of a partition in order.
func rcWalkPartition(t testing.TB, dir string) []rcFileBatch {
	t.Helper()
	var out []rcFileBatch
	for _, s := range rcSegments(t, dir) {
		out = append(out, rcWalkSegment(t, s)...)
	}
	return out
}

// rcCheckBatch checks one whole RecordBatch v2: magic and CRC-32C.
func rcCheckBatch(b []byte) error {
	if len(b) < rcHeaderSize {
		return fmt.Errorf("%d bytes, less than a batch header", len(b))
	}
	if b[16] != 2 {
		return fmt.Errorf("magic %d, want 2", b[16])
	}
	if got, want := crc32.Checksum(b[21:], rcCRC), enc.BigEndian.Uint32(b[17:]); got != want {
		return fmt.Errorf("CRC-32C of the batch is %#08x, its header says %#08x", got, want)
	}
	return nil
}

// rcAppendFile appends data to the file at path.
func rcAppendFile(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// rcFlipBit flips one bit of the byte at pos of the file at path.
func rcFlipBit(t testing.TB, path string, pos int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], pos); err != nil {
		t.Fatalf("flip a bit of %s at %d: %v", path, pos, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b[:], pos); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// rcFileSize is the size of the file at path.
func rcFileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// rcKill kills the broker with SIGKILL and waits for it to die.
func rcKill(t testing.TB, p *proc) {
	t.Helper()
	// The tests that kill with rcKill then damage segment files: new
	// partitions' first batches must have left the nursery journal for
	// their segments (storage/fs/nursery.go), which the broker does soon
	// after their first append.
	waitSettled(t, filepath.Join(p.dir, "storage"))
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// waitSettled waits, up to 10 s, until the fs store in dir holds nothing
// in its nursery journal: every new partition's batches are in its own
// segment files.
func waitSettled(t testing.TB, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		fi, err := os.Stat(filepath.Join(dir, "+nursery"))
		if err != nil || fi.Size() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nursery journal in %s still holds %d bytes after 10 s", dir, fi.Size())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rcProducer produces records to one topic in rounds. A round sends one
// batch per partition: the client flushes only when asked
// (kgo.ManualFlushing), so the records a round gives a partition travel in
// one batch. Values are uncompressed and deterministic; timestamps grow by
// one millisecond per record from ts0 (or are the produce time when ts0 is
// zero). Every record is acknowledged with acks=all.
type rcProducer struct {
	t     testing.TB
	cl    *kgo.Client
	topic string
	ts0   time.Time
	seq   int
	// recs holds, by partition, every record acknowledged, in offset
	// order; batches the offsets [first, last] of each batch sent.
	recs    map[int32][]*kgo.Record
	batches map[int32][][2]int64
}

func rcNewProducer(t testing.TB, addr, topic string, ts0 time.Time) *rcProducer {
	t.Helper()
	pr := &rcProducer{t: t, topic: topic, ts0: ts0, recs: map[int32][]*kgo.Record{}, batches: map[int32][][2]int64{}}
	pr.connect(addr)
	return pr
}

// connect points the producer at a (restarted) broker.
func (pr *rcProducer) connect(addr string) {
	pr.t.Helper()
	if pr.cl != nil {
		pr.cl.Close()
	}
	pr.cl = fgClient(pr.t, addr,
		// Not idempotent: an idempotent kgo producer splits a round's
		// batch more often (seen: 3 records sent as 1 + 2); the
		// corruption tests want a batch per partition per round, and
		// checkLayout accepts the rare split.
		kgo.DisableIdempotentWrite(),
		kgo.ManualFlushing(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(4<<20),
	)
}

// round produces counts[p] records of about valueSize bytes to each
// partition p, one batch per partition, and returns them by partition. It
// fails the test when a batch was not stored at the offsets that follow
// the partition's previous records.
func (pr *rcProducer) round(counts map[int32]int, valueSize int) map[int32][]*kgo.Record {
	pr.t.Helper()
	ctx := fgCtx(pr.t)
	out := map[int32][]*kgo.Record{}
	errs := make(chan error, 1024)
	for _, p := range fgPartitions(counts) {
		for range counts[p] {
			r := &kgo.Record{
				Topic:     pr.topic,
				Partition: p,
				Key:       fmt.Appendf(nil, "p%d-%d", p, pr.seq),
				Value:     rcValue(pr.seq, valueSize),
				Headers:   []kgo.RecordHeader{{Key: "seq", Value: fmt.Appendf(nil, "%d", pr.seq)}},
			}
			if !pr.ts0.IsZero() {
				r.Timestamp = pr.ts0.Add(time.Duration(pr.seq) * time.Millisecond)
			}
			pr.seq++
			out[p] = append(out[p], r)
			pr.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					select {
					case errs <- fmt.Errorf("partition %d: %w", r.Partition, err):
					default:
					}
				}
			})
		}
	}
	if err := pr.cl.Flush(ctx); err != nil {
		pr.t.Fatalf("produce to %s: flush: %v", pr.topic, err)
	}
	close(errs)
	for err := range errs {
		pr.t.Fatalf("produce to %s: %v", pr.topic, err)
	}
	for p, rs := range out {
		want := int64(len(pr.recs[p]))
		for i, r := range rs {
			if r.Offset != want+int64(i) {
				pr.t.Fatalf("produce to %s-%d: record %d of the round stored at offset %d, want %d", pr.topic, p, i, r.Offset, want+int64(i))
			}
		}
		pr.recs[p] = append(pr.recs[p], rs...)
		pr.batches[p] = append(pr.batches[p], [2]int64{rs[0].Offset, rs[len(rs)-1].Offset})
	}
	return out
}

// total is the number of records acknowledged.
func (pr *rcProducer) total() int {
	n := 0
	for _, rs := range pr.recs {
		n += len(rs)
	}
	return n
}

// checkLayout checks, with the broker stopped, that each partition's
// segment files hold exactly the records the producer sent, each round's
// in one batch or, where the client split a round (kgo has, rarely, even
// with manual flushing: 2 records sent as 1 + 1), in consecutive ones; it
// then takes the files' batches as pr.batches. The tests' damage relies on
// knowing the boundaries.
func (pr *rcProducer) checkLayout(dataDir string) {
	pr.t.Helper()
	for _, p := range fgPartitions(pr.batches) {
		var got [][2]int64
		for _, b := range rcWalkPartition(pr.t, rcPartDir(dataDir, pr.topic, p)) {
			got = append(got, [2]int64{b.base, b.last})
		}
		if !rcTilesRounds(got, pr.batches[p]) {
			pr.t.Fatalf("test setup: partition %s-%d holds batches %v, the producer sent %v (a batch per partition per round, or a round split in consecutive batches)",
				pr.topic, p, got, pr.batches[p])
		}
		pr.batches[p] = got
	}
}

// rcTilesRounds reports whether batches, [first, last] offsets in file
// order, hold exactly the rounds' records: each round as one batch or as
// consecutive batches that end where it ends.
func rcTilesRounds(batches, rounds [][2]int64) bool {
	i := 0
	for _, r := range rounds {
		if i >= len(batches) || batches[i][0] != r[0] {
			return false
		}
		for batches[i][1] < r[1] {
			i++
			if i >= len(batches) || batches[i][0] != batches[i-1][1]+1 {
				return false
			}
		}
		if batches[i][1] != r[1] {
			return false
		}
		i++
	}
	return i == len(batches)
}

// rcValue is a deterministic value of size bytes (at least its prefix)
// for record seq.
func rcValue(seq, size int) []byte {
	v := fmt.Appendf(nil, "record %d ", seq)
	x := uint32(seq)*2654435761 + 1
	for len(v) < size {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		v = append(v, "abcdefghijklmnopqrstuvwxyz"[x%26])
	}
	return v
}

// rcFetched is one partition's answer to a raw Fetch.
type rcFetched struct {
	code    int16
	hw, lso int64
	batches []rcRawBatch
}

// rcRawBatch is a whole batch as a fetch served it.
type rcRawBatch struct {
	base, last int64
	raw        []byte
	err        error // from rcCheckBatch: a batch that is not one is garbage
}

// rcFetch sends one Fetch v12 for one partition at offset, with no wait,
// and returns the partition's answer with its whole batches split out (a
// partial batch at the end of the answer is dropped, as clients do).
func rcFetch(r *fgRaw, topic string, partition int32, offset int64, maxBytes int32) rcFetched {
	r.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis = 0
	req.MinBytes = 1
	req.MaxBytes = maxBytes
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, maxBytes
	rp.LogStartOffset = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.do(req, 12).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("fetch %s-%d at %d: top-level error %v, %d topics; want one topic with one partition",
			topic, partition, offset, kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
	}
	sp := resp.Topics[0].Partitions[0]
	out := rcFetched{code: sp.ErrorCode, hw: sp.HighWatermark, lso: sp.LogStartOffset}
	b := sp.RecordBatches
	for len(b) >= 12 {
		size := 12 + int(int32(enc.BigEndian.Uint32(b[8:])))
		if size > len(b) {
			break
		}
		if size < 12 {
			out.batches = append(out.batches, rcRawBatch{raw: b, err: fmt.Errorf("batch length %d", size-12)})
			break
		}
		rb := rcRawBatch{raw: b[:size], err: rcCheckBatch(b[:size])}
		if size >= rcHeaderSize {
			rb.base = int64(enc.BigEndian.Uint64(b))
			rb.last = rb.base + int64(int32(enc.BigEndian.Uint32(b[23:])))
		}
		out.batches = append(out.batches, rb)
		b = b[size:]
	}
	return out
}

// rcFetchAll reads a partition from offset 0 to its high watermark with
// raw fetches and returns every batch served. Every answer must be free of
// errors and every batch whole, with a valid CRC, and following the one
// before.
func rcFetchAll(t testing.TB, addr, topic string, partition int32) []rcRawBatch {
	t.Helper()
	r := fgDialRaw(t, addr)
	defer r.c.Close()
	offset := int64(0)
	var out []rcRawBatch
	for range 10_000 {
		f := rcFetch(r, topic, partition, offset, 4<<20)
		if f.code != 0 {
			t.Fatalf("fetch %s-%d at %d: %v", topic, partition, offset, kerr.ErrorForCode(f.code))
		}
		if offset >= f.hw {
			return out
		}
		if len(f.batches) == 0 {
			t.Fatalf("fetch %s-%d at %d: no whole batch below the high watermark %d", topic, partition, offset, f.hw)
		}
		for _, b := range f.batches {
			if b.err != nil {
				t.Fatalf("fetch %s-%d at %d: served garbage: %v", topic, partition, offset, b.err)
			}
			if b.base > offset || b.last < offset {
				t.Fatalf("fetch %s-%d at %d: served a batch of offsets [%d, %d]; want the one holding %d", topic, partition, offset, b.base, b.last, offset)
			}
			out = append(out, b)
			offset = b.last + 1
		}
	}
	t.Fatalf("fetch %s-%d: more than 10000 fetches", topic, partition)
	return nil
}

// rcCheckServed checks that the broker at addr serves exactly want (records
// by partition, all from offset 0): log start 0, high watermark the number
// of records, every batch whole and valid in raw fetches, and every record
// as produced to a kgo consumer.
func rcCheckServed(t testing.TB, addr, topic string, parts int32, want map[int32][]*kgo.Record) {
	t.Helper()
	adm := fgAdmin(t, addr)
	l, err := adm.ListStartOffsets(fgCtx(t), topic)
	start := fgListed(t, topic, l, err)
	end := fgEndOffsets(t, adm, topic)
	n := 0
	for p := range parts {
		n += len(want[p])
		if start[p] != 0 || end[p] != int64(len(want[p])) {
			t.Errorf("%s-%d: offsets [%d, %d), want [0, %d)", topic, p, start[p], end[p], len(want[p]))
		}
		batches := rcFetchAll(t, addr, topic, p)
		if len(want[p]) > 0 && (len(batches) == 0 || batches[len(batches)-1].last != int64(len(want[p]))-1) {
			t.Errorf("%s-%d: raw fetches served %d batches, not ending at offset %d", topic, p, len(batches), len(want[p])-1)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	fgCheckConsumed(t, want, fgConsume(t, addr, topic, parts, n), nil)
}

// rcLogHas reports whether the broker's log has a line holding every one
// of words (case-insensitive).
func rcLogHas(p *proc, words ...string) bool {
	for _, l := range lines(p.logs.String()) {
		l = strings.ToLower(l)
		if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(l, strings.ToLower(w)) }) {
			return true
		}
	}
	return false
}

// rcCheckLog fails the test unless the broker's log has a line holding
// every one of words within 10 s; what says what the line should report.
// It waits because the logs open in the background after the broker
// starts (the warm-up): what recovery reports comes after startProc
// returns, unless a request opened the log first.
func rcCheckLog(t testing.TB, p *proc, what string, words ...string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !rcLogHas(p, words...); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("the broker's log has no line with %q (%s):\n%s", words, what, tail(p.logs.String(), 4000))
			return
		}
	}
}

// rcEventually polls cond every 50ms until it holds or limit passes, and
// fails the test with cond's last description of the state then.
func rcEventually(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so within %v: %s", what, limit, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rcMaxVersion asks the broker (ApiVersions v3) for the highest version of
// key it serves, capped at limit; it fails the test when the key is not
// served.
func rcMaxVersion(t testing.TB, r *fgRaw, key int16, limit int16) int16 {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "streamhouse-compat", "1.0"
	resp := r.do(req, 3).(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	for _, k := range resp.ApiKeys {
		if k.ApiKey == key {
			return min(k.MaxVersion, limit)
		}
	}
	t.Fatalf("the broker does not serve %s (key %d) according to ApiVersions", kmsg.NameForKey(key), key)
	return 0
}

// TestTilesRounds is checkLayout's rule: a round is one batch or several
// consecutive ones ending where it ends; nothing missing, nothing extra.
func TestTilesRounds(t *testing.T) {
	rounds := [][2]int64{{0, 1}, {2, 4}, {5, 5}}
	for _, c := range []struct {
		batches [][2]int64
		want    bool
	}{
		{[][2]int64{{0, 1}, {2, 4}, {5, 5}}, true},
		{[][2]int64{{0, 0}, {1, 1}, {2, 3}, {4, 4}, {5, 5}}, true},
		{[][2]int64{{0, 2}, {3, 4}, {5, 5}}, false}, // across a round
		{[][2]int64{{0, 1}, {2, 4}}, false},         // a round missing
		{[][2]int64{{0, 1}, {3, 4}, {5, 5}}, false}, // a gap
		{[][2]int64{{0, 1}, {2, 4}, {5, 5}, {6, 6}}, false},
	} {
		if got := rcTilesRounds(c.batches, rounds); got != c.want {
			t.Errorf("rcTilesRounds(%v, %v) = %v, want %v", c.batches, rounds, got, c.want)
		}
	}
}
