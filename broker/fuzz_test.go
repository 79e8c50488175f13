package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/codec"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
)

// FuzzProduceBatch drives the broker's own decoding of a partition's
// records in a Produce request, as handleProduce and ListOffsets run it:
// validateBatch, then checkCompressed (the records streamed through a
// batch.Scanner, keys on a compacted topic, inner offsets, re-encoding for
// a topic's compression.type), then findRecord on what would be stored. The fuzzer
// also picks the topic's compression.type, whether it is compacted, and
// the produce version. Properties, beyond no panic:
//
//   - the input is never modified, and every refusal is one of the Kafka
//     codes Kafka answers for a bad batch;
//   - an accepted batch is exactly one whole, CRC-valid batch at base
//     offset 0 within max.message.bytes (batch.Check agrees);
//   - the batch to store is valid, in the topic's codec (the producer's
//     for "producer"), keeps the header's offsets, timestamps, producer
//     fields and count, and holds the same records; a compacted topic's
//     records all have keys;
//   - a timestamp lookup on the stored batch never fails and answers the
//     first record at or after the target, as a plain walk finds it.
//
// So that mutations reach past the CRC, mode can also have the target fix
// the batch's length and CRC, or compress the bytes after the header with
// the header's codec first (the fuzzer then writes plain records, and the
// record walk after decompression sees them).
//
// The seed corpus in testdata/fuzz is written by TestWriteProduceCorpus:
//
//	go test ./broker -run '^$' -fuzz '^FuzzProduceBatch$' -fuzztime 60s
func FuzzProduceBatch(f *testing.F) {
	for _, s := range produceSeeds() {
		f.Add(s.data, s.mode, s.target)
	}
	s := &Server{}
	settings, err := config.NewBroker(map[string]string{"node.id": "1", "streamhouse.batch.decompressed.max.bytes": "1048576"})
	if err != nil {
		f.Fatal(err)
	}
	s.dyn.Store(settings)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, target int64) {
		const maxMessageBytes = 1 << 16
		types := []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", "producer", "producer"}
		top := &topic{Topic: meta.Topic{Name: "fuzz"}, cfg: config.Topic{
			CompressionType: types[mode&7],
			CleanupCompact:  mode&8 != 0,
			MaxMessageBytes: maxMessageBytes,
		}}
		version := int16(9)
		if mode&16 != 0 {
			version = 3 // before zstd
		}
		data = fuzzFixup(data, mode)
		in := bytes.Clone(data) // no spare capacity: a read past the end panics
		h, err := validateBatch(version, in, maxMessageBytes)
		if !bytes.Equal(in, data) {
			t.Fatal("validateBatch modified the batch")
		}
		if err != nil {
			wantCode(t, "validateBatch", err, kerr.InvalidRecord, kerr.CorruptMessage, kerr.UnsupportedCompressionType, kerr.MessageTooLarge)
			return
		}
		ch, cerr := batch.Check(data)
		switch {
		case cerr != nil:
			t.Fatalf("validateBatch accepted a batch batch.Check refuses: %v", cerr)
		case ch != h:
			t.Fatalf("validateBatch header %+v, batch.Check %+v", h, ch)
		case h.Size() != len(data) || h.BaseOffset != 0 || h.Size() > maxMessageBytes || h.Control():
			t.Fatalf("validateBatch accepted %d bytes: %+v", len(data), h)
		case h.Codec() == batch.CodecZstd && version < 7:
			t.Fatalf("zstd accepted at produce v%d", version)
		}

		out, oldest, err := s.checkCompressed(top, in, &h)
		if !bytes.Equal(in, data) {
			t.Fatal("checkCompressed modified the batch")
		}
		if err != nil {
			wantCode(t, "checkCompressed", err, kerr.CorruptMessage, kerr.InvalidRecord, kerr.MessageTooLarge)
			return
		}
		oh, err := batch.Check(out)
		if err != nil {
			t.Fatalf("the batch to store does not check: %v", err)
		}
		want := h.Codec()
		if c, fixed := topicCodec(top.cfg.CompressionType); fixed {
			want = c
		}
		if oh.Codec() != want {
			t.Fatalf("stored codec %s, want %s (compression.type %s)", oh.Codec(), want, top.cfg.CompressionType)
		}
		same := func(x batch.Header) batch.Header {
			x.Length, x.CRC, x.Attributes = 0, 0, x.Attributes&^batch.AttrCodecMask
			return x
		}
		if same(oh) != same(h) {
			t.Fatalf("re-encoding changed the header: %+v, was %+v", oh, h)
		}
		recs := plainRecords(t, data, &h)
		if got := plainRecords(t, out, &oh); !slicesEqual(got, recs) {
			t.Fatalf("the stored batch holds other records: %d records, were %d", len(got), len(recs))
		}
		if int32(len(recs)) != h.RecordCount {
			t.Fatalf("%d records accepted, the header says %d", len(recs), h.RecordCount)
		}
		wantOldest := int64(math.MaxInt64)
		for i, r := range recs {
			if top.cfg.CleanupCompact && r.key == nil {
				t.Fatal("a record without a key accepted on a compacted topic")
			}
			if h.Codec() != batch.CodecNone && r.offDelta != int32(i) {
				t.Fatalf("compressed record %d accepted with offset delta %d", i, r.offDelta)
			}
			wantOldest = min(wantOldest, h.BaseTimestamp+r.tsDelta)
		}
		if oldest != wantOldest {
			t.Fatalf("oldest timestamp %d, the records' is %d", oldest, wantOldest)
		}

		// As stored: the log writes the base offset in place.
		const base = 1000
		batch.SetBaseOffset(out, base)
		oh.BaseOffset = base
		exact := target == -3
		if exact {
			target = oh.MaxTimestamp
		}
		off, ts, found, err := s.findRecord(out, &oh, target, exact, math.MinInt64)
		if err != nil {
			t.Fatalf("a timestamp lookup on a stored batch failed: %v", err)
		}
		var wantOff, wantTS int64
		var wantFound bool
		if oh.LogAppendTime() {
			wantOff, wantTS, wantFound = base, oh.MaxTimestamp, oh.MaxTimestamp >= target
		} else {
			for _, r := range recs {
				if rts := oh.BaseTimestamp + r.tsDelta; rts == target || !exact && rts > target {
					wantOff, wantTS, wantFound = base+int64(r.offDelta), rts, true
					break
				}
			}
		}
		if found != wantFound || found && (off != wantOff || ts != wantTS) {
			t.Fatalf("lookup of %d (exact %v): offset %d ts %d found %v, want %d %d %v", target, exact, off, ts, found, wantOff, wantTS, wantFound)
		}
	})
}

// fuzzFixup applies the fixes mode asks for to a batch with a whole header:
// bit 6 compresses the bytes after the header with the header's codec, bit
// 5 (or 6) sets the length and CRC to match the bytes.
func fuzzFixup(data []byte, mode uint8) []byte {
	if mode&(32|64) == 0 || len(data) < batch.HeaderSize {
		return data
	}
	section := data[batch.HeaderSize:]
	c := batch.Codec(binary.BigEndian.Uint16(data[21:]) & batch.AttrCodecMask)
	if mode&64 != 0 && c != batch.CodecNone && c <= batch.CodecZstd {
		var cs codec.Codecs
		z, err := cs.Compress(int8(c), nil, section)
		if err != nil {
			panic(fmt.Sprintf("compress %s: %v", c, err))
		}
		section = z
	}
	h, _ := batch.ReadHeader(data) // its record count, kept
	return batch.Reencode(data, &h, c, section)
}

// wantCode fails unless err carries one of codes.
func wantCode(t *testing.T, what string, err error, codes ...*kerr.Error) {
	t.Helper()
	for _, c := range codes {
		if errors.Is(err, c) {
			return
		}
	}
	t.Fatalf("%s: %v is not one of the codes Kafka answers for a bad batch", what, err)
}

// fuzzRecord is a record as the property checks compare them.
type fuzzRecord struct {
	tsDelta  int64
	offDelta int32
	key      []byte
	value    []byte
	headers  string
}

// plainRecords decompresses b's records (unbounded: b was accepted within
// max.message.bytes) and walks them.
func plainRecords(t *testing.T, b []byte, h *batch.Header) []fuzzRecord {
	t.Helper()
	var cs codec.Codecs
	section := batch.RecordsSection(b, h)
	if h.Codec() != batch.CodecNone {
		var err error
		if section, err = cs.Decompress(int8(h.Codec()), nil, section, 1<<30); err != nil {
			t.Fatalf("an accepted %s batch does not decompress: %v", h.Codec(), err)
		}
	}
	var out []fuzzRecord
	err := batch.Records(section, func(r batch.Record) bool {
		hs, _ := r.Headers()
		out = append(out, fuzzRecord{r.TimestampDelta, r.OffsetDelta, r.Key, r.Value, fmt.Sprint(hs)})
		return true
	})
	if err != nil {
		t.Fatalf("an accepted batch's records do not walk: %v", err)
	}
	return out
}

func slicesEqual(a, b []fuzzRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.tsDelta != y.tsDelta || x.offDelta != y.offDelta || x.headers != y.headers ||
			!bytes.Equal(x.key, y.key) || (x.key == nil) != (y.key == nil) ||
			!bytes.Equal(x.value, y.value) || (x.value == nil) != (y.value == nil) {
			return false
		}
	}
	return true
}

type produceSeed struct {
	name   string
	data   []byte
	mode   uint8
	target int64
}

// fuzzBatch builds a valid batch of n records (keys when keyed, a header
// on every other one, timestamps 10 ms apart from ts) in codec c.
func fuzzBatch(n int, keyed bool, c batch.Codec, ts int64, attrs uint16) []byte {
	var section []byte
	var rec []byte
	for i := range n {
		rec = append(rec[:0], 0)
		rec = binary.AppendVarint(rec, int64(i*10))
		rec = binary.AppendVarint(rec, int64(i))
		if keyed {
			k := "key-" + strconv.Itoa(i)
			rec = binary.AppendVarint(rec, int64(len(k)))
			rec = append(rec, k...)
		} else {
			rec = binary.AppendVarint(rec, -1)
		}
		v := bytes.Repeat([]byte{byte('a' + i%26)}, 20+i)
		rec = binary.AppendVarint(rec, int64(len(v)))
		rec = append(rec, v...)
		if i%2 == 0 {
			rec = binary.AppendVarint(rec, 1)
			rec = binary.AppendVarint(rec, 2)
			rec = append(rec, "hk"...)
			rec = binary.AppendVarint(rec, 2)
			rec = append(rec, "hv"...)
		} else {
			rec = binary.AppendVarint(rec, 0)
		}
		section = binary.AppendVarint(section, int64(len(rec)))
		section = append(section, rec...)
	}
	if c != batch.CodecNone {
		var cs codec.Codecs
		z, err := cs.Compress(int8(c), nil, section)
		if err != nil {
			panic(err)
		}
		section = z
	}
	hdr := make([]byte, batch.HeaderSize)
	be := binary.BigEndian
	be.PutUint32(hdr[12:], 0xffffffff)
	hdr[16] = batch.Magic
	be.PutUint16(hdr[21:], attrs)
	be.PutUint32(hdr[23:], uint32(n-1))
	be.PutUint64(hdr[27:], uint64(ts))
	be.PutUint64(hdr[35:], uint64(ts+int64(n-1)*10))
	be.PutUint64(hdr[43:], 0xffffffffffffffff)
	be.PutUint16(hdr[51:], 0xffff)
	be.PutUint32(hdr[53:], 0xffffffff)
	be.PutUint32(hdr[57:], uint32(n))
	return batch.Reencode(hdr, &batch.Header{RecordCount: int32(n)}, c, section)
}

func produceSeeds() []produceSeed {
	const ts = 1_700_000_000_000
	var out []produceSeed
	codecs := []batch.Codec{batch.CodecNone, batch.CodecGzip, batch.CodecSnappy, batch.CodecLZ4, batch.CodecZstd}
	for i, c := range codecs {
		// Stored as sent, re-encoded to the next codec, on a compacted
		// topic, with a lookup in the middle, exact, and past the end.
		out = append(out,
			produceSeed{fmt.Sprintf("%s-producer", c), fuzzBatch(5, true, c, ts, uint16(c)), 0, ts + 15},
			produceSeed{fmt.Sprintf("%s-to-next", c), fuzzBatch(5, true, c, ts, uint16(c)), uint8(1 + (i+1)%5), -3},
			produceSeed{fmt.Sprintf("%s-compact-keyless", c), fuzzBatch(3, false, c, ts, uint16(c)), 8, ts + 100},
		)
	}
	out = append(out,
		produceSeed{"log-append-time", fuzzBatch(2, true, batch.CodecNone, ts, batch.AttrLogAppendTime), 0, ts},
		produceSeed{"zstd-old-version", fuzzBatch(2, true, batch.CodecZstd, ts, uint16(batch.CodecZstd)), 16, ts},
		produceSeed{"control", fuzzBatch(1, true, batch.CodecNone, ts, batch.AttrControl), 0, ts},
		produceSeed{"empty", nil, 0, 0},
	)
	// Plain records under a compressed codec's header: the target
	// compresses them (mode bit 6), so mutations of the records reach the
	// walk after decompression.
	for _, c := range codecs[1:] {
		b := fuzzBatch(4, true, batch.CodecNone, ts, 0)
		binary.BigEndian.PutUint16(b[21:], uint16(c))
		out = append(out, produceSeed{fmt.Sprintf("%s-plain-compressed-by-target", c), b, 64, ts + 10})
	}
	// A record malformed inside its length (its header count's varint
	// runs on), its CRC fixed by the target (mode bit 5): accepted and
	// stored until the broker decoded uncompressed records (Kafka answers
	// INVALID_RECORD).
	stale := fuzzBatch(2, true, batch.CodecNone, ts, 0)
	stale[len(stale)-1] ^= 0xff
	out = append(out,
		produceSeed{"uncompressed-malformed-record", stale, 32, ts},
		produceSeed{"uncompressed-malformed-record-compacted", stale, 32 | 8, ts})
	// A gzip batch whose header claims one record more than it holds.
	bad := fuzzBatch(3, true, batch.CodecGzip, ts, uint16(batch.CodecGzip))
	binary.BigEndian.PutUint32(bad[23:], 3)
	binary.BigEndian.PutUint32(bad[57:], 4)
	bad = batch.Reencode(bad, &batch.Header{RecordCount: 4}, batch.CodecGzip, bad[batch.HeaderSize:])
	out = append(out, produceSeed{"gzip-count-mismatch", bad, 0, ts})
	return out
}

// TestWriteProduceCorpus writes the seeds to testdata/fuzz when
// STREAMHOUSE_WRITE_CORPUS is set, as protocol's TestWriteSeedCorpus does.
func TestWriteProduceCorpus(t *testing.T) {
	if os.Getenv("STREAMHOUSE_WRITE_CORPUS") == "" {
		t.Skip("set STREAMHOUSE_WRITE_CORPUS=1 to rewrite testdata/fuzz seeds")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzProduceBatch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range produceSeeds() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nuint8(%d)\nint64(%d)\n", strconv.Quote(string(s.data)), s.mode, s.target)
		if err := os.WriteFile(filepath.Join(dir, s.name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
