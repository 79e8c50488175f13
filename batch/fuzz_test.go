package batch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The fuzz targets check properties, not just the absence of panics:
//
//   - No function reads past len(b): each runs on an exact-capacity copy and
//     on copies whose hidden capacity is filled with garbage, and all must
//     agree. None writes to its input.
//   - Parse: success means h.Size() <= len(b); b[:h.Size()] re-parses to the
//     same header, with or without garbage after it; kmsg decodes the same
//     header; the CRC is CRC-32C of the bytes; the setters keep it valid.
//   - Check: it is Parse plus a count check whose verdict matches an
//     independent walk of the records.
//   - Records: it agrees with a reference decoder written from Kafka's
//     DefaultRecord.readFrom; on success the records' sizes add up to the
//     input; kmsg decodes each record the same; re-encoding with kmsg
//     round-trips.
//
// The seed corpus in testdata/fuzz is written by TestWriteFuzzCorpus. To fuzz:
//
//	go test ./batch -run '^$' -fuzz '^FuzzRecords$' -fuzztime 60s -fuzzminimizetime 5s
//
// Without -fuzzminimizetime the fuzzer spends up to a minute minimizing each
// new input of a few KiB (its minimizer is quadratic), and few execs run.

// isolated runs f on copies of data and fails unless every copy gives the
// same result and none is modified.
func isolated[T comparable](t *testing.T, data []byte, f func([]byte) T) T {
	t.Helper()
	exact := make([]byte, len(data)) // cap == len
	copy(exact, data)
	want := f(exact)
	if !bytes.Equal(exact, data) {
		t.Fatalf("the input was modified")
	}
	for _, fill := range []byte{0x00, 0xff, 0xa5} {
		buf := bytes.Repeat([]byte{fill}, len(data)+256)
		copy(buf, data)
		if got := f(buf[:len(data)]); got != want {
			t.Fatalf("result depends on bytes past len(b) (filled with %#x): %v, then %v", fill, want, got)
		}
	}
	return want
}

type headerResult struct {
	h   batch.Header
	err error
}

func parseResult(f func([]byte) (batch.Header, error)) func([]byte) headerResult {
	return func(b []byte) headerResult {
		h, err := f(b)
		return headerResult{h, err}
	}
}

var parseErrors = []error{batch.ErrShort, batch.ErrLength, batch.ErrMagic, batch.ErrCRC, batch.ErrCodec}

func oneOf(err error, errs ...error) bool {
	for _, e := range errs {
		if err == e {
			return true
		}
	}
	return false
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add(encodeBatch(newBatch(mixedRecords(), nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := isolated(t, data, parseResult(batch.Parse))
		h, err := r.h, r.err
		if err != nil && !oneOf(err, parseErrors...) {
			t.Fatalf("Parse returned %v, not one of the package's errors", err)
		}

		// ReadHeader is Parse's first step, and reads 61 bytes at most.
		rh := isolated(t, data, parseResult(batch.ReadHeader))
		if rh.h != h || (rh.err != nil && rh.err != err) {
			t.Fatalf("ReadHeader %+v, %v; Parse %+v, %v", rh.h, rh.err, h, err)
		}
		if len(data) >= batch.HeaderSize {
			if p := isolated(t, data[:batch.HeaderSize], parseResult(batch.ReadHeader)); p != rh {
				t.Fatalf("ReadHeader of the first 61 bytes differs: %+v", p)
			}
		} else if err != batch.ErrShort {
			t.Fatalf("Parse of %d bytes: %v", len(data), err)
		}

		if err == batch.ErrShort {
			if len(data) >= batch.HeaderSize && batch.Size(data) <= len(data) {
				t.Fatalf("ErrShort but the batch (%d bytes) fits in %d", batch.Size(data), len(data))
			}
			return
		}
		// Any other result depends on the batch's bytes only.
		more := append(bytes.Clone(data), "garbage after the batch"...)
		if got := isolated(t, more, parseResult(batch.Parse)); got != r {
			t.Fatalf("appending garbage changed the result: %+v, %v", got.h, got.err)
		}
		if err != nil {
			return
		}

		size := h.Size()
		if size < batch.HeaderSize || size > len(data) || batch.Size(data) != size {
			t.Fatalf("Size() %d, Size(b) %d, len %d", size, batch.Size(data), len(data))
		}
		if h.Magic != batch.Magic || h.Codec() > batch.CodecZstd || h.Codec() < 0 {
			t.Fatalf("accepted magic %d codec %v", h.Magic, h.Codec())
		}
		b := data[:size]
		if got := isolated(t, b, parseResult(batch.Parse)); got != r {
			t.Fatalf("b[:Size()] parses to %+v, %v", got.h, got.err)
		}
		if got := isolated(t, b[:size-1], parseResult(batch.Parse)); got.err != batch.ErrShort {
			t.Fatalf("one byte short: %v", got.err)
		}
		if crc := crc32.Checksum(b[21:], castagnoli); crc != h.CRC {
			t.Fatalf("accepted CRC %#x, CRC-32C is %#x", h.CRC, crc)
		}
		if kh, _ := kmsgHeader(t, b); kh != h {
			t.Fatalf("kmsg decodes\n%+v\nParse\n%+v", kh, h)
		}
		if rs := batch.RecordsSection(b, &h); len(rs) != size-batch.HeaderSize {
			t.Fatalf("RecordsSection is %d bytes", len(rs))
		}
		checkSetters(t, b, h)
	})
}

// checkSetters asserts that the setters change just their fields of the
// parsed batch b and that it still parses.
func checkSetters(t *testing.T, b []byte, h batch.Header) {
	t.Helper()
	e := bytes.Clone(b)
	batch.SetBaseOffset(e, ^h.BaseOffset)
	batch.SetPartitionLeaderEpoch(e, ^h.PartitionLeaderEpoch)
	want := h
	want.BaseOffset, want.PartitionLeaderEpoch = ^h.BaseOffset, ^h.PartitionLeaderEpoch
	if got, err := batch.Parse(e); err != nil || got != want {
		t.Fatalf("after SetBaseOffset and SetPartitionLeaderEpoch: %+v, %v", got, err)
	}

	e = bytes.Clone(b)
	ts := ^h.MaxTimestamp
	batch.SetLogAppendTime(e, ts)
	got, err := batch.Parse(e)
	if err != nil {
		t.Fatalf("after SetLogAppendTime: %v", err)
	}
	want = h
	want.Attributes |= batch.AttrLogAppendTime
	want.MaxTimestamp = ts
	want.CRC = got.CRC
	if got != want {
		t.Fatalf("after SetLogAppendTime:\n got %+v\nwant %+v", got, want)
	}
	if !bytes.Equal(e[:17], b[:17]) || !bytes.Equal(e[23:35], b[23:35]) || !bytes.Equal(e[43:], b[43:]) {
		t.Fatalf("SetLogAppendTime changed bytes other than CRC, attributes and maxTimestamp")
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(encodeBatch(newBatch(mixedRecords(), nil)))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := isolated(t, data, parseResult(batch.Check))
		p := isolated(t, data, parseResult(batch.Parse))
		if r.h != p.h {
			t.Fatalf("Check header %+v, Parse header %+v", r.h, p.h)
		}
		if p.err != nil {
			if r.err != p.err {
				t.Fatalf("Parse: %v, Check: %v", p.err, r.err)
			}
			return
		}
		if r.err != nil && r.err != batch.ErrCount {
			t.Fatalf("Parse accepts, Check: %v", r.err)
		}
		h := r.h
		b := data[:h.Size()]
		more := append(bytes.Clone(b), 0x01, 0x02, 0x03)
		if got := isolated(t, more, parseResult(batch.Check)); got != r {
			t.Fatalf("appending garbage changed the result: %v", got.err)
		}

		// An independent verdict: the counts agree, and an uncompressed
		// section is exactly RecordCount length-prefixed records.
		section := batch.RecordsSection(b, &h)
		ok := h.RecordCount > 0 && h.LastOffsetDelta == h.RecordCount-1
		frames, framed := refFrames(section)
		if ok && h.Codec() == batch.CodecNone {
			ok = framed && len(frames) == int(h.RecordCount)
		}
		if ok != (r.err == nil) {
			t.Fatalf("Check: %v; reference: ok=%v (count %d delta %d, %d frames, framed %v)",
				r.err, ok, h.RecordCount, h.LastOffsetDelta, len(frames), framed)
		}
		if r.err != nil || h.Codec() != batch.CodecNone {
			return
		}
		// Check reads only the frames; Records reads into them.
		n := 0
		err := batch.Records(section, func(batch.Record) bool { n++; return true })
		if err == nil && n != int(h.RecordCount) {
			t.Fatalf("Check accepts %d records, Records passes %d", h.RecordCount, n)
		}
		if err != nil && err != batch.ErrRecord {
			t.Fatalf("Records: %v", err)
		}
	})
}

// refFrames splits an uncompressed records section into records by their
// length prefixes. framed is false when a prefix is not a Kafka varint, is
// not positive or runs past the end.
func refFrames(b []byte) (frames [][]byte, framed bool) {
	for len(b) > 0 {
		l, w := refVarint(b)
		if w == 0 || l <= 0 || int64(l) > int64(len(b)-w) {
			return frames, false
		}
		frames = append(frames, b[:w+int(l)])
		b = b[w+int(l):]
	}
	return frames, true
}

// refVarint reads a Kafka int32 varint as franz-go's kbin does, written
// differently from the package's: bytes are accumulated as a uint64 and the
// result must fit 32 bits. w is 0 on any error.
func refVarint(b []byte) (v int32, w int) {
	var x uint64
	for i, c := range b {
		if i == 5 {
			return 0, 0
		}
		x |= uint64(c&0x7f) << (7 * uint(i))
		if c&0x80 == 0 {
			if x > 0xffffffff {
				return 0, 0
			}
			u := uint32(x)
			return int32(u>>1) ^ -int32(u&1), i + 1
		}
	}
	return 0, 0
}

// refRecord is one record as refDecode reads it.
type refRecord struct {
	size     int // bytes of the record, length prefix included
	tsDelta  int64
	offDelta int32
	key      []byte
	value    []byte
	headers  []batch.RecordHeader
}

// refReader reads Kafka's record fields; any failure is sticky.
type refReader struct {
	b   []byte
	bad bool
}

func (r *refReader) varint() int32 {
	v, w := refVarint(r.b)
	if w == 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[w:]
	return v
}

func (r *refReader) bytes(nullable bool) []byte {
	l := r.varint()
	switch {
	case r.bad:
		return nil
	case l == -1 && nullable:
		return nil
	case l < 0 || int(l) > len(r.b):
		r.bad = true
		return nil
	}
	v := r.b[:l:l]
	r.b = r.b[l:]
	return v
}

// refDecode decodes an uncompressed records section following Kafka's
// DefaultRecord.readFrom, with the package's documented strictness: a
// negative offset delta and key, value or header-value lengths below -1 are
// errors, where Kafka would take them as given or as null.
func refDecode(b []byte) ([]refRecord, bool) {
	frames, framed := refFrames(b) // the frames before any framing error
	var recs []refRecord
	for _, f := range frames {
		r := refReader{b: f}
		_ = r.varint() // length, checked by refFrames
		var rec refRecord
		rec.size = len(f)
		if len(r.b) == 0 {
			return recs, false
		}
		r.b = r.b[1:] // attributes
		ts, w := binary.Varint(r.b)
		if w <= 0 {
			return recs, false
		}
		r.b = r.b[w:]
		rec.tsDelta = ts
		rec.offDelta = r.varint()
		rec.key = r.bytes(true)
		rec.value = r.bytes(true)
		n := r.varint()
		if r.bad || rec.offDelta < 0 || n < 0 || int(n) > len(r.b) {
			return recs, false
		}
		for range n {
			k := r.bytes(false)
			v := r.bytes(true)
			if r.bad {
				return recs, false
			}
			rec.headers = append(rec.headers, batch.RecordHeader{Key: string(k), Value: v})
		}
		if len(r.b) != 0 { // Kafka: "Invalid record size"
			return recs, false
		}
		recs = append(recs, rec)
	}
	return recs, framed
}

// recordsResult is what Records passes and returns, flattened to compare.
type recordsResult struct {
	dump string
	n    int
	err  error
}

func collect(b []byte) recordsResult {
	var buf bytes.Buffer
	n := 0
	err := batch.Records(b, func(r batch.Record) bool {
		n++
		hs, herr := r.Headers()
		fmt.Fprintf(&buf, "%d %d %q/%v %q/%v %d %v:", r.TimestampDelta, r.OffsetDelta,
			r.Key, r.Key == nil, r.Value, r.Value == nil, r.HeaderCount, herr)
		for _, h := range hs {
			fmt.Fprintf(&buf, " %q=%q/%v", h.Key, h.Value, h.Value == nil)
		}
		buf.WriteByte('|')
		return true
	})
	return recordsResult{buf.String(), n, err}
}

func FuzzRecords(f *testing.F) {
	f.Add(encodeRecords(mixedRecords()))
	f.Add(appendRaw(nil, minRecord(), []byte{0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		isolated(t, data, collect)

		var got []batch.Record
		err := batch.Records(data, func(r batch.Record) bool {
			got = append(got, r)
			return true
		})
		ref, refOK := refDecode(data)
		if err != nil && err != batch.ErrRecord {
			t.Fatalf("Records: %v", err)
		}
		if (err == nil) != refOK {
			t.Fatalf("Records: %v, reference decoder ok=%v", err, refOK)
		}
		// On an error, the records before it were passed, and no more.
		if len(got) != len(ref) {
			t.Fatalf("Records passed %d records, reference decoded %d", len(got), len(ref))
		}
		consumed := 0
		for i, r := range got {
			w := ref[i]
			consumed += w.size
			if r.TimestampDelta != w.tsDelta || r.OffsetDelta != w.offDelta ||
				!sameBytes(r.Key, w.key) || !sameBytes(r.Value, w.value) || r.HeaderCount != len(w.headers) {
				t.Fatalf("record %d: %+v, reference %+v", i, r, w)
			}
			if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
				t.Fatalf("record %d: a view reaches past its field", i)
			}
			hs, herr := r.Headers()
			if herr != nil || len(hs) != r.HeaderCount {
				t.Fatalf("record %d: Headers: %d headers of %d, %v", i, len(hs), r.HeaderCount, herr)
			}
			for j, h := range hs {
				if h.Key != w.headers[j].Key || !sameBytes(h.Value, w.headers[j].Value) {
					t.Fatalf("record %d header %d: %+v, reference %+v", i, j, h, w.headers[j])
				}
			}
			checkKmsgRecord(t, data[consumed-w.size:consumed], r, hs)
		}
		if err != nil {
			return
		}
		if consumed != len(data) {
			t.Fatalf("records consumed %d of %d bytes", consumed, len(data))
		}

		// encode(decode(x)): kmsg's canonical encoding decodes to the same
		// records, and equals x where x was canonical (minimal varints),
		// but for the attributes byte, which Record does not carry.
		var enc []byte
		for i, r := range got {
			before := len(enc)
			enc = appendRecord(enc, toKmsg(r))
			canonical := enc[before:]
			frame := data[sumSizes(ref[:i]):sumSizes(ref[:i+1])]
			if len(canonical) > len(frame) {
				t.Fatalf("record %d re-encodes to %d bytes, more than its %d", i, len(canonical), len(frame))
			}
			if len(canonical) == len(frame) {
				_, lw := refVarint(frame)
				if !bytes.Equal(canonical[:lw], frame[:lw]) || !bytes.Equal(canonical[lw+1:], frame[lw+1:]) {
					t.Fatalf("record %d re-encodes to %x, same length as %x but different", i, canonical, frame)
				}
			}
		}
		if again := collect(enc); again != collect(data) {
			t.Fatalf("re-encoded records decode differently:\n%v\n%v", again, collect(data))
		}

		// Stopping early passes exactly the records asked for.
		if len(got) > 0 {
			n := 0
			if err := batch.Records(data, func(batch.Record) bool { n++; return false }); err != nil || n != 1 {
				t.Fatalf("stopping after one: %d records, %v", n, err)
			}
		}
	})
}

func sumSizes(rs []refRecord) int {
	n := 0
	for _, r := range rs {
		n += r.size
	}
	return n
}

func toKmsg(r batch.Record) kmsg.Record {
	hs, _ := r.Headers()
	kr := kmsg.Record{TimestampDelta64: r.TimestampDelta, OffsetDelta: r.OffsetDelta, Key: r.Key, Value: r.Value}
	for _, h := range hs {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	return kr
}

// checkKmsgRecord asserts that kmsg decodes the record frame as Records did.
func checkKmsgRecord(t *testing.T, frame []byte, r batch.Record, hs []batch.RecordHeader) {
	t.Helper()
	var k kmsg.Record
	if err := k.ReadFrom(frame); err != nil {
		t.Fatalf("kmsg cannot decode a record Records accepts (%x): %v", frame, err)
	}
	if k.TimestampDelta64 != r.TimestampDelta || k.OffsetDelta != r.OffsetDelta ||
		!sameBytes(k.Key, r.Key) || !sameBytes(k.Value, r.Value) || len(k.Headers) != len(hs) {
		t.Fatalf("kmsg decodes %+v, Records %+v", k, r)
	}
	for i, h := range hs {
		if k.Headers[i].Key != h.Key || !sameBytes(k.Headers[i].Value, h.Value) {
			t.Fatalf("header %d: kmsg %+v, Records %+v", i, k.Headers[i], h)
		}
	}
}

// corpusSeeds are the seed corpus, by target and name.
func corpusSeeds(tb testing.TB) map[string]map[string][]byte {
	seeds := map[string]map[string][]byte{"FuzzParse": {}, "FuzzCheck": {}, "FuzzRecords": {}}
	add := func(target, name string, b []byte) { seeds[target][name] = b }

	var last []byte
	for _, c := range validCases(tb) {
		b := c.bytes()
		if len(b) > 4<<10 {
			continue // small inputs fuzz faster; the mutator grows them
		}
		name := slug(c.name)
		add("FuzzParse", name, b)
		add("FuzzCheck", name, b)
		if c.recs != nil && c.raw == nil {
			h, _ := batch.Parse(b)
			add("FuzzRecords", name, batch.RecordsSection(b, &h))
		}
		if c.raw != nil && len(c.raw) <= 4<<10 {
			add("FuzzRecords", name+"-decompressed", c.raw)
		}
		last = b
	}
	small := mixedRecords()[:8] // all but the 20 KB record
	add("FuzzParse", "mixed-small", encodeBatch(newBatch(small, nil)))
	add("FuzzCheck", "mixed-small", encodeBatch(newBatch(small, nil)))
	add("FuzzRecords", "mixed-small", encodeRecords(small))
	valid := encodeBatch(newBatch(mixedRecords()[:3], nil))
	lat := bytes.Clone(valid)
	batch.SetLogAppendTime(lat, 1_800_000_000_000)
	add("FuzzParse", "log-append-time-set", lat)
	add("FuzzParse", "two-batches", append(bytes.Clone(valid), last...))
	add("FuzzParse", "torn-tail", valid[:len(valid)-5])
	add("FuzzParse", "header-only", valid[:61])
	bad := bytes.Clone(valid)
	bad[16] = 1
	add("FuzzParse", "magic-1", bad)
	bad = bytes.Clone(valid)
	bad[22] = 7
	add("FuzzParse", "codec-7", recrc(bad))
	bad = bytes.Clone(valid)
	binary.BigEndian.PutUint32(bad[8:], 48)
	add("FuzzParse", "length-48", bad)

	withSection := func(section []byte, count int32) []byte {
		return encodeBatch(newBatch(nil, func(rb *kmsg.RecordBatch) {
			rb.Records, rb.NumRecords, rb.LastOffsetDelta = section, count, count-1
		}))
	}
	three := encodeRecords(mixedRecords()[:3])
	add("FuzzCheck", "fewer-records", withSection(three, 4))
	add("FuzzCheck", "more-records", withSection(three, 2))
	add("FuzzCheck", "trailing-byte", withSection(append(bytes.Clone(three), 0), 3))
	add("FuzzCheck", "six-byte-length", withSection(append([]byte{0x8c, 0x80, 0x80, 0x80, 0x80, 0x00}, minRecord()...), 1))
	add("FuzzCheck", "five-byte-length", withSection(append([]byte{0x8c, 0x80, 0x80, 0x80, 0x00}, minRecord()...), 1))
	add("FuzzCheck", "count-0", withSection(nil, 0))

	add("FuzzRecords", "min-record", appendRaw(nil, minRecord()))
	add("FuzzRecords", "byte-after-headers", appendRaw(nil, minRecord(), []byte{0}))
	add("FuzzRecords", "header-key-null", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(-1), vi(-1)))
	add("FuzzRecords", "non-minimal-varints", appendRaw([]byte{}, []byte{0, 0x80, 0x00, 0x80, 0x00, 0x81, 0x80, 0x00, 0x01, 0x80, 0x80, 0x00}))
	return seeds
}

func slug(s string) string {
	return string(bytes.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, []byte(strings.ToLower(s))))
}

// TestWriteFuzzCorpus writes the seed corpus into testdata/fuzz when
// STREAMHOUSE_WRITE_CORPUS is set; otherwise it checks that every seed is
// there, so that a seed added here is not forgotten.
//
//	STREAMHOUSE_WRITE_CORPUS=1 go test ./batch -run TestWriteFuzzCorpus
func TestWriteFuzzCorpus(t *testing.T) {
	write := os.Getenv("STREAMHOUSE_WRITE_CORPUS") != ""
	for target, seeds := range corpusSeeds(t) {
		dir := filepath.Join("testdata", "fuzz", target)
		if write {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range seeds {
			path := filepath.Join(dir, name)
			if write {
				if err := os.WriteFile(path, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				t.Errorf("seed %s is missing; run with STREAMHOUSE_WRITE_CORPUS=1", path)
			}
		}
	}
}
