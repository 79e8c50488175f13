package batch_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The reference batches in these tests are written by franz-go's kmsg, the
// encoder a real franz-go producer uses, so the tests check package batch
// against an independent implementation of the format rather than against
// itself.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends r as kmsg writes it, with Length filled in as a
// producer fills it.
func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	body := r.AppendTo(nil)[1:] // a zero Length is one byte
	r.Length = int32(len(body))
	return r.AppendTo(dst)
}

// encodeRecords encodes recs as an uncompressed records section, with each
// record's OffsetDelta its index.
func encodeRecords(recs []kmsg.Record) []byte {
	var b []byte
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		b = appendRecord(b, r)
	}
	return b
}

// encodeBatch fills in rb's Magic, Length and CRC as a producer does and
// returns the bytes kmsg writes. Every other field is taken as it is, so a
// test can write inconsistent counts with a valid CRC.
func encodeBatch(rb kmsg.RecordBatch) []byte {
	rb.Magic = 2
	rb.Length = int32(49 + len(rb.Records)) // kmsg: "the Length field minus 49"
	rb.CRC = 0
	b := rb.AppendTo(nil)
	rb.CRC = int32(crc32.Checksum(b[21:], castagnoli))
	return rb.AppendTo(b[:0])
}

// newBatch is a producer's batch of recs: offsets and timestamps filled in
// consistently, no producer ID. edit, when not nil, changes it before it is
// encoded.
func newBatch(recs []kmsg.Record, edit func(*kmsg.RecordBatch)) kmsg.RecordBatch {
	const base = 1_700_000_000_000
	maxTS := int64(base)
	for _, r := range recs {
		maxTS = max(maxTS, base+r.TimestampDelta64)
	}
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		LastOffsetDelta:      int32(len(recs) - 1),
		FirstTimestamp:       base,
		MaxTimestamp:         maxTS,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              encodeRecords(recs),
	}
	if edit != nil {
		edit(&rb)
	}
	return rb
}

// mixedRecords covers what a record can hold: null and empty keys and values,
// headers with null and empty parts, multi-byte length varints and
// timestamp deltas that are negative or need more than 32 bits.
func mixedRecords() []kmsg.Record {
	return []kmsg.Record{
		{Key: []byte("key-0"), Value: []byte("value-0")},
		{TimestampDelta64: 5, Key: nil, Value: []byte("null key")},
		{TimestampDelta64: 7, Key: []byte("null value"), Value: nil},
		{TimestampDelta64: 9, Key: nil, Value: nil},
		{TimestampDelta64: 11, Key: []byte{}, Value: []byte{}},
		{TimestampDelta64: -3, Key: []byte("negative delta"), Value: []byte("v")},
		{TimestampDelta64: 1 << 40, Key: []byte("big delta"), Value: bytes.Repeat([]byte("x"), 300)},
		{TimestampDelta64: 13, Key: []byte("headers"), Value: []byte("v"), Headers: []kmsg.Header{
			{Key: "trace-id", Value: []byte("abc")},
			{Key: "null-value", Value: nil},
			{Key: "", Value: []byte{}},
			{Key: "trace-id", Value: []byte("duplicate keys are allowed")},
		}},
		{TimestampDelta64: 17, Key: bytes.Repeat([]byte("k"), 200), Value: bytes.Repeat([]byte{0, 0xff}, 10_000)},
	}
}

// validCase is a batch that Parse and Check accept.
type validCase struct {
	name string
	rb   kmsg.RecordBatch
	recs []kmsg.Record // the records, nil when the section is opaque
	// raw, when not nil, is the uncompressed records section of a
	// compressed batch.
	raw []byte
}

func (c validCase) bytes() []byte { return encodeBatch(c.rb) }

func gzipped(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func validCases(tb testing.TB) []validCase {
	tb.Helper()
	one := []kmsg.Record{{Key: []byte("k"), Value: []byte("v")}}
	mixed := mixedRecords()
	var large []kmsg.Record
	for i := range 64 {
		large = append(large, kmsg.Record{
			TimestampDelta64: int64(i),
			Key:              binary.BigEndian.AppendUint32(nil, uint32(i)),
			Value:            bytes.Repeat([]byte{byte(i)}, 1000+i),
		})
	}
	control := []kmsg.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 7}}}
	gzRaw := encodeRecords(mixed)
	opaque := []byte("\x28\xb5\x2f\xfd not really zstd: Check does not decompress")

	return []validCase{
		{name: "one record", rb: newBatch(one, nil), recs: one},
		{name: "mixed records", rb: newBatch(mixed, nil), recs: mixed},
		{name: "64 records of 1 KiB", rb: newBatch(large, nil), recs: large},
		{name: "idempotent transactional", recs: mixed, rb: newBatch(mixed, func(rb *kmsg.RecordBatch) {
			rb.FirstOffset = 1 << 40
			rb.PartitionLeaderEpoch = 7
			rb.Attributes = batch.AttrTransactional
			rb.ProducerID = 4242
			rb.ProducerEpoch = 3
			rb.FirstSequence = 1000
		})},
		{name: "control", recs: control, rb: newBatch(control, func(rb *kmsg.RecordBatch) {
			rb.Attributes = batch.AttrTransactional | batch.AttrControl
			rb.ProducerID = 9
			rb.ProducerEpoch = 0
		})},
		{name: "log append time", recs: one, rb: newBatch(one, func(rb *kmsg.RecordBatch) {
			rb.Attributes = batch.AttrLogAppendTime
		})},
		{name: "gzip", raw: gzRaw, recs: mixed, rb: newBatch(mixed, func(rb *kmsg.RecordBatch) {
			rb.Attributes = int16(batch.CodecGzip)
			rb.Records = gzipped(tb, gzRaw)
		})},
		{name: "zstd opaque", rb: newBatch(nil, func(rb *kmsg.RecordBatch) {
			rb.Attributes = int16(batch.CodecZstd) | batch.AttrTransactional
			rb.NumRecords = 3
			rb.LastOffsetDelta = 2
			rb.Records = opaque
		})},
		{name: "snappy opaque", rb: newBatch(nil, func(rb *kmsg.RecordBatch) {
			rb.Attributes = int16(batch.CodecSnappy)
			rb.NumRecords = 1
			rb.LastOffsetDelta = 0
			rb.Records = opaque
		})},
		{name: "lz4 empty section", rb: newBatch(nil, func(rb *kmsg.RecordBatch) {
			rb.Attributes = int16(batch.CodecLZ4)
			rb.NumRecords = 1
			rb.LastOffsetDelta = 0
			rb.Records = nil
		})},
	}
}

// headerOf is the Header that matches what kmsg decodes.
func headerOf(rb *kmsg.RecordBatch) batch.Header {
	return batch.Header{
		BaseOffset:           rb.FirstOffset,
		Length:               rb.Length,
		PartitionLeaderEpoch: rb.PartitionLeaderEpoch,
		Magic:                rb.Magic,
		CRC:                  uint32(rb.CRC),
		Attributes:           rb.Attributes,
		LastOffsetDelta:      rb.LastOffsetDelta,
		BaseTimestamp:        rb.FirstTimestamp,
		MaxTimestamp:         rb.MaxTimestamp,
		ProducerID:           rb.ProducerID,
		ProducerEpoch:        rb.ProducerEpoch,
		BaseSequence:         rb.FirstSequence,
		RecordCount:          rb.NumRecords,
	}
}

// kmsgHeader decodes b with kmsg.
func kmsgHeader(t *testing.T, b []byte) (batch.Header, kmsg.RecordBatch) {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("kmsg cannot decode the batch: %v", err)
	}
	return headerOf(&rb), rb
}

func TestValidBatches(t *testing.T) {
	t.Parallel()
	for _, c := range validCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := c.bytes()
			want, rb := kmsgHeader(t, b)

			for _, fn := range []struct {
				name string
				f    func([]byte) (batch.Header, error)
			}{{"ReadHeader", batch.ReadHeader}, {"Parse", batch.Parse}, {"Check", batch.Check}} {
				h, err := fn.f(b)
				if err != nil {
					t.Fatalf("%s: %v", fn.name, err)
				}
				if h != want {
					t.Fatalf("%s:\n got %+v\nwant %+v", fn.name, h, want)
				}
			}
			h, _ := batch.Parse(b)
			if h.Size() != len(b) || batch.Size(b) != len(b) {
				t.Errorf("h.Size() = %d, Size(b) = %d, want %d", h.Size(), batch.Size(b), len(b))
			}
			if h.Codec() != batch.Codec(rb.Attributes&7) {
				t.Errorf("Codec() = %v, attributes %#x", h.Codec(), rb.Attributes)
			}
			if got := batch.RecordsSection(b, &h); !bytes.Equal(got, rb.Records) {
				t.Errorf("RecordsSection differs from kmsg's Records")
			}
			if c.recs == nil {
				return
			}
			section := batch.RecordsSection(b, &h)
			if c.raw != nil {
				zr, err := gzip.NewReader(bytes.NewReader(section))
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(zr); err != nil {
					t.Fatal(err)
				}
				section = buf.Bytes()
			}
			checkRecords(t, section, c.recs)
		})
	}
}

// checkRecords asserts that Records decodes section into want, with offset
// deltas 0, 1, ...
func checkRecords(t *testing.T, section []byte, want []kmsg.Record) {
	t.Helper()
	var got []batch.Record
	err := batch.Records(section, func(r batch.Record) bool {
		got = append(got, r)
		return true
	})
	if err != nil {
		t.Fatalf("Records: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("Records passed %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.OffsetDelta != int32(i) || r.TimestampDelta != w.TimestampDelta64 {
			t.Errorf("record %d: deltas offset %d timestamp %d, want %d %d", i, r.OffsetDelta, r.TimestampDelta, i, w.TimestampDelta64)
		}
		if !sameBytes(r.Key, w.Key) || !sameBytes(r.Value, w.Value) {
			t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, w.Key, w.Value)
		}
		if r.HeaderCount != len(w.Headers) {
			t.Errorf("record %d: HeaderCount %d, want %d", i, r.HeaderCount, len(w.Headers))
		}
		hs, err := r.Headers()
		if err != nil {
			t.Fatalf("record %d: Headers: %v", i, err)
		}
		if len(hs) != len(w.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(hs), len(w.Headers))
		}
		for j, h := range hs {
			if h.Key != w.Headers[j].Key || !sameBytes(h.Value, w.Headers[j].Value) {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, h.Key, h.Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

// sameBytes is bytes.Equal that also tells null from empty.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

func TestHeaderAccessors(t *testing.T) {
	t.Parallel()
	h := batch.Header{
		BaseOffset:      100,
		Length:          49,
		LastOffsetDelta: 4,
		Attributes:      int16(batch.CodecZstd) | batch.AttrLogAppendTime | batch.AttrTransactional | batch.AttrControl,
	}
	if h.Size() != 61 || h.LastOffset() != 104 || h.NextOffset() != 105 {
		t.Errorf("Size %d LastOffset %d NextOffset %d", h.Size(), h.LastOffset(), h.NextOffset())
	}
	if h.Codec() != batch.CodecZstd || !h.LogAppendTime() || !h.Transactional() || !h.Control() {
		t.Errorf("attribute accessors wrong for %#x", h.Attributes)
	}
	var z batch.Header
	if z.Codec() != batch.CodecNone || z.LogAppendTime() || z.Transactional() || z.Control() {
		t.Errorf("zero header has attributes")
	}
}

func TestCodecString(t *testing.T) {
	t.Parallel()
	for c, want := range map[batch.Codec]string{
		batch.CodecNone: "none", batch.CodecGzip: "gzip", batch.CodecSnappy: "snappy",
		batch.CodecLZ4: "lz4", batch.CodecZstd: "zstd", 5: "codec(5)", -1: "codec(-1)",
	} {
		if got := c.String(); got != want {
			t.Errorf("Codec(%d).String() = %q, want %q", int8(c), got, want)
		}
	}
}

// recrc recomputes the CRC of the batch at the start of b after a test
// edited a covered field.
func recrc(b []byte) []byte {
	size := int(binary.BigEndian.Uint32(b[8:])) + 12
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:size], castagnoli))
	return b
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	mixed := mixedRecords()
	valid := encodeBatch(newBatch(mixed, nil))
	setLength := func(n int32) func([]byte) []byte {
		return func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], uint32(n)); return b }
	}
	setByte := func(off int, v byte, crc bool) func([]byte) []byte {
		return func(b []byte) []byte {
			b[off] = v
			if crc {
				recrc(b)
			}
			return b
		}
	}
	flip := func(off int) func([]byte) []byte {
		return func(b []byte) []byte { b[off] ^= 0x01; return b }
	}
	for _, c := range []struct {
		name    string
		edit    func([]byte) []byte
		want    error
		readErr error // what ReadHeader says
	}{
		{"empty", func([]byte) []byte { return nil }, batch.ErrShort, batch.ErrShort},
		{"length field only", func(b []byte) []byte { return b[:12] }, batch.ErrShort, batch.ErrShort},
		{"header cut at 60", func(b []byte) []byte { return b[:60] }, batch.ErrShort, batch.ErrShort},
		{"header only", func(b []byte) []byte { return b[:61] }, batch.ErrShort, nil},
		{"one byte short", func(b []byte) []byte { return b[:len(b)-1] }, batch.ErrShort, nil},
		{"length one past end", setLength(int32(len(valid) - 12 + 1)), batch.ErrShort, nil},
		{"length max int32", setLength(math.MaxInt32), batch.ErrShort, nil},
		{"length 48", setLength(48), batch.ErrLength, batch.ErrLength},
		{"length 0", setLength(0), batch.ErrLength, batch.ErrLength},
		{"length -1", setLength(-1), batch.ErrLength, batch.ErrLength},
		{"length min int32", setLength(math.MinInt32), batch.ErrLength, batch.ErrLength},
		{"magic 0", setByte(16, 0, false), batch.ErrMagic, batch.ErrMagic},
		{"magic 1", setByte(16, 1, false), batch.ErrMagic, batch.ErrMagic},
		{"magic 3", setByte(16, 3, false), batch.ErrMagic, batch.ErrMagic},
		{"magic 0xff", setByte(16, 0xff, false), batch.ErrMagic, batch.ErrMagic},
		{"bad magic wins over bad CRC", func(b []byte) []byte { b[16] = 1; b[17] ^= 1; return b }, batch.ErrMagic, batch.ErrMagic},
		{"short wins over bad magic", func(b []byte) []byte { b[16] = 1; return b[:60] }, batch.ErrShort, batch.ErrShort},
		{"CRC field flipped", flip(17), batch.ErrCRC, nil},
		{"CRC low bit flipped", flip(20), batch.ErrCRC, nil},
		{"attributes flipped", flip(22), batch.ErrCRC, nil},
		{"maxTimestamp changed", flip(42), batch.ErrCRC, nil},
		{"recordCount changed", flip(60), batch.ErrCRC, nil},
		{"first record byte flipped", flip(61), batch.ErrCRC, nil},
		{"last byte flipped", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }, batch.ErrCRC, nil},
		{"codec 5", setByte(22, 5, true), batch.ErrCodec, nil},
		{"codec 6", setByte(22, 6, true), batch.ErrCodec, nil},
		{"codec 7", setByte(22, 7, true), batch.ErrCodec, nil},
		{"codec 7 with other bits", setByte(22, 0x7f, true), batch.ErrCodec, nil},
		{"bad CRC wins over bad codec", setByte(22, 7, false), batch.ErrCRC, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := c.edit(bytes.Clone(valid))
			if _, err := batch.ReadHeader(b); err != c.readErr {
				t.Errorf("ReadHeader: %v, want %v", err, c.readErr)
			}
			if _, err := batch.Parse(b); err != c.want {
				t.Errorf("Parse: %v, want %v", err, c.want)
			}
			// Check is Parse first: the same error.
			if _, err := batch.Check(b); err != c.want {
				t.Errorf("Check: %v, want %v", err, c.want)
			}
		})
	}
}

// TestParseIgnoresTrailingBytes: Parse and Check look at b[:h.Size()] only,
// as log recovery needs when b is the rest of a segment.
func TestParseIgnoresTrailingBytes(t *testing.T) {
	t.Parallel()
	first := encodeBatch(newBatch(mixedRecords(), nil))
	for _, c := range []struct {
		name  string
		trail []byte
	}{
		{"one zero byte", []byte{0}},
		{"garbage", bytes.Repeat([]byte{0xa5}, 100)},
		{"half a batch", first[:30]},
		{"another batch", first},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := append(bytes.Clone(first), c.trail...)
			for _, f := range []func([]byte) (batch.Header, error){batch.Parse, batch.Check} {
				h, err := f(b)
				if err != nil {
					t.Fatal(err)
				}
				if h.Size() != len(first) {
					t.Fatalf("Size() = %d, want %d", h.Size(), len(first))
				}
			}
		})
	}
}

// appendRaw appends one record whose body is fields concatenated, with a
// correct length prefix.
func appendRaw(dst []byte, fields ...[]byte) []byte {
	body := bytes.Join(fields, nil)
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func vi(v int64) []byte { return binary.AppendVarint(nil, v) }

// minRecord is the smallest valid record body: attributes, timestamp
// delta 0, offset delta 0, null key, null value, no headers.
func minRecord() []byte { return []byte{0, 0, 0, 1, 1, 0} }

func TestCheckErrors(t *testing.T) {
	t.Parallel()
	three := encodeRecords(mixedRecords()[:3])
	withCount := func(section []byte, count, lastDelta int32, attrs int16) []byte {
		return encodeBatch(newBatch(nil, func(rb *kmsg.RecordBatch) {
			rb.Records = section
			rb.NumRecords = count
			rb.LastOffsetDelta = lastDelta
			rb.Attributes = attrs
		}))
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"count 0", withCount(nil, 0, -1, 0)},
		{"count 0 delta 0", withCount(nil, 0, 0, 0)},
		{"count -1", withCount(three, -1, -2, 0)},
		{"count min int32", withCount(three, math.MinInt32, math.MaxInt32, 0)},
		{"delta equals count", withCount(three, 3, 3, 0)},
		{"delta too small", withCount(three, 3, 1, 0)},
		{"delta -1", withCount(three, 3, -1, 0)},
		{"fewer records than count", withCount(three, 4, 3, 0)},
		{"more records than count", withCount(three, 2, 1, 0)},
		{"no records, count 1", withCount(nil, 1, 0, 0)},
		{"trailing byte", withCount(append(bytes.Clone(three), 0), 3, 2, 0)},
		{"trailing partial record", withCount(append(bytes.Clone(three), 0x0c, 0), 3, 2, 0)},
		{"last record cut", withCount(three[:len(three)-1], 3, 2, 0)},
		{"record length past end", withCount(append(vi(7), minRecord()...), 1, 0, 0)},
		{"record length 0", withCount([]byte{0}, 1, 0, 0)},
		{"record length -1", withCount(append(vi(-1), minRecord()...), 1, 0, 0)},
		{"record length varint cut", withCount([]byte{0x80}, 1, 0, 0)},
		{"record length varint of six bytes", withCount(append([]byte{0x8c, 0x80, 0x80, 0x80, 0x80, 0x00}, minRecord()...), 1, 0, 0)},
		{"record length varint of ten bytes", withCount(append([]byte{0x8c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, minRecord()...), 1, 0, 0)},
		{"record length beyond int32", withCount(append([]byte{0x8c, 0x80, 0x80, 0x80, 0x10}, minRecord()...), 1, 0, 0)},
		{"compressed count 0", withCount([]byte("opaque"), 0, -1, int16(batch.CodecGzip))},
		{"compressed delta wrong", withCount([]byte("opaque"), 2, 0, int16(batch.CodecZstd))},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, err := batch.Parse(c.b); err != nil {
				t.Fatalf("Parse: %v; the case must isolate Check", err)
			}
			if _, err := batch.Check(c.b); err != batch.ErrCount {
				t.Errorf("Check: %v, want %v", err, batch.ErrCount)
			}
		})
	}
}

// TestCheckVarintWidths: a record length prefix is a Kafka varint (int32):
// one to five bytes, non-minimal encodings included, as Kafka and franz-go
// read it.
func TestCheckVarintWidths(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		prefix []byte
	}{
		{"one byte", []byte{0x0c}},
		{"two bytes, non-minimal", []byte{0x8c, 0x00}},
		{"five bytes, non-minimal", []byte{0x8c, 0x80, 0x80, 0x80, 0x00}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			section := append(bytes.Clone(c.prefix), minRecord()...)
			b := encodeBatch(newBatch(nil, func(rb *kmsg.RecordBatch) {
				rb.Records = section
				rb.NumRecords = 1
				rb.LastOffsetDelta = 0
			}))
			if _, err := batch.Check(b); err != nil {
				t.Fatalf("Check: %v", err)
			}
			var rec kmsg.Record
			if err := rec.ReadFrom(section); err != nil {
				t.Fatalf("kmsg rejects what Check accepts: %v", err)
			}
			n := 0
			if err := batch.Records(section, func(batch.Record) bool { n++; return true }); err != nil || n != 1 {
				t.Fatalf("Records: %d records, %v", n, err)
			}
		})
	}
}

func TestSetBaseOffsetAndEpoch(t *testing.T) {
	t.Parallel()
	for _, c := range validCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			orig := c.bytes()
			for _, v := range []struct {
				offset int64
				epoch  int32
			}{{0, 0}, {1 << 40, 7}, {math.MaxInt64 - 1<<20, math.MaxInt32}, {-1, -1}} {
				b := bytes.Clone(orig)
				batch.SetBaseOffset(b, v.offset)
				batch.SetPartitionLeaderEpoch(b, v.epoch)
				// Only the two broker-owned fields change.
				if !bytes.Equal(b[16:], orig[16:]) || !bytes.Equal(b[8:12], orig[8:12]) {
					t.Fatalf("bytes outside baseOffset and partitionLeaderEpoch changed")
				}
				h, err := batch.Check(b)
				if err != nil {
					t.Fatalf("Check after setting %+v: %v", v, err)
				}
				want, _ := kmsgHeader(t, b)
				if h != want || h.BaseOffset != v.offset || h.PartitionLeaderEpoch != v.epoch {
					t.Fatalf("after setting %+v:\n got %+v\nkmsg %+v", v, h, want)
				}
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	t.Parallel()
	const ts = 1_800_000_000_123
	for _, c := range validCases(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			orig := c.bytes()
			before, _ := batch.Parse(orig)
			// A second batch after it must be left alone: in a log
			// buffer, b runs on past the batch.
			next := encodeBatch(newBatch(mixedRecords()[:2], nil))
			buf := append(bytes.Clone(orig), next...)
			batch.SetLogAppendTime(buf, ts)
			b := buf[:len(orig)]
			if !bytes.Equal(buf[len(orig):], next) {
				t.Fatalf("SetLogAppendTime wrote past the batch")
			}

			h, err := batch.Check(b)
			if err != nil {
				t.Fatalf("Check after SetLogAppendTime: %v", err)
			}
			if got := crc32.Checksum(b[21:], castagnoli); h.CRC != got {
				t.Fatalf("CRC %#x, CRC-32C of the bytes %#x", h.CRC, got)
			}
			want := before
			want.Attributes |= batch.AttrLogAppendTime
			want.MaxTimestamp = ts
			want.CRC = h.CRC
			if h != want {
				t.Fatalf("\n got %+v\nwant %+v", h, want)
			}
			if !h.LogAppendTime() || h.Codec() != before.Codec() || h.Transactional() != before.Transactional() || h.Control() != before.Control() {
				t.Fatalf("attributes %#x from %#x", h.Attributes, before.Attributes)
			}
			kh, rb := kmsgHeader(t, b)
			if kh != h {
				t.Fatalf("kmsg decodes\n%+v\nwant %+v", kh, h)
			}
			if rb.Attributes&0x08 == 0 || rb.MaxTimestamp != ts || rb.FirstTimestamp != before.BaseTimestamp {
				t.Fatalf("kmsg sees attributes %#x maxTimestamp %d firstTimestamp %d", rb.Attributes, rb.MaxTimestamp, rb.FirstTimestamp)
			}
			if !bytes.Equal(b[61:], orig[61:]) {
				t.Fatalf("records changed")
			}

			// Idempotent.
			again := bytes.Clone(b)
			batch.SetLogAppendTime(again, ts)
			if !bytes.Equal(again, b) {
				t.Fatalf("a second SetLogAppendTime changed the batch")
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	valid := encodeBatch(newBatch(mixedRecords(), nil))
	length := func(n uint32) []byte { return binary.BigEndian.AppendUint32(make([]byte, 8), n) }
	for _, c := range []struct {
		name string
		b    []byte
		want int
	}{
		{"nil", nil, -1},
		{"11 bytes", make([]byte, 11), -1},
		{"length 0", length(0), 12},
		{"length 49, nothing after it", length(49), 61},
		{"length max int32", length(math.MaxInt32), math.MaxInt32 + 12},
		{"length -1", length(math.MaxUint32), -1},
		{"length min int32", length(1 << 31), -1},
		{"valid batch", valid, len(valid)},
		{"valid batch and more", append(bytes.Clone(valid), 1, 2, 3), len(valid)},
		{"valid batch cut to 12 bytes", valid[:12], len(valid)},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := batch.Size(c.b); got != c.want {
				t.Errorf("Size = %d, want %d", got, c.want)
			}
		})
	}
}

func TestRecordsStopsEarly(t *testing.T) {
	t.Parallel()
	section := encodeRecords(mixedRecords())
	for _, stop := range []int{1, 2, 5} {
		n := 0
		err := batch.Records(section, func(r batch.Record) bool {
			n++
			if r.OffsetDelta != int32(n-1) {
				t.Fatalf("record %d has offset delta %d", n-1, r.OffsetDelta)
			}
			return n < stop
		})
		if err != nil || n != stop {
			t.Errorf("stop after %d: called %d times, %v", stop, n, err)
		}
	}
	if err := batch.Records(nil, func(batch.Record) bool { t.Fatal("called on no records"); return true }); err != nil {
		t.Errorf("Records(nil): %v", err)
	}
}

// TestRecordsPrefixes: every prefix of a valid records section either ends
// on a record boundary (nil, the records so far) or is ErrRecord.
func TestRecordsPrefixes(t *testing.T) {
	t.Parallel()
	recs := mixedRecords()
	section := encodeRecords(recs)
	ends := map[int]int{0: 0} // prefix length -> records in it
	var b []byte
	for i, r := range recs {
		r.OffsetDelta = int32(i)
		b = appendRecord(b, r)
		ends[len(b)] = i + 1
	}
	for n := range len(section) {
		p := bytes.Clone(section[:n]) // cap == len
		got := 0
		err := batch.Records(p, func(batch.Record) bool { got++; return true })
		if want, ok := ends[n]; ok {
			if err != nil || got != want {
				t.Fatalf("prefix %d: %d records, %v; want %d, nil", n, got, err, want)
			}
		} else if err != batch.ErrRecord {
			t.Fatalf("prefix %d: %v, want %v", n, err, batch.ErrRecord)
		}
	}
}

func TestRecordsErrors(t *testing.T) {
	t.Parallel()
	good := appendRaw(nil, minRecord())
	for _, c := range []struct {
		name    string
		section []byte
		before  int // records passed to fn before the error
	}{
		{"length 0", []byte{0}, 0},
		{"length -1", append(vi(-1), minRecord()...), 0},
		{"length past end", append(vi(7), minRecord()...), 0},
		{"length varint cut", []byte{0x80}, 0},
		{"length varint of six bytes", append([]byte{0x8c, 0x80, 0x80, 0x80, 0x80, 0x00}, minRecord()...), 0},
		{"length beyond int32", append([]byte{0x8c, 0x80, 0x80, 0x80, 0x10}, minRecord()...), 0},
		{"attributes only", appendRaw(nil, []byte{0}), 0},
		{"timestamp varint cut", appendRaw(nil, []byte{0, 0x80}), 0},
		{"timestamp varint overflows", appendRaw(nil, []byte{0}, bytes.Repeat([]byte{0xff}, 10), []byte{0, 1, 1, 0}), 0},
		{"no offset delta", appendRaw(nil, []byte{0, 0}), 0},
		{"offset delta -1", appendRaw(nil, []byte{0, 0}, vi(-1), []byte{1, 1, 0}), 0},
		{"offset delta varint of six bytes", appendRaw(nil, []byte{0, 0}, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0}, []byte{1, 1, 0}), 0},
		{"offset delta beyond int32", appendRaw(nil, []byte{0, 0}, vi(1<<31), []byte{1, 1, 0}), 0},
		{"no key", appendRaw(nil, []byte{0, 0, 0}), 0},
		{"key length -2", appendRaw(nil, []byte{0, 0, 0}, vi(-2), []byte{1, 0}), 0},
		{"key past end", appendRaw(nil, []byte{0, 0, 0}, vi(10), []byte("abc"), []byte{1, 0}), 0},
		{"no value", appendRaw(nil, []byte{0, 0, 0, 1}), 0},
		{"value past end", appendRaw(nil, []byte{0, 0, 0, 1}, vi(3), []byte{0}), 0},
		{"no header count", appendRaw(nil, []byte{0, 0, 0, 1, 1}), 0},
		{"header count -1", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(-1)), 0},
		{"header count past end", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(100), []byte{0, 0}), 0},
		{"header count 1, no header", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1)), 0},
		{"header count 2, one header", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(2), vi(1), []byte("k"), vi(-1), []byte{0}), 0},
		{"header key null", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(-1), vi(-1)), 0},
		{"header key past end", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(5), []byte("k")), 0},
		{"header without value", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(1), []byte("k")), 0},
		{"header value -2", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(1), []byte("k"), vi(-2)), 0},
		{"header value past end", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(1), []byte("k"), vi(4), []byte("v")), 0},
		{"byte after headers", appendRaw(nil, minRecord(), []byte{0}), 0},
		{"bytes after one header", appendRaw(nil, []byte{0, 0, 0, 1, 1}, vi(1), vi(1), []byte("k"), vi(1), []byte("v"), []byte("xyz")), 0},
		{"bytes after key and value, no headers", appendRaw(nil, []byte{0, 0, 0}, vi(1), []byte("k"), vi(1), []byte("v"), vi(0), []byte("trailing")), 0},
		{"good then bad", append(bytes.Clone(good), 0), 1},
		{"two good then cut", append(append(bytes.Clone(good), good...), good[:3]...), 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			section := bytes.Clone(c.section)
			n := 0
			err := batch.Records(section, func(batch.Record) bool { n++; return true })
			if err != batch.ErrRecord || n != c.before {
				t.Errorf("Records: %v after %d records, want %v after %d", err, n, batch.ErrRecord, c.before)
			}
		})
	}
}

func TestRecordHeadersOfZeroRecord(t *testing.T) {
	t.Parallel()
	var r batch.Record
	hs, err := r.Headers()
	if err != nil || len(hs) != 0 {
		t.Errorf("Headers() = %v, %v", hs, err)
	}
	r.HeaderCount = 1 // claims a header it does not hold
	if _, err := r.Headers(); err != batch.ErrRecord {
		t.Errorf("Headers() with a missing header: %v, want %v", err, batch.ErrRecord)
	}
}

// TestRecordViews: keys, values and header values are views that do not
// reach past their field, so appending to one cannot overwrite the batch.
func TestRecordViews(t *testing.T) {
	t.Parallel()
	section := encodeRecords(mixedRecords())
	orig := bytes.Clone(section)
	err := batch.Records(section, func(r batch.Record) bool {
		hs, err := r.Headers()
		if err != nil {
			t.Fatal(err)
		}
		views := [][]byte{r.Key, r.Value}
		for _, h := range hs {
			views = append(views, h.Value)
		}
		for _, v := range views {
			if cap(v) != len(v) {
				t.Fatalf("a view has cap %d > len %d", cap(v), len(v))
			}
			_ = append(v, 0xee)
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(section, orig) {
		t.Fatal("appending to a view changed the records")
	}
}

// TestZeroAllocs: Parse, Check, the setters and Records (without
// Headers) allocate nothing, whatever the batch size.
func TestZeroAllocs(t *testing.T) {
	b := benchBatch(t, 100, 16<<10)
	h, err := batch.Check(b)
	if err != nil {
		t.Fatal(err)
	}
	section := batch.RecordsSection(b, &h)
	var sink int
	noop := func(r batch.Record) bool { sink += len(r.Value); return true }
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"ReadHeader", func() { _, _ = batch.ReadHeader(b) }},
		{"Parse", func() { _, _ = batch.Parse(b) }},
		{"Check", func() { _, _ = batch.Check(b) }},
		{"SetBaseOffset", func() { batch.SetBaseOffset(b, 42) }},
		{"SetPartitionLeaderEpoch", func() { batch.SetPartitionLeaderEpoch(b, 3) }},
		{"SetLogAppendTime", func() { batch.SetLogAppendTime(b, 1_800_000_000_000) }},
		{"Records", func() { _ = batch.Records(section, noop) }},
		{"error", func() { _, _ = batch.Check(b[:100]) }},
	} {
		if n := testing.AllocsPerRun(100, c.f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", c.name, n)
		}
	}
	_ = sink
}

func TestErrorsAreDistinct(t *testing.T) {
	t.Parallel()
	errs := []error{batch.ErrShort, batch.ErrLength, batch.ErrMagic, batch.ErrCRC, batch.ErrCodec, batch.ErrCount, batch.ErrRecord}
	for i, a := range errs {
		for j, b := range errs {
			if (i == j) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
}

// MakeEmpty's batch parses, holds no record and takes the offsets asked.
func TestMakeEmpty(t *testing.T) {
	b := batch.MakeEmpty(9)
	batch.SetBaseOffset(b, 100)
	h, err := batch.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 100 || h.NextOffset() != 110 || h.RecordCount != 0 || h.ProducerID != -1 ||
		h.MaxTimestamp != -1 || h.Codec() != batch.CodecNone || h.Control() || h.Size() != batch.HeaderSize {
		t.Fatalf("header %+v", h)
	}
	n := 0
	if err := batch.Records(batch.RecordsSection(b, &h), func(batch.Record) bool { n++; return true }); err != nil || n != 0 {
		t.Fatalf("records: %d, %v", n, err)
	}
}
