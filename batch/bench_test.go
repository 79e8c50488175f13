package batch_test

import (
	"encoding/binary"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// benchBatch is an uncompressed batch of n records, each with a 16-byte key
// and one header, whose values are sized so that the batch is close to size
// bytes.
func benchBatch(tb testing.TB, n, size int) []byte {
	tb.Helper()
	perRecord := (size - 61) / n
	valueLen := perRecord - 16 - 40 // key, header and varint overhead
	recs := make([]kmsg.Record, n)
	for i := range recs {
		key := binary.BigEndian.AppendUint64(make([]byte, 8), uint64(i))
		value := make([]byte, valueLen)
		for j := range value {
			value[j] = byte(i + j)
		}
		recs[i] = kmsg.Record{
			TimestampDelta64: int64(i),
			Key:              key,
			Value:            value,
			Headers:          []kmsg.Header{{Key: "content-type", Value: []byte("application/json")}},
		}
	}
	b := encodeBatch(newBatch(recs, nil))
	if _, err := batch.Check(b); err != nil {
		tb.Fatalf("bench batch: %v", err)
	}
	return b
}

// BenchmarkCheck is produce validation of a typical batch: CRC plus the walk
// over record length prefixes.
func BenchmarkCheck(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, size int
	}{
		{"16KiB-100rec", 100, 16 << 10},
		{"1MiB-1000rec", 1000, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := benchBatch(b, c.n, c.size)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := batch.Check(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParse is log recovery's per-batch cost: header and CRC only.
func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, size int
	}{
		{"16KiB-100rec", 100, 16 << 10},
		{"1MiB-1000rec", 1000, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := benchBatch(b, c.n, c.size)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := batch.Parse(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSetLogAppendTime is the broker's edit of a batch on append to a
// LogAppendTime topic: two fields and a CRC over the whole batch.
func BenchmarkSetLogAppendTime(b *testing.B) {
	for _, c := range []struct {
		name    string
		n, size int
	}{
		{"16KiB-100rec", 100, 16 << 10},
		{"1MiB-1000rec", 1000, 1 << 20},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := benchBatch(b, c.n, c.size)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			ts := int64(1_800_000_000_000)
			for b.Loop() {
				ts++
				batch.SetLogAppendTime(buf, ts)
			}
			if _, err := batch.Parse(buf); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkRecords walks every record of a 16 KiB batch without decoding
// headers, as a consumer of the records section would.
func BenchmarkRecords(b *testing.B) {
	buf := benchBatch(b, 100, 16<<10)
	h, err := batch.Parse(buf)
	if err != nil {
		b.Fatal(err)
	}
	section := batch.RecordsSection(buf, &h)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = 0
		if err := batch.Records(section, func(r batch.Record) bool { n += len(r.Value); return true }); err != nil {
			b.Fatal(err)
		}
	}
	_ = n
}
