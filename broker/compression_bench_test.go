package broker

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"

	"github.com/streamhouse/streamhouse/batch"
	"github.com/streamhouse/streamhouse/codec"
	"github.com/streamhouse/streamhouse/config"
	"github.com/streamhouse/streamhouse/meta"
)

// BenchmarkCheckCompressed is the produce path's record check of an
// ordinary compressed batch (100 records of about 1 KiB, as a producer
// lingering a few milliseconds sends them): stored in its own codec (the
// records streamed through a batch.Scanner) or re-encoded for a topic's
// compression.type. MB/s counts the batch's records as they expand.
//
//	go test ./broker -run '^$' -bench CheckCompressed -benchtime 2000x -count 5
func BenchmarkCheckCompressed(b *testing.B) {
	s := &Server{}
	settings, err := config.NewBroker(map[string]string{"node.id": "1"})
	if err != nil {
		b.Fatal(err)
	}
	s.dyn.Store(settings)
	for _, tc := range []struct {
		name   string
		codec  batch.Codec
		stored string
	}{
		{"gzip", batch.CodecGzip, "producer"},
		{"snappy", batch.CodecSnappy, "producer"},
		{"lz4", batch.CodecLZ4, "producer"},
		{"zstd", batch.CodecZstd, "producer"},
		{"zstd-to-lz4", batch.CodecZstd, "lz4"},
		{"zstd-to-uncompressed", batch.CodecZstd, "uncompressed"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			plain := len(benchBatch(100, batch.CodecNone))
			records := benchBatch(100, tc.codec)
			t := &topic{Topic: meta.Topic{Name: "bench"}, cfg: config.Topic{CompressionType: tc.stored, MaxMessageBytes: 1 << 20}}
			h, err := batch.Check(records)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(plain))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.checkCompressed(t, records, &h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchBatch is a batch of n keyed records of about 1 KiB of JSON-like
// text each in codec c.
func benchBatch(n int, c batch.Codec) []byte {
	var section, rec []byte
	for i := range n {
		rec = append(rec[:0], 0)
		rec = binary.AppendVarint(rec, int64(i))
		rec = binary.AppendVarint(rec, int64(i))
		k := "user-" + strconv.Itoa(i*7919%1000)
		rec = binary.AppendVarint(rec, int64(len(k)))
		rec = append(rec, k...)
		var v []byte
		for j := 0; len(v) < 1000; j++ {
			v = fmt.Appendf(v, `{"event":"click","item":%d,"session":"%x","at":%d},`, (i*31+j)%977, i*j*2654435761%(1<<32), 1_700_000_000_000+i*13+j)
		}
		rec = binary.AppendVarint(rec, int64(len(v)))
		rec = append(rec, v...)
		rec = binary.AppendVarint(rec, 0)
		section = binary.AppendVarint(section, int64(len(rec)))
		section = append(section, rec...)
	}
	b := fuzzBatch(n, true, batch.CodecNone, 1_700_000_000_000, 0)
	h, _ := batch.ReadHeader(b)
	if c != batch.CodecNone {
		var cs codec.Codecs
		z, err := cs.Compress(int8(c), nil, section)
		if err != nil {
			panic(err)
		}
		section = z
	}
	return batch.Reencode(b, &h, c, section)
}
