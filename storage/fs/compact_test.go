package fs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/storage"
	"github.com/streamhouse/streamhouse/storage/storagetest"
)

// gzipCodecs is storage.Codecs for gzip alone, from the standard library
// (storage/fs may not import codec).
type gzipCodecs struct{}

func (gzipCodecs) Decompress(c int8, dst, src []byte, limit int) ([]byte, error) {
	if c != int8(batch.CodecGzip) {
		return nil, fmt.Errorf("codec %d", c)
	}
	r, err := gzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil || len(b) > limit {
		return nil, fmt.Errorf("decompress: %v, %d bytes", err, len(b))
	}
	return append(dst, b...), nil
}

func (gzipCodecs) Compress(c int8, dst, src []byte) ([]byte, error) {
	if c != int8(batch.CodecGzip) {
		return nil, fmt.Errorf("codec %d", c)
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(src)
	_ = w.Close()
	return append(dst, buf.Bytes()...), nil
}

// gzipped returns b with its records section gzipped.
func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	h := mustHeader(t, b)
	z, err := gzipCodecs{}.Compress(int8(batch.CodecGzip), nil, batch.RecordsSection(b, &h))
	if err != nil {
		t.Fatal(err)
	}
	return batch.Reencode(b, &h, batch.CodecGzip, z)
}

func compactPolicy(now time.Time) storage.CompactPolicy {
	return storage.CompactPolicy{
		Now: now, DeleteRetentionMs: 86_400_000, MinCleanableRatio: 0.5,
		MaxLagMs: math.MaxInt64, MaxKeys: 1 << 20, MaxBatchBytes: 1 << 20,
		Codecs: gzipCodecs{},
	}
}

// record is one record read back from a log.
type record struct {
	off        int64
	key, value string
	tombstone  bool
}

// readRecords reads the whole log back, record by record, checking that
// offsets only increase.
func readRecords(t *testing.T, l storage.Log) []record {
	t.Helper()
	var out []record
	last := int64(-1)
	for _, b := range readLogGaps(t, l) {
		h := mustHeader(t, b)
		if h.Control() {
			continue
		}
		section := batch.RecordsSection(b, &h)
		if h.Codec() != batch.CodecNone {
			var err error
			if section, err = (gzipCodecs{}).Decompress(int8(h.Codec()), nil, section, 1<<20); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		err := batch.Records(section, func(r batch.Record) bool {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off <= last || off > h.LastOffset() {
				t.Fatalf("record at offset %d after %d, batch [%d, %d]", off, last, h.BaseOffset, h.LastOffset())
			}
			last = off
			out = append(out, record{off: off, key: string(r.Key), value: string(r.Value), tombstone: r.Value == nil})
			n++
			return true
		})
		if err != nil || int32(n) != h.RecordCount {
			t.Fatalf("batch at %d: %d records of %d: %v", h.BaseOffset, n, h.RecordCount, err)
		}
	}
	return out
}

// readLogGaps is readLog for a log with gaps.
func readLogGaps(t *testing.T, l storage.Log) [][]byte {
	t.Helper()
	return readBatches(t, l, true)
}

// keyedLoad appends n batches of 1-3 records over keys keys (every 10th
// record of a key a tombstone, some batches gzipped) and returns each key's
// latest value ("" for a tombstone) and the offset of the last record.
func keyedLoad(t *testing.T, l storage.Log, n, keys int, ts int64, latest map[string]string) {
	t.Helper()
	k := 0
	for i := range n {
		var kvs []storagetest.KV
		for range 1 + i%3 {
			key := fmt.Sprintf("key-%04d", (k*7919)%keys)
			var v []byte
			if k%10 != 9 {
				v = fmt.Appendf(nil, "value %d of %s %s", k, key, bytes.Repeat([]byte{'x'}, k%40))
			}
			kvs = append(kvs, storagetest.KV{Key: []byte(key), Value: v})
			latest[key] = string(v)
			k++
		}
		b := storagetest.MakeKeyedBatch(ts, kvs...)
		if i%5 == 0 {
			b = gzipped(t, b)
		}
		if _, err := l.Append(t.Context(), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// checkCompacted checks that the log holds, for the records below the
// active segment, at most one record per key: its latest value or
// tombstone.
func checkCompacted(t *testing.T, l *Log, latest map[string]string, tombstones bool) []record {
	t.Helper()
	recs := readRecords(t, l)
	l.state.RLock()
	activeBase := l.segs[len(l.segs)-1].base
	l.state.RUnlock()
	seen := map[string]int{}
	final := map[string]record{}
	for _, r := range recs {
		final[r.key] = r
		if r.off < activeBase {
			seen[r.key]++
			if seen[r.key] > 1 {
				t.Fatalf("key %s twice below the active segment (offset %d)", r.key, r.off)
			}
			if !tombstones && r.tombstone {
				t.Fatalf("tombstone of %s at %d kept past delete.retention.ms", r.key, r.off)
			}
		}
	}
	for k, v := range latest {
		r, ok := final[k]
		switch {
		case v == "" && ok && !r.tombstone:
			t.Fatalf("key %s: deleted, but the log's last record is %q", k, r.value)
		case v != "" && (!ok || r.value != v):
			t.Fatalf("key %s: want %q, log has %+v", k, v, r)
		}
	}
	return recs
}

func TestCompact(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "c", Partition: 0}
	cfg := storage.LogConfig{SegmentBytes: 8 << 10, IndexIntervalBytes: 512}
	l := f.open(p, cfg)
	latest := map[string]string{}
	keyedLoad(t, l, 2000, 100, 1000, latest)
	before := l.Size()
	segsBefore := len(f.files(p, extLog))

	res, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(2000)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Segments == 0 || res.BytesAfter >= res.BytesBefore || res.Keys != 100 || res.CleanedTo <= 0 {
		t.Fatalf("result %+v", res)
	}
	if l.Size() >= before {
		t.Fatalf("size %d -> %d", before, l.Size())
	}
	t.Logf("%+v; %.1f bytes per key", res, float64(res.KeyIndexBytes)/float64(res.Keys))
	checkCompacted(t, l, latest, true)

	// Not due again until enough is dirty.
	if res, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(2000))); err != nil || res.Segments != 0 {
		t.Fatalf("second pass with nothing dirty: %+v, %v", res, err)
	}

	// Later, past delete.retention.ms: tombstones go too.
	keyedLoad(t, l, 2000, 100, 90_000_000, latest)
	if _, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(90_000_500))); err != nil {
		t.Fatal(err)
	}
	pol := compactPolicy(time.UnixMilli(90_000_500))
	pol.MinCleanableRatio = 0
	pol.DeleteRetentionMs = 0
	keyedLoad(t, l, 200, 100, 90_000_000, latest)
	if _, err := l.Compact(t.Context(), pol); err != nil {
		t.Fatal(err)
	}
	want := checkCompacted(t, l, latest, false)
	// Segments shrunk by one pass are merged by the next (as Kafka groups
	// segments by their sizes before cleaning).
	if segs := f.files(p, extLog); len(segs) >= segsBefore {
		t.Fatalf("%d segments before cleaning, %d after three passes", segsBefore, len(segs))
	}

	// Recovery accepts the gaps, with the checkpoint and after a crash.
	mustClose(t, l)
	f.newStore()
	l = f.open(p, cfg)
	if got := readRecords(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after reopen the log differs")
	}
	more := appendN(t, l, 5, seq)
	if got := readLogGaps(t, l); !bytes.Equal(got[len(got)-1], more[4]) {
		t.Fatal("append after reopen not read back")
	}
}

func TestCompactRespectsLagAndRatio(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "c", Partition: 0}
	l := f.open(p, storage.LogConfig{SegmentBytes: 8 << 10})
	keyedLoad(t, l, 500, 20, 1000, map[string]string{})

	pol := compactPolicy(time.UnixMilli(2000))
	pol.MinLagMs = 5000 // every record is 1 s old
	if res, err := l.Compact(t.Context(), pol); err != nil || res.Segments != 0 {
		t.Fatalf("within min.compaction.lag.ms: %+v, %v", res, err)
	}
	pol = compactPolicy(time.UnixMilli(2000))
	pol.MinCleanableRatio = 1.01
	if res, err := l.Compact(t.Context(), pol); err != nil || res.Segments != 0 {
		t.Fatalf("below min.cleanable.dirty.ratio: %+v, %v", res, err)
	}
	pol.MaxLagMs = 500 // the oldest dirty record is older than this
	if res, err := l.Compact(t.Context(), pol); err != nil || res.Segments == 0 {
		t.Fatalf("past max.compaction.lag.ms: %+v, %v", res, err)
	}
}

func TestCompactKeyIndexFull(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "c", Partition: 0}
	l := f.open(p, storage.LogConfig{SegmentBytes: 8 << 10})
	latest := map[string]string{}
	keyedLoad(t, l, 1500, 1000, 1000, latest)
	pol := compactPolicy(time.UnixMilli(2000))
	pol.MaxKeys = 300
	res, err := l.Compact(t.Context(), pol)
	if err != nil {
		t.Fatal(err)
	}
	l.state.RLock()
	active := l.segs[len(l.segs)-1].base
	l.state.RUnlock()
	if res.CleanedTo >= active || res.Keys > 300 {
		t.Fatalf("a key index of 300 keys cleaned to %d of %d: %+v", res.CleanedTo, active, res)
	}
	// Whatever it removed had a later value.
	for _, r := range readRecords(t, l) {
		if r.off >= res.CleanedTo {
			break
		}
		delete(latest, r.key)
	}
	pol.MinCleanableRatio = 0
	for pass := 0; pass < 20 && res.Segments > 0; pass++ {
		if res, err = l.Compact(t.Context(), pol); err != nil {
			t.Fatal(err)
		}
	}
	checkCompacted(t, l, map[string]string{}, true)
}

// TestCompactTransactions: aborted records and records whose keys were
// rewritten go, markers stay, an open transaction is not cleaned, and an
// idempotent producer's last batch stays (empty) so its sequence survives
// a replay.
func TestCompactTransactions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "c", Partition: 0}
	cfg := storage.LogConfig{SegmentBytes: 4 << 10}
	l := f.open(p, cfg)
	ctx := t.Context()
	app := func(b []byte) {
		t.Helper()
		if _, err := l.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	txn := func(pid int64, seq int32, kvs ...storagetest.KV) []byte {
		b := storagetest.MakeKeyedBatch(1000, kvs...)
		h := mustHeader(t, b)
		src := storagetest.MakeTxnBatch(1, 1, 1000, pid, 0, seq)
		copy(b[43:57], src[43:57]) // producer id, epoch, base sequence
		binaryPutAttrs(b, batch.AttrTransactional)
		return batch.Reencode(b, &h, batch.CodecNone, batch.RecordsSection(b, &h))
	}
	kv := func(k, v string) storagetest.KV { return storagetest.KV{Key: []byte(k), Value: []byte(v)} }
	// pid 1 aborts a value for "a"; pid 2 commits one for "b".
	app(txn(1, 0, kv("a", "aborted")))
	app(batch.MakeControl(batch.ControlAbort, 1, 0, 0, 1000))
	app(txn(2, 0, kv("b", "committed")))
	app(batch.MakeControl(batch.ControlCommit, 2, 0, 0, 1000))
	// An idempotent producer whose only batch is overwritten later.
	idemB := storagetest.MakeKeyedBatch(1000, kv("c", "old"))
	h := mustHeader(t, idemB)
	src := storagetest.MakeIdempotentBatch(1, 1, 1000, 3, 0, 0)
	copy(idemB[43:57], src[43:57])
	app(batch.Reencode(idemB, &h, batch.CodecNone, batch.RecordsSection(idemB, &h)))
	for i := range 200 {
		app(storagetest.MakeKeyedBatch(1000, kv("c", fmt.Sprint("new ", i)), kv("a", "plain")))
	}
	// An open transaction: nothing from its first offset on is cleaned.
	app(txn(5, 0, kv("z", "open")))
	for i := range 200 {
		app(storagetest.MakeKeyedBatch(1000, kv("z", fmt.Sprint("after ", i))))
	}
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(ctx, compactPolicy(time.UnixMilli(2000))); err != nil {
		t.Fatal(err)
	}
	var markers, empty int
	for _, b := range readLogGaps(t, l) {
		h := mustHeader(t, b)
		switch {
		case h.Control():
			markers++
		case h.RecordCount == 0:
			empty++
			// Producers' last batches, and groups' last.
			if h.ProducerID != 1 && h.ProducerID != 3 && h.NextOffset() != l.segmentAfterBase(h.BaseOffset) {
				t.Fatalf("empty batch at %d of producer %d", h.BaseOffset, h.ProducerID)
			}
		}
	}
	if markers != 2 {
		t.Fatalf("%d markers after cleaning, want 2", markers)
	}
	zs := 0
	for _, r := range readRecords(t, l) {
		if r.value == "aborted" || r.value == "old" {
			t.Fatalf("record %+v survived", r)
		}
		if r.key == "z" {
			zs++
		}
	}
	if zs != 201 {
		t.Fatalf("%d records of key z, written from an open transaction on; want all 201, uncleaned", zs)
	}
	mustClose(t, l)
	f.dropCheckpoint(p) // replay the producers from the log
	f.newStore()
	l = f.open(p, cfg)
	if e := l.pids.Entry(3); e == nil || e.Batches[len(e.Batches)-1].LastSeq != 0 {
		t.Fatalf("producer 3 after replay: %+v", e)
	}
	mustClose(t, l)
}

// segmentAfterBase is the base of the segment after the one holding off,
// or the next offset.
func (l *Log) segmentAfterBase(off int64) int64 {
	l.state.RLock()
	defer l.state.RUnlock()
	if s := l.segmentAfterLocked(off); s != nil {
		return s.base
	}
	return l.next.Load()
}

func binaryPutAttrs(b []byte, attrs int16) {
	b[21], b[22] = byte(uint16(attrs)>>8), byte(attrs)
}

// TestCompactSwapCrash puts the partition directory in the states a crash
// can leave a swap in and checks that opening it gives either the old
// segments or the new one, whole.
func TestCompactSwapCrash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := storage.Partition{Topic: "c", Partition: 0}
	cfg := storage.LogConfig{SegmentBytes: 8 << 10}
	l := f.open(p, cfg)
	latest := map[string]string{}
	keyedLoad(t, l, 1000, 50, 1000, latest)
	mustClose(t, l)
	dir := f.partDir(p)
	old := snapshot(t, dir)
	l = f.open(p, cfg)
	oldRecs := readRecords(t, l)
	if _, err := l.Compact(t.Context(), compactPolicy(time.UnixMilli(2000))); err != nil {
		t.Fatal(err)
	}
	newRecs := readRecords(t, l)
	mustClose(t, l)
	cleaned := snapshot(t, dir)
	ck := cleaned[checkpointName]

	var firstSeg string
	for name := range old {
		if name < firstSeg || firstSeg == "" && filepath.Ext(name) == extLog {
			firstSeg = name
		}
	}
	base, _, _ := parseSegmentName(firstSeg)
	// The first pass grouped segments one by one (sizes before cleaning):
	// the first group is the first segment, up to the second's base.
	lastBase, next := base, int64(math.MaxInt64)
	for name := range old {
		if b, ext, ok := parseSegmentName(name); ok && ext == extLog && b > base {
			next = min(next, b)
		}
	}
	// The first group swapped in, the rest still old.
	var spliced []record
	for _, r := range newRecs {
		if r.off < next {
			spliced = append(spliced, r)
		}
	}
	for _, r := range oldRecs {
		if r.off >= next {
			spliced = append(spliced, r)
		}
	}
	restore := func(files map[string][]byte) {
		t.Helper()
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		name  string
		extra map[string][]byte
		want  []record
	}{
		{"CleanedNotSwapped", map[string][]byte{segmentName(base, extLog+extCleaned): cleaned[firstSeg][:100]}, oldRecs},
		{"SwapDurable", map[string][]byte{swapName(base, lastBase): cleaned[firstSeg]}, spliced},
	} {
		files := map[string][]byte{}
		for name, b := range old {
			files[name] = b
		}
		files[checkpointName] = ck // the cleaner's checkpoint is written first
		for name, b := range tc.extra {
			files[name] = b
		}
		restore(files)
		f.newStore()
		l := f.open(p, cfg)
		if got := readRecords(t, l); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Fatalf("%s: log after open differs from the expected one (%d records, want %d)", tc.name, len(got), len(tc.want))
		}
		for _, ext := range []string{extCleaned, extSwap} {
			if left := f.files(p, ext); len(left) > 0 {
				t.Fatalf("%s: %v left", tc.name, left)
			}
		}
		mustClose(t, l)
	}
}

// BenchmarkCompact cleans a log of STREAMHOUSE_BENCH_COMPACT_BYTES (1 GB
// by default) of 1 KiB records over 10,000 keys, in 64 MiB segments: one
// pass, timed alone (building the log is not). It reports the key index's
// bytes per key. Run it with -benchtime 1x:
//
//	go test ./storage/fs -run '^$' -bench Compact -benchtime 1x
func BenchmarkCompact(b *testing.B) {
	total := int64(1 << 30)
	if s := os.Getenv("STREAMHOUSE_BENCH_COMPACT_BYTES"); s != "" {
		if _, err := fmt.Sscan(s, &total); err != nil {
			b.Fatal(err)
		}
	}
	const keys, perBatch = 10_000, 16
	value := bytes.Repeat([]byte{'v'}, 1000)
	b.SetBytes(total)
	b.ReportAllocs()
	var res storage.CompactResult
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := New(b.TempDir(), Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		lg, err := st.Open(b.Context(), storage.Partition{Topic: "bench", Partition: 0}, storage.LogConfig{SegmentBytes: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		l := lg.(*Log)
		k := 0
		kvs := make([]storagetest.KV, perBatch)
		for l.Size() < total {
			for j := range kvs {
				kvs[j] = storagetest.KV{Key: fmt.Appendf(nil, "key-%05d", (k*7919)%keys), Value: value}
				k++
			}
			if _, err := l.Append(b.Context(), storagetest.MakeKeyedBatch(1000, kvs...)); err != nil {
				b.Fatal(err)
			}
		}
		p := compactPolicy(time.UnixMilli(2000))
		p.MaxKeys = 128 << 20 / 24 // log.cleaner.dedupe.buffer.size's default
		b.StartTimer()
		res, err = l.Compact(b.Context(), p)
		b.StopTimer()
		if err != nil || res.Segments == 0 {
			b.Fatalf("%+v, %v", res, err)
		}
		_ = l.Close()
		_ = st.Close()
	}
	b.ReportMetric(float64(res.KeyIndexBytes)/float64(res.Keys), "index-B/key")
	b.ReportMetric(float64(res.BytesBefore)/float64(res.BytesAfter), "shrink-x")
}

func FuzzSwapName(f *testing.F) {
	f.Add(swapName(0, 0))
	f.Add(swapName(42, 1000))
	f.Add("00000000000000000000.log.swap")
	f.Add("00000000000000000042.log.00000000000000000041.swap")
	f.Fuzz(func(t *testing.T, name string) {
		first, last, ok := parseSwapName(name)
		if !ok {
			return
		}
		if first < 0 || last < first || swapName(first, last) != name {
			t.Fatalf("%q parsed as (%d, %d)", name, first, last)
		}
	})
}
